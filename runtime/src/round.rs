//! The closing rule of a training round, in the one place that the ledger and the validators'
//! round service both read.
//!
//! A round accepts training proofs until its deadline (`opened_ms + round_length_ms` of block
//! time); from then on its list of training proofs is frozen. Every active validator then
//! computes the round's [`RoundResult`]: which of those proofs it aggregated (a bitmap in
//! acceptance order: canonical, nobody orders or picks), the robust aggregate of their
//! pseudo-gradients, the weights and the outer momentum after the Nesterov step, and the
//! held-out loss of those weights, with the blob hashes under which peers serve those weights
//! and that momentum. It signs the result into an `AttestRound` transaction. The
//! ledger adopts a result once more than two thirds of validator power attested the same one;
//! validators that attested another lose `false_verdict_penalty`.
//!
//! Which proofs go in: every one that is not voided and does not continue (through its
//! segment chain, `ProofRecord::previous_segment`) one that is left out. A validator takes a drawn proof's
//! pseudo-gradient from its own re-execution and every other proof's as the blob the proof
//! names by hash, fetched from peers; an undrawn proof whose blob does not come in time is
//! re-executed instead (a replay that does not reproduce the blob is reported as fraud, which
//! voids the proof), so every honest validator includes the same set and nobody picks a subset.
//!
//! What the ledger checks of a result on its own: the bitmap covers exactly the round's
//! training proofs, leaves out every voided one and every one whose chain predecessor it leaves
//! out, and keeps every other one that two thirds of power re-executed and verified. Everything else (the hashes, the loss) is agreed by the attesting
//! power, since every honest validator computes the same bits.

use borsh::{BorshDeserialize, BorshSerialize};

use crate::crypto::{domain_hash, Hash32};

/// A result's bitmap may cover this many training proofs (8 KiB: 65,536 proofs).
pub const MAX_INCLUDED_BYTES: usize = 8 * 1024;

/// The momentum a chain starts from: zero (no file needed).
pub const NO_MOMENTUM: Hash32 = [0; 32];

/// Batches of the held-out shard each result's loss is measured on.
pub const EVAL_BATCHES: u64 = 4;

/// The seed of the held-out batches (the same every round, so losses compare).
pub const EVAL_SEED: [u8; 32] = *b"neuroshard held-out evaluation\0\0";

const RESULT_DOMAIN: &[u8] = b"neuroshard-round-result-v1";

/// What a validator computed as the outcome of a round.
#[derive(Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct RoundResult {
    /// Bit `i` (byte `i / 8`, least significant bit first) says whether the round's `i`-th
    /// training proof was aggregated. Exactly `ceil(trained / 8)` bytes; unused bits are zero.
    pub included: Vec<u8>,
    /// Hash of the robust aggregate of the included pseudo-gradients.
    pub aggregate: Hash32,
    /// Hash of the weights after the outer step: the next round's model version.
    pub next_model: Hash32,
    /// Hash of the outer optimizer's momentum after the step.
    pub momentum: Hash32,
    /// BLAKE3 of `next_model`'s safetensors file: the blob peers serve it as. Files are written
    /// deterministically, so every honest validator names the same blob.
    pub model_blob: Hash32,
    /// BLAKE3 of `momentum`'s safetensors file ([`NO_MOMENTUM`] never has one).
    pub momentum_blob: Hash32,
    /// Held-out loss of `next_model`, in micro-nats per token.
    pub eval_loss_micro: u64,
}

impl RoundResult {
    /// What attestations are tallied by.
    pub fn hash(&self) -> Hash32 {
        domain_hash(RESULT_DOMAIN, &borsh::to_vec(self).unwrap_or_default())
    }

    /// Whether the `index`-th training proof is included.
    pub fn includes(&self, index: u64) -> bool {
        bit(&self.included, index)
    }

    /// How many proofs are included.
    pub fn included_count(&self) -> u64 {
        self.included
            .iter()
            .map(|b| u64::from(b.count_ones()))
            .sum()
    }
}

/// The bitmap of `flags` (in order).
pub fn bitmap(flags: impl IntoIterator<Item = bool>) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, f) in flags.into_iter().enumerate() {
        if i % 8 == 0 {
            out.push(0);
        }
        if f {
            if let Some(last) = out.last_mut() {
                *last |= 1 << (i % 8);
            }
        }
    }
    out
}

/// Bit `index` of `bits` (false past the end).
pub fn bit(bits: &[u8], index: u64) -> bool {
    usize::try_from(index / 8)
        .ok()
        .and_then(|i| bits.get(i))
        .is_some_and(|b| b & (1 << (index % 8)) != 0)
}

/// Bytes a bitmap over `n` proofs has.
pub fn bitmap_len(n: u64) -> u64 {
    n.div_ceil(8)
}

/// A loss in nats per token as the integer the ledger records (micro-nats, rounded; a loss that
/// is not a finite non-negative number records as `u64::MAX`).
pub fn loss_to_micro(loss: f64) -> u64 {
    if loss.is_finite() && loss >= 0.0 {
        let micro = (loss * 1e6).round();
        if micro < u64::MAX as f64 {
            return micro as u64;
        }
    }
    u64::MAX
}

/// The recorded loss as a decimal string of nats per token (`"2.345678"`).
pub fn micro_to_decimal(micro: u64) -> String {
    format!("{}.{:06}", micro / 1_000_000, micro % 1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitmaps_round_trip_and_count() {
        let flags = [true, false, true, true, false, false, false, false, true];
        let b = bitmap(flags);
        assert_eq!(b.len() as u64, bitmap_len(flags.len() as u64));
        for (i, f) in flags.iter().enumerate() {
            assert_eq!(bit(&b, i as u64), *f);
        }
        assert!(!bit(&b, 100));
        let r = RoundResult {
            included: b,
            ..RoundResult::default()
        };
        assert_eq!(r.included_count(), 4);
        assert!(bitmap(std::iter::empty()).is_empty());
    }

    #[test]
    fn losses_record_as_micro_nats() {
        assert_eq!(loss_to_micro(2.3456789), 2_345_679);
        assert_eq!(micro_to_decimal(2_345_679), "2.345679");
        assert_eq!(micro_to_decimal(12), "0.000012");
        assert_eq!(loss_to_micro(f64::NAN), u64::MAX);
        assert_eq!(loss_to_micro(-1.0), u64::MAX);
        assert_eq!(loss_to_micro(f64::INFINITY), u64::MAX);
    }

    #[test]
    fn a_result_hash_commits_to_every_field() {
        let a = RoundResult::default();
        let changes: [fn(&mut RoundResult); 7] = [
            |r| r.included = vec![0],
            |r| r.aggregate[0] = 1,
            |r| r.next_model[0] = 1,
            |r| r.momentum[0] = 1,
            |r| r.model_blob[0] = 1,
            |r| r.momentum_blob[0] = 1,
            |r| r.eval_loss_micro = 1,
        ];
        for (i, change) in changes.iter().enumerate() {
            let mut b = a.clone();
            change(&mut b);
            assert_ne!(a.hash(), b.hash(), "field {i}");
        }
    }
}
