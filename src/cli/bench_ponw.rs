//! `neuroshard bench ponw`: what Proof of Neural Work costs on this machine, with the dev genesis
//! (or the mainnet defaults' bootstrap model with `--genesis mainnet`, or a genesis file's):
//!
//! * proving overhead: time to build, sign and encode a proof, as a share of the time the
//!   proof's segment took to train;
//! * verification cost: a validator's replay of a proof, as a ratio to the prover's time, and the
//!   expected ratio with the genesis sample fraction;
//! * NEURO per day: batches per second here, through the FAQ's rate and the rate limit, the
//!   segment cap (at the full rate: the network's diminishing returns lower every node's rate
//!   alike, and only once the whole network claims more than a tier a day).

use std::time::Instant;

use clap::Args;
use neuroshard_compute::ponw::{self as segment, Segment, SegmentSpec};
use neuroshard_runtime::proof::{Proof, Role, WorkMetrics};
use neuroshard_runtime::rewards::gross_reward;
use neuroshard_runtime::{Amount, SecretKey, Transaction, TxBody};

use neuroshard_client::spec::{model_config_of, train_config_of, Corpus};

#[derive(Debug, Args)]
pub struct BenchPonwArgs {
    /// Batches in the measured segment.
    #[arg(long, default_value_t = 200)]
    pub batches: u64,
    /// Training corpus (as for the node).
    #[arg(long)]
    pub corpus: Option<String>,
    /// Genesis file whose model and rates are measured, or `mainnet` for the mainnet defaults
    /// (the bootstrap model) [default: the dev genesis].
    #[arg(long)]
    pub genesis: Option<String>,
}

pub fn run(args: BenchPonwArgs) -> anyhow::Result<()> {
    segment::deterministic_cpu();
    let params = super::genesis::params_of(args.genesis.as_deref())?;
    let cfg = model_config_of(&params.model);
    let start = segment::genesis_model(&cfg, params.training.init_seed)?;
    let dataset = Corpus::choose(args.corpus.as_deref()).load()?;
    let spec = SegmentSpec {
        data_seed: [7; 32],
        first_batch: 0,
        schedule_step: 0,
        train: train_config_of(&params),
    };

    // The prover: train the segment.
    let t = Instant::now();
    let mut seg = Segment::start(&start, spec.clone())?;
    for _ in 0..args.batches {
        seg.step(&dataset)?;
    }
    let finishing = Instant::now();
    let mut done = seg.finish()?;
    let finish_s = finishing.elapsed().as_secs_f64();
    // The worker puts the end state in its blob store and drops it; so does the bench, keeping
    // its hash to check the replay against.
    let (state_len, state_hash) = (
        done.state.len(),
        neuroshard_chain::blobs::blob_hash(&done.state),
    );
    done.state = Vec::new();
    let blob = neuroshard_chain::blobs::blob_hash(&done.blob);
    let train_s = t.elapsed().as_secs_f64();

    // Building, signing and encoding the proof.
    let key = SecretKey::from_entropy([9; 32]);
    let reps = 1_000u32;
    let t = Instant::now();
    for i in 0..reps {
        let proof = Proof {
            role: Role::Driver,
            layer_start: 0,
            layer_end: params.model.layers,
            round: 0,
            model_version: params.training.genesis_model,
            data_seed: spec.data_seed,
            data_shard: segment::dataset_hash(&dataset),
            pseudo_gradient: blob,
            start_state: [0; 32],
            end_state: [0; 32],
            first_batch: u64::from(i),
            metrics: WorkMetrics {
                batches: done.batches,
                ..WorkMetrics::default()
            },
            data_server: None,
            timestamp_ms: 0,
        };
        let tx = Transaction {
            chain_id: "bench".into(),
            nonce: u64::from(i),
            fee: Amount::ZERO,
            body: TxBody::SubmitProof(proof),
        }
        .sign(&key);
        std::hint::black_box(tx.encode());
    }
    let prove_s = t.elapsed().as_secs_f64() / f64::from(reps);

    // The validator: replay it.
    let t = Instant::now();
    let again = segment::replay(&start, None, &dataset, spec, done.batches)?;
    let replay_s = t.elapsed().as_secs_f64();
    anyhow::ensure!(
        again.blob == done.blob && neuroshard_chain::blobs::blob_hash(&again.state) == state_hash,
        "replay did not reproduce the segment"
    );
    drop(again);

    let per_sec = done.batches as f64 / train_s;
    let sample = f64::from(params.training.verify_sample_bps) / 10_000.0;
    println!(
        "model: {} parameters; segment of {} batches ({}×{} tokens) trained in {:.2} s: {:.3} batches/s",
        start.num_parameters(),
        done.batches,
        spec_tokens(&params).0,
        spec_tokens(&params).1,
        train_s,
        per_sec
    );
    println!(
        "pseudo-gradient blob: {} bytes = {:.3} bytes per parameter (f32: 4)",
        done.blob.len(),
        done.blob.len() as f64 / start.num_parameters() as f64
    );
    println!(
        "segment end state (weights, AdamW moments; the next segment starts from it): {} bytes \
         = {:.1} bytes per parameter; quantising the pseudo-gradient and writing the state took \
         {:.3} s = {:.2}% of the segment",
        state_len,
        state_len as f64 / start.num_parameters() as f64,
        finish_s,
        100.0 * finish_s / train_s
    );
    println!(
        "proving overhead: build + sign + encode a proof {:.1} µs = {:.4}% of the segment's training time",
        prove_s * 1e6,
        100.0 * prove_s / train_s
    );
    println!(
        "verification: replay {:.2} s = {:.3}× the prover's time per checked proof; \
         expected per proof at a {:.0}% sample: {:.3}× (target ≤ {:.3}×)",
        replay_s,
        replay_s / train_s,
        sample * 100.0,
        sample * replay_s / train_s,
        sample * 1.1
    );

    // NEURO per day under the FAQ's schedule: the node proves every interval.
    let interval_s = params.proof_interval_ms as f64 / 1_000.0;
    let cap = (params.max_batches_per_sec() as f64 * interval_s * 0.9)
        .min(f64::from(params.training.inner_steps));
    let per_proof = (per_sec * interval_s).min(cap).floor() as u64;
    let proofs_per_day = (86_400.0 / (interval_s + 1.0)).floor() as u64;
    let proof = |batches: u64| Proof {
        role: Role::Driver,
        layer_start: 0,
        layer_end: params.model.layers,
        round: 0,
        model_version: [0; 32],
        data_seed: [0; 32],
        data_shard: params.training.corpus,
        pseudo_gradient: [0; 32],
        start_state: [0; 32],
        end_state: [0; 32],
        first_batch: 0,
        // A node that holds the corpus serves its own samples: the data reward is its own.
        metrics: WorkMetrics {
            batches,
            samples: batches * u64::from(params.training.batch_size),
            ..WorkMetrics::default()
        },
        data_server: None,
        timestamp_ms: 0,
    };
    let gross_one = gross_reward(&params, &proof(per_proof))?;
    let gross_day = gross_one
        .checked_mul(u128::from(proofs_per_day))
        .unwrap_or(Amount::ZERO);
    println!(
        "earnings here: {} batches (and their samples served) per {:.0} s proof, {} proofs/day: {} NEURO/day at the full \
         rate, paid while the network is paid for under {} NEURO of gross a day (FAQ: laptop 8 GB \
         ~40-60, server 200-400)",
        per_proof,
        interval_s,
        proofs_per_day,
        round2(gross_day),
        params.diminishing_tier.to_neuro_string()
    );
    Ok(())
}

fn spec_tokens(p: &neuroshard_runtime::Params) -> (u32, u32) {
    (p.training.batch_size, p.training.seq_len)
}

fn round2(a: Amount) -> String {
    let s = a.to_neuro_string();
    match s.split_once('.') {
        Some((i, f)) => format!("{i}.{}", &f[..f.len().min(2)]),
        None => s,
    }
}
