//! The blob store and protocol: real files, real libp2p swarms on loopback.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use libp2p::futures::StreamExt;
use libp2p::request_response::{self, Message};
use libp2p::swarm::SwarmEvent;
use libp2p::{identity, noise, tcp, yamux, Multiaddr, PeerId, Swarm};

use super::net::{self, Behaviour};
use super::wire::{BlobResponse, PIECE_BYTES};
use super::*;

fn dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("ns-blobs-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn bytes(n: usize, seed: u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(n);
    let mut x = u64::from(seed) | 1;
    while out.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(n);
    out
}

fn copy_pieces(from: &BlobStore, to: &BlobStore, hash: &BlobHash, size: u64) -> store::Partial {
    let mut p = to.partial(hash, size).unwrap();
    let pieces: Vec<u64> = p.missing().collect();
    for i in pieces {
        let (s, enc) = from.encode_piece(hash, i).unwrap().unwrap();
        assert_eq!(s, size);
        to.receive_piece(&mut p, i, &enc).unwrap();
    }
    p
}

#[test]
fn a_blob_copies_piece_by_piece_and_keeps_its_hash() {
    let (a, b) = (dir("copy-a"), dir("copy-b"));
    let (sa, sb) = (
        BlobStore::open(&a, 1 << 30).unwrap(),
        BlobStore::open(&b, 1 << 30).unwrap(),
    );
    for len in [
        0usize,
        1,
        1024,
        PIECE_BYTES as usize,
        3 * PIECE_BYTES as usize + 12_345,
    ] {
        let data = bytes(len, 7);
        let hash = sa.put(&data).unwrap();
        assert_eq!(hash, blob_hash(&data));
        let p = copy_pieces(&sa, &sb, &hash, len as u64);
        assert!(p.is_complete());
        let path = sb.finish(&p).unwrap();
        assert_eq!(std::fs::read(path).unwrap(), data, "{len} bytes");
        assert!(sb.has(&hash));
    }
    for d in [a, b] {
        let _ = std::fs::remove_dir_all(d);
    }
}

#[test]
fn a_corrupt_or_misplaced_piece_is_refused_and_writes_nothing() {
    let (a, b) = (dir("bad-a"), dir("bad-b"));
    let sa = BlobStore::open(&a, 1 << 30).unwrap();
    let sb = BlobStore::open(&b, 1 << 30).unwrap();
    let data = bytes(2 * PIECE_BYTES as usize + 5, 3);
    let size = data.len() as u64;
    let hash = sa.put(&data).unwrap();
    let (_, good0) = sa.encode_piece(&hash, 0).unwrap().unwrap();
    let (_, good1) = sa.encode_piece(&hash, 1).unwrap().unwrap();
    let mut p = sb.partial(&hash, size).unwrap();
    // A flipped byte anywhere, a piece sent as another, a truncated piece, trailing bytes.
    for (piece, bad) in [
        (0, {
            let mut b = good0.clone();
            let at = b.len() / 2;
            b[at] ^= 1;
            b
        }),
        (0, good1.clone()),
        (1, good1[..good1.len() - 1].to_vec()),
        (1, [good1.clone(), vec![0]].concat()),
    ] {
        let before = p.clone();
        assert!(matches!(
            sb.receive_piece(&mut p, piece, &bad),
            Err(BlobError::Corrupt(_))
        ));
        assert_eq!(p, before);
    }
    assert!(!b.join(format!("{}.partial", hex::encode(hash))).exists());
    // A lie about the size does not verify either.
    let mut wrong = sb.partial(&hash, size + PIECE_BYTES).unwrap();
    assert!(sb.receive_piece(&mut wrong, 0, &good0).is_err());
    // A piece of another blob does not verify as this one's.
    let other = sa.put(&bytes(size as usize, 4)).unwrap();
    let (_, foreign) = sa.encode_piece(&other, 0).unwrap().unwrap();
    assert!(sb.receive_piece(&mut p, 0, &foreign).is_err());
    for d in [a, b] {
        let _ = std::fs::remove_dir_all(d);
    }
}

#[test]
fn a_download_resumes_after_a_restart_and_the_cap_holds() {
    let (a, b) = (dir("resume-a"), dir("resume-b"));
    let sa = BlobStore::open(&a, 1 << 30).unwrap();
    let data = bytes(3 * PIECE_BYTES as usize, 9);
    let size = data.len() as u64;
    let hash = sa.put(&data).unwrap();
    {
        let sb = BlobStore::open(&b, 1 << 30).unwrap();
        let mut p = sb.partial(&hash, size).unwrap();
        let (_, enc) = sa.encode_piece(&hash, 1).unwrap().unwrap();
        sb.receive_piece(&mut p, 1, &enc).unwrap();
    }
    // "Restarted": the store is opened again and the download picks up where it was.
    let sb = BlobStore::open(&b, 4 * PIECE_BYTES).unwrap();
    let p = sb.partial(&hash, size).unwrap();
    assert_eq!(p.missing().collect::<Vec<_>>(), vec![0, 2]);
    let p = copy_pieces(&sa, &sb, &hash, size);
    sb.finish(&p).unwrap();
    assert_eq!(sb.used_bytes(), size);
    // Past the cap, nothing more is stored; freeing what is not needed makes room.
    let more = bytes(2 * PIECE_BYTES as usize, 1);
    assert!(matches!(sb.put(&more), Err(BlobError::Full { .. })));
    assert_eq!(sb.retain(|h| h == &hash), 0);
    assert!(sb.retain(|_| false) > size);
    assert_eq!(sb.used_bytes(), 0);
    sb.put(&more).unwrap();
    for d in [a, b] {
        let _ = std::fs::remove_dir_all(d);
    }
}

fn swarm(seed: u8) -> Swarm<Behaviour> {
    let key = identity::Keypair::ed25519_from_bytes([seed; 32]).unwrap();
    let mut s = libp2p::SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(
            tcp::Config::default(),
            noise::Config::new,
            yamux::Config::default,
        )
        .unwrap()
        .with_behaviour(|_| net::behaviour())
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build();
    s.listen_on("/ip4/127.0.0.1/tcp/0".parse().unwrap())
        .unwrap();
    s
}

async fn listen_addr(s: &mut Swarm<Behaviour>) -> Multiaddr {
    loop {
        if let SwarmEvent::NewListenAddr { address, .. } = s.select_next_some().await {
            return address;
        }
    }
}

/// A peer that answers every request with `store`'s piece, one byte flipped.
async fn lying_peer(seed: u8, store: Arc<BlobStore>) -> (PeerId, Multiaddr) {
    let mut s = swarm(seed);
    let addr = listen_addr(&mut s).await;
    let id = *s.local_peer_id();
    tokio::spawn(async move {
        loop {
            if let SwarmEvent::Behaviour(request_response::Event::Message {
                message:
                    Message::Request {
                        request, channel, ..
                    },
                ..
            }) = s.select_next_some().await
            {
                let answer = match store.encode_piece(&request.hash, request.piece) {
                    Ok(Some((size, mut encoded))) => {
                        let at = encoded.len() - 1;
                        encoded[at] ^= 0x80;
                        BlobResponse::Piece {
                            size,
                            encoded,
                            server: None,
                        }
                    }
                    _ => BlobResponse::NotFound,
                };
                let _ = s.behaviour_mut().send_response(channel, answer);
            }
        }
    });
    (id, addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_fetches_a_blob_from_peers_past_a_liar_and_reports_one_nobody_has() {
    let (a, l, b) = (dir("net-a"), dir("net-liar"), dir("net-b"));
    let data = bytes(5 * PIECE_BYTES as usize + 77, 5);
    let source = Arc::new(BlobStore::open(&a, 1 << 30).unwrap());
    let hash = source.put(&data).unwrap();
    let liar_store = Arc::new(BlobStore::open(&l, 1 << 30).unwrap());
    liar_store.put(&data).unwrap();
    let (liar, liar_addr) = lying_peer(2, liar_store.clone()).await;
    let honest_store = source.clone();
    let honest = BlobNode::spawn(source, [1; 32], Vec::new()).await.unwrap();
    let honest_addr = honest.addr.clone();

    // The fetching node: its own swarm and service, connected to both.
    let mut s = swarm(3);
    listen_addr(&mut s).await;
    s.dial(liar_addr).unwrap();
    s.dial(honest_addr).unwrap();
    let store = Arc::new(BlobStore::open(&b, 1 << 30).unwrap());
    let (client, mut net, mut commands, mut served) = net::new(store);
    let connected = Arc::new(AtomicUsize::new(0));
    let seen = connected.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        loop {
            // The liar first, so that it is asked before the honest peer.
            let mut peers: Vec<PeerId> = s.connected_peers().copied().collect();
            peers.sort_by_key(|p| *p != liar);
            seen.store(peers.len(), Ordering::Relaxed);
            tokio::select! {
                Some(c) = commands.recv() => net.on_command(s.behaviour_mut(), &peers, c),
                Some(done) = served.recv() => net.on_served(s.behaviour_mut(), done),
                _ = tick.tick() => net.on_tick(s.behaviour_mut(), &peers),
                e = s.select_next_some() => if let SwarmEvent::Behaviour(e) = e {
                    net.on_event(s.behaviour_mut(), &peers, e);
                },
            }
        }
    });
    // Once both are connected: the liar is asked first, its piece fails, the honest peer serves.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while connected.load(Ordering::Relaxed) < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "peers never connected"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let path = client.fetch(hash, 64 << 20).await.unwrap();
    assert_eq!(std::fs::read(path).unwrap(), data);
    // A blob only the liar holds is never stored: every piece it sends fails.
    let lie = bytes(PIECE_BYTES as usize, 8);
    let lie_hash = liar_store.put(&lie).unwrap();
    assert!(matches!(
        client.fetch(lie_hash, 64 << 20).await,
        Err(BlobError::Unavailable { asked: 2 })
    ));
    assert!(!client.store().has(&lie_hash));
    // A blob no peer holds is reported, not waited on forever; one larger than wanted is not
    // taken.
    let missing = blob_hash(b"nobody has this");
    assert!(matches!(
        client.fetch(missing, 1 << 20).await,
        Err(BlobError::Unavailable { .. })
    ));
    let other = honest_store
        .put(&bytes(3 * PIECE_BYTES as usize, 6))
        .unwrap();
    assert!(matches!(
        client.fetch(other, PIECE_BYTES).await,
        Err(BlobError::Unavailable { .. })
    ));
    assert!(client.store().complete().len() == 1);
    for d in [a, l, b] {
        let _ = std::fs::remove_dir_all(d);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_blob_nodes_fetch_from_each_other_and_serve_what_they_fetched() {
    let (a, b, c) = (dir("node-a"), dir("node-b"), dir("node-c"));
    let data = bytes(3 * PIECE_BYTES as usize + 1, 11);
    let sa = Arc::new(BlobStore::open(&a, 1 << 30).unwrap());
    let hash = sa.put(&data).unwrap();
    let na = BlobNode::spawn(sa, [21; 32], Vec::new()).await.unwrap();
    let sb = Arc::new(BlobStore::open(&b, 1 << 30).unwrap());
    let nb = BlobNode::spawn(sb, [22; 32], vec![na.addr.clone()])
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while nb.connected() < 1 {
        assert!(std::time::Instant::now() < deadline, "never connected");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let path = nb.client.fetch(hash, 1 << 30).await.unwrap();
    assert_eq!(std::fs::read(path).unwrap(), data);
    // What B fetched, B serves: C gets it with A gone. B names its training identity in what
    // it serves (A named none).
    let b_node = neuroshard_runtime::Address([7; 20]);
    nb.client.serve_as(b_node);
    drop(na);
    let sc = Arc::new(BlobStore::open(&c, 1 << 30).unwrap());
    let nc = BlobNode::spawn(sc, [23; 32], vec![nb.addr.clone()])
        .await
        .unwrap();
    while nc.connected() < 1 {
        assert!(std::time::Instant::now() < deadline, "never connected");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Fetched with a progress reading: the verified bytes grow to the size, never past it.
    let mut pending = nc.client.start_fetch(hash, 1 << 30).unwrap();
    let mut seen = Vec::new();
    let path = loop {
        seen.push(pending.progress());
        if let Some(r) = pending.poll() {
            break r.unwrap();
        }
        assert!(std::time::Instant::now() < deadline, "fetch never ended");
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    assert_eq!(std::fs::read(path).unwrap(), data);
    let size = data.len() as u64;
    assert_eq!(pending.progress(), (size, size));
    assert!(seen.windows(2).all(|w| w[0].0 <= w[1].0), "{seen:?}");
    assert!(seen
        .iter()
        .all(|(got, s)| *s == 0 || (*s == size && *got <= size)));
    // Every verified byte is put down to the node that served it.
    assert_eq!(
        pending.servers(),
        std::collections::HashMap::from([(b_node, size)])
    );
    for d in [a, b, c] {
        let _ = std::fs::remove_dir_all(d);
    }
}
