//! `neuroshard bench blobs`: blob transfer between two blob swarms on loopback (libp2p
//! request-response, noise, yamux, bao-tree verification, written to disk) beside a plain TCP
//! copy of the same bytes into memory.

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use neuroshard_chain::blobs::{BlobNode, BlobStore};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Debug, Args)]
pub struct BenchBlobsArgs {
    /// Blob size in MiB.
    #[arg(long, default_value_t = 256)]
    pub mib: u64,
}

pub fn run(args: BenchBlobsArgs) -> anyhow::Result<()> {
    let size = (args.mib << 20) as usize;
    let dir = std::env::temp_dir().join(format!("neuroshard-bench-blobs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut data = vec![0u8; size];
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for chunk in data.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let b = x.to_le_bytes();
        chunk.copy_from_slice(&b[..chunk.len()]);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let result = rt.block_on(async {
        let tcp = tcp_copy(&data).await?;
        let source = Arc::new(BlobStore::open(dir.join("a"), u64::MAX)?);
        let began = Instant::now();
        let hash = source.put(&data)?;
        let put = began.elapsed();
        let a = BlobNode::spawn(source, [1; 32], Vec::new()).await?;
        let b_store = Arc::new(BlobStore::open(dir.join("b"), u64::MAX)?);
        let b = BlobNode::spawn(b_store, [2; 32], vec![a.addr.clone()]).await?;
        let deadline = Instant::now() + Duration::from_secs(30);
        while b.connected() < 1 {
            anyhow::ensure!(Instant::now() < deadline, "the blob swarms never connected");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let began = Instant::now();
        b.client.fetch(hash, u64::MAX).await?;
        let fetch = began.elapsed();
        Ok::<_, anyhow::Error>((tcp, put, fetch))
    });
    let _ = std::fs::remove_dir_all(&dir);
    let (tcp, put, fetch) = result?;
    let mb = size as f64 / 1e6;
    println!("blob of {} MiB on loopback:", args.mib);
    println!(
        "  plain TCP copy into memory   {:>8.0} MB/s",
        mb / tcp.as_secs_f64()
    );
    println!(
        "  blob fetch (verified, disk)  {:>8.0} MB/s  ({:.2} s)",
        mb / fetch.as_secs_f64(),
        fetch.as_secs_f64()
    );
    println!(
        "  blob put (hash + outboard)   {:>8.0} MB/s",
        mb / put.as_secs_f64()
    );
    Ok(())
}

/// Seconds to send `data` over one loopback TCP connection and read it into memory.
async fn tcp_copy(data: &[u8]) -> anyhow::Result<Duration> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let payload = data.to_vec();
    let sender = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await?;
        s.write_all(&payload).await?;
        s.shutdown().await
    });
    let began = Instant::now();
    let mut conn = tokio::net::TcpStream::connect(addr).await?;
    let mut got = Vec::with_capacity(data.len());
    conn.read_to_end(&mut got).await?;
    let took = began.elapsed();
    sender.await??;
    anyhow::ensure!(got.len() == data.len(), "short TCP copy");
    Ok(took)
}
