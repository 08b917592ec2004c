//! Genesis: the chain's identity, bootstrap validators and parameters, and nothing minted.
//!
//! The JSON schema is documented in `genesis/README.md`. A genesis is refused if it gives any
//! account a balance (no pre-mine), lists any account at all, or claims a non-zero
//! `total_minted`.

use serde::{Deserialize, Serialize};

use crate::amount::Amount;
use crate::beacon::BeaconKey;
use crate::crypto::PublicKey;
use crate::error::GenesisError;
use crate::params::Params;

/// The embedded single-validator development genesis (`genesis/dev.json`).
pub const DEV_GENESIS_JSON: &str = include_str!("../../genesis/dev.json");

/// Token of the development chain's only validator. Public on purpose: the dev chain is local and
/// worthless; never use this key on any other chain.
pub const DEV_VALIDATOR_TOKEN: &str =
    "dc100b31fd3ab51fab5dbcc608fb11f54984ca4f27affad553cab365d4c55276";

/// A bootstrap validator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisValidator {
    #[serde(default)]
    pub name: String,
    pub public_key: PublicKey,
    pub power: u64,
    /// Its beacon key (`BeaconSecret::derive` of its secret key's public half): what its
    /// beacon signatures, the draw's randomness, are checked against.
    pub beacon_key: BeaconKey,
}

impl GenesisValidator {
    /// The entry for the validator whose consensus key is `key`, with its derived beacon key.
    pub fn for_key(name: &str, key: &crate::crypto::SecretKey, power: u64) -> GenesisValidator {
        GenesisValidator {
            name: name.to_owned(),
            public_key: key.public_key(),
            power,
            beacon_key: crate::beacon::BeaconSecret::derive(key).public_key(),
        }
    }
}

/// A genesis file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Genesis {
    pub chain_id: String,
    /// RFC 3339 UTC, e.g. `2026-01-01T00:00:00Z`.
    pub genesis_time: String,
    /// Must be `"0"` (or absent).
    #[serde(default = "zero_minted")]
    pub total_minted: serde_json::Value,
    pub validators: Vec<GenesisValidator>,
    pub params: Params,
    /// Must be empty. Kept loosely typed so that a pre-mine is reported as such, not as a
    /// schema error.
    pub accounts: Vec<serde_json::Value>,
}

fn zero_minted() -> serde_json::Value {
    serde_json::Value::String("0".into())
}

impl Genesis {
    /// Parses and validates a genesis file.
    pub fn from_json(text: &str) -> Result<Genesis, GenesisError> {
        let genesis: Genesis =
            serde_json::from_str(text).map_err(|e| GenesisError::Json(e.to_string()))?;
        genesis.validate()?;
        Ok(genesis)
    }

    /// The embedded development genesis.
    pub fn dev() -> Genesis {
        // The embedded file is checked by a unit test, so this cannot fail in a released build.
        Genesis::from_json(DEV_GENESIS_JSON).expect("genesis/dev.json is valid")
    }

    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Genesis time in Unix milliseconds.
    pub fn genesis_time_ms(&self) -> Result<u64, GenesisError> {
        let bad = |why: String| GenesisError::BadTime(format!("{:?}: {why}", self.genesis_time));
        let t = humantime::parse_rfc3339(&self.genesis_time).map_err(|e| bad(e.to_string()))?;
        let since = t
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|e| bad(e.to_string()))?;
        u64::try_from(since.as_millis()).map_err(|e| bad(e.to_string()))
    }

    /// Every rule a genesis must satisfy; the first broken one is returned.
    pub fn validate(&self) -> Result<(), GenesisError> {
        self.check_no_premine()?;
        let id_ok = !self.chain_id.is_empty()
            && self.chain_id.len() <= 64
            && self
                .chain_id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !id_ok {
            return Err(GenesisError::BadChainId);
        }
        self.genesis_time_ms()?;
        if self.validators.is_empty() {
            return Err(GenesisError::NoValidators);
        }
        let mut seen = std::collections::BTreeSet::new();
        for v in &self.validators {
            if !seen.insert(v.public_key.address()) {
                return Err(GenesisError::DuplicateValidator(v.public_key.to_string()));
            }
            if v.power == 0 {
                return Err(GenesisError::ZeroPower(v.public_key.to_string()));
            }
            if v.power > self.params.max_validator_power {
                return Err(GenesisError::InvalidParam {
                    name: "validators.power",
                    reason: format!(
                        "validator {} has power {}, above max_validator_power {}",
                        v.public_key, v.power, self.params.max_validator_power
                    ),
                });
            }
        }
        self.params.validate()
    }

    fn check_no_premine(&self) -> Result<(), GenesisError> {
        let is_zero = |v: &serde_json::Value| match v {
            serde_json::Value::String(s) => s.parse::<Amount>().is_ok_and(|a| a.is_zero()),
            serde_json::Value::Number(n) => n.as_u64() == Some(0) || n.as_f64() == Some(0.0),
            _ => false,
        };
        if !is_zero(&self.total_minted) {
            return Err(GenesisError::TotalMintedNotZero(
                self.total_minted.to_string(),
            ));
        }
        for account in &self.accounts {
            let balance = account
                .get("balance")
                .cloned()
                .unwrap_or(serde_json::Value::Null);
            if !balance.is_null() && !is_zero(&balance) {
                let address = account
                    .get("address")
                    .and_then(|a| a.as_str())
                    .unwrap_or("<no address>")
                    .to_owned();
                let balance = match balance {
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                };
                return Err(GenesisError::PreMine { address, balance });
            }
        }
        if !self.accounts.is_empty() {
            return Err(GenesisError::AccountsNotEmpty(self.accounts.len()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::SecretKey;

    fn edit(f: impl FnOnce(&mut serde_json::Value)) -> String {
        let mut v: serde_json::Value = serde_json::from_str(DEV_GENESIS_JSON).unwrap();
        f(&mut v);
        v.to_string()
    }

    #[test]
    fn dev_genesis_is_valid_and_names_the_dev_validator() {
        let g = Genesis::dev();
        assert!(g.accounts.is_empty());
        let dev = SecretKey::from_hex_token(DEV_VALIDATOR_TOKEN).unwrap();
        assert_eq!(g.validators.len(), 1);
        assert_eq!(g.validators[0].public_key, dev.public_key());
        assert_eq!(
            g.validators[0].beacon_key,
            crate::beacon::BeaconSecret::derive(&dev).public_key(),
            "genesis/dev.json names the dev validator's derived beacon key"
        );
    }

    #[test]
    fn any_balance_is_a_premine() {
        let text = edit(
            |g| g["accounts"] = serde_json::json!([{"address": "0x00000000000000000000000000000000000000aa", "balance": "1000"}]),
        );
        let err = Genesis::from_json(&text).unwrap_err();
        assert_eq!(
            err,
            GenesisError::PreMine {
                address: "0x00000000000000000000000000000000000000aa".into(),
                balance: "1000".into()
            }
        );
        assert!(err.to_string().contains("pre-mine"));
        let numeric = edit(|g| g["accounts"] = serde_json::json!([{"address": "x", "balance": 5}]));
        assert!(matches!(
            Genesis::from_json(&numeric),
            Err(GenesisError::PreMine { .. })
        ));
        let tiny = edit(|g| {
            g["accounts"] = serde_json::json!([{"address": "x", "balance": "0.000000000000000001"}])
        });
        assert!(matches!(
            Genesis::from_json(&tiny),
            Err(GenesisError::PreMine { .. })
        ));
    }

    #[test]
    fn empty_accounts_rule_and_minted_counter() {
        let zero = edit(|g| g["accounts"] = serde_json::json!([{"address": "x", "balance": "0"}]));
        assert_eq!(
            Genesis::from_json(&zero),
            Err(GenesisError::AccountsNotEmpty(1))
        );
        let minted = edit(|g| g["total_minted"] = serde_json::json!("21000000"));
        assert!(matches!(
            Genesis::from_json(&minted),
            Err(GenesisError::TotalMintedNotZero(_))
        ));
        let ok = edit(|g| g["total_minted"] = serde_json::json!(0));
        Genesis::from_json(&ok).unwrap();
    }

    #[test]
    fn schema_errors_are_clear() {
        let typo = edit(|g| g["balances"] = serde_json::json!({}));
        assert!(
            matches!(Genesis::from_json(&typo), Err(GenesisError::Json(m)) if m.contains("balances"))
        );
        let no_vals = edit(|g| g["validators"] = serde_json::json!([]));
        assert_eq!(
            Genesis::from_json(&no_vals),
            Err(GenesisError::NoValidators)
        );
        let bad_id = edit(|g| g["chain_id"] = serde_json::json!("Neuro Shard"));
        assert_eq!(Genesis::from_json(&bad_id), Err(GenesisError::BadChainId));
        let bad_time = edit(|g| g["genesis_time"] = serde_json::json!("yesterday"));
        assert!(matches!(
            Genesis::from_json(&bad_time),
            Err(GenesisError::BadTime(_))
        ));
        let dup = edit(|g| {
            let v = g["validators"][0].clone();
            g["validators"].as_array_mut().unwrap().push(v);
        });
        assert!(matches!(
            Genesis::from_json(&dup),
            Err(GenesisError::DuplicateValidator(_))
        ));
        let float_amount = edit(|g| g["params"]["min_fee"] = serde_json::json!(0.0001));
        assert!(matches!(
            Genesis::from_json(&float_amount),
            Err(GenesisError::Json(_))
        ));
        assert!(matches!(
            Genesis::from_json("not json"),
            Err(GenesisError::Json(_))
        ));
    }
}
