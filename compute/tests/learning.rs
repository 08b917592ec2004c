//! The model learns: loss on the synthetic Markov corpus approaches its entropy floor.

use neuroshard_compute::data::{BatchId, SyntheticCorpus};
use neuroshard_compute::train::{TrainConfig, Trainer};
use neuroshard_compute::{ModelConfig, NeuroLlm};

/// Budget: 300 steps of 16 × 32 tokens (~150k tokens) on the tiny model, lr 3e-3.
/// Documented floor margin: within 0.15 nats of the source's entropy.
#[test]
fn loss_approaches_the_entropy_floor() {
    tch::set_num_threads(2);
    let corpus = SyntheticCorpus::new(1);
    let data = corpus.dataset(1, 200_000);
    let shard = data.shards[0].hash;
    let cfg = ModelConfig::tiny();
    let model = NeuroLlm::new(&cfg, 0).unwrap();
    let tc = TrainConfig {
        batch_size: 16,
        seq_len: 32,
        lr: 3e-3,
        weight_decay: 0.01,
        warmup_steps: 20,
        decay_steps: 300,
        ..TrainConfig::default()
    };
    let mut trainer = Trainer::new(model, tc).unwrap();
    let eval = data
        .batch(
            &BatchId {
                shard,
                offset: u64::MAX,
                seed: 12345,
            },
            64,
            32,
        )
        .unwrap();
    let initial = trainer.model.eval_loss(&eval).unwrap();
    assert!(
        initial > 5.0,
        "random init should be near ln(259) = 5.56, got {initial}"
    );
    for step in 0..300u64 {
        let batch = data
            .batch(
                &BatchId {
                    shard,
                    offset: step,
                    seed: 7,
                },
                16,
                32,
            )
            .unwrap();
        trainer.train_step(&batch).unwrap();
    }
    let final_loss = trainer.model.eval_loss(&eval).unwrap();
    eprintln!(
        "initial {initial:.3}, final {final_loss:.3}, floor {:.3}",
        SyntheticCorpus::ENTROPY_NATS
    );
    assert!(
        final_loss < SyntheticCorpus::ENTROPY_NATS + 0.15,
        "final loss {final_loss}"
    );
    assert!(
        final_loss > SyntheticCorpus::ENTROPY_NATS - 0.05,
        "below the entropy floor? {final_loss}"
    );
}
