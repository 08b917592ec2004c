//! `neuroshard train`, `generate`, `checkpoint assemble` and `bench aggregate`: local training and
//! inference on NeuroLLM (libtorch through `neuroshard-compute`).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use neuroshard_compute::checkpoint;
use neuroshard_compute::data::{BatchId, Dataset, SyntheticCorpus};
use neuroshard_compute::generate::{generate, Sampling};
use neuroshard_compute::train::{TrainConfig, Trainer};
use neuroshard_compute::work::WorkReport;
use neuroshard_compute::{ModelConfig, NeuroLlm};

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Preset {
    /// The dev chain's model (hidden 64, 4 layers).
    Dev,
    /// A very small model.
    Tiny,
    /// The benchmark model (hidden 256, 4 layers).
    Bench,
    /// The protocol's bootstrap size (hidden 768, 12 layers).
    Bootstrap,
}

impl Preset {
    pub fn config(self) -> ModelConfig {
        match self {
            Preset::Dev => ModelConfig::dev(),
            Preset::Tiny => ModelConfig::tiny(),
            Preset::Bench => ModelConfig {
                hidden: 256,
                layers: 4,
                heads: 8,
                kv_heads: 4,
                ffn: 688,
                context: 128,
                ..ModelConfig::dev()
            },
            Preset::Bootstrap => ModelConfig::bootstrap(),
        }
    }
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    #[arg(long, value_enum, default_value = "dev")]
    pub preset: Preset,
    /// Take the model shape from this genesis file's `params.model` instead of a preset.
    #[arg(long, conflicts_with = "preset")]
    pub genesis: Option<PathBuf>,
    #[arg(long, default_value_t = 200)]
    pub steps: u64,
    /// UTF-8 text file or directory; default: the synthetic corpus.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Resume from and save to this checkpoint file.
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    #[arg(long, default_value_t = 8)]
    pub batch_size: usize,
    #[arg(long, default_value_t = 64)]
    pub seq_len: usize,
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Torch CPU threads (default: all cores).
    #[arg(long)]
    pub threads: Option<i32>,
    /// Print only the throughput line (for scripts/bench-train-vs-pytorch).
    #[arg(long)]
    pub bench: bool,
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_dev_preset_is_the_dev_genesis_model() {
        let genesis = neuroshard_runtime::Genesis::dev();
        assert_eq!(
            super::model_config_of(&genesis.params.model),
            super::Preset::Dev.config()
        );
    }
}

#[derive(Debug, Subcommand)]
pub enum CheckpointCommand {
    /// Split a whole-model checkpoint into STAGES pipeline shards plus a manifest of hashes.
    Split {
        file: PathBuf,
        #[arg(long)]
        stages: i64,
        #[arg(long)]
        out: PathBuf,
    },
    /// Build one whole-model file from a sharded checkpoint directory, checking every hash.
    Assemble {
        dir: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    #[arg(long)]
    pub checkpoint: PathBuf,
    #[arg(long)]
    pub prompt: String,
    #[arg(long, default_value_t = 64)]
    pub max_tokens: usize,
    /// 0 for greedy decoding.
    #[arg(long, default_value_t = 0.0)]
    pub temperature: f64,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

pub use neuroshard_client::spec::model_config_of;

pub fn train(args: TrainArgs) -> anyhow::Result<()> {
    if let Some(n) = args.threads {
        neuroshard_compute::set_threads(n);
    }
    let cfg = match &args.genesis {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            model_config_of(&neuroshard_runtime::Genesis::from_json(&text)?.params.model)
        }
        None => args.preset.config(),
    };
    anyhow::ensure!(
        args.seq_len as i64 <= cfg.context,
        "--seq-len {} exceeds the model context {}",
        args.seq_len,
        cfg.context
    );
    let data = match &args.data {
        Some(path) => Dataset::from_path(path)?,
        None => SyntheticCorpus::new(args.seed).dataset(4, 1 << 20),
    };
    let model = match &args.checkpoint {
        Some(path) if path.exists() => {
            let m = checkpoint::load_model(path, None)
                .with_context(|| format!("resuming from {}", path.display()))?;
            anyhow::ensure!(
                m.config() == &cfg,
                "checkpoint {} holds another model config",
                path.display()
            );
            m
        }
        _ => NeuroLlm::new(&cfg, args.seed as i64)?,
    };
    let tc = TrainConfig {
        batch_size: args.batch_size,
        seq_len: args.seq_len,
        lr: args.lr,
        warmup_steps: (args.steps / 10).max(1),
        decay_steps: args.steps,
        ..TrainConfig::default()
    };
    let mut report = WorkReport {
        model_version: model.weights_hash(),
        layers: 0..cfg.layers,
        ..Default::default()
    };
    let mut trainer = Trainer::new(model, tc)?;
    tracing::info!(
        params = trainer.model.num_parameters(),
        shards = data.shards.len(),
        "training {:?}",
        args.preset
    );
    let bar = if args.bench {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(args.steps)
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} steps  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    // Warm-up step outside the timed region.
    let batch_of = |step: u64| {
        let shard = data.shards[(step as usize) % data.shards.len()].hash;
        data.batch(
            &BatchId {
                shard,
                offset: step,
                seed: args.seed,
            },
            args.batch_size,
            args.seq_len,
        )
    };
    trainer.train_step(&batch_of(u64::MAX)?)?;
    let started = Instant::now();
    let mut loss = f64::NAN;
    for step in 0..args.steps {
        let batch = batch_of(step)?;
        loss = trainer.train_step(&batch)?;
        report.record(batch.id, batch.predicted_tokens());
        let tps = report.tokens as f64 / started.elapsed().as_secs_f64().max(1e-9);
        bar.set_message(format!("loss {loss:.3}  {tps:.0} tokens/s"));
        bar.inc(1);
    }
    bar.finish();
    let secs = started.elapsed().as_secs_f64();
    let tps = report.tokens as f64 / secs;
    if args.bench {
        println!("tch tokens/s {tps:.1}");
        return Ok(());
    }
    if let Some(path) = &args.checkpoint {
        let hash = checkpoint::save(&trainer.model, path)?;
        println!("checkpoint {} sha256 {}", path.display(), hex::encode(hash));
    }
    println!(
        "trained {} batches ({} tokens) in {secs:.1}s: {tps:.0} tokens/s, final loss {loss:.4}",
        report.batches, report.tokens
    );
    println!(
        "work: model version {} -> {}",
        hex::encode(report.model_version),
        hex::encode(trainer.model.weights_hash())
    );
    Ok(())
}

pub fn generate_text(args: GenerateArgs) -> anyhow::Result<()> {
    let model = checkpoint::load_model(&args.checkpoint, None)?;
    let s = Sampling {
        max_new_tokens: args.max_tokens,
        temperature: args.temperature,
        seed: args.seed,
    };
    let out = generate(&model, &args.prompt, &s)?;
    println!("{}{}", args.prompt, String::from_utf8_lossy(&out));
    Ok(())
}

pub fn checkpoint_cmd(cmd: CheckpointCommand) -> anyhow::Result<()> {
    match cmd {
        CheckpointCommand::Split { file, stages, out } => {
            let model = checkpoint::load_model(&file, None)?;
            let layers = model.config().layers;
            anyhow::ensure!(
                (1..=layers).contains(&stages),
                "--stages must be 1..={layers}"
            );
            let ranges: Vec<_> = (0..stages)
                .map(|i| (i * layers / stages)..((i + 1) * layers / stages))
                .collect();
            let manifest = checkpoint::save_sharded(&model, &ranges, &out)?;
            for s in manifest.shards {
                println!(
                    "{} layers {}..{} sha256 {}",
                    s.file, s.layers[0], s.layers[1], s.sha256
                );
            }
        }
        CheckpointCommand::Assemble { dir, out } => {
            let hash = checkpoint::assemble(&dir, &out)?;
            println!("{} sha256 {}", out.display(), hex::encode(hash));
        }
    }
    Ok(())
}

/// Aggregation throughput over `workers` vectors of `len` f32 values, per rule.
pub fn bench_aggregate(workers: usize, len: i64) -> anyhow::Result<()> {
    use neuroshard_compute::aggregate::{aggregate_bench_inputs, time_rule, Rule};
    let inputs = aggregate_bench_inputs(workers, len);
    let gb = (workers as f64 * len as f64 * 4.0) / 1e9;
    for (name, rule) in [
        ("mean", Rule::Mean),
        ("trimmed_mean", Rule::TrimmedMean { trim: 0.1 }),
        ("median", Rule::Median),
    ] {
        let secs = time_rule(&inputs, rule, 3)?;
        println!(
            "{name:<13} {workers} x {len}: {:.3} s, {:.2} GB/s",
            secs,
            gb / secs
        );
    }
    Ok(())
}
