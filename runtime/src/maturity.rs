//! The end of challenge windows: at the end of every block, each accepted proof whose window has
//! closed is settled. Its pending reward is minted into the wallet's balance unless fraud was
//! proven (then it was voided already) or a dispute is still open (then it waits one more window).
//!
//! A proof is *sampled* for re-execution with probability `verify_sample_bps` (a newcomer claim
//! with the chance the newcomer budget allows: [`crate::lottery`]), drawn when the
//! first draw window opened after its block closes ([`crate::draw`]: validators' beacon
//! signatures that nobody could know, or choose among, when the proof was committed). A sampled
//! proof is paid only after more than a third of validator power verified it (its
//! [`crate::draw::replayers`] hold that much); until then it waits window after window.
//!
//! What a matured proof mints is [`payout`]: the reward if it was checked (scaled up if it was
//! drawn: by `1/p` for a newcomer claim), else only the part its wallet's bond covered
//! (`rewards::cover`; nothing for a newcomer claim). Minted rewards go
//! into the wallet's bond and are released to its balance a bond period later (`bond`).
//!
//! Proofs enter a FIFO queue when accepted. Every window has the same length and block time never
//! goes back, so the queue is ordered by maturity time and each block pops only what matured.

use crate::amount::Amount;
use crate::bond;
use crate::crypto::{domain_hash, Hash32};
use crate::error::StorageError;
use crate::lottery;
use crate::overlay::Overlay;
use crate::params::Params;
use crate::rewards;
use crate::state::{
    keys, Account, DrawSet, DrawWindow, MaturityEntry, NodeRecord, ProofRecord, ProofStatus,
    RewardCurve, Supply, TrainingState,
};
use crate::storage::Storage;

/// Appends `proof` to the maturity queue.
pub(crate) fn enqueue<S: Storage>(
    ov: &mut Overlay<'_, S>,
    training: &mut TrainingState,
    entry: MaturityEntry,
) {
    ov.put(keys::maturity(training.queue_tail), &entry);
    training.queue_tail = training.queue_tail.saturating_add(1);
}

fn missing(key: Vec<u8>) -> StorageError {
    StorageError::Corrupt {
        key: crate::overlay::show_key(&key),
        reason: "referenced record is missing".into(),
    }
}

/// Whether the proof `id` is drawn for re-execution by `seed`.
pub fn is_sampled(seed: &Hash32, id: &Hash32, sample_bps: u16) -> bool {
    let h = domain_hash(b"neuroshard-sample-v1", &[seed.as_slice(), id].concat());
    let mut first = [0u8; 8];
    first.copy_from_slice(&h[..8]);
    u64::from_le_bytes(first) % 10_000 < u64::from(sample_bps)
}

/// Draws the sampling of every queued proof accepted at or before the closed draw `window`'s
/// `after` block, from its seed (see [`crate::draw`]) at block time `now_ms`: bonded claims at
/// the genesis rate (every one in a spoiled window), newcomer claims with the chance the
/// newcomer budget allows ([`crate::lottery`]). A drawn proof gets its replayers from the
/// window's validator set `set` ([`crate::draw::replayers`]).
pub(crate) fn draw_samples<S: Storage>(
    ov: &mut Overlay<'_, S>,
    params: &Params,
    training: &mut TrainingState,
    set: &DrawSet,
    window: &DrawWindow,
    now_ms: u64,
) -> Result<(), StorageError> {
    let (seed, spoiled, after) = (&window.seed, window.spoiled, window.after);
    training.sample_head = training.sample_head.max(training.queue_head);
    // The window's newcomer claims share one chance, so count their batches first.
    let mut newcomers = 0u64;
    let mut i = training.sample_head;
    while i < training.queue_tail {
        let (_, proof) = queued(ov, i)?;
        if proof.height > after {
            break;
        }
        if proof.newcomer && proof.sampled.is_none() {
            newcomers = newcomers.saturating_add(proof.replay_batches());
        }
        i += 1;
    }
    let chance = if newcomers > 0 {
        lottery::refill(params, training, now_ms);
        lottery::spend(params, training, newcomers, spoiled)
    } else {
        0
    };
    while training.sample_head < training.queue_tail {
        let (id, mut proof) = queued(ov, training.sample_head)?;
        if proof.height > after {
            break; // accepted after the window opened: the next window draws it
        }
        if proof.sampled.is_none() {
            // Proofs with nothing to re-execute (inference tokens only) mint nothing: never
            // drawn.
            let drawn = if proof.replay_batches() == 0 {
                false
            } else if proof.newcomer {
                proof.lottery_p = chance;
                lottery::is_drawn(seed, &id, chance)
            } else {
                spoiled || is_sampled(seed, &id, params.training.verify_sample_bps)
            };
            proof.sampled = Some(drawn);
            proof.drawn_in_full = drawn && spoiled;
            if drawn {
                proof.replayers = crate::draw::replayers(set, seed, &id);
            }
            if !drawn {
                // The gamble is over: undrawn, it will pay `covered`; its collateral is free.
                let account_key = keys::account(&proof.wallet);
                let mut account: Account = ov.get(&account_key)?.unwrap_or_default();
                bond::release_collateral(&mut account, &mut proof);
                ov.put(account_key, &account);
            }
            ov.put(keys::proof(&id), &proof);
        }
        training.sample_head += 1;
    }
    Ok(())
}

/// Entry `index` of the maturity queue: its proof's id and record.
fn queued<S: Storage>(
    ov: &Overlay<'_, S>,
    index: u64,
) -> Result<(Hash32, ProofRecord), StorageError> {
    let key = keys::maturity(index);
    let entry: MaturityEntry = ov.get(&key)?.ok_or_else(|| missing(key.clone()))?;
    let proof_key = keys::proof(&entry.proof);
    let proof: ProofRecord = ov
        .get(&proof_key)?
        .ok_or_else(|| missing(proof_key.clone()))?;
    Ok((entry.proof, proof))
}

/// Settles every proof whose challenge window ended at or before `now_ms`.
pub(crate) fn mature_rewards<S: Storage>(
    ov: &mut Overlay<'_, S>,
    params: &Params,
    now_ms: u64,
) -> Result<(), StorageError> {
    let mut training: TrainingState = ov.get(keys::TRAINING)?.unwrap_or_default();
    let mut changed = false;
    while training.queue_head < training.queue_tail {
        let key = keys::maturity(training.queue_head);
        let entry: MaturityEntry = ov.get(&key)?.ok_or_else(|| missing(key.clone()))?;
        if entry.matures_at_ms > now_ms {
            break;
        }
        ov.delete(key);
        training.queue_head += 1;
        changed = true;
        let proof_key = keys::proof(&entry.proof);
        let mut proof: ProofRecord = ov.get(&proof_key)?.ok_or_else(|| missing(proof_key))?;
        match proof.status {
            ProofStatus::Paid | ProofStatus::Voided => continue,
            ProofStatus::Pending if proof.disputed() || proof.sampled != Some(false) => {
                // Drawn for re-execution and not verified yet, or a validator said the work does
                // not reproduce and the others have not decided: hold it for another window.
                let again = MaturityEntry {
                    proof: entry.proof,
                    matures_at_ms: now_ms.saturating_add(params.challenge_window_ms),
                };
                enqueue(ov, &mut training, again);
                continue;
            }
            ProofStatus::Pending | ProofStatus::Verified => {}
        }
        pay(ov, params, &mut training, &entry, &mut proof, now_ms)?;
    }
    if changed {
        ov.put(keys::TRAINING.to_vec(), &training);
    }
    Ok(())
}

/// What a matured proof mints: checked by re-execution (drawn, or disputed and then
/// verified), the reward, scaled up for proofs the seed drew so that the expected pay over the
/// draw is the reward (`rewards::drawn_pay`); unchecked, only what its wallet's bond covered.
/// A proof drawn because its window was spoiled is paid its reward unscaled: otherwise a
/// validator withholding its block would raise the pay of the honest proofs in that window.
pub fn payout(params: &Params, proof: &ProofRecord) -> Amount {
    let covered = proof.covered.min(proof.reward);
    match (proof.status, proof.sampled) {
        (ProofStatus::Verified, Some(true)) if proof.newcomer && !proof.drawn_in_full => {
            lottery::drawn_pay(proof.reward, proof.lottery_p)
        }
        (ProofStatus::Verified, Some(true)) if !proof.drawn_in_full => {
            rewards::drawn_pay(params.training.verify_sample_bps, proof.reward, covered)
        }
        (ProofStatus::Verified, _) => proof.reward,
        _ => covered,
    }
}

/// Mints a matured proof's pay into its wallet's bond, less the data server's share, which goes
/// into the server wallet's bond; what nobody checked and the bond did not cover is never
/// minted.
fn pay<S: Storage>(
    ov: &mut Overlay<'_, S>,
    params: &Params,
    training: &mut TrainingState,
    entry: &MaturityEntry,
    proof: &mut ProofRecord,
    now_ms: u64,
) -> Result<(), StorageError> {
    let pending = proof.reward;
    let amount = payout(params, proof);
    // The data server's share of the pay; the trainer keeps the rest (both bonded).
    let data = match proof.data_server {
        Some(server) if server.wallet != proof.wallet => {
            rewards::data_share(amount, proof.data_gross, proof.gross)
        }
        _ => Amount::ZERO, // none, or its own wallet's: all of it goes one way
    };
    let trainer = amount.saturating_sub(data);
    let account_key = keys::account(&proof.wallet);
    let mut account: Account = ov.get(&account_key)?.unwrap_or_default();
    account.pending = account.pending.saturating_sub(pending);
    bond::release_collateral(&mut account, proof);
    bond::bond_reward(
        ov,
        params,
        training,
        proof.wallet,
        &mut account,
        trainer,
        now_ms,
    );
    ov.put(account_key, &account);
    if let (Some(server), false) = (proof.data_server, data.is_zero()) {
        let key = keys::account(&server.wallet);
        let mut account: Account = ov.get(&key)?.unwrap_or_default();
        bond::bond_reward(
            ov,
            params,
            training,
            server.wallet,
            &mut account,
            data,
            now_ms,
        );
        ov.put(key, &account);
        let node_key = keys::node(&server.node);
        if let Some(mut node) = ov.get::<NodeRecord>(&node_key)? {
            node.earned = node.earned.saturating_add(data);
            ov.put(node_key, &node);
        }
    }

    let mut supply: Supply = ov.get(keys::SUPPLY)?.unwrap_or_default();
    supply.pending = supply.pending.saturating_sub(pending);
    supply.minted = supply.minted.saturating_add(amount);
    supply.unchecked = supply
        .unchecked
        .saturating_add(pending.saturating_sub(amount));
    ov.put(keys::SUPPLY.to_vec(), &supply);

    let node_key = keys::node(&proof.node);
    let mut node: NodeRecord = ov
        .get(&node_key)?
        .ok_or_else(|| missing(node_key.clone()))?;
    node.pending_proofs.retain(|p| p != &entry.proof);
    node.earned = node.earned.saturating_add(trainer);
    ov.put(node_key, &node);

    // The network's diminishing returns count what was paid, in the window it was paid in.
    let curve: RewardCurve = ov.get(keys::REWARD_CURVE)?.unwrap_or_default();
    let mut curve = rewards::curve_at(params, &curve, now_ms);
    curve.gross =
        curve
            .gross
            .saturating_add(rewards::paid_gross(proof.gross, proof.reward, amount));
    ov.put(keys::REWARD_CURVE.to_vec(), &curve);

    proof.status = ProofStatus::Paid;
    proof.paid = amount;
    proof.paid_ms = now_ms;
    ov.put(keys::proof(&entry.proof), &*proof);
    Ok(())
}
