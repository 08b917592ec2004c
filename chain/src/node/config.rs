//! A node's home directory and its configuration file.
//!
//! ```text
//! HOME/
//!   config.toml         ports, peers, block interval (see `NodeConfig`)
//!   genesis.json        the chain this node belongs to
//!   validator_key       hex secp256k1 key that signs votes and proposals (mode 0600)
//!   node_key            hex ed25519 key of the libp2p identity (mode 0600)
//!   node.lock           held (flock) by the one process running this home
//!   data/               RocksDB: blocks, state, indexes (created in data.new, then renamed)
//!   wal/                Malachite's consensus write-ahead log
//! ```
//!
//! Ports follow CometBFT: P2P (consensus) 26656, RPC 26657; transaction gossip uses 26659.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use neuroshard_runtime::{Genesis, SecretKey};
use serde::{Deserialize, Serialize};

pub const DEFAULT_P2P_PORT: u16 = 26656;
pub const DEFAULT_RPC_PORT: u16 = 26657;
pub const DEFAULT_GOSSIP_PORT: u16 = 26659;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {reason}")]
    Io { path: String, reason: String },
    #[error("{path}: {reason}")]
    Invalid { path: String, reason: String },
    #[error("{0} already exists; refusing to overwrite a node home")]
    Exists(String),
    #[error("{0} is in use by another running node")]
    InUse(String),
}

fn io(path: &Path, e: impl ToString) -> ConfigError {
    ConfigError::Io {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

fn invalid(path: &Path, e: impl ToString) -> ConfigError {
    ConfigError::Invalid {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

/// `config.toml`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    pub moniker: String,
    pub p2p: P2pSection,
    pub gossip: GossipSection,
    pub rpc: RpcSection,
    #[serde(default)]
    pub consensus: ConsensusSection,
    #[serde(default)]
    pub blobs: BlobsSection,
}

/// The node's blob store (model weights, momentum, pseudo-gradients it holds and serves).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BlobsSection {
    /// Most bytes of complete blobs kept under `blobs/`.
    pub max_bytes: u64,
}

impl Default for BlobsSection {
    fn default() -> Self {
        BlobsSection {
            max_bytes: 16 << 30,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct P2pSection {
    /// Multiaddr the consensus network listens on, e.g. `/ip4/0.0.0.0/tcp/26656`.
    pub listen: String,
    /// Multiaddrs of peers to stay connected to.
    #[serde(default)]
    pub persistent_peers: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GossipSection {
    /// Multiaddr the transaction gossip listens on.
    pub listen: String,
    #[serde(default)]
    pub peers: Vec<String>,
    /// Inbound connections this node keeps at most on its gossip and blob swarm (a dialer
    /// past it is refused; a peer holds at most 2).
    #[serde(default = "default_max_incoming")]
    pub max_incoming: u32,
}

/// [`GossipSection::max_incoming`] unless the config says otherwise.
pub const DEFAULT_MAX_INCOMING: u32 = 256;

fn default_max_incoming() -> u32 {
    DEFAULT_MAX_INCOMING
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RpcSection {
    /// `host:port` of the JSON-RPC server.
    pub listen: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsensusSection {
    /// Least time between two blocks (CometBFT's `timeout_commit`).
    pub block_interval_ms: u64,
    pub timeout_propose_ms: u64,
    pub timeout_prevote_ms: u64,
    pub timeout_precommit_ms: u64,
    /// Most transactions in one block.
    pub max_block_txs: usize,
}

impl Default for ConsensusSection {
    fn default() -> Self {
        ConsensusSection {
            block_interval_ms: 1000,
            timeout_propose_ms: 3000,
            timeout_prevote_ms: 1000,
            timeout_precommit_ms: 1000,
            max_block_txs: 20_000,
        }
    }
}

impl NodeConfig {
    /// A configuration listening on loopback at the given ports.
    pub fn local(moniker: &str, p2p: u16, rpc: u16, gossip: u16) -> NodeConfig {
        NodeConfig {
            moniker: moniker.to_owned(),
            p2p: P2pSection {
                listen: format!("/ip4/127.0.0.1/tcp/{p2p}"),
                persistent_peers: Vec::new(),
            },
            gossip: GossipSection {
                listen: format!("/ip4/127.0.0.1/tcp/{gossip}"),
                peers: Vec::new(),
                max_incoming: DEFAULT_MAX_INCOMING,
            },
            rpc: RpcSection {
                listen: format!("127.0.0.1:{rpc}"),
            },
            consensus: ConsensusSection::default(),
            blobs: BlobsSection::default(),
        }
    }
}

/// Paths in a node home.
#[derive(Clone, Debug)]
pub struct Home {
    pub dir: PathBuf,
}

impl Home {
    pub fn new(dir: impl Into<PathBuf>) -> Home {
        Home { dir: dir.into() }
    }
    pub fn config(&self) -> PathBuf {
        self.dir.join("config.toml")
    }
    pub fn genesis(&self) -> PathBuf {
        self.dir.join("genesis.json")
    }
    pub fn validator_key(&self) -> PathBuf {
        self.dir.join("validator_key")
    }
    pub fn node_key(&self) -> PathBuf {
        self.dir.join("node_key")
    }
    pub fn data(&self) -> PathBuf {
        self.dir.join("data")
    }
    /// Content-addressed blobs this node holds (see [`crate::blobs`]).
    pub fn blobs(&self) -> PathBuf {
        self.dir.join("blobs")
    }
    /// Round models and outer momentum files (`<version>.safetensors`).
    pub fn models(&self) -> PathBuf {
        self.dir.join("models")
    }
    /// The compute worker's key (its PoNW node id), created on the node's first training run.
    pub fn worker_key(&self) -> PathBuf {
        self.dir.join("worker_key")
    }
    /// The end of the last batch range this home's node key signed a proof over (the worker's
    /// watermark: it never signs an overlapping proof, even for a proof that never committed).
    pub fn signed_batches(&self) -> PathBuf {
        self.dir.join("signed_batches")
    }
    /// Which registered node served this home the corpus it fetched from peers (the pin and
    /// the server's address, hex): what its training proofs name as their data server after a
    /// restart, when the corpus blobs are already held.
    pub fn corpus_server(&self) -> PathBuf {
        self.dir.join("corpus_server")
    }
    /// Malachite's consensus write-ahead log. The file name carries the engine's release line:
    /// a log written by another line is not read (the sign state still guards every vote).
    pub fn wal(&self) -> PathBuf {
        self.dir.join("wal").join("consensus-0.8.wal")
    }
    /// The last vote the validator key signed here (see [`crate::consensus::SignState`]).
    pub fn sign_state(&self) -> PathBuf {
        self.dir.join("sign_state")
    }

    /// The lock file a running node holds.
    pub fn lock_file(&self) -> PathBuf {
        self.dir.join("node.lock")
    }

    pub fn is_initialised(&self) -> bool {
        self.config().exists()
    }

    /// Claims this home for this process (creating the directory if needed): an exclusive lock
    /// on `node.lock`, held until the [`HomeLock`] drops or the process dies (the kernel releases
    /// it, so a killed node never leaves a stale lock). [`ConfigError::InUse`] if another process
    /// holds it.
    pub fn lock(&self) -> Result<HomeLock, ConfigError> {
        fs::create_dir_all(&self.dir).map_err(|e| io(&self.dir, e))?;
        let path = self.lock_file();
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| io(&path, e))?;
        match file.try_lock() {
            Ok(()) => Ok(HomeLock {
                home: self.clone(),
                _file: file,
            }),
            Err(fs::TryLockError::WouldBlock) => {
                Err(ConfigError::InUse(self.dir.display().to_string()))
            }
            Err(fs::TryLockError::Error(e)) => Err(io(&path, e)),
        }
    }

    /// Writes a new home: config, genesis, keys. Refuses to touch an existing one.
    pub fn init(
        &self,
        config: &NodeConfig,
        genesis_json: &str,
        validator_key: &SecretKey,
        node_key: [u8; 32],
    ) -> Result<(), ConfigError> {
        if self.config().exists() {
            return Err(ConfigError::Exists(self.config().display().to_string()));
        }
        fs::create_dir_all(&self.dir).map_err(|e| io(&self.dir, e))?;
        let text = toml::to_string_pretty(config).map_err(|e| invalid(&self.config(), e))?;
        write_file(&self.genesis(), genesis_json.as_bytes(), false)?;
        write_file(
            &self.validator_key(),
            validator_key.to_token().as_bytes(),
            true,
        )?;
        write_file(&self.node_key(), hex::encode(node_key).as_bytes(), true)?;
        // Last: a home with a config is complete.
        write_file(&self.config(), text.as_bytes(), false)
    }

    pub fn load_config(&self) -> Result<NodeConfig, ConfigError> {
        let path = self.config();
        let text = fs::read_to_string(&path).map_err(|e| io(&path, e))?;
        toml::from_str(&text).map_err(|e| invalid(&path, e))
    }

    pub fn save_config(&self, config: &NodeConfig) -> Result<(), ConfigError> {
        let text = toml::to_string_pretty(config).map_err(|e| invalid(&self.config(), e))?;
        write_file(&self.config(), text.as_bytes(), false)
    }

    pub fn load_genesis(&self) -> Result<Genesis, ConfigError> {
        let path = self.genesis();
        let text = fs::read_to_string(&path).map_err(|e| io(&path, e))?;
        Genesis::from_json(&text).map_err(|e| invalid(&path, e))
    }

    pub fn load_validator_key(&self) -> Result<SecretKey, ConfigError> {
        let path = self.validator_key();
        let text = fs::read_to_string(&path).map_err(|e| io(&path, e))?;
        let bytes = parse_hex32(text.trim()).map_err(|e| invalid(&path, e))?;
        SecretKey::from_bytes(&bytes).map_err(|e| invalid(&path, e))
    }

    /// The compute worker's key, created (mode 0600) if this home has none yet.
    pub fn load_or_create_worker_key(&self) -> Result<SecretKey, ConfigError> {
        let path = self.worker_key();
        if !path.exists() {
            write_file(&path, hex::encode(random_key()).as_bytes(), true)?;
        }
        let text = fs::read_to_string(&path).map_err(|e| io(&path, e))?;
        let bytes = parse_hex32(text.trim()).map_err(|e| invalid(&path, e))?;
        SecretKey::from_bytes(&bytes).map_err(|e| invalid(&path, e))
    }

    pub fn load_node_key(&self) -> Result<[u8; 32], ConfigError> {
        let path = self.node_key();
        let text = fs::read_to_string(&path).map_err(|e| io(&path, e))?;
        parse_hex32(text.trim()).map_err(|e| invalid(&path, e))
    }
}

/// A home claimed by this process (see [`Home::lock`]).
#[derive(Debug)]
pub struct HomeLock {
    home: Home,
    _file: fs::File,
}

impl HomeLock {
    pub fn home(&self) -> &Home {
        &self.home
    }
}

fn parse_hex32(text: &str) -> Result<[u8; 32], String> {
    let bytes = hex::decode(text).map_err(|_| "not a hex key".to_owned())?;
    bytes
        .try_into()
        .map_err(|_| "a key is 32 bytes (64 hex digits)".to_owned())
}

/// Writes `bytes` to `path` (mode 0600 when `secret`).
pub fn write_file(path: &Path, bytes: &[u8], secret: bool) -> Result<(), ConfigError> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let _ = secret;
    let mut file = options.open(path).map_err(|e| io(path, e))?;
    file.write_all(bytes).map_err(|e| io(path, e))?;
    file.sync_all().map_err(|e| io(path, e))
}

/// 32 bytes from the operating system's random source.
pub fn random_key() -> [u8; 32] {
    use rand::RngCore;
    let mut key = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut key);
    key
}
