//! `neuroshard node`, `neuroshard dev` and `neuroshard testnet init`: run a node from a home
//! directory, run the local single-validator dev chain, write a ready localhost testnet.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand};
use neuroshard_chain::node::config::{random_key, DEFAULT_P2P_PORT};
use neuroshard_chain::node::{self, Home, NodeConfig};
use neuroshard_client::lifecycle::{self, Roles};
use neuroshard_runtime::genesis::{GenesisValidator, DEV_GENESIS_JSON, DEV_VALIDATOR_TOKEN};
use neuroshard_runtime::{Genesis, SecretKey};
use tracing::info;

#[derive(Debug, Args)]
pub struct NodeArgs {
    /// The node's home directory (config.toml, genesis.json, keys, data).
    #[arg(long)]
    pub home: PathBuf,
    /// Test only: vote nil wherever consensus votes for a block (a byzantine validator). Not in
    /// release builds (unless built with the `test-modes` feature).
    #[cfg_attr(any(debug_assertions, feature = "test-modes"), arg(long, hide = true))]
    #[cfg_attr(not(any(debug_assertions, feature = "test-modes")), arg(skip))]
    pub byzantine_equivocate: bool,
    /// Test only: run no verifier, for tests of the chain itself whose harness signs this
    /// validator's verdicts on its own made-up proofs. Not in release builds (unless built with
    /// the `test-modes` feature).
    #[cfg_attr(any(debug_assertions, feature = "test-modes"), arg(long, hide = true))]
    #[cfg_attr(not(any(debug_assertions, feature = "test-modes")), arg(skip))]
    pub no_verify: bool,
    /// Corpus a validator re-executes proofs and evaluates rounds on: a directory of text files
    /// or `synthetic`, the one genesis pins [default: as `neuroshard`].
    #[arg(long)]
    pub corpus: Option<String>,
}

#[derive(Debug, Args)]
pub struct DevArgs {
    /// Home of the dev node [default: $NEUROSHARD_HOME/dev, $NEUROSHARD_HOME defaulting to
    /// ~/.neuroshard]. Created on first use, reused afterwards.
    #[arg(long)]
    pub home: Option<PathBuf>,
    /// First of the ports a new dev home uses: P2P = BASE, RPC = BASE+1, gossip = BASE+3.
    #[arg(long, default_value_t = DEFAULT_P2P_PORT)]
    pub base_port: u16,
    /// Least milliseconds between blocks, for a new dev home.
    #[arg(long, default_value_t = 1000)]
    pub block_interval_ms: u64,
    /// Genesis file for a new dev home [default: the embedded dev genesis].
    #[arg(long)]
    pub genesis: Option<PathBuf>,
    /// Test only: run no verifier, for tests of the chain itself whose harness signs this
    /// validator's verdicts on its own made-up proofs. Not in release builds (unless built with
    /// the `test-modes` feature).
    #[cfg_attr(any(debug_assertions, feature = "test-modes"), arg(long, hide = true))]
    #[cfg_attr(not(any(debug_assertions, feature = "test-modes")), arg(skip))]
    pub no_verify: bool,
}

#[derive(Debug, Subcommand)]
pub enum TestnetCommand {
    /// Write homes for a localhost testnet of N validators (distinct ports) and print one line
    /// per node: `nodeN <home> http://127.0.0.1:<rpc port>`.
    Init {
        #[arg(long, default_value_t = 4)]
        validators: usize,
        #[arg(long)]
        dir: PathBuf,
        /// Node i uses P2P = BASE+10i, RPC = BASE+10i+1, gossip = BASE+10i+3.
        #[arg(long, default_value_t = DEFAULT_P2P_PORT)]
        base_port: u16,
        #[arg(long, default_value = "neuroshard-testnet-1")]
        chain_id: String,
        /// Least milliseconds between blocks.
        #[arg(long, default_value_t = 1000)]
        block_interval_ms: u64,
        /// Take the protocol parameters from this genesis file [default: the dev genesis's].
        #[arg(long)]
        genesis: Option<PathBuf>,
        /// Pin this training corpus in the genesis (a directory of text files, or `synthetic`)
        /// [default: the one the parameters pin; the dev genesis's is `synthetic`].
        #[cfg(feature = "training")]
        #[arg(long)]
        corpus: Option<String>,
    },
}

/// `$NEUROSHARD_HOME`, or `~/.neuroshard`.
pub fn neuroshard_home() -> anyhow::Result<PathBuf> {
    if let Some(h) = std::env::var_os("NEUROSHARD_HOME") {
        return Ok(PathBuf::from(h));
    }
    let home = std::env::var_os("HOME").context("neither NEUROSHARD_HOME nor HOME is set")?;
    Ok(PathBuf::from(home).join(".neuroshard"))
}

fn ports(base: u16, index: usize) -> anyhow::Result<(u16, u16, u16)> {
    let p2p = base
        .checked_add(u16::try_from(index * 10).context("too many nodes")?)
        .context("port out of range")?;
    let last = p2p.checked_add(3).context("port out of range")?;
    Ok((p2p, p2p + 1, last))
}

/// A chain node's roles: no wallet; a validator verifies and attests whichever command runs it.
fn chain_roles(corpus: Option<String>, verify: bool) -> Roles {
    Roles {
        verify,
        corpus,
        ..Roles::default()
    }
}

/// Runs the node in `--home` (a chain node; a validator's also verifies and attests) until
/// SIGINT or SIGTERM.
pub fn run_node(args: NodeArgs) -> anyhow::Result<()> {
    let home = Home::new(&args.home);
    if !home.is_initialised() {
        anyhow::bail!(
            "{} is not a node home (no config.toml); create one with `neuroshard testnet init` or run `neuroshard dev`",
            home.dir.display()
        );
    }
    let options = node::StartOptions {
        equivocate: args.byzantine_equivocate,
    };
    lifecycle::run(
        home.lock()?,
        options,
        chain_roles(args.corpus, !args.no_verify),
    )
}

/// The dev chain: creates its home on first use (dev genesis, the dev validator key), then runs.
pub fn run_dev(args: DevArgs) -> anyhow::Result<()> {
    let dir = match args.home {
        Some(h) => h,
        None => neuroshard_home()?.join("dev"),
    };
    let home = Home::new(&dir);
    // Claimed before it is created: two `dev` commands started at once never both write it.
    let lock = home.lock()?;
    if !home.is_initialised() {
        init_dev_home(
            &home,
            args.base_port,
            args.block_interval_ms,
            args.genesis.as_deref(),
        )?;
    }
    lifecycle::run(
        lock,
        node::StartOptions::default(),
        chain_roles(None, !args.no_verify),
    )
}

/// Writes a new dev chain home: the dev validator key, ports from `base_port`, and the embedded
/// dev genesis unless `genesis` names another file.
pub fn init_dev_home(
    home: &Home,
    base_port: u16,
    block_interval_ms: u64,
    genesis: Option<&Path>,
) -> anyhow::Result<()> {
    let (p2p, rpc, gossip) = ports(base_port, 0)?;
    let mut config = NodeConfig::local("dev", p2p, rpc, gossip);
    config.consensus.block_interval_ms = block_interval_ms;
    let key = SecretKey::from_hex_token(DEV_VALIDATOR_TOKEN)?;
    let genesis = match genesis {
        Some(f) => {
            std::fs::read_to_string(f).with_context(|| format!("cannot read {}", f.display()))?
        }
        None => DEV_GENESIS_JSON.to_owned(),
    };
    Genesis::from_json(&genesis).context("invalid genesis")?;
    home.init(&config, &genesis, &key, random_key())?;
    info!(home = %home.dir.display(), rpc = %format!("http://127.0.0.1:{rpc}"), "created the dev chain home");
    Ok(())
}

pub fn run_testnet(cmd: TestnetCommand) -> anyhow::Result<()> {
    let TestnetCommand::Init {
        validators,
        dir,
        base_port,
        chain_id,
        block_interval_ms,
        genesis,
        #[cfg(feature = "training")]
        corpus,
    } = cmd;
    #[allow(unused_mut)]
    let mut params = match genesis {
        Some(f) => {
            let text = std::fs::read_to_string(&f)
                .with_context(|| format!("cannot read {}", f.display()))?;
            Some(Genesis::from_json(&text).context("invalid genesis")?.params)
        }
        None => None,
    };
    #[cfg(feature = "training")]
    if let Some(corpus) = corpus {
        let mut p = params.unwrap_or_else(|| Genesis::dev().params);
        p.training.corpus = super::genesis::corpus_hash(Some(&corpus))?;
        params = Some(p);
    }
    for (i, (home, rpc)) in init_testnet(
        validators,
        &dir,
        base_port,
        &chain_id,
        block_interval_ms,
        params,
    )?
    .iter()
    .enumerate()
    {
        println!("node{i} {} http://127.0.0.1:{rpc}", home.display());
    }
    Ok(())
}

/// Writes the homes of a localhost testnet; returns each node's home and RPC port.
pub fn init_testnet(
    validators: usize,
    dir: &Path,
    base_port: u16,
    chain_id: &str,
    block_interval_ms: u64,
    params: Option<neuroshard_runtime::Params>,
) -> anyhow::Result<Vec<(PathBuf, u16)>> {
    anyhow::ensure!(validators >= 1, "a testnet needs at least one validator");
    let keys: Vec<SecretKey> = (0..validators)
        .map(|_| SecretKey::from_entropy(random_key()))
        .collect();
    let mut genesis = Genesis::dev();
    genesis.chain_id = chain_id.to_owned();
    if let Some(params) = params {
        genesis.params = params;
    }
    genesis.validators = keys
        .iter()
        .enumerate()
        .map(|(i, k)| GenesisValidator::for_key(&format!("node{i}"), k, 10))
        .collect();
    let genesis_json = serde_json::to_string_pretty(&genesis)?;
    Genesis::from_json(&genesis_json).context("generated genesis is invalid")?;
    let all_ports: Vec<(u16, u16, u16)> = (0..validators)
        .map(|i| ports(base_port, i))
        .collect::<anyhow::Result<_>>()?;
    let mut out = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let (p2p, rpc, gossip) = all_ports[i];
        let mut config = NodeConfig::local(&format!("node{i}"), p2p, rpc, gossip);
        config.consensus.block_interval_ms = block_interval_ms;
        for (j, (p, _, g)) in all_ports.iter().enumerate() {
            if j != i {
                config
                    .p2p
                    .persistent_peers
                    .push(format!("/ip4/127.0.0.1/tcp/{p}"));
                config.gossip.peers.push(format!("/ip4/127.0.0.1/tcp/{g}"));
            }
        }
        let home_dir = dir.join(format!("node{i}"));
        Home::new(&home_dir).init(&config, &genesis_json, key, random_key())?;
        out.push((home_dir, rpc));
    }
    Ok(out)
}
