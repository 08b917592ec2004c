//! Proof of Neural Work on a running node: the worker that trains and proves, the validator
//! service that re-executes sampled proofs and attests rounds, and the round models they share.
//! tch stays behind `neuroshard_compute`; this module moves hashes, configs and transactions.

pub mod inference;
pub mod models;
pub mod spec;
pub mod verifier;
pub mod worker;
