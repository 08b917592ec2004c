//! `SubmitProof`: the only way NEURO is minted.
//!
//! Checks, in order: the node is registered; the layer range fits the model; a `Validator` role
//! belongs to a wallet in the validator set; the proof's timestamp is near block time; enough block
//! time has passed since the node's previous proof; every metric is within what is physically
//! possible in that time (claims above the limit are rejected, never clipped); no batch id is
//! claimed twice. The gross reward then goes through the wallet's diminishing-returns curve and is
//! minted to the wallet.

use crate::crypto::Address;
use crate::ctx::Ctx;
use crate::error::TxError;
use crate::proof::{Proof, Role};
use crate::receipt::Event;
use crate::rewards;
use crate::storage::Storage;

pub(super) fn submit_proof<S: Storage>(
    ctx: &mut Ctx<'_, '_, S>,
    node: Address,
    proof: &Proof,
) -> Result<(), TxError> {
    let params = ctx.params().clone();
    let now = ctx.now_ms();
    let mut record = ctx.node(&node)?.ok_or(TxError::UnknownNode(node))?;

    let layers = params.model.layers;
    let range_ok = proof.layer_start <= proof.layer_end
        && proof.layer_end <= layers
        && (proof.metrics.batches == 0 || proof.layer_start < proof.layer_end);
    if !range_ok {
        return Err(TxError::InvalidLayerRange {
            start: proof.layer_start,
            end: proof.layer_end,
            layers,
        });
    }

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
        ("batches", m.batches, cap(params.max_batches_per_sec)),
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

    if let Some(range) = proof.batch_range() {
        if range.start < record.next_batch {
            return Err(TxError::DuplicateBatches {
                first_batch: range.start,
                next_unclaimed: record.next_batch,
            });
        }
        record.next_batch = range.end;
    }

    let gross = rewards::gross_reward(&params, proof)?;
    let mut wallet = ctx.account(&record.wallet)?;
    let window = rewards::window_of(&params, now);
    if wallet.reward_window != window {
        wallet.reward_window = window;
        wallet.reward_in_window = Default::default();
    }
    let amount = rewards::diminished(&params, wallet.reward_in_window, gross);
    wallet.reward_in_window = wallet
        .reward_in_window
        .checked_add(gross)
        .ok_or(TxError::Overflow)?;
    ctx.put_account(&record.wallet, &wallet);
    ctx.mint(&record.wallet, amount)?;

    record.last_proof_ms = now;
    record.proofs = record.proofs.saturating_add(1);
    record.earned = record.earned.checked_add(amount).ok_or(TxError::Overflow)?;
    ctx.put_node(&node, &record);
    ctx.events.push(Event::Minted {
        wallet: record.wallet,
        node,
        gross,
        amount,
        first_batch: proof.first_batch,
        batches: proof.metrics.batches,
    });
    Ok(())
}
