//! A swarm that runs the blob protocol alone (no chain, no gossip): for benchmarks, tests and
//! tools that serve or fetch blobs without a node. A chain node carries the same protocol on its
//! gossip swarm instead.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use libp2p::futures::StreamExt;
use libp2p::swarm::SwarmEvent;
use libp2p::{identity, noise, tcp, yamux, Multiaddr, PeerId};

use super::net::{self, BlobClient};
use super::{BlobError, BlobStore};

pub struct BlobNode {
    pub client: BlobClient,
    pub peer_id: PeerId,
    /// The address it listens on.
    pub addr: Multiaddr,
    connected: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl BlobNode {
    /// Starts a blob swarm over `store` with identity `key`, listening on a free loopback port
    /// and staying connected to `peers`. Must run inside a tokio runtime.
    pub async fn spawn(
        store: Arc<BlobStore>,
        key: [u8; 32],
        peers: Vec<Multiaddr>,
    ) -> Result<BlobNode, BlobError> {
        let net_err = |e: String| BlobError::Network(e);
        let keypair =
            identity::Keypair::ed25519_from_bytes(key).map_err(|e| net_err(e.to_string()))?;
        let mut swarm = libp2p::SwarmBuilder::with_existing_identity(keypair)
            .with_tokio()
            .with_tcp(
                tcp::Config::default().nodelay(true),
                noise::Config::new,
                yamux::Config::default,
            )
            .map_err(|e| net_err(e.to_string()))?
            .with_behaviour(|_| net::behaviour())
            .map_err(|e| net_err(e.to_string()))?
            .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(300)))
            .build();
        let listen: Multiaddr = "/ip4/127.0.0.1/tcp/0"
            .parse()
            .map_err(|e: libp2p::multiaddr::Error| net_err(e.to_string()))?;
        swarm
            .listen_on(listen)
            .map_err(|e| net_err(e.to_string()))?;
        let addr = loop {
            if let SwarmEvent::NewListenAddr { address, .. } = swarm.select_next_some().await {
                break address;
            }
        };
        let peer_id = *swarm.local_peer_id();
        let (client, mut state, mut commands, mut served) = net::new(store);
        let connected = Arc::new(AtomicUsize::new(0));
        let seen = connected.clone();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(500));
            let mut redial = tokio::time::interval(Duration::from_secs(2));
            loop {
                let now: Vec<PeerId> = swarm.connected_peers().copied().collect();
                seen.store(now.len(), Ordering::Relaxed);
                tokio::select! {
                    Some(c) = commands.recv() => state.on_command(swarm.behaviour_mut(), &now, c),
                    Some(s) = served.recv() => state.on_served(swarm.behaviour_mut(), s),
                    _ = tick.tick() => state.on_tick(swarm.behaviour_mut(), &now),
                    _ = redial.tick() => {
                        if now.len() < peers.len() {
                            for p in &peers {
                                let _ = swarm.dial(p.clone());
                            }
                        }
                    }
                    e = swarm.select_next_some() => {
                        if let SwarmEvent::Behaviour(e) = e {
                            state.on_event(swarm.behaviour_mut(), &now, e);
                        }
                    }
                }
            }
        });
        Ok(BlobNode {
            client,
            peer_id,
            addr,
            connected,
            task,
        })
    }

    /// Peers connected now.
    pub fn connected(&self) -> usize {
        self.connected.load(Ordering::Relaxed)
    }
}

impl Drop for BlobNode {
    fn drop(&mut self) {
        self.task.abort();
    }
}
