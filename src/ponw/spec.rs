//! From genesis parameters (integers) to the compute crate's configs, and the corpus a node
//! trains on.

use std::path::Path;

use neuroshard_compute::data::{Dataset, SyntheticCorpus};
use neuroshard_compute::train::TrainConfig;
use neuroshard_compute::ModelConfig;
use neuroshard_runtime::params::{ModelParams, Params};

/// NeuroLLM's shape as genesis versions it.
pub fn model_config_of(m: &ModelParams) -> ModelConfig {
    ModelConfig {
        version: m.version,
        vocab: i64::from(m.vocab),
        hidden: i64::from(m.hidden),
        layers: i64::from(m.layers),
        heads: i64::from(m.heads),
        kv_heads: i64::from(m.kv_heads),
        ffn: i64::from(m.ffn),
        context: i64::from(m.context),
        rope_theta: f64::from(m.rope_theta),
        tied_embeddings: m.tied_embeddings,
    }
}

/// The inner optimizer of every proof segment (genesis `training`: learning rate and weight
/// decay in parts per million, warm-up in steps; clipping 1.0; cosine over the segment cap).
pub fn train_config_of(p: &Params) -> TrainConfig {
    let t = &p.training;
    TrainConfig {
        batch_size: t.batch_size as usize,
        seq_len: t.seq_len as usize,
        lr: f64::from(t.inner_lr_ppm) / 1e6,
        weight_decay: f64::from(t.weight_decay_ppm) / 1e6,
        warmup_steps: u64::from(t.warmup_steps),
        decay_steps: u64::from(t.inner_steps),
        min_lr_ratio: 0.1,
        grad_clip: 1.0,
    }
}

/// Where the dev chain's real text comes from: the licence texts that Debian's `base-files`
/// package installs on every Debian system (GPL, Apache, BSD, MPL, Artistic, ...: about 40
/// English documents).
pub const DEBIAN_CORPUS: &str = "/usr/share/common-licenses";

/// Which corpus a node trains on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Corpus {
    /// Every UTF-8 file under a directory (the dev default: [`DEBIAN_CORPUS`]).
    Text(std::path::PathBuf),
    /// The seeded synthetic Markov corpus (tests; machines without `base-files`).
    Synthetic,
}

impl Corpus {
    /// `synthetic`, a directory, or (unset) the Debian corpus when present, else synthetic.
    pub fn choose(arg: Option<&str>) -> Corpus {
        match arg {
            Some("synthetic") => Corpus::Synthetic,
            Some(path) => Corpus::Text(path.into()),
            None if Path::new(DEBIAN_CORPUS).is_dir() => Corpus::Text(DEBIAN_CORPUS.into()),
            None => Corpus::Synthetic,
        }
    }

    pub fn load(&self) -> anyhow::Result<Dataset> {
        Ok(match self {
            Corpus::Text(dir) => Dataset::from_path(dir)?,
            Corpus::Synthetic => SyntheticCorpus::new(0).dataset(4, 1 << 18),
        })
    }

    pub fn describe(&self) -> String {
        match self {
            Corpus::Text(dir) => dir.display().to_string(),
            Corpus::Synthetic => "synthetic".into(),
        }
    }
}
