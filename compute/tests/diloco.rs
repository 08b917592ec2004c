//! DiLoCo matches single-worker training on the same tokens, and robust rules survive a
//! sign-flipping worker that breaks the plain mean.

use neuroshard_compute::aggregate::Rule;
use neuroshard_compute::data::{Batch, BatchId, Dataset, SyntheticCorpus};
use neuroshard_compute::diloco::{round, Behaviour, DilocoConfig, OuterOptimizer, Worker};
use neuroshard_compute::train::{TrainConfig, Trainer};
use neuroshard_compute::{ComputeError, ModelConfig, NeuroLlm};

const WORKERS: usize = 4;
const H: u64 = 20;
const ROUNDS: u64 = 25;
const BATCH: usize = 8;
const SEQ: usize = 32;

fn inner() -> TrainConfig {
    TrainConfig {
        batch_size: BATCH,
        seq_len: SEQ,
        lr: 3e-3,
        weight_decay: 0.01,
        warmup_steps: 10,
        decay_steps: H * ROUNDS,
        ..TrainConfig::default()
    }
}

/// Worker `w`'s batch at inner step `offset`: its own shard, so workers see different data.
fn worker_batch(data: &Dataset, w: usize, offset: u64) -> Result<Batch, ComputeError> {
    data.batch(
        &BatchId {
            shard: data.shards[w].hash,
            offset,
            seed: 1,
        },
        BATCH,
        SEQ,
    )
}

fn data() -> Dataset {
    SyntheticCorpus::new(5).dataset(WORKERS, 100_000)
}

fn eval(model: &NeuroLlm, data: &Dataset) -> f64 {
    let id = BatchId {
        shard: data.shards[0].hash,
        offset: u64::MAX,
        seed: 4242,
    };
    model.eval_loss(&data.batch(&id, 64, SEQ).unwrap()).unwrap()
}

/// One worker, batches of WORKERS × BATCH rows, H × ROUNDS steps: the same tokens as DiLoCo.
fn single_worker(data: &Dataset) -> f64 {
    let cfg = ModelConfig::tiny();
    let mut t = Trainer::new(
        NeuroLlm::new(&cfg, 0).unwrap(),
        TrainConfig {
            batch_size: BATCH * WORKERS,
            ..inner()
        },
    )
    .unwrap();
    for step in 0..H * ROUNDS {
        // The union of what the DiLoCo workers see at this step.
        let mut tokens = Vec::new();
        for w in 0..WORKERS {
            let b = data
                .batch(
                    &BatchId {
                        shard: data.shards[w].hash,
                        offset: step,
                        seed: 1,
                    },
                    BATCH,
                    SEQ,
                )
                .unwrap();
            tokens.extend(b.tokens);
        }
        let mut b = data
            .batch(
                &BatchId {
                    shard: data.shards[0].hash,
                    offset: step,
                    seed: 1,
                },
                BATCH,
                SEQ,
            )
            .unwrap();
        b.tokens = tokens;
        b.rows = BATCH * WORKERS;
        t.train_step(&b).unwrap();
    }
    eval(&t.model, data)
}

fn diloco(data: &Dataset, rule: Rule, attacker: bool) -> f64 {
    let cfg = ModelConfig::tiny();
    let global = NeuroLlm::new(&cfg, 0).unwrap();
    let mut workers: Vec<Worker> = (0..WORKERS)
        .map(|w| {
            let behaviour = if attacker && w == WORKERS - 1 {
                Behaviour::SignFlip { scale: 100.0 }
            } else {
                Behaviour::Honest
            };
            Worker::new(
                Trainer::new(NeuroLlm::new(&cfg, 0).unwrap(), inner()).unwrap(),
                behaviour,
            )
        })
        .collect();
    let dc = DilocoConfig {
        inner_steps: H,
        rule,
        ..DilocoConfig::default()
    };
    let mut outer = OuterOptimizer::new(&dc);
    for r in 0..ROUNDS {
        let report = round(&global, &mut workers, &dc, &mut outer, |w, h| {
            worker_batch(data, w, r * H + h)
        })
        .unwrap();
        assert_eq!(report.pseudo_gradient_hashes.len(), WORKERS);
    }
    eval(&global, data)
}

#[test]
fn diloco_matches_single_worker_and_robust_rules_survive_an_attacker() {
    tch::set_num_threads(2);
    let data = data();
    let baseline = single_worker(&data);
    let honest = diloco(&data, Rule::Mean, false);
    eprintln!("single worker {baseline:.4}, DiLoCo x4 (mean) {honest:.4}");
    assert!(
        honest < SyntheticCorpus::ENTROPY_NATS + 1.0,
        "DiLoCo did not learn: {honest}"
    );
    assert!(
        (honest - baseline).abs() / baseline < 0.05,
        "DiLoCo {honest} vs single worker {baseline}"
    );
    for rule in [
        Rule::TrimmedMean { trim: 0.1 },
        Rule::Median,
        Rule::Krum { f: 1, m: 3 },
    ] {
        let attacked = diloco(&data, rule, true);
        eprintln!("{rule:?} under attack: {attacked:.4}");
        assert!(
            (attacked - baseline).abs() / baseline < 0.05,
            "{rule:?}: {attacked} vs {baseline}"
        );
    }
    let broken = diloco(&data, Rule::Mean, true);
    eprintln!("mean under attack: {broken:.4}");
    assert!(
        !broken.is_finite() || broken > baseline * 1.5,
        "plain mean should diverge, got {broken}"
    );
}

#[test]
fn int8_pseudo_gradients_train_and_cut_bytes_per_sync() {
    tch::set_num_threads(2);
    let data = data();
    let cfg = ModelConfig::tiny();
    let global = NeuroLlm::new(&cfg, 0).unwrap();
    let params = global.num_parameters() as usize;
    let mut workers: Vec<Worker> = (0..2)
        .map(|_| {
            Worker::new(
                Trainer::new(NeuroLlm::new(&cfg, 0).unwrap(), inner()).unwrap(),
                Behaviour::Honest,
            )
        })
        .collect();
    let dc = DilocoConfig {
        inner_steps: H,
        int8: true,
        rule: Rule::Mean,
        ..DilocoConfig::default()
    };
    let mut outer = OuterOptimizer::new(&dc);
    let mut report = None;
    for r in 0..10 {
        report = Some(
            round(&global, &mut workers, &dc, &mut outer, |w, h| {
                worker_batch(&data, w, r * H + h)
            })
            .unwrap(),
        );
    }
    let report = report.unwrap();
    // One byte per value plus a 4-byte scale per 4 096-value block.
    assert_eq!(report.bytes_per_worker, params + 4 * params.div_ceil(4_096));
    let f32_diloco = params * 4;
    let ddp_per_round = params * 4 * H as usize; // full-precision data parallel syncs every step
    eprintln!(
        "bytes per sync: int8 DiLoCo {} | f32 DiLoCo {} | f32 data-parallel over H={H} steps {} ({}x)",
        report.bytes_per_worker,
        f32_diloco,
        ddp_per_round,
        ddp_per_round / report.bytes_per_worker
    );
    let loss = eval(&global, &data);
    assert!(loss < 2.0, "int8 DiLoCo did not learn: {loss}");
}
