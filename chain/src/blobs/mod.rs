//! Content-addressed blobs between peers: model weights, outer momentum and pseudo-gradients
//! travel as blobs named by their BLAKE3 hash, fetched from any peer that holds them over
//! libp2p request-response (`/neuroshard/blobs/2`, on the node's gossip swarm) and verified piece
//! by piece with `bao-tree`'s verified streaming before a byte is written.
//!
//! * [`store`]: the blobs a node holds, on disk under `Home::blobs()`, with a byte cap; downloads
//!   in progress survive a restart.
//! * [`wire`]: the protocol's messages, their size caps and the piece layout.
//! * [`node`]: a swarm that runs the blob protocol alone (benchmarks, tests, tools).
//! * [`net`]: serving (bounded, per peer and in all) and fetching (several pieces at once over
//!   the connected peers; a peer whose piece does not verify is not asked again).

pub mod net;
pub mod node;
pub mod store;
pub mod wire;

pub use net::{BlobClient, FetchProgress, PendingBlob};
pub use node::BlobNode;
pub use store::BlobStore;

/// A blob's name: the BLAKE3 hash of its bytes.
pub type BlobHash = [u8; 32];

/// The BLAKE3 hash of `bytes`: the name a blob of them has.
pub fn blob_hash(bytes: &[u8]) -> BlobHash {
    *blake3::hash(bytes).as_bytes()
}

#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum BlobError {
    #[error("{path}: {message}")]
    Io { path: String, message: String },
    #[error("blob data does not verify: {0}")]
    Corrupt(String),
    #[error("the blob store is full: {used} bytes held, {more} more would pass the cap of {max}")]
    Full { used: u64, more: u64, max: u64 },
    #[error("no connected peer serves the blob ({asked} asked)")]
    Unavailable { asked: usize },
    #[error("too many blob fetches at once: try again")]
    Busy,
    #[error("the blob fetch did not finish in time")]
    TimedOut,
    #[error("the node is stopping")]
    Stopped,
    #[error("blob network: {0}")]
    Network(String),
}

impl BlobError {
    pub(crate) fn io(path: &std::path::Path, e: std::io::Error) -> BlobError {
        BlobError::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        }
    }
}

#[cfg(test)]
mod tests;
