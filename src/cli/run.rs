//! `neuroshard [--no-training] [--home DIR]`: one process that is a chain node and a
//! compute worker.
//!
//! With no `--home` it uses the local dev chain under `$NEUROSHARD_HOME`: if no dev node is
//! running it starts one (`$NEUROSHARD_HOME/dev`, the single validator); if one is running it
//! joins it as a full node in a home of its own (`$NEUROSHARD_HOME/nodes/N`: its own keys, ports
//! and node id), so several nodes can run with one token. The wallet key comes from `NEUROSHARD_TOKEN`
//! or `$NEUROSHARD_HOME/wallet.key` (created on first run), never from an argument. A validator node also re-executes sampled proofs and attests rounds.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use neuroshard_chain::node::config::{
    random_key, write_file, ConfigError, ConsensusSection, DEFAULT_P2P_PORT,
};
use neuroshard_chain::node::{self, Home, HomeLock, NodeConfig};
use neuroshard_runtime::SecretKey;
use tracing::{debug, info};

#[derive(Debug, Args, Default)]
pub struct RunArgs {
    /// Serve inference only (paid by its buyers); do not train. Such a node claims no uptime:
    /// uptime is paid only alongside training.
    #[arg(long)]
    pub no_training: bool,
    /// Run this node home (from `testnet init`, or a full node's) instead of the local dev chain.
    #[arg(long)]
    pub home: Option<PathBuf>,
    /// Training corpus: a directory of text files or `synthetic`; it must be the one the chain's
    /// genesis pins [default: the pinned corpus if it is the synthetic one or Debian's licence
    /// texts in /usr/share/common-licenses].
    #[arg(long)]
    pub corpus: Option<String>,
    /// Price this node asks per generated token for inference (NEURO).
    #[arg(long, default_value = "0.00001")]
    pub inference_price: String,
    /// First port of a new dev home: P2P = BASE, RPC = BASE+1, gossip = BASE+3.
    #[arg(long, default_value_t = DEFAULT_P2P_PORT)]
    pub base_port: u16,
    /// Genesis file for a new dev home [default: the embedded dev genesis].
    #[arg(long, hide = true)]
    pub dev_genesis: Option<PathBuf>,
    /// Test only: misbehave so that validators can be seen to catch it. Not in release builds
    /// (unless built with the `test-modes` feature).
    #[cfg(feature = "training")]
    #[cfg_attr(
        any(debug_assertions, feature = "test-modes"),
        arg(long, hide = true, value_enum)
    )]
    #[cfg_attr(not(any(debug_assertions, feature = "test-modes")), arg(skip))]
    pub cheat: Option<crate::ponw::worker::Cheat>,
    /// Test only: run no verifier, for tests whose harness signs this validator's verdicts on
    /// its own made-up proofs. Not in release builds (unless built with the `test-modes`
    /// feature).
    #[cfg_attr(any(debug_assertions, feature = "test-modes"), arg(long, hide = true))]
    #[cfg_attr(not(any(debug_assertions, feature = "test-modes")), arg(skip))]
    pub no_verify: bool,
}

/// The wallet key, creating the key file on the very first run.
fn wallet_key() -> anyhow::Result<SecretKey> {
    if std::env::var_os("NEUROSHARD_TOKEN").is_some() || super::wallet::key_file()?.exists() {
        return super::wallet::resolve_key();
    }
    let key = SecretKey::from_entropy(random_key());
    let path = super::wallet::save_key(&key, false)?;
    info!(wallet = %key.address(), file = %path.display(), "created a new wallet (back up this file: it is the only way to your NEURO)");
    Ok(key)
}

/// Ports of joined node `i`: the dev node's P2P port + 100 + 10·i (P2P), +1 (RPC), +3 (gossip),
/// fixed per home (outside the kernel's ephemeral range for the default base), so that a restarted
/// node finds its ports free again.
/// `None` when one of them is taken now (by another program, or an outgoing connection).
fn joined_ports(dev: &NodeConfig, i: usize) -> anyhow::Result<Option<(u16, u16, u16)>> {
    let dev_p2p: u16 = dev
        .p2p
        .listen
        .rsplit('/')
        .next()
        .and_then(|p| p.parse().ok())
        .context("the dev home's p2p.listen has no port")?;
    let p2p = u16::try_from(usize::from(dev_p2p) + 100 + 10 * i).context("port out of range")?;
    anyhow::ensure!(p2p <= u16::MAX - 3, "port out of range");
    let free = |p: u16| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok();
    Ok((free(p2p) && free(p2p + 1) && free(p2p + 3)).then_some((p2p, p2p + 1, p2p + 3)))
}

/// Claims (creating if needed) the home this process runs.
///
/// A home is claimed by its lock (`Home::lock`), held for the life of the process and released
/// by the kernel when it dies: two processes started at the same moment never share a home, and
/// one whose first start was interrupted is taken (and finished) by the next process.
fn claim_home(args: &RunArgs) -> anyhow::Result<HomeLock> {
    if let Some(dir) = &args.home {
        let home = Home::new(dir);
        anyhow::ensure!(
            home.is_initialised(),
            "{} is not a node home (no config.toml)",
            dir.display()
        );
        return Ok(home.lock()?);
    }
    let root = super::node::neuroshard_home()?;
    let dev = Home::new(root.join("dev"));
    match dev.lock() {
        Ok(lock) => {
            if !dev.is_initialised() {
                super::node::init_dev_home(
                    &dev,
                    args.base_port,
                    ConsensusSection::default().block_interval_ms,
                    args.dev_genesis.as_deref(),
                )?;
            }
            return Ok(lock);
        }
        Err(ConfigError::InUse(_)) => {}
        Err(e) => return Err(e.into()),
    }
    // The dev node runs in another process: join it as a full node with a home of our own.
    let dev_config = wait_for_config(&dev)?;
    for i in 1..1_000 {
        let home = Home::new(root.join("nodes").join(i.to_string()));
        let lock = match home.lock() {
            Ok(lock) => lock,
            Err(ConfigError::InUse(_)) => continue,
            Err(e) => return Err(e.into()),
        };
        if !home.is_initialised() {
            // A new home takes the first slot whose ports are free; an existing one keeps its own.
            let Some((p2p, rpc, gossip)) = joined_ports(&dev_config, i)? else {
                debug!(
                    slot = i,
                    "the ports of this node slot are taken: trying the next"
                );
                continue;
            };
            let mut config = NodeConfig::local(&format!("node{i}"), p2p, rpc, gossip);
            config.p2p.persistent_peers = vec![dev_config.p2p.listen.clone()];
            config.gossip.peers = vec![dev_config.gossip.listen.clone()];
            config.consensus = dev_config.consensus.clone();
            let genesis = std::fs::read_to_string(dev.genesis())?;
            // A key no validator set names: this node follows consensus, it does not vote.
            let key = SecretKey::from_entropy(random_key());
            home.init(&config, &genesis, &key, random_key())?;
            info!(home = %home.dir.display(), "joining the running dev chain as a full node");
        }
        return Ok(lock);
    }
    anyhow::bail!(
        "no free node home (or none whose ports are free) under {}",
        root.join("nodes").display()
    )
}

/// The dev home's configuration, once the process that holds it has written it (it may be
/// creating the home at this moment).
fn wait_for_config(dev: &Home) -> anyhow::Result<NodeConfig> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !dev.is_initialised() {
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "{} is locked by another process but has no config.toml after 30 s",
            dev.dir.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    Ok(dev.load_config()?)
}

/// This home's compute-worker key (its PoNW node id), created once (mode 0600).
fn worker_key(home: &Path) -> anyhow::Result<SecretKey> {
    let path = home.join("worker_key");
    if !path.exists() {
        write_file(&path, hex::encode(random_key()).as_bytes(), true)?;
    }
    let text = std::fs::read_to_string(&path)?;
    SecretKey::from_token(text.trim())
        .with_context(|| format!("{} holds no valid key", path.display()))
}

pub fn run(args: RunArgs) -> anyhow::Result<()> {
    let wallet = wallet_key()?;
    let price: neuroshard_runtime::Amount = args
        .inference_price
        .parse()
        .map_err(|e| anyhow::anyhow!("--inference-price: {e}"))?;
    super::node::runtime()?.block_on(async move {
        let lock = claim_home(&args)?;
        let dir = lock.home().dir.clone();
        let running = node::start_locked(lock, Default::default())
            .await
            .map_err(|e| anyhow::anyhow!("{e:#}"))
            .with_context(|| format!("cannot start the node in {}", dir.display()))?;
        let home = Home::new(&dir);
        let node_key = worker_key(&dir)?;
        let validator_key = home.load_validator_key()?;
        let extra = extra_methods(&running.api, wallet.address(), price)?;
        let (addr, rpc) =
            neuroshard_rpc::serve_with(&running.rpc_listen, running.api.clone(), extra)
                .await
                .with_context(|| format!("cannot serve RPC on {}", running.rpc_listen))?;
        let status = running.api.status();
        info!(
            chain = %status.chain_id,
            height = status.height,
            rpc = %format!("http://{addr}"),
            home = %dir.display(),
            wallet = %wallet.address(),
            node = %node_key.address(),
            "node running; Ctrl-C to stop"
        );
        let stop = Arc::new(AtomicBool::new(false));
        let threads =
            match spawn_compute(&args, &running.api, wallet, node_key, validator_key, &stop) {
                Ok(threads) => threads,
                Err(e) => {
                    let _ = rpc.stop();
                    running.shutdown().await;
                    return Err(e);
                }
            };
        super::node::shutdown_signal().await;
        info!("shutting down");
        stop.store(true, Ordering::Relaxed);
        for t in threads {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
        let _ = rpc.stop();
        running.shutdown().await;
        Ok(())
    })
}

/// Inference for sale (with libtorch).
#[cfg(feature = "training")]
fn extra_methods(
    api: &neuroshard_chain::node::NodeApi,
    wallet: neuroshard_runtime::Address,
    price: neuroshard_runtime::Amount,
) -> anyhow::Result<jsonrpsee::Methods> {
    use crate::ponw::inference::{module, InferenceService};
    Ok(module(InferenceService::new(api.clone(), wallet, price))?)
}

#[cfg(not(feature = "training"))]
fn extra_methods(
    _api: &neuroshard_chain::node::NodeApi,
    _wallet: neuroshard_runtime::Address,
    _price: neuroshard_runtime::Amount,
) -> anyhow::Result<jsonrpsee::Methods> {
    Ok(jsonrpsee::Methods::new())
}

#[cfg(feature = "training")]
fn spawn_compute(
    args: &RunArgs,
    api: &neuroshard_chain::node::NodeApi,
    wallet: SecretKey,
    node_key: SecretKey,
    validator_key: SecretKey,
    stop: &Arc<AtomicBool>,
) -> anyhow::Result<Vec<std::thread::JoinHandle<()>>> {
    use crate::ponw::{spec::Corpus, worker};
    let corpus = Corpus::choose(args.corpus.as_deref());
    // Checked before any thread starts: a node on another corpus than genesis pins says so and
    // stops, instead of training work the chain refuses.
    let pinned = api.with_chain(|c| c.ledger().params().training.corpus);
    let validating =
        !args.no_verify && crate::ponw::verifier::is_active(api, &validator_key.address());
    if !args.no_training || validating {
        corpus.load_pinned(&pinned)?;
    }
    let cfg = worker::WorkerConfig {
        wallet,
        node_key,
        corpus: corpus.clone(),
        training: !args.no_training,
        cheat: args.cheat,
    };
    let (api_w, stop_w) = (api.clone(), stop.clone());
    let worker = std::thread::Builder::new()
        .name("worker".into())
        .spawn(move || {
            if let Err(e) = worker::run(api_w, cfg, stop_w) {
                tracing::error!("worker stopped: {e:#}");
            }
        })?;
    if args.no_verify {
        return Ok(vec![worker]);
    }
    let lie = args.cheat == Some(worker::Cheat::WrongRoundResult);
    let verifier = spawn_verifier(api, validator_key, corpus, lie, stop)?;
    Ok(vec![worker, verifier])
}

/// The validator's round service (re-execution, verdicts, round attestations) on its own
/// thread. It idles while `key` is not an active validator.
#[cfg(feature = "training")]
pub fn spawn_verifier(
    api: &neuroshard_chain::node::NodeApi,
    key: SecretKey,
    corpus: crate::ponw::spec::Corpus,
    lie: bool,
    stop: &Arc<AtomicBool>,
) -> anyhow::Result<std::thread::JoinHandle<()>> {
    let (api, stop) = (api.clone(), stop.clone());
    Ok(std::thread::Builder::new()
        .name("verifier".into())
        .spawn(move || {
            if let Err(e) = crate::ponw::verifier::run(api, key, corpus, lie, stop) {
                tracing::error!("verification stopped: {e:#}");
            }
        })?)
}

#[cfg(not(feature = "training"))]
fn spawn_compute(
    _args: &RunArgs,
    _api: &neuroshard_chain::node::NodeApi,
    _wallet: SecretKey,
    _node_key: SecretKey,
    _validator_key: SecretKey,
    _stop: &Arc<AtomicBool>,
) -> anyhow::Result<Vec<std::thread::JoinHandle<()>>> {
    tracing::warn!("built without the `training` feature: running a full node only (no worker)");
    Ok(Vec::new())
}
