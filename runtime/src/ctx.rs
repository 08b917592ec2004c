//! The execution context a transaction handler works in: the block's environment and typed
//! access to state, with the bookkeeping (supply counters, touched validators) kept in one place.

use std::collections::BTreeSet;

use crate::amount::Amount;
use crate::beacon::BeaconSig;
use crate::crypto::{Address, Hash32};
use crate::error::{StorageError, TxError};
use crate::overlay::Overlay;
use crate::params::Params;
use crate::receipt::Event;
use crate::state::{
    keys, Account, NodeRecord, ProofRecord, RewardCurve, Supply, TrainingState, ValidatorIndex,
    ValidatorRecord,
};
use crate::storage::Storage;

/// The block a transaction executes in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockHeader {
    pub height: u64,
    /// Block time, Unix milliseconds, from consensus (never from a transaction).
    pub time_ms: u64,
    pub proposer: Address,
    /// The proposer's beacon signature for this height ([`crate::beacon`]), the draw's
    /// randomness. Blocks without a valid one from the height's first proposer spoil their draw
    /// window ([`crate::draw`]).
    pub beacon: Option<BeaconSig>,
}

/// What every handler may read about its block and chain.
pub(crate) struct Env<'e> {
    pub chain_id: &'e str,
    pub params: &'e Params,
    pub header: BlockHeader,
    /// State root of the last committed block (the app hash this block's header commits to):
    /// the randomness nobody could know before that block was decided.
    pub prev_root: Hash32,
}

/// What the block in progress has done so far beyond its state changes.
#[derive(Debug, Default)]
pub(crate) struct BlockScratch {
    /// Accounts whose stake or validator record changed in this block.
    pub touched: BTreeSet<Address>,
    /// Nodes registered in this block (free transactions: capped per block).
    pub registrations: u32,
}

pub(crate) struct Ctx<'c, 'a, S: Storage> {
    pub ov: &'c mut Overlay<'a, S>,
    pub env: &'c Env<'c>,
    pub block: &'c mut BlockScratch,
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

    /// Whether `a` has an account record (a wallet that never received, staked or sent anything
    /// but free registrations has none).
    pub fn account_exists(&self, a: &Address) -> Result<bool, StorageError> {
        Ok(self.ov.get::<Account>(&keys::account(a))?.is_some())
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

    pub fn reward_curve(&self) -> Result<RewardCurve, StorageError> {
        Ok(self.ov.get(keys::REWARD_CURVE)?.unwrap_or_default())
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

    pub fn training(&self) -> Result<TrainingState, StorageError> {
        Ok(self.ov.get(keys::TRAINING)?.unwrap_or_default())
    }

    pub fn put_training(&mut self, t: &TrainingState) {
        self.ov.put(keys::TRAINING.to_vec(), t);
    }

    pub fn proof(&self, id: &Hash32) -> Result<Option<ProofRecord>, StorageError> {
        self.ov.get(&keys::proof(id))
    }

    pub fn put_proof(&mut self, id: &Hash32, record: &ProofRecord) {
        self.ov.put(keys::proof(id), record);
    }

    /// Voting power of validator `a` if it is active (not jailed, power > 0).
    pub fn active_power(&self, a: &Address) -> Result<Option<u64>, StorageError> {
        Ok(self
            .validator(a)?
            .filter(|v| !v.jailed && v.power > 0)
            .map(|v| v.power))
    }

    /// Sum of the power of every active validator.
    pub fn total_power(&self) -> Result<u64, StorageError> {
        let index: ValidatorIndex = self.ov.get(keys::VALIDATOR_INDEX)?.unwrap_or_default();
        let mut total = 0u64;
        for a in &index.0 {
            total = total.saturating_add(self.active_power(a)?.unwrap_or(0));
        }
        Ok(total)
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
