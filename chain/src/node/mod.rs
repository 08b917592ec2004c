//! A running node: Malachite consensus driving the chain state, transaction gossip, and the
//! [`NodeApi`] the RPC server uses.

pub mod app;
pub mod config;
pub mod gossip;
pub mod parts;
pub mod shared;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use libp2p::Multiaddr;
use malachitebft_app_channel::app::config::{
    ConsensusConfig, P2pConfig, ValuePayload, ValueSyncConfig,
};
use malachitebft_app_channel::app::events::{RxEvent, TxEvent};
use malachitebft_app_channel::app::types::codec::Codec;
use malachitebft_app_channel::app::types::core::LinearTimeouts;
use malachitebft_app_channel::app::types::Keypair;
use malachitebft_app_channel::{
    ConsensusContext, EngineBuilder, EngineHandle, NetworkContext, NetworkIdentity, RequestContext,
    SyncContext, WalContext,
};
use malachitebft_signing as signing;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};
use tracing::info;

use crate::consensus::codec::MAX_SYNC_RESPONSE_BYTES;
use crate::consensus::{
    Height, NeuroContext, SignState, Signer, ValidatorAddress, VoteWatcher, WireCodec,
};
use crate::executor::ChainState;
use crate::mempool::{Mempool, MempoolLimits};
use app::SYNC_BATCH;
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

impl malachitebft_app_channel::app::config::NodeConfig for EngineConfig {
    fn moniker(&self) -> &str {
        &self.moniker
    }
    fn consensus(&self) -> &ConsensusConfig {
        &self.consensus
    }
    fn consensus_mut(&mut self) -> &mut ConsensusConfig {
        &mut self.consensus
    }
    fn value_sync(&self) -> &ValueSyncConfig {
        &self.value_sync
    }
    fn value_sync_mut(&mut self) -> &mut ValueSyncConfig {
        &mut self.value_sync
    }
}

fn parse_addr(what: &str, s: &str) -> eyre::Result<Multiaddr> {
    s.parse()
        .map_err(|e| eyre::eyre!("{what} {s:?} is not a multiaddr: {e}"))
}

/// The round timeouts of every height: the configured ones, growing by half of each per round.
pub(crate) fn timeouts(cfg: &NodeConfig) -> LinearTimeouts {
    let c = &cfg.consensus;
    let propose = Duration::from_millis(c.timeout_propose_ms);
    let prevote = Duration::from_millis(c.timeout_prevote_ms);
    let precommit = Duration::from_millis(c.timeout_precommit_ms);
    LinearTimeouts {
        propose,
        propose_delta: propose / 2,
        prevote,
        prevote_delta: prevote / 2,
        precommit,
        precommit_delta: precommit / 2,
        rebroadcast: propose + prevote + precommit,
        ..LinearTimeouts::default()
    }
}

fn engine_config(cfg: &NodeConfig) -> eyre::Result<EngineConfig> {
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
            p2p,
            value_payload: ValuePayload::ProposalAndParts,
            queue_capacity: crate::consensus::watch::AHEAD_HEIGHTS as usize,
            ..ConsensusConfig::default()
        },
        value_sync: ValueSyncConfig {
            status_update_interval: Duration::from_secs(1),
            request_timeout: Duration::from_secs(5),
            max_response_size: bytesize::ByteSize::b(MAX_SYNC_RESPONSE_BYTES as u64),
            batch_size: SYNC_BATCH,
            ..ValueSyncConfig::default()
        },
    })
}

/// How a node starts, beyond its home.
#[derive(Clone, Copy, Debug, Default)]
pub struct StartOptions {
    /// Test only: send a second, conflicting vote beside every vote this validator casts,
    /// through Malachite's byzantine network proxy (needs the `byzantine` feature): a
    /// deterministic double signer for the slashing tests.
    pub equivocate: bool,
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
        let _ = self.kill().await;
    }

    /// Events from the consensus engine.
    pub fn subscribe(&self) -> RxEvent<NeuroContext> {
        self.events.subscribe()
    }

    async fn kill(&self) -> eyre::Result<()> {
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
    let watcher = Arc::new(watcher);
    let engine_config = engine_config(&config)?;
    let signer = || Signer::new(key.clone(), &genesis.chain_id).with_watcher(watcher.clone());
    // Proof of validator (Malachite's ADR-006): the validator key vouches for this node's
    // libp2p peer id, so peers know which connection speaks for which validator.
    let p2p_key = Keypair::ed25519_from_bytes(node_key)?;
    let proof = signing::Signer::sign_validator_proof(
        &signer(),
        key.public_key().0.to_vec(),
        p2p_key.public().to_peer_id().to_bytes(),
    )
    .await?;
    let identity = NetworkIdentity::new_validator(
        config.moniker.clone(),
        p2p_key,
        me.to_string(),
        Codec::encode(&WireCodec::default(), &proof)?,
    );
    let consensus = ConsensusContext::new_validator(
        me,
        Box::new(signer()),
        Box::new(signer().with_sign_state(Arc::new(SignState::open(&home.sign_state())?))),
    );
    let builder = EngineBuilder::new(NeuroContext::new(&genesis.chain_id), engine_config)
        .with_default_wal(WalContext::new(home.wal(), WireCodec::default()));
    let (channels, engine) = if options.equivocate {
        #[cfg(feature = "byzantine")]
        {
            use crate::consensus::BlockHash;
            use malachitebft_app_channel::ByzantineContext;
            use malachitebft_engine_byzantine::{ByzantineConfig, Trigger};
            // Every vote this validator casts goes out with a second, conflicting one, signed
            // without the sign state's guard.
            let conflicting = |v: Option<&BlockHash>| {
                let mut h = v.map_or([0xEE; 32], |b| b.0);
                h[31] ^= 1;
                BlockHash(h)
            };
            builder
                .with_byzantine_network(ByzantineContext {
                    identity,
                    codec: WireCodec::watched(watcher.clone()),
                    config: ByzantineConfig::new(Some(7)).with_equivocate_votes(Trigger::Always),
                    signer: Box::new(Signer::new(key.clone(), &genesis.chain_id)),
                    address: me,
                    conflicting_value_fn: None,
                    conflicting_vote_value_fn: Some(Box::new(conflicting)),
                })
                .await?
                .with_default_sync(SyncContext::new(WireCodec::default()))
                .with_default_consensus(consensus)
                .with_default_request(RequestContext::new(16))
                .build()
                .await?
        }
        #[cfg(not(feature = "byzantine"))]
        {
            return Err(eyre::eyre!(
                "this build has no byzantine test modes (build with the `test-modes` feature)"
            ));
        }
    } else {
        builder
            .with_default_network(NetworkContext::new(
                identity,
                WireCodec::watched(watcher.clone()),
            ))
            .with_default_sync(SyncContext::new(WireCodec::default()))
            .with_default_consensus(consensus)
            .with_default_request(RequestContext::new(16))
            .build()
            .await?
    };
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
        timeouts: timeouts(&config),
        validators,
        watcher,
        decided: None,
        blocks: Default::default(),
        proposals: Default::default(),
        ahead: Vec::new(),
        assembler: Default::default(),
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
