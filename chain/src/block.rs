//! Blocks: a header that chains to its parent and commits to its transactions and to the state
//! before it, and the transactions as signed wire bytes.
//!
//! * `txs_root`: Tendermint's simple Merkle root (RFC 6962, SHA-256) over the transaction hashes.
//! * `prev_state_root`: the state root after the parent block (genesis root for height 1), as in
//!   CometBFT's `app_hash`: a block's effect is committed to by the next block.
//! * `beacon`: the proposer's unique BLS signature over the height, the draw's randomness.
//! * Block hash: `SHA-256("neuroshard-block-v1" || 0 || borsh(header))`.

use borsh::{BorshDeserialize, BorshSerialize};
use neuroshard_runtime::beacon::BeaconSig;
use neuroshard_runtime::crypto::domain_hash;
use neuroshard_runtime::{Address, Hash32, SignedTransaction};

use crate::error::ChainError;

/// Largest block accepted off the wire.
pub const MAX_BLOCK_BYTES: usize = 8 * 1024 * 1024;

#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Header {
    pub chain_id: String,
    pub height: u64,
    pub time_ms: u64,
    pub proposer: Address,
    pub parent_hash: Hash32,
    pub txs_root: Hash32,
    pub prev_state_root: Hash32,
    /// The proposer's beacon signature for this height (`neuroshard_runtime::beacon`): the
    /// randomness that decides which proofs are re-executed.
    pub beacon: Option<BeaconSig>,
}

#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Block {
    pub header: Header,
    /// Signed transactions, borsh-encoded, in execution order.
    pub txs: Vec<Vec<u8>>,
}

/// Merkle root of a block's transactions (hashes as leaves).
pub fn txs_root(txs: &[Vec<u8>]) -> Hash32 {
    let hashes: Vec<Hash32> = txs.iter().map(|t| tx_hash(t)).collect();
    tendermint::merkle::simple_hash_from_byte_vectors::<sha2::Sha256>(&hashes)
}

/// The hash of a signed transaction's wire bytes (equal to `SignedTransaction::hash`).
pub fn tx_hash(wire: &[u8]) -> Hash32 {
    domain_hash(b"neuroshard-txid-v1", wire)
}

impl Header {
    pub fn hash(&self) -> Hash32 {
        domain_hash(
            b"neuroshard-block-v1",
            &borsh::to_vec(self).unwrap_or_default(),
        )
    }
}

impl Block {
    pub fn hash(&self) -> Hash32 {
        self.header.hash()
    }

    pub fn encode(&self) -> Vec<u8> {
        borsh::to_vec(self).unwrap_or_default()
    }

    /// Strict decoding with a size cap; checks that `txs_root` matches the transactions.
    pub fn decode(bytes: &[u8]) -> Result<Block, ChainError> {
        if bytes.len() > MAX_BLOCK_BYTES {
            return Err(ChainError::InvalidBlock(format!(
                "{} bytes is over the {MAX_BLOCK_BYTES}-byte limit",
                bytes.len()
            )));
        }
        let block: Block = borsh::from_slice(bytes)
            .map_err(|e| ChainError::InvalidBlock(format!("malformed: {e}")))?;
        if block.header.txs_root != txs_root(&block.txs) {
            return Err(ChainError::InvalidBlock(
                "transactions do not match txs_root".into(),
            ));
        }
        Ok(block)
    }

    /// Decodes every transaction (strictly).
    pub fn transactions(&self) -> Result<Vec<SignedTransaction>, ChainError> {
        self.txs
            .iter()
            .enumerate()
            .map(|(i, raw)| {
                SignedTransaction::decode(raw)
                    .map_err(|e| ChainError::InvalidBlock(format!("transaction {i}: {e}")))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block() -> Block {
        let txs = vec![vec![1, 2, 3], vec![4, 5]];
        Block {
            header: Header {
                chain_id: "c".into(),
                height: 1,
                time_ms: 5,
                proposer: Address::default(),
                parent_hash: [0; 32],
                txs_root: txs_root(&txs),
                prev_state_root: [9; 32],
                beacon: None,
            },
            txs,
        }
    }

    #[test]
    fn round_trip_and_root_check() {
        let b = block();
        assert_eq!(Block::decode(&b.encode()).unwrap(), b);
        let mut tampered = b.clone();
        tampered.txs[0][0] = 7;
        assert!(matches!(
            Block::decode(&tampered.encode()),
            Err(ChainError::InvalidBlock(_))
        ));
        assert!(Block::decode(&[1, 2, 3]).is_err());
        assert_ne!(b.hash(), {
            let mut c = b.clone();
            c.header.time_ms += 1;
            c.hash()
        });
        // Undecodable transactions are reported by index.
        let err = b.transactions().unwrap_err();
        assert!(err.to_string().contains("transaction 0"), "{err}");
    }
}
