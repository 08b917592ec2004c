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

/// Inner steps over which the learning rate decays (cosine, to 0.1×) after warm-up, counted as
/// DiLoCo's global inner step ([`schedule_step_of`]): 50,000, as PROTOCOL.md sets it.
pub const DECAY_STEPS: u64 = 50_000;

/// The schedule step a segment of `round` starts at: `round × inner_steps` (H), the inner step
/// every worker of a synchronous DiLoCo run is at when outer step `round` begins. At the mainnet
/// defaults (H = 500, warm-up 1,000) rounds 0 and 1 warm up and the peak comes at round 2.
pub fn schedule_step_of(p: &Params, round: u64) -> u64 {
    round.saturating_mul(u64::from(p.training.inner_steps))
}

/// The inner optimizer of every proof segment (genesis `training`: learning rate and weight
/// decay in parts per million, warm-up in steps; clipping 1.0; cosine over [`DECAY_STEPS`]).
pub fn train_config_of(p: &Params) -> TrainConfig {
    let t = &p.training;
    TrainConfig {
        batch_size: t.batch_size as usize,
        seq_len: t.seq_len as usize,
        lr: f64::from(t.inner_lr_ppm) / 1e6,
        weight_decay: f64::from(t.weight_decay_ppm) / 1e6,
        warmup_steps: u64::from(t.warmup_steps),
        decay_steps: DECAY_STEPS,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mainnet_model_is_the_bootstrap_preset_and_fits_the_tokenizer() {
        let params = neuroshard_runtime::Params::mainnet_defaults();
        let cfg = model_config_of(&params.model);
        assert_eq!(cfg, ModelConfig::bootstrap());
        assert_eq!(
            cfg.vocab,
            i64::from(neuroshard_runtime::params::TOKENIZER_VOCAB)
        );
        assert_eq!(cfg.vocab, neuroshard_compute::tokenizer::VOCAB);
    }

    #[test]
    fn the_mainnet_schedule_warms_up_over_two_rounds_then_decays_over_a_hundred() {
        let p = Params::mainnet_defaults();
        let cfg = train_config_of(&p);
        let lr_at = |round: u64, step: u64| cfg.lr_at(schedule_step_of(&p, round) + step);
        let peak = cfg.lr;
        // Round 0 starts near zero, round 1 at half the peak, round 2 at the peak: no segment
        // stays inside warm-up for ever, as it did when each segment restarted the schedule.
        assert!(lr_at(0, 0) < peak / 500.0);
        assert!((lr_at(1, 0) - peak / 2.0).abs() < peak / 500.0);
        assert!(lr_at(2, 0) > 0.999 * peak);
        // Decays to the floor after 50,000 inner steps (100 rounds of H = 500), and stays there.
        assert!(lr_at(50, 0) < 0.6 * peak && lr_at(50, 0) > 0.5 * peak);
        assert!((lr_at(102, 0) - 0.1 * peak).abs() < 1e-12);
        assert!((lr_at(10_000, 0) - 0.1 * peak).abs() < 1e-12);
        // Within a round the schedule moves with the segment's own steps.
        assert!(lr_at(0, 100) > lr_at(0, 0));
    }
}
