//! The node-side training client: everything a running NeuroShard node does beside the chain.
//!
//! [`lifecycle::run`] is the one life cycle every command that runs a node goes through (the
//! bare `neuroshard`, `neuroshard node`, `neuroshard dev`): start the chain node in a claimed
//! home, serve its JSON-RPC (with paid inference where it sells it), start the services its
//! roles ask for, and stop them all on SIGINT or SIGTERM. The services, each on its own thread
//! with chain access through [`neuroshard_chain::node::NodeApi`]:
//!
//! * [`worker`]: trains the open round's model and proves each segment on chain, publishing the
//!   pseudo-gradient blob its proof commits to;
//! * [`verifier`]: a validator's round service: re-executes drawn proofs, fetches the others'
//!   pseudo-gradients, and attests each round's result;
//! * [`models`]: round models, outer momentum and pseudo-gradients on disk and on the blob plane;
//! * [`corpus`]: the pinned training corpus served to peers, and fetched from them by a node
//!   that has none;
//! * [`inference`]: `neuro_infer`, generation paid on chain.
//!
//! [`spec`] maps genesis parameters to the compute crate's configs (the one place the ledger
//! and the services agree on them). libtorch stays behind `neuroshard_compute`: this crate
//! moves hashes, configs and transactions. Without the `training` feature only the life cycle
//! and [`progress`] are built, and a node trains and verifies nothing.

pub mod lifecycle;
pub mod progress;

#[cfg(feature = "training")]
pub mod corpus;
#[cfg(feature = "training")]
pub mod inference;
#[cfg(feature = "training")]
pub mod liveness;
#[cfg(feature = "training")]
pub mod models;
#[cfg(feature = "training")]
pub mod spec;
#[cfg(feature = "training")]
pub mod verifier;
#[cfg(feature = "training")]
pub mod worker;
