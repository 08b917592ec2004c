//! The compute worker: trains the open round's model on the batches the chain assigned to this
//! node, and every proof interval submits a signed Proof of Neural Work for what it trained.
//!
//! One proof = one segment ([`neuroshard_compute::ponw`]): start from the round's weights, one
//! AdamW step per batch `next_batch, next_batch + 1, …` of the node's data seed (past any batch
//! it signed before, even in a proof that never committed: it never signs two overlapping
//! proofs), until the proof interval is over (or the genesis cap on batches per segment). The
//! claim never exceeds what the chain's rate limit allows for the time since the node's previous
//! proof. A `--no-training` node keeps the open round's model fetched from peers for the inference
//! it sells, and proves uptime once per proof interval with a liveness answer
//! ([`crate::liveness`]); a training node's time is paid by its training. The loop acts on one
//! [`Phase`] at a time. Runs on its own OS thread; chain access is through [`NodeApi`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use indicatif::{ProgressBar, ProgressStyle};
use neuroshard_chain::node::NodeApi;
use neuroshard_compute::data::Dataset;
use neuroshard_compute::ponw::{self as segment, Segment, SegmentSpec};
use neuroshard_compute::NeuroLlm;
use neuroshard_runtime::proof::{Proof, Role, WorkMetrics, NO_STATE};
use neuroshard_runtime::state::{NodeRecord, TrainingState};
use neuroshard_runtime::tx::{node_registration_digest, registration_expiry};
use neuroshard_runtime::{Hash32, Params, SecretKey, TxBody};
use tracing::{debug, info, warn};

use crate::corpus::Source;
use crate::models::{ModelStore, RecentStates};
use crate::spec::{schedule_step_of, train_config_of, Corpus};

/// Test-only misbehaviour, to show that validators catch it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cheat {
    /// Claim twice the batches actually trained.
    Inflate,
    /// Commit to a random pseudo-gradient.
    RandomGradient,
    /// Publish (and commit to) the pseudo-gradient times −100: caught when sampled, and tamed
    /// by the robust aggregation when not.
    PoisonGradient,
    /// Train nothing; claim the batches anyway.
    Skip,
    /// As a validator: attest a wrong next model for every round.
    WrongRoundResult,
    /// Honest work, but each segment's start state is deleted here once the segment has
    /// loaded it, so no peer serves it: validators must recompute it from the chain, and the
    /// node must never be judged for it.
    HideStates,
}

impl Cheat {
    /// Every misbehaviour with its name on the command line.
    pub const ALL: [(&'static str, Cheat); 6] = [
        ("inflate", Cheat::Inflate),
        ("random-gradient", Cheat::RandomGradient),
        ("poison-gradient", Cheat::PoisonGradient),
        ("skip", Cheat::Skip),
        ("wrong-round-result", Cheat::WrongRoundResult),
        ("hide-states", Cheat::HideStates),
    ];
}

impl std::str::FromStr for Cheat {
    type Err = String;

    fn from_str(s: &str) -> Result<Cheat, String> {
        Cheat::ALL
            .iter()
            .find(|(name, _)| *name == s)
            .map(|(_, c)| *c)
            .ok_or_else(|| {
                let names: Vec<&str> = Cheat::ALL.iter().map(|(n, _)| *n).collect();
                format!("unknown cheat {s:?}; one of {}", names.join(", "))
            })
    }
}

pub struct WorkerConfig {
    pub wallet: SecretKey,
    pub node_key: SecretKey,
    pub corpus: Corpus,
    /// Train and prove; or (`--no-training`) only keep the open round's model for inference.
    pub training: bool,
    pub cheat: Option<Cheat>,
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// What the worker reads from the committed state before each segment.
struct View {
    params: Params,
    training: TrainingState,
    node: Option<NodeRecord>,
}

fn view(api: &NodeApi, node: &neuroshard_runtime::Address) -> anyhow::Result<View> {
    api.with_chain(|c| {
        let l = c.ledger();
        Ok(View {
            params: l.params().clone(),
            training: l.training()?,
            node: l.node(node)?,
        })
    })
}

/// Runs the worker until `stop` is set. Errors that a retry can fix are logged and retried.
pub fn run(api: NodeApi, cfg: WorkerConfig, stop: Arc<AtomicBool>) -> anyhow::Result<()> {
    segment::deterministic_cpu();
    let node = cfg.node_key.address();
    let wallet = cfg.wallet.address();
    let models = ModelStore::new(&api)?;
    // Training reads the corpus; so do the liveness answers of a node that does not train.
    let pinned = api.with_chain(|c| c.ledger().params().training.corpus);
    let (dataset, corpus_source) = match crate::corpus::load(&api, &cfg.corpus, &pinned) {
        Ok((d, source)) => {
            info!(
                corpus = %cfg.corpus.describe(),
                hash = %hex::encode(&pinned[..8]),
                shards = d.shards.len(),
                ?source,
                "training data loaded (the corpus genesis pins)"
            );
            (Some(d), source)
        }
        Err(e) if !cfg.training => {
            warn!(
                "no uptime without the pinned corpus (liveness answers are computed on it): {e:#}"
            );
            (None, Source::Local)
        }
        Err(e) => return Err(e),
    };
    register(&api, &cfg, &stop)?;
    info!(%node, %wallet, training = cfg.training, "worker started; rewards go to the wallet");
    let bar = crate::progress::add(ProgressBar::new_spinner());
    bar.set_style(
        ProgressStyle::with_template("{spinner} {elapsed_precise} {prefix} | {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(250));
    let status_line = spawn_status_line(api.clone(), wallet, bar.clone(), stop.clone());
    let mut model: Option<(Hash32, NeuroLlm)> = None;
    // This segment's start, the previous one's (a replay of this one's predecessor needs it)
    // and the end state being written.
    let mut states = RecentStates::new(3);
    while !stop.load(Ordering::Relaxed) {
        let v = view(&api, &node)?;
        let loaded = model.as_ref().map(|(h, _)| *h);
        let interval = Duration::from_millis(v.params.proof_interval_ms);
        let claim = match Phase::of(&v, now_ms(), loaded, cfg.training && dataset.is_some()) {
            Phase::Unregistered => {
                // A registration lapses if no proof lands in time (`registration_ttl_ms`, say a
                // long model download): a node that proves (training, or uptime with the
                // corpus at hand) registers again.
                if cfg.training || dataset.is_some() {
                    info!(%node, "the node's registration lapsed before its first proof: registering again");
                    register(&api, &cfg, &stop)?;
                } else {
                    sleep_unless(&stop, Duration::from_millis(500));
                }
                None
            }
            Phase::Closing => {
                // The round is closing: its validators are attesting the next model.
                bar.set_message(format!(
                    "round {} | closing: waiting for the next model…",
                    v.training.round
                ));
                sleep_unless(&stop, Duration::from_millis(500));
                None
            }
            Phase::LoadingModel => {
                let version = v.training.model_version;
                bar.set_message(format!(
                    "round {} | loading its model {}…",
                    v.training.round,
                    hex::encode(&version[..8])
                ));
                match load_model(&api, &models, &v.params, &version) {
                    Ok(m) => model = Some((version, m)),
                    Err(e) => {
                        warn!("round {} model not available yet: {e:#}", v.training.round);
                        sleep_unless(&stop, Duration::from_secs(2));
                    }
                }
                None
            }
            Phase::Training => match (model.as_ref(), dataset.as_ref(), v.node.as_ref()) {
                (Some((_, start)), Some(dataset), Some(record)) => train_segment(
                    &api,
                    start,
                    dataset,
                    &v,
                    record,
                    &cfg,
                    &stop,
                    &bar,
                    interval,
                    &mut states,
                )?,
                _ => None,
            },
            Phase::Serving => {
                // An inference-only node keeps the open round's model on disk, fetched from
                // peers like any node's, so that its inference serves the current model; its
                // inference is paid by its buyers, and its uptime by a liveness answer each
                // proof interval (`liveness`), computed with that model.
                follow_model(&api, &models, &v);
                let version = v.training.model_version;
                if loaded != Some(version) {
                    if let Some(m) = models.get(&v.params, &version)? {
                        model = Some((version, m));
                    }
                }
                let due = v
                    .node
                    .as_ref()
                    .and_then(|r| crate::liveness::due(&v.params, r, now_ms()));
                let fresh = model.as_ref().filter(|(h, _)| *h == version);
                match (due, fresh, dataset.as_ref(), v.node.as_ref()) {
                    (Some(secs), Some((_, m)), Some(dataset), Some(record)) => {
                        let taken = crate::liveness::prove(
                            &api,
                            &cfg.node_key,
                            &v.params,
                            &v.training,
                            record,
                            m,
                            dataset,
                            secs,
                            &bar,
                        )?;
                        if !taken {
                            // Not again at once (a round may be closing): next interval.
                            sleep_unless(&stop, interval);
                        }
                    }
                    _ => sleep_unless(&stop, Duration::from_millis(500)),
                }
                None
            }
        };
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let (Some(mut claim), Some(record)) = (claim, v.node.as_ref()) else {
            continue;
        };
        claim.corpus_source = corpus_source;
        submit(&api, &cfg, &v, record, claim, &bar)?;
    }
    bar.finish_and_clear();
    let _ = status_line.join();
    Ok(())
}

/// Where the worker stands in the open round; each pass of its loop acts on one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// The node key is not registered to the wallet (yet): nothing to prove.
    Unregistered,
    /// Too close to the round's deadline for a segment to land: wait for the next model.
    Closing,
    /// The open round's model is not loaded here: load it (or fetch it from peers).
    LoadingModel,
    /// Train a segment on the loaded model, then prove it.
    Training,
    /// An inference-only node: keep the open round's model at hand, prove nothing.
    Serving,
}

impl Phase {
    /// The phase for the committed view `v` at `now_ms`, with model `loaded` in memory.
    fn of(v: &View, now_ms: u64, loaded: Option<Hash32>, training: bool) -> Phase {
        if v.node.is_none() {
            return Phase::Unregistered;
        }
        if !training {
            return Phase::Serving;
        }
        // A segment that cannot end before the deadline after the least proof interval would
        // be refused: wait for the next round instead.
        let least = v.params.min_proof_interval_ms;
        if now_ms.saturating_add(DEADLINE_MARGIN_MS + least) >= round_deadline_ms(v) {
            return Phase::Closing;
        }
        if loaded != Some(v.training.model_version) {
            return Phase::LoadingModel;
        }
        Phase::Training
    }
}

/// Keeps the open round's model on disk (fetched from peers as the blob its adopted result
/// names), for an inference-only node.
fn follow_model(api: &NodeApi, models: &ModelStore, v: &View) {
    let version = v.training.model_version;
    if models.holds(&v.params, &version) {
        return;
    }
    if let Err(e) = models.prune(api, &v.params) {
        warn!("cannot prune old models: {e:#}");
    }
    match models.fetch_open_round(api, &v.params) {
        Ok(true) => info!(
            model = %hex::encode(&version[..8]),
            "fetched the round's model from peers to serve inference"
        ),
        Ok(false) => debug!("the round's model is not served by a peer yet"),
        Err(e) => debug!("the round's model is not to be had from peers yet: {e:#}"),
    }
}

/// Keeps the status line's prefix current once a second: chain height, peers, and what the
/// wallet has earned (spendable) and has pending in the challenge window.
fn spawn_status_line(
    api: NodeApi,
    wallet: neuroshard_runtime::Address,
    bar: ProgressBar,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) && !bar.is_finished() {
            let s = api.status();
            if let Ok(a) = api.with_chain(|c| c.ledger().account(&wallet)) {
                let sync = if s.catching_up { " (catching up)" } else { "" };
                bar.set_prefix(format!(
                    "height {}{sync} | peers {} | earned {} NEURO, bonded {}, pending {}",
                    s.height,
                    s.peers,
                    a.balance.to_neuro_string(),
                    a.bond.to_neuro_string(),
                    a.pending.to_neuro_string()
                ));
            }
            sleep_unless(&stop, Duration::from_secs(1));
        }
    })
}

fn sleep_unless(stop: &AtomicBool, d: Duration) {
    let end = Instant::now() + d;
    while Instant::now() < end && !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Registers the node key to the wallet unless it already is.
fn register(api: &NodeApi, cfg: &WorkerConfig, stop: &AtomicBool) -> anyhow::Result<()> {
    let node = cfg.node_key.address();
    let registered = |api: &NodeApi| {
        api.with_chain(|c| c.ledger().node(&node))
            .map(|n| n.is_some())
    };
    if registered(api)? {
        return Ok(());
    }
    let chain_id = api.status().chain_id;
    let consent = cfg
        .node_key
        .sign_digest(&node_registration_digest(&chain_id, &cfg.wallet.address()));
    // Valid for half a registration TTL from the last block this node holds (see
    // `registration_expiry`); each retry is signed afresh.
    let body = || {
        let (params, last_ms) =
            api.with_chain(|c| (c.ledger().params().clone(), c.ledger().last_block_time_ms()));
        TxBody::RegisterNode {
            node_key: cfg.node_key.public_key(),
            node_signature: consent,
            expires_ms: registration_expiry(&params, last_ms),
        }
    };
    // Re-signed every few seconds until it lands: another node of the same wallet may take the
    // nonce we picked, and a node still catching up picks a stale one.
    let mut last_try: Option<Instant> = None;
    while !stop.load(Ordering::Relaxed) {
        if registered(api)? {
            info!(%node, "node registered to the wallet");
            return Ok(());
        }
        if last_try.is_none_or(|t| t.elapsed() > Duration::from_secs(5)) {
            if last_try.is_some() {
                // Our last try is still only in this node's mempool (gossiped before any peer
                // listened, or refused elsewhere): forget it, or every retry would be signed at
                // the nonce after it and refused.
                api.drop_pending_from(&cfg.wallet.address());
            }
            last_try = Some(Instant::now());
            if let Err(e) = api.sign_and_submit(&cfg.wallet, body()) {
                warn!("registration not accepted yet: {e}");
            }
        }
        sleep_unless(stop, Duration::from_millis(500));
    }
    Ok(())
}

fn load_model(
    api: &NodeApi,
    models: &ModelStore,
    params: &Params,
    version: &Hash32,
) -> anyhow::Result<NeuroLlm> {
    if let Some(m) = models.get(params, version)? {
        return Ok(m);
    }
    if let Err(e) = models.prune(api, params) {
        warn!("cannot prune old models: {e:#}");
    }
    // From peers, as the blob the adopted round result names.
    match models.fetch_open_round(api, params) {
        Ok(_) => {
            if let Some(m) = models.get(params, version)? {
                info!(model = %hex::encode(&version[..8]), "fetched the round's model from peers");
                return Ok(m);
            }
        }
        Err(e) => debug!("the round's model is not to be had from peers yet: {e:#}"),
    }
    anyhow::bail!(
        "model {} is neither held here nor served by a peer yet",
        hex::encode(&version[..8])
    )
}

/// What one proof claims.
struct Claim {
    first_batch: u64,
    batches: u64,
    tokens: u64,
    mean_loss: f64,
    pseudo_gradient: Hash32,
    /// The inner state the segment started from (zero: the round's model, fresh moments) and
    /// the one it ended at.
    start_state: Hash32,
    end_state: Hash32,
    data_shard: Hash32,
    /// Where this node's copy of the corpus came from (who served the batches' samples).
    corpus_source: Source,
}

/// How long before a round's deadline a worker stops training, so that its proof still lands.
const DEADLINE_MARGIN_MS: u64 = 3_000;

/// When the open round stops taking training proofs.
fn round_deadline_ms(v: &View) -> u64 {
    v.training
        .opened_ms
        .saturating_add(v.params.round_length_ms)
}

/// Trains one segment until the proof interval ends; `None` if the round changed meanwhile.
#[allow(clippy::too_many_arguments)]
fn train_segment(
    api: &NodeApi,
    start: &NeuroLlm,
    dataset: &Dataset,
    v: &View,
    record: &NodeRecord,
    cfg: &WorkerConfig,
    stop: &AtomicBool,
    bar: &ProgressBar,
    interval: Duration,
    states: &mut RecentStates,
) -> anyhow::Result<Option<Claim>> {
    let train = train_config_of(&v.params);
    let spec = SegmentSpec {
        data_seed: record.data_seed,
        // Past any batch signed in a proof that never committed (see `SignedBatches`).
        first_batch: record.next_batch.max(SignedBatches::new(api).read()),
        schedule_step: schedule_step_of(&v.params, v.training.round),
        train,
    };
    let spec_first_batch = spec.first_batch;
    // Never claim more than the chain allows for one interval (with a margin) or one segment.
    let allowed = v.params.max_batches_per_sec() * v.params.proof_interval_ms / 1_000 * 9 / 10;
    let cap = allowed.min(u64::from(v.params.training.inner_steps)).max(1);
    // The inflate cheat trains half a segment and claims twice that: a claim the rate limits
    // accept like an honest one, so that only re-execution can catch it.
    let train_cap = match cfg.cheat {
        Some(Cheat::Inflate) => (cap / 2).max(1),
        _ => cap,
    };
    // DiLoCo's inner steps of a round are one trajectory: a segment continues from the end
    // state of the node's previous proof of the round (weights and AdamW moments, kept in the
    // blob store and served to validators that replay it), else from the round's model.
    let models = ModelStore::new(api)?;
    let carried = record
        .segment_head
        .as_ref()
        .filter(|head| head.round == v.training.round)
        .and_then(|head| {
            match models.inner_state(&head.state, start.num_parameters()) {
                Ok(Some(state)) => Some((head.state, state)),
                Ok(None) => None,
                Err(e) => {
                    warn!("the previous segment's end state does not load ({e:#}); starting from the round's model");
                    None
                }
            }
        });
    let (start_state, mut seg) = match &carried {
        Some((hash, state)) => (*hash, Segment::resume(start, state, spec)?),
        None => (NO_STATE, Segment::start(start, spec)?),
    };
    drop(carried);
    if cfg.cheat == Some(Cheat::HideStates) && start_state != NO_STATE {
        api.blobs().store().retain(|h| *h != start_state);
    }
    let began = Instant::now();
    let skip = cfg.cheat == Some(Cheat::Skip);
    // Training proofs must land before the round's deadline (block time), with a margin for
    // the blocks that carry them.
    let stop_at_ms = round_deadline_ms(v).saturating_sub(DEADLINE_MARGIN_MS);
    while began.elapsed() < interval
        && seg.batches() < train_cap
        && now_ms() < stop_at_ms
        && !stop.load(Ordering::Relaxed)
    {
        if skip {
            std::thread::sleep(Duration::from_millis(50));
            break;
        }
        let loss = seg.step(dataset)?;
        let secs = began.elapsed().as_secs_f64().max(1e-3);
        bar.set_message(format!(
            "round {} | batch {} | loss {loss:.3} | {:.0} tokens/s",
            v.training.round,
            seg.batches(),
            seg.tokens as f64 / secs,
        ));
    }
    // A segment that reached its cap early still waits out the interval: the chain measures the
    // claim against the time since the node's previous proof, and refuses one that comes sooner
    // than the least proof interval.
    let to_deadline = Duration::from_millis(stop_at_ms.saturating_sub(now_ms()));
    sleep_unless(
        stop,
        interval.saturating_sub(began.elapsed()).min(to_deadline),
    );
    let done = seg.finish()?;
    let blob = match cfg.cheat {
        Some(Cheat::PoisonGradient) => done.update.scaled_blob(-100.0)?,
        _ => done.blob,
    };
    // Served to peers from here until its round is pruned: validators that did not draw the
    // proof fetch it to aggregate it. One that cannot be stored (the store is full) is still
    // claimed: validators then re-execute the proof instead.
    let pseudo_gradient = api.blobs().store().put(&blob).unwrap_or_else(|e| {
        warn!("cannot keep the pseudo-gradient blob to serve it: {e}");
        neuroshard_chain::blobs::blob_hash(&blob)
    });
    // Kept (and served) like the pseudo-gradient: the next segment starts from it, and a
    // validator replaying that one fetches it. One that cannot be stored is not offered.
    let end_state = states.offer(&models, &done.state).unwrap_or_else(|e| {
        warn!("cannot keep the segment's end state; the next segment starts afresh: {e:#}");
        NO_STATE
    });
    let mut claim = Claim {
        first_batch: spec_first_batch,
        batches: done.batches,
        tokens: done.tokens,
        mean_loss: done.mean_loss,
        pseudo_gradient,
        start_state,
        end_state,
        data_shard: segment::dataset_hash(dataset),
        corpus_source: Source::Local,
    };
    match cfg.cheat {
        Some(Cheat::Inflate) => claim.batches = (claim.batches * 2).min(cap),
        Some(Cheat::RandomGradient) => claim.pseudo_gradient = rand_hash(),
        Some(Cheat::Skip) => claim.batches = cap.min(allowed.max(1) / 2).max(1),
        Some(Cheat::WrongRoundResult | Cheat::PoisonGradient | Cheat::HideStates) | None => {}
    }
    Ok((claim.batches > 0).then_some(claim))
}

/// The worker's watermark of signed batches (`Home::signed_batches`): the end of the last range
/// it signed a proof over, written and synced before the proof is submitted.
struct SignedBatches(std::path::PathBuf);

impl SignedBatches {
    fn new(api: &NodeApi) -> SignedBatches {
        SignedBatches(neuroshard_chain::node::Home::new(api.home()).signed_batches())
    }

    /// 0 if nothing was signed here yet (or the file is unreadable: the chain's `next_batch`
    /// then rules, as before any proof).
    fn read(&self) -> u64 {
        std::fs::read_to_string(&self.0)
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(0)
    }

    fn write(&self, end: u64) -> anyhow::Result<()> {
        use std::io::Write;
        if end <= self.read() {
            return Ok(());
        }
        let tmp = self.0.with_extension("tmp");
        let mut f = std::fs::File::create(&tmp)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", tmp.display()))?;
        f.write_all(end.to_string().as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, &self.0)?;
        Ok(())
    }
}

fn rand_hash() -> Hash32 {
    neuroshard_runtime::crypto::domain_hash(b"cheat", &now_ms().to_le_bytes())
}

/// Builds, signs and submits the proof, then waits until the chain has it.
fn submit(
    api: &NodeApi,
    cfg: &WorkerConfig,
    v: &View,
    record: &NodeRecord,
    claim: Claim,
    bar: &ProgressBar,
) -> anyhow::Result<()> {
    let node = cfg.node_key.address();
    // The round may have moved on while we trained: the proof would be stale.
    let now_round = api.with_chain(|c| c.ledger().training())?;
    if claim.batches > 0 && now_round.model_version != v.training.model_version {
        info!(
            round = now_round.round,
            "a new round opened; this segment is dropped"
        );
        return Ok(());
    }
    // Batches from an earlier proof that was signed but never committed (dropped after a
    // timeout, or cut off by a kill) may still commit somewhere: a new proof over them would be
    // valid evidence of a double claim against this very node. Start past them.
    let watermark = SignedBatches::new(api);
    let first_batch = claim.first_batch;
    if first_batch < record.next_batch.max(watermark.read()) {
        info!(
            first_batch,
            "these batches were signed or claimed meanwhile; this segment is dropped"
        );
        return Ok(());
    }
    let now = now_ms();
    // The data reward of the batches' samples, paid with the proof, goes to whoever served the
    // corpus: this node if it holds the corpus on its own machine, else the registered node
    // that served it the most (a server that is no registered node, or none named, gets
    // nothing: naming it would have the whole proof refused).
    let server = match claim.corpus_source {
        Source::Local => Some(node),
        Source::Peers { server: Some(s) } if api.with_chain(|c| c.ledger().node(&s))?.is_some() => {
            Some(s)
        }
        Source::Peers { .. } => None,
    };
    let samples = match server {
        Some(_) => claim
            .batches
            .saturating_mul(u64::from(v.params.training.batch_size)),
        None => 0,
    };
    let data_server = server;
    let proof = Proof {
        role: Role::Driver,
        layer_start: 0,
        layer_end: v.params.model.layers,
        round: v.training.round,
        model_version: v.training.model_version,
        data_seed: record.data_seed,
        data_shard: claim.data_shard,
        pseudo_gradient: claim.pseudo_gradient,
        start_state: claim.start_state,
        end_state: claim.end_state,
        first_batch,
        metrics: WorkMetrics {
            batches: claim.batches,
            tokens: 0,
            samples,
            uptime_secs: 0, // training pays for its own time (uptime: liveness answers)
        },
        data_server,
        timestamp_ms: now,
    };
    // Durable before the signature leaves this process.
    watermark.write(first_batch.saturating_add(claim.batches))?;
    let hash = match api.sign_and_submit(&cfg.node_key, TxBody::SubmitProof(proof)) {
        Ok(h) => h,
        Err(e) => {
            warn!("proof refused: {e}");
            return Ok(());
        }
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Some(p) = api.with_chain(|c| c.ledger().proof(&hash))? {
            info!(
                proof = %hex::encode(&hash[..8]),
                batches = p.batches,
                tokens = claim.tokens,
                loss = format!("{:.3}", claim.mean_loss),
                reward = %p.reward.to_neuro_string(),
                matures_in_s = p.matures_at_ms.saturating_sub(now) / 1_000,
                "proof accepted"
            );
            bar.set_message(format!(
                "proof accepted: {} batches, reward {} NEURO (pending until the challenge window ends)",
                p.batches,
                p.reward.to_neuro_string()
            ));
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    // The network did not take it (e.g. a round closed meanwhile): forget it here too, or it
    // would hold the node key's nonce and block every later proof.
    let dropped = api.drop_pending_from(&node);
    warn!(%node, proof = %hex::encode(hash), dropped, "proof not committed within 30 s; dropped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use neuroshard_runtime::Genesis;

    fn view(registered: bool) -> View {
        let params = Genesis::dev().params;
        let training = TrainingState {
            round: 3,
            model_version: [7; 32],
            opened_ms: 1_000_000,
            ..TrainingState::default()
        };
        let node = registered.then(|| NodeRecord {
            wallet: SecretKey::from_entropy([1; 32]).address(),
            public_key: SecretKey::from_entropy([2; 32]).public_key(),
            registered_at_ms: 0,
            last_proof_ms: 0,
            next_batch: 0,
            proofs: 0,
            earned: neuroshard_runtime::Amount::ZERO,
            data_seed: [0; 32],
            pending_proofs: Vec::new(),
            segment_head: None,
        });
        View {
            params,
            training,
            node,
        }
    }

    #[test]
    fn the_phase_follows_registration_the_deadline_and_the_loaded_model() {
        let v = view(true);
        let deadline = round_deadline_ms(&v);
        let open = v.training.opened_ms;
        let model = Some(v.training.model_version);
        assert_eq!(
            Phase::of(&view(false), open, model, true),
            Phase::Unregistered
        );
        assert_eq!(Phase::of(&v, open, None, true), Phase::LoadingModel);
        assert_eq!(
            Phase::of(&v, open, Some([8; 32]), true),
            Phase::LoadingModel
        );
        assert_eq!(Phase::of(&v, open, model, true), Phase::Training);
        assert_eq!(Phase::of(&v, open, None, false), Phase::Serving);
        // The last moment a segment of the least proof interval still lands, and the first
        // moment it would not.
        let last = deadline - DEADLINE_MARGIN_MS - v.params.min_proof_interval_ms - 1;
        assert_eq!(Phase::of(&v, last, model, true), Phase::Training);
        assert_eq!(Phase::of(&v, last + 1, model, true), Phase::Closing);
        assert_eq!(Phase::of(&v, u64::MAX, model, true), Phase::Closing);
    }

    #[test]
    fn every_cheat_parses_from_its_name_and_nothing_else_does() {
        for (name, cheat) in Cheat::ALL {
            assert_eq!(name.parse::<Cheat>(), Ok(cheat));
        }
        let e = "honest".parse::<Cheat>().unwrap_err();
        assert!(
            e.contains("inflate") && e.contains("wrong-round-result"),
            "{e}"
        );
    }
}
