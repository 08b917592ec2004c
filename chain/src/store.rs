//! The node's database: RocksDB with one column family per kind of data.
//!
//! | column family | key | value |
//! | --- | --- | --- |
//! | `state` | runtime keys (`s/…` state, `t/…` Merkle nodes) | borsh records |
//! | `blocks` | height (big-endian u64) | borsh [`Block`] |
//! | `index` | `h/` + block hash → height; `x/` + tx hash → (height, position) | borsh |
//! | `meta` | `schema`, `chain`, `last` | identity of the data dir, last block height |
//! | `index` | `r/` + tx hash | the transaction's [`StoredReceipt`] |
//! | `index` | `a/` + address + height + position | tx hash: every transaction touching the account |
//! | `index` | `w/` + wallet (or `n/` + node) + height + position | tx hash of an accepted proof |
//! | `meta` | `c/` + height | the block's commit certificate (what value sync serves) |
//! | `meta` | `p/` + height + round | a block this node proposed and has not yet seen decided |
//!
//! A block is staged with [`RocksStore::stage_block`] and written by the ledger's `commit`, in the
//! same synced `WriteBatch` as the state it produces: after a crash at any instant the store holds
//! either the block and its state or neither.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use borsh::{BorshDeserialize, BorshSerialize};
use neuroshard_runtime::{Hash32, Storage, StorageError, WriteBatch};
use rocksdb::{ColumnFamilyDescriptor, Options, WriteOptions, DB};

use crate::block::{tx_hash, Block};
use crate::error::ChainError;

/// v2: training rounds close by attestation (round records, training state and events changed).
/// v3: round results name the blobs of their model and momentum.
/// v4: the reward bond and covered pay (accounts, proofs, supply, training state and parameters
/// changed).
/// v5: the draw beacon (block headers carry beacon signatures; validator records beacon keys;
/// the training state a draw window).
/// v6: genesis pins the training corpus (parameters changed).
/// v7: diminishing returns are the network's (accounts lost their reward window; a reward curve
/// record joined the state); newcomer claims (proof records and the training state changed).
/// v8: segment chains (proofs name their start and end inner states; proof and node records
/// changed).
/// v9: shared replay (a drawn proof's record names its replayers).
/// v10: the data reward (proofs name their data server; proof records its share and wallet).
/// v11: uptime by liveness answers (proof records their uptime).
/// v12: NeuroDAO (proposals, votes, the genesis parameters kept beside the ones in force).
const SCHEMA: &[u8] = b"neuroshard-store-v12";
const CF_STATE: &str = "state";
const CF_BLOCKS: &str = "blocks";
const CF_INDEX: &str = "index";
const CF_META: &str = "meta";
const COLUMN_FAMILIES: [&str; 4] = [CF_STATE, CF_BLOCKS, CF_INDEX, CF_META];

/// Which chain a data directory belongs to.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct ChainIdentity {
    pub chain_id: String,
    pub genesis_root: Hash32,
}

/// A transaction's receipt as stored for the explorer.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct StoredReceipt {
    pub height: u64,
    pub position: u32,
    pub sender: neuroshard_runtime::Address,
    pub fee: neuroshard_runtime::Amount,
    /// `None` if the body took effect; otherwise why it failed (the fee was still paid).
    pub error: Option<String>,
    pub events: Vec<neuroshard_runtime::Event>,
}

/// A position in the chain, newest first in history listings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cursor {
    pub height: u64,
    pub position: u32,
}

/// Where a transaction was included.
#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct TxLocation {
    pub height: u64,
    pub position: u32,
}

struct Staged {
    cf: &'static str,
    key: Vec<u8>,
    value: Vec<u8>,
}

pub struct RocksStore {
    db: DB,
    path: PathBuf,
    staged: Mutex<Vec<Staged>>,
}

fn db_error(path: &Path, e: rocksdb::Error) -> ChainError {
    let reason = e.to_string();
    if reason.contains("Corruption") {
        ChainError::Corrupt {
            path: path.display().to_string(),
            reason,
        }
    } else {
        ChainError::Database {
            path: path.display().to_string(),
            reason,
        }
    }
}

fn storage_error(e: rocksdb::Error) -> StorageError {
    StorageError::Backend(e.to_string())
}

fn io_error(path: &Path, e: std::io::Error) -> ChainError {
    ChainError::Database {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

/// Builds an empty database with its schema in `<path>.new`, then renames it to `path`.
fn create(path: &Path) -> Result<(), ChainError> {
    let mut staging = path.as_os_str().to_owned();
    staging.push(".new");
    let staging = PathBuf::from(staging);
    if staging.exists() {
        // An earlier first start stopped half-way: nothing in it was ever committed.
        std::fs::remove_dir_all(&staging).map_err(|e| io_error(&staging, e))?;
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| io_error(parent, e))?;
    }
    {
        let store = RocksStore::open_families(&staging, true)?;
        store.put_sync(CF_META, b"schema", SCHEMA)?;
    }
    std::fs::rename(&staging, path).map_err(|e| io_error(path, e))?;
    if let Some(parent) = path.parent() {
        // The rename is durable once the parent directory is.
        if let Ok(dir) = std::fs::File::open(parent) {
            let _ = dir.sync_all();
        }
    }
    Ok(())
}

impl RocksStore {
    /// Opens (or creates) the database in `path`. A directory that holds something other than a
    /// NeuroShard database is refused, never overwritten.
    ///
    /// A new database is built beside `path` (in `<path>.new`) and renamed into place once it
    /// holds its schema, so `path` is either absent or a complete database: a first start that
    /// was interrupted leaves only the staging directory, which the next start discards. The
    /// caller owns the home (see `Home::lock`), so nobody else is building it at the same time.
    pub fn open(path: &Path) -> Result<RocksStore, ChainError> {
        let shown = path.display().to_string();
        let empty = std::fs::read_dir(path).is_ok_and(|mut d| d.next().is_none());
        if empty {
            std::fs::remove_dir(path).map_err(|e| io_error(path, e))?;
        }
        if !path.exists() {
            create(path)?;
        }
        if !path.join("CURRENT").exists() {
            return Err(ChainError::ForeignDataDir {
                path: shown,
                expected: "a NeuroShard database".into(),
                found: "files that are not a RocksDB database".into(),
            });
        }
        let opts = Options::default();
        let families = DB::list_cf(&opts, path).map_err(|e| db_error(path, e))?;
        if !families.iter().any(|f| f == CF_META) {
            return Err(ChainError::ForeignDataDir {
                path: shown,
                expected: "a NeuroShard database".into(),
                found: format!("a RocksDB database with column families {families:?}"),
            });
        }
        let store = RocksStore::open_families(path, false)?;
        match store.get_cf(CF_META, b"schema")? {
            Some(s) if s == SCHEMA => Ok(store),
            Some(s) if s.starts_with(b"neuroshard-store-v") => Err(ChainError::Corrupt {
                path: shown,
                reason: format!(
                    "written by another NeuroShard version ({}; this one reads {}): move the \
                     data directory away and let the node sync the chain again",
                    String::from_utf8_lossy(&s),
                    String::from_utf8_lossy(SCHEMA)
                ),
            }),
            other => Err(ChainError::Corrupt {
                path: shown,
                reason: format!(
                    "unknown schema {:?}",
                    other.map(|s| String::from_utf8_lossy(&s).into_owned())
                ),
            }),
        }
    }

    fn open_families(path: &Path, create: bool) -> Result<RocksStore, ChainError> {
        let mut opts = Options::default();
        opts.create_if_missing(create);
        opts.create_missing_column_families(create);
        let cfs = COLUMN_FAMILIES.map(|name| ColumnFamilyDescriptor::new(name, Options::default()));
        let db = DB::open_cf_descriptors(&opts, path, cfs).map_err(|e| db_error(path, e))?;
        Ok(RocksStore {
            db,
            path: path.to_path_buf(),
            staged: Mutex::new(Vec::new()),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn cf(&self, name: &str) -> Result<&rocksdb::ColumnFamily, StorageError> {
        self.db
            .cf_handle(name)
            .ok_or_else(|| StorageError::Backend(format!("column family {name} is missing")))
    }

    fn get_cf(&self, cf: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        self.db.get_cf(self.cf(cf)?, key).map_err(storage_error)
    }

    fn put_sync(&self, cf: &str, key: &[u8], value: &[u8]) -> Result<(), ChainError> {
        let mut wo = WriteOptions::default();
        wo.set_sync(true);
        self.db
            .put_cf_opt(self.cf(cf)?, key, value, &wo)
            .map_err(|e| db_error(&self.path, e))
    }

    fn decode<T: BorshDeserialize>(&self, key: &[u8], bytes: &[u8]) -> Result<T, StorageError> {
        borsh::from_slice(bytes).map_err(|e| StorageError::Corrupt {
            key: hex::encode(key),
            reason: e.to_string(),
        })
    }

    /// Binds the directory to one chain on first use; afterwards refuses any other chain.
    pub fn check_identity(&self, identity: &ChainIdentity) -> Result<(), ChainError> {
        match self.get_cf(CF_META, b"chain")? {
            None => self.put_sync(
                CF_META,
                b"chain",
                &borsh::to_vec(identity).unwrap_or_default(),
            ),
            Some(bytes) => {
                let found: ChainIdentity = self.decode(b"chain", &bytes)?;
                if &found != identity {
                    return Err(ChainError::ForeignDataDir {
                        path: self.path.display().to_string(),
                        expected: format!(
                            "{} (genesis root {})",
                            identity.chain_id,
                            hex::encode(identity.genesis_root)
                        ),
                        found: format!(
                            "{} (genesis root {})",
                            found.chain_id,
                            hex::encode(found.genesis_root)
                        ),
                    });
                }
                Ok(())
            }
        }
    }

    /// Queues `block` (and its indexes) to be written by the next state commit.
    pub fn stage_block(&self, block: &Block) {
        let height = block.header.height;
        let mut staged = self.staged.lock().unwrap_or_else(|p| p.into_inner());
        staged.push(Staged {
            cf: CF_BLOCKS,
            key: height.to_be_bytes().to_vec(),
            value: block.encode(),
        });
        staged.push(Staged {
            cf: CF_INDEX,
            key: [b"h/".as_slice(), &block.hash()].concat(),
            value: height.to_be_bytes().to_vec(),
        });
        for (position, raw) in block.txs.iter().enumerate() {
            let at = TxLocation {
                height,
                position: position as u32,
            };
            let hash = tx_hash(raw);
            staged.push(Staged {
                cf: CF_INDEX,
                key: [b"x/".as_slice(), &hash].concat(),
                value: borsh::to_vec(&at).unwrap_or_default(),
            });
            // The transaction on its own, so that one lookup (a history item, a receipt) reads
            // its bytes instead of decoding the whole block it sits in.
            staged.push(Staged {
                cf: CF_INDEX,
                key: [b"t/".as_slice(), &hash].concat(),
                value: raw.clone(),
            });
        }
        staged.push(Staged {
            cf: CF_META,
            key: b"last".to_vec(),
            value: height.to_be_bytes().to_vec(),
        });
    }

    /// Queues the supply counters as they stood after the block at `height` (and that block's
    /// time) for the explorer's supply history. Written with the *next* block, so the entry is
    /// in the same atomic batch as a block and no crash leaves a gap.
    pub fn stage_supply(
        &self,
        height: u64,
        time_ms: u64,
        supply: &neuroshard_runtime::state::Supply,
    ) {
        let mut staged = self.staged.lock().unwrap_or_else(|p| p.into_inner());
        staged.push(Staged {
            cf: CF_INDEX,
            key: [b"s/".as_slice(), &height.to_be_bytes()].concat(),
            value: borsh::to_vec(&(time_ms, *supply)).unwrap_or_default(),
        });
    }

    /// The supply after the block at `height` and that block's time, for every height below the
    /// last committed one (the last one's supply is the ledger's current state).
    pub fn supply_at(
        &self,
        height: u64,
    ) -> Result<Option<(u64, neuroshard_runtime::state::Supply)>, StorageError> {
        let key = [b"s/".as_slice(), &height.to_be_bytes()].concat();
        match self.get_cf(CF_INDEX, &key)? {
            None => Ok(None),
            Some(bytes) => self.decode(&key, &bytes).map(Some),
        }
    }

    /// Queues the receipts of the block at `height` and the explorer's indexes over them.
    pub fn stage_receipts(&self, height: u64, receipts: &[neuroshard_runtime::Receipt]) {
        let mut staged = self.staged.lock().unwrap_or_else(|p| p.into_inner());
        for (position, r) in receipts.iter().enumerate() {
            let position = position as u32;
            let stored = StoredReceipt {
                height,
                position,
                sender: r.sender,
                fee: r.fee,
                error: r.result.as_ref().err().map(|e| e.to_string()),
                events: r.events.clone(),
            };
            staged.push(Staged {
                cf: CF_INDEX,
                key: [b"r/".as_slice(), &r.tx_hash].concat(),
                value: borsh::to_vec(&stored).unwrap_or_default(),
            });
            let at = [height.to_be_bytes().as_slice(), &position.to_be_bytes()].concat();
            let mut accounts: Vec<neuroshard_runtime::Address> = vec![r.sender];
            for e in &r.events {
                accounts.extend(e.accounts());
                if let neuroshard_runtime::Event::ProofAccepted { wallet, node, .. } = e {
                    for (tag, who) in [(b"w/", wallet), (b"n/", node)] {
                        staged.push(Staged {
                            cf: CF_INDEX,
                            key: [tag.as_slice(), &who.0, &at].concat(),
                            value: r.tx_hash.to_vec(),
                        });
                    }
                }
            }
            accounts.sort();
            accounts.dedup();
            for a in accounts {
                staged.push(Staged {
                    cf: CF_INDEX,
                    key: [b"a/".as_slice(), &a.0, &at].concat(),
                    value: r.tx_hash.to_vec(),
                });
            }
        }
    }

    pub fn receipt(&self, tx_hash: &Hash32) -> Result<Option<StoredReceipt>, StorageError> {
        let key = [b"r/".as_slice(), tx_hash].concat();
        match self.get_cf(CF_INDEX, &key)? {
            None => Ok(None),
            Some(bytes) => self.decode(&key, &bytes).map(Some),
        }
    }

    /// Newest-first transaction hashes under an index (`kind` is `b'a'`, `b'w'` or `b'n'`) for
    /// `address`, strictly before `before` if given, at most `limit`.
    pub fn history(
        &self,
        kind: u8,
        address: &neuroshard_runtime::Address,
        before: Option<Cursor>,
        limit: usize,
    ) -> Result<Vec<(Cursor, Hash32)>, StorageError> {
        let prefix = [[kind, b'/'].as_slice(), &address.0].concat();
        let upper = match before {
            Some(c) => [
                prefix.as_slice(),
                &c.height.to_be_bytes(),
                &c.position.to_be_bytes(),
            ]
            .concat(),
            None => [prefix.as_slice(), &[0xFF; 12]].concat(),
        };
        let cf = self.cf(CF_INDEX)?;
        let mode = rocksdb::IteratorMode::From(&upper, rocksdb::Direction::Reverse);
        let mut out = Vec::new();
        for item in self.db.iterator_cf(cf, mode) {
            let (key, value) = item.map_err(storage_error)?;
            if !key.starts_with(&prefix) || out.len() >= limit {
                break;
            }
            if key.as_ref() >= upper.as_slice() {
                continue; // `From` in reverse starts at the key itself when it exists
            }
            let rest = &key[prefix.len()..];
            let (Ok(h), Ok(p), Ok(hash)) = (
                <[u8; 8]>::try_from(&rest[..8.min(rest.len())]),
                <[u8; 4]>::try_from(&rest[8.min(rest.len())..]),
                <[u8; 32]>::try_from(value.as_ref()),
            ) else {
                return Err(StorageError::Corrupt {
                    key: String::from_utf8_lossy(&key).into_owned(),
                    reason: "bad history entry".into(),
                });
            };
            out.push((
                Cursor {
                    height: u64::from_be_bytes(h),
                    position: u32::from_be_bytes(p),
                },
                hash,
            ));
        }
        Ok(out)
    }

    /// Queues the commit certificate of the block at `height` with the next state commit.
    pub fn stage_certificate(&self, height: u64, certificate: Vec<u8>) {
        let mut staged = self.staged.lock().unwrap_or_else(|p| p.into_inner());
        staged.push(Staged {
            cf: CF_META,
            key: [b"c/".as_slice(), &height.to_be_bytes()].concat(),
            value: certificate,
        });
    }

    /// The stored commit certificate of the block at `height` (encoded).
    pub fn certificate(&self, height: u64) -> Result<Option<Vec<u8>>, StorageError> {
        self.get_cf(CF_META, &[b"c/".as_slice(), &height.to_be_bytes()].concat())
    }

    fn proposal_key(height: u64, round: u32) -> Vec<u8> {
        [
            b"p/".as_slice(),
            &height.to_be_bytes(),
            &round.to_be_bytes(),
        ]
        .concat()
    }

    /// Remembers, durably, the block this node proposed at (`height`, `round`): after a crash it
    /// must propose the very same block again, never a second one.
    pub fn put_own_proposal(
        &self,
        height: u64,
        round: u32,
        block: &Block,
    ) -> Result<(), StorageError> {
        let mut wo = WriteOptions::default();
        wo.set_sync(true);
        self.db
            .put_cf_opt(
                self.cf(CF_META)?,
                Self::proposal_key(height, round),
                block.encode(),
                &wo,
            )
            .map_err(storage_error)
    }

    /// The block this node proposed at (`height`, `round`), if any.
    pub fn own_proposal(&self, height: u64, round: u32) -> Result<Option<Block>, StorageError> {
        let key = Self::proposal_key(height, round);
        match self.get_cf(CF_META, &key)? {
            None => Ok(None),
            Some(bytes) => self.decode(&key, &bytes).map(Some),
        }
    }

    /// Forgets own proposals at heights up to `height` (decided, one way or another).
    pub fn prune_own_proposals(&self, height: u64) -> Result<(), StorageError> {
        let from = Self::proposal_key(0, 0);
        let to = Self::proposal_key(height.saturating_add(1), 0);
        self.db
            .delete_range_cf(self.cf(CF_META)?, from, to)
            .map_err(storage_error)
    }

    /// Height of the last block written (0 before the first).
    pub fn last_height(&self) -> Result<u64, StorageError> {
        match self.get_cf(CF_META, b"last")? {
            None => Ok(0),
            Some(b) => b
                .try_into()
                .map(u64::from_be_bytes)
                .map_err(|_| StorageError::Corrupt {
                    key: "meta/last".into(),
                    reason: "not 8 bytes".into(),
                }),
        }
    }

    pub fn block(&self, height: u64) -> Result<Option<Block>, StorageError> {
        let key = height.to_be_bytes();
        match self.get_cf(CF_BLOCKS, &key)? {
            None => Ok(None),
            Some(bytes) => self.decode(&key, &bytes).map(Some),
        }
    }

    pub fn block_height_by_hash(&self, hash: &Hash32) -> Result<Option<u64>, StorageError> {
        let key = [b"h/".as_slice(), hash].concat();
        Ok(self
            .get_cf(CF_INDEX, &key)?
            .and_then(|b| b.try_into().ok().map(u64::from_be_bytes)))
    }

    /// The wire bytes of committed transaction `hash`: one read of its own entry (a store
    /// written before that entry existed falls back to its block).
    pub fn transaction(&self, hash: &Hash32) -> Result<Option<Vec<u8>>, StorageError> {
        if let Some(raw) = self.get_cf(CF_INDEX, &[b"t/".as_slice(), hash].concat())? {
            return Ok(Some(raw));
        }
        let Some(at) = self.tx_location(hash)? else {
            return Ok(None);
        };
        Ok(self
            .block(at.height)?
            .and_then(|b| b.txs.into_iter().nth(at.position as usize)))
    }

    pub fn tx_location(&self, hash: &Hash32) -> Result<Option<TxLocation>, StorageError> {
        let key = [b"x/".as_slice(), hash].concat();
        match self.get_cf(CF_INDEX, &key)? {
            None => Ok(None),
            Some(bytes) => self.decode(&key, &bytes).map(Some),
        }
    }
}

impl Storage for RocksStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        self.get_cf(CF_STATE, key)
    }

    /// Writes the state batch and every staged block write in one synced RocksDB batch.
    fn write(&mut self, batch: WriteBatch) -> Result<(), StorageError> {
        let mut rocks = rocksdb::WriteBatch::default();
        let state = self.cf(CF_STATE)?;
        for (key, value) in &batch.ops {
            match value {
                Some(v) => rocks.put_cf(state, key, v),
                None => rocks.delete_cf(state, key),
            }
        }
        let staged = std::mem::take(&mut *self.staged.lock().unwrap_or_else(|p| p.into_inner()));
        for s in &staged {
            rocks.put_cf(self.cf(s.cf)?, &s.key, &s.value);
        }
        let mut wo = WriteOptions::default();
        wo.set_sync(true);
        self.db.write_opt(rocks, &wo).map_err(storage_error)
    }
}
