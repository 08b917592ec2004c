//! # neuroshard-runtime
//!
//! NeuroShard's deterministic ledger: the state machine that every validator runs on every
//! decided block. It holds accounts, stakes, registered nodes and supply counters; it accepts
//! transfers, Proof-of-Neural-Work proofs, stakes, spends and fraud reports as borsh-encoded,
//! secp256k1-signed transactions; it mints NEURO only for accepted proofs, burns 5% of every spend
//! and fee, slashes proven misbehaviour, and jails validators that stop proposing ([`liveness`]).
//!
//! It is pure: no clock, no network, no disk. Block time and proposer come in with
//! [`BlockHeader`]; state lives behind the small [`Storage`] trait and is committed to by a
//! Jellyfish-Merkle state root. Every bad input gets a typed error and nothing panics.
//!
//! Reading order: [`tx`] (what users send) → [`ledger`] (block life cycle) → `execute` (fee,
//! nonce, per-transaction fork) → `handlers` (one file per transaction kind) → [`rewards`].

#![forbid(unsafe_code)]

pub mod amount;
pub mod beacon;
mod bond;
pub mod crypto;
mod ctx;
pub mod draw;
pub mod error;
pub mod evidence;
mod execute;
pub mod genesis;
pub mod gov;
mod handlers;
pub mod ledger;
pub mod liveness;
pub mod lottery;
pub mod maturity;
mod merkle;
mod overlay;
pub mod params;
pub mod proof;
pub mod receipt;
mod registrations;
pub mod rewards;
pub mod round;
pub mod state;
pub mod storage;
pub mod tx;

pub use amount::Amount;
pub use crypto::{Address, Hash32, PublicKey, SecretKey, Signature};
pub use ctx::BlockHeader;
pub use error::{
    BlockError, CryptoError, DecodeError, GenesisError, GovError, StorageError, TxError,
};
pub use genesis::Genesis;
pub use ledger::{Ledger, ValidatorInfo, ValidatorUpdate};
pub use merkle::StateRoot;
pub use params::Params;
pub use receipt::{Event, Receipt};
pub use storage::{MemoryStorage, Storage, WriteBatch};
pub use tx::{SignedTransaction, Transaction, TxBody, VerifiedTx};
