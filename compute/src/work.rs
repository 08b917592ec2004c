//! Work accounting: what a node did, in the terms a Proof of Neural Work claims. Plain data: the
//! chain side turns it into a signed proof.

use std::ops::Range;

use crate::data::BatchId;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WorkReport {
    /// Training batches processed (each through `layers`).
    pub batches: u64,
    /// Tokens predicted in those batches.
    pub tokens: u64,
    /// Every batch trained, so a validator can recompute any of them.
    pub batch_ids: Vec<BatchId>,
    /// Hash of the weights the work started from.
    pub model_version: [u8; 32],
    /// Hash of the pseudo-gradient produced (after a DiLoCo round).
    pub pseudo_gradient: Option<[u8; 32]>,
    pub layers: Range<i64>,
}

impl WorkReport {
    pub fn record(&mut self, id: BatchId, tokens: u64) {
        self.batches += 1;
        self.tokens += tokens;
        self.batch_ids.push(id);
    }
}
