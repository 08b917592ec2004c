//! The JSON-RPC server over a running node: HTTP and WebSocket on one port, with the explorer
//! page (`page.rs`) at `/`.

use std::net::SocketAddr;

use jsonrpsee::server::{
    PendingSubscriptionSink, PingConfig, RpcModule, Server, ServerConfig, ServerHandle,
    SubscriptionMessage,
};
use jsonrpsee::types::ErrorObjectOwned;
use neuroshard_chain::node::{NodeApi, SubmitError};
use serde_json::{json, Value};

use crate::codes;
use crate::explorer::{self, amount, err, parse_address};
use crate::listener::Limits;

/// Largest request body (a transaction is at most 64 KiB, hex doubles it).
const MAX_REQUEST_BYTES: u32 = 512 * 1024;
/// Largest response (a full block of transactions).
const MAX_RESPONSE_BYTES: u32 = 32 * 1024 * 1024;
/// How often WebSocket clients are pinged.
const WS_PING: std::time::Duration = std::time::Duration::from_secs(30);
const MAX_BATCH: u32 = 100;
const MAX_SUBSCRIPTIONS_PER_CONNECTION: u32 = 64;

/// The OpenRPC document served by `rpc.discover`.
pub const OPENRPC: &str = include_str!("../openrpc.json");

fn submit_error(e: SubmitError) -> ErrorObjectOwned {
    let code = match &e {
        SubmitError::Malformed(_) => codes::TX_MALFORMED,
        SubmitError::Rejected(_) => codes::TX_REJECTED,
        SubmitError::Mempool(_) => codes::MEMPOOL,
        SubmitError::Storage(_) => codes::INTERNAL,
    };
    err(code, e.to_string())
}

fn account_json(
    api: &NodeApi,
    address: &neuroshard_runtime::Address,
) -> Result<Value, ErrorObjectOwned> {
    let (account, validator) = api.with_chain(|c| {
        let account = c.ledger().account(address);
        let validator = c
            .ledger()
            .validators()
            .map(|vs| vs.into_iter().find(|v| v.address == *address));
        (account, validator)
    });
    let account = account.map_err(|e| err(codes::INTERNAL, e.to_string()))?;
    let validator = validator.map_err(|e| err(codes::INTERNAL, e.to_string()))?;
    Ok(json!({
        "address": address,
        "balance": account.balance.0.to_string(),
        "balanceNeuro": account.balance.to_neuro_string(),
        "nonce": account.nonce,
        "stake": account.stake.0.to_string(),
        "stakeNeuro": account.stake.to_neuro_string(),
        "unbonding": account.unbonding_total().0.to_string(),
        "pending": amount(account.pending),
        "bond": amount(account.bond),
        "bondReserved": amount(account.bond_reserved),
        "unbondingEntries": account.unbonding.iter().map(|u| json!({
            "amount": amount(u.amount), "maturesAtMs": u.matures_at_ms
        })).collect::<Vec<_>>(),
        "validator": validator.map(|v| json!({
            "power": v.record.power, "jailed": v.record.jailed,
            "downUntilMs": v.record.down_until_ms,
            "beaconKey": v.record.beacon_key.map(|k| k.to_string()),
        })),
    }))
}

fn head_json(api: &NodeApi) -> Value {
    let s = api.status();
    json!({
        "height": s.height,
        "hash": format!("0x{}", s.latest_block_hash),
        "stateRoot": format!("0x{}", s.state_root),
        "timeMs": s.latest_block_time_ms,
    })
}

fn message(v: &Value) -> Option<SubscriptionMessage> {
    serde_json::value::to_raw_value(v)
        .ok()
        .map(SubscriptionMessage::from)
}

/// The RPC methods over `api`.
pub fn module(api: NodeApi) -> Result<RpcModule<NodeApi>, jsonrpsee::core::RegisterMethodError> {
    let mut module = RpcModule::new(api);
    module.register_method("neuro_status", |_params, api, _| {
        Ok::<_, ErrorObjectOwned>(api.status())
    })?;
    module.register_blocking_method("neuro_sendRawTransaction", |params, api, _| {
        let hex_tx: String = params
            .one()
            .map_err(|e| err(codes::INVALID_PARAMS, e.message()))?;
        let bytes = hex::decode(hex_tx.trim_start_matches("0x"))
            .map_err(|e| err(codes::TX_MALFORMED, format!("transaction is not hex: {e}")))?;
        let hash = api.submit(&bytes).map_err(submit_error)?;
        Ok::<_, ErrorObjectOwned>(format!("0x{}", hex::encode(hash)))
    })?;
    module.register_blocking_method("neuro_getAccount", |params, api, _| {
        let text: String = params
            .one()
            .map_err(|e| err(codes::INVALID_PARAMS, e.message()))?;
        account_json(&api, &parse_address(&text)?)
    })?;
    module.register_blocking_method("neuro_getValidators", |_params, api, _| {
        let validators = api
            .with_chain(|c| c.ledger().validators())
            .map_err(|e| err(codes::INTERNAL, e.to_string()))?;
        Ok::<_, ErrorObjectOwned>(
            validators
                .into_iter()
                .map(|v| {
                    json!({
                        "address": v.address,
                        "publicKey": v.record.public_key.to_string(),
                        "power": v.record.power,
                        "jailed": v.record.jailed,
                        "downUntilMs": v.record.down_until_ms,
                        "proposals": v.record.liveness.expected,
                        "missed": v.record.liveness.missed,
                        "beaconKey": v.record.beacon_key.map(|k| k.to_string()),
                        "stake": v.stake.0.to_string(),
                    })
                })
                .collect::<Vec<_>>(),
        )
    })?;
    explorer::register(&mut module)?;
    crate::training::register(&mut module)?;
    crate::gov::register(&mut module)?;
    module.register_method("rpc.discover", |_params, _api, _| {
        serde_json::from_str::<Value>(OPENRPC).map_err(|e| err(codes::INTERNAL, e.to_string()))
    })?;

    module.register_subscription(
        "neuro_subscribeNewHeads",
        "neuro_newHead",
        "neuro_unsubscribeNewHeads",
        |_params, pending: PendingSubscriptionSink, api, _| async move {
            let Ok(sink) = pending.accept().await else {
                return;
            };
            let mut heads = api.subscribe();
            while heads.changed().await.is_ok() {
                let Some(msg) = message(&head_json(&api)) else {
                    return;
                };
                if sink.send(msg).await.is_err() {
                    return;
                }
            }
        },
    )?;

    module.register_subscription(
        "neuro_subscribeAccount",
        "neuro_accountChanged",
        "neuro_unsubscribeAccount",
        |params, pending: PendingSubscriptionSink, api, _| async move {
            let address = match params.one::<String>() {
                Ok(a) => match parse_address(&a) {
                    Ok(a) => a,
                    Err(e) => {
                        pending.reject(e).await;
                        return;
                    }
                },
                Err(e) => {
                    pending
                        .reject(err(codes::INVALID_PARAMS, e.message()))
                        .await;
                    return;
                }
            };
            let Ok(sink) = pending.accept().await else {
                return;
            };
            let mut heads = api.subscribe();
            let mut last = account_json(&api, &address).ok();
            while heads.changed().await.is_ok() {
                let now = account_json(&api, &address).ok();
                if now != last {
                    if let Some(msg) = now.as_ref().and_then(message) {
                        if sink.send(msg).await.is_err() {
                            return;
                        }
                    }
                    last = now;
                }
            }
        },
    )?;
    Ok(module)
}

/// Serves the RPC on `addr` until the handle is stopped. Returns the bound address.
pub async fn serve(addr: &str, api: NodeApi) -> std::io::Result<(SocketAddr, ServerHandle)> {
    serve_with(addr, api, jsonrpsee::Methods::new()).await
}

/// [`serve`] plus `extra` methods (the node binary adds inference when it has libtorch).
pub async fn serve_with(
    addr: &str,
    api: NodeApi,
    extra: jsonrpsee::Methods,
) -> std::io::Result<(SocketAddr, ServerHandle)> {
    serve_with_limits(addr, api, extra, Limits::default()).await
}

/// [`serve_with`] within connection `limits` (see [`crate::listener`]).
pub async fn serve_with_limits(
    addr: &str,
    api: NodeApi,
    extra: jsonrpsee::Methods,
    limits: Limits,
) -> std::io::Result<(SocketAddr, ServerHandle)> {
    let config = ServerConfig::builder()
        .max_request_body_size(MAX_REQUEST_BYTES)
        .max_response_body_size(MAX_RESPONSE_BYTES)
        .max_connections(limits.max_connections as u32)
        .max_subscriptions_per_connection(MAX_SUBSCRIPTIONS_PER_CONNECTION)
        .set_batch_request_config(jsonrpsee::server::BatchRequestConfig::Limit(MAX_BATCH))
        // A WebSocket client that stops answering pings is closed.
        .enable_ws_ping(
            PingConfig::new()
                .ping_interval(WS_PING)
                .inactive_limit(WS_PING * 2),
        )
        .build();
    let page = crate::page::PageLayer::new(neuroshard_chain::node::Home::new(api.home()).models());
    let builder = Server::builder()
        .set_config(config)
        .set_http_middleware(tower::ServiceBuilder::new().layer(page))
        .to_service_builder();
    let mut module = module(api).map_err(|e| std::io::Error::other(e.to_string()))?;
    module
        .merge(extra)
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let methods: jsonrpsee::Methods = module.into();
    crate::listener::serve(addr, limits, move |stop| {
        builder.clone().build(methods.clone(), stop)
    })
    .await
}
