//! The typed client of the node's JSON-RPC.

use std::time::Duration;

use jsonrpsee::core::client::ClientT;
use jsonrpsee::http_client::{HttpClient, HttpClientBuilder};
use jsonrpsee::rpc_params;
use neuroshard_runtime::{Address, Hash32, SignedTransaction};

use crate::types::{AccountInfo, ValidatorEntry};

/// `neuro_status`: the node's own status type.
pub use neuroshard_chain::node::Status;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("node at {url} is unreachable: {reason}")]
    Unreachable { url: String, reason: String },
    /// The node answered with a JSON-RPC error.
    #[error("{message} (code {code})")]
    Rpc { code: i32, message: String },
    #[error("unexpected answer: {0}")]
    Unexpected(String),
}

pub struct RpcClient {
    url: String,
    http: HttpClient,
}

impl RpcClient {
    pub fn new(url: &str) -> Result<RpcClient, ClientError> {
        let http = HttpClientBuilder::default()
            .request_timeout(Duration::from_secs(30))
            .build(url)
            .map_err(|e| ClientError::Unreachable {
                url: url.to_owned(),
                reason: e.to_string(),
            })?;
        Ok(RpcClient {
            url: url.to_owned(),
            http,
        })
    }

    fn error(&self, e: jsonrpsee::core::ClientError) -> ClientError {
        match e {
            jsonrpsee::core::ClientError::Call(obj) => ClientError::Rpc {
                code: obj.code(),
                message: obj.message().to_owned(),
            },
            jsonrpsee::core::ClientError::ParseError(e) => ClientError::Unexpected(e.to_string()),
            other => ClientError::Unreachable {
                url: self.url.clone(),
                reason: other.to_string(),
            },
        }
    }

    pub async fn status(&self) -> Result<Status, ClientError> {
        self.http
            .request("neuro_status", rpc_params![])
            .await
            .map_err(|e| self.error(e))
    }

    pub async fn account(&self, address: &Address) -> Result<AccountInfo, ClientError> {
        self.http
            .request("neuro_getAccount", rpc_params![address.to_string()])
            .await
            .map_err(|e| self.error(e))
    }

    pub async fn validators(&self) -> Result<Vec<ValidatorEntry>, ClientError> {
        self.http
            .request("neuro_getValidators", rpc_params![])
            .await
            .map_err(|e| self.error(e))
    }

    /// Any method, raw JSON in and out (for the explorer methods).
    pub async fn call(
        &self,
        method: &str,
        params: Vec<serde_json::Value>,
    ) -> Result<serde_json::Value, ClientError> {
        let mut p = jsonrpsee::core::params::ArrayParams::new();
        for v in params {
            p.insert(v)
                .map_err(|e| ClientError::Unexpected(e.to_string()))?;
        }
        self.http
            .request(method, p)
            .await
            .map_err(|e| self.error(e))
    }

    /// The committed transaction and its receipt, or `None` if not (yet) committed.
    pub async fn transaction(
        &self,
        hash: &Hash32,
    ) -> Result<Option<serde_json::Value>, ClientError> {
        match self
            .call(
                "neuro_getTransaction",
                vec![format!("0x{}", hex::encode(hash)).into()],
            )
            .await
        {
            Ok(v) => Ok(Some(v)),
            Err(ClientError::Rpc { code, .. }) if code == crate::codes::NOT_FOUND => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Submits raw transaction bytes; returns the transaction hash.
    pub async fn send_raw_transaction(&self, bytes: &[u8]) -> Result<Hash32, ClientError> {
        let hash: String = self
            .http
            .request(
                "neuro_sendRawTransaction",
                rpc_params![format!("0x{}", hex::encode(bytes))],
            )
            .await
            .map_err(|e| self.error(e))?;
        let raw = hex::decode(hash.trim_start_matches("0x"))
            .map_err(|e| ClientError::Unexpected(e.to_string()))?;
        raw.try_into()
            .map_err(|_| ClientError::Unexpected(format!("hash {hash} is not 32 bytes")))
    }

    pub async fn send_transaction(&self, tx: &SignedTransaction) -> Result<Hash32, ClientError> {
        self.send_raw_transaction(&tx.encode()).await
    }
}
