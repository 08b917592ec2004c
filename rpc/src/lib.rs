//! # neuroshard-rpc
//!
//! The node's JSON-RPC 2.0 interface (jsonrpsee, HTTP and WebSocket on one port, CometBFT's 26657 by
//! default) and the typed client that the wallet and the tests use. Methods are documented in
//! `rpc/README.md`; error codes are in [`codes`]. The same port serves the Ledger Explorer web
//! page at `/` ([`page`]).

pub mod client;
pub mod explorer;
pub mod gov;
pub mod listener;
pub mod page;
pub mod server;
pub mod training;
pub mod types;

pub use client::RpcClient;
pub use listener::Limits;
pub use server::{serve, serve_with, serve_with_limits};

/// JSON-RPC error codes of the `neuro_` methods.
pub mod codes {
    /// Parameters of the wrong type or shape (JSON-RPC's own code).
    pub const INVALID_PARAMS: i32 = -32602;
    /// The transaction bytes are not a transaction (bad hex, bad encoding, trailing bytes).
    pub const TX_MALFORMED: i32 = -32001;
    /// The transaction is well formed but invalid now: bad signature, wrong chain, nonce replayed,
    /// fee too low, insufficient funds, or a body that would fail.
    pub const TX_REJECTED: i32 = -32002;
    /// The mempool cannot take it: full, or another transaction holds that nonce.
    pub const MEMPOOL: i32 = -32003;
    /// The node could not read its own storage.
    pub const INTERNAL: i32 = -32000;
    /// No such block or transaction (unknown hash, height beyond the chain).
    pub const NOT_FOUND: i32 = -32004;
    /// An inference payment that does not pay for the request (wrong recipient, purpose or
    /// amount, already used, or failed on chain).
    pub const PAYMENT: i32 = -32005;
    /// The node cannot serve the request yet (an inference node that does not hold the current
    /// round's model and cannot fetch it now); nothing was taken: try again shortly.
    pub const NOT_READY: i32 = -32006;
}
