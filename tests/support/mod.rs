//! Real nodes for end-to-end tests: `neuroshard` processes on loopback ports, each with its own
//! home and RocksDB, driven through the JSON-RPC client.

#![allow(dead_code)]

pub mod browser;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use neuroshard_chain::node::Home;
use neuroshard_chain::ChainState;
use neuroshard_rpc::RpcClient;
use neuroshard_runtime::tx::node_registration_digest;
use neuroshard_runtime::{
    proof::{Proof, Role, WorkMetrics},
    SecretKey, Transaction, TxBody,
};

pub const BIN: &str = env!("CARGO_BIN_EXE_neuroshard");

/// A scratch directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "neuroshard-{name}-{}-{}",
            std::process::id(),
            rand_u64()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(std::process::id() as u64);
    h.finish()
}

/// A base port such that BASE..BASE+span are free now, where span covers `nodes` testnet
/// nodes (10 ports each) and the dev chain's joined nodes (BASE+100+10·i, i < 10).
///
/// Bases lie below the kernel's ephemeral range (32768 and up on Linux), so an outgoing
/// connection never takes a port a node is about to bind, and successive calls in one test
/// process walk distinct slots so that tests running at once never pick the same base.
pub fn free_base_port(nodes: usize) -> u16 {
    use std::sync::atomic::{AtomicU64, Ordering};
    const FIRST: u64 = 10_000;
    const SLOT: u64 = 400;
    const SLOTS: u64 = (32_000 - FIRST) / SLOT;
    static NEXT: AtomicU64 = AtomicU64::new(u64::MAX);
    let _ = NEXT.compare_exchange(
        u64::MAX,
        rand_u64() % SLOTS,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    let span = (nodes * 10).max(200) as u16;
    assert!(
        u64::from(span) <= SLOT,
        "{nodes} nodes do not fit a port slot"
    );
    for _ in 0..SLOTS {
        let slot = NEXT.fetch_add(1, Ordering::SeqCst) % SLOTS;
        let base = (FIRST + slot * SLOT) as u16;
        if (0..span).all(|i| TcpListener::bind(("127.0.0.1", base + i)).is_ok()) {
            return base;
        }
    }
    panic!("no free port range below the ephemeral range");
}

/// One node process.
pub struct NodeProc {
    pub home: PathBuf,
    pub rpc_url: String,
    child: Option<Child>,
    pub log: PathBuf,
    args: Vec<String>,
    envs: Vec<(String, String)>,
}

impl NodeProc {
    pub fn spawn(args: &[&str], home: &Path, rpc_url: &str) -> NodeProc {
        Self::spawn_env(args, &[], home, rpc_url)
    }

    /// [`NodeProc::spawn`] with extra environment variables.
    pub fn spawn_env(args: &[&str], envs: &[(&str, &str)], home: &Path, rpc_url: &str) -> NodeProc {
        let mut n = NodeProc {
            home: home.to_owned(),
            rpc_url: rpc_url.to_owned(),
            child: None,
            log: home.with_extension("log"),
            args: args.iter().map(|s| s.to_string()).collect(),
            envs: envs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        n.start();
        n
    }

    pub fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new(BIN)
            .args(&self.args)
            .env("NEUROSHARD_LOG", "info")
            .envs(self.envs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start neuroshard");
        self.child = Some(child);
    }

    /// SIGKILL: no chance to flush anything.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Sends `signal` (`STOP`, `CONT`, …) to the running process; false if it is not running.
    pub fn signal(&self, signal: &str) -> bool {
        let Some(c) = &self.child else {
            return false;
        };
        Command::new("kill")
            .args([format!("-{signal}"), c.id().to_string()])
            .status()
            .is_ok_and(|s| s.success())
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// SIGTERM and wait for a graceful exit.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(15);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn client(&self) -> RpcClient {
        RpcClient::new(&self.rpc_url).unwrap()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// Opens this (stopped) node's database.
    pub fn open_chain(&self) -> ChainState {
        let home = Home::new(&self.home);
        ChainState::open(&home.data(), &home.load_genesis().unwrap()).unwrap()
    }
}

impl Drop for NodeProc {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// The dev genesis for chain-only nodes (`dev`, `node`, run with `--no-verify`), whose tests
/// earn NEURO with made-up proofs that the harness's validators verify ([`earn`]): every proof
/// is drawn, so each is paid in full once verified. Nobody trains or attests rounds on these
/// chains, so round 0 stays open (taking training proofs) for ten years.
pub fn checked_genesis(dir: &Path) -> PathBuf {
    let mut g = neuroshard_runtime::Genesis::dev();
    g.params.training.verify_sample_bps = 10_000;
    g.params.round_length_ms = 10 * 365 * 86_400_000;
    let path = dir.join("genesis-checked.json");
    std::fs::write(&path, g.to_json_pretty()).unwrap();
    path
}

/// A testnet written by `neuroshard testnet init`, each node run by `neuroshard node`.
pub fn testnet(dir: &Path, validators: usize, block_interval_ms: u64) -> Vec<NodeProc> {
    testnet_on(dir, validators, block_interval_ms, &checked_genesis(dir))
}

/// [`testnet`] on the parameters of the genesis file `genesis`.
pub fn testnet_on(
    dir: &Path,
    validators: usize,
    block_interval_ms: u64,
    genesis: &Path,
) -> Vec<NodeProc> {
    testnet_homes(dir, validators, block_interval_ms, genesis)
        .into_iter()
        .map(|(home, rpc)| {
            NodeProc::spawn(
                &["node", "--home", home.to_str().unwrap(), "--no-verify"],
                &home,
                &rpc,
            )
        })
        .collect()
}

/// Writes a testnet of `validators` on `genesis`'s parameters with `neuroshard testnet init`;
/// returns each node's home and RPC URL.
pub fn testnet_homes(
    dir: &Path,
    validators: usize,
    block_interval_ms: u64,
    genesis: &Path,
) -> Vec<(PathBuf, String)> {
    let base = free_base_port(validators);
    let out = Command::new(BIN)
        .args([
            "testnet",
            "init",
            "--validators",
            &validators.to_string(),
            "--dir",
            dir.to_str().unwrap(),
            "--base-port",
            &base.to_string(),
            "--block-interval-ms",
            &block_interval_ms.to_string(),
            "--genesis",
            genesis.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            let parts: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(parts.len(), 3, "testnet init line: {line}");
            (PathBuf::from(parts[1]), parts[2].to_owned())
        })
        .collect()
}

/// A dev node in `home` (created on first start).
pub fn dev_node(home: &Path, block_interval_ms: u64) -> NodeProc {
    let base = free_base_port(1);
    let genesis = checked_genesis(home.parent().unwrap());
    NodeProc::spawn(
        &[
            "dev",
            "--no-verify",
            "--home",
            home.to_str().unwrap(),
            "--base-port",
            &base.to_string(),
            "--block-interval-ms",
            &block_interval_ms.to_string(),
            "--genesis",
            genesis.to_str().unwrap(),
        ],
        home,
        &format!("http://127.0.0.1:{}", base + 1),
    )
}

pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Polls `node`'s height until it reaches `height`, or panics with its log after `timeout`.
pub async fn wait_height(node: &NodeProc, height: u64, timeout: Duration) -> u64 {
    let client = node.client();
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(s) = client.status().await {
            if s.height >= height {
                return s.height;
            }
        }
        if Instant::now() > deadline {
            panic!(
                "{} did not reach height {height} in {timeout:?}; log:\n{}",
                node.rpc_url,
                node.log_tail()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Polls `f` every 500 ms until it returns `Some`, or panics with the logs after `timeout`.
pub async fn until<T, F, Fut>(what: &str, timeout: Duration, logs: &[&NodeProc], mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if Instant::now() > deadline {
            let tails: Vec<String> = logs.iter().map(|n| n.log_tail()).collect();
            panic!(
                "{what}: not within {timeout:?}; logs:\n{}",
                tails.join("\n-----\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

pub async fn height(node: &NodeProc) -> u64 {
    node.client().status().await.map(|s| s.height).unwrap_or(0)
}

/// The `expires_ms` of a registration sent to a dev-genesis node now: five minutes on, inside
/// the dev chain's 10-minute registration TTL.
pub fn registration_expiry_now() -> u64 {
    now_ms() + 300_000
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

pub fn key(seed: u8) -> SecretKey {
    SecretKey::from_entropy([seed; 32])
}

pub fn sign(chain_id: &str, key: &SecretKey, nonce: u64, fee: &str, body: TxBody) -> Vec<u8> {
    Transaction {
        chain_id: chain_id.to_owned(),
        nonce,
        fee: fee.parse().unwrap(),
        body,
    }
    .sign(key)
    .encode()
}

/// Gives `wallet` its first NEURO the only way there is: register a node to it, prove work
/// (100 batches, 0.05 NEURO) and have it verified by the validators whose keys lie in `node`'s
/// home or beside it (nodes run with `--no-verify` leave verdicts to the harness). Returns
/// when the reward is in the wallet's balance on the node's chain.
pub async fn earn(node: &NodeProc, chain_id: &str, wallet: &SecretKey, worker: &SecretKey) {
    let client = node.client();
    let sig = worker.sign_digest(&node_registration_digest(chain_id, &wallet.address()));
    let register = sign(
        chain_id,
        wallet,
        0,
        "0",
        TxBody::RegisterNode {
            node_key: worker.public_key(),
            node_signature: sig,
            expires_ms: registration_expiry_now(),
        },
    );
    client.send_raw_transaction(&register).await.unwrap();
    // The rate limit counts from registration: wait out the minimum proof interval (5 s).
    tokio::time::sleep(Duration::from_millis(6_500)).await;
    let layers = neuroshard_runtime::Genesis::dev().params.model.layers;
    let model = client.call("neuro_getModel", vec![]).await.unwrap();
    let info = client
        .call(
            "neuro_getNode",
            vec![serde_json::Value::String(worker.address().to_string())],
        )
        .await
        .unwrap();
    let proof = Proof {
        role: Role::Driver,
        layer_start: 0,
        layer_end: layers,
        round: model["round"].as_u64().unwrap(),
        model_version: hash32(&model["modelVersion"]),
        data_seed: hash32(&info["dataSeed"]),
        data_shard: neuroshard_runtime::Genesis::dev().params.training.corpus,
        pseudo_gradient: [3; 32],
        start_state: [0; 32],
        end_state: [0; 32],
        first_batch: 0,
        metrics: WorkMetrics {
            batches: 100,
            ..WorkMetrics::default()
        },
        data_server: None,
        timestamp_ms: now_ms(),
    };
    let id = client
        .send_raw_transaction(&sign(chain_id, worker, 0, "0", TxBody::SubmitProof(proof)))
        .await
        .unwrap();
    verify(node, chain_id, id).await;
    // Paid into the bond when the challenge window (20 s on the dev genesis) ends, and
    // released to the balance a bond period (20 s) later.
    let deadline = Instant::now() + Duration::from_secs(120);
    while client
        .account(&wallet.address())
        .await
        .map(|a| a.balance == "0")
        .unwrap_or(true)
    {
        assert!(
            Instant::now() < deadline,
            "no reward; log:\n{}",
            node.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The validator keys in `node`'s home and in the homes beside it.
pub fn validator_keys(node: &NodeProc) -> Vec<SecretKey> {
    let mut homes = vec![node.home.clone()];
    if let Some(parent) = node.home.parent() {
        for entry in std::fs::read_dir(parent).into_iter().flatten().flatten() {
            if entry.path() != node.home {
                homes.push(entry.path());
            }
        }
    }
    homes
        .iter()
        .filter_map(|h| std::fs::read_to_string(h.join("validator_key")).ok())
        .filter_map(|t| SecretKey::from_hex_token(t.trim()).ok())
        .collect()
}

/// Waits until proof `id` is drawn for re-execution, then signs a "valid" verdict on it with
/// every validator key [`validator_keys`] finds (the harness stands in for their verifiers).
pub async fn verify(node: &NodeProc, chain_id: &str, id: [u8; 32]) {
    let client = node.client();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let p = client
            .call(
                "neuro_getProof",
                vec![serde_json::Value::String(hex::encode(id))],
            )
            .await;
        if let Ok(p) = p {
            if p["sampled"] == serde_json::json!(true) {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "proof never drawn; log:\n{}",
            node.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for v in validator_keys(node) {
        let Ok(account) = client.account(&v.address()).await else {
            continue;
        };
        let verdict = sign(
            chain_id,
            &v,
            account.nonce,
            "0",
            TxBody::Verdict {
                proof: id,
                valid: true,
            },
        );
        // A key that is not (or no longer) a validator is refused: nothing to do.
        let _ = client.send_raw_transaction(&verdict).await;
    }
}

/// A `0x…` hash from an RPC answer.
pub fn hash32(v: &serde_json::Value) -> [u8; 32] {
    let text = v.as_str().expect("a hash string");
    hex::decode(text.trim_start_matches("0x"))
        .expect("hex")
        .try_into()
        .expect("32 bytes")
}

/// Stops every node, checks that none panicked, and opens their databases.
pub fn stop_and_open(nodes: &mut [NodeProc]) -> Vec<ChainState> {
    let mut logs = String::new();
    for n in nodes.iter_mut() {
        n.stop();
        logs.push_str(&n.log_text());
    }
    assert!(!logs.contains("panicked"), "a node panicked");
    nodes.iter().map(|n| n.open_chain()).collect()
}

/// Every chain holds the same block at each height they all reached, and chains at the same
/// height the same state root. Returns that common height.
pub fn assert_agree(chains: &[ChainState]) -> u64 {
    let top = chains.iter().map(|c| c.height()).min().unwrap();
    for h in 1..=top {
        let first = chains[0].store().block(h).unwrap().unwrap().hash();
        for (i, c) in chains.iter().enumerate().skip(1) {
            assert_eq!(
                c.store().block(h).unwrap().unwrap().hash(),
                first,
                "node {i} differs at height {h}"
            );
        }
    }
    for c in &chains[1..] {
        if c.height() == chains[0].height() {
            assert_eq!(c.ledger().state_root(), chains[0].ledger().state_root());
        }
    }
    top
}
