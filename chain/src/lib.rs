//! # neuroshard-chain
//!
//! The NeuroShard node's chain side:
//!
//! * [`block`]: blocks and their hashes; [`store`]: RocksDB holding blocks, state and indexes,
//!   written atomically per block; [`executor`]: the replicated state that proposes, checks and
//!   applies blocks; [`mempool`]: pending transactions.
//! * [`consensus`]: Malachite (Tendermint) context, signatures, codec, double-sign detection.
//! * [`blobs`]: content-addressed blobs (weights, momentum, pseudo-gradients) between peers.
//! * [`node`]: a running node: the consensus application loop, proposal streaming, libp2p
//!   transaction gossip, home directory and configuration, and the [`node::NodeApi`] the RPC
//!   server uses.

pub mod blobs;
pub mod block;
pub mod consensus;
pub mod error;
pub mod executor;
pub mod mempool;
pub mod node;
pub mod store;

pub use block::{Block, Header};
pub use error::ChainError;
pub use executor::{Applied, ChainState};
pub use mempool::{Mempool, MempoolLimits};
pub use store::RocksStore;
