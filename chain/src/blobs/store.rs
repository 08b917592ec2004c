//! Blobs on disk: `<hex hash>.data` with its BLAKE3 outboard `<hex hash>.obao` (the tree's hash
//! pairs, 64 bytes per 16 KiB), under a byte cap. Downloads in progress are `<hex>.partial`, with
//! the pieces verified so far in `<hex>.have`, so that a download survives a restart.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use bao_tree::io::outboard::PreOrderMemOutboard;
use bao_tree::io::sync::{encode_ranges_validated, DecodeResponseIter, WriteAt};
use bao_tree::io::{BaoContentItem, Leaf};
use bao_tree::BaoTree;

use super::wire::{piece_count, piece_ranges, BLOCK_SIZE};
use super::{BlobError, BlobHash};

/// A node's blobs. All methods take `&self`; writes of one blob are serialised by a lock.
pub struct BlobStore {
    dir: PathBuf,
    max_bytes: u64,
    write: Mutex<()>,
}

/// A download in progress: which pieces of blob `hash` (of `size` bytes) are on disk, verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partial {
    pub hash: BlobHash,
    pub size: u64,
    have: Vec<bool>,
}

impl Partial {
    /// Bytes of the verified pieces so far.
    pub fn received(&self) -> u64 {
        let pieces = self.have.iter().filter(|h| **h).count() as u64;
        pieces
            .saturating_mul(super::wire::PIECE_BYTES)
            .min(self.size)
    }

    /// Pieces still missing, in order.
    pub fn missing(&self) -> impl Iterator<Item = u64> + '_ {
        self.have
            .iter()
            .enumerate()
            .filter(|(_, h)| !**h)
            .map(|(i, _)| i as u64)
    }

    pub fn is_complete(&self) -> bool {
        self.have.iter().all(|h| *h)
    }
}

impl BlobStore {
    /// Opens (creating) the store in `dir`, holding at most `max_bytes` of complete blobs.
    pub fn open(dir: impl Into<PathBuf>, max_bytes: u64) -> Result<BlobStore, BlobError> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(|e| BlobError::io(&dir, e))?;
        Ok(BlobStore {
            dir,
            max_bytes,
            write: Mutex::new(()),
        })
    }

    fn file(&self, hash: &BlobHash, ext: &str) -> PathBuf {
        self.dir.join(format!("{}.{ext}", hex::encode(hash)))
    }

    /// The path of complete blob `hash`, if held.
    pub fn path(&self, hash: &BlobHash) -> Option<PathBuf> {
        let p = self.file(hash, "data");
        (p.exists() && self.file(hash, "obao").exists()).then_some(p)
    }

    pub fn has(&self, hash: &BlobHash) -> bool {
        self.path(hash).is_some()
    }

    /// The size of complete blob `hash`, if held.
    pub fn size(&self, hash: &BlobHash) -> Option<u64> {
        fs::metadata(self.path(hash)?).ok().map(|m| m.len())
    }

    /// How long ago complete blob `hash` was stored here; `None` if it is not held.
    pub fn age(&self, hash: &BlobHash) -> Option<std::time::Duration> {
        if !self.has(hash) {
            return None;
        }
        let modified = fs::metadata(self.file(hash, "data"))
            .ok()?
            .modified()
            .ok()?;
        Some(modified.elapsed().unwrap_or_default())
    }

    /// Bytes held in complete blobs.
    pub fn used_bytes(&self) -> u64 {
        self.complete()
            .iter()
            .filter_map(|h| self.size(h))
            .sum::<u64>()
    }

    /// The complete blobs held.
    pub fn complete(&self) -> Vec<BlobHash> {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let hex = name.strip_suffix(".data")?;
                let mut h = [0u8; 32];
                hex::decode_to_slice(hex, &mut h).ok()?;
                self.has(&h).then_some(h)
            })
            .collect()
    }

    /// Stores `bytes`; returns their BLAKE3 hash. Refused (`Full`) past the byte cap.
    pub fn put(&self, bytes: &[u8]) -> Result<BlobHash, BlobError> {
        let outboard = PreOrderMemOutboard::create(bytes, BLOCK_SIZE);
        let hash: BlobHash = *outboard.root.as_bytes();
        let _w = self.write.lock().unwrap_or_else(|p| p.into_inner());
        if self.has(&hash) {
            return Ok(hash);
        }
        self.ensure_room(bytes.len() as u64)?;
        let data = self.file(&hash, "data");
        write_atomic(&data, bytes)?;
        write_atomic(&self.file(&hash, "obao"), &outboard.data)?;
        Ok(hash)
    }

    /// Stores the file at `path` (read whole); returns its hash.
    pub fn put_file(&self, path: &Path) -> Result<BlobHash, BlobError> {
        let bytes = fs::read(path).map_err(|e| BlobError::io(path, e))?;
        self.put(&bytes)
    }

    fn ensure_room(&self, more: u64) -> Result<(), BlobError> {
        let used = self.used_bytes();
        if used.saturating_add(more) > self.max_bytes {
            return Err(BlobError::Full {
                used,
                more,
                max: self.max_bytes,
            });
        }
        Ok(())
    }

    /// Removes every complete blob that `keep` refuses, and every download in progress of a
    /// blob it refuses; returns the bytes freed.
    pub fn retain(&self, mut keep: impl FnMut(&BlobHash) -> bool) -> u64 {
        let _w = self.write.lock().unwrap_or_else(|p| p.into_inner());
        let mut freed = 0;
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return 0;
        };
        for e in entries.filter_map(|e| e.ok()) {
            let Ok(name) = e.file_name().into_string() else {
                continue;
            };
            let Some((hex, _ext)) = name.split_once('.') else {
                continue;
            };
            let mut h = [0u8; 32];
            if hex::decode_to_slice(hex, &mut h).is_err() || keep(&h) {
                continue;
            }
            freed += e.metadata().map(|m| m.len()).unwrap_or(0);
            let _ = fs::remove_file(e.path());
        }
        freed
    }

    /// The bao encoding of piece `piece` of blob `hash` (piece 0 also proves the size), checked
    /// against the outboard as it is read; `None` if the blob is not held or has no such piece.
    pub fn encode_piece(
        &self,
        hash: &BlobHash,
        piece: u64,
    ) -> Result<Option<(u64, Vec<u8>)>, BlobError> {
        let Some(path) = self.path(hash) else {
            return Ok(None);
        };
        let file = File::open(&path).map_err(|e| BlobError::io(&path, e))?;
        let size = file.metadata().map_err(|e| BlobError::io(&path, e))?.len();
        if piece >= piece_count(size) {
            return Ok(None);
        }
        let ob_path = self.file(hash, "obao");
        let data = fs::read(&ob_path).map_err(|e| BlobError::io(&ob_path, e))?;
        let tree = BaoTree::new(size, BLOCK_SIZE);
        if data.len() as u64 != tree.outboard_size() {
            return Err(BlobError::Corrupt(format!(
                "{} has the wrong size",
                ob_path.display()
            )));
        }
        let outboard = PreOrderMemOutboard {
            root: blake3::Hash::from_bytes(*hash),
            tree,
            data,
        };
        let mut encoded = Vec::new();
        encode_ranges_validated(&file, &outboard, &piece_ranges(piece), &mut encoded)
            .map_err(|e| BlobError::Corrupt(format!("{}: {e}", path.display())))?;
        Ok(Some((size, encoded)))
    }

    /// The download of `hash` in progress, resumed from disk if one was begun with this size.
    pub fn partial(&self, hash: &BlobHash, size: u64) -> Result<Partial, BlobError> {
        let have_path = self.file(hash, "have");
        let n = piece_count(size) as usize;
        let mut have = vec![false; n];
        if let Ok(bytes) = fs::read(&have_path) {
            if bytes.len() == 8 + n && bytes[..8] == size.to_le_bytes() {
                for (h, b) in have.iter_mut().zip(&bytes[8..]) {
                    *h = *b == 1;
                }
            }
        }
        Ok(Partial {
            hash: *hash,
            size,
            have,
        })
    }

    /// Verifies `encoded` as piece `piece` of `partial`'s blob and writes it. Nothing that
    /// fails verification is written; a piece that fails leaves the download as it was.
    pub fn receive_piece(
        &self,
        partial: &mut Partial,
        piece: u64,
        encoded: &[u8],
    ) -> Result<(), BlobError> {
        let n = partial.have.len() as u64;
        if piece >= n {
            return Err(BlobError::Corrupt(format!("piece {piece} of {n}")));
        }
        let tree = BaoTree::new(partial.size, BLOCK_SIZE);
        let root = blake3::Hash::from_bytes(partial.hash);
        let ranges = piece_ranges(piece);
        // Verify the whole piece before a byte of it reaches the file.
        let mut leaves = Vec::new();
        let mut reader = encoded;
        for item in DecodeResponseIter::new(root, tree, &mut reader, &ranges) {
            match item.map_err(|e| BlobError::Corrupt(e.to_string()))? {
                BaoContentItem::Leaf(Leaf { offset, data }) => leaves.push((offset, data)),
                BaoContentItem::Parent(_) => {}
            }
        }
        if !reader.is_empty() {
            return Err(BlobError::Corrupt(format!(
                "{} bytes past the piece's encoding",
                reader.len()
            )));
        }
        let _w = self.write.lock().unwrap_or_else(|p| p.into_inner());
        let path = self.file(&partial.hash, "partial");
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| BlobError::io(&path, e))?;
        file.set_len(partial.size)
            .map_err(|e| BlobError::io(&path, e))?;
        for (offset, data) in leaves {
            file.write_all_at(offset, &data)
                .map_err(|e| BlobError::io(&path, e))?;
        }
        file.sync_data().map_err(|e| BlobError::io(&path, e))?;
        partial.have[piece as usize] = true;
        let mut have = partial.size.to_le_bytes().to_vec();
        have.extend(partial.have.iter().map(|h| u8::from(*h)));
        let have_path = self.file(&partial.hash, "have");
        write_atomic(&have_path, &have)?;
        Ok(())
    }

    /// Turns a complete download into a stored blob (its whole hash checked again).
    pub fn finish(&self, partial: &Partial) -> Result<PathBuf, BlobError> {
        if !partial.is_complete() {
            return Err(BlobError::Corrupt("the download is not complete".into()));
        }
        let path = self.file(&partial.hash, "partial");
        let bytes = fs::read(&path).map_err(|e| BlobError::io(&path, e))?;
        let outboard = PreOrderMemOutboard::create(&bytes, BLOCK_SIZE);
        if outboard.root.as_bytes() != &partial.hash {
            let _ = fs::remove_file(&path);
            let _ = fs::remove_file(self.file(&partial.hash, "have"));
            return Err(BlobError::Corrupt(
                "the assembled blob has another hash".into(),
            ));
        }
        let _w = self.write.lock().unwrap_or_else(|p| p.into_inner());
        self.ensure_room(partial.size)?;
        write_atomic(&self.file(&partial.hash, "obao"), &outboard.data)?;
        let data = self.file(&partial.hash, "data");
        fs::rename(&path, &data).map_err(|e| BlobError::io(&data, e))?;
        let _ = fs::remove_file(self.file(&partial.hash, "have"));
        Ok(data)
    }
}

/// Writes `bytes` to `path` through a temporary file and a rename, so a crash leaves the old
/// file or the new one, never half of one.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), BlobError> {
    let tmp = path.with_extension("tmp");
    let mut f = File::create(&tmp).map_err(|e| BlobError::io(&tmp, e))?;
    f.write_all(bytes).map_err(|e| BlobError::io(&tmp, e))?;
    f.sync_data().map_err(|e| BlobError::io(&tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| BlobError::io(path, e))
}
