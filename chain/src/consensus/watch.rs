//! Double-sign detection. A [`VoteWatcher`] remembers the first value each validator voted for
//! at each (height, round, kind) and turns a second, different one into runtime
//! [`Evidence::DoubleSign`], ready for a `ReportFraud` transaction.
//!
//! It sees votes two ways. Malachite checks the votes of the height it is at through our signing
//! provider, which shows each valid one here. But Malachite drops, unchecked, a vote for a height
//! it has already decided, and a double-signer's second vote often arrives just after the honest
//! validators decided on the first one. So the network codec also shows every vote it decodes
//! ([`VoteWatcher::observe_wire`]): from a validator of the current set, for a height near the
//! last committed one, its signature is checked here before it counts.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};

use malachitebft_app_channel::app::types::core::VoteType;
use neuroshard_runtime::evidence::{Evidence, SignedVote};
use neuroshard_runtime::{Address, Hash32, PublicKey, Signature};
use tokio::sync::mpsc;

use super::context::Vote;

/// How many heights of votes are remembered below the highest seen.
const KEEP_HEIGHTS: u64 = 16;

/// How far above the last committed height a vote may be and still be watched (and the
/// farthest height the node names a validator set for: see `node::app`).
pub(crate) const AHEAD_HEIGHTS: u64 = 2;

type Slot = (u64, i64, bool, Address);

pub struct VoteWatcher {
    chain_id: String,
    seen: Mutex<Seen>,
    evidence: mpsc::UnboundedSender<Evidence>,
    /// The current validator set's keys, to check votes that come straight off the wire.
    keys: RwLock<HashMap<Address, PublicKey>>,
    /// The last committed height.
    committed: AtomicU64,
}

#[derive(Default)]
struct Seen {
    first: BTreeMap<Slot, (Option<Hash32>, Signature)>,
    reported: HashSet<Slot>,
    top: u64,
}

impl VoteWatcher {
    pub fn new(chain_id: &str) -> (VoteWatcher, mpsc::UnboundedReceiver<Evidence>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (
            VoteWatcher {
                chain_id: chain_id.to_owned(),
                seen: Mutex::new(Seen::default()),
                evidence: tx,
                keys: RwLock::new(HashMap::new()),
                committed: AtomicU64::new(0),
            },
            rx,
        )
    }

    /// Tells the watcher which height was last committed and which validators vote next.
    pub fn committed(&self, height: u64, validators: impl IntoIterator<Item = PublicKey>) {
        let keys = validators.into_iter().map(|k| (k.address(), k)).collect();
        *self.keys.write().unwrap_or_else(|p| p.into_inner()) = keys;
        self.committed.store(height, Ordering::Relaxed);
    }

    /// Records a vote as decoded from a peer's message, whatever height consensus is at: ignored
    /// unless it comes from a current validator, for a height near the last committed one, with a
    /// valid signature. A vote already seen for its slot is not checked again.
    pub fn observe_wire(&self, vote: &Vote, signature: &Signature) {
        let committed = self.committed.load(Ordering::Relaxed);
        let h = vote.height.0;
        if h > committed + AHEAD_HEIGHTS || h + KEEP_HEIGHTS < committed {
            return;
        }
        let Some(public_key) = self
            .keys
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&vote.validator.0)
            .copied()
        else {
            return;
        };
        let runtime = vote.to_runtime(&self.chain_id);
        let known = {
            let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
            seen.first.get(&slot_of(vote)).map(|(v, _)| *v)
        };
        if known == Some(runtime.block_hash) {
            return;
        }
        if public_key
            .verify_digest(&runtime.signing_digest(), signature)
            .is_ok()
        {
            self.observe(vote, signature, &public_key);
        }
    }

    /// Records a vote whose signature has been checked. One for a height far above the last
    /// committed one is ignored: it would move the window past every slot still to be watched,
    /// so a validator signing a vote for height 10⁹ could switch detection off.
    pub fn observe(&self, vote: &Vote, signature: &Signature, public_key: &PublicKey) {
        if vote.height.0 > self.committed.load(Ordering::Relaxed) + AHEAD_HEIGHTS {
            return;
        }
        let runtime = vote.to_runtime(&self.chain_id);
        let slot = slot_of(vote);
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if vote.height.0 + KEEP_HEIGHTS < seen.top {
            return;
        }
        if vote.height.0 > seen.top {
            seen.top = vote.height.0;
            let floor = seen.top.saturating_sub(KEEP_HEIGHTS);
            seen.first = seen
                .first
                .split_off(&(floor, i64::MIN, false, Address([0; 20])));
            seen.reported.retain(|s| s.0 >= floor);
        }
        match seen.first.get(&slot).copied() {
            None => {
                seen.first.insert(slot, (runtime.block_hash, *signature));
            }
            Some((value, _)) if value == runtime.block_hash => {}
            Some((value, first_signature)) => {
                if !seen.reported.insert(slot) {
                    return;
                }
                let first = SignedVote {
                    vote: neuroshard_runtime::evidence::Vote {
                        block_hash: value,
                        ..runtime.clone()
                    },
                    validator: *public_key,
                    signature: first_signature,
                };
                let second = SignedVote {
                    vote: runtime,
                    validator: *public_key,
                    signature: *signature,
                };
                tracing::warn!(
                    validator = %vote.validator,
                    height = vote.height.0,
                    round = %vote.round,
                    "validator signed two different votes: reporting it"
                );
                let _ = self.evidence.send(Evidence::DoubleSign {
                    a: first,
                    b: second,
                });
            }
        }
    }
}

fn slot_of(vote: &Vote) -> Slot {
    (
        vote.height.0,
        vote.round.as_i64(),
        matches!(vote.kind, VoteType::Precommit),
        vote.validator.0,
    )
}

#[cfg(test)]
mod tests {
    use malachitebft_app_channel::app::types::core::{NilOrVal, Round};
    use neuroshard_runtime::SecretKey;

    use super::*;
    use crate::consensus::context::{BlockHash, Height, ValidatorAddress};

    const CHAIN: &str = "watch-test";

    fn key(seed: u8) -> SecretKey {
        SecretKey::from_entropy([seed; 32])
    }

    fn vote(key: &SecretKey, height: u64, value: Option<u8>) -> (Vote, Signature) {
        let vote = Vote {
            kind: VoteType::Precommit,
            height: Height(height),
            round: Round::new(0),
            value: value.map_or(NilOrVal::Nil, |v| NilOrVal::Val(BlockHash([v; 32]))),
            validator: ValidatorAddress(key.address()),
        };
        let signature = key.sign_digest(&vote.to_runtime(CHAIN).signing_digest());
        (vote, signature)
    }

    fn watcher(
        validators: &[&SecretKey],
        committed: u64,
    ) -> (VoteWatcher, mpsc::UnboundedReceiver<Evidence>) {
        let (w, rx) = VoteWatcher::new(CHAIN);
        w.committed(committed, validators.iter().map(|k| k.public_key()));
        (w, rx)
    }

    #[test]
    fn a_second_vote_off_the_wire_after_the_height_was_committed_is_evidence() {
        let byzantine = key(1);
        let (w, mut rx) = watcher(&[&byzantine], 10);
        let (a, sa) = vote(&byzantine, 10, Some(1));
        let (b, sb) = vote(&byzantine, 10, Some(2));
        w.observe_wire(&a, &sa);
        w.observe_wire(&a, &sa);
        assert!(rx.try_recv().is_err(), "the same vote twice is no offence");
        w.observe_wire(&b, &sb);
        let evidence = rx.try_recv().expect("evidence");
        evidence
            .verify_signatures()
            .expect("evidence the ledger accepts");
        assert_eq!(evidence.chain_id(), CHAIN);
        w.observe_wire(&b, &sb);
        assert!(rx.try_recv().is_err(), "reported once");
    }

    #[test]
    fn votes_that_prove_nothing_are_ignored() {
        let validator = key(1);
        let outsider = key(2);
        let (w, mut rx) = watcher(&[&validator], 100);
        // A forged signature: the honest first vote stands, nothing is reported.
        let (a, sa) = vote(&validator, 100, Some(1));
        let (b, _) = vote(&validator, 100, Some(2));
        let (_, forged) = vote(&outsider, 100, Some(2));
        w.observe_wire(&a, &sa);
        w.observe_wire(&b, &forged);
        // Someone outside the validator set equivocating.
        let (c, sc) = vote(&outsider, 100, Some(1));
        let (d, sd) = vote(&outsider, 100, Some(2));
        w.observe_wire(&c, &sc);
        w.observe_wire(&d, &sd);
        // Heights too far behind or ahead of the chain to matter.
        for h in [100 - KEEP_HEIGHTS - 1, 100 + AHEAD_HEIGHTS + 1] {
            let (e, se) = vote(&validator, h, Some(1));
            let (f, sf) = vote(&validator, h, None);
            w.observe_wire(&e, &se);
            w.observe_wire(&f, &sf);
        }
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn a_far_future_vote_does_not_blind_the_watcher() {
        let byzantine = key(1);
        let (w, mut rx) = watcher(&[&byzantine], 50);
        // A validly signed vote for a height far ahead, through both doors.
        let (far, sfar) = vote(&byzantine, 1_000_000_000, Some(9));
        w.observe(&far, &sfar, &byzantine.public_key());
        w.observe_wire(&far, &sfar);
        // A double sign at the height being decided is still caught.
        let (a, sa) = vote(&byzantine, 51, Some(1));
        let (b, sb) = vote(&byzantine, 51, Some(2));
        w.observe(&a, &sa, &byzantine.public_key());
        w.observe_wire(&b, &sb);
        assert!(matches!(rx.try_recv(), Ok(Evidence::DoubleSign { .. })));
    }

    #[test]
    fn consensus_and_wire_sightings_of_one_slot_are_compared() {
        let byzantine = key(1);
        let (w, mut rx) = watcher(&[&byzantine], 5);
        let (a, sa) = vote(&byzantine, 6, Some(1));
        let (b, sb) = vote(&byzantine, 6, None);
        w.observe(&a, &sa, &byzantine.public_key());
        w.observe_wire(&b, &sb);
        assert!(matches!(rx.try_recv(), Ok(Evidence::DoubleSign { .. })));
    }
}
