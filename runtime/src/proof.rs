//! Proof of Neural Work: what a node claims in one proof.
//!
//! A proof travels as the body of a [`crate::tx::Transaction`] signed by the **node key**, so the
//! transaction's chain id, nonce and signature are the proof's; every field below is covered by
//! that signature. The node must first be registered to a wallet (`RegisterNode`); rewards go to
//! that wallet.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::crypto::{domain_hash, Address, Hash32};

/// The part a node plays for the batches it claims.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize,
)]
#[borsh(use_discriminant = false)]
pub enum Role {
    /// Holds the embedding and first layers; feeds batches into the pipeline.
    Driver,
    /// Holds middle layers.
    Worker,
    /// A staked (or genesis) validator; also checks other nodes' proofs.
    Validator,
}

/// Work done since the node's previous proof.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    BorshSerialize,
    BorshDeserialize,
)]
pub struct WorkMetrics {
    /// Training batches processed through this node's layers.
    pub batches: u64,
    /// Inference tokens generated for paying requests.
    pub tokens: u64,
    /// Samples of this proof's own batches that [`Proof::data_server`] served: at most
    /// `batches × batch_size`. Their data reward (FAQ: 0.00001 NEURO per sample served) goes to
    /// the server's wallet when, and as far as, the proof itself is paid, so it is bounded by
    /// checked training (see `crate::rewards`).
    pub samples: u64,
    /// Seconds online since the node's previous proof, shown by a liveness answer: only in a
    /// proof without batches, whose `pseudo_gradient` is the answer (see [`liveness_batches`]).
    pub uptime_secs: u64,
}

impl WorkMetrics {
    pub fn is_empty(&self) -> bool {
        self.batches == 0 && self.tokens == 0 && self.samples == 0 && self.uptime_secs == 0
    }
}

/// One Proof of Neural Work.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct Proof {
    pub role: Role,
    /// First layer held (inclusive).
    pub layer_start: u32,
    /// Last layer held (exclusive).
    pub layer_end: u32,
    /// The training round the work belongs to (must be the current one).
    pub round: u64,
    /// Hash of the weights the work started from: the round's model version.
    pub model_version: Hash32,
    /// The node's data assignment seed, as the chain recorded it (see
    /// [`crate::state::NodeRecord::data_seed`]): batch `i` of this proof is a function of this seed
    /// and `i`, so no node picks its own batches.
    pub data_seed: Hash32,
    /// Content hash of the data shard the batches came from.
    pub data_shard: Hash32,
    /// BLAKE3 of the pseudo-gradient blob (`start weights − end weights` after one inner step per
    /// claimed batch, in batch order, quantised to int8): the blob peers fetch to aggregate it,
    /// and what a validator's re-execution must reproduce byte for byte.
    pub pseudo_gradient: Hash32,
    /// BLAKE3 of the inner-optimizer state blob the segment started from (weights, AdamW
    /// moments, step count), or [`NO_STATE`]: the round's model with fresh moments. A non-zero
    /// start must be the `end_state` of the same node's previous proof in the same round, so a
    /// node's segments of a round form one chain (one DiLoCo inner trajectory) nobody can fork.
    pub start_state: Hash32,
    /// BLAKE3 of the inner-state blob after the segment: what a replay must reproduce besides
    /// the pseudo-gradient, and what the node's next segment may start from ([`NO_STATE`]: it
    /// offers none).
    pub end_state: Hash32,
    /// Batch ids claimed are `first_batch .. first_batch + metrics.batches`, per node; a batch id is
    /// paid at most once.
    pub first_batch: u64,
    pub metrics: WorkMetrics,
    /// The registered node that served the corpus shards this proof's batches came from (the
    /// node itself when it held the corpus): paid the data reward for `metrics.samples`.
    /// `None`: no samples are claimed.
    pub data_server: Option<Address>,
    /// When the node built the proof (Unix ms). Rate limits use block time, never this.
    pub timestamp_ms: u64,
}

impl Proof {
    /// The claimed batch ids as a half-open range, or `None` if no batch is claimed or it overflows.
    pub fn batch_range(&self) -> Option<std::ops::Range<u64>> {
        if self.metrics.batches == 0 {
            return None;
        }
        let end = self.first_batch.checked_add(self.metrics.batches)?;
        Some(self.first_batch..end)
    }

    /// Number of layers this proof's work covered.
    pub fn layers_held(&self) -> u32 {
        self.layer_end.saturating_sub(self.layer_start)
    }
}

/// The start state of a segment that starts a chain: the round's model with fresh moments.
pub const NO_STATE: Hash32 = [0; 32];

/// Forward batches a liveness answer for `uptime_secs` of uptime covers: one per started
/// minute. An uptime proof's `pseudo_gradient` is its **liveness answer**: the hash of the
/// round model's losses on that many batches drawn from the node's data seed (which nobody knew
/// before its previous proof was accepted), replayed by validators on a sample like a training
/// segment. A forward batch costs about a third of a training batch, so with genesis requiring
/// `3 × reward_per_uptime_minute ≤ reward_per_batch`, a machine earns no more per unit of
/// compute answering for any number of identities than training with that compute.
pub fn liveness_batches(uptime_secs: u64) -> u64 {
    uptime_secs.div_ceil(60)
}

/// The data seed a node gets after a proof (or its registration) is accepted in a block whose
/// predecessor's state root is `prev_root`.
pub fn next_data_seed(prev_root: &Hash32, node: &Address) -> Hash32 {
    domain_hash(
        b"neuroshard-data-seed-v1",
        &[prev_root.as_slice(), &node.0].concat(),
    )
}
