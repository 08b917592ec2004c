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
//!   nonce, by priority: first the oldest fee-exempt runs (proofs, verdicts, round attestations)
//!   up to a quarter of the block, so that no fee-paying load starves the protocol's own work;
//!   then every run by the fee per byte of its first transaction, highest first.
//! * `prune` drops what blocks made stale; `expire` drops what waited longer than [`TX_TTL_MS`]
//!   (a nonce gap that is never filled, a fee too low to be picked), with everything after it
//!   from the same sender.

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

/// How long a transaction may wait in the mempool before it is dropped.
pub const TX_TTL_MS: u64 = 10 * 60_000;

/// The share of a block's transactions and bytes kept for fee-exempt runs (1/N).
pub const EXEMPT_SHARE: usize = 4;

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
    /// When it entered (Unix ms).
    added_ms: u64,
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

    /// Adds `tx`, whose sender's committed nonce is `next_nonce`, at time `now_ms`.
    pub fn insert(
        &mut self,
        tx: VerifiedTx,
        next_nonce: u64,
        now_ms: u64,
    ) -> Result<Admission, MempoolError> {
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
        self.by_sender.entry(sender).or_default().insert(
            nonce,
            Entry {
                tx,
                bytes,
                added_ms: now_ms,
            },
        );
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

    /// Up to `max_txs` transactions and `max_bytes`: each sender's consecutive run from its
    /// committed nonce (`next_nonce`), by priority (see the module doc). Within a run, nonce
    /// order; a run that does not fit whole contributes the prefix that does.
    pub fn reap(
        &self,
        max_txs: usize,
        max_bytes: usize,
        next_nonce: impl Fn(&Address) -> u64,
    ) -> Vec<VerifiedTx> {
        let mut runs: Vec<Vec<&Entry>> = Vec::new();
        for (sender, queue) in &self.by_sender {
            let first = next_nonce(sender);
            let run: Vec<&Entry> = (first..)
                .zip(queue.range(first..))
                .take_while(|(expected, (&nonce, _))| nonce == *expected)
                .map(|(_, (_, entry))| entry)
                .collect();
            if !run.is_empty() {
                runs.push(run);
            }
        }
        let exempt = |run: &Vec<&Entry>| run[0].tx.tx().body.is_fee_exempt();
        // How much of each run is in the block so far.
        let mut used = vec![0usize; runs.len()];
        let mut out = Vec::new();
        let mut block = Budget::new(max_txs, max_bytes);
        let mut take = |i: usize, used: &mut Vec<usize>, extra: &mut Option<&mut Budget>| {
            for entry in &runs[i][used[i]..] {
                if !block.fits(entry) || extra.as_ref().is_some_and(|b| !b.fits(entry)) {
                    break;
                }
                block.spend(entry);
                if let Some(b) = extra.as_mut() {
                    b.spend(entry);
                }
                out.push(entry.tx.clone());
                used[i] += 1;
            }
        };
        // The oldest fee-exempt runs first, within their share of the block.
        let mut order: Vec<usize> = (0..runs.len()).filter(|&i| exempt(&runs[i])).collect();
        order.sort_by_key(|&i| (runs[i][0].added_ms, runs[i][0].tx.hash()));
        let mut share = Budget::new(max_txs / EXEMPT_SHARE, max_bytes / EXEMPT_SHARE);
        for i in order {
            take(i, &mut used, &mut Some(&mut share));
        }
        // Then what is left of every run by the fee per byte of its next transaction, highest
        // first (older first on a tie).
        let mut order: Vec<usize> = (0..runs.len())
            .filter(|&i| used[i] < runs[i].len())
            .collect();
        order.sort_by_key(|&i| {
            let e = runs[i][used[i]];
            let per_byte = e.tx.tx().fee.0.saturating_mul(1_000_000) / e.bytes.max(1) as u128;
            (std::cmp::Reverse(per_byte), e.added_ms, e.tx.hash())
        });
        for i in order {
            take(i, &mut used, &mut None);
        }
        out
    }

    /// Drops every transaction that entered more than `ttl_ms` before `now_ms`, with everything
    /// after it from the same sender (which could not run without it); returns how many.
    pub fn expire(&mut self, now_ms: u64, ttl_ms: u64) -> usize {
        let cutoff = now_ms.saturating_sub(ttl_ms);
        let mut dead = Vec::new();
        for (sender, queue) in &self.by_sender {
            if let Some((&nonce, _)) = queue.iter().find(|(_, e)| e.added_ms < cutoff) {
                dead.push((*sender, nonce));
            }
        }
        self.drop_from(dead)
    }

    /// Drops, for each (sender, nonce), that sender's transactions from that nonce on.
    fn drop_from(&mut self, dead: Vec<(Address, u64)>) -> usize {
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
        self.drop_from(dead)
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

/// Transactions and bytes a block being reaped (or a share of it) still has room for.
struct Budget {
    count: usize,
    bytes: usize,
    max_txs: usize,
    max_bytes: usize,
}

impl Budget {
    fn new(max_txs: usize, max_bytes: usize) -> Budget {
        Budget {
            count: 0,
            bytes: 0,
            max_txs,
            max_bytes,
        }
    }

    fn fits(&self, e: &Entry) -> bool {
        self.count < self.max_txs && self.bytes + e.bytes <= self.max_bytes
    }

    fn spend(&mut self, e: &Entry) {
        self.count += 1;
        self.bytes += e.bytes;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use neuroshard_runtime::{Amount, SecretKey, Transaction, TxBody};

    fn tx(key: &SecretKey, nonce: u64, amount: u128) -> VerifiedTx {
        transfer(key, nonce, 1, amount)
    }

    fn transfer(key: &SecretKey, nonce: u64, fee: u128, amount: u128) -> VerifiedTx {
        Transaction {
            chain_id: "c".into(),
            nonce,
            fee: Amount(fee),
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
        assert_eq!(m.insert(tx(&a, 0, 5), 0, 0), Ok(Admission::Added));
        assert_eq!(m.insert(tx(&a, 0, 5), 0, 0), Ok(Admission::AlreadyKnown));
        assert_eq!(
            m.insert(tx(&a, 0, 6), 0, 0),
            Err(MempoolError::NonceTaken(0))
        );
        assert_eq!(
            m.insert(tx(&a, 3, 5), 4, 0),
            Err(MempoolError::StaleNonce { next: 4, got: 3 })
        );
        assert_eq!(m.len(), 1);
    }

    #[test]
    fn reap_takes_consecutive_runs_and_prune_drops_stale() {
        let mut m = Mempool::new(MempoolLimits::default());
        let (a, b) = (key(1), key(2));
        for n in [0, 1, 3] {
            m.insert(tx(&a, n, 1), 0, 0).unwrap();
        }
        m.insert(tx(&b, 5, 1), 5, 0).unwrap();
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
            m.insert(tx(&a, n, 1), 0, 0).unwrap();
        }
        m.insert(tx(&b, 0, 1), 0, 0).unwrap();
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
        m.insert(tx(&a, 0, 1), 0, 0).unwrap();
        assert_eq!(
            m.insert(tx(&a, 1, 1), 0, 0),
            Err(MempoolError::Full("per-sender limit"))
        );
        m.insert(tx(&b, 0, 1), 0, 0).unwrap();
        assert_eq!(
            m.insert(tx(&c, 0, 1), 0, 0),
            Err(MempoolError::Full("transaction limit"))
        );
        let mut small = Mempool::new(MempoolLimits {
            max_txs: 10,
            max_bytes: 10,
            max_per_sender: 10,
        });
        assert_eq!(
            small.insert(tx(&a, 0, 1), 0, 0),
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
        pool.insert(verdict(0, 1), 0, 0).unwrap();
        pool.insert(verdict(1, 2), 0, 0).unwrap();
        pool.insert(tx(&u, 0, 5), 0, 0).unwrap(); // a transfer: pays a fee, never rechecked
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
        pool.insert(verdict(0, 3), 0, 0).unwrap();
        assert_eq!(pool.recheck(|_| 0, |_| true), 0);
        assert_eq!(pool.len(), 2);
    }

    fn with_fee(key: &SecretKey, nonce: u64, fee: u128) -> VerifiedTx {
        transfer(key, nonce, fee, 1)
    }

    fn exempt(key: &SecretKey, nonce: u64) -> VerifiedTx {
        Transaction {
            chain_id: "c".into(),
            nonce,
            fee: Amount::ZERO,
            body: TxBody::Verdict {
                proof: [nonce as u8; 32],
                valid: true,
            },
        }
        .sign(key)
        .verify()
        .unwrap()
    }

    #[test]
    fn a_full_block_goes_to_the_highest_fees_but_keeps_a_share_for_the_protocols_own_work() {
        let mut m = Mempool::new(MempoolLimits::default());
        // 40 spammers at the minimum fee arrive first, then 4 payers of ten times that, then a
        // validator with 8 free verdicts.
        for i in 0..40u8 {
            m.insert(with_fee(&key(100 + i), 0, 1), 0, 1).unwrap();
        }
        for i in 0..4u8 {
            m.insert(with_fee(&key(200 + i), 0, 10), 0, 2).unwrap();
        }
        let validator = key(7);
        for n in 0..8 {
            m.insert(exempt(&validator, n), 0, 3).unwrap();
        }
        // A block of 12: a quarter (3) for the oldest free run, then the fees, highest first.
        let block = m.reap(12, usize::MAX, |_| 0);
        assert_eq!(block.len(), 12);
        let free: Vec<u64> = block
            .iter()
            .filter(|t| t.sender() == validator.address())
            .map(|t| t.tx().nonce)
            .collect();
        assert_eq!(free, vec![0, 1, 2], "the free share, in nonce order");
        let rich = block.iter().filter(|t| t.tx().fee.0 == 10).count();
        assert_eq!(rich, 4, "every high fee before any low one");
        assert_eq!(block.iter().filter(|t| t.tx().fee.0 == 1).count(), 5);
        // With room to spare, everything goes in, nonce order kept per sender.
        let all = m.reap(1_000, usize::MAX, |_| 0);
        assert_eq!(all.len(), 52);
        let nonces: Vec<u64> = all
            .iter()
            .filter(|t| t.sender() == validator.address())
            .map(|t| t.tx().nonce)
            .collect();
        assert_eq!(nonces, (0..8).collect::<Vec<_>>());
    }

    #[test]
    fn what_waits_too_long_expires_with_what_it_holds_up() {
        let mut m = Mempool::new(MempoolLimits::default());
        let (a, b) = (key(1), key(2));
        // `a` queues nonces 0-2 at t=0 and 3 later; `b` a future nonce that is never filled.
        for n in 0..3 {
            m.insert(with_fee(&a, n, 1), 0, 0).unwrap();
        }
        m.insert(with_fee(&a, 3, 1), 0, TX_TTL_MS).unwrap();
        m.insert(with_fee(&b, 5, 1), 0, 1_000).unwrap();
        assert_eq!(
            m.expire(TX_TTL_MS, TX_TTL_MS),
            0,
            "nothing older than the TTL yet"
        );
        // Past the TTL of a's first three and b's: all of a (3 waits on them) and b go.
        assert_eq!(m.expire(TX_TTL_MS + 2_000, TX_TTL_MS), 5);
        assert!(m.is_empty());
        assert_eq!(m.fees_from(&a.address()), 0);
        // The space is back.
        m.insert(with_fee(&a, 0, 1), 0, TX_TTL_MS + 2_000).unwrap();
        assert_eq!(m.len(), 1);
    }
}
