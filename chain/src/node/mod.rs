//! A running node: Malachite consensus driving the chain state, transaction gossip, and the
//! [`NodeApi`] the RPC server uses.

pub mod app;
pub mod config;
pub mod gossip;
pub mod parts;
pub mod shared;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use libp2p::Multiaddr;
use malachitebft_app_channel::app::config::{
    ConsensusConfig, P2pConfig, TimeoutConfig, ValuePayload, ValueSyncConfig,
};
use malachitebft_app_channel::app::events::{RxEvent, TxEvent};
use malachitebft_app_channel::app::node::{EngineHandle, Node, NodeHandle};
use malachitebft_app_channel::app::types::Keypair;
use neuroshard_runtime::{PublicKey, SecretKey};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};
use tracing::info;

use crate::consensus::{
    Height, NeuroContext, SignState, Signer, ValidatorAddress, VoteWatcher, WireCodec,
};
use crate::executor::ChainState;
use crate::mempool::{Mempool, MempoolLimits};
pub use config::{Home, HomeLock, NodeConfig};
use shared::Shared;
pub use shared::{NodeApi, Status, SubmitError};

/// Malachite's view of our configuration.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EngineConfig {
    moniker: String,
    consensus: ConsensusConfig,
    value_sync: ValueSyncConfig,
}

impl malachitebft_app_channel::app::node::NodeConfig for EngineConfig {
    fn moniker(&self) -> &str {
        &self.moniker
    }
    fn consensus(&self) -> &ConsensusConfig {
        &self.consensus
    }
    fn value_sync(&self) -> &ValueSyncConfig {
        &self.value_sync
    }
}

fn parse_addr(what: &str, s: &str) -> eyre::Result<Multiaddr> {
    s.parse()
        .map_err(|e| eyre::eyre!("{what} {s:?} is not a multiaddr: {e}"))
}

fn engine_config(cfg: &NodeConfig) -> eyre::Result<EngineConfig> {
    let c = &cfg.consensus;
    let timeouts = TimeoutConfig {
        timeout_propose: Duration::from_millis(c.timeout_propose_ms),
        timeout_prevote: Duration::from_millis(c.timeout_prevote_ms),
        timeout_precommit: Duration::from_millis(c.timeout_precommit_ms),
        ..TimeoutConfig::default()
    };
    let p2p = P2pConfig {
        listen_addr: parse_addr("p2p.listen", &cfg.p2p.listen)?,
        persistent_peers: cfg
            .p2p
            .persistent_peers
            .iter()
            .map(|p| parse_addr("p2p.persistent_peers", p))
            .collect::<eyre::Result<_>>()?,
        ..P2pConfig::default()
    };
    Ok(EngineConfig {
        moniker: cfg.moniker.clone(),
        consensus: ConsensusConfig {
            timeouts,
            p2p,
            value_payload: ValuePayload::ProposalAndParts,
            queue_capacity: 100,
        },
        value_sync: ValueSyncConfig {
            status_update_interval: Duration::from_secs(1),
            request_timeout: Duration::from_secs(5),
            ..ValueSyncConfig::default()
        },
    })
}

/// What Malachite's `Node` trait needs to start the engine.
#[derive(Clone)]
struct EngineNode {
    home: PathBuf,
    config: EngineConfig,
    key: SecretKey,
    p2p_key: Keypair,
    chain_id: String,
    watcher: Arc<VoteWatcher>,
    sign_state: Arc<SignState>,
    options: StartOptions,
}

/// How a node starts, beyond its home.
#[derive(Clone, Copy, Debug, Default)]
pub struct StartOptions {
    /// Test only: sign a vote for nil wherever consensus votes for a block (a byzantine
    /// validator, for the double-sign tests).
    pub equivocate: bool,
}

#[async_trait]
impl Node for EngineNode {
    type Context = NeuroContext;
    type Config = EngineConfig;
    type Genesis = ();
    type PrivateKeyFile = ();
    type SigningProvider = Signer;
    type NodeHandle = RunningNode;

    async fn start(&self) -> eyre::Result<RunningNode> {
        start_with(&Home::new(&self.home), self.options).await
    }
    async fn run(self) -> eyre::Result<()> {
        let mut node = self.start().await?;
        let app = node.tasks.remove(0);
        app.await?;
        Ok(())
    }
    fn get_home_dir(&self) -> PathBuf {
        self.home.clone()
    }
    fn load_config(&self) -> eyre::Result<EngineConfig> {
        Ok(self.config.clone())
    }
    fn get_address(&self, pk: &PublicKey) -> ValidatorAddress {
        ValidatorAddress(pk.address())
    }
    fn get_public_key(&self, pk: &SecretKey) -> PublicKey {
        pk.public_key()
    }
    fn get_keypair(&self, _pk: SecretKey) -> Keypair {
        self.p2p_key.clone()
    }
    fn load_private_key(&self, _file: ()) -> SecretKey {
        self.key.clone()
    }
    fn load_private_key_file(&self) -> eyre::Result<()> {
        Ok(())
    }
    fn load_genesis(&self) -> eyre::Result<()> {
        Ok(())
    }
    fn get_signing_provider(&self, key: SecretKey) -> Signer {
        Signer::new(key, &self.chain_id)
            .with_watcher(self.watcher.clone())
            .with_sign_state(self.sign_state.clone())
            .equivocating(self.options.equivocate)
    }
}

/// A started node.
pub struct RunningNode {
    pub api: NodeApi,
    pub rpc_listen: String,
    engine: EngineHandle,
    events: TxEvent<NeuroContext>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// Set once shutdown begins: the application loop then ends quietly.
    stopping: Arc<AtomicBool>,
    /// Held while the node runs: no second process opens this home.
    _home: HomeLock,
}

impl RunningNode {
    /// Stops consensus, gossip and the application loop. Committed state is already durable.
    pub async fn shutdown(self) {
        let _ = self.kill(None).await;
    }
}

#[async_trait]
impl NodeHandle<NeuroContext> for RunningNode {
    /// Events from the consensus engine.
    fn subscribe(&self) -> RxEvent<NeuroContext> {
        self.events.subscribe()
    }

    async fn kill(&self, _reason: Option<String>) -> eyre::Result<()> {
        self.stopping.store(true, Ordering::SeqCst);
        self.engine.actor.kill_and_wait(None).await?;
        self.engine.handle.abort();
        for t in &self.tasks {
            t.abort();
        }
        Ok(())
    }
}

/// Opens the home, the chain state and starts consensus and gossip.
pub async fn start(home: &Home) -> eyre::Result<RunningNode> {
    start_with(home, StartOptions::default()).await
}

/// [`start`], with options.
pub async fn start_with(home: &Home, options: StartOptions) -> eyre::Result<RunningNode> {
    start_locked(home.lock()?, options).await
}

/// [`start_with`] in a home this process has already claimed.
pub async fn start_locked(lock: HomeLock, options: StartOptions) -> eyre::Result<RunningNode> {
    let home = lock.home().clone();
    let home = &home;
    let config = home.load_config()?;
    let genesis = home.load_genesis()?;
    let key = home.load_validator_key()?;
    let node_key = home.load_node_key()?;
    let chain = ChainState::open(&home.data(), &genesis)?;
    let validators = app::validator_set(&chain)?;
    if validators.validators.is_empty() {
        return Err(eyre::eyre!("the chain has no validator with voting power"));
    }
    let me = ValidatorAddress(key.address());
    let status = Status {
        chain_id: genesis.chain_id.clone(),
        moniker: config.moniker.clone(),
        height: chain.height(),
        latest_block_hash: hex::encode(chain.last_hash()),
        state_root: hex::encode(chain.ledger().state_root()),
        latest_block_time_ms: chain.ledger().last_block_time_ms(),
        validator_address: me.0.to_string(),
        ..Status::default()
    };
    let start_height = Height(chain.height() + 1);
    info!(
        chain = %genesis.chain_id,
        height = chain.height(),
        validator = %me,
        is_validator = validators.get(&me).is_some(),
        "opened chain state"
    );
    let (gossip_out, gossip_in) = mpsc::unbounded_channel();
    let shared = Arc::new(Shared {
        chain: RwLock::new(chain),
        mempool: Mutex::new(Mempool::new(MempoolLimits::default())),
        peers: AtomicUsize::new(0),
        catching_up: AtomicBool::new(false),
        status: watch::Sender::new(status),
        gossip_out,
        home: home.dir.clone(),
        signing: Mutex::new(()),
    });

    let (watcher, evidence) = VoteWatcher::new(&genesis.chain_id);
    watcher.committed(
        start_height.0 - 1,
        validators.validators.iter().map(|v| v.public_key),
    );
    let engine_node = EngineNode {
        home: home.dir.clone(),
        config: engine_config(&config)?,
        key: key.clone(),
        p2p_key: Keypair::ed25519_from_bytes(node_key)?,
        chain_id: genesis.chain_id.clone(),
        watcher: Arc::new(watcher),
        sign_state: Arc::new(SignState::open(&home.sign_state())?),
        options,
    };
    let ctx = NeuroContext::new(&genesis.chain_id);
    let (channels, engine) = malachitebft_app_channel::start_engine(
        ctx,
        engine_node.clone(),
        engine_node.config.clone(),
        WireCodec::default(),
        WireCodec::watched(engine_node.watcher.clone()),
        Some(start_height),
        validators.clone(),
    )
    .await?;
    let events = channels.events.clone();

    let app = app::App {
        shared: shared.clone(),
        signer: Signer::new(key.clone(), &genesis.chain_id),
        beacon: neuroshard_runtime::beacon::BeaconSecret::derive(&key),
        beacon_key_registered: false,
        beacon_key_tried_at: None,
        unjail_tried_at: None,
        key,
        me,
        chain_id: genesis.chain_id.clone(),
        block_interval: Duration::from_millis(config.consensus.block_interval_ms),
        max_block_txs: config.consensus.max_block_txs,
        validators,
        watcher: engine_node.watcher.clone(),
        blocks: Default::default(),
        proposals: Default::default(),
        ahead: Vec::new(),
        assembler: Default::default(),
        last_decided: Instant::now(),
    };
    let stopping = Arc::new(AtomicBool::new(false));
    let app_stopping = stopping.clone();
    let app_task = tokio::spawn(async move {
        if let Err(e) = app.run(channels, evidence).await {
            // Stopping the engine closes the application's channels: that is no error.
            if !app_stopping.load(Ordering::SeqCst) {
                tracing::error!("application stopped: {e}");
            }
        }
    });
    let store = crate::blobs::BlobStore::open(home.blobs(), config.blobs.max_bytes)?;
    let (blobs, blob_net, blob_commands, blob_served) = crate::blobs::net::new(Arc::new(store));
    let gossip_task = gossip::spawn(
        shared.clone(),
        node_key,
        parse_addr("gossip.listen", &config.gossip.listen)?,
        config
            .gossip
            .peers
            .iter()
            .map(|p| parse_addr("gossip.peers", p))
            .collect::<eyre::Result<_>>()?,
        config.gossip.max_incoming,
        gossip_in,
        gossip::Blobs {
            net: blob_net,
            commands: blob_commands,
            served: blob_served,
        },
    )?;
    Ok(RunningNode {
        api: NodeApi { shared, blobs },
        rpc_listen: config.rpc.listen.clone(),
        engine,
        events,
        tasks: vec![app_task, gossip_task],
        stopping,
        _home: lock,
    })
}
