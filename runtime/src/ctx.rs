//! The execution context a transaction handler works in: the block's environment and typed
//! access to state, with the bookkeeping (supply counters, touched validators) kept in one place.

use std::collections::BTreeSet;

use crate::amount::Amount;
use crate::crypto::Address;
use crate::error::{StorageError, TxError};
use crate::overlay::Overlay;
use crate::params::Params;
use crate::receipt::Event;
use crate::state::{keys, Account, NodeRecord, Supply, ValidatorRecord};
use crate::storage::Storage;

/// The block a transaction executes in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockHeader {
    pub height: u64,
    /// Block time, Unix milliseconds, from consensus (never from a transaction).
    pub time_ms: u64,
    pub proposer: Address,
}

/// What every handler may read about its block and chain.
pub(crate) struct Env<'e> {
    pub chain_id: &'e str,
    pub params: &'e Params,
    pub header: BlockHeader,
}

pub(crate) struct Ctx<'c, 'a, S: Storage> {
    pub ov: &'c mut Overlay<'a, S>,
    pub env: &'c Env<'c>,
    /// Accounts whose stake or validator record changed in this block.
    pub touched: &'c mut BTreeSet<Address>,
    pub events: Vec<Event>,
}

impl<S: Storage> Ctx<'_, '_, S> {
    pub fn params(&self) -> &Params {
        self.env.params
    }

    pub fn now_ms(&self) -> u64 {
        self.env.header.time_ms
    }

    pub fn account(&self, a: &Address) -> Result<Account, StorageError> {
        Ok(self.ov.get(&keys::account(a))?.unwrap_or_default())
    }

    pub fn put_account(&mut self, a: &Address, account: &Account) {
        self.ov.put(keys::account(a), account);
    }

    pub fn supply(&self) -> Result<Supply, StorageError> {
        Ok(self.ov.get(keys::SUPPLY)?.unwrap_or_default())
    }

    pub fn put_supply(&mut self, supply: &Supply) {
        self.ov.put(keys::SUPPLY.to_vec(), supply);
    }

    pub fn node(&self, a: &Address) -> Result<Option<NodeRecord>, StorageError> {
        self.ov.get(&keys::node(a))
    }

    pub fn put_node(&mut self, a: &Address, node: &NodeRecord) {
        self.ov.put(keys::node(a), node);
    }

    pub fn validator(&self, a: &Address) -> Result<Option<ValidatorRecord>, StorageError> {
        self.ov.get(&keys::validator(a))
    }

    pub fn credit(&mut self, a: &Address, amount: Amount) -> Result<(), TxError> {
        let mut acct = self.account(a)?;
        acct.balance = acct.balance.checked_add(amount).ok_or(TxError::Overflow)?;
        self.put_account(a, &acct);
        Ok(())
    }

    pub fn debit(&mut self, a: &Address, amount: Amount) -> Result<(), TxError> {
        let mut acct = self.account(a)?;
        acct.balance = acct
            .balance
            .checked_sub(amount)
            .ok_or(TxError::InsufficientFunds {
                needed: amount,
                available: acct.balance,
            })?;
        self.put_account(a, &acct);
        Ok(())
    }

    /// Creates `amount` new NEURO in `to`'s balance.
    pub fn mint(&mut self, to: &Address, amount: Amount) -> Result<(), TxError> {
        let mut supply = self.supply()?;
        supply.minted = supply.minted.checked_add(amount).ok_or(TxError::Overflow)?;
        self.credit(to, amount)?;
        self.put_supply(&supply);
        Ok(())
    }

    /// Splits `amount` (already taken from someone) into the burned share, which is destroyed,
    /// and the rest, which is returned for the caller to pay out.
    pub fn burn_share(&mut self, amount: Amount) -> Result<(Amount, Amount), TxError> {
        let burned = amount.bps(self.params().burn_bps);
        let rest = amount.checked_sub(burned).ok_or(TxError::Overflow)?;
        let mut supply = self.supply()?;
        supply.burned = supply.burned.checked_add(burned).ok_or(TxError::Overflow)?;
        self.put_supply(&supply);
        Ok((burned, rest))
    }

    /// Records `amount` (already taken from an offender) as destroyed by slashing.
    pub fn record_slashed(&mut self, amount: Amount) -> Result<(), TxError> {
        let mut supply = self.supply()?;
        supply.slashed = supply
            .slashed
            .checked_add(amount)
            .ok_or(TxError::Overflow)?;
        self.put_supply(&supply);
        Ok(())
    }
}
