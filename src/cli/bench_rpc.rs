//! `neuroshard bench rpc`: requests per second of `neuro_getAccount` and `neuro_getBlock` against
//! a dev node in this process, over loopback HTTP with concurrent clients.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use neuroshard_chain::node::config::random_key;
use neuroshard_chain::node::{self, Home, NodeConfig};
use neuroshard_rpc::RpcClient;
use neuroshard_runtime::genesis::{DEV_GENESIS_JSON, DEV_VALIDATOR_TOKEN};
use neuroshard_runtime::SecretKey;
use serde_json::Value;

#[derive(Debug, Args)]
pub struct BenchRpcArgs {
    /// Concurrent clients.
    #[arg(long, default_value_t = 16)]
    pub clients: usize,
    /// Seconds per method.
    #[arg(long, default_value_t = 5)]
    pub seconds: u64,
    #[arg(long, default_value_t = 36_500)]
    pub base_port: u16,
}

pub fn run(args: BenchRpcArgs) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("neuroshard-bench-rpc-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let home = Home::new(&dir);
    let p = args.base_port;
    let mut config = NodeConfig::local("bench", p, p + 1, p + 3);
    config.consensus.block_interval_ms = 100;
    home.init(
        &config,
        DEV_GENESIS_JSON,
        &SecretKey::from_hex_token(DEV_VALIDATOR_TOKEN)?,
        random_key(),
    )?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let result = rt.block_on(async {
        let running = node::start(&home)
            .await
            .map_err(|e| anyhow::anyhow!("{e:#}"))?;
        let (addr, server) =
            neuroshard_rpc::serve(&running.rpc_listen, running.api.clone()).await?;
        let url = format!("http://{addr}");
        while running.api.status().height < 5 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let who = SecretKey::from_hex_token(DEV_VALIDATOR_TOKEN)?
            .address()
            .to_string();
        for (method, param) in [
            ("neuro_getAccount", Value::String(who)),
            ("neuro_getBlock", Value::from(3u64)),
        ] {
            let count = Arc::new(AtomicU64::new(0));
            let deadline = Instant::now() + Duration::from_secs(args.seconds);
            let mut tasks = Vec::new();
            for _ in 0..args.clients {
                let client = RpcClient::new(&url)?;
                let count = count.clone();
                let param = param.clone();
                tasks.push(tokio::spawn(async move {
                    while Instant::now() < deadline {
                        if client.call(method, vec![param.clone()]).await.is_ok() {
                            count.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }));
            }
            for t in tasks {
                let _ = t.await;
            }
            let n = count.load(Ordering::Relaxed);
            println!(
                "{method:<18} {:>8.0} requests/s ({} clients, {} s)",
                n as f64 / args.seconds as f64,
                args.clients,
                args.seconds
            );
        }
        let _ = server.stop();
        running.shutdown().await;
        anyhow::Ok(())
    });
    let _ = std::fs::remove_dir_all(&dir);
    result
}
