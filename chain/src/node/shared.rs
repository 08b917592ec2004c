//! What the consensus loop, the transaction gossip and the RPC server share: the chain state, the
//! mempool and the node's status, behind one [`NodeApi`] handle.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use neuroshard_runtime::{
    Amount, Hash32, SecretKey, SignedTransaction, Transaction, TxBody, TxError,
};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};

use crate::executor::ChainState;
use crate::mempool::{Admission, Mempool, MempoolError, MAX_NONCE_GAP};

/// The node's view of the chain, as `neuro_status` shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    pub chain_id: String,
    pub moniker: String,
    pub height: u64,
    pub latest_block_hash: String,
    /// State root after the latest block.
    pub state_root: String,
    pub latest_block_time_ms: u64,
    pub peers: usize,
    pub catching_up: bool,
    pub mempool_size: usize,
    pub validator_address: String,
}

/// Why a transaction was not taken.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("malformed transaction: {0}")]
    Malformed(String),
    #[error("transaction rejected: {0}")]
    Rejected(#[from] TxError),
    #[error("mempool: {0}")]
    Mempool(#[from] MempoolError),
    #[error("node storage error: {0}")]
    Storage(String),
}

impl SubmitError {
    /// Whether a peer that relayed this transaction did something no honest peer does: every
    /// node checks what it forwards, so bytes that do not decode, a signature that does not
    /// verify or another chain's transaction can only come from a peer that skipped the check.
    /// Nonce, fee and capacity refusals are races between honest nodes.
    pub fn is_peers_fault(&self) -> bool {
        matches!(
            self,
            SubmitError::Malformed(_)
                | SubmitError::Rejected(
                    TxError::Decode(_) | TxError::Crypto(_) | TxError::WrongChainId { .. }
                )
        )
    }
}

pub(crate) struct Shared {
    pub chain: RwLock<ChainState>,
    pub mempool: Mutex<Mempool>,
    pub peers: AtomicUsize,
    pub catching_up: AtomicBool,
    pub status: watch::Sender<Status>,
    pub gossip_out: mpsc::UnboundedSender<Vec<u8>>,
    /// The node's home directory (models, worker state live beside the chain data).
    pub home: std::path::PathBuf,
    /// Serialises nonce assignment for transactions this node signs itself.
    pub signing: Mutex<()>,
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The entry rule for a nonce past the sender's next one (see the mempool's doc).
fn admit_future(
    mempool: &Mempool,
    ledger: &neuroshard_runtime::Ledger<crate::store::RocksStore>,
    tx: &neuroshard_runtime::VerifiedTx,
    next: u64,
) -> Result<(), SubmitError> {
    let nonce = tx.tx().nonce;
    let sender = tx.sender();
    if nonce - next > MAX_NONCE_GAP {
        return Err(MempoolError::NonceTooFar {
            next,
            got: nonce,
            max: MAX_NONCE_GAP,
        }
        .into());
    }
    let storage = |e: neuroshard_runtime::StorageError| SubmitError::Storage(e.to_string());
    if tx.tx().body.is_fee_exempt() {
        let validator = ledger
            .validators()
            .map_err(storage)?
            .iter()
            .any(|v| v.address == sender && !v.record.jailed && v.record.power > 0);
        if !validator {
            return Err(MempoolError::FutureFeeExempt { next, got: nonce }.into());
        }
        return Ok(());
    }
    let min_fee = ledger.params().min_fee;
    if tx.tx().fee < min_fee {
        return Err(TxError::FeeTooLow {
            min: min_fee,
            got: tx.tx().fee,
        }
        .into());
    }
    let balance = ledger.account(&sender).map_err(storage)?.balance.0;
    let needed = mempool.fees_from(&sender).saturating_add(tx.tx().fee.0);
    if balance < needed {
        return Err(MempoolError::Unfunded { balance, needed }.into());
    }
    Ok(())
}

impl Shared {
    /// Verifies `bytes` and admits the transaction to the mempool. `Ok` carries the transaction
    /// hash, also when the transaction is already pending or committed (resubmission is
    /// idempotent). `gossip` says whether a newly admitted transaction is passed on to peers.
    pub(crate) fn submit(&self, bytes: &[u8], gossip: bool) -> Result<Hash32, SubmitError> {
        self.admit(bytes, gossip).map(|(hash, _)| hash)
    }

    /// [`Shared::submit`], also saying whether the transaction is new here (`Added`) or was
    /// already pending or committed (`AlreadyKnown`).
    pub(crate) fn admit(
        &self,
        bytes: &[u8],
        gossip: bool,
    ) -> Result<(Hash32, Admission), SubmitError> {
        let signed =
            SignedTransaction::decode(bytes).map_err(|e| SubmitError::Malformed(e.to_string()))?;
        let hash = signed.hash();
        if self
            .mempool
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&hash)
        {
            return Ok((hash, Admission::AlreadyKnown));
        }
        let verified = signed.verify()?;
        {
            let chain = self.chain.read().unwrap_or_else(|p| p.into_inner());
            if chain
                .store()
                .tx_location(&hash)
                .map_err(|e| SubmitError::Storage(e.to_string()))?
                .is_some()
            {
                return Ok((hash, Admission::AlreadyKnown));
            }
            let ledger = chain.ledger();
            let next = ledger
                .account(&verified.sender())
                .map_err(|e| SubmitError::Storage(e.to_string()))?
                .nonce;
            let nonce = verified.tx().nonce;
            if nonce < next {
                return Err(TxError::NonceReplayed {
                    expected: next,
                    got: nonce,
                }
                .into());
            }
            let mut mempool = self.mempool.lock().unwrap_or_else(|p| p.into_inner());
            if nonce == next {
                ledger.check_tx(&verified, now_ms())?;
            } else {
                admit_future(&mempool, ledger, &verified, next)?;
            }
            if mempool.insert(verified, next, now_ms())? == Admission::AlreadyKnown {
                return Ok((hash, Admission::AlreadyKnown));
            }
            self.status.send_modify(|s| s.mempool_size = mempool.len());
        }
        if gossip {
            let _ = self.gossip_out.send(bytes.to_vec());
        }
        Ok((hash, Admission::Added))
    }
}

impl Shared {
    pub(crate) fn sign_and_submit(
        &self,
        key: &SecretKey,
        body: TxBody,
    ) -> Result<Hash32, SubmitError> {
        let _one_at_a_time = self.signing.lock().unwrap_or_else(|p| p.into_inner());
        let sender = key.address();
        let (chain_id, committed, min_fee) = {
            let chain = self.chain.read().unwrap_or_else(|p| p.into_inner());
            let ledger = chain.ledger();
            let nonce = ledger
                .account(&sender)
                .map_err(|e| SubmitError::Storage(e.to_string()))?
                .nonce;
            (ledger.chain_id().to_owned(), nonce, ledger.params().min_fee)
        };
        let pending = self
            .mempool
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pending_from(&sender) as u64;
        let fee = if body.is_fee_exempt() {
            Amount::ZERO
        } else {
            min_fee
        };
        let tx = Transaction {
            chain_id,
            nonce: committed + pending,
            fee,
            body,
        }
        .sign(key);
        self.submit(&tx.encode(), true)
    }
}

/// A handle on a running node: its status and transaction submission.
#[derive(Clone)]
pub struct NodeApi {
    pub(crate) shared: Arc<Shared>,
    pub(crate) blobs: crate::blobs::BlobClient,
}

impl NodeApi {
    /// The node's blobs: its store, and fetching from peers.
    pub fn blobs(&self) -> &crate::blobs::BlobClient {
        &self.blobs
    }

    pub fn status(&self) -> Status {
        let mut s = self.shared.status.borrow().clone();
        s.peers = self.shared.peers.load(Ordering::Relaxed);
        s.catching_up = self.shared.catching_up.load(Ordering::Relaxed);
        s
    }

    /// Waits for the next change of status (a new block).
    pub fn subscribe(&self) -> watch::Receiver<Status> {
        self.shared.status.subscribe()
    }

    /// Submits a signed transaction (borsh bytes) to the mempool and to peers.
    pub fn submit(&self, bytes: &[u8]) -> Result<Hash32, SubmitError> {
        self.shared.submit(bytes, true)
    }

    /// Signs `body` with `key` at the key's next nonce (committed nonce plus what this node's
    /// mempool already holds from it), fee-exempt kinds with no fee and others with the minimum,
    /// and submits it.
    pub fn sign_and_submit(&self, key: &SecretKey, body: TxBody) -> Result<Hash32, SubmitError> {
        self.shared.sign_and_submit(key, body)
    }

    /// Forgets this node's pending transactions from `sender` (a local key whose transaction the
    /// network did not take); returns how many.
    pub fn drop_pending_from(&self, sender: &neuroshard_runtime::Address) -> usize {
        let mut mempool = self
            .shared
            .mempool
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let n = mempool.drop_sender(sender);
        self.shared
            .status
            .send_modify(|s| s.mempool_size = mempool.len());
        n
    }

    /// The node's home directory.
    pub fn home(&self) -> &std::path::Path {
        &self.shared.home
    }

    /// Runs `f` on the committed chain state (for queries).
    pub fn with_chain<T>(&self, f: impl FnOnce(&ChainState) -> T) -> T {
        let chain = self.shared.chain.read().unwrap_or_else(|p| p.into_inner());
        f(&chain)
    }
}
