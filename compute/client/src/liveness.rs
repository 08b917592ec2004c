//! Uptime for a node that does not train: it answers a liveness challenge once per proof
//! interval and proves the answer.
//!
//! The challenge is the node's data seed, which the chain set when its previous proof (or its
//! registration) was accepted: nobody knew it before. The answer is the round model's losses on
//! one forward batch per started minute of the uptime claimed
//! (`neuroshard_runtime::proof::liveness_batches`), hashed (`ponw::liveness_answer`); the proof
//! carries it as its `pseudo_gradient`, and validators replay it on a sample like a training
//! segment. A forward batch costs about a third of a training batch, and genesis keeps a
//! minute's uptime under a third of a batch's pay, so a machine answering for many identities
//! earns less per unit of compute than it would training.

use std::time::{Duration, Instant};

use indicatif::ProgressBar;
use neuroshard_chain::node::NodeApi;
use neuroshard_compute::data::Dataset;
use neuroshard_compute::ponw as segment;
use neuroshard_compute::NeuroLlm;
use neuroshard_runtime::proof::{liveness_batches, Proof, Role, WorkMetrics, NO_STATE};
use neuroshard_runtime::state::{NodeRecord, TrainingState};
use neuroshard_runtime::{Params, SecretKey, TxBody};
use tracing::{info, warn};

use crate::spec::train_config_of;

/// Seconds of uptime a proof sent at `now_ms` claims: the block time since the node's previous
/// proof, less a second for the block that takes it to come later, within the claim window;
/// `None` before the proof interval has passed.
pub fn due(params: &Params, record: &NodeRecord, now_ms: u64) -> Option<u64> {
    let since = now_ms.saturating_sub(record.last_proof_ms);
    if since < params.proof_interval_ms.max(params.min_proof_interval_ms) {
        return None;
    }
    let secs = (since / 1_000)
        .saturating_sub(1)
        .min(params.max_claim_window_ms / 1_000);
    (secs > 0).then_some(secs)
}

/// Answers the node's challenge for `uptime_secs` with `model` (the open round's) and submits
/// the uptime proof; waits until the chain has it (or drops it after 30 s). Whether the chain
/// took it.
#[allow(clippy::too_many_arguments)]
pub fn prove(
    api: &NodeApi,
    node_key: &SecretKey,
    params: &Params,
    training: &TrainingState,
    record: &NodeRecord,
    model: &NeuroLlm,
    dataset: &Dataset,
    uptime_secs: u64,
    bar: &ProgressBar,
) -> anyhow::Result<bool> {
    let batches = liveness_batches(uptime_secs);
    let began = Instant::now();
    let answer = segment::liveness_answer(
        model,
        dataset,
        &record.data_seed,
        batches,
        &train_config_of(params),
    )?;
    let answer_secs = began.elapsed().as_secs_f64();
    let proof = Proof {
        role: Role::Worker,
        layer_start: 0,
        layer_end: params.model.layers,
        round: training.round,
        model_version: training.model_version,
        data_seed: record.data_seed,
        data_shard: segment::dataset_hash(dataset),
        pseudo_gradient: answer,
        start_state: NO_STATE,
        end_state: NO_STATE,
        first_batch: record.next_batch,
        metrics: WorkMetrics {
            uptime_secs,
            ..WorkMetrics::default()
        },
        data_server: None,
        timestamp_ms: crate::worker::now_ms(),
    };
    let hash = match api.sign_and_submit(node_key, TxBody::SubmitProof(proof)) {
        Ok(h) => h,
        Err(e) => {
            warn!("uptime proof refused: {e}");
            return Ok(false);
        }
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Some(p) = api.with_chain(|c| c.ledger().proof(&hash))? {
            info!(
                proof = %hex::encode(&hash[..8]),
                uptime_secs,
                forward_batches = batches,
                answer_secs = format!("{answer_secs:.3}"),
                reward = %p.reward.to_neuro_string(),
                "uptime proof accepted (a liveness answer)"
            );
            bar.set_message(format!(
                "uptime proof accepted: {uptime_secs} s, reward {} NEURO (pending until replayed or covered)",
                p.reward.to_neuro_string()
            ));
            return Ok(true);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let dropped = api.drop_pending_from(&node_key.address());
    warn!(proof = %hex::encode(hash), dropped, "uptime proof not committed within 30 s; dropped");
    Ok(false)
}
