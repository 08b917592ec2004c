//! `neuroshard bench round`: what closing a training round costs a validator here, for 4, 16
//! and 64 workers at the dev model size (and the bootstrap size with `--bootstrap`): clipping to
//! the median norm, the genesis robust rule and the outer Nesterov step, then the held-out
//! evaluation, single-threaded as validators run it. Throughput is reported as GB/s of
//! pseudo-gradients read, to set beside this machine's memory bandwidth.

use clap::Args;
use neuroshard_compute::aggregate::Rule;
use neuroshard_compute::ponw as segment;
use neuroshard_compute::ModelConfig;
use neuroshard_runtime::Genesis;

use neuroshard_client::spec::{model_config_of, train_config_of, Corpus};

#[derive(Debug, Args)]
pub struct BenchRoundArgs {
    /// Worker counts to measure.
    #[arg(long, value_delimiter = ',', default_values_t = [4usize, 16, 64])]
    pub workers: Vec<usize>,
    /// Use the bootstrap model (768 x 12, about 100M parameters: 400 MB per worker).
    #[arg(long)]
    pub bootstrap: bool,
}

pub fn run(args: BenchRoundArgs) -> anyhow::Result<()> {
    segment::deterministic_cpu();
    let params = Genesis::dev().params;
    let cfg = if args.bootstrap {
        ModelConfig::bootstrap()
    } else {
        model_config_of(&params.model)
    };
    let dataset = Corpus::Synthetic.load()?;
    let train = train_config_of(&params);
    let rule = Rule::TrimmedMean {
        trim: f64::from(params.training.trim_bps) / 10_000.0,
    };
    println!("workers  parameters  aggregate+step s  GB/s  eval s");
    for &w in &args.workers {
        let t = segment::time_round_close(&cfg, w, &dataset, &train, rule)?;
        let gb = t.parameters as f64 * 4.0 * w as f64 / 1e9;
        println!(
            "{:>7}  {:>10}  {:>16.3}  {:>4.2}  {:>6.3}",
            w,
            t.parameters,
            t.aggregate_and_step_s,
            gb / t.aggregate_and_step_s,
            t.eval_s
        );
    }
    println!(
        "memory read bandwidth, one thread: {:.2} GB/s",
        segment::memory_read_gbps()
    );
    Ok(())
}
