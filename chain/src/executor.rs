//! The replicated state a node keeps: the ledger over RocksDB and the chain of blocks. It proposes
//! blocks from candidate transactions and applies decided blocks, checking that each one chains to
//! the last and commits to the right state. Consensus (Malachite) calls these two operations.

use std::path::Path;

use neuroshard_runtime::{
    Address, BlockHeader, Genesis, Hash32, Ledger, Receipt, SignedTransaction, StateRoot, TxError,
    ValidatorUpdate, VerifiedTx,
};
use rayon::prelude::*;

use crate::block::{txs_root, Block, Header};
use crate::error::ChainError;
use crate::store::{ChainIdentity, RocksStore};

/// What applying a block produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    pub hash: Hash32,
    pub state_root: StateRoot,
    pub receipts: Vec<Receipt>,
    pub validator_updates: Vec<ValidatorUpdate>,
}

pub struct ChainState {
    ledger: Ledger<RocksStore>,
    last_hash: Hash32,
}

/// The genesis state root, computed in memory (what every node must agree on before block 1).
pub fn genesis_root(genesis: &Genesis) -> Result<StateRoot, ChainError> {
    let ledger = Ledger::init_chain(neuroshard_runtime::MemoryStorage::new(), genesis)?;
    Ok(ledger.state_root())
}

impl ChainState {
    /// Opens the data directory `dir` for `genesis`, initialising it on first use. After a crash it
    /// resumes at the last committed block.
    pub fn open(dir: &Path, genesis: &Genesis) -> Result<ChainState, ChainError> {
        std::fs::create_dir_all(dir).map_err(|e| ChainError::Database {
            path: dir.display().to_string(),
            reason: e.to_string(),
        })?;
        let store = RocksStore::open(dir)?;
        store.check_identity(&ChainIdentity {
            chain_id: genesis.chain_id.clone(),
            genesis_root: genesis_root(genesis)?,
        })?;
        let ledger = Ledger::open_or_init(store, genesis)?;
        let height = ledger.height();
        let stored = ledger.store().last_height()?;
        if stored != height {
            return Err(ChainError::Corrupt {
                path: dir.display().to_string(),
                reason: format!(
                    "state is at height {height} but the last stored block is {stored}"
                ),
            });
        }
        let last_hash = match ledger.store().block(height)? {
            Some(block) => block.hash(),
            None if height == 0 => [0; 32],
            None => {
                return Err(ChainError::Corrupt {
                    path: dir.display().to_string(),
                    reason: format!("block {height} is missing"),
                })
            }
        };
        Ok(ChainState { ledger, last_hash })
    }

    pub fn ledger(&self) -> &Ledger<RocksStore> {
        &self.ledger
    }
    pub fn height(&self) -> u64 {
        self.ledger.height()
    }
    pub fn last_hash(&self) -> Hash32 {
        self.last_hash
    }
    pub fn store(&self) -> &RocksStore {
        self.ledger.store()
    }

    /// Builds the next block from `candidates` (in order), keeping only those that are valid in
    /// sequence. Nothing is written.
    pub fn propose(
        &mut self,
        candidates: &[VerifiedTx],
        time_ms: u64,
        proposer: Address,
    ) -> Result<Block, ChainError> {
        let time_ms = time_ms.max(self.ledger.last_block_time_ms());
        let height = self.height() + 1;
        self.ledger.begin_block(BlockHeader {
            height,
            time_ms,
            proposer,
        })?;
        let mut txs = Vec::new();
        for tx in candidates {
            match self.ledger.deliver_tx(tx) {
                Ok(_) => txs.push(tx.signed().encode()),
                Err(TxError::Storage(e)) => {
                    self.ledger.abort_block();
                    return Err(e.into());
                }
                Err(_) => {} // invalid here (stale nonce, unpayable fee): leave it out
            }
        }
        self.ledger.abort_block();
        Ok(Block {
            header: Header {
                chain_id: self.ledger.chain_id().to_owned(),
                height,
                time_ms,
                proposer,
                parent_hash: self.last_hash,
                txs_root: txs_root(&txs),
                prev_state_root: self.ledger.state_root(),
            },
            txs,
        })
    }

    /// Checks a proposed block without applying it.
    pub fn validate(&mut self, block: &Block) -> Result<(), ChainError> {
        self.execute(block)?;
        self.ledger.abort_block();
        Ok(())
    }

    /// Applies a decided block and commits it with its state, atomically.
    pub fn apply(&mut self, block: &Block) -> Result<Applied, ChainError> {
        let (receipts, validator_updates) = self.execute(block)?;
        self.ledger.store().stage_block(block);
        let state_root = self.ledger.commit()?;
        self.last_hash = block.hash();
        Ok(Applied {
            hash: self.last_hash,
            state_root,
            receipts,
            validator_updates,
        })
    }

    /// Header checks, parallel signature checks, then ordered execution up to `end_block`.
    fn execute(
        &mut self,
        block: &Block,
    ) -> Result<(Vec<Receipt>, Vec<ValidatorUpdate>), ChainError> {
        let h = &block.header;
        let invalid = |why: String| Err(ChainError::InvalidBlock(why));
        if h.chain_id != self.ledger.chain_id() {
            return invalid(format!("chain id {:?}", h.chain_id));
        }
        if h.height != self.height() + 1 {
            return Err(ChainError::UnexpectedHeight {
                last: self.height(),
                height: h.height,
            });
        }
        if h.parent_hash != self.last_hash {
            return invalid("parent hash does not match the last block".into());
        }
        if h.prev_state_root != self.ledger.state_root() {
            return invalid("prev_state_root does not match this node's state".into());
        }
        if h.txs_root != txs_root(&block.txs) {
            return invalid("transactions do not match txs_root".into());
        }
        let verified: Vec<VerifiedTx> = block
            .transactions()?
            .into_par_iter()
            .enumerate()
            .map(|(i, tx): (usize, SignedTransaction)| {
                tx.verify()
                    .map_err(|e| ChainError::InvalidBlock(format!("transaction {i}: {e}")))
            })
            .collect::<Result<_, _>>()?;
        self.ledger.begin_block(BlockHeader {
            height: h.height,
            time_ms: h.time_ms,
            proposer: h.proposer,
        })?;
        let mut receipts = Vec::with_capacity(verified.len());
        for (i, tx) in verified.iter().enumerate() {
            match self.ledger.deliver_tx(tx) {
                Ok(r) => receipts.push(r),
                Err(e) => {
                    self.ledger.abort_block();
                    return Err(ChainError::InvalidBlock(format!(
                        "transaction {i} is invalid: {e}"
                    )));
                }
            }
        }
        let updates = match self.ledger.end_block() {
            Ok(u) => u,
            Err(e) => {
                self.ledger.abort_block();
                return Err(e.into());
            }
        };
        Ok((receipts, updates))
    }
}
