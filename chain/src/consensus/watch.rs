//! Double-sign detection. Malachite checks every vote it receives through our signing provider;
//! the provider shows each valid vote to a [`VoteWatcher`], which remembers the first value each
//! validator voted for at each (height, round, kind) and turns a second, different one into
//! runtime [`Evidence::DoubleSign`], ready for a `ReportFraud` transaction.

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;

use neuroshard_runtime::evidence::{Evidence, SignedVote};
use neuroshard_runtime::{Address, Hash32, PublicKey, Signature};
use tokio::sync::mpsc;

use super::context::Vote;

/// How many heights of votes are remembered below the highest seen.
const KEEP_HEIGHTS: u64 = 16;

type Slot = (u64, i64, bool, Address);

pub struct VoteWatcher {
    chain_id: String,
    seen: Mutex<Seen>,
    evidence: mpsc::UnboundedSender<Evidence>,
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
            },
            rx,
        )
    }

    /// Records a vote whose signature has been checked.
    pub fn observe(&self, vote: &Vote, signature: &Signature, public_key: &PublicKey) {
        let runtime = vote.to_runtime(&self.chain_id);
        let slot = (
            vote.height.0,
            vote.round.as_i64(),
            matches!(
                runtime.kind,
                neuroshard_runtime::evidence::VoteKind::Precommit
            ),
            vote.validator.0,
        );
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
