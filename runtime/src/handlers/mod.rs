//! One handler per transaction kind. Each runs inside the transaction's fork: returning an error
//! discards everything it wrote.

mod beacon;
mod fraud;
pub(crate) mod gov;
mod proof;
mod register;
mod round;
mod spend;
mod staking;
mod transfer;
mod verdict;

pub(crate) use staking::voting_power;

use crate::ctx::Ctx;
use crate::error::TxError;
use crate::storage::Storage;
use crate::tx::{TxBody, VerifiedTx};

pub(crate) fn execute<S: Storage>(
    ctx: &mut Ctx<'_, '_, S>,
    tx: &VerifiedTx,
) -> Result<(), TxError> {
    let sender = tx.sender();
    match &tx.tx().body {
        TxBody::Transfer { to, amount } => transfer::transfer(ctx, sender, *to, *amount),
        TxBody::Spend {
            to,
            amount,
            purpose,
        } => spend::spend(ctx, sender, *to, *amount, *purpose),
        TxBody::RegisterNode {
            node_key,
            expires_ms,
            ..
        } => register::register_node(ctx, sender, *node_key, *expires_ms),
        TxBody::SubmitProof(p) => proof::submit_proof(ctx, sender, tx.hash(), p),
        TxBody::Stake { amount } => staking::stake(ctx, tx.signed().signer, *amount),
        TxBody::Unstake { amount } => staking::unstake(ctx, sender, *amount),
        TxBody::WithdrawUnbonded => staking::withdraw(ctx, sender),
        TxBody::ReportFraud(evidence) => fraud::report(ctx, sender, evidence),
        TxBody::Verdict { proof, valid } => verdict::verdict(ctx, sender, *proof, *valid),
        TxBody::AttestRound { round, result } => round::attest_round(ctx, sender, *round, result),
        TxBody::SetBeaconKey { key, possession } => {
            beacon::set_beacon_key(ctx, sender, key, possession)
        }
        TxBody::Unjail => staking::unjail(ctx, sender),
        TxBody::SubmitProposal {
            title,
            action,
            deposit,
        } => gov::submit(ctx, sender, title, action, *deposit),
        TxBody::Deposit { proposal, amount } => gov::deposit(ctx, sender, *proposal, *amount),
        TxBody::Vote { proposal, option } => gov::vote(ctx, sender, *proposal, *option),
    }
}
