//! `ReportFraud`: slash an offender proven by evidence, pay the reporter its share, destroy the
//! rest. Every offence is punished once.
//!
//! * A double-signing validator loses `slash_double_sign_bps` of its bonded and unbonding stake
//!   and is jailed for good (voting power 0, cannot stake again).
//! * A node that claimed the same batches twice costs its wallet its whole reward bond and
//!   `fraud_penalty`, taken from the balance, then stake, then unbonding stake, then the node's
//!   pending rewards: drivers and workers stake nothing, so their earnings answer for them.
//!
//! What the offender loses equals what the reporter gains plus what is destroyed, so
//! `minted - burned - slashed` keeps matching what accounts hold.

use crate::amount::Amount;
use crate::crypto::Address;
use crate::ctx::Ctx;
use crate::error::TxError;
use crate::evidence::{Evidence, Offender};
use crate::receipt::Event;
use crate::state::{keys, Account};
use crate::storage::Storage;

pub(super) fn report<S: Storage>(
    ctx: &mut Ctx<'_, '_, S>,
    reporter: Address,
    evidence: &Evidence,
) -> Result<(), TxError> {
    if evidence.chain_id() != ctx.env.chain_id {
        return Err(TxError::InvalidEvidence(format!(
            "evidence is for chain {:?}",
            evidence.chain_id()
        )));
    }
    let offence = evidence.offence_id();
    if ctx.ov.get_raw(&keys::evidence(&offence))?.is_some() {
        return Err(TxError::DuplicateEvidence);
    }
    let params = ctx.params().clone();
    let (offender, taken) = match evidence.offender() {
        Offender::Validator(validator) => {
            let mut record = ctx
                .validator(&validator)?
                .ok_or(TxError::UnknownValidator(validator))?;
            let mut account = ctx.account(&validator)?;
            let bonded = account
                .stake
                .checked_add(account.unbonding_total())
                .ok_or(TxError::Overflow)?;
            let taken = take(
                &mut account,
                bonded.bps(params.slash_double_sign_bps),
                false,
            );
            ctx.put_account(&validator, &account);
            if !record.jailed {
                record.jailed = true;
                ctx.ov.put(keys::validator(&validator), &record);
                ctx.events.push(Event::ValidatorJailed { validator });
            }
            ctx.block.touched.insert(validator);
            (validator, taken)
        }
        Offender::Node(node) => {
            let (wallet, penalty) = penalise_node(ctx, &node, params.fraud_penalty)?;
            if penalty.taken.is_zero() && penalty.voided_pending.is_zero() {
                return Err(TxError::NothingToSlash);
            }
            (wallet, penalty.taken)
        }
    };
    let to_reporter = taken.bps(params.reporter_share_bps);
    let destroyed = taken.checked_sub(to_reporter).ok_or(TxError::Overflow)?;
    ctx.credit(&reporter, to_reporter)?;
    ctx.record_slashed(destroyed)?;
    ctx.ov.put(keys::evidence(&offence), &ctx.env.header.height);
    ctx.events.push(Event::Slashed {
        offender,
        reporter,
        taken,
        to_reporter,
        destroyed,
        offence,
    });
    Ok(())
}

/// What a node's wallet lost to a penalty.
pub(super) struct NodePenalty {
    /// Taken from minted holdings (balance, stake, unbonding): the caller pays the reporter's
    /// share out of it and records the rest as slashed.
    pub taken: Amount,
    /// Cancelled from the node's pending rewards (never minted, so nothing to pay out).
    pub voided_pending: Amount,
}

/// Charges `penalty` to the wallet of `node`: its whole reward bond is forfeited, then the penalty
/// comes from its balance, stake and unbonding stake, then from the node's pending rewards, newest
/// first. Returns the wallet and what it lost.
pub(super) fn penalise_node<S: Storage>(
    ctx: &mut Ctx<'_, '_, S>,
    node: &Address,
    penalty: Amount,
) -> Result<(Address, NodePenalty), TxError> {
    let record = ctx.node(node)?.ok_or(TxError::UnknownNode(*node))?;
    let wallet = record.wallet;
    let mut account = ctx.account(&wallet)?;
    let bond = crate::bond::forfeit(&mut account);
    let taken = take(&mut account, penalty, true).saturating_add(bond);
    let mut short = penalty.saturating_sub(taken);
    let mut voided_pending = Amount::ZERO;
    for id in record.pending_proofs.iter().rev() {
        if short.is_zero() {
            break;
        }
        let Some(mut proof) = ctx.proof(id)? else {
            continue;
        };
        let cut = short.min(proof.reward);
        proof.reward = proof.reward.saturating_sub(cut);
        short = short.saturating_sub(cut);
        voided_pending = voided_pending.saturating_add(cut);
        ctx.put_proof(id, &proof);
    }
    account.pending = account.pending.saturating_sub(voided_pending);
    ctx.put_account(&wallet, &account);
    let mut supply = ctx.supply()?;
    supply.pending = supply.pending.saturating_sub(voided_pending);
    supply.voided = supply.voided.saturating_add(voided_pending);
    ctx.put_supply(&supply);
    ctx.block.touched.insert(wallet);
    Ok((
        wallet,
        NodePenalty {
            taken,
            voided_pending,
        },
    ))
}

/// Takes up to `want` from the account (balance first if `balance_first`, then stake, then
/// unbonding entries, newest first) and returns what was taken.
pub(super) fn take(account: &mut Account, want: Amount, balance_first: bool) -> Amount {
    let mut left = want;
    let mut grab = |from: &mut Amount| {
        let part = left.min(*from);
        *from = from.saturating_sub(part);
        left = left.saturating_sub(part);
    };
    if balance_first {
        grab(&mut account.balance);
    }
    grab(&mut account.stake);
    for entry in account.unbonding.iter_mut().rev() {
        grab(&mut entry.amount);
    }
    account.unbonding.retain(|u| !u.amount.is_zero());
    want.saturating_sub(left)
}
