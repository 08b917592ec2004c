//! `Stake`, `Unstake`, `WithdrawUnbonded`, and the voting power that stake buys.
//!
//! Reaching `min_validator_stake` (100 NEURO) makes an account a validator candidate; once it has
//! registered its beacon key (`SetBeaconKey`) it holds one unit of voting power per whole NEURO
//! staked. Unstaked NEURO waits `unbonding_period_ms` (and can still
//! be slashed) before it can be withdrawn. Power changes are collected in `end_block`.
//!
//! The validator index holds at most `max_validators` slots. A slot is freed when its holder
//! unstakes everything (with no genesis power), and a jailed holder (listed as jailed until then)
//! gives its slot to the next newcomer when the index is full. Records stay, so a jailed
//! validator stays jailed, but empty and jailed records cannot squat the set.

use crate::amount::{Amount, BASE_UNITS_PER_NEURO};
use crate::crypto::{Address, PublicKey};
use crate::ctx::Ctx;
use crate::error::TxError;
use crate::params::Params;
use crate::receipt::Event;
use crate::state::{keys, Unbonding, ValidatorIndex, ValidatorRecord};
use crate::storage::Storage;

/// Voting power for a validator record and its account's bonded stake.
pub(crate) fn voting_power(params: &Params, record: &ValidatorRecord, stake: Amount) -> u64 {
    // Without a beacon key a validator could never be checked for the draw's randomness
    // (`crate::draw`): it gets power once it registered one (`SetBeaconKey`).
    if record.jailed || record.down_until_ms.is_some() || record.beacon_key.is_none() {
        return 0;
    }
    let from_stake = if stake >= params.min_validator_stake {
        u64::try_from(stake.0 / BASE_UNITS_PER_NEURO).unwrap_or(u64::MAX)
    } else {
        0
    };
    record
        .genesis_power
        .saturating_add(from_stake)
        .min(params.max_validator_power)
}

pub(super) fn stake<S: Storage>(
    ctx: &mut Ctx<'_, '_, S>,
    staker: PublicKey,
    amount: Amount,
) -> Result<(), TxError> {
    let who = staker.address();
    ctx.debit(&who, amount)?;
    let mut account = ctx.account(&who)?;
    account.stake = account.stake.checked_add(amount).ok_or(TxError::Overflow)?;
    let min = ctx.params().min_validator_stake;
    if account.stake < min {
        return Err(TxError::StakeBelowMinimum {
            min,
            resulting: account.stake,
        });
    }
    match ctx.validator(&who)? {
        Some(record) if record.jailed => return Err(TxError::ValidatorJailed(who)),
        // Back after unstaking everything: it takes a slot again if one is free.
        Some(_) => index_validator(ctx, who)?,
        None => {
            index_validator(ctx, who)?;
            let record = ValidatorRecord {
                public_key: staker,
                power: 0,
                genesis_power: 0,
                jailed: false,
                beacon_key: None,
                liveness: Default::default(),
                down_until_ms: None,
            };
            ctx.ov.put(keys::validator(&who), &record);
        }
    }
    ctx.put_account(&who, &account);
    ctx.block.touched.insert(who);
    ctx.events.push(Event::Staked {
        account: who,
        amount,
    });
    Ok(())
}

/// `Unjail`: a validator jailed for downtime ([`crate::liveness`]) whose jail time has passed
/// gets its voting power back at the end of the block. Jailing for misbehaviour never ends.
pub(super) fn unjail<S: Storage>(ctx: &mut Ctx<'_, '_, S>, who: Address) -> Result<(), TxError> {
    let mut record = ctx.validator(&who)?.ok_or(TxError::UnknownValidator(who))?;
    if record.jailed {
        return Err(TxError::ValidatorJailed(who));
    }
    let Some(until_ms) = record.down_until_ms else {
        return Err(TxError::NotJailedForDowntime(who));
    };
    if ctx.now_ms() < until_ms {
        return Err(TxError::StillJailedForDowntime { until_ms });
    }
    record.down_until_ms = None;
    ctx.ov.put(keys::validator(&who), &record);
    ctx.block.touched.insert(who);
    ctx.events.push(Event::ValidatorUnjailed { validator: who });
    Ok(())
}

/// Gives `who` a slot in the validator index unless it holds one: a free one, else a jailed
/// validator's; `ValidatorSetFull` if neither.
fn index_validator<S: Storage>(ctx: &mut Ctx<'_, '_, S>, who: Address) -> Result<(), TxError> {
    let mut index: ValidatorIndex = ctx.ov.get(keys::VALIDATOR_INDEX)?.unwrap_or_default();
    if index.0.binary_search(&who).is_ok() {
        return Ok(());
    }
    let max = ctx.params().max_validators;
    if index.0.len() >= max as usize {
        let mut jailed = None;
        for (i, a) in index.0.iter().enumerate() {
            if ctx.validator(a)?.is_some_and(|r| r.jailed) {
                jailed = Some(i);
                break;
            }
        }
        let Some(i) = jailed else {
            return Err(TxError::ValidatorSetFull { max });
        };
        index.0.remove(i);
    }
    if let Err(pos) = index.0.binary_search(&who) {
        index.0.insert(pos, who);
    }
    ctx.ov.put(keys::VALIDATOR_INDEX.to_vec(), &index);
    Ok(())
}

/// Frees `who`'s slot in the validator index (its record stays, jailed or not).
fn unindex_validator<S: Storage>(ctx: &mut Ctx<'_, '_, S>, who: &Address) -> Result<(), TxError> {
    let mut index: ValidatorIndex = ctx.ov.get(keys::VALIDATOR_INDEX)?.unwrap_or_default();
    if let Ok(pos) = index.0.binary_search(who) {
        index.0.remove(pos);
        ctx.ov.put(keys::VALIDATOR_INDEX.to_vec(), &index);
    }
    Ok(())
}

pub(super) fn unstake<S: Storage>(
    ctx: &mut Ctx<'_, '_, S>,
    who: Address,
    amount: Amount,
) -> Result<(), TxError> {
    let params = ctx.params().clone();
    let mut account = ctx.account(&who)?;
    let remaining = account
        .stake
        .checked_sub(amount)
        .ok_or(TxError::InsufficientStake {
            staked: account.stake,
            requested: amount,
        })?;
    if !remaining.is_zero() && remaining < params.min_validator_stake {
        return Err(TxError::StakeBelowMinimum {
            min: params.min_validator_stake,
            resulting: remaining,
        });
    }
    if account.unbonding.len() >= params.max_unbonding_entries as usize {
        return Err(TxError::TooManyUnbondingEntries {
            max: params.max_unbonding_entries,
        });
    }
    let matures_at_ms = ctx.now_ms().saturating_add(params.unbonding_period_ms);
    // Nothing left at stake and no genesis power: the slot goes back to the pool.
    if remaining.is_zero() && ctx.validator(&who)?.is_some_and(|r| r.genesis_power == 0) {
        unindex_validator(ctx, &who)?;
    }
    account.stake = remaining;
    account.unbonding.push(Unbonding {
        amount,
        matures_at_ms,
    });
    ctx.put_account(&who, &account);
    ctx.block.touched.insert(who);
    ctx.events.push(Event::UnbondingStarted {
        account: who,
        amount,
        matures_at_ms,
    });
    Ok(())
}

pub(super) fn withdraw<S: Storage>(ctx: &mut Ctx<'_, '_, S>, who: Address) -> Result<(), TxError> {
    let now = ctx.now_ms();
    let mut account = ctx.account(&who)?;
    let (matured, pending): (Vec<_>, Vec<_>) = account
        .unbonding
        .drain(..)
        .partition(|u| u.matures_at_ms <= now);
    if matured.is_empty() {
        return Err(TxError::NothingToWithdraw);
    }
    let mut amount = Amount::ZERO;
    for u in &matured {
        amount = amount.checked_add(u.amount).ok_or(TxError::Overflow)?;
    }
    account.unbonding = pending;
    account.balance = account
        .balance
        .checked_add(amount)
        .ok_or(TxError::Overflow)?;
    ctx.put_account(&who, &account);
    ctx.events.push(Event::Withdrawn {
        account: who,
        amount,
    });
    Ok(())
}
