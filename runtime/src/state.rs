//! What the chain's state holds, and under which keys.
//!
//! Every record is borsh-encoded under a key in the `s/` namespace; all of them are leaves of the
//! state's Merkle tree, so the state root commits to every account, node, validator and counter.

use borsh::{BorshDeserialize, BorshSerialize};

use crate::amount::Amount;
use crate::crypto::{Address, Hash32, PublicKey};

/// State keys.
pub mod keys {
    use super::*;

    pub const ACCOUNT_PREFIX: &[u8] = b"s/acct/";
    pub const NODE_PREFIX: &[u8] = b"s/node/";
    pub const VALIDATOR_PREFIX: &[u8] = b"s/val/";
    pub const EVIDENCE_PREFIX: &[u8] = b"s/evid/";
    pub const VALIDATOR_INDEX: &[u8] = b"s/validators";
    pub const SUPPLY: &[u8] = b"s/supply";
    pub const CHAIN: &[u8] = b"s/chain";
    pub const PARAMS: &[u8] = b"s/params";

    fn join(prefix: &[u8], id: &[u8]) -> Vec<u8> {
        [prefix, id].concat()
    }
    pub fn account(a: &Address) -> Vec<u8> {
        join(ACCOUNT_PREFIX, &a.0)
    }
    pub fn node(a: &Address) -> Vec<u8> {
        join(NODE_PREFIX, &a.0)
    }
    pub fn validator(a: &Address) -> Vec<u8> {
        join(VALIDATOR_PREFIX, &a.0)
    }
    pub fn evidence(id: &Hash32) -> Vec<u8> {
        join(EVIDENCE_PREFIX, id)
    }
}

/// A pending unbonding: stake that stops counting and can be withdrawn at `matures_at_ms`.
#[derive(Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Unbonding {
    pub amount: Amount,
    pub matures_at_ms: u64,
}

/// A wallet (or node) account.
#[derive(Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Account {
    pub balance: Amount,
    /// The nonce its next transaction must carry.
    pub nonce: u64,
    /// Bonded stake.
    pub stake: Amount,
    pub unbonding: Vec<Unbonding>,
    /// Diminishing returns: the reward window the counter below belongs to.
    pub reward_window: u64,
    /// Diminishing returns: gross reward claimed in that window.
    pub reward_in_window: Amount,
}

impl Account {
    pub fn unbonding_total(&self) -> Amount {
        Amount(
            self.unbonding
                .iter()
                .fold(0u128, |sum, u| sum.saturating_add(u.amount.0)),
        )
    }

    /// Everything the account holds: balance, stake and unbonding stake.
    pub fn holdings(&self) -> Amount {
        Amount(
            self.balance
                .0
                .saturating_add(self.stake.0)
                .saturating_add(self.unbonding_total().0),
        )
    }
}

/// A node key registered to a wallet, and its proof history.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct NodeRecord {
    pub wallet: Address,
    pub public_key: PublicKey,
    pub registered_at_ms: u64,
    /// Block time of its last accepted proof (registration time before the first).
    pub last_proof_ms: u64,
    /// Lowest batch id it may still claim.
    pub next_batch: u64,
    pub proofs: u64,
    /// Total minted for its proofs.
    pub earned: Amount,
}

/// A member (or former member) of the validator set.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct ValidatorRecord {
    pub public_key: PublicKey,
    /// Voting power now in force.
    pub power: u64,
    /// Power granted by genesis (bootstrap validators hold no stake).
    pub genesis_power: u64,
    pub jailed: bool,
}

/// The addresses of every validator record, sorted (the store has no iteration).
#[derive(Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct ValidatorIndex(pub Vec<Address>);

/// Supply counters. What accounts hold always equals `minted - burned - slashed`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Supply {
    /// Ever minted by accepted proofs.
    pub minted: Amount,
    /// Destroyed by the 5% burn on spends and fees.
    pub burned: Amount,
    /// Destroyed by slashing (the reporter's share is moved, not destroyed).
    pub slashed: Amount,
}

impl Supply {
    /// Minted minus everything destroyed. The FAQ's `minted - burned`, where "burned" covers
    /// every destruction; the two causes are counted apart here.
    pub fn circulating(&self) -> Amount {
        self.minted
            .saturating_sub(self.burned)
            .saturating_sub(self.slashed)
    }
}

/// Chain identity and the last block applied.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct ChainInfo {
    pub chain_id: String,
    pub genesis_time_ms: u64,
    pub height: u64,
    pub time_ms: u64,
    pub proposer: Address,
}
