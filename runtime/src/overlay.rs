//! A block's pending writes over committed storage, with a nested fork per transaction.
//!
//! Reads look in the transaction fork, then the block's writes, then storage. A transaction's
//! writes join the block only when it succeeds ([`Overlay::commit_fork`]); on failure the fork
//! is dropped and nothing it wrote remains.

use std::collections::BTreeMap;

use borsh::{BorshDeserialize, BorshSerialize};

use crate::error::StorageError;
use crate::storage::Storage;

/// Pending writes: `None` deletes.
pub type Changes = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

pub struct Overlay<'a, S: Storage> {
    store: &'a S,
    block: &'a mut Changes,
    fork: Option<Changes>,
}

/// Printable form of a key for error messages (keys are ASCII prefixes plus binary ids).
pub(crate) fn show_key(key: &[u8]) -> String {
    let split = key
        .iter()
        .position(|b| !b.is_ascii_graphic())
        .unwrap_or(key.len());
    format!(
        "{}{}",
        String::from_utf8_lossy(&key[..split]),
        hex::encode(&key[split..])
    )
}

impl<'a, S: Storage> Overlay<'a, S> {
    pub fn new(store: &'a S, block: &'a mut Changes) -> Self {
        Overlay {
            store,
            block,
            fork: None,
        }
    }

    pub fn get_raw(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        if let Some(entry) = self.fork.as_ref().and_then(|f| f.get(key)) {
            return Ok(entry.clone());
        }
        if let Some(entry) = self.block.get(key) {
            return Ok(entry.clone());
        }
        self.store.get(key)
    }

    pub fn get<T: BorshDeserialize>(&self, key: &[u8]) -> Result<Option<T>, StorageError> {
        match self.get_raw(key)? {
            None => Ok(None),
            Some(bytes) => borsh::from_slice(&bytes)
                .map(Some)
                .map_err(|e| StorageError::Corrupt {
                    key: show_key(key),
                    reason: e.to_string(),
                }),
        }
    }

    pub fn put<T: BorshSerialize>(&mut self, key: Vec<u8>, value: &T) {
        let bytes = borsh::to_vec(value).unwrap_or_default();
        self.writes().insert(key, Some(bytes));
    }

    pub fn delete(&mut self, key: Vec<u8>) {
        self.writes().insert(key, None);
    }

    fn writes(&mut self) -> &mut Changes {
        match self.fork.as_mut() {
            Some(fork) => fork,
            None => self.block,
        }
    }

    /// Starts a transaction fork; writes go there until it is committed or dropped.
    pub fn begin_fork(&mut self) {
        self.fork = Some(Changes::new());
    }

    /// Applies the fork's writes to the block.
    pub fn commit_fork(&mut self) {
        if let Some(fork) = self.fork.take() {
            self.block.extend(fork);
        }
    }

    /// Forgets the fork's writes.
    pub fn discard_fork(&mut self) {
        self.fork = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{MemoryStorage, WriteBatch};

    #[test]
    fn fork_writes_apply_only_on_commit() {
        let mut store = MemoryStorage::new();
        let mut batch = WriteBatch::default();
        batch.put(b"k".to_vec(), borsh::to_vec(&1u64).unwrap());
        store.write(batch).unwrap();
        let mut block = Changes::new();
        let mut o = Overlay::new(&store, &mut block);
        o.begin_fork();
        o.put(b"k".to_vec(), &2u64);
        assert_eq!(o.get::<u64>(b"k").unwrap(), Some(2));
        o.discard_fork();
        assert_eq!(o.get::<u64>(b"k").unwrap(), Some(1));
        o.begin_fork();
        o.put(b"k".to_vec(), &3u64);
        o.commit_fork();
        assert_eq!(o.get::<u64>(b"k").unwrap(), Some(3));
        assert!(block.contains_key(b"k".as_slice()));
    }

    #[test]
    fn undecodable_values_are_reported_as_corrupt() {
        let mut store = MemoryStorage::new();
        store.put_raw(b"s/acct/\x01\x02", &[1, 2, 3]);
        let mut block = Changes::new();
        let o = Overlay::new(&store, &mut block);
        let err = o.get::<u64>(b"s/acct/\x01\x02").unwrap_err();
        assert!(
            matches!(err, StorageError::Corrupt { ref key, .. } if key == "s/acct/0102"),
            "{err}"
        );
    }
}
