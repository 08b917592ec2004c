//! Transaction gossip over libp2p: a gossipsub topic on its own port, beside Malachite's consensus
//! network. Transactions admitted to the mempool are batched (up to 20 ms or 512 KiB) and
//! published; batches from peers are checked one transaction at a time exactly like RPC
//! submissions. Configured peers are redialled while disconnected. The same swarm carries the
//! blob protocol ([`crate::blobs`]).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use libp2p::futures::StreamExt;
use libp2p::gossipsub::{self, IdentTopic, MessageAuthenticity, ValidationMode};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{identify, identity, noise, tcp, yamux, Multiaddr, PeerId, Swarm};
use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::blobs::net as blob_net;
use crate::node::shared::Shared;

const TOPIC: &str = "neuroshard/tx/1";
const MAX_BATCH_BYTES: usize = 512 * 1024;
const MAX_BATCH_TXS: usize = 4096;
const BATCH_WINDOW: Duration = Duration::from_millis(20);

#[derive(NetworkBehaviour)]
struct Behaviour {
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
                .max_transmit_size(MAX_BATCH_BYTES + 64 * 1024)
                .heartbeat_interval(Duration::from_millis(500))
                .build()
                .map_err(|e| e.to_string())?;
            let gossipsub =
                gossipsub::Behaviour::new(MessageAuthenticity::Signed(key.clone()), config)?;
            let identify = identify::Behaviour::new(identify::Config::new(
                "/neuroshard/1".into(),
                key.public(),
            ));
            Ok(Behaviour {
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
                        message,
                        ..
                    })) => received(&shared, propagation_source, message.data),
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

fn received(shared: &Arc<Shared>, from: PeerId, data: Vec<u8>) {
    let txs: Vec<Vec<u8>> = match borsh::from_slice(&data) {
        Ok(txs) => txs,
        Err(_) => {
            warn!(%from, "peer sent a transaction batch that does not decode");
            return;
        }
    };
    let shared = shared.clone();
    tokio::task::spawn_blocking(move || {
        for tx in txs.into_iter().take(MAX_BATCH_TXS) {
            if let Err(e) = shared.submit(&tx, false) {
                debug!(%from, "gossiped transaction not admitted: {e}");
            }
        }
    });
}
