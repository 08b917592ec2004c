//! Checkpoints round-trip, shards assemble, corruption is caught, claimed batches recompute
//! bit-for-bit, growth preserves the function, and the KV cache changes nothing.

use neuroshard_compute::checkpoint::{self, MANIFEST};
use neuroshard_compute::data::{BatchId, Dataset, ShardHash, SyntheticCorpus};
use neuroshard_compute::generate::{generate_tokens, Sampling};
use neuroshard_compute::model::StageInput;
use neuroshard_compute::train::{TrainConfig, Trainer};
use neuroshard_compute::{ComputeError, ModelConfig, NeuroLlm};
use tch::Tensor;

fn tmp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("ns-ckpt-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `steps` training steps on batches `(shard, 0..steps, seed)` of the trainer's own shape.
fn train(t: &mut Trainer, data: &Dataset, shard: ShardHash, steps: u64, seed: u64) {
    let (rows, seq) = (t.cfg.batch_size, t.cfg.seq_len);
    for offset in 0..steps {
        let id = BatchId {
            shard,
            offset,
            seed,
        };
        t.train_step(&data.batch(&id, rows, seq).unwrap()).unwrap();
    }
}

#[test]
fn a_claimed_batch_recomputes_bit_for_bit_from_the_checkpoint() {
    let data = SyntheticCorpus::new(9).dataset(1, 20_000);
    let shard = data.shards[0].hash;
    let mut t = Trainer::new(
        NeuroLlm::new(&ModelConfig::tiny(), 1).unwrap(),
        TrainConfig {
            batch_size: 4,
            seq_len: 16,
            lr: 1e-3,
            warmup_steps: 1,
            ..TrainConfig::default()
        },
    )
    .unwrap();
    train(&mut t, &data, shard, 5, 1);
    let dir = tmp("recompute");
    let path = dir.join("model.safetensors");
    let hash = checkpoint::save(&t.model, &path).unwrap();
    // The prover trains the claimed batch and reports its loss...
    let claimed = BatchId {
        shard,
        offset: 5,
        seed: 1,
    };
    let batch = data.batch(&claimed, 4, 16).unwrap();
    let reported = t.train_step(&batch).unwrap();
    // ...a validator recomputes it from the committed weights and the batch id alone.
    let loaded = checkpoint::load_model(&path, Some(&hash)).unwrap();
    assert_eq!(loaded.weights_hash(), {
        let again = checkpoint::load_model(&path, None).unwrap();
        again.weights_hash()
    });
    let recomputed = loaded
        .eval_loss(&data.batch(&claimed, 4, 16).unwrap())
        .unwrap();
    assert_eq!(
        recomputed.to_bits(),
        reported.to_bits(),
        "{recomputed} vs {reported}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn sharded_checkpoint_assembles_and_rejects_tampering() {
    let cfg = ModelConfig {
        layers: 4,
        ..ModelConfig::tiny()
    };
    let model = NeuroLlm::new(&cfg, 5).unwrap();
    let dir = tmp("shards");
    let manifest = checkpoint::save_sharded(&model, &[0..1, 1..3, 3..4], &dir).unwrap();
    assert_eq!(manifest.shards.len(), 3);
    let out = dir.join("whole.safetensors");
    let hash = checkpoint::assemble(&dir, &out).unwrap();
    let whole = checkpoint::load_model(&out, Some(&hash)).unwrap();
    assert_eq!(whole.weights_hash(), model.weights_hash());

    // A wrong expected hash is refused before parsing.
    let err = checkpoint::load_model(&out, Some(&[0u8; 32]))
        .err()
        .unwrap();
    assert!(
        matches!(err, ComputeError::Checkpoint { ref reason, .. } if reason.contains("SHA-256")),
        "{err}"
    );

    // A flipped byte in a shard breaks assembly with a clear error.
    let shard = dir.join(&manifest.shards[1].file);
    let mut bytes = std::fs::read(&shard).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&shard, &bytes).unwrap();
    let err = checkpoint::assemble(&dir, &dir.join("again.safetensors")).unwrap_err();
    assert!(err.to_string().contains("SHA-256"), "{err}");

    // Garbage and a missing shard are errors, not panics.
    std::fs::write(dir.join("junk.safetensors"), b"not a safetensors file").unwrap();
    assert!(checkpoint::load_model(&dir.join("junk.safetensors"), None).is_err());
    let mut m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join(MANIFEST)).unwrap()).unwrap();
    m["shards"].as_array_mut().unwrap().remove(2);
    std::fs::write(dir.join(MANIFEST), m.to_string()).unwrap();
    assert!(checkpoint::assemble(&dir, &dir.join("x.safetensors")).is_err());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_stage_file_is_not_a_whole_model_and_shapes_are_checked() {
    let cfg = ModelConfig {
        layers: 4,
        ..ModelConfig::tiny()
    };
    let model = NeuroLlm::new(&cfg, 5).unwrap();
    let dir = tmp("stage");
    let path = dir.join("stage.safetensors");
    checkpoint::save(&model.stage(1..3).unwrap(), &path).unwrap();
    let loaded = checkpoint::load(&path, None).unwrap();
    assert_eq!(loaded.layers, 1..3);
    let stage = loaded.into_model(&path).unwrap();
    assert!(!stage.is_whole());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn growing_deeper_preserves_the_function() {
    let cfg = ModelConfig::tiny();
    let small = NeuroLlm::new(&cfg, 3).unwrap();
    let big = small.grow_depth(cfg.layers + 2).unwrap();
    assert_eq!(big.config().layers, cfg.layers + 2);
    assert!(big.num_parameters() > small.num_parameters());
    let tokens = Tensor::from_slice(&[1i64, 2, 3, 4, 5, 6]).view([1, 6]);
    let a = small.forward(StageInput::Tokens(&tokens)).unwrap();
    let b = big.forward(StageInput::Tokens(&tokens)).unwrap();
    let diff = f64::try_from((a - b).abs().max()).unwrap();
    assert!(diff < 1e-5, "{diff}");
}

#[test]
fn an_attention_change_keeps_the_weights_and_a_longer_context_keeps_the_function() {
    let cfg = ModelConfig::tiny();
    let model = NeuroLlm::new(&cfg, 3).unwrap();
    let tokens = Tensor::from_slice(&[1i64, 2, 3, 4, 5, 6]).view([1, 6]);
    let out = |m: &NeuroLlm| m.forward(StageInput::Tokens(&tokens)).unwrap();
    let longer = model
        .reconfigured(&ModelConfig {
            version: cfg.version + 1,
            context: cfg.context * 2,
            ..cfg.clone()
        })
        .unwrap();
    assert_eq!(longer.weights_hash(), model.weights_hash());
    let diff = f64::try_from((out(&model) - out(&longer)).abs().max()).unwrap();
    assert!(diff < 1e-6, "{diff}");
    let rotated = model
        .reconfigured(&ModelConfig {
            version: cfg.version + 1,
            rope_theta: cfg.rope_theta * 50.0,
            ..cfg.clone()
        })
        .unwrap();
    assert_eq!(rotated.weights_hash(), model.weights_hash());
    assert_eq!(rotated.config().rope_theta, cfg.rope_theta * 50.0);
    let diff = f64::try_from((out(&model) - out(&rotated)).abs().max()).unwrap();
    assert!(diff > 1e-6, "a new rotary base changes what attention sees");
    // A change that reshapes weights is no attention change.
    let reshaped = ModelConfig {
        kv_heads: cfg.heads,
        ..cfg.clone()
    };
    assert!(matches!(
        model.reconfigured(&reshaped),
        Err(ComputeError::Config(_))
    ));
}

#[test]
fn kv_cache_generation_equals_full_recomputation() {
    let data = SyntheticCorpus::new(1).dataset(1, 50_000);
    let shard = data.shards[0].hash;
    let mut t = Trainer::new(
        NeuroLlm::new(&ModelConfig::tiny(), 0).unwrap(),
        TrainConfig {
            batch_size: 16,
            seq_len: 32,
            lr: 3e-3,
            warmup_steps: 10,
            decay_steps: 100,
            ..TrainConfig::default()
        },
    )
    .unwrap();
    train(&mut t, &data, shard, 60, 2);
    let prompt: Vec<i64> = b"abc".iter().map(|&b| i64::from(b)).collect();
    for s in [
        Sampling {
            max_new_tokens: 20,
            temperature: 0.0,
            seed: 0,
        },
        Sampling {
            max_new_tokens: 20,
            temperature: 0.8,
            seed: 42,
        },
    ] {
        let cached = generate_tokens(&t.model, &prompt, &s, true).unwrap();
        let full = generate_tokens(&t.model, &prompt, &s, false).unwrap();
        assert_eq!(cached, full, "{s:?}");
        assert_eq!(cached.len(), 20);
    }
    // Greedy text from a model trained on a–p letters stays in that alphabet.
    let greedy = generate_tokens(
        &t.model,
        &prompt,
        &Sampling {
            max_new_tokens: 20,
            ..Sampling::default()
        },
        true,
    )
    .unwrap();
    assert!(
        greedy
            .iter()
            .all(|&c| (i64::from(b'a')..=i64::from(b'p')).contains(&c)),
        "{greedy:?}"
    );
}
