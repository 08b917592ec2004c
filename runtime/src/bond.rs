//! The reward bond: a wallet's collateral, made of its own recent earnings.
//!
//! Genesis mints nothing and workers stake nothing, so what a wallet has at stake for its claims
//! is what it earned lately. Every matured reward goes into [`Account::bond`] and is released to
//! the balance `bond_period_ms` later (a FIFO queue, like maturity). Meanwhile:
//! * each new claim reserves the part of the free bond that covers it (`rewards::cover`) until
//!   its draw, or its verdict if it is drawn;
//! * fraud proven against any of the wallet's nodes, before or after payment (inside the bond
//!   period), forfeits the whole bond: what a proven cheater was paid in that window comes back.
//!
//! A forfeiture bumps [`Account::bond_epoch`], so releases and reservations made before it lapse
//! instead of touching bond earned after it.

use crate::amount::Amount;
use crate::crypto::Address;
use crate::error::StorageError;
use crate::overlay::Overlay;
use crate::params::Params;
use crate::state::{keys, Account, BondRelease, ProofRecord, TrainingState};
use crate::storage::Storage;

/// Frees what `proof` reserved of its wallet's bond (once: its collateral is zeroed).
pub(crate) fn release_collateral(account: &mut Account, proof: &mut ProofRecord) {
    if account.bond_epoch == proof.bond_epoch {
        account.bond_reserved = account.bond_reserved.saturating_sub(proof.collateral);
    }
    proof.collateral = Amount::ZERO;
}

/// Takes the whole bond (reserved or not); returns what was taken.
pub(crate) fn forfeit(account: &mut Account) -> Amount {
    let all = account.bond;
    account.bond = Amount::ZERO;
    account.bond_reserved = Amount::ZERO;
    account.bond_epoch = account.bond_epoch.saturating_add(1);
    all
}

/// Bonds a matured reward of `wallet` and queues its release one bond period after `now_ms`.
pub(crate) fn bond_reward<S: Storage>(
    ov: &mut Overlay<'_, S>,
    params: &Params,
    training: &mut TrainingState,
    wallet: Address,
    account: &mut Account,
    amount: Amount,
    now_ms: u64,
) {
    if amount.is_zero() {
        return;
    }
    account.bond = account.bond.saturating_add(amount);
    let release = BondRelease {
        wallet,
        amount,
        epoch: account.bond_epoch,
        at_ms: now_ms.saturating_add(params.bond_period_ms),
    };
    ov.put(keys::bond_release(training.release_tail), &release);
    training.release_tail = training.release_tail.saturating_add(1);
}

/// Releases every bond entry due at `now_ms` to its wallet's balance. Bond that a claim in
/// flight still has reserved stays, and is released a challenge window later.
pub(crate) fn release_due<S: Storage>(
    ov: &mut Overlay<'_, S>,
    params: &Params,
    now_ms: u64,
) -> Result<(), StorageError> {
    let mut training: TrainingState = ov.get(keys::TRAINING)?.unwrap_or_default();
    let mut changed = false;
    while training.release_head < training.release_tail {
        let key = keys::bond_release(training.release_head);
        let entry: BondRelease = ov.get(&key)?.ok_or_else(|| StorageError::Corrupt {
            key: crate::overlay::show_key(&key),
            reason: "bond release entry is missing".into(),
        })?;
        if entry.at_ms > now_ms {
            break;
        }
        ov.delete(key);
        training.release_head += 1;
        changed = true;
        let account_key = keys::account(&entry.wallet);
        let mut account: Account = ov.get(&account_key)?.unwrap_or_default();
        if account.bond_epoch != entry.epoch {
            continue; // forfeited since
        }
        let part = entry.amount.min(account.free_bond());
        account.bond = account.bond.saturating_sub(part);
        account.balance = account.balance.saturating_add(part);
        ov.put(account_key, &account);
        let rest = entry.amount.saturating_sub(part);
        if !rest.is_zero() {
            let again = BondRelease {
                amount: rest,
                at_ms: now_ms.saturating_add(params.challenge_window_ms),
                ..entry
            };
            ov.put(keys::bond_release(training.release_tail), &again);
            training.release_tail = training.release_tail.saturating_add(1);
        }
    }
    if changed {
        ov.put(keys::TRAINING.to_vec(), &training);
    }
    Ok(())
}
