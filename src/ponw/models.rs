//! The round models a node holds: `models/<model version>.safetensors` in its home. Round 0's
//! weights are made from the genesis seed; later rounds' are computed by each validator as it
//! attests the round (with the outer momentum, `momentum-<hash>.safetensors`), or fetched from a
//! peer's RPC. Whatever the source, a file is parsed as
//! safetensors only (data, never code) and its weights hash must equal the on-chain model version
//! before it is used.

use std::path::{Path, PathBuf};

use anyhow::Context;
use neuroshard_compute::diloco::Momentum;
use neuroshard_compute::{checkpoint, ponw, NeuroLlm};
use neuroshard_runtime::{Hash32, Params};

use super::spec::model_config_of;

pub struct ModelStore {
    dir: PathBuf,
}

impl ModelStore {
    pub fn new(home: &Path) -> anyhow::Result<ModelStore> {
        let dir = home.join("models");
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(ModelStore { dir })
    }

    pub fn path(&self, version: &Hash32) -> PathBuf {
        self.dir
            .join(format!("{}.safetensors", hex::encode(version)))
    }

    /// The model `version`, if this node holds it (from disk or, for the genesis version, made
    /// from the seed). Its weights hash is checked.
    pub fn get(&self, params: &Params, version: &Hash32) -> anyhow::Result<Option<NeuroLlm>> {
        let path = self.path(version);
        if path.exists() {
            let model = checkpoint::load_model(&path, None)
                .with_context(|| format!("cannot load {}", path.display()))?;
            check(&model, version)?;
            return Ok(Some(model));
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

    /// Checks and stores safetensors bytes received from a peer as model `version`.
    pub fn put_bytes(&self, version: &Hash32, bytes: &[u8]) -> anyhow::Result<NeuroLlm> {
        let tmp = self.dir.join(format!("{}.incoming", hex::encode(version)));
        std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
        let model = checkpoint::load_model(&tmp, None);
        let model = match model {
            Ok(m) if m.weights_hash() == *version => m,
            Ok(m) => {
                let _ = std::fs::remove_file(&tmp);
                anyhow::bail!(
                    "peer sent weights with hash {}, not model {}",
                    hex::encode(m.weights_hash()),
                    hex::encode(version)
                );
            }
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                return Err(e).context("peer sent a file that is not a valid safetensors model");
            }
        };
        std::fs::rename(&tmp, self.path(version))?;
        Ok(model)
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

    /// Saves momentum this node computed; returns its hash.
    pub fn save_momentum(&self, m: &Momentum) -> anyhow::Result<Hash32> {
        let hash = m.hash();
        m.save(&self.momentum_path(&hash))?;
        Ok(hash)
    }

    /// Saves a model this node computed (e.g. after closing a round); returns its version.
    pub fn save(&self, model: &NeuroLlm) -> anyhow::Result<Hash32> {
        let version = model.weights_hash();
        checkpoint::save(model, &self.path(&version))?;
        Ok(version)
    }
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
