//! # neuroshard-chain
//!
//! The NeuroShard node's chain side: blocks ([`block`]), the RocksDB database that implements the
//! runtime's storage and keeps blocks and indexes beside the state ([`store`]), the replicated state
//! that proposes and applies blocks atomically ([`executor`]), and the mempool ([`mempool`]).
//!
//! Consensus (Malachite), networking (libp2p), block sync and the node's RPC build on these; they
//! are not here yet.

pub mod block;
pub mod error;
pub mod executor;
pub mod mempool;
pub mod store;

pub use block::{Block, Header};
pub use error::ChainError;
pub use executor::{Applied, ChainState};
pub use mempool::{Mempool, MempoolLimits};
pub use store::RocksStore;
