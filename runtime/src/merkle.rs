//! The state root: a Jellyfish Merkle Tree (Penumbra's `jmt`, SHA-256) over every state key.
//!
//! Tree nodes live in the same store as the state, under `t/`, and are written in the same atomic
//! batch as the block's state changes. Only the latest version is kept: nodes made stale by a
//! block are deleted with it.

use jmt::storage::{LeafNode, Node, NodeKey, TreeReader};
use jmt::{KeyHash, OwnedValue, Sha256Jmt, Version};
use sha2::Sha256;

use crate::crypto::Hash32;
use crate::error::StorageError;
use crate::overlay::Changes;
use crate::storage::{Storage, WriteBatch};

/// The Merkle root of the whole state after a block (version = height; genesis is version 0).
pub type StateRoot = Hash32;

const TREE_PREFIX: &[u8] = b"t/";

fn node_key_bytes(key: &NodeKey) -> Vec<u8> {
    let mut out = TREE_PREFIX.to_vec();
    out.extend(borsh::to_vec(key).unwrap_or_default());
    out
}

/// Reads tree nodes from the store for `jmt`.
struct TreeView<'a, S>(&'a S);

impl<S: Storage> TreeReader for TreeView<'_, S> {
    fn get_node_option(&self, node_key: &NodeKey) -> anyhow::Result<Option<Node>> {
        match self.0.get(&node_key_bytes(node_key))? {
            None => Ok(None),
            Some(bytes) => Ok(Some(borsh::from_slice(&bytes)?)),
        }
    }

    fn get_value_option(
        &self,
        _max_version: Version,
        _key_hash: KeyHash,
    ) -> anyhow::Result<Option<OwnedValue>> {
        anyhow::bail!("the state tree keeps no historical values")
    }

    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
        anyhow::bail!("the state tree does not support restore")
    }
}

fn tree_error(e: anyhow::Error) -> StorageError {
    StorageError::Tree(format!("{e:#}"))
}

/// Puts `changes` into the tree as `version`, adds the new nodes (and the deletion of stale ones)
/// to `batch`, and returns the new root.
pub(crate) fn update(
    store: &impl Storage,
    changes: &Changes,
    version: Version,
    batch: &mut WriteBatch,
) -> Result<StateRoot, StorageError> {
    let view = TreeView(store);
    let tree = Sha256Jmt::new(&view);
    let value_set = changes
        .iter()
        .map(|(key, value)| (KeyHash::with::<Sha256>(key), value.clone()));
    let (root, update) = tree.put_value_set(value_set, version).map_err(tree_error)?;
    for (key, node) in update.node_batch.nodes() {
        batch.put(node_key_bytes(key), borsh::to_vec(node).unwrap_or_default());
    }
    for stale in update.stale_node_index_batch {
        batch.delete(node_key_bytes(&stale.node_key));
    }
    Ok(root.0)
}

/// The root committed at `version`, if that version is in the store.
pub(crate) fn root_at(
    store: &impl Storage,
    version: Version,
) -> Result<Option<StateRoot>, StorageError> {
    let view = TreeView(store);
    Sha256Jmt::new(&view)
        .get_root_hash_option(version)
        .map(|root| root.map(|r| r.0))
        .map_err(tree_error)
}
