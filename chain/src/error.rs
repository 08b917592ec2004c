//! Errors of the node.

use neuroshard_runtime::{BlockError, StorageError, TxError};

#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    #[error("database at {path}: {reason}")]
    Database { path: String, reason: String },
    #[error(
        "data directory {path} belongs to chain {found:?}, not {expected:?}; use another --home"
    )]
    ForeignDataDir {
        path: String,
        expected: String,
        found: String,
    },
    #[error("data directory {path} is corrupt: {reason}")]
    Corrupt { path: String, reason: String },
    #[error("invalid block: {0}")]
    InvalidBlock(String),
    #[error("block {height} does not follow the last committed block {last}")]
    UnexpectedHeight { last: u64, height: u64 },
    #[error(transparent)]
    Ledger(#[from] BlockError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("transaction refused: {0}")]
    Tx(#[from] TxError),
}
