//! `SubmitProof`: the only way NEURO is minted.
//!
//! Checks, in order: the node is registered; the proof trains the open round's model version
//! (before the round's deadline, if it claims batches) from the data seed the chain assigned to
//! the node, on the corpus genesis pins; the claim is one the network can check
//! (`check_claim_is_checkable`: whole-model training, samples served only within its own
//! batches and by a named, registered node, uptime only with a liveness answer and never beside
//! training); a `Validator` role belongs to a wallet in the validator set; the proof's timestamp
//! is near block time; enough block time has passed since the node's previous proof; every
//! metric is within what is physically possible in that time (batches from the model's FLOPs
//! and `max_node_flops`; claims above the limit are rejected, never clipped); at most one
//! segment (`inner_steps` batches); no batch id is claimed twice; a segment that continues an
//! inner trajectory starts from the end state of the node's previous proof of the round
//! (`check_segment_chain`). The gross reward is then paid
//! at the network's diminishing-returns rate of the window (`rewards::curve_at`, the same for
//! every wallet) and held as the wallet's *pending* reward,
//! with the part its free bond covers reserved (`rewards::cover`): it is minted only when the
//! challenge window closes with no fraud proven (`maturity`). The node's next data seed is drawn
//! from this block's predecessor's state root.

use crate::amount::Amount;
use crate::crypto::{Address, Hash32};
use crate::ctx::Ctx;
use crate::error::{StorageError, TxError};
use crate::lottery;
use crate::maturity;
use crate::params::Params;
use crate::proof::{next_data_seed, Proof, Role, NO_STATE};
use crate::receipt::Event;
use crate::rewards;
use crate::state::{
    keys, DataServer, MaturityEntry, NodeRecord, ProofRecord, ProofStatus, RoundRecord, SegmentHead,
};
use crate::storage::Storage;

pub(super) fn submit_proof<S: Storage>(
    ctx: &mut Ctx<'_, '_, S>,
    node: Address,
    tx_hash: Hash32,
    proof: &Proof,
) -> Result<(), TxError> {
    let params = ctx.params().clone();
    let now = ctx.now_ms();
    let mut record = ctx.node(&node)?.ok_or(TxError::UnknownNode(node))?;

    let mut training = ctx.training()?;
    if proof.round != training.round || proof.model_version != training.model_version {
        return Err(TxError::StaleModel {
            current: training.round,
            got: proof.round,
            current_model: hex::encode(training.model_version),
            got_model: hex::encode(proof.model_version),
        });
    }
    // A round's training proofs are frozen at its deadline, so that every validator computes
    // its result over the same list. Uptime and inference need no round and go on.
    let deadline_ms = training.opened_ms.saturating_add(params.round_length_ms);
    if proof.metrics.batches > 0 && now >= deadline_ms {
        return Err(TxError::RoundClosing {
            round: training.round,
            deadline_ms,
        });
    }
    if proof.data_seed != record.data_seed {
        return Err(TxError::WrongDataSeed {
            expected: hex::encode(record.data_seed),
            got: hex::encode(proof.data_seed),
        });
    }

    let answers = proof.metrics.uptime_secs > 0;
    if (proof.metrics.batches > 0 || answers) && proof.data_shard != params.training.corpus {
        return Err(TxError::WrongCorpus {
            pinned: hex::encode(params.training.corpus),
            got: hex::encode(proof.data_shard),
        });
    }

    check_claim_is_checkable(&params, proof)?;
    let previous_segment = check_segment_chain(&record, proof)?;

    if proof.role == Role::Validator {
        let active = ctx
            .validator(&record.wallet)?
            .is_some_and(|v| !v.jailed && v.power > 0);
        if !active {
            return Err(TxError::UnknownValidator(record.wallet));
        }
    }

    if proof.timestamp_ms.abs_diff(now) > params.max_proof_clock_drift_ms {
        return Err(TxError::ProofTimestampOutOfRange {
            timestamp_ms: proof.timestamp_ms,
            block_time_ms: now,
        });
    }

    let elapsed_ms = now.saturating_sub(record.last_proof_ms);
    if elapsed_ms < params.min_proof_interval_ms {
        return Err(TxError::ProofTooSoon {
            elapsed_ms,
            min_ms: params.min_proof_interval_ms,
        });
    }
    let window_ms = elapsed_ms.min(params.max_claim_window_ms);
    let cap = |per_sec: u64| {
        u64::try_from(u128::from(per_sec) * u128::from(window_ms) / 1_000).unwrap_or(u64::MAX)
    };
    let m = &proof.metrics;
    let limits = [
        ("batches", m.batches, cap(params.max_batches_per_sec())),
        (
            "inference tokens",
            m.tokens,
            cap(params.max_inference_tokens_per_sec),
        ),
        ("samples", m.samples, cap(params.max_samples_per_sec)),
        ("uptime seconds", m.uptime_secs, window_ms / 1_000),
    ];
    for (metric, claimed, max) in limits {
        if claimed > max {
            return Err(TxError::RateLimited {
                metric: metric.to_owned(),
                claimed,
                max,
            });
        }
    }

    let max_segment = u64::from(params.training.inner_steps);
    if m.batches > max_segment {
        return Err(TxError::SegmentTooLong {
            claimed: m.batches,
            max: max_segment,
        });
    }

    if let Some(range) = proof.batch_range() {
        if range.start < record.next_batch {
            return Err(TxError::DuplicateBatches {
                first_batch: range.start,
                next_unclaimed: record.next_batch,
            });
        }
        record.next_batch = range.end;
    }

    let data_server = match proof.data_server {
        Some(server) => Some(DataServer {
            node: server,
            wallet: ctx
                .node(&server)?
                .ok_or(TxError::UnknownDataServer(server))?
                .wallet,
        }),
        None => None,
    };
    let gross = rewards::gross_reward(&params, proof)?;
    let data_gross = rewards::data_reward(&params, proof)?;
    // Diminishing returns are the network's: one rate for every proof of this window (what
    // proofs are paid is counted when they are paid: `maturity`).
    let curve = rewards::curve_at(&params, &ctx.reward_curve()?, now);
    let amount = rewards::at_rate(gross, curve.multiplier_wad);
    let mut wallet = ctx.account(&record.wallet)?;
    // Not minted yet: pending until the challenge window closes (see `maturity`). Undrawn, it
    // pays what the wallet's free bond covers, and that much collateral stays reserved until
    // the draw (`rewards::cover`).
    let mut cover = rewards::cover(
        params.training.verify_sample_bps,
        amount,
        wallet.free_bond(),
    );
    // A claim its bond covers less than half of is a newcomer's: drawn with the chance the
    // newcomer budget allows, and undrawn it pays nothing, so no bond is reserved (`lottery`).
    let newcomer =
        (proof.metrics.batches > 0 || answers) && lottery::is_newcomer_claim(amount, cover.covered);
    if newcomer {
        cover = rewards::Cover {
            covered: Amount::ZERO,
            collateral: Amount::ZERO,
        };
    }
    wallet.bond_reserved = wallet.bond_reserved.saturating_add(cover.collateral);
    wallet.pending = wallet
        .pending
        .checked_add(amount)
        .ok_or(TxError::Overflow)?;
    ctx.put_account(&record.wallet, &wallet);
    let mut supply = ctx.supply()?;
    supply.pending = supply
        .pending
        .checked_add(amount)
        .ok_or(TxError::Overflow)?;
    ctx.put_supply(&supply);

    let matures_at_ms = now.saturating_add(params.challenge_window_ms);
    ctx.put_proof(
        &tx_hash,
        &ProofRecord {
            node,
            wallet: record.wallet,
            round: proof.round,
            height: ctx.env.header.height,
            accepted_ms: now,
            matures_at_ms,
            gross,
            data_gross,
            data_server,
            reward: amount,
            covered: cover.covered,
            collateral: cover.collateral,
            bond_epoch: wallet.bond_epoch,
            paid: Amount::ZERO,
            paid_ms: 0,
            first_batch: proof.first_batch,
            batches: proof.metrics.batches,
            uptime_secs: proof.metrics.uptime_secs,
            layer_start: proof.layer_start,
            layer_end: proof.layer_end,
            model_version: proof.model_version,
            data_seed: proof.data_seed,
            data_shard: proof.data_shard,
            pseudo_gradient: proof.pseudo_gradient,
            start_state: proof.start_state,
            end_state: proof.end_state,
            previous_segment,
            status: ProofStatus::Pending,
            verdicts: Vec::new(),
            sampled: None,
            drawn_in_full: false,
            newcomer,
            lottery_p: 0,
            replayers: Vec::new(),
        },
    );
    let round_key = keys::round(training.round);
    let mut round: RoundRecord = ctx
        .ov
        .get(&round_key)?
        .ok_or_else(|| StorageError::Corrupt {
            key: format!("round {}", training.round),
            reason: "the open round has no record".into(),
        })?;
    ctx.ov
        .put(keys::round_proof(training.round, round.proofs), &tx_hash);
    round.proofs += 1;
    if proof.metrics.batches > 0 {
        ctx.ov
            .put(keys::round_trained(training.round, round.trained), &tx_hash);
        round.trained += 1;
    }
    ctx.ov.put(round_key, &round);
    maturity::enqueue(
        ctx.ov,
        &mut training,
        MaturityEntry {
            proof: tx_hash,
            matures_at_ms,
        },
    );
    ctx.put_training(&training);

    record.last_proof_ms = now;
    record.proofs = record.proofs.saturating_add(1);
    record.data_seed = next_data_seed(&ctx.env.prev_root, &node);
    record.pending_proofs.push(tx_hash);
    if proof.metrics.batches > 0 {
        record.segment_head = (proof.end_state != NO_STATE).then_some(SegmentHead {
            round: proof.round,
            state: proof.end_state,
            proof: tx_hash,
        });
    }
    ctx.put_node(&node, &record);
    ctx.events.push(Event::ProofAccepted {
        wallet: record.wallet,
        node,
        gross,
        amount,
        first_batch: proof.first_batch,
        batches: proof.metrics.batches,
        matures_at_ms,
    });
    Ok(())
}

/// A training proof starts from the round's model with fresh moments ([`NO_STATE`]) or from
/// the end state of the node's previous proof of the same round; returns that predecessor. Any
/// other start (an older state, another round's, another node's) would fork the chain or start
/// from a state no proof committed to, so it is refused.
fn check_segment_chain(record: &NodeRecord, proof: &Proof) -> Result<Option<Hash32>, TxError> {
    if proof.start_state == NO_STATE {
        return Ok(None);
    }
    match &record.segment_head {
        Some(head)
            if proof.metrics.batches > 0
                && head.round == proof.round
                && head.state == proof.start_state =>
        {
            Ok(Some(head.proof))
        }
        head => Err(TxError::BrokenSegmentChain {
            got: hex::encode(proof.start_state),
            head: head
                .as_ref()
                .filter(|h| h.round == proof.round)
                .map_or_else(|| "none".to_owned(), |h| hex::encode(h.state)),
        }),
    }
}

/// Refuses what nobody can check yet, so it is never paid: a stage (partial layer range) claim
/// of training, since only whole-model segments are re-executed; samples served beyond the
/// proof's own batches (`batches × batch_size`), or served by nobody named, since the data
/// reward is only ever paid with the training it fed; and uptime without a liveness answer
/// ([`crate::proof::liveness_batches`]), or beside training: uptime per identity that costs no
/// compute of its own would pay a machine for every identity it splits into.
fn check_claim_is_checkable(params: &Params, proof: &Proof) -> Result<(), TxError> {
    let layers = params.model.layers;
    let m = &proof.metrics;
    if proof.layer_start > proof.layer_end || proof.layer_end > layers {
        return Err(TxError::InvalidLayerRange {
            start: proof.layer_start,
            end: proof.layer_end,
            layers,
        });
    }
    if m.batches > 0 && (proof.layer_start != 0 || proof.layer_end != layers) {
        return Err(TxError::UncheckableClaim {
            what: format!(
                "training of layers {}..{} of {layers}",
                proof.layer_start, proof.layer_end
            ),
            why: "only whole-model segments can be re-executed until stage work is replayable",
        });
    }
    let own_samples = m
        .batches
        .saturating_mul(u64::from(params.training.batch_size));
    if m.samples > own_samples {
        return Err(TxError::UncheckableClaim {
            what: format!("{} samples served for {} batches", m.samples, m.batches),
            why: "only the samples of the proof's own batches are paid, on its training's check",
        });
    }
    if m.samples > 0 && proof.data_server.is_none() {
        return Err(TxError::UncheckableClaim {
            what: format!("{} samples served by nobody named", m.samples),
            why: "the data reward goes to the node that served them, which the proof must name",
        });
    }
    if m.uptime_secs > 0 && m.batches > 0 {
        return Err(TxError::UncheckableClaim {
            what: format!("{} s of uptime beside training", m.uptime_secs),
            why: "uptime is paid for answered liveness challenges; training pays for its own time",
        });
    }
    if m.uptime_secs > 0 && proof.pseudo_gradient == NO_STATE {
        return Err(TxError::UncheckableClaim {
            what: format!("{} s of uptime without a liveness answer", m.uptime_secs),
            why: "uptime is paid only for a liveness answer (the round model's losses on one \
                  batch a minute), which validators replay on a sample",
        });
    }
    Ok(())
}
