//! What applying a transaction did: its result and the events the explorer indexes.

use borsh::{BorshDeserialize, BorshSerialize};

use crate::amount::Amount;
use crate::crypto::{Address, Hash32};
use crate::error::TxError;
use crate::tx::SpendPurpose;

/// One effect of a transaction on balances, stakes or the registry.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
#[borsh(use_discriminant = false)]
pub enum Event {
    FeePaid {
        payer: Address,
        proposer: Address,
        to_proposer: Amount,
        burned: Amount,
    },
    Transfer {
        from: Address,
        to: Address,
        amount: Amount,
    },
    Spent {
        from: Address,
        to: Address,
        amount: Amount,
        burned: Amount,
        purpose: SpendPurpose,
    },
    NodeRegistered {
        node: Address,
        wallet: Address,
    },
    /// A proof was accepted and `amount` minted to `wallet` (`gross` before diminishing returns).
    Minted {
        wallet: Address,
        node: Address,
        gross: Amount,
        amount: Amount,
        first_batch: u64,
        batches: u64,
    },
    Staked {
        account: Address,
        amount: Amount,
    },
    UnbondingStarted {
        account: Address,
        amount: Amount,
        matures_at_ms: u64,
    },
    Withdrawn {
        account: Address,
        amount: Amount,
    },
    /// `taken` left the offender: `to_reporter` went to the reporter, `destroyed` is gone.
    Slashed {
        offender: Address,
        reporter: Address,
        taken: Amount,
        to_reporter: Amount,
        destroyed: Amount,
        offence: Hash32,
    },
    ValidatorJailed {
        validator: Address,
    },
}

impl Event {
    /// Every account this event touches (for per-account history).
    pub fn accounts(&self) -> Vec<Address> {
        match self {
            Event::FeePaid {
                payer, proposer, ..
            } => vec![*payer, *proposer],
            Event::Transfer { from, to, .. } | Event::Spent { from, to, .. } => vec![*from, *to],
            Event::NodeRegistered { node, wallet } | Event::Minted { wallet, node, .. } => {
                vec![*wallet, *node]
            }
            Event::Staked { account, .. }
            | Event::UnbondingStarted { account, .. }
            | Event::Withdrawn { account, .. } => vec![*account],
            Event::Slashed {
                offender, reporter, ..
            } => vec![*offender, *reporter],
            Event::ValidatorJailed { validator } => vec![*validator],
        }
    }
}

/// The outcome of a transaction included in a block.
///
/// A transaction that passed authentication (signature, chain id, nonce, fee) always pays its fee
/// and uses its nonce; `result` says whether its body took effect. A failed body changes nothing
/// else.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    pub tx_hash: Hash32,
    pub sender: Address,
    pub fee: Amount,
    pub result: Result<(), TxError>,
    pub events: Vec<Event>,
}
