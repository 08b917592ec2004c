//! `SubmitProposal`, `Deposit` and `Vote`: NeuroDAO's transactions (see [`crate::gov`]).
//! Submitting and depositing are checked here, in full, before anything is written; the tally
//! and the change itself happen at the end of a block (`gov::block`).

use crate::amount::Amount;
use crate::crypto::Address;
use crate::ctx::Ctx;
use crate::error::{GovError, TxError};
use crate::gov::{
    self, GovState, Proposal, ProposalAction, ProposalStatus, VoteOption, ESCROW, MAX_DEPOSITORS,
    MAX_OPEN_PROPOSALS, MAX_TITLE_BYTES,
};
use crate::receipt::Event;
use crate::state::keys;
use crate::storage::Storage;

/// The smallest deposit a proposal may be submitted with: a quarter of `min_deposit`.
pub(crate) fn min_initial_deposit(min_deposit: Amount) -> Amount {
    Amount(min_deposit.0.div_ceil(4))
}

/// Checks a submission against the state without writing anything.
fn check_submit<S: Storage>(
    ctx: &Ctx<'_, '_, S>,
    gov: &GovState,
    title: &str,
    action: &ProposalAction,
    deposit: Amount,
) -> Result<(), TxError> {
    if title.len() > MAX_TITLE_BYTES {
        return Err(GovError::TitleTooLong {
            max: MAX_TITLE_BYTES,
        }
        .into());
    }
    match action {
        ProposalAction::SetParams(changes) => {
            gov::changes::apply(ctx.params(), changes)?;
        }
        ProposalAction::Architecture(change) => {
            let model = match &gov.next_architecture {
                Some((_, next)) => next,
                None => &ctx.params().model,
            };
            gov::architecture::apply(ctx.params(), model, change)?;
        }
    }
    let min = min_initial_deposit(ctx.params().gov.min_deposit);
    if deposit < min {
        return Err(GovError::DepositTooSmall { min, got: deposit }.into());
    }
    Ok(())
}

/// Makes room for a proposal with deposit `deposit` when every slot is taken: the
/// deposit-period proposal with the smallest deposit, if smaller, is displaced and its deposits
/// returned.
fn make_room<S: Storage>(
    ctx: &mut Ctx<'_, '_, S>,
    gov: &mut GovState,
    deposit: Amount,
) -> Result<(), TxError> {
    if gov.open.len() < MAX_OPEN_PROPOSALS {
        return Ok(());
    }
    let mut smallest: Option<Proposal> = None;
    for id in &gov.open {
        let p = gov::block::load(ctx.ov, *id)?;
        let smaller = smallest
            .as_ref()
            .is_none_or(|s| p.total_deposit < s.total_deposit);
        if p.status == ProposalStatus::DepositPeriod && smaller {
            smallest = Some(p);
        }
    }
    let Some(mut out) = smallest.filter(|p| p.total_deposit < deposit) else {
        return Err(GovError::TooManyOpenProposals {
            max: MAX_OPEN_PROPOSALS,
        }
        .into());
    };
    ctx.debit(&ESCROW, out.total_deposit)?;
    for (who, amount) in &out.deposits {
        ctx.credit(who, *amount)?;
    }
    out.status = ProposalStatus::Displaced;
    gov.open.retain(|id| *id != out.id);
    ctx.ov.put(keys::proposal(out.id), &out);
    Ok(())
}

pub(super) fn submit<S: Storage>(
    ctx: &mut Ctx<'_, '_, S>,
    proposer: Address,
    title: &str,
    action: &ProposalAction,
    deposit: Amount,
) -> Result<(), TxError> {
    let mut gov: GovState = ctx.ov.get(keys::GOV)?.unwrap_or_default();
    check_submit(ctx, &gov, title, action, deposit)?;
    make_room(ctx, &mut gov, deposit)?;
    let id = gov.next_id;
    gov.next_id = id.checked_add(1).ok_or(TxError::Overflow)?;
    gov.open.push(id);
    let now = ctx.now_ms();
    let mut proposal = Proposal {
        id,
        proposer,
        title: title.to_owned(),
        action: action.clone(),
        submitted_height: ctx.env.header.height,
        submitted_ms: now,
        deposit_end_ms: now.saturating_add(ctx.params().gov.max_deposit_period_ms),
        voting_start_ms: None,
        voting_end_ms: None,
        deposits: Vec::new(),
        total_deposit: Amount::ZERO,
        voters: 0,
        tally: None,
        status: ProposalStatus::DepositPeriod,
    };
    ctx.ov.put(keys::GOV.to_vec(), &gov);
    ctx.events.push(Event::ProposalSubmitted { id, proposer });
    add_deposit(ctx, &mut proposal, proposer, deposit)
}

pub(super) fn deposit<S: Storage>(
    ctx: &mut Ctx<'_, '_, S>,
    depositor: Address,
    id: u64,
    amount: Amount,
) -> Result<(), TxError> {
    let mut proposal = open_proposal(ctx, id)?;
    if proposal.status != ProposalStatus::DepositPeriod {
        return Err(GovError::NotInDepositPeriod(id).into());
    }
    add_deposit(ctx, &mut proposal, depositor, amount)
}

fn open_proposal<S: Storage>(ctx: &Ctx<'_, '_, S>, id: u64) -> Result<Proposal, TxError> {
    ctx.ov
        .get::<Proposal>(&keys::proposal(id))?
        .ok_or_else(|| GovError::UnknownProposal(id).into())
}

/// Moves `amount` from `who` into escrow for `proposal`, opening its vote once the deposit
/// reaches `min_deposit`.
fn add_deposit<S: Storage>(
    ctx: &mut Ctx<'_, '_, S>,
    proposal: &mut Proposal,
    who: Address,
    amount: Amount,
) -> Result<(), TxError> {
    if amount.is_zero() {
        return Err(TxError::ZeroAmount);
    }
    let depositors = proposal.deposits.len();
    match proposal.deposits.iter_mut().find(|(a, _)| *a == who) {
        Some((_, held)) => *held = held.checked_add(amount).ok_or(TxError::Overflow)?,
        None if depositors >= MAX_DEPOSITORS => {
            return Err(GovError::TooManyDepositors {
                max: MAX_DEPOSITORS,
            }
            .into())
        }
        None => proposal.deposits.push((who, amount)),
    }
    ctx.debit(&who, amount)?;
    ctx.credit(&ESCROW, amount)?;
    proposal.total_deposit = proposal
        .total_deposit
        .checked_add(amount)
        .ok_or(TxError::Overflow)?;
    let rules = &ctx.params().gov;
    if proposal.total_deposit >= rules.min_deposit {
        let now = ctx.now_ms();
        proposal.status = ProposalStatus::Voting;
        proposal.voting_start_ms = Some(now);
        proposal.voting_end_ms = Some(now.saturating_add(rules.voting_period_ms));
    }
    ctx.ov.put(keys::proposal(proposal.id), proposal);
    ctx.events.push(Event::Deposited {
        id: proposal.id,
        depositor: who,
        amount,
    });
    Ok(())
}

pub(super) fn vote<S: Storage>(
    ctx: &mut Ctx<'_, '_, S>,
    voter: Address,
    id: u64,
    option: VoteOption,
) -> Result<(), TxError> {
    let mut proposal = open_proposal(ctx, id)?;
    let open = proposal.status == ProposalStatus::Voting
        && proposal.voting_end_ms.is_some_and(|end| ctx.now_ms() < end);
    if !open {
        return Err(GovError::NotVoting(id).into());
    }
    let power = match ctx.validator(&voter)? {
        Some(record) => {
            let stake = ctx.account(&voter)?.stake;
            gov::voting_power(&record, stake)
        }
        None => Amount::ZERO,
    };
    let indexed = ctx
        .ov
        .get::<crate::state::ValidatorIndex>(keys::VALIDATOR_INDEX)?
        .unwrap_or_default()
        .0
        .binary_search(&voter)
        .is_ok();
    if power.is_zero() || !indexed {
        return Err(GovError::NoVotingPower(voter).into());
    }
    let key = keys::vote(id, &voter);
    if ctx.ov.get::<VoteOption>(&key)?.is_some() {
        return Err(GovError::AlreadyVoted { id, voter }.into());
    }
    ctx.ov.put(key, &option);
    proposal.voters = proposal.voters.saturating_add(1);
    ctx.ov.put(keys::proposal(id), &proposal);
    ctx.events.push(Event::Voted { id, voter, option });
    Ok(())
}

/// Whether `a` is the escrow (no transfer or spend may pay it: what it holds is owed).
pub(crate) fn is_escrow(a: &Address) -> bool {
    *a == ESCROW
}
