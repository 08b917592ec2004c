//! The validator's side of Proof of Neural Work: re-execute a sample of accepted proofs, submit
//! a verdict for each, and attest each training round's result (see `Rounds` below).
//!
//! * **Sampling.** The ledger draws which proofs are re-executed (`verify_sample_bps`, seeded by
//!   validators' beacon signatures collected after the proof was committed; see
//!   `neuroshard_runtime::draw`);
//!   a drawn proof is paid only after more than a third of validator power verified it.
//! * **Shared replay.** A drawn proof falls to its *replayers*, the fewest validators (in an
//!   order the draw picks) that hold more than a third of the power
//!   (`neuroshard_runtime::draw::replayers`): only they re-execute it. Enough to verify an
//!   honest proof, and always one honest validator among them, whose *invalid* sends a
//!   fabricated one to everyone: a proof that any validator called invalid is re-executed by
//!   every validator. A drawn proof still undecided long after this validator saw it drawn (a
//!   replayer is down) is re-executed here too ([`fallback_after`]). Other validators take a
//!   verified proof's pseudo-gradient from peers, like an undrawn one's.
//! * **Re-execution** replays the segment on CPU with one thread from the start state the proof
//!   names (the round's weights with fresh moments, or the end state of the node's previous
//!   segment of the round: held, fetched from peers, else recomputed by re-executing that
//!   segment) and compares the pseudo-gradient blob's and the end state's hashes with the
//!   proof's ([`neuroshard_compute::ponw::replay`]); what reproduces is kept to serve to peers.
//! * **Pseudo-gradients of undrawn proofs** (and of drawn ones other validators verified) are
//!   fetched from peers as the blobs the proofs name (verified against that hash while
//!   streaming), as soon as the ledger has drawn (or verified) the proof.
//! * **Rounds.** Once a committed block is past the open round's deadline (its training proofs
//!   are frozen) and every drawn proof of it has been decided, this validator computes
//!   the round's result by the rule in [`neuroshard_runtime::round`]: the pseudo-gradients it
//!   holds of the round's non-voided proofs (less those that continue a left-out segment), drawn
//!   or not, in acceptance order, each worker's chain of segments summed into one update (an undrawn proof
//!   whose blob did not come in time is re-executed here instead, so that every honest validator
//!   includes the same set), aggregated with the genesis rule; the outer Nesterov step from the
//!   round's committed momentum; the held-out loss of the next weights. It stores weights and momentum under
//!   `models/` and submits `AttestRound`. The ledger adopts a result at more than two thirds of
//!   validator power, so no round waits on one validator.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;

use neuroshard_chain::blobs::{blob_hash, BlobError, PendingBlob};
use neuroshard_chain::node::NodeApi;
use neuroshard_compute::aggregate::Rule;
use neuroshard_compute::diloco::{DilocoConfig, OuterOptimizer};
use neuroshard_compute::ponw::{self as segment, SegmentResult, SegmentSpec, Update};
use neuroshard_compute::train::InnerState;
use neuroshard_runtime::params::Aggregation;
use neuroshard_runtime::proof::{liveness_batches, NO_STATE};
use neuroshard_runtime::round::{self, RoundResult};
use neuroshard_runtime::state::{ProofRecord, ProofStatus};
use neuroshard_runtime::{Hash32, Params, SecretKey, SignedTransaction, TxBody};
use tracing::{debug, info, warn};

use crate::models::{ModelStore, RecentStates};
use crate::spec::{model_config_of, schedule_step_of, train_config_of, Corpus};

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
    diloco: DilocoConfig,
    /// Test only: attest wrong round results.
    lie: bool,
    /// Next block whose proofs are to be considered.
    next_height: u64,
    /// Proofs this validator has voted on.
    voted: HashSet<Hash32>,
    /// Re-executions of the open round's proofs: whether each reproduced its proof's blob
    /// (which is then held in the blob store).
    replays: HashMap<Hash32, bool>,
    /// End states of segments it re-executed (a drawn successor replays from them), newest few.
    states: RecentStates,
    /// The pseudo-gradient blobs of the open round's undrawn proofs, as fetched from peers.
    gradients: HashMap<Hash32, Gradient>,
    /// Drawn proofs that fell to other validators, and when this one saw each drawn: re-executed
    /// here only if disputed, or still undecided past [`fallback_after`]. Entries leave once
    /// their proof is decided, so this holds at most the proofs still waiting for a verdict.
    others: HashMap<Hash32, Instant>,
    /// The round this validator last attested, and when (retried if it does not land).
    attested: Option<(u64, Instant)>,
    /// The open round this validator last failed to catch up to, and when (retried later).
    catch_up_failed: Option<(u64, Instant)>,
    stats: VerifierStats,
}

/// Runs the validator service until `stop`. Does nothing while `key` is not an active validator.
pub fn run(
    api: NodeApi,
    key: SecretKey,
    corpus: Corpus,
    lie: bool,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<()> {
    segment::deterministic_cpu();
    // A node that is not (yet) a validator verifies nothing and needs no corpus: it waits.
    while !is_active(&api, &key.address()) {
        if stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    // The corpus and DiLoCo's outer step are fixed at genesis; the rest is read each tick, as
    // NeuroDAO may change it.
    let params = api.with_chain(|c| c.ledger().params().clone());
    let (dataset, _) = crate::corpus::load(&api, &corpus, &params.training.corpus)?;
    let diloco = DilocoConfig {
        outer_lr: f64::from(params.training.outer_lr_ppm) / 1e6,
        outer_momentum: f64::from(params.training.outer_momentum_ppm) / 1e6,
        ..DilocoConfig::default()
    };
    // Proofs still inside their challenge window may need a verdict after a restart.
    let height = api.status().height;
    let mut v = Verifier {
        models: ModelStore::new(&api)?,
        dataset_hash: segment::dataset_hash(&dataset),
        dataset,
        next_height: height.saturating_sub(100).max(1),
        voted: HashSet::new(),
        replays: HashMap::new(),
        states: RecentStates::new(8),
        gradients: HashMap::new(),
        others: HashMap::new(),
        attested: None,
        catch_up_failed: None,
        diloco,
        lie,
        stats: VerifierStats::default(),
        api,
        key,
    };
    info!(validator = %v.key.address(), "proof verification started");
    while !stop.load(Ordering::Relaxed) {
        let params = v.api.with_chain(|c| c.ledger().params().clone());
        if let Err(e) = v.tick(&params) {
            warn!("verification: {e:#}");
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    Ok(())
}

/// Whether `who` is an active validator now (not jailed, with voting power).
pub fn is_active(api: &NodeApi, who: &neuroshard_runtime::Address) -> bool {
    api.with_chain(|c| {
        c.ledger()
            .validators()
            .map(|vs| {
                vs.iter()
                    .any(|v| v.address == *who && !v.record.jailed && v.record.power > 0)
            })
            .unwrap_or(false)
    })
}

impl Verifier {
    /// `params` with the architecture round `round` trained: a proof is replayed, and a round
    /// recomputed, as it was trained, whatever NeuroDAO changed since.
    fn round_params(&self, params: &Params, round: u64) -> anyhow::Result<Params> {
        let model = self.api.with_chain(|c| c.ledger().model_for_round(round))?;
        Ok(Params {
            model,
            ..params.clone()
        })
    }

    fn active(&self) -> bool {
        is_active(&self.api, &self.key.address())
    }

    fn tick(&mut self, params: &Params) -> anyhow::Result<()> {
        if !self.active() {
            return Ok(());
        }
        if !self.catch_up(params)? {
            return Ok(()); // nothing of the open round can be re-executed without its model
        }
        let top = self.api.status().height;
        let me = self.key.address();
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
                    Some(true) if record.replayers.contains(&me) || record.replayers.is_empty() => {
                        self.check(params, id)?
                    }
                    Some(true) => {
                        self.others.entry(id).or_insert_with(Instant::now);
                    }
                    _ => {}
                }
            }
            self.next_height += 1;
        }
        self.check_disputes(params)?;
        self.check_others(params)?;
        self.fetch_gradients(params)?;
        self.maybe_attest_round(params)
    }

    /// Starts or polls the fetch of every undrawn, non-voided proof's pseudo-gradient blob of
    /// the open round. A blob is held only once it verified against the proof's hash and
    /// decodes as a pseudo-gradient of the round's model.
    fn fetch_gradients(&mut self, params: &Params) -> anyhow::Result<()> {
        let proofs = self.api.with_chain(|c| {
            let l = c.ledger();
            let mut out = Vec::new();
            for id in l.round_trained(l.training()?.round)? {
                if let Some(p) = l.proof(&id)? {
                    out.push((id, p));
                }
            }
            Ok::<_, anyhow::Error>(out)
        })?;
        let open: HashSet<Hash32> = proofs.iter().map(|(id, _)| *id).collect();
        self.gradients.retain(|id, _| open.contains(id));
        let parameters = model_config_of(&params.model).parameters();
        for (id, p) in proofs {
            if !by_blob(&p) || p.status == ProofStatus::Voided {
                continue;
            }
            let next = match self.gradients.get_mut(&id) {
                Some(Gradient::Held | Gradient::Refused) => continue,
                Some(Gradient::Failed(at)) if at.elapsed() < GRADIENT_RETRY => continue,
                Some(Gradient::Fetching(fetch)) => match fetch.poll() {
                    None => continue,
                    Some(Ok(path)) => match crate::models::decode_gradient(&path, parameters) {
                        Ok(_) => Gradient::Held,
                        Err(e) => {
                            warn!(proof = %hex::encode(&id[..8]), node = %p.node, "pseudo-gradient blob refused: {e:#}");
                            Gradient::Refused
                        }
                    },
                    Some(Err(e)) => {
                        debug!(proof = %hex::encode(&id[..8]), "pseudo-gradient not fetched: {e}");
                        Gradient::Failed(Instant::now())
                    }
                },
                Some(Gradient::Failed(_)) | None => {
                    let max = segment::max_blob_len(parameters);
                    match self.api.blobs().start_fetch(p.pseudo_gradient, max) {
                        Ok(fetch) => Gradient::Fetching(fetch),
                        Err(BlobError::Busy) => continue, // every fetch slot taken: next tick
                        Err(e) => {
                            debug!("cannot fetch a pseudo-gradient: {e}");
                            continue;
                        }
                    }
                }
            };
            self.gradients.insert(id, next);
        }
        Ok(())
    }

    /// Proofs of the open round that another validator called invalid, paid or not (a paid
    /// one inside its bond period: fraud proven still takes the wallet's bond).
    fn check_disputes(&mut self, params: &Params) -> anyhow::Result<()> {
        let disputed: Vec<Hash32> = self.api.with_chain(|c| {
            let l = c.ledger();
            let round = l.training()?.round;
            let now = l.last_block_time_ms();
            let ids = l.round_proofs(round, 0, 10_000)?;
            let mut out = Vec::new();
            for id in ids {
                if let Some(p) = l.proof(&id)? {
                    if p.contested(now, params.bond_period_ms) {
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

    /// Drawn proofs that fell to other validators: forgotten once decided (or disputed, which
    /// [`Self::check_disputes`] takes), re-executed here once [`fallback_after`] has passed
    /// without a decision, so a replayer that is down delays a proof but never stalls it.
    fn check_others(&mut self, params: &Params) -> anyhow::Result<()> {
        let now = self.api.with_chain(|c| c.ledger().last_block_time_ms());
        let waiting: Vec<(Hash32, Instant)> = self.others.iter().map(|(k, v)| (*k, *v)).collect();
        for (id, since) in waiting {
            let p = self.api.with_chain(|c| c.ledger().proof(&id))?;
            let Some(p) = p.filter(|p| {
                p.status == ProofStatus::Pending && !p.contested(now, params.bond_period_ms)
            }) else {
                self.others.remove(&id);
                continue;
            };
            if since.elapsed() >= fallback_after(&self.stats, p.batches) {
                info!(proof = %hex::encode(&id[..8]), "its replayers have not decided it: re-executing it here");
                self.others.remove(&id);
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
        let now = self.api.with_chain(|c| c.ledger().last_block_time_ms());
        let paid_and_contested =
            p.status == ProofStatus::Paid && p.contested(now, params.bond_period_ms);
        if (p.status != ProofStatus::Pending && !paid_and_contested)
            || p.verdicts.iter().any(|v| v.validator == me)
        {
            self.voted.insert(id);
            return Ok(());
        }
        if p.replay_batches() == 0 {
            self.voted.insert(id); // inference tokens only: nothing to re-execute
            return Ok(());
        }
        if !self.models.holds(params, &p.model_version) {
            return Ok(()); // judged once this node has caught up to the round's model
        }
        info!(proof = %hex::encode(&id[..8]), batches = p.batches, "re-executing a sampled proof");
        let started = std::time::Instant::now();
        let valid = match self.reproduce(params, id, &p)? {
            Some(valid) => valid,
            None => {
                self.voted.insert(id);
                return Ok(());
            }
        };
        self.voted.insert(id);
        if !valid {
            self.stats.invalid += 1;
        }
        if valid && paid_and_contested {
            // Paid, and it reproduces: nothing to add (the ledger takes only fraud evidence
            // on a paid proof).
            info!(proof = %hex::encode(&id[..8]), "re-executed a contested paid proof: valid");
            return Ok(());
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

    /// Whether re-executing proof `id` reproduces its pseudo-gradient blob (cached for the
    /// round; a blob that reproduces is put in the blob store); `None` if this node cannot
    /// re-execute it.
    fn reproduce(
        &mut self,
        params: &Params,
        id: Hash32,
        p: &ProofRecord,
    ) -> anyhow::Result<Option<bool>> {
        if let Some(&valid) = self.replays.get(&id) {
            return Ok(Some(valid));
        }
        let params = &self.round_params(params, p.round)?;
        if p.batches == 0 {
            let valid = self.replay_liveness(params, p)?;
            if let Some(valid) = valid {
                self.replays.insert(id, valid);
            }
            return Ok(valid);
        }
        match self.replay(params, p)? {
            Replay::Unverifiable(why) => {
                warn!(proof = %hex::encode(&id[..8]), "cannot re-execute: {why}");
                Ok(None)
            }
            Replay::BadStart(why) => {
                warn!(proof = %hex::encode(&id[..8]), node = %p.node, "{why}");
                self.replays.insert(id, false);
                Ok(Some(false))
            }
            Replay::Done(result) => {
                let ends_right = p.end_state == NO_STATE || blob_hash(&result.state) == p.end_state;
                let valid = blob_hash(&result.blob) == p.pseudo_gradient && ends_right;
                if valid {
                    self.models.offer_gradient(&result.blob)?;
                    if p.end_state != NO_STATE {
                        // The node's next segment may start here: serve it, and replay from it.
                        self.states.offer(&self.models, &result.state)?;
                    }
                }
                self.replays.insert(id, valid);
                Ok(Some(valid))
            }
        }
    }

    /// Whether an uptime proof's liveness answer reproduces (`crate::liveness`); `None` if this
    /// node cannot compute it (another corpus, a model it does not hold).
    fn replay_liveness(
        &mut self,
        params: &Params,
        p: &ProofRecord,
    ) -> anyhow::Result<Option<bool>> {
        if p.data_shard != self.dataset_hash {
            return Ok(None);
        }
        let Some(model) = self.models.get(params, &p.model_version)? else {
            return Ok(None);
        };
        let answer = segment::liveness_answer(
            &model,
            &self.dataset,
            &p.data_seed,
            liveness_batches(p.uptime_secs),
            &train_config_of(params),
        )?;
        Ok(Some(answer == p.pseudo_gradient))
    }

    fn replay(&mut self, params: &Params, p: &ProofRecord) -> anyhow::Result<Replay> {
        // The ledger refuses proofs on any corpus but the pinned one, and this node holds it:
        // were one here, it would be a ledger bug, and an honest node is never judged for it.
        if p.data_shard != self.dataset_hash {
            return Ok(Replay::Unverifiable(
                "trained on another corpus than genesis pins".into(),
            ));
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
            schedule_step: schedule_step_of(params, p.round),
            train: train_config_of(params),
        };
        let from = match self.start_state(params, p, start.num_parameters())? {
            Start::Fresh => None,
            Start::Held(state) => Some(state),
            Start::Unverifiable(why) => return Ok(Replay::Unverifiable(why)),
            Start::Wrong(why) => return Ok(Replay::BadStart(why)),
        };
        let began = Instant::now();
        let result = segment::replay(&start, from.as_ref(), &self.dataset, spec, p.batches)?;
        self.stats.replayed += 1;
        self.stats.replayed_batches += p.batches;
        self.stats.replay_secs += began.elapsed().as_secs_f64();
        Ok(Replay::Done(result))
    }

    /// The inner state proof `p` says it started from: none (the round's model, fresh moments);
    /// held here; fetched from peers (the worker serves it); else recomputed by re-executing
    /// the node's previous segment of the round, which the chain names
    /// (`ProofRecord::previous_segment`). Peers are a shortcut: an honest node's chain always
    /// recomputes, so a start state that neither comes nor recomputes is the node's fault.
    fn start_state(
        &mut self,
        params: &Params,
        p: &ProofRecord,
        parameters: i64,
    ) -> anyhow::Result<Start> {
        if p.start_state == NO_STATE {
            return Ok(Start::Fresh);
        }
        if let Some(state) = self.models.inner_state(&p.start_state, parameters)? {
            return Ok(Start::Held(state));
        }
        match self
            .models
            .start_fetch_inner_state(&p.start_state, parameters)
        {
            Ok(mut fetch) => {
                let until = Instant::now() + START_STATE_WAIT;
                while Instant::now() < until {
                    match fetch.poll() {
                        None => std::thread::sleep(Duration::from_millis(50)),
                        Some(Ok(path)) => {
                            match crate::models::decode_inner_state(&path, parameters) {
                                Ok(state) => {
                                    self.states.track(&self.models, p.start_state);
                                    return Ok(Start::Held(state));
                                }
                                Err(e) => {
                                    debug!("a peer's start state is refused: {e:#}");
                                    break;
                                }
                            }
                        }
                        Some(Err(e)) => {
                            debug!("start state not fetched: {e}");
                            break;
                        }
                    }
                }
            }
            Err(e) => debug!("cannot fetch a start state: {e}"),
        }
        let Some(prev_id) = p.previous_segment else {
            return Ok(Start::Wrong(
                "the proof names a start state no earlier proof of its node ends at".into(),
            ));
        };
        let Some(prev) = self.api.with_chain(|c| c.ledger().proof(&prev_id))? else {
            return Ok(Start::Unverifiable(
                "the previous segment's proof is not on chain here".into(),
            ));
        };
        info!(proof = %hex::encode(&prev_id[..8]), "recomputing a start state no peer served: re-executing the previous segment");
        // Its end state is not held here (see above): a re-execution remembered as valid kept
        // it once, but it has been dropped since (`RecentStates`), so re-execute again.
        if self.replays.get(&prev_id) == Some(&true) {
            self.replays.remove(&prev_id);
        }
        match self.reproduce(params, prev_id, &prev)? {
            None => Ok(Start::Unverifiable(
                "the previous segment cannot be re-executed here".into(),
            )),
            Some(false) => {
                // Re-executed, and it does not reproduce: the previous segment is fraud too,
                // drawn or not (a node that hides its states gets its whole chain checked).
                if prev.status != ProofStatus::Voided {
                    self.report_fraud(prev_id, &prev);
                }
                Ok(Start::Wrong(format!(
                    "the start state does not recompute: the previous segment {} does not reproduce",
                    hex::encode(&prev_id[..8])
                )))
            }
            Some(true) => match self.models.inner_state(&p.start_state, parameters)? {
                Some(state) => Ok(Start::Held(state)),
                None => Ok(Start::Unverifiable(
                    "the previous segment reproduced, but its end state is not held".into(),
                )),
            },
        }
    }

    /// An undrawn proof whose blob peers did not serve in time (or served bytes that are not a
    /// pseudo-gradient) is re-executed here instead: peers are a shortcut, not a trust
    /// assumption. Returns whether it reproduced (its blob is then held and served from here).
    /// One that does not is fraud, reported like a drawn proof's, which sends it to every
    /// validator's re-execution.
    fn replay_unserved(
        &mut self,
        params: &Params,
        id: Hash32,
        p: &ProofRecord,
    ) -> anyhow::Result<bool> {
        let known = self.replays.contains_key(&id);
        let valid = self.reproduce(params, id, p)?;
        if !known {
            info!(proof = %hex::encode(&id[..8]), node = %p.node, reproduced = ?valid, "re-executed a proof whose pseudo-gradient peers did not serve");
        }
        if valid == Some(false) {
            self.report_fraud(id, p);
        }
        Ok(valid == Some(true))
    }

    /// Reports proof `id`, whose re-execution here did not reproduce it, as fraud (once): an
    /// invalid verdict sends it to every validator's re-execution.
    fn report_fraud(&mut self, id: Hash32, p: &ProofRecord) {
        if !self.voted.insert(id) {
            return;
        }
        let verdict = TxBody::Verdict {
            proof: id,
            valid: false,
        };
        match self.api.sign_and_submit(&self.key, verdict) {
            Ok(_) => warn!(
                proof = %hex::encode(&id[..8]),
                node = %p.node,
                "re-execution does not reproduce the proof: fraud reported"
            ),
            Err(e) => warn!("verdict not accepted: {e}"),
        }
    }

    /// Makes sure this node holds the model and momentum the open round starts from; returns
    /// whether it does.
    ///
    /// A validator that missed a round's close (it was down, or its attestation came after the
    /// round was adopted) first fetches the adopted model and momentum from peers, as the blobs
    /// the adopted result names. Failing that, it recomputes the adopted result from the chain:
    /// the round's included proofs re-executed from the round's start model (re-executions it
    /// already made are reused), aggregated and stepped by the same rule, and checked against
    /// the adopted hashes before anything is stored. It goes back at most
    /// [`MAX_CATCH_UP_ROUNDS`] rounds.
    fn catch_up(&mut self, params: &Params) -> anyhow::Result<bool> {
        let open = self.api.with_chain(|c| c.ledger().training())?;
        if self.holds_start(params, &open.model_version, &open.momentum) {
            return Ok(true);
        }
        if self
            .catch_up_failed
            .is_some_and(|(r, at)| r == open.round && at.elapsed() < CATCH_UP_RETRY)
        {
            return Ok(false);
        }
        // Peers that hold the adopted files serve them; recomputing is the fallback.
        match self.models.fetch_open_round(&self.api, params) {
            Ok(true) => {
                info!(
                    round = open.round,
                    "caught up: fetched the round's model and momentum from peers"
                );
                return Ok(true);
            }
            Ok(false) => {}
            Err(e) => debug!(
                round = open.round,
                "cannot fetch the round's model from peers: {e:#}"
            ),
        }
        match self.catch_up_to(params, open.round) {
            Ok(()) => Ok(true),
            Err(e) => {
                warn!(
                    round = open.round,
                    "cannot catch up to the open round's model: {e:#}"
                );
                self.catch_up_failed = Some((open.round, Instant::now()));
                Ok(false)
            }
        }
    }

    fn holds_start(&self, params: &Params, model: &Hash32, momentum: &Hash32) -> bool {
        self.models.holds(params, model) && self.models.holds_momentum(momentum)
    }

    /// Recomputes the closed rounds before `open`, from the last one whose start this node holds.
    fn catch_up_to(&mut self, params: &Params, open: u64) -> anyhow::Result<()> {
        let mut first = open;
        loop {
            anyhow::ensure!(
                first > 0 && open - first < MAX_CATCH_UP_ROUNDS,
                "no model within {MAX_CATCH_UP_ROUNDS} rounds is held here"
            );
            first -= 1;
            let record = self
                .api
                .with_chain(|c| c.ledger().round(first))?
                .with_context(|| format!("round {first} has no record"))?;
            if self.holds_start(params, &record.model_version, &record.momentum) {
                break;
            }
        }
        for r in first..open {
            let began = Instant::now();
            let (model, proofs) = self.recompute_round(params, r)?;
            info!(
                round = r,
                proofs,
                next_model = %hex::encode(&model[..8]),
                secs = format!("{:.1}", began.elapsed().as_secs_f64()),
                "caught up: recomputed the round's adopted result"
            );
        }
        Ok(())
    }

    /// Recomputes closed round `r`'s adopted next model and momentum, checks them against the
    /// chain and stores them; returns the model and how many proofs went in.
    fn recompute_round(&mut self, params: &Params, r: u64) -> anyhow::Result<(Hash32, usize)> {
        let params = &self.round_params(params, r)?;
        let (record, proofs) = self.api.with_chain(|c| {
            let l = c.ledger();
            let record = l.round(r)?;
            let mut proofs = Vec::new();
            for id in l.round_trained(r)? {
                proofs.push((id, l.proof(&id)?));
            }
            Ok::<_, anyhow::Error>((record, proofs))
        })?;
        let record = record.with_context(|| format!("round {r} has no record"))?;
        let adopted = record
            .close
            .as_ref()
            .with_context(|| format!("round {r} is not closed"))?
            .result
            .clone();
        let start = self
            .models
            .get(params, &record.model_version)?
            .with_context(|| format!("round {r}'s start model is not held"))?;
        let parameters = start.num_parameters();
        // Each included pseudo-gradient: held here, else fetched from peers by the hash its
        // proof names, else re-executed.
        let mut updates = Vec::new();
        let mut included = Vec::new();
        for (i, (id, p)) in proofs.iter().enumerate() {
            if !adopted.includes(i as u64) {
                continue;
            }
            let p = p.as_ref().with_context(|| {
                format!("round {r} lists proof {} that is missing", hex::encode(id))
            })?;
            included.push((*id, p));
            let update = match self.models.gradient(&p.pseudo_gradient, parameters)? {
                Some(u) => u,
                None => match self.models.fetch_gradient(&p.pseudo_gradient, parameters) {
                    Ok(u) => u,
                    Err(e) => {
                        debug!(proof = %hex::encode(&id[..8]), "re-executing: {e:#}");
                        anyhow::ensure!(
                            self.reproduce(params, *id, p)? == Some(true),
                            "proof {} of round {r}'s adopted result does not reproduce here",
                            hex::encode(id)
                        );
                        self.models
                            .gradient(&p.pseudo_gradient, parameters)?
                            .context("a reproduced pseudo-gradient is not held")?
                    }
                },
            };
            updates.push(update);
        }
        let updates: Vec<_> = updates.iter().map(Update::tensor).collect();
        let chains = segment::sum_chains(&updates, &chain_links(&included))?;
        let updates: Vec<_> = chains.iter().collect();
        let momentum = self
            .models
            .momentum(&record.momentum)?
            .with_context(|| format!("round {r}'s start momentum is not held"))?;
        let n = updates.len();
        let outer = OuterOptimizer::resume(&self.diloco, momentum);
        let outcome = segment::close_round(&start, &updates, rule_of(params, n), outer)?;
        let (next, momentum) = (outcome.next.weights_hash(), outcome.momentum.hash());
        anyhow::ensure!(
            outcome.aggregate_hash == adopted.aggregate
                && next == adopted.next_model
                && momentum == adopted.momentum,
            "recomputing round {r} gives model {} (momentum {}), but the chain adopted {} ({})",
            hex::encode(&next[..8]),
            hex::encode(&momentum[..8]),
            hex::encode(&adopted.next_model[..8]),
            hex::encode(&adopted.momentum[..8]),
        );
        let (_, model_blob) = self.models.save(&outcome.next)?;
        let (_, momentum_blob) = self.models.save_momentum(&outcome.momentum)?;
        if model_blob != adopted.model_blob || momentum_blob != adopted.momentum_blob {
            warn!(
                round = r,
                "the adopted result names other blobs than this node's files"
            );
        }
        Ok((next, included.len()))
    }

    /// Attests the open round's result once its training proofs are frozen and every drawn one
    /// of them has been re-executed here.
    fn maybe_attest_round(&mut self, params: &Params) -> anyhow::Result<()> {
        let me = self.key.address();
        let snapshot = self.api.with_chain(|c| {
            let l = c.ledger();
            let t = l.training()?;
            let record = l.round(t.round)?;
            let deadline = t.opened_ms + params.round_length_ms;
            let since_deadline = l.last_block_time_ms().checked_sub(deadline);
            let mut proofs = Vec::new();
            if since_deadline.is_some() {
                for id in l.round_trained(t.round)? {
                    proofs.push((id, l.proof(&id)?));
                }
            }
            Ok::<_, anyhow::Error>((t, record, since_deadline, proofs))
        })?;
        let (training, record, since_deadline, proofs) = snapshot;
        let frozen = since_deadline.is_some();
        // Undrawn proofs' blobs still on their way are waited for this long past the deadline.
        let in_grace = since_deadline.is_some_and(|ms| ms < GRADIENT_GRACE_MS);
        let round = training.round;
        // Forget the re-executions of rounds that are over.
        let open: HashSet<Hash32> = proofs.iter().map(|(id, _)| *id).collect();
        if frozen {
            self.replays.retain(|id, _| open.contains(id));
        }
        let Some(record) = record else { return Ok(()) };
        if !frozen || record.attestations.iter().any(|a| a.validator == me) {
            return Ok(());
        }
        if self
            .attested
            .is_some_and(|(r, at)| r == round && at.elapsed() < Duration::from_secs(20))
        {
            return Ok(());
        }
        // Which pseudo-gradients this validator holds: a drawn (or disputed) proof's if its
        // re-execution reproduced it, an undrawn proof's if its blob came from peers.
        let mut held = Vec::with_capacity(proofs.len());
        let mut left_out = HashSet::new();
        for (id, p) in &proofs {
            let Some(p) = p else {
                anyhow::bail!(
                    "round {round} lists proof {} that is missing",
                    hex::encode(id)
                );
            };
            if p.sampled.is_none() {
                return Ok(()); // not drawn yet: its draw window closes in a later block
            }
            // A segment that continues one left out goes out with it (the ledger's rule).
            let orphaned = p
                .previous_segment
                .is_some_and(|prev| left_out.contains(&prev));
            let replayed_here = self.replays.contains_key(id);
            let have = if p.status == ProofStatus::Voided || orphaned {
                Some(false)
            } else if replayed_here || !by_blob(p) {
                if p.sampled == Some(true) && p.status == ProofStatus::Pending && !replayed_here {
                    return Ok(()); // its replayers have not decided it yet
                }
                Some(self.reproduce(params, *id, p)? == Some(true))
            } else {
                match self.gradients.get(id) {
                    Some(Gradient::Held) => Some(true),
                    _ if in_grace => None,
                    _ => Some(self.replay_unserved(params, *id, p)?),
                }
            };
            match have {
                Some(h) => {
                    if !h {
                        left_out.insert(*id);
                    }
                    held.push(h)
                }
                None => return Ok(()), // still fetching: wait a little
            }
        }
        // Every proof that is not voided goes in: its pseudo-gradient is held here now, from
        // peers or from this node's own re-execution, so every honest validator has the same set.
        let flags = held;
        let params = &self.round_params(params, training.round)?;
        let Some(start) = self.models.get(params, &training.model_version)? else {
            debug!(round, "cannot attest: this node lacks the round's model");
            return Ok(());
        };
        let parameters = start.num_parameters();
        let mut decoded = Vec::new();
        let mut included = Vec::new();
        for ((id, p), _) in proofs.iter().zip(&flags).filter(|(_, f)| **f) {
            let Some(p) = p else { continue };
            included.push((*id, p));
            let blob = p.pseudo_gradient;
            let update = self.models.gradient(&blob, parameters)?.with_context(|| {
                format!(
                    "the pseudo-gradient of proof {} is not held",
                    hex::encode(id)
                )
            })?;
            decoded.push(update);
        }
        let updates: Vec<_> = decoded.iter().map(Update::tensor).collect();
        // A worker's segments of the round are one inner trajectory: their pseudo-gradients
        // add up to one update, which the robust rule weighs as one worker's.
        let chains = segment::sum_chains(&updates, &chain_links(&included))?;
        let updates: Vec<_> = chains.iter().collect();
        let Some(momentum) = self.models.momentum(&training.momentum)? else {
            warn!(
                round,
                momentum = %hex::encode(&training.momentum[..8]),
                "cannot attest: this node lacks the round's outer momentum"
            );
            return Ok(());
        };
        // Disk stays bounded: what no recent round names goes before new files are written.
        if let Err(e) = self.models.prune(&self.api, params) {
            warn!("cannot prune old models: {e:#}");
        }
        let began = Instant::now();
        let n = updates.len();
        let drawn = proofs
            .iter()
            .zip(&flags)
            .filter(|((id, _), f)| **f && self.replays.contains_key(id))
            .count();
        let outer = OuterOptimizer::resume(&self.diloco, momentum);
        let outcome = segment::close_round(&start, &updates, rule_of(params, n), outer)?;
        let train = train_config_of(params);
        let loss = segment::heldout_loss(
            &outcome.next,
            &self.dataset,
            &train,
            round::EVAL_BATCHES,
            &round::EVAL_SEED,
        )?;
        let (next_model, model_blob) = self.models.save(&outcome.next)?;
        let (momentum, momentum_blob) = self.models.save_momentum(&outcome.momentum)?;
        let mut result = RoundResult {
            included: round::bitmap(flags),
            aggregate: outcome.aggregate_hash,
            next_model,
            momentum,
            model_blob,
            momentum_blob,
            eval_loss_micro: round::loss_to_micro(loss),
        };
        if self.lie {
            result.next_model[0] ^= 0xFF;
        }
        self.attested = Some((round, Instant::now()));
        match self
            .api
            .sign_and_submit(&self.key, TxBody::AttestRound { round, result })
        {
            Ok(_) => info!(
                round,
                proofs = included.len(),
                chains = n,
                re_executed = drawn,
                fetched = included.len().saturating_sub(drawn),
                eval_loss = format!("{loss:.4}"),
                next_model = %hex::encode(&next_model[..8]),
                secs = format!("{:.1}", began.elapsed().as_secs_f64()),
                "attested the round's result"
            ),
            Err(e) => debug!("attestation not accepted: {e}"),
        }
        Ok(())
    }
}

/// How many closed rounds a validator recomputes to catch up before it gives up.
const MAX_CATCH_UP_ROUNDS: u64 = 8;

/// How long a validator waits before it tries again to catch up to the same round.
const CATCH_UP_RETRY: Duration = Duration::from_secs(30);

/// How long a validator waits before it asks peers again for a pseudo-gradient blob it could
/// not get.
const GRADIENT_RETRY: Duration = Duration::from_secs(3);

/// How long past a round's deadline (block time) a validator waits for pseudo-gradient blobs
/// still being fetched before it attests without them.
const GRADIENT_GRACE_MS: u64 = 15_000;

/// A pseudo-gradient blob of an undrawn proof.
enum Gradient {
    Fetching(PendingBlob),
    /// Held in the blob store, and decodes as a pseudo-gradient of the round's model.
    Held,
    /// Not to be had when last asked.
    Failed(Instant),
    /// The blob the proof names is not a pseudo-gradient of the round's model.
    Refused,
}

/// Whether proof `p`'s pseudo-gradient may come to a validator as a fetched blob rather than
/// from its own re-execution: an undrawn, undisputed proof, or a drawn one that more than a
/// third of the power verified (so an honest validator reproduced its blob) and nobody
/// called invalid.
fn by_blob(p: &ProofRecord) -> bool {
    match p.sampled {
        Some(false) => p.verdicts.is_empty(),
        Some(true) => {
            matches!(p.status, ProofStatus::Verified | ProofStatus::Paid)
                && p.verdicts.iter().all(|v| v.valid)
        }
        None => false,
    }
}

/// How long a validator waits for the replayers of a drawn proof of `batches` batches to
/// decide it before it re-executes the proof itself: half a minute (a verdict's way onto the
/// chain), plus three times as long as this validator's own re-executions have taken per
/// batch (one second per batch before its first), so that a slow but live replayer is not
/// raced.
fn fallback_after(stats: &VerifierStats, batches: u64) -> Duration {
    let per_batch = if stats.replayed_batches > 0 {
        stats.replay_secs / stats.replayed_batches as f64
    } else {
        1.0
    };
    Duration::from_secs(30) + Duration::from_secs_f64(3.0 * per_batch * batches as f64)
}

enum Replay {
    Done(SegmentResult),
    Unverifiable(String),
    /// The start state the proof names cannot be had from peers nor recomputed from its
    /// node's previous segment: not the work it claims.
    BadStart(String),
}

/// Where a replayed segment starts.
enum Start {
    /// The round's model with fresh moments.
    Fresh,
    Held(InnerState),
    Unverifiable(String),
    Wrong(String),
}

/// How long a replay waits for peers to serve a segment's start state before it recomputes it.
const START_STATE_WAIT: Duration = Duration::from_secs(10);

/// For each included proof, the index (in the same list) of the included proof it continues:
/// what [`segment::sum_chains`] takes.
fn chain_links(included: &[(Hash32, &ProofRecord)]) -> Vec<Option<usize>> {
    let index: HashMap<Hash32, usize> = included
        .iter()
        .enumerate()
        .map(|(i, (id, _))| (*id, i))
        .collect();
    included
        .iter()
        .map(|(_, p)| {
            p.previous_segment
                .and_then(|prev| index.get(&prev).copied())
        })
        .collect()
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
