//! From genesis parameters (integers) to the compute crate's configs, and the corpus a node
//! trains on.

use std::path::Path;

use neuroshard_compute::data::{Dataset, SyntheticCorpus};
use neuroshard_compute::ponw::dataset_hash;
use neuroshard_compute::train::TrainConfig;
use neuroshard_compute::ModelConfig;
use neuroshard_runtime::params::{ModelParams, Params};
use neuroshard_runtime::Hash32;

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

/// Where real English text is found on every Debian system: the licence texts that the
/// `base-files` package installs (GPL, Apache, BSD, MPL, Artistic, ...: about 40 documents). A
/// genesis may pin it; its content differs between Debian releases.
pub const DEBIAN_CORPUS: &str = "/usr/share/common-licenses";

/// Which corpus a node trains on. Whatever is chosen, a node trains only the corpus its chain's
/// genesis pins (`training.corpus`): see [`Corpus::load_pinned`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Corpus {
    /// Every UTF-8 file under a directory.
    Text(std::path::PathBuf),
    /// The seeded synthetic Markov corpus: the same bytes on every machine, the dev genesis's.
    Synthetic,
    /// Whichever known corpus genesis pins: the synthetic one or [`DEBIAN_CORPUS`].
    Pinned,
}

impl Corpus {
    /// `synthetic`, a directory, or (unset) the corpus genesis pins.
    pub fn choose(arg: Option<&str>) -> Corpus {
        match arg {
            Some("synthetic") => Corpus::Synthetic,
            Some(path) => Corpus::Text(path.into()),
            None => Corpus::Pinned,
        }
    }

    /// Loads the corpus (for [`Corpus::Pinned`], the synthetic one).
    pub fn load(&self) -> anyhow::Result<Dataset> {
        Ok(match self {
            Corpus::Text(dir) => Dataset::from_path(dir)?,
            Corpus::Synthetic | Corpus::Pinned => SyntheticCorpus::new(0).dataset(4, 1 << 18),
        })
    }

    /// Loads the corpus and checks that it is the one whose hash genesis pins. A node training
    /// any other corpus would only see its proofs refused, so it does not start: the error says
    /// which corpus genesis pins and how to give it.
    pub fn load_pinned(&self, pinned: &Hash32) -> anyhow::Result<Dataset> {
        let candidates = match self {
            Corpus::Pinned if Path::new(DEBIAN_CORPUS).is_dir() => {
                vec![Corpus::Synthetic, Corpus::Text(DEBIAN_CORPUS.into())]
            }
            Corpus::Pinned => vec![Corpus::Synthetic],
            other => vec![other.clone()],
        };
        let mut seen = Vec::new();
        for corpus in candidates {
            let dataset = corpus.load()?;
            let hash = dataset_hash(&dataset);
            if &hash == pinned {
                return Ok(dataset);
            }
            seen.push(format!("{} is {}", corpus.describe(), hex::encode(hash)));
        }
        anyhow::bail!(
            "this chain's genesis pins training corpus {}, but {}: proofs on another corpus are \
             refused. Pass `--corpus DIR` with the network's corpus (`neuroshard genesis corpus \
             DIR` prints a directory's hash)",
            hex::encode(pinned),
            seen.join(", ")
        )
    }

    pub fn describe(&self) -> String {
        match self {
            Corpus::Text(dir) => format!("the corpus in {}", dir.display()),
            Corpus::Synthetic => "the synthetic corpus".into(),
            Corpus::Pinned => "the pinned corpus".into(),
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
    fn the_dev_genesis_pins_the_synthetic_corpus_and_a_node_finds_it_unasked() {
        let pinned = neuroshard_runtime::Genesis::dev().params.training.corpus;
        let synthetic = Corpus::Synthetic.load().unwrap();
        assert_eq!(dataset_hash(&synthetic), pinned);
        let found = Corpus::choose(None).load_pinned(&pinned).unwrap();
        assert_eq!(dataset_hash(&found), pinned);
    }

    #[test]
    fn a_node_with_another_corpus_is_refused_with_what_genesis_pins() {
        let dir = std::env::temp_dir().join(format!("neuroshard-corpus-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a.txt"), "not the network's text").unwrap();
        let pinned = neuroshard_runtime::Genesis::dev().params.training.corpus;
        let err = Corpus::choose(dir.to_str())
            .load_pinned(&pinned)
            .unwrap_err()
            .to_string();
        assert!(err.contains(&hex::encode(pinned)), "{err}");
        assert!(err.contains("--corpus"), "{err}");
        // The same directory pinned is accepted.
        let own = dataset_hash(&Corpus::choose(dir.to_str()).load().unwrap());
        assert!(Corpus::choose(dir.to_str()).load_pinned(&own).is_ok());
        // Nothing known matches a pin of another corpus: the error names each one tried.
        let err = Corpus::Pinned.load_pinned(&own).unwrap_err().to_string();
        assert!(err.contains("the synthetic corpus is"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
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
