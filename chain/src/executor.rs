//! The replicated state a node keeps: the ledger over RocksDB and the chain of blocks. It proposes
//! blocks from candidate transactions and applies decided blocks, checking that each one chains to
//! the last and commits to the right state. Consensus (Malachite) calls these two operations.

use std::path::Path;

use neuroshard_runtime::beacon::BeaconSig;
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
    /// A block executed up to `end_block` and not committed: the one this node proposed or last
    /// validated. Deciding it commits without executing it a second time.
    pending: Option<Pending>,
}

struct Pending {
    hash: Hash32,
    receipts: Vec<Receipt>,
    updates: Vec<ValidatorUpdate>,
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
        Ok(ChainState {
            ledger,
            last_hash,
            pending: None,
        })
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

    /// Forgets the executed, uncommitted block, if any.
    pub fn abort_pending(&mut self) {
        if self.pending.take().is_some() {
            self.ledger.abort_block();
        }
    }

    /// Builds the next block from `candidates` (in order), keeping only those that are valid in
    /// sequence. Nothing is written; the block stays executed, ready to be committed if decided.
    pub fn propose(
        &mut self,
        candidates: &[VerifiedTx],
        time_ms: u64,
        proposer: Address,
        beacon: Option<BeaconSig>,
    ) -> Result<Block, ChainError> {
        self.abort_pending();
        let time_ms = time_ms.max(self.ledger.last_block_time_ms());
        let height = self.height() + 1;
        let header = BlockHeader {
            height,
            time_ms,
            proposer,
            beacon,
        };
        // Free transactions (fee-exempt kinds) go in only if their body succeeds: otherwise they
        // would fill blocks for nothing. Such a failure restarts the block without them.
        let mut excluded = std::collections::HashSet::new();
        let (txs, receipts) = 'build: loop {
            self.ledger.begin_block(header)?;
            let mut txs = Vec::new();
            let mut receipts = Vec::new();
            for (i, tx) in candidates.iter().enumerate() {
                if excluded.contains(&i) {
                    continue;
                }
                match self.ledger.deliver_tx(tx) {
                    Ok(r) if r.result.is_err() && tx.tx().body.is_fee_exempt() => {
                        excluded.insert(i);
                        self.ledger.abort_block();
                        continue 'build;
                    }
                    Ok(r) => {
                        txs.push(tx.signed().encode());
                        receipts.push(r);
                    }
                    Err(TxError::Storage(e)) => {
                        self.ledger.abort_block();
                        return Err(e.into());
                    }
                    Err(_) => {} // invalid here (stale nonce, unpayable fee): leave it out
                }
            }
            break (txs, receipts);
        };
        let updates = match self.ledger.end_block() {
            Ok(u) => u,
            Err(e) => {
                self.ledger.abort_block();
                return Err(e.into());
            }
        };
        let block = Block {
            header: Header {
                chain_id: self.ledger.chain_id().to_owned(),
                height,
                time_ms,
                proposer,
                parent_hash: self.last_hash,
                txs_root: txs_root(&txs),
                prev_state_root: self.ledger.state_root(),
                beacon,
            },
            txs,
        };
        self.pending = Some(Pending {
            hash: block.hash(),
            receipts,
            updates,
        });
        Ok(block)
    }

    /// Checks a proposed block without committing it (it stays executed, see [`ChainState::apply`]).
    pub fn validate(&mut self, block: &Block) -> Result<(), ChainError> {
        self.validate_with(block, &|_| None)
    }

    /// [`ChainState::validate`], taking transactions whose signatures this node already checked
    /// (its mempool's) from `known` instead of checking them again.
    pub fn validate_with(
        &mut self,
        block: &Block,
        known: &(dyn Fn(&Hash32) -> Option<VerifiedTx> + Sync),
    ) -> Result<(), ChainError> {
        if self
            .pending
            .as_ref()
            .is_some_and(|p| p.hash == block.hash())
        {
            return Ok(());
        }
        self.abort_pending();
        let (receipts, updates) = self.execute_with(block, known)?;
        self.pending = Some(Pending {
            hash: block.hash(),
            receipts,
            updates,
        });
        Ok(())
    }

    /// Applies a decided block and commits it with its state, atomically.
    pub fn apply(&mut self, block: &Block) -> Result<Applied, ChainError> {
        self.apply_with_certificate(block, None)
    }

    /// Applies a decided block and commits it, with its commit certificate, atomically.
    pub fn apply_with_certificate(
        &mut self,
        block: &Block,
        certificate: Option<Vec<u8>>,
    ) -> Result<Applied, ChainError> {
        let (receipts, validator_updates) = match self.pending.take() {
            Some(p) if p.hash == block.hash() => (p.receipts, p.updates),
            Some(_) => {
                self.ledger.abort_block();
                self.execute(block)?
            }
            None => self.execute(block)?,
        };
        let before = self.ledger.supply()?;
        self.ledger.store().stage_supply(
            block.header.height.saturating_sub(1),
            self.ledger.last_block_time_ms(),
            &before,
        );
        self.ledger.store().stage_block(block);
        self.ledger
            .store()
            .stage_receipts(block.header.height, &receipts);
        if let Some(cert) = certificate {
            self.ledger
                .store()
                .stage_certificate(block.header.height, cert);
        }
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
        self.execute_with(block, &|_| None)
    }

    fn execute_with(
        &mut self,
        block: &Block,
        known: &(dyn Fn(&Hash32) -> Option<VerifiedTx> + Sync),
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
                if let Some(v) = known(&tx.hash()) {
                    return Ok(v);
                }
                tx.verify()
                    .map_err(|e| ChainError::InvalidBlock(format!("transaction {i}: {e}")))
            })
            .collect::<Result<_, _>>()?;
        self.ledger.begin_block(BlockHeader {
            height: h.height,
            time_ms: h.time_ms,
            proposer: h.proposer,
            beacon: h.beacon,
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
