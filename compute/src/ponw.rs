//! The unit of Proof-of-Neural-Work: a *segment*, the work one proof claims.
//!
//! A node's first segment of a round starts from the open round's weights (whose hash is the
//! round's model version) with fresh AdamW moments ([`Segment::start`]); each later one
//! continues from the previous one's end state, weights and moments ([`Segment::resume`],
//! [`InnerState`]), so a worker's segments of a round are one DiLoCo inner trajectory. Each
//! takes one AdamW inner step per claimed batch, in batch order, with the genesis schedule from
//! [`SegmentSpec::schedule_step`] on. Batch `i` is drawn from the node's chain-assigned data seed and `i` alone
//! ([`assigned_batch`]). The pseudo-gradient `start weights − end weights` is quantised to
//! int8 ([`quantize_exact`]) into a blob ([`SegmentResult::blob`]); the proof commits to the
//! blob's hash and to the end state's, and the round aggregates the blob's values ([`Update`]),
//! a chain's summed ([`sum_chains`]). Everything here is a pure function of (start state,
//! dataset, [`SegmentSpec`]): a validator that replays the same segment on CPU gets the same bits, which
//! is how proofs are checked ([`replay`]). CPU replays are bit-exact with one libtorch thread
//! ([`deterministic_cpu`]); the node uses that setting for all proof work.

use sha2::{Digest, Sha256};
use tch::{Device, Tensor};

use crate::aggregate::{aggregate, clip_to_median_norm, Rule};
use crate::compress::{dequantize, quantize_exact, Int8Update};
use crate::config::ModelConfig;
use crate::data::{Batch, BatchId, Dataset};
use crate::diloco::{hash_vector, Momentum, OuterOptimizer};
use crate::error::ComputeError;
use crate::model::NeuroLlm;
use crate::train::{InnerState, TrainConfig, Trainer};

/// What a segment is: everything besides the start weights and the dataset.
#[derive(Clone, Debug, PartialEq)]
pub struct SegmentSpec {
    pub data_seed: [u8; 32],
    pub first_batch: u64,
    /// The learning-rate schedule's step at the segment's first batch (DiLoCo's global inner
    /// step: the round times the inner steps per round), so warm-up and decay span the network's
    /// whole run rather than restarting in every segment.
    pub schedule_step: u64,
    pub train: TrainConfig,
}

/// Makes CPU training reproducible bit for bit: one intra-op thread (reduction order fixed).
pub fn deterministic_cpu() {
    tch::set_num_threads(1);
}

/// The genesis weights: `NeuroLlm::new(cfg, seed)` initialised on the CPU (so every machine gets
/// the same bits), then moved to the training device.
pub fn genesis_model(cfg: &ModelConfig, seed: u64) -> Result<NeuroLlm, ComputeError> {
    let seed = i64::try_from(seed % (i64::MAX as u64)).unwrap_or(0);
    NeuroLlm::build_on(cfg, 0..cfg.layers, Some(seed), Device::Cpu)
}

/// The corpus pin of the dataset: the BLAKE3 hash of its [`crate::data::CorpusManifest`] (each
/// shard's BLAKE3 and length, in order), what genesis pins and a proof's `data_shard` names.
pub fn dataset_hash(dataset: &Dataset) -> [u8; 32] {
    crate::data::CorpusManifest::of(dataset).hash()
}

/// Batch `index` of the assignment `data_seed`: the shard is picked by
/// `SHA-256(seed ‖ index) mod shards`, the rows by [`Dataset::batch`] from (shard, index, seed).
pub fn assigned_batch(
    dataset: &Dataset,
    data_seed: &[u8; 32],
    index: u64,
    cfg: &TrainConfig,
) -> Result<Batch, ComputeError> {
    if dataset.shards.is_empty() {
        return Err(ComputeError::Data("the dataset has no shards".into()));
    }
    let mut h = Sha256::new();
    h.update(data_seed);
    h.update(index.to_le_bytes());
    let pick: [u8; 32] = h.finalize().into();
    // The held-out shard (the last, when there are two or more) is never trained on.
    let n = dataset.shards.len() as u64 - u64::from(heldout_shard(dataset).is_some());
    let shard = &dataset.shards[(u64::from_le_bytes(prefix8(&pick)) % n) as usize];
    let id = BatchId {
        shard: shard.hash,
        offset: index,
        seed: u64::from_le_bytes(prefix8(data_seed)),
    };
    dataset.batch(&id, cfg.batch_size, cfg.seq_len)
}

fn prefix8(bytes: &[u8; 32]) -> [u8; 8] {
    let mut out = [0u8; 8];
    out.copy_from_slice(&bytes[..8]);
    out
}

/// A segment in progress: a copy of the start weights under the inner optimizer, fresh or
/// carried from the node's previous segment of the round.
pub struct Segment {
    start: Tensor,
    trainer: Trainer,
    spec: SegmentSpec,
    pub loss_sum: f64,
    pub tokens: u64,
}

/// A finished segment: what its proof commits to.
pub struct SegmentResult {
    pub batches: u64,
    pub tokens: u64,
    pub mean_loss: f64,
    /// The pseudo-gradient `start − end` (flat, in `named_parameters` order) as it travels:
    /// [`quantize_exact`] then [`Int8Update::to_bytes`]. The proof names this blob by its hash;
    /// a replay must give the same bytes.
    pub blob: Vec<u8>,
    /// The blob's values: what the round aggregates.
    pub update: Update,
    /// The inner state after the segment ([`InnerState::to_bytes`]): what the node's next
    /// segment of the round starts from. The proof commits to this blob's hash too.
    pub state: Vec<u8>,
}

/// A pseudo-gradient as a round aggregates it: the values of the int8 blob a proof names.
pub struct Update(Tensor);

impl Update {
    /// Decodes a pseudo-gradient blob of a model with `parameters` parameters (after its hash
    /// was checked against the proof's).
    pub fn decode(bytes: &[u8], parameters: i64) -> Result<Update, ComputeError> {
        let n = usize::try_from(parameters)
            .map_err(|_| ComputeError::Aggregation("negative parameter count".into()))?;
        Ok(Update(dequantize(&Int8Update::from_bytes(bytes, n)?)?))
    }

    fn from_pseudo_gradient(pg: &Tensor) -> Result<(Vec<u8>, Update), ComputeError> {
        let q = quantize_exact(pg)?;
        Ok((q.to_bytes()?, Update(dequantize(&q)?)))
    }

    /// The blob of this update times `factor` (what a Byzantine worker might publish).
    pub fn scaled_blob(&self, factor: f64) -> Result<Vec<u8>, ComputeError> {
        quantize_exact(&(&self.0 * factor))?.to_bytes()
    }

    pub fn tensor(&self) -> &Tensor {
        &self.0
    }
}

/// The most bytes a pseudo-gradient blob of a `parameters`-parameter model takes.
pub fn max_blob_len(parameters: i64) -> u64 {
    Int8Update::max_encoded_len(parameters.max(0) as u64)
}

impl Segment {
    /// A segment from `start`'s weights. It always trains on the CPU, whatever device `start`
    /// is on: replay is bit-exact only there (one intra-op thread, the same libtorch build), so
    /// a proof trained on a GPU would not reproduce on a validator and its honest worker would
    /// be judged a cheat.
    pub fn start(start: &NeuroLlm, spec: SegmentSpec) -> Result<Segment, ComputeError> {
        let model = NeuroLlm::build_on(start.config(), start.layer_range(), None, Device::Cpu)?;
        model.copy_weights_from(start)?;
        let trainer = Trainer::new(model, spec.train.clone())?;
        Ok(Segment::with(trainer, start.flat_parameters(), spec))
    }

    /// A segment that continues the node's previous segment of the round from its end `state`
    /// (weights and AdamW moments), for a model shaped like `template`: DiLoCo's inner steps
    /// of one worker form one trajectory, however many proofs they are claimed in. On the
    /// CPU, like [`Segment::start`].
    pub fn resume(
        template: &NeuroLlm,
        state: &InnerState,
        spec: SegmentSpec,
    ) -> Result<Segment, ComputeError> {
        let model =
            NeuroLlm::build_on(template.config(), template.layer_range(), None, Device::Cpu)?;
        let trainer = Trainer::resume(model, spec.train.clone(), state)?;
        Ok(Segment::with(
            trainer,
            state.weights().shallow_clone(),
            spec,
        ))
    }

    fn with(mut trainer: Trainer, start: Tensor, spec: SegmentSpec) -> Segment {
        trainer.schedule_start = spec.schedule_step;
        Segment {
            start,
            trainer,
            spec,
            loss_sum: 0.0,
            tokens: 0,
        }
    }

    /// Batches trained so far.
    pub fn batches(&self) -> u64 {
        self.trainer.step
    }

    /// Trains the next assigned batch; returns its loss.
    pub fn step(&mut self, dataset: &Dataset) -> Result<f64, ComputeError> {
        let index = self.spec.first_batch + self.trainer.step;
        let batch = assigned_batch(dataset, &self.spec.data_seed, index, &self.spec.train)?;
        let loss = self.trainer.train_step(&batch)?;
        self.loss_sum += loss;
        self.tokens += batch.predicted_tokens();
        Ok(loss)
    }

    pub fn finish(self) -> Result<SegmentResult, ComputeError> {
        let pseudo_gradient = &self.start - self.trainer.model.flat_parameters();
        let (blob, update) = Update::from_pseudo_gradient(&pseudo_gradient)?;
        let batches = self.trainer.step;
        Ok(SegmentResult {
            batches,
            tokens: self.tokens,
            mean_loss: self.loss_sum / batches.max(1) as f64,
            blob,
            update,
            state: self.trainer.state_bytes()?,
        })
    }
}

/// Re-executes a claimed segment of `batches` batches: what a validator does. `from` is the
/// inner state the proof says it started from (`None`: the round's weights `start` with fresh
/// moments).
pub fn replay(
    start: &NeuroLlm,
    from: Option<&InnerState>,
    dataset: &Dataset,
    spec: SegmentSpec,
    batches: u64,
) -> Result<SegmentResult, ComputeError> {
    let mut segment = match from {
        Some(state) => Segment::resume(start, state, spec)?,
        None => Segment::start(start, spec)?,
    };
    for _ in 0..batches {
        segment.step(dataset)?;
    }
    segment.finish()
}

/// Batch ids of liveness answers start here, far from any training segment's.
const LIVENESS_FIRST_BATCH: u64 = 1 << 62;

/// A **liveness answer**: the BLAKE3 hash of `model`'s losses (f64 bits, in order) on
/// `batches` batches assigned by `data_seed`, evaluated without gradients on the CPU (where it
/// reproduces bit for bit), under a domain of its own. What an uptime proof commits to and a
/// validator replays: nobody knows the seed before the node's previous proof is accepted, and
/// no answer comes without the forward passes on the round's model.
pub fn liveness_answer(
    model: &NeuroLlm,
    dataset: &Dataset,
    data_seed: &[u8; 32],
    batches: u64,
    cfg: &TrainConfig,
) -> Result<[u8; 32], ComputeError> {
    let cpu;
    let model = if model.device() == Device::Cpu {
        model
    } else {
        cpu = NeuroLlm::build_on(model.config(), model.layer_range(), None, Device::Cpu)?;
        cpu.copy_weights_from(model)?;
        &cpu
    };
    let mut h = blake3::Hasher::new();
    h.update(b"neuroshard-liveness-v1");
    h.update(data_seed);
    for i in 0..batches {
        let batch = assigned_batch(dataset, data_seed, LIVENESS_FIRST_BATCH + i, cfg)?;
        h.update(&model.eval_loss(&batch)?.to_bits().to_le_bytes());
    }
    Ok(*h.finalize().as_bytes())
}

/// One update per segment chain: `updates[i]` continues the chain of `previous[i]` (an earlier
/// index of the same list) or starts one. A chain's pseudo-gradients add up to its worker's
/// whole inner trajectory of the round, which the robust rule then weighs as one worker's.
/// Chains come out in the order their first segment is listed; sums run in list order.
pub fn sum_chains(
    updates: &[&Tensor],
    previous: &[Option<usize>],
) -> Result<Vec<Tensor>, ComputeError> {
    if updates.len() != previous.len() {
        return Err(ComputeError::Aggregation(
            "one predecessor entry per update".into(),
        ));
    }
    let mut chain_of: Vec<usize> = Vec::with_capacity(updates.len());
    let mut sums: Vec<Tensor> = Vec::new();
    for (i, update) in updates.iter().enumerate() {
        match previous[i].filter(|&p| p < i) {
            Some(p) => {
                let c = chain_of[p];
                sums[c] = &sums[c] + *update;
                chain_of.push(c);
            }
            None => {
                chain_of.push(sums.len());
                sums.push(update.shallow_clone().copy());
            }
        }
    }
    Ok(sums)
}

/// The hash a round records for "no momentum yet" (the runtime's `round::NO_MOMENTUM`).
pub const NO_MOMENTUM_HASH: [u8; 32] = [0; 32];

/// A closed round: the aggregate's hash, the next round's weights and the outer momentum after
/// the step.
pub struct RoundOutcome {
    /// Hash of the aggregate (all zero when nothing was included).
    pub aggregate_hash: [u8; 32],
    pub next: NeuroLlm,
    pub momentum: Momentum,
}

/// Closes a round: clips the pseudo-gradients (in the given, canonical order) to their median
/// norm, aggregates them with `rule`
/// and applies the outer Nesterov step (`outer` resumes from the round's committed momentum) to
/// a copy of `start`. With no pseudo-gradients nothing moves: the next round trains the same
/// weights from the same momentum. Plain CPU code with one thread: every validator gets the
/// same bits.
pub fn close_round(
    start: &NeuroLlm,
    updates: &[&Tensor],
    rule: Rule,
    mut outer: OuterOptimizer,
) -> Result<RoundOutcome, ComputeError> {
    let next = NeuroLlm::build_on(start.config(), start.layer_range(), None, start.device())?;
    next.copy_weights_from(start)?;
    let aggregate_hash = if updates.is_empty() {
        [0; 32]
    } else {
        let deltas: Vec<Tensor> = updates.iter().map(|u| u.shallow_clone()).collect();
        let aggregate = aggregate(&clip_to_median_norm(&deltas)?, rule)?;
        outer.step(&next, &aggregate)?;
        hash_vector(&aggregate)
    };
    Ok(RoundOutcome {
        aggregate_hash,
        next,
        momentum: outer.momentum(),
    })
}

/// The held-out shard: the dataset's last shard when it has more than one. Training never
/// draws from it ([`assigned_batch`]), so its loss measures generalisation.
pub fn heldout_shard(dataset: &Dataset) -> Option<&crate::data::Shard> {
    (dataset.shards.len() > 1)
        .then(|| dataset.shards.last())
        .flatten()
}

/// Mean loss (nats per token) of `model` on `batches` batches of the held-out shard drawn with
/// `seed`: the same batches on every machine, evaluated on CPU without gradients.
pub fn heldout_loss(
    model: &NeuroLlm,
    dataset: &Dataset,
    cfg: &TrainConfig,
    batches: u64,
    seed: &[u8; 32],
) -> Result<f64, ComputeError> {
    let shard = heldout_shard(dataset).ok_or_else(|| {
        ComputeError::Data("a held-out shard needs a dataset of two or more shards".into())
    })?;
    let mut sum = 0.0;
    for i in 0..batches {
        let id = BatchId {
            shard: shard.hash,
            offset: i,
            seed: u64::from_le_bytes(prefix8(seed)),
        };
        let batch = dataset.batch(&id, cfg.batch_size, cfg.seq_len)?;
        sum += model.eval_loss(&batch)?;
    }
    Ok(sum / batches.max(1) as f64)
}

/// This machine's memory read bandwidth on one thread, GB/s: the best of 5 sums over 1 GiB of
/// f32, the bound a round close's aggregation (which reads every pseudo-gradient) is set beside.
pub fn memory_read_gbps() -> f64 {
    let values = Tensor::ones([1 << 28], (tch::Kind::Float, Device::Cpu));
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let t = std::time::Instant::now();
        let _ = values.sum(tch::Kind::Float).double_value(&[]);
        best = best.min(t.elapsed().as_secs_f64());
    }
    (1u64 << 30) as f64 / 1e9 / best
}

/// Seconds each part of a round close took (see [`time_round_close`]).
#[derive(Clone, Debug)]
pub struct RoundCloseTiming {
    pub parameters: i64,
    pub workers: usize,
    /// Clipping, robust aggregation and the outer step.
    pub aggregate_and_step_s: f64,
    /// Held-out evaluation of the next weights.
    pub eval_s: f64,
}

/// Times [`close_round`] and [`heldout_loss`] for `workers` random pseudo-gradients of a
/// `cfg`-sized model (the fetch is not included: blobs do not travel yet).
pub fn time_round_close(
    cfg: &ModelConfig,
    workers: usize,
    dataset: &Dataset,
    train: &TrainConfig,
    rule: Rule,
) -> Result<RoundCloseTiming, ComputeError> {
    let start = genesis_model(cfg, 1)?;
    let n = start.num_parameters();
    tch::manual_seed(5);
    let updates: Vec<Tensor> = (0..workers)
        .map(|_| Tensor::randn([n], (tch::Kind::Float, Device::Cpu)) * 1e-3)
        .collect();
    let refs: Vec<&Tensor> = updates.iter().collect();
    let t = std::time::Instant::now();
    let out = close_round(
        &start,
        &refs,
        rule,
        OuterOptimizer::new(&crate::diloco::DilocoConfig::default()),
    )?;
    let aggregate_and_step_s = t.elapsed().as_secs_f64();
    let t = std::time::Instant::now();
    heldout_loss(&out.next, dataset, train, 4, &[9; 32])?;
    Ok(RoundCloseTiming {
        parameters: n,
        workers,
        aggregate_and_step_s,
        eval_s: t.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::SyntheticCorpus;

    fn spec(first_batch: u64) -> SegmentSpec {
        SegmentSpec {
            data_seed: [7; 32],
            first_batch,
            schedule_step: 0,
            train: TrainConfig {
                batch_size: 2,
                seq_len: 16,
                lr: 1e-3,
                warmup_steps: 2,
                ..TrainConfig::default()
            },
        }
    }

    #[test]
    fn replay_reproduces_the_pseudo_gradient_bit_for_bit() {
        deterministic_cpu();
        let cfg = ModelConfig::tiny();
        let start = genesis_model(&cfg, 3).unwrap();
        let data = SyntheticCorpus::new(1).dataset(3, 4_000);
        let mut seg = Segment::start(&start, spec(10)).unwrap();
        for _ in 0..4 {
            seg.step(&data).unwrap();
        }
        let done = seg.finish().unwrap();
        assert_eq!(done.batches, 4);
        let again = replay(&start, None, &data, spec(10), 4).unwrap();
        assert_eq!(again.blob, done.blob);
        // The blob decodes to what is aggregated.
        let decoded = Update::decode(&done.blob, start.num_parameters()).unwrap();
        assert!(decoded.tensor().equal(done.update.tensor()));
        assert!(done.blob.len() as u64 <= max_blob_len(start.num_parameters()));
        // Claiming more batches, other batches or another seed gives another blob.
        let more = replay(&start, None, &data, spec(10), 5).unwrap();
        assert_ne!(more.blob, done.blob);
        let shifted = replay(&start, None, &data, spec(11), 4).unwrap();
        assert_ne!(shifted.blob, done.blob);
        // Later on the schedule (past warm-up), the same batches give another blob.
        let later = SegmentSpec {
            schedule_step: 100,
            ..spec(10)
        };
        assert_ne!(
            replay(&start, None, &data, later, 4).unwrap().blob,
            done.blob
        );
        // The start weights are untouched.
        assert_eq!(
            start.weights_hash(),
            genesis_model(&cfg, 3).unwrap().weights_hash()
        );
    }

    #[test]
    fn a_liveness_answer_reproduces_and_needs_the_model_the_seed_and_every_batch() {
        deterministic_cpu();
        let cfg = ModelConfig::tiny();
        let model = genesis_model(&cfg, 3).unwrap();
        let data = SyntheticCorpus::new(1).dataset(3, 4_000);
        let train = spec(0).train;
        let answer = liveness_answer(&model, &data, &[7; 32], 2, &train).unwrap();
        assert_eq!(
            liveness_answer(&model, &data, &[7; 32], 2, &train).unwrap(),
            answer
        );
        assert_ne!(
            liveness_answer(&model, &data, &[8; 32], 2, &train).unwrap(),
            answer
        );
        assert_ne!(
            liveness_answer(&model, &data, &[7; 32], 1, &train).unwrap(),
            answer
        );
        let other = genesis_model(&cfg, 4).unwrap();
        assert_ne!(
            liveness_answer(&other, &data, &[7; 32], 2, &train).unwrap(),
            answer
        );
    }

    #[test]
    fn segments_chained_through_their_inner_state_are_one_trajectory_and_replay_from_it() {
        deterministic_cpu();
        let cfg = ModelConfig::tiny();
        let start = genesis_model(&cfg, 3).unwrap();
        let data = SyntheticCorpus::new(1).dataset(3, 4_000);
        let at = |first_batch: u64| SegmentSpec {
            schedule_step: first_batch,
            ..spec(first_batch)
        };
        // Two segments of 3 batches, the second resuming from the first's end state…
        let first = replay(&start, None, &data, at(0), 3).unwrap();
        let mid = InnerState::from_bytes(&first.state, start.num_parameters()).unwrap();
        assert_eq!(mid.steps(), 3);
        // A state read back writes the same bytes as the trainer did.
        assert_eq!(mid.to_bytes().unwrap(), first.state);
        let second = replay(&start, Some(&mid), &data, at(3), 3).unwrap();
        // …end where one segment of 6 batches does, bit for bit (weights, moments, steps).
        let whole = replay(&start, None, &data, at(0), 6).unwrap();
        assert_eq!(second.state, whole.state);
        // A replay from the committed start state gives the same blob and end state.
        let again = replay(&start, Some(&mid), &data, at(3), 3).unwrap();
        assert_eq!(again.blob, second.blob);
        assert_eq!(again.state, second.state);
        // Restarting the moments (the old behaviour) is another segment.
        let restarted = replay(&start, None, &data, at(3), 3).unwrap();
        assert_ne!(restarted.blob, second.blob);
        // The chain's pseudo-gradients add up to its whole trajectory (less int8 rounding).
        let sums = sum_chains(
            &[
                first.update.tensor(),
                second.update.tensor(),
                restarted.update.tensor(),
            ],
            &[None, Some(0), None],
        )
        .unwrap();
        assert_eq!(sums.len(), 2);
        let end = InnerState::from_bytes(&whole.state, start.num_parameters()).unwrap();
        let exact = start.flat_parameters() - end.weights();
        let err = f64::try_from((&sums[0] - &exact).abs().max()).unwrap();
        let scale = f64::try_from(exact.abs().max()).unwrap();
        assert!(err < scale / 64.0, "chain sum off by {err} (max {scale})");
        assert!(sums[1].equal(restarted.update.tensor()));
        // A state of another model's size is refused.
        let other = genesis_model(
            &ModelConfig {
                layers: 1,
                ..cfg.clone()
            },
            3,
        )
        .unwrap();
        assert!(Segment::resume(&other, &mid, at(3)).is_err());
        assert!(InnerState::from_bytes(&first.blob, start.num_parameters()).is_err());
        assert!(first.state.len() as u64 <= InnerState::max_len(start.num_parameters()));
    }

    #[test]
    fn a_round_of_chained_segments_learns_more_than_the_same_batches_restarted() {
        deterministic_cpu();
        let start = genesis_model(&ModelConfig::tiny(), 3).unwrap();
        let data = SyntheticCorpus::new(1).dataset(3, 20_000);
        let mut train = spec(0).train;
        train.lr = 3e-3;
        let at = |first_batch: u64| SegmentSpec {
            data_seed: [5; 32],
            first_batch,
            schedule_step: first_batch,
            train: train.clone(),
        };
        let (segments, per) = (4u64, 8u64);
        // One worker's round: 4 segments of 8 batches, chained through the inner state…
        let mut chained = Vec::new();
        let mut state: Option<InnerState> = None;
        for k in 0..segments {
            let done = replay(&start, state.as_ref(), &data, at(k * per), per).unwrap();
            state = Some(InnerState::from_bytes(&done.state, start.num_parameters()).unwrap());
            chained.push(done.update);
        }
        // …or each restarted from the round's weights with fresh moments (the old way).
        let restarted: Vec<Update> = (0..segments)
            .map(|k| {
                replay(&start, None, &data, at(k * per), per)
                    .unwrap()
                    .update
            })
            .collect();
        let dc = crate::diloco::DilocoConfig::default();
        let rule = Rule::TrimmedMean { trim: 0.1 };
        let refs: Vec<&Tensor> = chained.iter().map(Update::tensor).collect();
        let links: Vec<Option<usize>> = (0..refs.len()).map(|i| i.checked_sub(1)).collect();
        let sums = sum_chains(&refs, &links).unwrap();
        assert_eq!(sums.len(), 1);
        let one = close_round(&start, &[&sums[0]], rule, OuterOptimizer::new(&dc)).unwrap();
        let refs: Vec<&Tensor> = restarted.iter().map(Update::tensor).collect();
        let many = close_round(&start, &refs, rule, OuterOptimizer::new(&dc)).unwrap();
        let loss = |m: &NeuroLlm| heldout_loss(m, &data, &train, 4, &[9; 32]).unwrap();
        let (before, chain_loss, restart_loss) = (loss(&start), loss(&one.next), loss(&many.next));
        eprintln!(
            "held-out loss after one round: {before:.4} -> chained {chain_loss:.4}, \
             restarted {restart_loss:.4}"
        );
        assert!(chain_loss < restart_loss && restart_loss < before);
    }

    #[test]
    fn assignment_depends_on_seed_and_index_only() {
        let data = SyntheticCorpus::new(1).dataset(4, 4_000);
        let cfg = spec(0).train;
        let a = assigned_batch(&data, &[1; 32], 5, &cfg).unwrap();
        assert_eq!(a, assigned_batch(&data, &[1; 32], 5, &cfg).unwrap());
        assert_ne!(
            a.tokens,
            assigned_batch(&data, &[1; 32], 6, &cfg).unwrap().tokens
        );
        assert_ne!(
            a.tokens,
            assigned_batch(&data, &[2; 32], 5, &cfg).unwrap().tokens
        );
    }

    #[test]
    fn training_never_draws_from_the_heldout_shard() {
        let data = SyntheticCorpus::new(1).dataset(3, 4_000);
        let held = heldout_shard(&data).unwrap().hash;
        let cfg = spec(0).train;
        for i in 0..200 {
            assert_ne!(
                assigned_batch(&data, &[4; 32], i, &cfg).unwrap().id.shard,
                held
            );
        }
        let one = SyntheticCorpus::new(1).dataset(1, 4_000);
        assert!(heldout_shard(&one).is_none());
        assert!(assigned_batch(&one, &[4; 32], 0, &cfg).is_ok());
    }

    /// A tiny genesis model, a corpus, and the pseudo-gradients of `workers` honest 8-batch
    /// segments from it (data seeds 1, 2, …).
    fn honest_round(workers: u8) -> (NeuroLlm, Dataset, TrainConfig, Vec<Tensor>) {
        deterministic_cpu();
        let start = genesis_model(&ModelConfig::tiny(), 3).unwrap();
        let data = SyntheticCorpus::new(1).dataset(3, 20_000);
        let mut train = spec(0).train;
        train.lr = 3e-3;
        let updates = (1..=workers)
            .map(|seed| {
                let s = SegmentSpec {
                    data_seed: [seed; 32],
                    first_batch: 0,
                    schedule_step: 0,
                    train: train.clone(),
                };
                replay(&start, None, &data, s, 8)
                    .unwrap()
                    .update
                    .tensor()
                    .shallow_clone()
            })
            .collect();
        (start, data, train, updates)
    }

    #[test]
    fn a_round_close_is_the_same_bits_everywhere_resumes_from_saved_momentum_and_learns() {
        let (start, data, train, updates) = honest_round(3);
        let refs: Vec<&Tensor> = updates.iter().collect();
        let dc = crate::diloco::DilocoConfig::default();
        let rule = Rule::TrimmedMean { trim: 0.1 };
        let a = close_round(&start, &refs, rule, OuterOptimizer::new(&dc)).unwrap();
        let b = close_round(&start, &refs, rule, OuterOptimizer::new(&dc)).unwrap();
        assert_eq!(a.next.weights_hash(), b.next.weights_hash());
        assert_eq!(a.momentum.hash(), b.momentum.hash());
        assert_ne!(a.momentum.hash(), NO_MOMENTUM_HASH);
        assert_ne!(a.next.weights_hash(), start.weights_hash());
        // The held-out loss of the next weights is below the start's.
        let before = heldout_loss(&start, &data, &train, 4, &[9; 32]).unwrap();
        let after = heldout_loss(&a.next, &data, &train, 4, &[9; 32]).unwrap();
        assert_eq!(
            before,
            heldout_loss(&start, &data, &train, 4, &[9; 32]).unwrap()
        );
        assert!(after < before, "held-out loss {before} -> {after}");
        // Momentum saved and loaded by hash resumes exactly as the in-memory one.
        let dir = std::env::temp_dir().join(format!("ns-momentum-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("m.safetensors");
        assert_eq!(a.momentum.save(&path).unwrap(), a.momentum.hash());
        assert!(Momentum::load(&path, &[1; 32]).is_err());
        let loaded = Momentum::load(&path, &a.momentum.hash()).unwrap();
        let again = close_round(&a.next, &refs, rule, OuterOptimizer::resume(&dc, loaded)).unwrap();
        let a_hash = a.momentum.hash();
        let direct = close_round(
            &a.next,
            &refs,
            rule,
            OuterOptimizer::resume(&dc, a.momentum),
        )
        .unwrap();
        assert_eq!(again.next.weights_hash(), direct.next.weights_hash());
        assert_eq!(again.momentum.hash(), direct.momentum.hash());
        assert_ne!(again.momentum.hash(), a_hash);
        // Nothing included: nothing moves.
        let resumed = Momentum::load(&path, &a_hash).unwrap();
        let idle = close_round(&a.next, &[], rule, OuterOptimizer::resume(&dc, resumed)).unwrap();
        assert_eq!(idle.next.weights_hash(), a.next.weights_hash());
        assert_eq!(idle.momentum.hash(), a_hash);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn huge_sign_flipped_and_nan_updates_do_not_stop_learning() {
        let (start, data, train, honest) = honest_round(4);
        // Two sign-flipped ×100 and a NaN among four honest: trimming one value per side per
        // coordinate leaves a ×100 in every coordinate; clipping to the median norm tames it.
        let flipped = &honest[0] * -100.0;
        let flipped2 = &honest[1] * -100.0;
        let nan = honest[1].full_like(f64::NAN);
        let mut updates: Vec<&Tensor> = honest.iter().collect();
        updates.extend([&flipped, &flipped2, &nan]);
        let dc = crate::diloco::DilocoConfig::default();
        let before = heldout_loss(&start, &data, &train, 4, &[9; 32]).unwrap();
        let rule = Rule::TrimmedMean { trim: 0.1 };
        let out = close_round(&start, &updates, rule, OuterOptimizer::new(&dc)).unwrap();
        let after = heldout_loss(&out.next, &data, &train, 4, &[9; 32]).unwrap();
        assert!(after.is_finite() && after < before, "{before} -> {after}");
        // Clipped: no update is longer than the median, and the NaN one is zero.
        let clipped = clip_to_median_norm(&[honest[0].shallow_clone(), flipped, nan]).unwrap();
        let norm = |t: &Tensor| f64::try_from(t.norm()).unwrap();
        assert!((norm(&clipped[1]) - norm(&honest[0])).abs() < 1e-3 * norm(&honest[0]));
        assert_eq!(norm(&clipped[2]), 0.0);
    }
}
