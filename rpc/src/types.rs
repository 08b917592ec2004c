//! JSON shapes of the RPC answers. Amounts are strings: base units and NEURO, never floats.

use serde::{Deserialize, Serialize};

/// `neuro_getAccount`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountInfo {
    pub address: String,
    /// Base units (1 NEURO = 10^18).
    pub balance: String,
    pub balance_neuro: String,
    pub nonce: u64,
    pub stake: String,
    pub stake_neuro: String,
    pub unbonding: String,
}

/// One entry of `neuro_getValidators`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ValidatorEntry {
    pub address: String,
    pub public_key: String,
    pub power: u64,
    /// Jailed for misbehaviour (for good).
    pub jailed: bool,
    /// Jailed for downtime: the block time from which it may unjail.
    #[serde(default)]
    pub down_until_ms: Option<u64>,
    pub stake: String,
}
