//! `CloseRound`: an active validator closes the open training round once it is
//! `round_length_ms` old. It names the verified proofs of the round whose pseudo-gradients it
//! aggregated (with the genesis robust rule), the hash of that aggregate, and the hash of the
//! weights after the outer Nesterov step, which becomes the next round's model version. Anyone
//! holding the round's weights and those pseudo-gradients can recompute both hashes; proofs of
//! the old round are refused from then on (`StaleModel`).

use crate::crypto::{Address, Hash32};
use crate::ctx::Ctx;
use crate::error::{StorageError, TxError};
use crate::receipt::Event;
use crate::state::{keys, ProofStatus, RoundClose, RoundRecord};
use crate::storage::Storage;

pub(super) fn close_round<S: Storage>(
    ctx: &mut Ctx<'_, '_, S>,
    validator: Address,
    round: u64,
    aggregate: Hash32,
    next_model: Hash32,
    included: &[Hash32],
) -> Result<(), TxError> {
    ctx.active_power(&validator)?
        .ok_or(TxError::UnknownValidator(validator))?;
    let mut training = ctx.training()?;
    if round != training.round {
        return Err(TxError::WrongRound {
            current: training.round,
            got: round,
        });
    }
    let now = ctx.now_ms();
    let earliest_ms = training
        .opened_ms
        .saturating_add(ctx.params().round_length_ms);
    if now < earliest_ms {
        return Err(TxError::RoundTooYoung {
            round,
            opened_ms: training.opened_ms,
            earliest_ms,
        });
    }
    for id in included {
        let ok = ctx.proof(id)?.is_some_and(|p| {
            p.round == round
                && matches!(p.status, ProofStatus::Verified | ProofStatus::Paid)
                && p.verdicts.iter().filter(|v| v.valid).count() > 0
        });
        if !ok {
            return Err(TxError::NotAggregatable(hex::encode(id)));
        }
    }
    let key = keys::round(round);
    let mut record: RoundRecord = ctx.ov.get(&key)?.ok_or_else(|| StorageError::Corrupt {
        key: format!("round {round}"),
        reason: "the open round has no record".into(),
    })?;
    record.close = Some(RoundClose {
        aggregate,
        next_model,
        included: included.to_vec(),
        closed_ms: now,
        closed_by: validator,
    });
    ctx.ov.put(key, &record);
    let next = round.saturating_add(1);
    ctx.ov.put(
        keys::round(next),
        &RoundRecord {
            round: next,
            model_version: next_model,
            opened_ms: now,
            opened_height: ctx.env.header.height,
            proofs: 0,
            close: None,
        },
    );
    training.round = next;
    training.model_version = next_model;
    training.opened_ms = now;
    ctx.put_training(&training);
    ctx.events.push(Event::RoundClosed {
        round,
        aggregate,
        next_model,
        proofs: included.len() as u64,
    });
    Ok(())
}
