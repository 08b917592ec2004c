//! `neuroshard [--no-training] [--home DIR]`: one process that is a chain node and a
//! compute worker.
//!
//! With no `--home` it uses the local dev chain under `$NEUROSHARD_HOME`: if no dev node is
//! running it starts one (`$NEUROSHARD_HOME/dev`, the single validator); if one is running it
//! joins it as a full node in a home of its own (`$NEUROSHARD_HOME/nodes/N`: its own keys, ports
//! and node id), so several nodes can run with one token. The wallet key comes from `NEUROSHARD_TOKEN`
//! or `$NEUROSHARD_HOME/wallet.key` (created on first run), never from an argument. A validator node also re-executes sampled proofs and attests rounds.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use neuroshard_chain::node::config::{random_key, ConfigError, ConsensusSection, DEFAULT_P2P_PORT};
use neuroshard_chain::node::{Home, HomeLock, NodeConfig};
use neuroshard_client::lifecycle::{self, Roles, WalletRole};
use neuroshard_runtime::SecretKey;
use tracing::{debug, info};

#[derive(Debug, Args, Default)]
pub struct RunArgs {
    /// Serve inference only (paid by its buyers); do not train. Such a node proves its uptime
    /// each proof interval with a liveness answer (one forward pass a minute on the round's
    /// model), paid 0.0001 NEURO a minute once validators replay it or the bond covers it.
    #[arg(long)]
    pub no_training: bool,
    /// Run this node home (from `testnet init`, or a full node's) instead of the local dev chain.
    #[arg(long)]
    pub home: Option<PathBuf>,
    /// Training corpus: a directory of text files or `synthetic`; it must be the one the chain's
    /// genesis pins [default: the pinned corpus: the synthetic one or Debian's licence texts in
    /// /usr/share/common-licenses if either matches, else fetched from peers].
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
        arg(long, hide = true, value_parser = parse_cheat)
    )]
    #[cfg_attr(not(any(debug_assertions, feature = "test-modes")), arg(skip))]
    pub cheat: Option<lifecycle::Cheat>,
    /// Test only: run no verifier, for tests whose harness signs this validator's verdicts on
    /// its own made-up proofs. Not in release builds (unless built with the `test-modes`
    /// feature).
    #[cfg_attr(any(debug_assertions, feature = "test-modes"), arg(long, hide = true))]
    #[cfg_attr(not(any(debug_assertions, feature = "test-modes")), arg(skip))]
    pub no_verify: bool,
}

/// The wallet key on `chain_id`, creating the key file on the very first run.
fn wallet_key(chain_id: &str) -> anyhow::Result<SecretKey> {
    if std::env::var_os("NEUROSHARD_TOKEN").is_some() || super::wallet::key_file()?.exists() {
        return super::wallet::resolve_key(Some(chain_id));
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

pub fn run(args: RunArgs) -> anyhow::Result<()> {
    let price: neuroshard_runtime::Amount = args
        .inference_price
        .parse()
        .map_err(|e| anyhow::anyhow!("--inference-price: {e}"))?;
    let lock = claim_home(&args)?;
    // A passphrase token opens a different wallet on each chain: this home's.
    let genesis = lock.home().genesis();
    let chain_id = neuroshard_runtime::Genesis::from_json(&std::fs::read_to_string(&genesis)?)
        .with_context(|| format!("{} is not a valid genesis", genesis.display()))?
        .chain_id;
    let key = wallet_key(&chain_id)?;
    let roles = Roles {
        wallet: Some(WalletRole {
            key,
            train: !args.no_training,
            price,
        }),
        verify: !args.no_verify,
        corpus: args.corpus,
        #[cfg(feature = "training")]
        cheat: args.cheat,
    };
    lifecycle::run(lock, Default::default(), roles)
}

/// `--cheat NAME` (test builds only).
#[cfg(feature = "training")]
#[cfg_attr(not(any(debug_assertions, feature = "test-modes")), allow(dead_code))]
fn parse_cheat(s: &str) -> Result<lifecycle::Cheat, String> {
    s.parse()
}
