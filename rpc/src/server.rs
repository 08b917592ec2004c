//! The JSON-RPC server over a running node.

use std::net::SocketAddr;

use jsonrpsee::server::{RpcModule, Server, ServerConfig, ServerHandle};
use jsonrpsee::types::ErrorObjectOwned;
use neuroshard_chain::node::{NodeApi, SubmitError};

use neuroshard_runtime::Address;

use crate::codes;
use crate::types::{AccountInfo, ValidatorEntry};

/// Largest request body (a transaction is at most 64 KiB, hex doubles it).
const MAX_REQUEST_BYTES: u32 = 512 * 1024;
const MAX_CONNECTIONS: u32 = 1024;

fn submit_error(e: SubmitError) -> ErrorObjectOwned {
    let code = match &e {
        SubmitError::Malformed(_) => codes::TX_MALFORMED,
        SubmitError::Rejected(_) => codes::TX_REJECTED,
        SubmitError::Mempool(_) => codes::MEMPOOL,
        SubmitError::Storage(_) => codes::INTERNAL,
    };
    ErrorObjectOwned::owned(code, e.to_string(), None::<()>)
}

/// The RPC methods over `api`.
pub fn module(api: NodeApi) -> RpcModule<NodeApi> {
    let mut module = RpcModule::new(api);
    module
        .register_method("neuro_status", |_params, api, _| {
            Ok::<_, ErrorObjectOwned>(api.status())
        })
        .expect("method names are unique");
    module
        .register_blocking_method("neuro_sendRawTransaction", |params, api, _| {
            let hex_tx: String = params.one().map_err(invalid_params)?;
            let bytes = hex::decode(hex_tx.trim_start_matches("0x")).map_err(|e| {
                ErrorObjectOwned::owned(
                    codes::TX_MALFORMED,
                    format!("transaction is not hex: {e}"),
                    None::<()>,
                )
            })?;
            let hash = api.submit(&bytes).map_err(submit_error)?;
            Ok::<_, ErrorObjectOwned>(format!("0x{}", hex::encode(hash)))
        })
        .expect("method names are unique");
    module
        .register_blocking_method("neuro_getAccount", |params, api, _| {
            let text: String = params.one().map_err(invalid_params)?;
            let address: Address = text.parse().map_err(|_| {
                ErrorObjectOwned::owned(
                    codes::INVALID_PARAMS,
                    format!("{text:?} is not an address (0x + 40 hex digits)"),
                    None::<()>,
                )
            })?;
            let account = api
                .with_chain(|c| c.ledger().account(&address))
                .map_err(internal)?;
            Ok::<_, ErrorObjectOwned>(AccountInfo {
                address: address.to_string(),
                balance: account.balance.0.to_string(),
                balance_neuro: account.balance.to_neuro_string(),
                nonce: account.nonce,
                stake: account.stake.0.to_string(),
                stake_neuro: account.stake.to_neuro_string(),
                unbonding: account.unbonding_total().0.to_string(),
            })
        })
        .expect("method names are unique");
    module
        .register_blocking_method("neuro_getValidators", |_params, api, _| {
            let validators = api
                .with_chain(|c| c.ledger().validators())
                .map_err(internal)?;
            Ok::<_, ErrorObjectOwned>(
                validators
                    .into_iter()
                    .map(|v| ValidatorEntry {
                        address: v.address.to_string(),
                        public_key: v.record.public_key.to_string(),
                        power: v.record.power,
                        jailed: v.record.jailed,
                        stake: v.stake.0.to_string(),
                    })
                    .collect::<Vec<_>>(),
            )
        })
        .expect("method names are unique");
    module
}

fn invalid_params(e: jsonrpsee::types::ErrorObjectOwned) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(codes::INVALID_PARAMS, e.message().to_owned(), None::<()>)
}

fn internal(e: impl std::fmt::Display) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(codes::INTERNAL, e.to_string(), None::<()>)
}

/// Serves the RPC on `addr` until the handle is stopped. Returns the bound address.
pub async fn serve(addr: &str, api: NodeApi) -> std::io::Result<(SocketAddr, ServerHandle)> {
    let config = ServerConfig::builder()
        .max_request_body_size(MAX_REQUEST_BYTES)
        .max_connections(MAX_CONNECTIONS)
        .build();
    let server = Server::builder().set_config(config).build(addr).await?;
    let local = server.local_addr()?;
    let handle = server.start(module(api));
    Ok((local, handle))
}
