//! `AttestRound`: an active validator's result for the open training round, once the round is
//! past its deadline (see [`crate::round`] for the rule). Split like Penumbra's actions: first
//! [`check`] (may this validator attest this result?), then [`record`] (tally, and adopt at more
//! than two thirds of power: open the next round from the result's model and momentum, and
//! penalise every validator that attested something else).

use crate::crypto::{Address, Hash32};
use crate::ctx::Ctx;
use crate::error::{StorageError, TxError};
use crate::receipt::Event;
use crate::round::{bitmap_len, RoundResult};
use crate::state::{keys, ProofStatus, RoundAttestation, RoundClose, RoundRecord};
use crate::storage::Storage;

use super::verdict::penalise_validator;

pub(super) fn attest_round<S: Storage>(
    ctx: &mut Ctx<'_, '_, S>,
    validator: Address,
    round: u64,
    result: &RoundResult,
) -> Result<(), TxError> {
    let (power, mut record) = check(ctx, validator, round, result)?;
    record_attestation(ctx, validator, power, &mut record, result)
}

/// May `validator` attest `result` for `round` now? Returns its power and the round.
fn check<S: Storage>(
    ctx: &Ctx<'_, '_, S>,
    validator: Address,
    round: u64,
    result: &RoundResult,
) -> Result<(u64, RoundRecord), TxError> {
    let power = ctx
        .active_power(&validator)?
        .ok_or(TxError::UnknownValidator(validator))?;
    let training = ctx.training()?;
    if round != training.round {
        return Err(TxError::WrongRound {
            current: training.round,
            got: round,
        });
    }
    let earliest_ms = training
        .opened_ms
        .saturating_add(ctx.params().round_length_ms);
    if ctx.now_ms() < earliest_ms {
        return Err(TxError::RoundTooYoung {
            round,
            opened_ms: training.opened_ms,
            earliest_ms,
        });
    }
    let record: RoundRecord =
        ctx.ov
            .get(&keys::round(round))?
            .ok_or_else(|| StorageError::Corrupt {
                key: format!("round {round}"),
                reason: "the open round has no record".into(),
            })?;
    if record.attestations.iter().any(|a| a.validator == validator) {
        return Err(TxError::DuplicateAttestation(validator));
    }
    check_inclusion(ctx, &record, result)?;
    Ok((power, record))
}

/// The bitmap covers exactly the round's training proofs, keeps every verified one and no
/// voided one, and leaves out every proof whose segment-chain predecessor it leaves out.
fn check_inclusion<S: Storage>(
    ctx: &Ctx<'_, '_, S>,
    record: &RoundRecord,
    result: &RoundResult,
) -> Result<(), TxError> {
    let want = bitmap_len(record.trained);
    if result.included.len() as u64 != want {
        return Err(TxError::BadInclusion(format!(
            "the bitmap has {} bytes; the round's {} training proofs need {want}",
            result.included.len(),
            record.trained
        )));
    }
    let spare = want.saturating_mul(8).saturating_sub(record.trained);
    if spare > 0 {
        let last = result.included.last().copied().unwrap_or(0);
        if last >> (8 - spare) != 0 {
            return Err(TxError::BadInclusion(
                "bits past the last training proof are set".into(),
            ));
        }
    }
    let mut left_out = std::collections::BTreeSet::new();
    for i in 0..record.trained {
        let id: Hash32 = ctx
            .ov
            .get(&keys::round_trained(record.round, i))?
            .ok_or_else(|| StorageError::Corrupt {
                key: format!("round {} training proof {i}", record.round),
                reason: "missing".into(),
            })?;
        let proof = ctx.proof(&id)?.ok_or_else(|| StorageError::Corrupt {
            key: format!("proof {}", hex::encode(id)),
            reason: "listed in its round but missing".into(),
        })?;
        let included = result.includes(i);
        // A segment that continues one the result leaves out started from a state nobody
        // aggregates: it goes out with it (a voided segment takes the rest of its chain).
        let orphaned = proof
            .previous_segment
            .is_some_and(|p| left_out.contains(&p));
        if !included {
            left_out.insert(id);
        }
        if orphaned {
            if included {
                return Err(TxError::BadInclusion(format!(
                    "proof {} continues a segment the result leaves out",
                    hex::encode(id)
                )));
            }
            continue;
        }
        match proof.status {
            ProofStatus::Voided if included => {
                return Err(TxError::BadInclusion(format!(
                    "proof {} is voided",
                    hex::encode(id)
                )))
            }
            // Verified by two thirds of power: they all hold its pseudo-gradient.
            ProofStatus::Verified | ProofStatus::Paid
                if !included && proof.verdicts.iter().any(|v| v.valid) =>
            {
                return Err(TxError::BadInclusion(format!(
                    "proof {} was verified by two thirds of validator power and is left out",
                    hex::encode(id)
                )))
            }
            _ => {}
        }
    }
    Ok(())
}

fn record_attestation<S: Storage>(
    ctx: &mut Ctx<'_, '_, S>,
    validator: Address,
    power: u64,
    record: &mut RoundRecord,
    result: &RoundResult,
) -> Result<(), TxError> {
    let hash = result.hash();
    let result_key = keys::round_result(record.round, &hash);
    if ctx.ov.get::<RoundResult>(&result_key)?.is_none() {
        ctx.ov.put(result_key, result);
    }
    record.attestations.push(RoundAttestation {
        validator,
        power,
        result: hash,
    });
    ctx.events.push(Event::RoundAttested {
        round: record.round,
        validator,
        result: hash,
    });
    let attested: u128 = record
        .attestations
        .iter()
        .filter(|a| a.result == hash)
        .map(|a| u128::from(a.power))
        .sum();
    let total = ctx.total_power()?;
    if attested * 3 > u128::from(total) * 2 {
        adopt(ctx, record, result, hash, attested as u64, total)?;
    }
    ctx.ov.put(keys::round(record.round), &*record);
    Ok(())
}

/// Closes the round with `result` and opens the next one from its model and momentum.
fn adopt<S: Storage>(
    ctx: &mut Ctx<'_, '_, S>,
    record: &mut RoundRecord,
    result: &RoundResult,
    hash: Hash32,
    attested_power: u64,
    total_power: u64,
) -> Result<(), TxError> {
    let now = ctx.now_ms();
    let height = ctx.env.header.height;
    // Every validator that attested another result computed something the others did not.
    let penalty = ctx.params().false_verdict_penalty;
    for a in record.attestations.iter().filter(|a| a.result != hash) {
        let taken = penalise_validator(ctx, &a.validator, penalty)?;
        ctx.events.push(Event::AttestationOverruled {
            round: record.round,
            validator: a.validator,
            taken,
        });
    }
    record.close = Some(RoundClose {
        result: result.clone(),
        result_hash: hash,
        closed_ms: now,
        closed_height: height,
        attested_power,
        total_power,
    });
    let next = record.round.saturating_add(1);
    ctx.ov.put(
        keys::round(next),
        &RoundRecord::opened(next, result.next_model, result.momentum, now, height),
    );
    let mut training = ctx.training()?;
    training.round = next;
    training.model_version = result.next_model;
    training.momentum = result.momentum;
    training.opened_ms = now;
    ctx.put_training(&training);
    crate::gov::block::open_round(ctx.ov, ctx.env.params, next, height)?;
    ctx.events.push(Event::RoundClosed {
        round: record.round,
        aggregate: result.aggregate,
        next_model: result.next_model,
        proofs: result.included_count(),
        eval_loss_micro: result.eval_loss_micro,
    });
    Ok(())
}
