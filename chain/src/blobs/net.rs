//! Blob transfer between peers, driven by the node's libp2p swarm: serving pieces to peers (at
//! most [`MAX_SERVING`] at once, [`MAX_SERVING_PER_PEER`] per peer, the rest told `Busy`) and
//! fetching blobs for this node (each piece verified before it is written; a peer that sends a
//! piece that does not verify is not asked again for that blob).

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use libp2p::request_response::{self, OutboundRequestId, ResponseChannel};
use libp2p::PeerId;
use neuroshard_runtime::Address;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};

use super::store::{BlobStore, Partial};
use super::wire::{BlobCodec, BlobRequest, BlobResponse, PIECE_BYTES};
use super::{BlobError, BlobHash};

/// Pieces served at once, over all peers.
pub const MAX_SERVING: usize = 8;
/// Pieces served at once to one peer.
pub const MAX_SERVING_PER_PEER: usize = 2;
/// Pieces of one blob requested at once.
pub const MAX_IN_FLIGHT: usize = 4;
/// Blobs fetched at once; further fetches are refused with `Busy`.
pub const MAX_FETCHES: usize = 16;
/// How long a peer that answered `Busy` is left alone.
const BUSY_BACKOFF: Duration = Duration::from_millis(500);
/// A fetch that has not finished by then fails.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(600);

pub type Behaviour = request_response::Behaviour<BlobCodec>;
pub type Event = request_response::Event<BlobRequest, BlobResponse>;

/// The blob behaviour for the node's swarm.
pub fn behaviour() -> Behaviour {
    request_response::Behaviour::new(
        [(
            super::wire::PROTOCOL,
            request_response::ProtocolSupport::Full,
        )],
        request_response::Config::default()
            .with_request_timeout(Duration::from_secs(60))
            .with_max_concurrent_streams(MAX_SERVING + MAX_FETCHES * MAX_IN_FLIGHT),
    )
}

/// What callers ask of the swarm task.
pub(crate) enum Command {
    Fetch {
        hash: BlobHash,
        max_size: u64,
        reply: oneshot::Sender<Result<PathBuf, BlobError>>,
        progress: Arc<FetchProgress>,
    },
}

/// How far a fetch has come: verified bytes so far, and the blob's size once piece 0 proved it
/// (0 before). Written by the swarm task, read by whoever waits.
#[derive(Debug, Default)]
pub struct FetchProgress {
    received: std::sync::atomic::AtomicU64,
    size: std::sync::atomic::AtomicU64,
    /// Verified bytes by the registered node each piece's server said it was (pieces from
    /// servers that named none are not counted).
    servers: Mutex<HashMap<Address, u64>>,
}

impl FetchProgress {
    /// `(verified bytes, size)`, the size 0 while unknown.
    pub fn get(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (self.received.load(Relaxed), self.size.load(Relaxed))
    }

    fn set(&self, received: u64, size: u64) {
        use std::sync::atomic::Ordering::Relaxed;
        self.size.store(size, Relaxed);
        self.received.store(received.min(size), Relaxed);
    }

    fn served(&self, server: Address, bytes: u64) {
        let mut servers = self.servers.lock().unwrap_or_else(|p| p.into_inner());
        let n = servers.entry(server).or_default();
        *n = n.saturating_add(bytes);
    }

    /// Verified bytes of this fetch by the node each piece's server named.
    pub fn servers(&self) -> HashMap<Address, u64> {
        self.servers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// A handle on the node's blobs: the local store and fetching from peers.
#[derive(Clone)]
pub struct BlobClient {
    store: Arc<BlobStore>,
    commands: mpsc::Sender<Command>,
    serving_as: Arc<RwLock<Option<Address>>>,
}

impl BlobClient {
    pub fn store(&self) -> &BlobStore {
        &self.store
    }

    /// Names `node` (this process's registered training identity) in every piece it serves
    /// from now on, so that trainers fed by it can name it as their data server.
    pub fn serve_as(&self, node: Address) {
        *self.serving_as.write().unwrap_or_else(|p| p.into_inner()) = Some(node);
    }

    /// Blob `hash`, from the local store or fetched from peers (at most `max_size` bytes);
    /// returns the path of the verified file.
    pub async fn fetch(&self, hash: BlobHash, max_size: u64) -> Result<PathBuf, BlobError> {
        match self.ask(hash, max_size, Default::default())? {
            Asked::Held(path) => Ok(path),
            Asked::Fetching(answer) => answer.await.map_err(|_| BlobError::Stopped)?,
        }
    }

    /// [`BlobClient::fetch`] for a thread outside the async runtime.
    pub fn fetch_blocking(&self, hash: BlobHash, max_size: u64) -> Result<PathBuf, BlobError> {
        match self.ask(hash, max_size, Default::default())? {
            Asked::Held(path) => Ok(path),
            Asked::Fetching(answer) => answer.blocking_recv().map_err(|_| BlobError::Stopped)?,
        }
    }

    /// Starts fetching blob `hash` (unless it is held) and returns at once: poll the answer
    /// with [`PendingBlob::poll`].
    pub fn start_fetch(&self, hash: BlobHash, max_size: u64) -> Result<PendingBlob, BlobError> {
        let progress = Arc::new(FetchProgress::default());
        Ok(PendingBlob {
            asked: self.ask(hash, max_size, progress.clone())?,
            progress,
        })
    }

    /// The held blob's path, or the answer to come from the swarm task.
    fn ask(
        &self,
        hash: BlobHash,
        max_size: u64,
        progress: Arc<FetchProgress>,
    ) -> Result<Asked, BlobError> {
        if let Some(path) = self.store.path(&hash) {
            return Ok(Asked::Held(path));
        }
        let (reply, answer) = oneshot::channel();
        self.commands
            .try_send(Command::Fetch {
                hash,
                max_size,
                reply,
                progress,
            })
            .map_err(|_| BlobError::Busy)?;
        Ok(Asked::Fetching(answer))
    }
}

enum Asked {
    Held(PathBuf),
    Fetching(oneshot::Receiver<Result<PathBuf, BlobError>>),
}

/// A fetch started by [`BlobClient::start_fetch`].
pub struct PendingBlob {
    asked: Asked,
    progress: Arc<FetchProgress>,
}

impl PendingBlob {
    /// `(verified bytes, size)` so far; the size is 0 until the first piece proved it.
    pub fn progress(&self) -> (u64, u64) {
        self.progress.get()
    }

    /// Verified bytes by the registered node that served them (see [`FetchProgress::servers`]);
    /// empty for a blob that was already held.
    pub fn servers(&self) -> HashMap<Address, u64> {
        self.progress.servers()
    }

    /// The verified file's path or why the fetch failed, once known; `None` while it runs.
    pub fn poll(&mut self) -> Option<Result<PathBuf, BlobError>> {
        match &mut self.asked {
            Asked::Held(path) => Some(Ok(path.clone())),
            Asked::Fetching(answer) => match answer.try_recv() {
                Ok(result) => Some(result),
                Err(oneshot::error::TryRecvError::Empty) => None,
                Err(oneshot::error::TryRecvError::Closed) => Some(Err(BlobError::Stopped)),
            },
        }
    }
}

struct Fetch {
    max_size: u64,
    /// Known once piece 0 (which proves the size) has been verified.
    partial: Option<Partial>,
    /// Pieces requested and not answered yet.
    in_flight: HashSet<u64>,
    /// Peers that do not hold the blob, failed, or lied: not asked again for it.
    excluded: HashSet<PeerId>,
    /// Peers that served a verified piece.
    holders: Vec<PeerId>,
    /// Peers that answered `Busy`, and until when they are left alone.
    busy: HashMap<PeerId, Instant>,
    waiters: Vec<oneshot::Sender<Result<PathBuf, BlobError>>>,
    /// The progress every waiter reads.
    progress: Vec<Arc<FetchProgress>>,
    started: Instant,
}

/// The blob state the swarm task owns.
pub(crate) struct BlobNet {
    store: Arc<BlobStore>,
    fetches: HashMap<BlobHash, Fetch>,
    requests: HashMap<OutboundRequestId, (BlobHash, u64, PeerId)>,
    serving: HashMap<PeerId, usize>,
    served_tx: mpsc::Sender<Served>,
    serving_as: Arc<RwLock<Option<Address>>>,
}

/// A piece encoded off the swarm task, to be answered on it.
pub(crate) struct Served {
    peer: PeerId,
    channel: ResponseChannel<BlobResponse>,
    response: BlobResponse,
}

/// The client handle, the swarm's state, and the channels the swarm task reads.
pub(crate) fn new(
    store: Arc<BlobStore>,
) -> (
    BlobClient,
    BlobNet,
    mpsc::Receiver<Command>,
    mpsc::Receiver<Served>,
) {
    let (commands, command_rx) = mpsc::channel(64);
    let (served_tx, served_rx) = mpsc::channel(MAX_SERVING);
    let serving_as = Arc::new(RwLock::new(None));
    (
        BlobClient {
            store: store.clone(),
            commands,
            serving_as: serving_as.clone(),
        },
        BlobNet {
            store,
            fetches: HashMap::new(),
            requests: HashMap::new(),
            serving: HashMap::new(),
            served_tx,
            serving_as,
        },
        command_rx,
        served_rx,
    )
}

impl BlobNet {
    pub(crate) fn on_command(&mut self, blobs: &mut Behaviour, peers: &[PeerId], command: Command) {
        let Command::Fetch {
            hash,
            max_size,
            reply,
            progress,
        } = command;
        if let Some(path) = self.store.path(&hash) {
            let _ = reply.send(Ok(path));
            return;
        }
        if let Some(f) = self.fetches.get_mut(&hash) {
            f.waiters.push(reply);
            if let Some(p) = &f.partial {
                progress.set(p.received(), p.size);
            }
            f.progress.push(progress);
            return;
        }
        if self.fetches.len() >= MAX_FETCHES {
            let _ = reply.send(Err(BlobError::Busy));
            return;
        }
        debug!(blob = %hex::encode(&hash[..8]), "fetching a blob from peers");
        self.fetches.insert(
            hash,
            Fetch {
                max_size,
                partial: None,
                in_flight: HashSet::new(),
                excluded: HashSet::new(),
                holders: Vec::new(),
                busy: HashMap::new(),
                waiters: vec![reply],
                progress: vec![progress],
                started: Instant::now(),
            },
        );
        self.pump(blobs, peers, hash);
    }

    /// Sends what requests fetch `hash` can use now, or ends it when no peer is left to ask.
    fn pump(&mut self, blobs: &mut Behaviour, peers: &[PeerId], hash: BlobHash) {
        let Some(f) = self.fetches.get_mut(&hash) else {
            return;
        };
        let wanted: Vec<u64> = match &f.partial {
            None if f.in_flight.is_empty() => vec![0],
            None => Vec::new(),
            Some(p) => p
                .missing()
                .filter(|i| !f.in_flight.contains(i))
                .take(MAX_IN_FLIGHT.saturating_sub(f.in_flight.len()))
                .collect(),
        };
        let now = Instant::now();
        f.busy.retain(|_, until| *until > now);
        for piece in wanted {
            // The peer with the fewest of this blob's requests open, holders of it first.
            let load = |p: &PeerId| {
                self.requests
                    .values()
                    .filter(|(h, _, q)| *h == hash && q == p)
                    .count()
            };
            // Ties go to the earlier peer in `peers`.
            let peer = peers
                .iter()
                .enumerate()
                .filter(|(_, p)| !f.excluded.contains(p) && !f.busy.contains_key(p))
                .map(|(i, p)| (!f.holders.contains(p), load(p), i))
                .filter(|(_, n, _)| *n < MAX_SERVING_PER_PEER)
                .min()
                .map(|(_, _, i)| peers[i]);
            let Some(peer) = peer else { break };
            let id = blobs.send_request(&peer, BlobRequest { hash, piece });
            f.in_flight.insert(piece);
            self.requests.insert(id, (hash, piece, peer));
        }
        if f.in_flight.is_empty() {
            let done = match &f.partial {
                Some(p) if p.is_complete() => self.store.finish(p),
                _ if !f.busy.is_empty() => return, // asked again once they are free
                _ => Err(BlobError::Unavailable {
                    asked: f.excluded.len(),
                }),
            };
            self.end(hash, done);
        }
    }

    fn end(&mut self, hash: BlobHash, result: Result<PathBuf, BlobError>) {
        let Some(f) = self.fetches.remove(&hash) else {
            return;
        };
        match &result {
            Ok(_) => info!(
                blob = %hex::encode(&hash[..8]),
                bytes = f.partial.as_ref().map(|p| p.size).unwrap_or(0),
                secs = format!("{:.1}", f.started.elapsed().as_secs_f64()),
                "fetched a blob from peers"
            ),
            // No peer holding it yet is routine (the caller retries); anything else is not.
            Err(e @ BlobError::Unavailable { .. }) => {
                debug!(blob = %hex::encode(&hash[..8]), "blob fetch failed: {e}")
            }
            Err(e) => warn!(blob = %hex::encode(&hash[..8]), "blob fetch failed: {e}"),
        }
        for w in f.waiters {
            let _ = w.send(result.clone());
        }
    }

    /// Fails fetches past [`FETCH_TIMEOUT`]; called now and then.
    pub(crate) fn on_tick(&mut self, blobs: &mut Behaviour, peers: &[PeerId]) {
        let late: Vec<BlobHash> = self
            .fetches
            .iter()
            .filter(|(_, f)| f.started.elapsed() > FETCH_TIMEOUT)
            .map(|(h, _)| *h)
            .collect();
        for h in late {
            self.requests.retain(|_, (hash, _, _)| *hash != h);
            self.end(h, Err(BlobError::TimedOut));
        }
        let waiting: Vec<BlobHash> = self.fetches.keys().copied().collect();
        for h in waiting {
            self.pump(blobs, peers, h);
        }
    }

    pub(crate) fn on_served(&mut self, blobs: &mut Behaviour, served: Served) {
        if let Some(n) = self.serving.get_mut(&served.peer) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.serving.remove(&served.peer);
            }
        }
        let _ = blobs.send_response(served.channel, served.response);
    }

    pub(crate) fn on_event(&mut self, blobs: &mut Behaviour, peers: &[PeerId], event: Event) {
        match event {
            request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Request {
                        request, channel, ..
                    },
                ..
            } => self.serve(blobs, peer, request, channel),
            request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => {
                let Some((hash, piece, _)) = self.requests.remove(&request_id) else {
                    return;
                };
                self.on_response(peer, hash, piece, response);
                self.pump(blobs, peers, hash);
            }
            request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                let Some((hash, piece, _)) = self.requests.remove(&request_id) else {
                    return;
                };
                debug!(%peer, "blob request failed: {error}");
                if let Some(f) = self.fetches.get_mut(&hash) {
                    f.in_flight.remove(&piece);
                    exclude(f, peer);
                }
                self.pump(blobs, peers, hash);
            }
            _ => {}
        }
    }

    fn serve(
        &mut self,
        blobs: &mut Behaviour,
        peer: PeerId,
        request: BlobRequest,
        channel: ResponseChannel<BlobResponse>,
    ) {
        let total: usize = self.serving.values().sum();
        let mine = self.serving.get(&peer).copied().unwrap_or(0);
        if total >= MAX_SERVING || mine >= MAX_SERVING_PER_PEER || !self.store.has(&request.hash) {
            let answer = if self.store.has(&request.hash) {
                BlobResponse::Busy
            } else {
                BlobResponse::NotFound
            };
            let _ = blobs.send_response(channel, answer);
            return;
        }
        *self.serving.entry(peer).or_default() += 1;
        let store = self.store.clone();
        let tx = self.served_tx.clone();
        let server = *self.serving_as.read().unwrap_or_else(|p| p.into_inner());
        tokio::task::spawn_blocking(move || {
            let response = match store.encode_piece(&request.hash, request.piece) {
                Ok(Some((size, encoded))) => BlobResponse::Piece {
                    size,
                    encoded,
                    server,
                },
                Ok(None) => BlobResponse::NotFound,
                Err(e) => {
                    warn!("cannot serve blob {}: {e}", hex::encode(&request.hash[..8]));
                    BlobResponse::NotFound
                }
            };
            let _ = tx.blocking_send(Served {
                peer,
                channel,
                response,
            });
        });
    }

    fn on_response(&mut self, peer: PeerId, hash: BlobHash, piece: u64, response: BlobResponse) {
        let Some(f) = self.fetches.get_mut(&hash) else {
            return;
        };
        f.in_flight.remove(&piece);
        let (size, encoded, server) = match response {
            BlobResponse::Piece {
                size,
                encoded,
                server,
            } => (size, encoded, server),
            BlobResponse::Busy => {
                f.busy.insert(peer, Instant::now() + BUSY_BACKOFF);
                return;
            }
            BlobResponse::NotFound => {
                exclude(f, peer);
                return;
            }
        };
        if size > f.max_size {
            // Too large for what the caller expects, or a lie: either way of no use.
            debug!(%peer, size, max = f.max_size, "peer offers a blob larger than wanted");
            exclude(f, peer);
            return;
        }
        let first = f.partial.is_none();
        let mut partial = match f.partial.take() {
            Some(p) if p.size == size => p,
            Some(p) => {
                f.partial = Some(p);
                warn!(%peer, "peer sent a blob piece with another size: not asked again");
                exclude(f, peer);
                return;
            }
            // A download begun before (this process or an earlier one) resumes here.
            None => match self.store.partial(&hash, size) {
                Ok(p) => p,
                Err(e) => {
                    warn!("blob store: {e}");
                    exclude(f, peer);
                    return;
                }
            },
        };
        if let Err(e) = self.store.receive_piece(&mut partial, piece, &encoded) {
            if !first {
                f.partial = Some(partial);
            }
            warn!(%peer, blob = %hex::encode(&hash[..8]), "peer sent a blob piece that does not verify: not asked again ({e})");
            exclude(f, peer);
            return;
        }
        if first {
            debug!(blob = %hex::encode(&hash[..8]), size, pieces = size.div_ceil(PIECE_BYTES), "blob size proven");
        }
        let piece_bytes = size
            .saturating_sub(piece.saturating_mul(PIECE_BYTES))
            .min(PIECE_BYTES);
        for p in &f.progress {
            p.set(partial.received(), partial.size);
            if let Some(server) = server {
                p.served(server, piece_bytes);
            }
        }
        f.partial = Some(partial);
        if !f.holders.contains(&peer) {
            f.holders.push(peer);
        }
    }
}

fn exclude(f: &mut Fetch, peer: PeerId) {
    f.excluded.insert(peer);
    f.holders.retain(|p| *p != peer);
}
