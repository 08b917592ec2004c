//! The mempool: verified transactions waiting for a block, ordered per sender by nonce.
//!
//! * Entry needs a valid signature (checked before) and a nonce at or above the sender's committed
//!   nonce; the first pending nonce of a sender is also run against committed state (`check_tx`)
//!   by the caller. A later nonce (at most [`MAX_NONCE_GAP`] ahead) cannot be checked against a
//!   state that does not exist yet, so the caller admits it only if it pays a fee that the
//!   sender's balance covers together with everything it has pending, or if the sender is a
//!   validator (whose verdicts and round closes queue up within a block): a flood of free
//!   future-nonce transactions from fresh keys is refused at the door.
//! * Resubmitting a known transaction is a no-op (`AlreadyKnown`), so gossip loops are harmless.
//! * Bounded in transactions, bytes and per-sender depth; a different transaction for a nonce that
//!   is already pending is refused.
//! * `reap` takes, sender by sender, the run of consecutive nonces from each sender's committed
//!   nonce; `prune` drops what blocks made stale.

use std::collections::{BTreeMap, HashMap};

use neuroshard_runtime::{Address, Hash32, VerifiedTx};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MempoolLimits {
    pub max_txs: usize,
    pub max_bytes: usize,
    pub max_per_sender: usize,
}

impl Default for MempoolLimits {
    fn default() -> Self {
        MempoolLimits {
            max_txs: 50_000,
            max_bytes: 64 * 1024 * 1024,
            max_per_sender: 256,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MempoolError {
    #[error("the mempool is full ({0})")]
    Full(&'static str),
    #[error("nonce {got} is below the sender's next nonce {next}")]
    StaleNonce { next: u64, got: u64 },
    #[error("another transaction with nonce {0} from this sender is already pending")]
    NonceTaken(u64),
    #[error("nonce {got} is more than {max} ahead of the sender's next nonce {next}")]
    NonceTooFar { next: u64, got: u64, max: u64 },
    #[error(
        "a fee-exempt transaction is taken only at the sender's next nonce {next} (got {got}): \
         it cannot be checked against a state that does not exist yet"
    )]
    FutureFeeExempt { next: u64, got: u64 },
    #[error(
        "the sender's balance {balance} base units does not cover the fees of its pending \
         transactions and this one ({needed})"
    )]
    Unfunded { balance: u128, needed: u128 },
}

/// How far past its committed nonce a sender may queue transactions (the per-sender depth of
/// [`MempoolLimits::default`]: a wallet may stream that many transfers without waiting).
pub const MAX_NONCE_GAP: u64 = 256;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    Added,
    AlreadyKnown,
}

struct Entry {
    tx: VerifiedTx,
    bytes: usize,
}

#[derive(Default)]
pub struct Mempool {
    limits: MempoolLimits,
    by_sender: BTreeMap<Address, BTreeMap<u64, Entry>>,
    by_hash: HashMap<Hash32, (Address, u64)>,
    bytes: usize,
}

impl Mempool {
    pub fn new(limits: MempoolLimits) -> Mempool {
        Mempool {
            limits,
            ..Default::default()
        }
    }

    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }

    pub fn contains(&self, hash: &Hash32) -> bool {
        self.by_hash.contains_key(hash)
    }

    /// Adds `tx`, whose sender's committed nonce is `next_nonce`.
    pub fn insert(&mut self, tx: VerifiedTx, next_nonce: u64) -> Result<Admission, MempoolError> {
        let hash = tx.hash();
        if self.by_hash.contains_key(&hash) {
            return Ok(Admission::AlreadyKnown);
        }
        let nonce = tx.tx().nonce;
        if nonce < next_nonce {
            return Err(MempoolError::StaleNonce {
                next: next_nonce,
                got: nonce,
            });
        }
        let sender = tx.sender();
        let queue = self.by_sender.get(&sender);
        if queue.is_some_and(|q| q.contains_key(&nonce)) {
            return Err(MempoolError::NonceTaken(nonce));
        }
        if queue.map_or(0, BTreeMap::len) >= self.limits.max_per_sender {
            return Err(MempoolError::Full("per-sender limit"));
        }
        if self.by_hash.len() >= self.limits.max_txs {
            return Err(MempoolError::Full("transaction limit"));
        }
        let bytes = tx.signed().encode().len();
        if self.bytes + bytes > self.limits.max_bytes {
            return Err(MempoolError::Full("byte limit"));
        }
        self.bytes += bytes;
        self.by_hash.insert(hash, (sender, nonce));
        self.by_sender
            .entry(sender)
            .or_default()
            .insert(nonce, Entry { tx, bytes });
        Ok(Admission::Added)
    }

    /// The pending transaction with this hash (already verified).
    pub fn get(&self, hash: &Hash32) -> Option<&VerifiedTx> {
        let (sender, nonce) = self.by_hash.get(hash)?;
        self.by_sender.get(sender)?.get(nonce).map(|e| &e.tx)
    }

    /// The fees of every pending transaction from `sender`, in base units.
    pub fn fees_from(&self, sender: &Address) -> u128 {
        self.by_sender.get(sender).map_or(0, |q| {
            q.values()
                .fold(0u128, |sum, e| sum.saturating_add(e.tx.tx().fee.0))
        })
    }

    /// How many transactions from `sender` are pending.
    pub fn pending_from(&self, sender: &Address) -> usize {
        self.by_sender.get(sender).map_or(0, BTreeMap::len)
    }

    /// Up to `max_txs` transactions and `max_bytes`, each sender's consecutive run from its
    /// committed nonce (`next_nonce`), senders in address order.
    pub fn reap(
        &self,
        max_txs: usize,
        max_bytes: usize,
        next_nonce: impl Fn(&Address) -> u64,
    ) -> Vec<VerifiedTx> {
        let (mut out, mut bytes) = (Vec::new(), 0);
        'senders: for (sender, queue) in &self.by_sender {
            let first = next_nonce(sender);
            for (expected, (&nonce, entry)) in (first..).zip(queue.range(first..)) {
                if nonce != expected {
                    break;
                }
                if out.len() >= max_txs || bytes + entry.bytes > max_bytes {
                    break 'senders;
                }
                out.push(entry.tx.clone());
                bytes += entry.bytes;
            }
        }
        out
    }

    /// Drops every pending transaction from `sender` (e.g. a node's own proof that the network
    /// refused, which would otherwise hold its nonce forever); returns how many.
    pub fn drop_sender(&mut self, sender: &Address) -> usize {
        let Some(queue) = self.by_sender.remove(sender) else {
            return 0;
        };
        for entry in queue.values() {
            self.by_hash.remove(&entry.tx.hash());
            self.bytes -= entry.bytes;
        }
        queue.len()
    }

    /// Re-checks, after a commit, each sender's next transaction (the one at its committed
    /// nonce) if it is fee-exempt: one that `still_valid` now refuses (a verdict on a proof that
    /// settled, an attestation of a round that closed, a stale proof) could never enter a block,
    /// and would hold every later transaction of its sender. It is dropped with everything after
    /// it from the same sender. Fee-paying transactions stay: a failing body still pays its fee
    /// in a block. Returns how many transactions were dropped.
    pub fn recheck(
        &mut self,
        next_nonce: impl Fn(&Address) -> u64,
        still_valid: impl Fn(&VerifiedTx) -> bool,
    ) -> usize {
        let mut dead = Vec::new();
        for (sender, queue) in &self.by_sender {
            let first = next_nonce(sender);
            if let Some(entry) = queue.get(&first) {
                if entry.tx.tx().body.is_fee_exempt() && !still_valid(&entry.tx) {
                    dead.push((*sender, first));
                }
            }
        }
        let mut dropped = 0;
        for (sender, from) in dead {
            let Some(queue) = self.by_sender.get_mut(&sender) else {
                continue;
            };
            let gone = queue.split_off(&from);
            for entry in gone.values() {
                self.by_hash.remove(&entry.tx.hash());
                self.bytes -= entry.bytes;
            }
            dropped += gone.len();
            if queue.is_empty() {
                self.by_sender.remove(&sender);
            }
        }
        dropped
    }

    /// Drops every transaction whose nonce is below its sender's committed nonce.
    pub fn prune(&mut self, next_nonce: impl Fn(&Address) -> u64) {
        let mut emptied = Vec::new();
        for (sender, queue) in self.by_sender.iter_mut() {
            let keep = queue.split_off(&next_nonce(sender));
            for entry in queue.values() {
                self.by_hash.remove(&entry.tx.hash());
                self.bytes -= entry.bytes;
            }
            *queue = keep;
            if queue.is_empty() {
                emptied.push(*sender);
            }
        }
        for sender in emptied {
            self.by_sender.remove(&sender);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use neuroshard_runtime::{Amount, SecretKey, Transaction, TxBody};

    fn tx(key: &SecretKey, nonce: u64, amount: u128) -> VerifiedTx {
        Transaction {
            chain_id: "c".into(),
            nonce,
            fee: Amount(1),
            body: TxBody::Transfer {
                to: Address([9; 20]),
                amount: Amount(amount),
            },
        }
        .sign(key)
        .verify()
        .unwrap()
    }

    fn key(n: u8) -> SecretKey {
        SecretKey::from_bytes(&[n; 32]).unwrap()
    }

    #[test]
    fn resubmission_is_idempotent_and_nonces_are_exclusive() {
        let mut m = Mempool::new(MempoolLimits::default());
        let a = key(1);
        assert_eq!(m.insert(tx(&a, 0, 5), 0), Ok(Admission::Added));
        assert_eq!(m.insert(tx(&a, 0, 5), 0), Ok(Admission::AlreadyKnown));
        assert_eq!(m.insert(tx(&a, 0, 6), 0), Err(MempoolError::NonceTaken(0)));
        assert_eq!(
            m.insert(tx(&a, 3, 5), 4),
            Err(MempoolError::StaleNonce { next: 4, got: 3 })
        );
        assert_eq!(m.len(), 1);
    }

    #[test]
    fn reap_takes_consecutive_runs_and_prune_drops_stale() {
        let mut m = Mempool::new(MempoolLimits::default());
        let (a, b) = (key(1), key(2));
        for n in [0, 1, 3] {
            m.insert(tx(&a, n, 1), 0).unwrap();
        }
        m.insert(tx(&b, 5, 1), 5).unwrap();
        let next = |addr: &Address| if *addr == b.address() { 5 } else { 0 };
        let reaped = m.reap(100, usize::MAX, next);
        let got: Vec<(Address, u64)> = reaped.iter().map(|t| (t.sender(), t.tx().nonce)).collect();
        assert_eq!(got.len(), 3, "nonce 3 waits for nonce 2: {got:?}");
        assert!(
            got.contains(&(a.address(), 0))
                && got.contains(&(a.address(), 1))
                && got.contains(&(b.address(), 5))
        );
        assert_eq!(m.reap(1, usize::MAX, next).len(), 1);
        m.prune(|addr| if *addr == a.address() { 2 } else { 6 });
        assert_eq!(m.len(), 1);
        assert!(m
            .reap(100, usize::MAX, |_| 3)
            .iter()
            .all(|t| t.tx().nonce == 3));
    }

    #[test]
    fn fees_from_sums_a_senders_pending_fees() {
        let mut m = Mempool::new(MempoolLimits::default());
        let (a, b) = (key(1), key(2));
        for n in 0..3 {
            m.insert(tx(&a, n, 1), 0).unwrap();
        }
        m.insert(tx(&b, 0, 1), 0).unwrap();
        assert_eq!(m.fees_from(&a.address()), 3);
        assert_eq!(m.fees_from(&b.address()), 1);
        assert_eq!(m.fees_from(&key(3).address()), 0);
    }

    #[test]
    fn limits_are_enforced() {
        let mut m = Mempool::new(MempoolLimits {
            max_txs: 2,
            max_bytes: usize::MAX,
            max_per_sender: 1,
        });
        let (a, b, c) = (key(1), key(2), key(3));
        m.insert(tx(&a, 0, 1), 0).unwrap();
        assert_eq!(
            m.insert(tx(&a, 1, 1), 0),
            Err(MempoolError::Full("per-sender limit"))
        );
        m.insert(tx(&b, 0, 1), 0).unwrap();
        assert_eq!(
            m.insert(tx(&c, 0, 1), 0),
            Err(MempoolError::Full("transaction limit"))
        );
        let mut small = Mempool::new(MempoolLimits {
            max_txs: 10,
            max_bytes: 10,
            max_per_sender: 10,
        });
        assert_eq!(
            small.insert(tx(&a, 0, 1), 0),
            Err(MempoolError::Full("byte limit"))
        );
    }

    #[test]
    fn recheck_drops_a_dead_fee_exempt_head_and_what_it_holds_up() {
        let mut pool = Mempool::new(MempoolLimits::default());
        let (v, u) = (key(1), key(2));
        let verdict = |n: u64, proof: u8| {
            Transaction {
                chain_id: "t".into(),
                nonce: n,
                fee: Amount::ZERO,
                body: TxBody::Verdict {
                    proof: [proof; 32],
                    valid: true,
                },
            }
            .sign(&v)
            .verify()
            .unwrap()
        };
        pool.insert(verdict(0, 1), 0).unwrap();
        pool.insert(verdict(1, 2), 0).unwrap();
        pool.insert(tx(&u, 0, 5), 0).unwrap(); // a transfer: pays a fee, never rechecked
        let dropped = pool.recheck(
            |_| 0,
            |t| {
                !matches!(t.tx().body, TxBody::Verdict { proof, .. } if proof == [1; 32])
                    && !matches!(t.tx().body, TxBody::Transfer { .. })
            },
        );
        assert_eq!(dropped, 2);
        assert_eq!(pool.len(), 1);
        assert_eq!(pool.pending_from(&v.address()), 0);
        assert_eq!(pool.pending_from(&u.address()), 1);
        // A valid head keeps its queue.
        pool.insert(verdict(0, 3), 0).unwrap();
        assert_eq!(pool.recheck(|_| 0, |_| true), 0);
        assert_eq!(pool.len(), 2);
    }
}
