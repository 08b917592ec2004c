//! Transaction gossip under a lying peer: a real dev node and two raw libp2p gossipsub peers on
//! loopback. The node forwards a peer's batch only after checking it, never forwards a batch
//! that does not decode or holds a bad signature, and after a few such batches ignores that
//! peer altogether (gossipsub peer score), while an honest peer's transactions still land.

mod support;

use std::time::{Duration, Instant};

use libp2p::futures::StreamExt;
use libp2p::gossipsub::{self, IdentTopic, MessageAuthenticity};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{noise, tcp, yamux, Multiaddr, Swarm};
use neuroshard_chain::node::Home;
use neuroshard_runtime::tx::node_registration_digest;
use neuroshard_runtime::{SecretKey, TxBody};
use serde_json::json;
use support::*;

const DEV: &str = "neuroshard-dev-1";
const TOPIC: &str = "neuroshard/tx/1";

#[derive(NetworkBehaviour)]
struct RawPeer {
    gossipsub: gossipsub::Behaviour,
}

fn raw_peer() -> Swarm<RawPeer> {
    libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .unwrap()
        .with_behaviour(|key| {
            let config = gossipsub::ConfigBuilder::default()
                .heartbeat_interval(Duration::from_millis(200))
                .build()
                .unwrap();
            RawPeer {
                gossipsub: gossipsub::Behaviour::new(
                    MessageAuthenticity::Signed(key.clone()),
                    config,
                )
                .unwrap(),
            }
        })
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(300)))
        .build()
}

/// A fee-exempt registration of a fresh node key to a fresh wallet: valid at nonce 0.
fn registration(seed: u8) -> (Vec<u8>, SecretKey) {
    let (wallet, node) = (key(seed), key(seed.wrapping_add(100)));
    let consent = node.sign_digest(&node_registration_digest(DEV, &wallet.address()));
    let tx = sign(
        DEV,
        &wallet,
        0,
        "0",
        TxBody::RegisterNode {
            node_key: node.public_key(),
            node_signature: consent,
            expires_ms: registration_expiry_now(),
        },
    );
    (tx, node)
}

fn batch(txs: &[&[u8]]) -> Vec<u8> {
    let txs: Vec<Vec<u8>> = txs.iter().map(|t| t.to_vec()).collect();
    borsh::to_vec(&txs).unwrap()
}

/// Drives both swarms for `d`; returns the batches `observer` received.
async fn run_for(
    spammer: &mut Swarm<RawPeer>,
    observer: &mut Swarm<RawPeer>,
    d: Duration,
) -> Vec<Vec<u8>> {
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + d;
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => return got,
            _ = spammer.select_next_some() => {}
            ev = observer.select_next_some() => {
                if let SwarmEvent::Behaviour(RawPeerEvent::Gossipsub(gossipsub::Event::Message { message, .. })) = ev {
                    got.push(message.data);
                }
            }
        }
    }
}

async fn registered(node: &NodeProc, key: &SecretKey, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    loop {
        let answer = node
            .client()
            .call("neuro_getNode", vec![json!(key.address().to_string())])
            .await;
        if answer.is_ok() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[test]
fn a_peer_relaying_garbage_is_not_forwarded_and_then_ignored_while_honest_gossip_lands() {
    let dir = TempDir::new("gossip");
    let home = dir.0.join("dev");
    let node = dev_node(&home, 200);
    rt().block_on(async {
        wait_height(&node, 1, Duration::from_secs(60)).await;
        let listen: Multiaddr = Home::new(&home)
            .load_config()
            .unwrap()
            .gossip
            .listen
            .parse()
            .unwrap();
        let topic = IdentTopic::new(TOPIC);
        let (mut spammer, mut observer) = (raw_peer(), raw_peer());
        for peer in [&mut spammer, &mut observer] {
            peer.behaviour_mut().gossipsub.subscribe(&topic).unwrap();
            peer.dial(listen.clone()).unwrap();
        }
        // Let the node graft both into its mesh.
        run_for(&mut spammer, &mut observer, Duration::from_secs(3)).await;
        let patience = Duration::from_secs(60);

        // A valid batch from the spammer is checked, admitted and forwarded to the observer.
        let (first, first_node) = registration(1);
        let valid = batch(&[&first]);
        spammer
            .behaviour_mut()
            .gossipsub
            .publish(topic.clone(), valid.clone())
            .unwrap();
        let deadline = Instant::now() + patience;
        loop {
            let got = run_for(&mut spammer, &mut observer, Duration::from_millis(500)).await;
            if got.contains(&valid) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "a checked batch is never forwarded"
            );
        }
        assert!(registered(&node, &first_node, patience).await);

        // Batches no honest node forwards: bytes that are not a batch, and a transaction whose
        // signature does not verify. None reaches the observer.
        let (mut forged, _) = registration(2);
        let last = forged.len() - 2;
        forged[last] ^= 0x55;
        let bad = [
            b"\xff\xff\xff\xff not a batch".to_vec(),
            batch(&[&forged]),
            b"\x01".to_vec(),
        ];
        for garbage in &bad {
            spammer
                .behaviour_mut()
                .gossipsub
                .publish(topic.clone(), garbage.clone())
                .unwrap();
            let got = run_for(&mut spammer, &mut observer, Duration::from_millis(700)).await;
            assert!(!got.contains(garbage), "an invalid batch was forwarded");
        }
        // Wait (however slow this machine) until the node has judged all three.
        let deadline = Instant::now() + patience;
        loop {
            let log = node.log_text();
            let judged = log.matches("does not decode").count()
                + log.matches("relayed an invalid transaction").count();
            if judged >= bad.len() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the node never judged the garbage:\n{log}"
            );
            run_for(&mut spammer, &mut observer, Duration::from_millis(200)).await;
        }
        run_for(&mut spammer, &mut observer, Duration::from_secs(1)).await;

        // The spammer is now ignored: its next valid transaction never lands.
        let (ignored, ignored_node) = registration(3);
        spammer
            .behaviour_mut()
            .gossipsub
            .publish(topic.clone(), batch(&[&ignored]))
            .unwrap();
        // The honest observer's does.
        let (honest, honest_node) = registration(4);
        observer
            .behaviour_mut()
            .gossipsub
            .publish(topic.clone(), batch(&[&honest]))
            .unwrap();
        run_for(&mut spammer, &mut observer, Duration::from_secs(2)).await;
        assert!(registered(&node, &honest_node, patience).await);
        assert!(!registered(&node, &ignored_node, Duration::from_secs(3)).await);
    });
}

/// A flood of dialers cannot hold every socket: past `gossip.max_incoming` the node refuses
/// inbound connections on its gossip and blob swarm, and keeps those it took.
#[test]
fn inbound_connections_past_the_limit_are_refused() {
    let dir = TempDir::new("gossip-limit");
    let genesis = checked_genesis(&dir.0);
    let (home, rpc) = testnet_homes(&dir.0, 1, 200, &genesis).remove(0);
    let h = Home::new(&home);
    let mut config = h.load_config().unwrap();
    config.gossip.max_incoming = 2;
    h.save_config(&config).unwrap();
    let node = NodeProc::spawn(
        &["node", "--home", home.to_str().unwrap(), "--no-verify"],
        &home,
        &rpc,
    );
    let rt = rt();
    rt.block_on(wait_height(&node, 1, Duration::from_secs(60)));
    let listen: Multiaddr = config.gossip.listen.parse().unwrap();
    // Five peers dial at once; each reports whether it holds a connection to the node.
    let connected: Vec<_> = (0..5)
        .map(|_| {
            let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let (out, listen) = (flag.clone(), listen.clone());
            rt.spawn(async move {
                let mut peer = raw_peer();
                peer.dial(listen).unwrap();
                loop {
                    peer.select_next_some().await;
                    let held = peer.connected_peers().count() > 0;
                    out.store(held, std::sync::atomic::Ordering::Relaxed);
                }
            });
            flag
        })
        .collect();
    let held = || {
        connected
            .iter()
            .filter(|c| c.load(std::sync::atomic::Ordering::Relaxed))
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while held() != 2 {
        assert!(Instant::now() < deadline, "held {} connections", held());
        std::thread::sleep(Duration::from_millis(100));
    }
    // And it stays so once every handshake is over (a refused dialer may count its connection
    // for a moment before the node closes it): the three refused are out, the two kept stay.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(held(), 2, "inbound connections held with a limit of 2");
    assert!(node.log_tail().lines().all(|l| !l.contains("panicked")));
    drop(rt);
}
