//! NeuroShard's side of Malachite: the context types, signatures with the runtime's keys, the
//! borsh codec for the network and write-ahead log, double-sign detection, and the signer's
//! own guard against double signing.

pub mod codec;
pub mod context;
pub mod sign_state;
pub mod signing;
pub mod watch;

pub use codec::WireCodec;
pub use context::{BlockHash, Height, NeuroContext, ValidatorAddress, ValidatorSet};
pub use sign_state::SignState;
pub use signing::Signer;
pub use watch::VoteWatcher;
