//! Training data: content-addressed shards, a manifest, reproducible batches, and a synthetic
//! corpus whose entropy is known exactly.
//!
//! A batch is named by [`BatchId`] `(shard hash, offset, seed)`: the sequence starts are drawn from
//! ChaCha8 seeded with `SHA-256(seed ‖ offset)`, so any node holding the shard recomputes exactly
//! the same batch.

use std::path::Path;

use borsh::{BorshDeserialize, BorshSerialize};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::ComputeError;
use crate::tokenizer;

/// A content hash (SHA-256).
pub type ShardHash = [u8; 32];

/// One data shard: bytes and their hash.
#[derive(Clone, Debug)]
pub struct Shard {
    pub name: String,
    pub hash: ShardHash,
    pub bytes: Vec<u8>,
}

impl Shard {
    pub fn new(name: impl Into<String>, bytes: Vec<u8>) -> Shard {
        let hash = Sha256::digest(&bytes).into();
        Shard {
            name: name.into(),
            hash,
            bytes,
        }
    }
}

/// The corpus as the network pins and serves it: each shard's BLAKE3 hash (the name of the blob
/// that carries it between peers) and length, in the dataset's order. Genesis pins the BLAKE3
/// hash of its encoding ([`CorpusManifest::hash`], `training.corpus`), so a node that lacks the
/// corpus fetches the manifest by that hash and then each shard by the hash the manifest names,
/// and every byte it gets is checked against the pin.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct CorpusManifest {
    pub shards: Vec<ShardRef>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct ShardRef {
    pub blake3: [u8; 32],
    pub len: u64,
}

impl CorpusManifest {
    /// Most shards a manifest may list, and so the most bytes its encoding takes
    /// ([`CorpusManifest::MAX_BYTES`]): a peer's manifest cannot make a node allocate more.
    pub const MAX_SHARDS: usize = 100_000;
    pub const MAX_BYTES: u64 = 4 + 40 * Self::MAX_SHARDS as u64;

    pub fn of(dataset: &Dataset) -> CorpusManifest {
        CorpusManifest {
            shards: dataset
                .shards
                .iter()
                .map(|s| ShardRef {
                    blake3: *blake3::hash(&s.bytes).as_bytes(),
                    len: s.bytes.len() as u64,
                })
                .collect(),
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        borsh::to_vec(self).unwrap_or_default()
    }

    /// Decodes a manifest a peer served; at most [`CorpusManifest::MAX_SHARDS`] shards, no
    /// trailing bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<CorpusManifest, ComputeError> {
        if bytes.len() as u64 > Self::MAX_BYTES {
            return Err(ComputeError::Data(format!(
                "a corpus manifest of {} bytes is over the {} a manifest may take",
                bytes.len(),
                Self::MAX_BYTES
            )));
        }
        let m: CorpusManifest = borsh::from_slice(bytes)
            .map_err(|e| ComputeError::Data(format!("not a corpus manifest: {e}")))?;
        if m.shards.is_empty() {
            return Err(ComputeError::Data("a corpus manifest with no shard".into()));
        }
        Ok(m)
    }

    /// The corpus's pin: the BLAKE3 hash of the manifest's encoding (its blob's name).
    pub fn hash(&self) -> [u8; 32] {
        *blake3::hash(&self.to_bytes()).as_bytes()
    }

    /// Bytes of every shard together.
    pub fn total_len(&self) -> u64 {
        self.shards
            .iter()
            .map(|s| s.len)
            .fold(0, u64::saturating_add)
    }

    /// The dataset made of `shards` (their bytes, in the manifest's order), each checked
    /// against the hash and length the manifest gives it.
    pub fn dataset(&self, shards: Vec<Vec<u8>>) -> Result<Dataset, ComputeError> {
        if shards.len() != self.shards.len() {
            return Err(ComputeError::Data(format!(
                "{} shards for a manifest of {}",
                shards.len(),
                self.shards.len()
            )));
        }
        let mut out = Vec::with_capacity(shards.len());
        for (want, bytes) in self.shards.iter().zip(shards) {
            if bytes.len() as u64 != want.len || *blake3::hash(&bytes).as_bytes() != want.blake3 {
                return Err(ComputeError::Data(format!(
                    "shard {} does not match the corpus manifest",
                    hex::encode(want.blake3)
                )));
            }
            out.push(Shard::new(hex::encode(want.blake3), bytes));
        }
        Ok(Dataset { shards: out })
    }
}

/// A set of shards, looked up by hash.
#[derive(Clone, Debug, Default)]
pub struct Dataset {
    pub shards: Vec<Shard>,
}

impl Dataset {
    /// Every UTF-8 text file under `path` (a file or a directory, recursively) as one shard each.
    pub fn from_path(path: &Path) -> Result<Dataset, ComputeError> {
        let mut files = Vec::new();
        collect_files(path, &mut files)?;
        files.sort();
        let mut shards = Vec::new();
        for file in files {
            let bytes = std::fs::read(&file).map_err(|e| ComputeError::io(&file, e))?;
            if std::str::from_utf8(&bytes).is_err() {
                tracing::warn!(file = %file.display(), "skipping a file that is not UTF-8 text");
                continue;
            }
            shards.push(Shard::new(file.display().to_string(), bytes));
        }
        if shards.is_empty() {
            return Err(ComputeError::Data(format!(
                "no UTF-8 text files under {}",
                path.display()
            )));
        }
        Ok(Dataset { shards })
    }

    pub fn manifest(&self) -> CorpusManifest {
        CorpusManifest::of(self)
    }

    pub fn shard(&self, hash: &ShardHash) -> Option<&Shard> {
        self.shards.iter().find(|s| &s.hash == hash)
    }

    /// Tokens of the batch `id`: `batch_size` rows of `seq_len + 1` tokens (inputs and targets).
    pub fn batch(
        &self,
        id: &BatchId,
        batch_size: usize,
        seq_len: usize,
    ) -> Result<Batch, ComputeError> {
        let shard = self.shard(&id.shard).ok_or_else(|| {
            ComputeError::Data(format!("unknown shard {}", hex::encode(id.shard)))
        })?;
        let need = seq_len + 1;
        if shard.bytes.len() < need {
            return Err(ComputeError::Data(format!(
                "shard {} has {} bytes, fewer than one sequence of {need}",
                shard.name,
                shard.bytes.len()
            )));
        }
        let mut seed = Sha256::new();
        seed.update(id.seed.to_le_bytes());
        seed.update(id.offset.to_le_bytes());
        let mut rng = ChaCha8Rng::from_seed(seed.finalize().into());
        let mut tokens = Vec::with_capacity(batch_size * need);
        for _ in 0..batch_size {
            let start = rng.gen_range(0..=shard.bytes.len() - need);
            tokens.extend(tokenizer::encode(&shard.bytes[start..start + need]));
        }
        Ok(Batch {
            id: *id,
            rows: batch_size,
            cols: need,
            tokens,
        })
    }
}

fn collect_files(path: &Path, out: &mut Vec<std::path::PathBuf>) -> Result<(), ComputeError> {
    let meta = std::fs::metadata(path).map_err(|e| ComputeError::io(path, e))?;
    if meta.is_file() {
        out.push(path.to_path_buf());
        return Ok(());
    }
    for entry in std::fs::read_dir(path).map_err(|e| ComputeError::io(path, e))? {
        let entry = entry.map_err(|e| ComputeError::io(path, e))?;
        collect_files(&entry.path(), out)?;
    }
    Ok(())
}

/// Names one batch reproducibly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BatchId {
    pub shard: ShardHash,
    pub offset: u64,
    pub seed: u64,
}

/// Token rows of one batch, row-major: `rows × cols`, where `cols = seq_len + 1`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Batch {
    pub id: BatchId,
    pub rows: usize,
    pub cols: usize,
    pub tokens: Vec<i64>,
}

impl Batch {
    /// Tokens predicted by this batch (`rows × seq_len`).
    pub fn predicted_tokens(&self) -> u64 {
        (self.rows * (self.cols - 1)) as u64
    }
}

/// A first-order Markov source over 16 letters: each letter is followed by one of 4 successors with
/// probabilities 0.4, 0.3, 0.2, 0.1. Every row has the same entropy, so the best possible
/// next-token loss is exactly [`SyntheticCorpus::ENTROPY_NATS`] whatever the letter frequencies.
pub struct SyntheticCorpus {
    successors: [[u8; 4]; 16],
}

impl SyntheticCorpus {
    const PROBS: [f64; 4] = [0.4, 0.3, 0.2, 0.1];
    /// `-Σ p ln p` for the successor probabilities: the loss floor in nats per token.
    pub const ENTROPY_NATS: f64 = 1.279_854_225_833_667_4;

    pub fn new(seed: u64) -> SyntheticCorpus {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut successors = [[0u8; 4]; 16];
        for row in successors.iter_mut() {
            let mut letters: Vec<u8> = (0..16).collect();
            for (i, slot) in row.iter_mut().enumerate() {
                let j = rng.gen_range(i..16);
                letters.swap(i, j);
                *slot = b'a' + letters[i];
            }
        }
        SyntheticCorpus { successors }
    }

    /// `len` bytes of text from the source, reproducible from `seed`.
    pub fn generate(&self, len: usize, seed: u64) -> Vec<u8> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut out = Vec::with_capacity(len);
        let mut state = 0usize;
        for _ in 0..len {
            let x: f64 = rng.gen();
            let mut acc = 0.0;
            let mut pick = 3;
            for (k, p) in Self::PROBS.iter().enumerate() {
                acc += p;
                if x < acc {
                    pick = k;
                    break;
                }
            }
            let next = self.successors[state][pick];
            out.push(next);
            state = usize::from(next - b'a');
        }
        out
    }

    /// A dataset of `shards` synthetic shards of `len` bytes each.
    pub fn dataset(&self, shards: usize, len: usize) -> Dataset {
        Dataset {
            shards: (0..shards)
                .map(|i| Shard::new(format!("synthetic-{i}"), self.generate(len, i as u64)))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entropy_constant_matches_the_probabilities() {
        let h: f64 = SyntheticCorpus::PROBS.iter().map(|p| -p * p.ln()).sum();
        assert!((h - SyntheticCorpus::ENTROPY_NATS).abs() < 1e-12);
    }

    #[test]
    fn batches_are_reproducible_from_their_id() {
        let data = SyntheticCorpus::new(7).dataset(2, 4_096);
        let id = BatchId {
            shard: data.shards[1].hash,
            offset: 3,
            seed: 99,
        };
        let a = data.batch(&id, 4, 16).unwrap();
        let b = data.batch(&id, 4, 16).unwrap();
        assert_eq!(a, b);
        let other = data.batch(&BatchId { offset: 4, ..id }, 4, 16).unwrap();
        assert_ne!(a.tokens, other.tokens);
        assert_eq!(a.tokens.len(), 4 * 17);
        assert!(data
            .batch(
                &BatchId {
                    shard: [0; 32],
                    ..id
                },
                4,
                16
            )
            .is_err());
    }

    #[test]
    fn text_files_become_shards_with_a_manifest() {
        let dir = std::env::temp_dir().join(format!("ns-data-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("a.txt"), "hello world").unwrap();
        std::fs::write(dir.join("sub/b.txt"), "more text").unwrap();
        std::fs::write(dir.join("bin.dat"), [0xff, 0xfe, 0x00]).unwrap();
        let data = Dataset::from_path(&dir).unwrap();
        assert_eq!(data.shards.len(), 2);
        assert_eq!(
            data.shards[0].hash,
            <[u8; 32]>::from(Sha256::digest(b"hello world"))
        );
        let m = data.manifest();
        assert_eq!(m.shards[0].blake3, *blake3::hash(b"hello world").as_bytes());
        assert_eq!(m.shards[0].len, 11);
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(Dataset::from_path(&dir).is_err());
    }

    /// What a peer serves is checked: the manifest decodes only within its bounds and rebuilds
    /// the same dataset (same pin) from the right bytes, and refuses a changed shard.
    #[test]
    fn a_corpus_travels_as_a_manifest_and_its_shards_and_every_byte_is_checked() {
        let data = SyntheticCorpus::new(0).dataset(3, 1 << 12);
        let m = data.manifest();
        let bytes = m.to_bytes();
        let back = CorpusManifest::from_bytes(&bytes).unwrap();
        assert_eq!(back, m);
        assert_eq!(back.hash(), *blake3::hash(&bytes).as_bytes());
        let shards: Vec<Vec<u8>> = data.shards.iter().map(|s| s.bytes.clone()).collect();
        let rebuilt = back.dataset(shards.clone()).unwrap();
        assert_eq!(CorpusManifest::of(&rebuilt).hash(), m.hash());
        assert_eq!(
            rebuilt.shards.iter().map(|s| s.hash).collect::<Vec<_>>(),
            data.shards.iter().map(|s| s.hash).collect::<Vec<_>>()
        );
        let mut bad = shards.clone();
        bad[1][0] ^= 1;
        assert!(back.dataset(bad).is_err());
        assert!(back.dataset(shards[..2].to_vec()).is_err());
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(CorpusManifest::from_bytes(&trailing).is_err());
        assert!(CorpusManifest::from_bytes(&[0xff; 8]).is_err());
        let empty = CorpusManifest { shards: vec![] }.to_bytes();
        assert!(CorpusManifest::from_bytes(&empty).is_err());
    }
}
