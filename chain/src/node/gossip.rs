//! Transaction gossip over libp2p: a gossipsub topic on its own port, beside Malachite's consensus
//! network. Transactions admitted to the mempool are batched (up to 20 ms or 512 KiB) and
//! published. Configured peers are redialled while disconnected. The same swarm carries the
//! blob protocol ([`crate::blobs`]).
//!
//! A batch from a peer is forwarded only after it was checked here ([`check_batch`]: one
//! transaction at a time, exactly like RPC submissions), and only if it brought something new.
//! Checks run on one thread behind a queue of [`MAX_QUEUED_BATCHES`]; a batch that finds the
//! queue full is dropped unforwarded. A batch that no honest peer would forward (bytes that do
//! not decode, a bad signature, another chain's transaction) is rejected, and gossipsub's peer
//! score ([`score_params`]) turns a few rejections into a graylisted peer.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use libp2p::futures::StreamExt;
use libp2p::gossipsub::{
    self, IdentTopic, MessageAcceptance, MessageAuthenticity, MessageId, PeerScoreParams,
    PeerScoreThresholds, TopicScoreParams, ValidationMode,
};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{connection_limits, identify, identity, noise, tcp, yamux, Multiaddr, PeerId, Swarm};
use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::blobs::net as blob_net;
use crate::mempool::Admission;
use crate::node::shared::Shared;

const TOPIC: &str = "neuroshard/tx/1";
const MAX_BATCH_BYTES: usize = 512 * 1024;
const MAX_BATCH_TXS: usize = 4096;
const BATCH_WINDOW: Duration = Duration::from_millis(20);
/// Batches from peers waiting to be checked; more are dropped unforwarded.
pub const MAX_QUEUED_BATCHES: usize = 64;
/// Inbound connections still in their handshake, at most.
const MAX_PENDING_INCOMING: u32 = 64;
/// Connections one peer holds at most.
const MAX_PER_PEER: u32 = 2;

/// A batch from a peer, waiting for its check.
struct Incoming {
    id: MessageId,
    from: PeerId,
    data: Vec<u8>,
}

/// The peer score of the transaction topic. Transactions are sparse, so no delivery quota
/// (which would punish honest quiet peers); invalid batches weigh heavily and are remembered
/// for minutes: the second rejected batch puts a peer at the graylist threshold, the third
/// below it. Loopback peers (local testnets) are not held to the one-IP limit.
pub fn score_params(topic: &IdentTopic) -> PeerScoreParams {
    let topic_params = TopicScoreParams {
        topic_weight: 1.0,
        time_in_mesh_weight: 0.01,
        time_in_mesh_quantum: Duration::from_secs(1),
        time_in_mesh_cap: 100.0,
        first_message_deliveries_weight: 1.0,
        first_message_deliveries_decay: 0.9,
        first_message_deliveries_cap: 10.0,
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        invalid_message_deliveries_weight: -20.0,
        invalid_message_deliveries_decay: 0.99,
        ..TopicScoreParams::default()
    };
    let mut params = PeerScoreParams::default();
    params.topics.insert(topic.hash(), topic_params);
    params
        .ip_colocation_factor_whitelist
        .insert(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));
    params
}

#[derive(NetworkBehaviour)]
struct Behaviour {
    /// Bounds connections first: a flood of dialers cannot hold every socket.
    limits: connection_limits::Behaviour,
    gossipsub: gossipsub::Behaviour,
    identify: identify::Behaviour,
    blobs: blob_net::Behaviour,
}

/// The blob service's part of the swarm task.
pub(crate) struct Blobs {
    pub net: blob_net::BlobNet,
    pub commands: mpsc::Receiver<blob_net::Command>,
    pub served: mpsc::Receiver<blob_net::Served>,
}

/// Starts the gossip task. Returns once the listener is bound.
pub(crate) fn spawn(
    shared: Arc<Shared>,
    node_key: [u8; 32],
    listen: Multiaddr,
    peers: Vec<Multiaddr>,
    max_incoming: u32,
    mut outgoing: mpsc::UnboundedReceiver<Vec<u8>>,
    blobs: Blobs,
) -> eyre::Result<tokio::task::JoinHandle<()>> {
    let keypair = identity::Keypair::ed25519_from_bytes(node_key)?;
    let mut swarm: Swarm<Behaviour> = libp2p::SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )?
        .with_behaviour(|key| {
            let config = gossipsub::ConfigBuilder::default()
                .validation_mode(ValidationMode::Strict)
                .validate_messages()
                .max_transmit_size(MAX_BATCH_BYTES + 64 * 1024)
                .heartbeat_interval(Duration::from_millis(500))
                .build()
                .map_err(|e| e.to_string())?;
            let mut gossipsub =
                gossipsub::Behaviour::new(MessageAuthenticity::Signed(key.clone()), config)?;
            gossipsub.with_peer_score(
                score_params(&IdentTopic::new(TOPIC)),
                PeerScoreThresholds::default(),
            )?;
            let identify = identify::Behaviour::new(identify::Config::new(
                "/neuroshard/1".into(),
                key.public(),
            ));
            let limits = connection_limits::ConnectionLimits::default()
                .with_max_established_incoming(Some(max_incoming))
                .with_max_pending_incoming(Some(MAX_PENDING_INCOMING))
                .with_max_established_per_peer(Some(MAX_PER_PEER));
            Ok(Behaviour {
                limits: connection_limits::Behaviour::new(limits),
                gossipsub,
                identify,
                blobs: blob_net::behaviour(),
            })
        })
        .map_err(|e| eyre::eyre!("{e}"))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(3600)))
        .build();
    let topic = IdentTopic::new(TOPIC);
    swarm.behaviour_mut().gossipsub.subscribe(&topic)?;
    swarm.listen_on(listen)?;

    let Blobs {
        net: mut blob_net,
        commands: mut blob_commands,
        served: mut blob_served,
    } = blobs;
    let (to_check, mut verdicts) = spawn_checker(shared.clone())?;
    Ok(tokio::spawn(async move {
        let mut batch: Vec<Vec<u8>> = Vec::new();
        let mut batch_bytes = 0usize;
        let mut flush = tokio::time::interval(BATCH_WINDOW);
        let mut redial = tokio::time::interval(Duration::from_secs(2));
        let mut blob_tick = tokio::time::interval(Duration::from_millis(500));
        loop {
            tokio::select! {
                Some(tx) = outgoing.recv() => {
                    batch_bytes += tx.len();
                    batch.push(tx);
                    if batch_bytes >= MAX_BATCH_BYTES || batch.len() >= MAX_BATCH_TXS {
                        publish(&mut swarm, &topic, &mut batch, &mut batch_bytes);
                    }
                }
                _ = flush.tick() => publish(&mut swarm, &topic, &mut batch, &mut batch_bytes),
                Some((id, from, acceptance)) = verdicts.recv() => {
                    swarm
                        .behaviour_mut()
                        .gossipsub
                        .report_message_validation_result(&id, &from, acceptance);
                }
                Some(command) = blob_commands.recv() => {
                    let peers: Vec<PeerId> = swarm.connected_peers().copied().collect();
                    blob_net.on_command(&mut swarm.behaviour_mut().blobs, &peers, command);
                }
                Some(served) = blob_served.recv() => {
                    blob_net.on_served(&mut swarm.behaviour_mut().blobs, served);
                }
                _ = blob_tick.tick() => {
                    let peers: Vec<PeerId> = swarm.connected_peers().copied().collect();
                    blob_net.on_tick(&mut swarm.behaviour_mut().blobs, &peers);
                }
                _ = redial.tick() => {
                    let connected = swarm.connected_peers().count();
                    shared.peers.store(connected, Ordering::Relaxed);
                    if connected < peers.len() {
                        for addr in &peers {
                            let _ = swarm.dial(addr.clone());
                        }
                    }
                }
                event = swarm.select_next_some() => match event {
                    SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::Message {
                        propagation_source,
                        message_id,
                        message,
                    })) => {
                        let incoming = Incoming {
                            id: message_id,
                            from: propagation_source,
                            data: message.data,
                        };
                        if let Err(mpsc::error::TrySendError::Full(dropped)) =
                            to_check.try_send(incoming)
                        {
                            debug!(from = %dropped.from, "transaction batches queue up: one dropped");
                            swarm.behaviour_mut().gossipsub.report_message_validation_result(
                                &dropped.id,
                                &dropped.from,
                                MessageAcceptance::Ignore,
                            );
                        }
                    }
                    SwarmEvent::Behaviour(BehaviourEvent::Blobs(event)) => {
                        let peers: Vec<PeerId> = swarm.connected_peers().copied().collect();
                        blob_net.on_event(&mut swarm.behaviour_mut().blobs, &peers, event);
                    }
                    SwarmEvent::ConnectionEstablished { peer_id, .. } => {
                        debug!(%peer_id, "gossip peer connected");
                        shared.peers.store(swarm.connected_peers().count(), Ordering::Relaxed);
                    }
                    SwarmEvent::ConnectionClosed { .. } => {
                        shared.peers.store(swarm.connected_peers().count(), Ordering::Relaxed);
                    }
                    _ => {}
                },
            }
        }
    }))
}

fn publish(
    swarm: &mut Swarm<Behaviour>,
    topic: &IdentTopic,
    batch: &mut Vec<Vec<u8>>,
    bytes: &mut usize,
) {
    if batch.is_empty() {
        return;
    }
    let data = borsh::to_vec(&*batch).unwrap_or_default();
    batch.clear();
    *bytes = 0;
    if let Err(e) = swarm.behaviour_mut().gossipsub.publish(topic.clone(), data) {
        // No peers yet is normal on a one-node chain.
        if !matches!(e, gossipsub::PublishError::NoPeersSubscribedToTopic) {
            warn!("transaction gossip: {e}");
        }
    }
}

/// Starts the thread that checks peers' batches; returns its queue and the verdicts it sends
/// back for gossipsub (forward, drop, or drop and penalise the peer).
#[allow(clippy::type_complexity)]
fn spawn_checker(
    shared: Arc<Shared>,
) -> eyre::Result<(
    mpsc::Sender<Incoming>,
    mpsc::Receiver<(MessageId, PeerId, MessageAcceptance)>,
)> {
    let (to_check, mut queue) = mpsc::channel::<Incoming>(MAX_QUEUED_BATCHES);
    let (verdict_tx, verdicts) = mpsc::channel(MAX_QUEUED_BATCHES);
    std::thread::Builder::new()
        .name("tx-gossip-check".into())
        .spawn(move || {
            while let Some(batch) = queue.blocking_recv() {
                let acceptance = check_batch(&shared, &batch.from, &batch.data);
                if verdict_tx
                    .blocking_send((batch.id, batch.from, acceptance))
                    .is_err()
                {
                    return; // the swarm task is gone
                }
            }
        })?;
    Ok((to_check, verdicts))
}

/// Checks a batch from peer `from` transaction by transaction, admitting what passes: `Accept`
/// (forward it) if it brought a transaction new here, `Reject` (drop it and lower the peer's
/// score) if it holds something no honest peer forwards, else `Ignore`.
fn check_batch(shared: &Shared, from: &PeerId, data: &[u8]) -> MessageAcceptance {
    let txs: Vec<Vec<u8>> = match borsh::from_slice(data) {
        Ok(txs) => txs,
        Err(_) => {
            warn!(%from, "peer sent a transaction batch that does not decode");
            return MessageAcceptance::Reject;
        }
    };
    if txs.len() > MAX_BATCH_TXS {
        warn!(%from, txs = txs.len(), "peer sent an oversized transaction batch");
        return MessageAcceptance::Reject;
    }
    let mut new = false;
    for tx in &txs {
        match shared.admit(tx, false) {
            Ok((_, Admission::Added)) => new = true,
            Ok((_, Admission::AlreadyKnown)) => {}
            Err(e) if e.is_peers_fault() => {
                warn!(%from, "peer relayed an invalid transaction: {e}");
                return MessageAcceptance::Reject;
            }
            Err(e) => debug!(%from, "gossiped transaction not admitted: {e}"),
        }
    }
    if new {
        MessageAcceptance::Accept
    } else {
        MessageAcceptance::Ignore
    }
}
