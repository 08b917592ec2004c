//! The validator's side of Proof of Neural Work: re-execute a sample of accepted proofs, submit
//! a verdict for each, and close training rounds with the aggregate of the verified work.
//!
//! * **Sampling.** The ledger draws which proofs are re-executed (`verify_sample_bps`, from a
//!   state root the prover could not know when it signed; see `neuroshard_runtime::maturity`);
//!   a drawn proof is paid only after more than two thirds of validator power verified it. A proof
//!   that any validator called invalid is re-executed by every validator.
//! * **Re-execution** replays the segment from the round's weights on CPU with one thread and
//!   compares the pseudo-gradient hash bit for bit ([`neuroshard_compute::ponw::replay`]).
//! * **Rounds.** Once the open round is `round_length_ms` old and holds verified proofs this
//!   validator re-executed, it aggregates their pseudo-gradients with the genesis rule, applies
//!   the outer Nesterov step, stores the new weights under `models/` (served by
//!   `neuro_getModelWeights`) and submits `CloseRound`.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use neuroshard_chain::node::NodeApi;
use neuroshard_compute::aggregate::Rule;
use neuroshard_compute::diloco::{DilocoConfig, OuterOptimizer};
use neuroshard_compute::ponw::{self as segment, SegmentResult, SegmentSpec};
use neuroshard_runtime::params::Aggregation;
use neuroshard_runtime::state::{ProofRecord, ProofStatus};
use neuroshard_runtime::{Hash32, Params, SecretKey, SignedTransaction, TxBody};
use tracing::{debug, info, warn};

use super::models::ModelStore;
use super::spec::{train_config_of, Corpus};

/// What the service has done, for the benchmark and the logs.
#[derive(Clone, Debug, Default)]
pub struct VerifierStats {
    pub replayed: u64,
    pub invalid: u64,
    pub replay_secs: f64,
    pub replayed_batches: u64,
}

struct Verifier {
    api: NodeApi,
    key: SecretKey,
    models: ModelStore,
    dataset: neuroshard_compute::data::Dataset,
    dataset_hash: Hash32,
    /// Next block whose proofs are to be considered.
    next_height: u64,
    /// Proofs this validator has voted on.
    voted: HashSet<Hash32>,
    /// Verified pseudo-gradients by round, for closing it.
    verified: BTreeMap<u64, Vec<(Hash32, SegmentResult)>>,
    outer: OuterOptimizer,
    stats: VerifierStats,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Runs the validator service until `stop`. Does nothing while `key` is not an active validator.
pub fn run(
    api: NodeApi,
    key: SecretKey,
    corpus: Corpus,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<()> {
    segment::deterministic_cpu();
    let dataset = corpus.load()?;
    let params = api.with_chain(|c| c.ledger().params().clone());
    let diloco = DilocoConfig {
        outer_lr: f64::from(params.training.outer_lr_ppm) / 1e6,
        outer_momentum: f64::from(params.training.outer_momentum_ppm) / 1e6,
        ..DilocoConfig::default()
    };
    // Proofs still inside their challenge window may need a verdict after a restart.
    let height = api.status().height;
    let mut v = Verifier {
        models: ModelStore::new(api.home())?,
        dataset_hash: segment::dataset_hash(&dataset),
        dataset,
        next_height: height.saturating_sub(100).max(1),
        voted: HashSet::new(),
        verified: BTreeMap::new(),
        outer: OuterOptimizer::new(&diloco),
        stats: VerifierStats::default(),
        api,
        key,
    };
    info!(validator = %v.key.address(), "proof verification started");
    while !stop.load(Ordering::Relaxed) {
        if let Err(e) = v.tick(&params) {
            warn!("verification: {e:#}");
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    Ok(())
}

impl Verifier {
    fn active(&self) -> bool {
        let me = self.key.address();
        self.api.with_chain(|c| {
            c.ledger()
                .validators()
                .map(|vs| {
                    vs.iter()
                        .any(|v| v.address == me && !v.record.jailed && v.record.power > 0)
                })
                .unwrap_or(false)
        })
    }

    fn tick(&mut self, params: &Params) -> anyhow::Result<()> {
        if !self.active() {
            return Ok(());
        }
        let top = self.api.status().height;
        // Proofs of block h are drawn (or not) by the ledger in block h+1.
        'blocks: while self.next_height < top {
            let h = self.next_height;
            let block = self.api.with_chain(|c| c.store().block(h))?;
            let Some(block) = block else { break };
            for raw in &block.txs {
                let Ok(tx) = SignedTransaction::decode(raw) else {
                    continue;
                };
                if !matches!(tx.tx.body, TxBody::SubmitProof(_)) {
                    continue;
                }
                let id = tx.hash();
                let Some(record) = self.api.with_chain(|c| c.ledger().proof(&id))? else {
                    continue;
                };
                match record.sampled {
                    None if record.status == ProofStatus::Pending => break 'blocks,
                    Some(true) => self.check(params, id)?,
                    _ => {}
                }
            }
            self.next_height += 1;
        }
        self.check_disputes(params)?;
        self.maybe_close_round(params)
    }

    /// Proofs of the open round that another validator called invalid.
    fn check_disputes(&mut self, params: &Params) -> anyhow::Result<()> {
        let disputed: Vec<Hash32> = self.api.with_chain(|c| {
            let l = c.ledger();
            let round = l.training()?.round;
            let ids = l.round_proofs(round, 0, 10_000)?;
            let mut out = Vec::new();
            for id in ids {
                if let Some(p) = l.proof(&id)? {
                    if p.disputed() {
                        out.push(id);
                    }
                }
            }
            Ok::<_, anyhow::Error>(out)
        })?;
        for id in disputed {
            if !self.voted.contains(&id) {
                self.check(params, id)?;
            }
        }
        Ok(())
    }

    /// Re-executes proof `id` and submits the verdict.
    fn check(&mut self, params: &Params, id: Hash32) -> anyhow::Result<()> {
        if self.voted.contains(&id) {
            return Ok(());
        }
        let me = self.key.address();
        let Some(p) = self.api.with_chain(|c| c.ledger().proof(&id))? else {
            return Ok(()); // refused by the ledger: nothing to judge
        };
        if p.status != ProofStatus::Pending || p.verdicts.iter().any(|v| v.validator == me) {
            self.voted.insert(id);
            return Ok(());
        }
        if p.batches == 0 {
            self.voted.insert(id); // uptime only: nothing to re-execute
            return Ok(());
        }
        info!(proof = %hex::encode(&id[..8]), batches = p.batches, "re-executing a sampled proof");
        let started = std::time::Instant::now();
        // A proof that did not train the network's corpus did not do the network's work.
        let valid = match self.replay(params, &p)? {
            _ if p.data_shard != self.dataset_hash => false,
            Replay::Unverifiable(why) => {
                warn!(proof = %hex::encode(&id[..8]), "cannot re-execute: {why}");
                self.voted.insert(id);
                return Ok(());
            }
            Replay::Done(result) => {
                let valid = result.pseudo_gradient_hash == p.pseudo_gradient;
                if valid {
                    self.verified.entry(p.round).or_default().push((id, result));
                }
                valid
            }
        };
        self.voted.insert(id);
        if !valid {
            self.stats.invalid += 1;
        }
        match self
            .api
            .sign_and_submit(&self.key, TxBody::Verdict { proof: id, valid })
        {
            Ok(_) if valid => info!(
                proof = %hex::encode(&id[..8]),
                secs = format!("{:.1}", started.elapsed().as_secs_f64()),
                "re-executed: valid"
            ),
            Ok(_) => warn!(
                proof = %hex::encode(&id[..8]),
                node = %p.node,
                "re-execution does not reproduce the proof: fraud reported"
            ),
            Err(e) => warn!("verdict not accepted: {e}"),
        }
        Ok(())
    }

    fn replay(&mut self, params: &Params, p: &ProofRecord) -> anyhow::Result<Replay> {
        if p.data_shard != self.dataset_hash {
            return Ok(Replay::Unverifiable("trained on another corpus".into()));
        }
        let Some(start) = self.models.get(params, &p.model_version)? else {
            return Ok(Replay::Unverifiable(format!(
                "this node does not hold model {}",
                hex::encode(p.model_version)
            )));
        };
        if p.layer_start != 0 || p.layer_end != params.model.layers {
            return Ok(Replay::Unverifiable(
                "pipeline-stage proofs are checked by the stages' pipeline (not yet)".into(),
            ));
        }
        let spec = SegmentSpec {
            data_seed: p.data_seed,
            first_batch: p.first_batch,
            train: train_config_of(params),
        };
        let began = Instant::now();
        let result = segment::replay(&start, &self.dataset, spec, p.batches)?;
        self.stats.replayed += 1;
        self.stats.replayed_batches += p.batches;
        self.stats.replay_secs += began.elapsed().as_secs_f64();
        Ok(Replay::Done(result))
    }

    fn maybe_close_round(&mut self, params: &Params) -> anyhow::Result<()> {
        let (training, statuses) = self.api.with_chain(|c| {
            let l = c.ledger();
            let t = l.training()?;
            let mut statuses = Vec::new();
            if let Some(list) = self.verified.get(&t.round) {
                for (id, _) in list {
                    statuses.push((*id, l.proof(id)?.map(|p| p.status)));
                }
            }
            Ok::<_, anyhow::Error>((t, statuses))
        })?;
        self.verified.retain(|round, _| *round >= training.round);
        if now_ms() < training.opened_ms + params.round_length_ms {
            return Ok(());
        }
        let settled: HashSet<Hash32> = statuses
            .iter()
            .filter(|(_, s)| matches!(s, Some(ProofStatus::Verified | ProofStatus::Paid)))
            .map(|(id, _)| *id)
            .collect();
        let Some(list) = self.verified.get(&training.round) else {
            return Ok(());
        };
        let included: Vec<&(Hash32, SegmentResult)> =
            list.iter().filter(|(id, _)| settled.contains(id)).collect();
        if included.is_empty() {
            return Ok(());
        }
        let Some(start) = self.models.get(params, &training.model_version)? else {
            return Ok(());
        };
        let n = included.len();
        let rule = rule_of(params, n);
        let updates: Vec<&SegmentResult> = included.iter().map(|(_, r)| r).collect();
        let outcome = segment::close_round(&start, &updates, rule, &mut self.outer)?;
        let next_model = self.models.save(&outcome.next)?;
        let ids: Vec<Hash32> = included.iter().map(|(id, _)| *id).collect();
        let body = TxBody::CloseRound {
            round: training.round,
            aggregate: outcome.aggregate_hash,
            next_model,
            included: ids,
        };
        match self.api.sign_and_submit(&self.key, body) {
            Ok(_) => info!(
                round = training.round,
                proofs = n,
                next_model = %hex::encode(&next_model[..8]),
                "closing the round with the verified pseudo-gradients"
            ),
            Err(e) => debug!("round not closed: {e}"),
        }
        // Whatever happens, do not resubmit for this round until the chain moves.
        self.verified.remove(&training.round);
        Ok(())
    }
}

enum Replay {
    Done(SegmentResult),
    Unverifiable(String),
}

/// The genesis aggregation rule for `n` pseudo-gradients.
fn rule_of(params: &Params, n: usize) -> Rule {
    let trim = f64::from(params.training.trim_bps) / 10_000.0;
    match params.training.aggregation {
        Aggregation::Mean => Rule::Mean,
        Aggregation::TrimmedMean => Rule::TrimmedMean { trim },
        Aggregation::CoordinateMedian => Rule::Median,
        Aggregation::Krum => {
            let f = n.saturating_sub(3) / 2;
            Rule::Krum {
                f,
                m: n.saturating_sub(f).max(1),
            }
        }
    }
}
