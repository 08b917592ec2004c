//! Accepting RPC connections within limits. jsonrpsee's own server caps connections in all but
//! holds an HTTP keep-alive connection open for as long as its client stays silent, and takes any
//! number from one address: a few hundred idle sockets from one host would shut everyone else
//! out. This accept loop serves the same jsonrpsee service with:
//!
//! * at most [`Limits::max_connections`] connections in all and [`Limits::max_per_ip`] from one
//!   IP address (more are closed at once);
//! * request headers read within [`Limits::header_timeout`] (hyper's timer: slow drips lose);
//! * an HTTP connection closed after [`Limits::idle`] without a byte from its client (a request
//!   in flight keeps it, however long its answer takes);
//! * WebSocket clients pinged (jsonrpsee's `PingConfig`, set by the server): one that stops
//!   answering is closed. An upgraded connection keeps its slots until it closes.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use jsonrpsee::server::{stop_channel, ServerHandle, StopHandle};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::OwnedSemaphorePermit;
use tracing::debug;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What hyper can serve a connection with: a cloneable tower service of HTTP requests.
pub trait HyperService<B>:
    tower::Service<
        http::Request<hyper::body::Incoming>,
        Response = http::Response<B>,
        Error: Into<BoxError>,
        Future: Send,
    > + Clone
    + Send
    + 'static
{
}

impl<S, B> HyperService<B> for S where
    S: tower::Service<
            http::Request<hyper::body::Incoming>,
            Response = http::Response<B>,
            Error: Into<BoxError>,
            Future: Send,
        > + Clone
        + Send
        + 'static
{
}

/// A response body hyper can send.
pub trait ResponseBody:
    http_body::Body<Data = hyper::body::Bytes, Error: Into<BoxError>> + Send + 'static
{
}

impl<B> ResponseBody for B where
    B: http_body::Body<Data = hyper::body::Bytes, Error: Into<BoxError>> + Send + 'static
{
}

/// Connection limits of the RPC port.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_connections: usize,
    pub max_per_ip: usize,
    /// An HTTP connection with no request in flight is closed after this long without a byte
    /// from its client.
    pub idle: Duration,
    /// A request's headers must arrive within this long.
    pub header_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 1024,
            max_per_ip: 64,
            idle: Duration::from_secs(60),
            header_timeout: Duration::from_secs(15),
        }
    }
}

/// Binds `addr` and serves each accepted connection with a service from `make` until the
/// returned handle is stopped.
pub async fn serve<M, S, B>(
    addr: &str,
    limits: Limits,
    make: M,
) -> std::io::Result<(SocketAddr, ServerHandle)>
where
    M: Fn(StopHandle) -> S + Send + 'static,
    S: HyperService<B>,
    B: ResponseBody,
{
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let (stop, handle) = stop_channel();
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let per_ip: PerIp = Default::default();
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                r = listener.accept() => r,
                _ = stop.clone().shutdown() => break,
            };
            let (socket, remote) = match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    debug!("rpc accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let Ok(permit) = slots.clone().try_acquire_owned() else {
                debug!(%remote, "rpc connection refused: all connection slots taken");
                continue;
            };
            let Some(ip_slot) = IpSlot::take(&per_ip, remote.ip(), limits.max_per_ip) else {
                debug!(%remote, "rpc connection refused: too many from this address");
                continue;
            };
            let service = make(stop.clone());
            let stop = stop.clone();
            let io = Watched::new(socket, (permit, ip_slot));
            tokio::spawn(serve_connection(io, service, stop, limits));
        }
    });
    Ok((local, handle))
}

/// Serves one connection until it closes, goes idle or the server stops.
async fn serve_connection<S: HyperService<B>, B: ResponseBody>(
    io: Watched,
    service: S,
    stop: StopHandle,
    limits: Limits,
) {
    let activity = io.activity.clone();
    let service = InFlight {
        inner: service,
        activity: activity.clone(),
    };
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let conn =
        builder.serve_connection_with_upgrades(TokioIo::new(io), TowerToHyperService::new(service));
    tokio::pin!(conn);
    let stopped = stop.shutdown();
    tokio::pin!(stopped);
    let result = tokio::select! {
        r = &mut conn => r,
        _ = &mut stopped => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
        _ = activity.idle_for(limits.idle) => {
            debug!("rpc connection closed: idle");
            Ok(())
        }
    };
    if let Err(e) = result {
        debug!("rpc connection ended: {e}");
    }
}

/// Connections per IP address.
type PerIp = Arc<Mutex<HashMap<IpAddr, usize>>>;

/// One connection's count against its address; given back when dropped.
struct IpSlot {
    map: PerIp,
    ip: IpAddr,
}

impl IpSlot {
    fn take(map: &PerIp, ip: IpAddr, max: usize) -> Option<IpSlot> {
        let mut m = map.lock().unwrap_or_else(|p| p.into_inner());
        let n = m.entry(ip).or_default();
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(IpSlot {
            map: map.clone(),
            ip,
        })
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut m = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = m.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.ip);
            }
        }
    }
}

/// When a connection last heard from its client, and how many of its requests are in flight.
struct Activity {
    epoch: Instant,
    last_read_ms: AtomicU64,
    in_flight: AtomicUsize,
}

impl Activity {
    fn new() -> Arc<Activity> {
        Arc::new(Activity {
            epoch: Instant::now(),
            last_read_ms: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
        })
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis().min(u128::from(u64::MAX)) as u64
    }

    fn heard(&self) {
        self.last_read_ms.store(self.now_ms(), Ordering::Relaxed);
    }

    /// Resolves once the client has sent nothing for `limit` while no request was in flight.
    async fn idle_for(&self, limit: Duration) {
        let limit_ms = limit.as_millis().min(u128::from(u64::MAX)) as u64;
        loop {
            let quiet = self
                .now_ms()
                .saturating_sub(self.last_read_ms.load(Ordering::Relaxed));
            if quiet >= limit_ms && self.in_flight.load(Ordering::Relaxed) == 0 {
                return;
            }
            let wait = limit_ms.saturating_sub(quiet).max(limit_ms / 4).max(10);
            tokio::time::sleep(Duration::from_millis(wait)).await;
        }
    }
}

/// The socket, noting each read from the client, and holding the connection's slots for as
/// long as it lives (also after a WebSocket upgrade hands it on).
struct Watched {
    socket: TcpStream,
    activity: Arc<Activity>,
    _slots: (OwnedSemaphorePermit, IpSlot),
}

impl Watched {
    fn new(socket: TcpStream, slots: (OwnedSemaphorePermit, IpSlot)) -> Watched {
        let activity = Activity::new();
        activity.heard();
        Watched {
            socket,
            activity,
            _slots: slots,
        }
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.socket).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.heard();
        }
        r
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.socket).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.socket).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.socket).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.socket).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.socket.is_write_vectored()
    }
}

/// The service, counting its requests in flight (a long answer is not idleness).
#[derive(Clone)]
struct InFlight<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S, R> tower::Service<R> for InFlight<S>
where
    S: tower::Service<R>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        let guard = InFlightGuard::new(self.activity.clone());
        let fut = self.inner.call(request);
        Box::pin(async move {
            let r = fut.await;
            drop(guard);
            r
        })
    }
}

struct InFlightGuard(Arc<Activity>);

impl InFlightGuard {
    fn new(activity: Arc<Activity>) -> InFlightGuard {
        activity.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlightGuard(activity)
    }
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.0.heard();
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonrpsee::server::{RpcModule, Server};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const REQUEST: &[u8] = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
        Content-Length: 40\r\n\r\n{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}";

    async fn server(limits: Limits) -> (SocketAddr, ServerHandle) {
        let mut module = RpcModule::new(());
        module.register_method("ping", |_, _, _| "pong").unwrap();
        let builder = Server::builder().to_service_builder();
        serve("127.0.0.1:0", limits, move |stop| {
            builder.clone().build(module.clone(), stop)
        })
        .await
        .unwrap()
    }

    /// Reads until `pong` arrives, or `None` if the server closed the connection first.
    async fn answer(c: &mut TcpStream) -> Option<String> {
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        loop {
            let n = tokio::time::timeout(Duration::from_secs(10), c.read(&mut buf))
                .await
                .expect("an answer or a close within 10 s")
                .unwrap_or(0);
            if n == 0 {
                return None;
            }
            got.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&got).into_owned();
            if text.contains("pong") {
                return Some(text);
            }
        }
    }

    /// Whether the server closes `c` within `within`.
    async fn closed_within(c: &mut TcpStream, within: Duration) -> bool {
        let mut buf = [0u8; 64];
        matches!(
            tokio::time::timeout(within, c.read(&mut buf)).await,
            Ok(Ok(0)) | Ok(Err(_))
        )
    }

    #[tokio::test]
    async fn a_silent_keep_alive_connection_is_closed_and_a_busy_one_is_not() {
        let limits = Limits {
            idle: Duration::from_millis(600),
            ..Limits::default()
        };
        let (addr, handle) = server(limits).await;
        let mut idle = TcpStream::connect(addr).await.unwrap();
        idle.write_all(REQUEST).await.unwrap();
        assert!(answer(&mut idle).await.is_some());
        let mut busy = TcpStream::connect(addr).await.unwrap();
        // The busy client asks every 200 ms for 1.5 s: well past the idle limit, never closed.
        for _ in 0..8 {
            busy.write_all(REQUEST).await.unwrap();
            assert!(
                answer(&mut busy).await.is_some(),
                "a busy connection was closed"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        // Meanwhile the silent one was closed.
        assert!(closed_within(&mut idle, Duration::from_secs(5)).await);
        handle.stop().unwrap();
    }

    #[tokio::test]
    async fn a_client_that_never_finishes_its_headers_is_closed() {
        let limits = Limits {
            header_timeout: Duration::from_millis(500),
            idle: Duration::from_secs(3_600),
            ..Limits::default()
        };
        let (addr, handle) = server(limits).await;
        let mut slow = TcpStream::connect(addr).await.unwrap();
        slow.write_all(b"POST / HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        assert!(closed_within(&mut slow, Duration::from_secs(5)).await);
        handle.stop().unwrap();
    }

    #[tokio::test]
    async fn one_address_gets_at_most_its_share_of_connections() {
        let limits = Limits {
            max_per_ip: 2,
            ..Limits::default()
        };
        let (addr, handle) = server(limits).await;
        let mut held = Vec::new();
        for _ in 0..2 {
            let mut c = TcpStream::connect(addr).await.unwrap();
            c.write_all(REQUEST).await.unwrap();
            assert!(answer(&mut c).await.is_some());
            held.push(c);
        }
        // A third from the same address is closed unanswered.
        let mut third = TcpStream::connect(addr).await.unwrap();
        let _ = third.write_all(REQUEST).await;
        assert!(answer(&mut third).await.is_none());
        // Once one closes, its slot is free again.
        drop(held.pop());
        let mut again = None;
        for _ in 0..50 {
            let mut c = TcpStream::connect(addr).await.unwrap();
            let _ = c.write_all(REQUEST).await;
            if answer(&mut c).await.is_some() {
                again = Some(c);
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(again.is_some(), "the freed slot was not given back");
        // The held connection still works.
        held[0].write_all(REQUEST).await.unwrap();
        assert!(answer(&mut held[0]).await.is_some());
        handle.stop().unwrap();
    }
}
