//! NeuroDAO at the end of each block: deposit periods that lapse, votes that close, and passed
//! changes whose height has come. Work per block is bounded by [`super::MAX_OPEN_PROPOSALS`]
//! proposals and, per closing vote, the validator index (`max_validators`).

use crate::amount::Amount;
use crate::ctx::BlockHeader;
use crate::error::StorageError;
use crate::overlay::Overlay;
use crate::params::Params;
use crate::state::{keys, Account, Supply, ValidatorIndex, ValidatorRecord};
use crate::storage::Storage;

use super::tally::{voting_power, Outcome, Tally};
use super::{GovState, Proposal, ProposalAction, ProposalStatus, VoteOption, ESCROW};

fn corrupt(key: &[u8], reason: &str) -> StorageError {
    StorageError::Corrupt {
        key: crate::overlay::show_key(key),
        reason: reason.to_owned(),
    }
}

/// Proposal `id`, which the bookkeeping says exists.
pub(crate) fn load<S: Storage>(ov: &Overlay<'_, S>, id: u64) -> Result<Proposal, StorageError> {
    ov.get(&keys::proposal(id))?
        .ok_or_else(|| corrupt(&keys::proposal(id), "an open proposal is missing"))
}

/// Runs after the block's transactions. A parameter change written here is in force from the
/// next block on.
pub(crate) fn on_block<S: Storage>(
    ov: &mut Overlay<'_, S>,
    params: &Params,
    header: &BlockHeader,
) -> Result<(), StorageError> {
    let Some(mut gov) = ov.get::<GovState>(keys::GOV)? else {
        return Ok(());
    };
    let before = gov.clone();
    let now = header.time_ms;
    let mut still_open = Vec::with_capacity(gov.open.len());
    for id in std::mem::take(&mut gov.open) {
        let mut p = load(ov, id)?;
        match p.status {
            ProposalStatus::DepositPeriod if now >= p.deposit_end_ms => {
                burn_deposits(ov, &mut p)?;
                p.status = ProposalStatus::Expired;
            }
            ProposalStatus::Voting if p.voting_end_ms.is_some_and(|end| now >= end) => {
                let tally = count(ov, id)?;
                let outcome = tally.outcome(&params.gov);
                if outcome.burns_deposit() {
                    burn_deposits(ov, &mut p)?;
                } else {
                    refund_deposits(ov, &mut p)?;
                }
                p.tally = Some(tally);
                p.status = match outcome {
                    Outcome::Passed => {
                        let activation_height =
                            header.height.saturating_add(params.gov.timelock_blocks);
                        gov.queued.push(id);
                        ProposalStatus::Passed { activation_height }
                    }
                    Outcome::Rejected => ProposalStatus::Rejected,
                    Outcome::NoQuorum => ProposalStatus::NoQuorum,
                    Outcome::Vetoed => ProposalStatus::Vetoed,
                };
            }
            _ => {
                still_open.push(id);
                continue;
            }
        }
        ov.put(keys::proposal(id), &p);
    }
    gov.open = still_open;
    let mut waiting = Vec::with_capacity(gov.queued.len());
    // In id order, so two changes due at one height apply as they were proposed; on top of
    // whatever this block already wrote (a round that opened with a new architecture).
    let mut current: Params = ov.get(keys::PARAMS)?.unwrap_or_else(|| params.clone());
    let mut changed = false;
    for id in std::mem::take(&mut gov.queued) {
        let mut p = load(ov, id)?;
        let ProposalStatus::Passed { activation_height } = p.status else {
            return Err(corrupt(&keys::proposal(id), "queued but not passed"));
        };
        if header.height < activation_height {
            waiting.push(id);
            continue;
        }
        p.status = match &p.action {
            ProposalAction::SetParams(changes) => match super::changes::apply(&current, changes) {
                Ok(next) => {
                    current = next;
                    changed = true;
                    ProposalStatus::Applied {
                        height: header.height,
                    }
                }
                Err(e) => ProposalStatus::Failed {
                    height: header.height,
                    reason: e.to_string(),
                },
            },
            ProposalAction::Architecture(change) => {
                let (mut ids, model) = gov
                    .next_architecture
                    .take()
                    .unwrap_or_else(|| (Vec::new(), current.model.clone()));
                match super::architecture::apply(&current, &model, change) {
                    Ok(mut next) => {
                        // Changes that meet at one round boundary make one new version.
                        if !ids.is_empty() {
                            next.version = model.version;
                        }
                        ids.push(id);
                        gov.next_architecture = Some((ids, next));
                        ProposalStatus::NextRound {
                            height: header.height,
                        }
                    }
                    Err(e) => {
                        gov.next_architecture = (!ids.is_empty()).then_some((ids, model));
                        ProposalStatus::Failed {
                            height: header.height,
                            reason: e.to_string(),
                        }
                    }
                }
            }
        };
        ov.put(keys::proposal(id), &p);
    }
    gov.queued = waiting;
    if changed {
        ov.put(keys::PARAMS.to_vec(), &current);
    }
    if gov != before {
        ov.put(keys::GOV.to_vec(), &gov);
    }
    Ok(())
}

/// At a round boundary (the round `round` opens at `height`): the architecture NeuroDAO
/// scheduled, if any, becomes `params.model` from this round on.
pub(crate) fn open_round<S: Storage>(
    ov: &mut Overlay<'_, S>,
    params: &Params,
    round: u64,
    height: u64,
) -> Result<(), StorageError> {
    let Some(mut gov) = ov.get::<GovState>(keys::GOV)? else {
        return Ok(());
    };
    let Some((ids, model)) = gov.next_architecture.take() else {
        return Ok(());
    };
    let mut current: Params = ov.get(keys::PARAMS)?.unwrap_or_else(|| params.clone());
    current.model = model.clone();
    ov.put(keys::PARAMS.to_vec(), &current);
    let mut history: super::ArchitectureHistory = ov.get(keys::ARCHITECTURES)?.unwrap_or_default();
    history.0.push((round, model));
    ov.put(keys::ARCHITECTURES.to_vec(), &history);
    for id in ids {
        let mut p = load(ov, id)?;
        p.status = ProposalStatus::Applied { height };
        ov.put(keys::proposal(id), &p);
    }
    ov.put(keys::GOV.to_vec(), &gov);
    Ok(())
}

/// The tally of proposal `id` now: every voter in the validator index with its power now.
pub(crate) fn count<S: Storage>(ov: &Overlay<'_, S>, id: u64) -> Result<Tally, StorageError> {
    let index: ValidatorIndex = ov.get(keys::VALIDATOR_INDEX)?.unwrap_or_default();
    let mut tally = Tally::default();
    for address in &index.0 {
        let Some(record) = ov.get::<ValidatorRecord>(&keys::validator(address))? else {
            continue;
        };
        let stake = ov
            .get::<Account>(&keys::account(address))?
            .unwrap_or_default()
            .stake;
        let power = voting_power(&record, stake);
        tally.total_power = tally.total_power.saturating_add(power);
        if let Some(option) = ov.get::<VoteOption>(&keys::vote(id, address))? {
            tally.add(option, power);
        }
    }
    Ok(tally)
}

fn take_from_escrow<S: Storage>(
    ov: &mut Overlay<'_, S>,
    amount: Amount,
) -> Result<(), StorageError> {
    let key = keys::account(&ESCROW);
    let mut escrow: Account = ov.get(&key)?.unwrap_or_default();
    escrow.balance = escrow
        .balance
        .checked_sub(amount)
        .ok_or_else(|| corrupt(&key, "escrow holds less than the deposits it owes"))?;
    ov.put(key, &escrow);
    Ok(())
}

fn refund_deposits<S: Storage>(
    ov: &mut Overlay<'_, S>,
    p: &mut Proposal,
) -> Result<(), StorageError> {
    take_from_escrow(ov, p.total_deposit)?;
    for (who, amount) in &p.deposits {
        let key = keys::account(who);
        let mut account: Account = ov.get(&key)?.unwrap_or_default();
        account.balance = account.balance.saturating_add(*amount);
        ov.put(key, &account);
    }
    Ok(())
}

fn burn_deposits<S: Storage>(
    ov: &mut Overlay<'_, S>,
    p: &mut Proposal,
) -> Result<(), StorageError> {
    take_from_escrow(ov, p.total_deposit)?;
    let mut supply: Supply = ov.get(keys::SUPPLY)?.unwrap_or_default();
    supply.burned = supply.burned.saturating_add(p.total_deposit);
    ov.put(keys::SUPPLY.to_vec(), &supply);
    Ok(())
}
