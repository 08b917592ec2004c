//! The round models a node holds: `models/<model version>.safetensors` in its home. Round 0's
//! weights are made from the genesis seed; later rounds' are computed by each validator as it
//! attests the round (with the outer momentum, `momentum-<hash>.safetensors`), or fetched from
//! peers as the blobs the adopted round result names (`model_blob`, `momentum_blob`): the blob's
//! BLAKE3 is checked piece by piece before a byte is written, then the file is parsed as
//! safetensors only (data, never code) and its weights hash must equal the on-chain model
//! version before it is used. Every file this node computes is also put in its blob store (hard
//! linked, not copied) so that peers can fetch it from here.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use anyhow::Context;
use neuroshard_chain::blobs::{BlobClient, BlobError, BlobHash, PendingBlob};
use neuroshard_chain::node::{Home, NodeApi};
use neuroshard_compute::diloco::Momentum;
use neuroshard_compute::ponw::Update;
use neuroshard_compute::train::InnerState;
use neuroshard_compute::{checkpoint, ponw, NeuroLlm};
use neuroshard_runtime::{Hash32, Params};

use indicatif::{ProgressBar, ProgressStyle};
use tracing::debug;

use crate::spec::model_config_of;

/// The most bytes a model or momentum blob may have (the bootstrap model is about 400 MB).
pub const MAX_MODEL_BLOB: u64 = 8 << 30;

pub struct ModelStore {
    dir: PathBuf,
    blobs: BlobClient,
}

impl ModelStore {
    pub fn new(api: &NodeApi) -> anyhow::Result<ModelStore> {
        let dir = Home::new(api.home()).models();
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(ModelStore {
            dir,
            blobs: api.blobs().clone(),
        })
    }

    pub fn path(&self, version: &Hash32) -> PathBuf {
        self.dir
            .join(format!("{}.safetensors", hex::encode(version)))
    }

    /// Whether this node holds model `version` (on disk, or the genesis model it can make).
    pub fn holds(&self, params: &Params, version: &Hash32) -> bool {
        version == &params.training.genesis_model || self.path(version).exists()
    }

    /// Whether this node holds the outer momentum with hash `hash`.
    pub fn holds_momentum(&self, hash: &Hash32) -> bool {
        hash == &ponw::NO_MOMENTUM_HASH || self.momentum_path(hash).exists()
    }

    /// The model `version`, if this node holds it (from disk or, for the genesis version, made
    /// from the seed), under `params.model`'s architecture: weights are saved with the
    /// architecture of the round that made them, and a round that opens after a NeuroDAO
    /// attention change trains them under the new one. Its weights hash is checked.
    pub fn get(&self, params: &Params, version: &Hash32) -> anyhow::Result<Option<NeuroLlm>> {
        let path = self.path(version);
        if path.exists() {
            let model = checkpoint::load_model(&path, None)
                .with_context(|| format!("cannot load {}", path.display()))?;
            check(&model, version)?;
            return Ok(Some(under_architecture(model, params)?));
        }
        if version == &params.training.genesis_model {
            let cfg = model_config_of(&params.model);
            let model = ponw::genesis_model(&cfg, params.training.init_seed)?;
            check(&model, version).context("genesis model does not match genesis_model")?;
            checkpoint::save(&model, &path)?;
            return Ok(Some(model));
        }
        Ok(None)
    }

    fn momentum_path(&self, hash: &Hash32) -> PathBuf {
        self.dir
            .join(format!("momentum-{}.safetensors", hex::encode(hash)))
    }

    /// The outer momentum with hash `hash`, if this node holds it (the zero hash is "none yet").
    pub fn momentum(&self, hash: &Hash32) -> anyhow::Result<Option<Momentum>> {
        let path = self.momentum_path(hash);
        if hash != &ponw::NO_MOMENTUM_HASH && !path.exists() {
            return Ok(None);
        }
        Ok(Some(Momentum::load(&path, hash).with_context(|| {
            format!("cannot load momentum {}", path.display())
        })?))
    }

    /// Saves momentum this node computed and offers it to peers; returns its hash and blob.
    pub fn save_momentum(&self, m: &Momentum) -> anyhow::Result<(Hash32, BlobHash)> {
        let hash = m.hash();
        if hash == ponw::NO_MOMENTUM_HASH {
            return Ok((hash, [0; 32])); // no step taken yet: nothing to store or serve
        }
        let path = self.momentum_path(&hash);
        m.save(&path)?;
        Ok((hash, self.offer(&path)?))
    }

    /// Saves a model this node computed (e.g. after closing a round) and offers it to peers;
    /// returns its version and blob.
    pub fn save(&self, model: &NeuroLlm) -> anyhow::Result<(Hash32, BlobHash)> {
        let version = model.weights_hash();
        let path = self.path(&version);
        checkpoint::save(model, &path)?;
        Ok((version, self.offer(&path)?))
    }

    /// Puts the file at `path` in the blob store, and makes `path` a hard link to the blob so
    /// the bytes are on disk once (a copy stays where links are not supported).
    fn offer(&self, path: &Path) -> anyhow::Result<BlobHash> {
        let store = self.blobs.store();
        let blob = store.put_file(path)?;
        if let Some(data) = store.path(&blob) {
            link_over(&data, path)?; // where links fail, the file simply stays a copy
        }
        Ok(blob)
    }

    /// Fetches model `version` from peers as blob `blob` (named by an adopted round result),
    /// unless it is held here.
    pub fn fetch(
        &self,
        params: &Params,
        version: &Hash32,
        blob: &BlobHash,
    ) -> anyhow::Result<Option<NeuroLlm>> {
        if let Some(m) = self.get(params, version)? {
            return Ok(Some(m));
        }
        let path = self.fetch_showing(*blob, "model")?;
        let model = checkpoint::load_model(&path, None)
            .context("the model blob is not a valid safetensors model")?;
        check(&model, version).context("the model blob holds other weights")?;
        link_or_copy(&path, &self.path(version))?;
        Ok(Some(model))
    }

    /// Blob `blob` from the store or from peers, with a bar of its verified bytes while it
    /// comes (a model is hundreds of MB).
    fn fetch_showing(&self, blob: BlobHash, what: &str) -> anyhow::Result<PathBuf> {
        if let Some(path) = self.blobs.store().path(&blob) {
            return Ok(path);
        }
        let mut pending = self.blobs.start_fetch(blob, MAX_MODEL_BLOB)?;
        let bar = crate::progress::add(ProgressBar::new(0));
        bar.set_style(
            ProgressStyle::with_template(
                "{msg} {bytes}/{total_bytes} ({bytes_per_sec}, {eta} left)",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_message(format!(
            "fetching the {what} {} from peers:",
            hex::encode(&blob[..8])
        ));
        let result = loop {
            if let Some(r) = pending.poll() {
                break r;
            }
            let (got, size) = pending.progress();
            if size > 0 {
                bar.set_length(size);
                bar.set_position(got);
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        };
        bar.finish_and_clear();
        Ok(result?)
    }

    /// Fetches the outer momentum `hash` from peers as blob `blob`, unless it is held here.
    pub fn fetch_momentum(&self, hash: &Hash32, blob: &BlobHash) -> anyhow::Result<bool> {
        if self.holds_momentum(hash) {
            return Ok(true);
        }
        let path = self.fetch_showing(*blob, "outer momentum")?;
        Momentum::load(&path, hash).context("the momentum blob holds another momentum")?;
        link_or_copy(&path, &self.momentum_path(hash))?;
        Ok(true)
    }

    /// Fetches from peers the model and momentum the open round starts from, as the previous
    /// round's adopted result names them; returns whether both are held now.
    pub fn fetch_open_round(&self, api: &NodeApi, params: &Params) -> anyhow::Result<bool> {
        let (open, adopted) = api.with_chain(|c| {
            let l = c.ledger();
            let t = l.training()?;
            let prev = match t.round.checked_sub(1) {
                Some(r) => l.round(r)?.and_then(|r| r.close).map(|c| c.result),
                None => None,
            };
            Ok::<_, anyhow::Error>((t, prev))
        })?;
        let held =
            |s: &Self| s.holds(params, &open.model_version) && s.holds_momentum(&open.momentum);
        if held(self) {
            return Ok(true);
        }
        let Some(r) = adopted.filter(|r| r.next_model == open.model_version) else {
            return Ok(false);
        };
        self.fetch(params, &r.next_model, &r.model_blob)?;
        self.fetch_momentum(&r.momentum, &r.momentum_blob)?;
        Ok(held(self))
    }
}

impl ModelStore {
    /// Pseudo-gradient blob `blob` of a model of `parameters` parameters, decoded, if this node
    /// holds it (it trained it, re-executed it or fetched it).
    pub fn gradient(&self, blob: &BlobHash, parameters: i64) -> anyhow::Result<Option<Update>> {
        let Some(path) = self.blobs.store().path(blob) else {
            return Ok(None);
        };
        Ok(Some(decode_gradient(&path, parameters)?))
    }

    /// Fetches pseudo-gradient blob `blob` from peers (waiting for it) and decodes it.
    pub fn fetch_gradient(&self, blob: &BlobHash, parameters: i64) -> anyhow::Result<Update> {
        let path = self
            .blobs
            .fetch_blocking(*blob, ponw::max_blob_len(parameters))?;
        decode_gradient(&path, parameters)
    }

    /// Keeps `bytes` (a pseudo-gradient this node re-executed) to serve it to peers.
    pub fn offer_gradient(&self, bytes: &[u8]) -> anyhow::Result<BlobHash> {
        Ok(self.blobs.store().put(bytes)?)
    }
}

impl ModelStore {
    /// Inner state blob `blob` (a segment's end state) of a model of `parameters` parameters,
    /// if this node holds it.
    pub fn inner_state(
        &self,
        blob: &BlobHash,
        parameters: i64,
    ) -> anyhow::Result<Option<InnerState>> {
        let Some(path) = self.blobs.store().path(blob) else {
            return Ok(None);
        };
        Ok(Some(decode_inner_state(&path, parameters)?))
    }

    /// Starts fetching inner state blob `blob` from peers.
    pub fn start_fetch_inner_state(
        &self,
        blob: &BlobHash,
        parameters: i64,
    ) -> Result<PendingBlob, BlobError> {
        self.blobs
            .start_fetch(*blob, InnerState::max_len(parameters))
    }
}

/// The segment states (three times the model's size each) a node keeps: its newest `cap`. A
/// replay needs a segment's start state soon after the segment is accepted (it is drawn within
/// a few blocks); an older one that was dropped here is recomputed from the chain by whoever
/// needs it. Without this bound a worker would keep a round's every state (60 a round at the
/// mainnet schedule, 54 GB on the bootstrap model).
pub struct RecentStates {
    kept: std::collections::VecDeque<BlobHash>,
    cap: usize,
}

impl RecentStates {
    pub fn new(cap: usize) -> RecentStates {
        RecentStates {
            kept: Default::default(),
            cap: cap.max(1),
        }
    }

    /// Stores `bytes` (an inner state) to serve it and drops the oldest kept past the cap;
    /// returns its hash.
    pub fn offer(&mut self, models: &ModelStore, bytes: &[u8]) -> anyhow::Result<BlobHash> {
        let hash = models.blobs.store().put(bytes)?;
        self.track(models, hash);
        Ok(hash)
    }

    /// Counts state `hash` (stored already, e.g. fetched from a peer) among the kept ones.
    pub fn track(&mut self, models: &ModelStore, hash: BlobHash) {
        if !self.kept.contains(&hash) {
            self.kept.push_back(hash);
        }
        while self.kept.len() > self.cap {
            if let Some(old) = self.kept.pop_front() {
                models.blobs.store().retain(|h| *h != old);
            }
        }
    }
}

/// Reads an inner state blob the store verified against its hash.
pub fn decode_inner_state(path: &Path, parameters: i64) -> anyhow::Result<InnerState> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    InnerState::from_bytes(&bytes, parameters)
        .context("the blob is not an inner state of this model")
}

/// Reads a pseudo-gradient blob the store verified against its hash.
pub fn decode_gradient(path: &Path, parameters: i64) -> anyhow::Result<Update> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Update::decode(&bytes, parameters).context("the blob is not a pseudo-gradient of this model")
}

/// A blob stored this recently is kept by [`ModelStore::prune`] even if no round names it yet
/// (a pseudo-gradient whose proof is still on its way into a block).
const FRESH_BLOB: std::time::Duration = std::time::Duration::from_secs(300);

/// Rounds back whose models, momentum and blobs a node keeps: enough for a validator that missed
/// that many closes to catch up, and for peers to fetch from it.
pub const KEEP_ROUNDS: u64 = 8;

impl ModelStore {
    /// Removes the model and momentum files and blobs that no round of the last
    /// [`KEEP_ROUNDS`] names (its start, any result attested for it, its adopted result, its
    /// proofs' pseudo-gradients); returns the files removed. Bounds the disk a node uses
    /// however long it runs.
    pub fn prune(&self, api: &NodeApi, params: &Params) -> anyhow::Result<usize> {
        let (hashes, blobs) = api.with_chain(|c| {
            let l = c.ledger();
            let open = l.training()?.round;
            let mut hashes = HashSet::from([params.training.genesis_model]);
            let mut blobs = HashSet::new();
            for r in open.saturating_sub(KEEP_ROUNDS)..=open {
                let Some(record) = l.round(r)? else { continue };
                hashes.extend([record.model_version, record.momentum]);
                for id in l.round_trained(r)? {
                    if let Some(p) = l.proof(&id)? {
                        blobs.insert(p.pseudo_gradient);
                        // Segment states (three times the model each) only while a replay
                        // may still need them: the open round and the one before. Older ones
                        // are recomputed from the chain if ever asked for.
                        if r + 1 >= open {
                            blobs.extend([p.start_state, p.end_state]);
                        }
                    }
                }
                let attested = record.attestations.iter().map(|a| a.result);
                for result in attested.chain(record.close.iter().map(|c| c.result_hash)) {
                    if let Some(res) = l.round_result(r, &result)? {
                        hashes.extend([res.next_model, res.momentum]);
                        blobs.extend([res.model_blob, res.momentum_blob]);
                    }
                }
                if let Some(close) = &record.close {
                    hashes.extend([close.result.next_model, close.result.momentum]);
                    blobs.extend([close.result.model_blob, close.result.momentum_blob]);
                }
            }
            Ok::<_, anyhow::Error>((hashes, blobs))
        })?;
        // The corpus this node serves stays, whatever the round.
        let mut blobs = blobs;
        blobs.extend(crate::corpus::held_blobs(
            &self.blobs,
            &params.training.corpus,
        ));
        let mut removed = 0;
        for entry in std::fs::read_dir(&self.dir)?.filter_map(|e| e.ok()) {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(stem) = name.strip_suffix(".safetensors") else {
                continue;
            };
            let hex_part = stem.strip_prefix("momentum-").unwrap_or(stem);
            let mut h = [0u8; 32];
            if hex::decode_to_slice(hex_part, &mut h).is_ok()
                && !hashes.contains(&h)
                && std::fs::remove_file(entry.path()).is_ok()
            {
                removed += 1;
            }
        }
        let store = self.blobs.store();
        let freed =
            store.retain(|b| blobs.contains(b) || store.age(b).is_some_and(|age| age < FRESH_BLOB));
        if removed > 0 || freed > 0 {
            debug!(
                files = removed,
                blob_bytes = freed,
                "pruned models of old rounds"
            );
        }
        Ok(removed)
    }
}

/// Makes `to` a hard link to `from` (or a copy where links are not supported).
fn link_or_copy(from: &Path, to: &Path) -> anyhow::Result<()> {
    if !link_over(from, to)? {
        let tmp = to.with_extension("copy");
        std::fs::copy(from, &tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
        std::fs::rename(&tmp, to)?;
    }
    Ok(())
}

/// Replaces `to` with a hard link to `from` (atomically, through a rename); returns whether
/// links are supported here.
fn link_over(from: &Path, to: &Path) -> anyhow::Result<bool> {
    let tmp = to.with_extension("link");
    let _ = std::fs::remove_file(&tmp);
    if std::fs::hard_link(from, &tmp).is_err() {
        return Ok(false);
    }
    std::fs::rename(&tmp, to)?;
    Ok(true)
}

fn check(model: &NeuroLlm, version: &Hash32) -> anyhow::Result<()> {
    let actual = model.weights_hash();
    anyhow::ensure!(
        &actual == version,
        "weights hash {} is not the expected model version {}",
        hex::encode(actual),
        hex::encode(version)
    );
    Ok(())
}

/// `model` under `params.model`'s architecture: as it is if it already has it, else its weights
/// reconfigured (a NeuroDAO attention change keeps every shape).
pub(crate) fn under_architecture(model: NeuroLlm, params: &Params) -> anyhow::Result<NeuroLlm> {
    let cfg = model_config_of(&params.model);
    if model.config() == &cfg {
        return Ok(model);
    }
    Ok(model.reconfigured(&cfg)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_saved_under_one_architecture_load_under_the_rounds() {
        let mut params = neuroshard_runtime::Genesis::dev().params;
        let model = NeuroLlm::new(&model_config_of(&params.model), 1).unwrap();
        let hash = model.weights_hash();
        let same = under_architecture(model, &params).unwrap();
        assert_eq!(same.config().rope_theta, f64::from(params.model.rope_theta));
        params.model.rope_theta = 20_000;
        params.model.version += 1;
        let changed = under_architecture(same, &params).unwrap();
        assert_eq!(changed.config().rope_theta, 20_000.0);
        assert_eq!(changed.config().version, params.model.version);
        assert_eq!(changed.weights_hash(), hash);
    }
}
