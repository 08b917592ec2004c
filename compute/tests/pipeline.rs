//! Three in-process pipeline stages give the whole model's loss and gradients.

use neuroshard_compute::data::{BatchId, SyntheticCorpus};
use neuroshard_compute::model::StageInput;
use neuroshard_compute::pipeline::{InProcess, Pipeline};
use neuroshard_compute::{ModelConfig, NeuroLlm};

fn check(cfg: ModelConfig) {
    let data = SyntheticCorpus::new(2).dataset(1, 10_000);
    let batch = data
        .batch(
            &BatchId {
                shard: data.shards[0].hash,
                offset: 0,
                seed: 3,
            },
            4,
            16,
        )
        .unwrap();
    let model = NeuroLlm::new(&cfg, 11).unwrap();
    let mut pipeline = Pipeline::split(&model, &[0..1, 1..3, 3..4], InProcess::new(3)).unwrap();

    let (inputs, targets) = NeuroLlm::batch_tensors(&batch);
    let whole_loss = NeuroLlm::loss(
        &model.forward(StageInput::Tokens(&inputs)).unwrap(),
        &targets,
    );
    whole_loss.backward();
    let whole_loss = f64::try_from(&whole_loss).unwrap();
    let piped_loss = pipeline.forward_backward(&batch).unwrap();
    assert!(
        (whole_loss - piped_loss).abs() < 1e-5,
        "{whole_loss} vs {piped_loss}"
    );

    let whole = model.named_parameters();
    let mut compared = 0;
    for (s, stage) in pipeline.stages.iter().enumerate() {
        for (name, t) in stage.named_parameters() {
            // The last stage's copy of a tied embedding: its gradient was folded into stage 0's.
            if name == "embed.weight" && s > 0 {
                continue;
            }
            let expected = whole[&name].grad();
            let diff = f64::try_from((t.grad() - &expected).abs().max()).unwrap();
            let scale = f64::try_from(expected.abs().max()).unwrap().max(1e-8);
            assert!(
                diff / scale < 1e-4,
                "{name}: relative difference {}",
                diff / scale
            );
            compared += 1;
        }
    }
    assert_eq!(
        compared,
        whole.len(),
        "every parameter lives in exactly one stage"
    );
}

#[test]
fn sharded_equals_whole_with_tied_embeddings() {
    check(ModelConfig {
        layers: 4,
        ..ModelConfig::tiny()
    });
}

#[test]
fn sharded_equals_whole_with_an_untied_head() {
    check(ModelConfig {
        layers: 4,
        tied_embeddings: false,
        ..ModelConfig::tiny()
    });
}

#[test]
fn stages_must_cover_every_layer() {
    let model = NeuroLlm::new(
        &ModelConfig {
            layers: 4,
            ..ModelConfig::tiny()
        },
        0,
    )
    .unwrap();
    assert!(Pipeline::split(&model, &[0..1, 2..4], InProcess::new(2)).is_err());
    let short = vec![std::ops::Range { start: 0, end: 3 }];
    assert!(Pipeline::split(&model, &short, InProcess::new(1)).is_err());
}
