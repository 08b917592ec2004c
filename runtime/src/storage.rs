//! The storage the ledger runs on: a key-value store that applies a batch of writes atomically.
//!
//! The runtime only reads single keys and hands over one [`WriteBatch`] per committed block (state
//! changes and Merkle-tree nodes together), so a store that commits the batch atomically can never
//! hold a block's state without its root. [`MemoryStorage`] is the in-memory implementation used by
//! tests and benchmarks; the node's RocksDB store implements the same trait.

use std::collections::BTreeMap;

use crate::error::StorageError;

/// Writes to apply together: `None` deletes the key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriteBatch {
    pub ops: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

impl WriteBatch {
    pub fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.ops.insert(key, Some(value));
    }

    pub fn delete(&mut self, key: Vec<u8>) {
        self.ops.insert(key, None);
    }

    pub fn len(&self) -> usize {
        self.ops.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

/// A key-value store with atomic batch writes.
pub trait Storage {
    /// The committed value of `key`.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError>;

    /// Applies every write in `batch`, all or nothing.
    fn write(&mut self, batch: WriteBatch) -> Result<(), StorageError>;
}

/// An in-memory [`Storage`]: a test double and benchmark store, never a node's database.
#[derive(Clone, Debug, Default)]
pub struct MemoryStorage {
    map: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl MemoryStorage {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every committed entry whose key starts with `prefix`, in key order.
    pub fn scan_prefix<'a>(
        &'a self,
        prefix: &'a [u8],
    ) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + 'a {
        self.map
            .range(prefix.to_vec()..)
            .take_while(move |(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.as_slice(), v.as_slice()))
    }

    /// Overwrites one raw entry, bypassing the ledger: for corruption tests only.
    pub fn put_raw(&mut self, key: &[u8], value: &[u8]) {
        self.map.insert(key.to_vec(), value.to_vec());
    }
}

impl Storage for MemoryStorage {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.map.get(key).cloned())
    }

    fn write(&mut self, batch: WriteBatch) -> Result<(), StorageError> {
        for (key, value) in batch.ops {
            match value {
                Some(v) => self.map.insert(key, v),
                None => self.map.remove(&key),
            };
        }
        Ok(())
    }
}
