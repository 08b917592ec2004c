//! The one node life cycle: chain node, JSON-RPC, the services the node's [`Roles`] ask for, and
//! an orderly stop.
//!
//! Every command that runs a node comes through [`run`]. What differs between them is only which
//! roles they give it: the bare `neuroshard` trains for a wallet and sells inference;
//! `neuroshard node` and `neuroshard dev` run a chain node. Whichever runs it, a home whose
//! validator key is (or becomes) an active validator re-executes drawn proofs and attests rounds.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use anyhow::Context;
use neuroshard_chain::node::{self, Home, HomeLock, NodeApi, StartOptions};
use neuroshard_runtime::{Amount, SecretKey};
use tracing::info;

/// Test-only misbehaviour, to show that validators catch it (see [`crate::worker::Cheat`]).
#[cfg(feature = "training")]
pub use crate::worker::Cheat;

/// What a node does beside following the chain.
#[derive(Default)]
pub struct Roles {
    /// Prove work for this wallet: train (unless `train` is false) with the home's worker key,
    /// and sell inference at `price` per generated token.
    pub wallet: Option<WalletRole>,
    /// Run the validator round service for the home's validator key (it idles while the key is
    /// not an active validator). Off only for tests whose harness signs verdicts itself.
    pub verify: bool,
    /// Corpus the worker trains on and the verifier replays on (`--corpus`): a directory of text
    /// files or `synthetic` [default: see `spec::Corpus::choose`].
    pub corpus: Option<String>,
    /// Test only: misbehave.
    #[cfg(feature = "training")]
    pub cheat: Option<Cheat>,
}

/// The wallet a node works for.
pub struct WalletRole {
    pub key: SecretKey,
    /// Train and prove, or serve inference only (`--no-training`).
    pub train: bool,
    /// Asked per generated token of inference.
    pub price: Amount,
}

/// Runs the node in the home `lock` holds until SIGINT or SIGTERM, with the services `roles`
/// ask for; stops them all, then the chain node.
pub fn run(lock: HomeLock, start: StartOptions, roles: Roles) -> anyhow::Result<()> {
    let home = lock.home().clone();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(async move {
            let running = node::start_locked(lock, start)
                .await
                .map_err(|e| anyhow::anyhow!("{e:#}"))
                .with_context(|| format!("cannot start the node in {}", home.dir.display()))?;
            let methods = rpc_methods(&running.api, &roles)?;
            let (addr, rpc) =
                neuroshard_rpc::serve_with(&running.rpc_listen, running.api.clone(), methods)
                    .await
                    .with_context(|| format!("cannot serve RPC on {}", running.rpc_listen))?;
            let status = running.api.status();
            info!(
                chain = %status.chain_id,
                height = status.height,
                rpc = %format!("http://{addr}"),
                home = %home.dir.display(),
                "node running; Ctrl-C to stop"
            );
            let stop = Arc::new(AtomicBool::new(false));
            let services = match spawn_services(&running.api, &home, roles, &stop) {
                Ok(threads) => threads,
                Err(e) => {
                    let _ = rpc.stop();
                    running.shutdown().await;
                    return Err(e);
                }
            };
            shutdown_signal().await;
            info!("shutting down");
            stop.store(true, Ordering::Relaxed);
            for t in services {
                let _ = tokio::task::spawn_blocking(move || t.join()).await;
            }
            let _ = rpc.stop();
            running.shutdown().await;
            Ok(())
        })
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// JSON-RPC methods beside the ledger's: inference for sale where the node works for a wallet.
#[cfg(feature = "training")]
fn rpc_methods(api: &NodeApi, roles: &Roles) -> anyhow::Result<jsonrpsee::Methods> {
    use crate::inference::{module, InferenceService};
    match &roles.wallet {
        Some(w) => Ok(module(InferenceService::new(
            api.clone(),
            w.key.address(),
            w.price,
        ))?),
        None => Ok(jsonrpsee::Methods::new()),
    }
}

#[cfg(not(feature = "training"))]
fn rpc_methods(_api: &NodeApi, _roles: &Roles) -> anyhow::Result<jsonrpsee::Methods> {
    Ok(jsonrpsee::Methods::new())
}

/// Starts the worker and the verifier, each on its own thread, as `roles` ask. The pinned
/// corpus is loaded first (from peers if this machine has none and no `--corpus` was given): a
/// node given another corpus than genesis pins says so and stops, instead of training work the
/// chain refuses.
#[cfg(feature = "training")]
fn spawn_services(
    api: &NodeApi,
    home: &Home,
    roles: Roles,
    stop: &Arc<AtomicBool>,
) -> anyhow::Result<Vec<JoinHandle<()>>> {
    use crate::spec::Corpus;
    use crate::{verifier, worker};
    let corpus = Corpus::choose(roles.corpus.as_deref());
    let validator_key = home.load_validator_key()?;
    let validating = roles.verify && verifier::is_active(api, &validator_key.address());
    let training = roles.wallet.as_ref().is_some_and(|w| w.train);
    if training || validating {
        // Fetched from peers here if this machine has no corpus matching the pin (and no
        // `--corpus` was given), before any service needs it.
        let pinned = api.with_chain(|c| c.ledger().params().training.corpus);
        crate::corpus::load(api, &corpus, &pinned)?;
    }
    let mut threads = Vec::new();
    if let Some(wallet) = roles.wallet {
        let node_key = home.load_or_create_worker_key()?;
        info!(wallet = %wallet.key.address(), node = %node_key.address(), "working for the wallet");
        // Trainers this node feeds with the corpus name it as their data server.
        api.blobs().serve_as(node_key.address());
        let cfg = worker::WorkerConfig {
            wallet: wallet.key,
            node_key,
            corpus: corpus.clone(),
            training: wallet.train,
            cheat: roles.cheat,
        };
        threads.push(spawn("worker", api, stop, move |api, stop| {
            worker::run(api, cfg, stop)
        })?);
    }
    if roles.verify {
        let lie = roles.cheat == Some(Cheat::WrongRoundResult);
        threads.push(spawn("verifier", api, stop, move |api, stop| {
            verifier::run(api, validator_key, corpus, lie, stop)
        })?);
    }
    Ok(threads)
}

#[cfg(not(feature = "training"))]
fn spawn_services(
    _api: &NodeApi,
    _home: &Home,
    roles: Roles,
    _stop: &Arc<AtomicBool>,
) -> anyhow::Result<Vec<JoinHandle<()>>> {
    if roles.wallet.is_some() || roles.verify {
        tracing::warn!(
            "built without the `training` feature: this node trains, verifies and sells nothing"
        );
    }
    Ok(Vec::new())
}

/// One service on its own named thread; its error, if it stops with one, is logged.
#[cfg(feature = "training")]
fn spawn(
    name: &'static str,
    api: &NodeApi,
    stop: &Arc<AtomicBool>,
    service: impl FnOnce(NodeApi, Arc<AtomicBool>) -> anyhow::Result<()> + Send + 'static,
) -> anyhow::Result<JoinHandle<()>> {
    let (api, stop) = (api.clone(), stop.clone());
    Ok(std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            if let Err(e) = service(api, stop) {
                tracing::error!("{name} stopped: {e:#}");
            }
        })?)
}
