//! `Verdict`: a validator re-executed an accepted proof's claimed batches from the round's
//! weights and says whether the pseudo-gradient it got matches the one the proof committed to
//! (bit for bit on CPU; see `ARCHITECTURE.md`).
//!
//! Verdicts are tallied by voting power. When more than two thirds of the active power says
//! *invalid*, fraud is proven: the proof's pending reward is voided (it was never minted), the
//! node's wallet forfeits its whole reward bond and pays `fraud_penalty` (from its balance, stake
//! and unbonding stake, then from its node's other pending rewards), the validators who found it
//! share `reporter_share_bps` of what was taken and the rest is destroyed. When more than a
//! *third* says *valid*, the proof is verified: Byzantine validators hold less than a third, so
//! at least one honest validator reproduced it, and an honest validator never calls a
//! fabricated proof valid. This is what lets a drawn proof's re-execution fall to its
//! [`crate::draw::replayers`] alone instead of to every validator. A paid proof still takes
//! *invalid* verdicts for a bond period after payment, so fraud found late claws back what the
//! bond holds. Either way, each validator that voted against the outcome loses
//! `false_verdict_penalty` (from stake first), destroyed. Nothing is paid out that was not
//! taken, so `minted - burned - slashed` keeps equal to what accounts hold.

use crate::amount::Amount;
use crate::crypto::{Address, Hash32};
use crate::ctx::Ctx;
use crate::error::TxError;
use crate::receipt::Event;
use crate::state::{ProofRecord, ProofStatus, VerdictRecord};
use crate::storage::Storage;

use super::fraud::{penalise_node, take};

pub(super) fn verdict<S: Storage>(
    ctx: &mut Ctx<'_, '_, S>,
    validator: Address,
    proof_id: Hash32,
    valid: bool,
) -> Result<(), TxError> {
    let power = ctx
        .active_power(&validator)?
        .ok_or(TxError::UnknownValidator(validator))?;
    let mut proof = ctx
        .proof(&proof_id)?
        .ok_or_else(|| TxError::UnknownProof(hex::encode(proof_id)))?;
    // Fraud evidence stays valid after payment, for the bond period: an invalid verdict on a
    // paid proof can still take its wallet's bond (what it was paid in that window).
    let now = ctx.now_ms();
    let clawable = proof.status == ProofStatus::Paid
        && !valid
        && now < proof.paid_ms.saturating_add(ctx.params().bond_period_ms);
    if proof.status != ProofStatus::Pending && !clawable {
        return Err(TxError::ProofSettled(hex::encode(proof_id)));
    }
    if proof.verdicts.iter().any(|v| v.validator == validator) {
        return Err(TxError::DuplicateVerdict(validator));
    }
    proof.verdicts.push(VerdictRecord {
        validator,
        valid,
        power,
    });
    ctx.events.push(Event::VerdictGiven {
        validator,
        proof: proof_id,
        valid,
    });

    let total = u128::from(ctx.total_power()?);
    let tally = |want: bool| -> u128 {
        proof
            .verdicts
            .iter()
            .filter(|v| v.valid == want)
            .map(|v| u128::from(v.power))
            .sum()
    };
    let (yes, no) = (tally(true), tally(false));
    if fraud_proven(no, total) {
        prove_fraud(ctx, proof_id, &mut proof)?;
        overrule(ctx, proof_id, &proof, true)?;
    } else if verified(yes, total) && proof.status == ProofStatus::Pending {
        proof.status = ProofStatus::Verified;
        let mut account = ctx.account(&proof.wallet)?;
        crate::bond::release_collateral(&mut account, &mut proof);
        ctx.put_account(&proof.wallet, &account);
        ctx.events.push(Event::ProofVerified { proof: proof_id });
        overrule(ctx, proof_id, &proof, false)?;
    }
    ctx.put_proof(&proof_id, &proof);
    Ok(())
}

/// Fraud is proven when more than two thirds of the active power calls a proof invalid.
fn fraud_proven(invalid_power: u128, total_power: u128) -> bool {
    invalid_power * 3 > total_power * 2
}

/// A proof is verified when more than a third of the active power calls it valid: more than
/// Byzantine validators hold, so an honest validator reproduced it.
fn verified(valid_power: u128, total_power: u128) -> bool {
    valid_power * 3 > total_power
}

/// Voids the proof's reward and penalises its wallet.
fn prove_fraud<S: Storage>(
    ctx: &mut Ctx<'_, '_, S>,
    proof_id: Hash32,
    proof: &mut ProofRecord,
) -> Result<(), TxError> {
    let params = ctx.params().clone();
    // 1. The fraudulent proof's own reward: never minted, now never will be (if it was paid
    // already, the bond that holds its pay is forfeited below).
    let voided = if proof.status == ProofStatus::Paid {
        Amount::ZERO
    } else {
        proof.reward
    };
    proof.status = ProofStatus::Voided;
    proof.reward = Amount::ZERO;
    proof.collateral = Amount::ZERO;
    ctx.put_proof(&proof_id, proof);
    let mut node = ctx
        .node(&proof.node)?
        .ok_or(TxError::UnknownNode(proof.node))?;
    node.pending_proofs.retain(|p| p != &proof_id);
    ctx.put_node(&proof.node, &node);
    let mut account = ctx.account(&proof.wallet)?;
    account.pending = account.pending.saturating_sub(voided);
    ctx.put_account(&proof.wallet, &account);
    let mut supply = ctx.supply()?;
    supply.pending = supply.pending.saturating_sub(voided);
    supply.voided = supply.voided.saturating_add(voided);
    ctx.put_supply(&supply);

    // 2. The penalty: the wallet's whole bond, then `fraud_penalty` from minted holdings, then
    // the node's other pending rewards.
    let (_, penalty) = penalise_node(ctx, &proof.node, params.fraud_penalty)?;

    // 3. The reporters' share comes only out of what was taken (minted money).
    let reporters: Vec<Address> = proof
        .verdicts
        .iter()
        .filter(|v| !v.valid)
        .map(|v| v.validator)
        .collect();
    let share = penalty.taken.bps(params.reporter_share_bps);
    let each = Amount(share.0 / reporters.len().max(1) as u128);
    let mut paid = Amount::ZERO;
    for r in &reporters {
        ctx.credit(r, each)?;
        paid = paid.saturating_add(each);
    }
    let destroyed = penalty.taken.checked_sub(paid).ok_or(TxError::Overflow)?;
    ctx.record_slashed(destroyed)?;
    ctx.events.push(Event::FraudProven {
        proof: proof_id,
        node: proof.node,
        wallet: proof.wallet,
        voided,
        voided_pending: penalty.voided_pending,
        taken: penalty.taken,
        to_reporters: paid,
        destroyed,
    });
    Ok(())
}

/// Penalises every validator whose verdict disagrees with the outcome
/// (`fraud = true`: those who called it valid).
fn overrule<S: Storage>(
    ctx: &mut Ctx<'_, '_, S>,
    proof_id: Hash32,
    proof: &ProofRecord,
    fraud: bool,
) -> Result<(), TxError> {
    let penalty = ctx.params().false_verdict_penalty;
    for v in proof.verdicts.iter().filter(|v| v.valid == fraud) {
        let taken = penalise_validator(ctx, &v.validator, penalty)?;
        ctx.events.push(Event::VerdictOverruled {
            validator: v.validator,
            proof: proof_id,
            taken,
        });
    }
    Ok(())
}

/// Takes up to `penalty` from `validator` (stake first, then unbonding, then balance) and
/// destroys it; returns what was taken.
pub(super) fn penalise_validator<S: Storage>(
    ctx: &mut Ctx<'_, '_, S>,
    validator: &Address,
    penalty: Amount,
) -> Result<Amount, TxError> {
    let mut account = ctx.account(validator)?;
    let taken = take(&mut account, penalty, false);
    let rest = penalty.saturating_sub(taken);
    let from_balance = rest.min(account.balance);
    account.balance = account.balance.saturating_sub(from_balance);
    let taken = taken.saturating_add(from_balance);
    ctx.put_account(validator, &account);
    ctx.record_slashed(taken)?;
    ctx.block.touched.insert(*validator);
    Ok(taken)
}
