//! Parameter changes by name, and the rules no vote can break.
//!
//! A change names a parameter as `genesis/README.md` does (`reward_per_batch`,
//! `gov.quorum_bps`, `training.verify_sample_bps`) and gives its new value as the genesis file
//! would spell it (`"0.001"` for an amount, `60000` for a number). [`apply`] writes the changes
//! into a copy of the parameters through the same JSON schema genesis is parsed with, so a value
//! of the wrong type is refused as genesis would refuse it, then runs genesis validation on the
//! result. What the FAQ puts out of NeuroDAO's reach is refused by name first.

use borsh::{BorshDeserialize, BorshSerialize};
use serde_json::Value;

use crate::error::GovError;
use crate::params::Params;

/// Set parameter `name` to `value` (JSON text, or a bare word for a text parameter).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct ParamChange {
    pub name: String,
    pub value: String,
}

impl ParamChange {
    pub fn new(name: &str, value: &str) -> ParamChange {
        ParamChange {
            name: name.to_owned(),
            value: value.to_owned(),
        }
    }
}

/// Training parameters a vote may change: they steer the ledger's checks, not the work a
/// proof's replay recomputes.
const GOVERNABLE_TRAINING: [&str; 2] = [
    "training.verify_sample_bps",
    "training.newcomer_replay_batches_per_hour",
];

const NO_MINT: &str = "NeuroDAO cannot mint or move a balance (FAQ): NEURO is minted only for \
                       checked work and moved only by its holder's signature";
const NO_MODEL_SIZE: &str = "the model's size is not voted on (FAQ: model size is automatic, \
                             based on network capacity); attention (rope_theta, context) changes \
                             through an architecture proposal, from the next round on";
const PER_ROUND: &str = "defines the work a round trains and every replay recomputes: changed \
                         under proofs in flight, honest replays would disagree with honest proofs";
const OPEN_TO_ALL: &str = "who can participate is not voted on (FAQ: open to all): a vote may \
                           widen the validator set, never narrow it";

/// Why `name` may not be changed by a vote at all, if it may not.
fn forbidden(name: &str) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    let money = ["total_minted", "supply", "accounts", "account", "balance"];
    let names_money = |m: &&str| lower == *m || lower.starts_with(&format!("{m}."));
    if lower.starts_with("mint") || money.iter().any(names_money) {
        return Some(NO_MINT);
    }
    if lower == "model" || lower.starts_with("model.") {
        return Some(NO_MODEL_SIZE);
    }
    if (lower == "training" || lower.starts_with("training."))
        && !GOVERNABLE_TRAINING.contains(&lower.as_str())
    {
        return Some(PER_ROUND);
    }
    None
}

/// The parameters as they would be after `changes`, checked: every name governable and known,
/// every value of its parameter's type, none twice, participation not narrowed, and the result
/// a valid genesis parameter set (ranges and the rules of honest pay).
pub fn apply(params: &Params, changes: &[ParamChange]) -> Result<Params, GovError> {
    if changes.is_empty() {
        return Err(GovError::EmptyProposal);
    }
    if changes.len() > super::MAX_CHANGES {
        return Err(GovError::TooManyChanges {
            max: super::MAX_CHANGES,
        });
    }
    let mut tree = serde_json::to_value(params).map_err(|e| GovError::Internal(e.to_string()))?;
    for (i, change) in changes.iter().enumerate() {
        if changes[..i].iter().any(|c| c.name == change.name) {
            return Err(GovError::DuplicateChange(change.name.clone()));
        }
        if let Some(why) = forbidden(&change.name) {
            return Err(GovError::NotGovernable {
                name: change.name.clone(),
                why,
            });
        }
        let slot = slot(&mut tree, &change.name)
            .ok_or_else(|| GovError::UnknownParam(change.name.clone()))?;
        *slot = typed_value(slot, change)?;
        // Parsed after each change, so a value of the wrong type is named as the one.
        serde_json::from_value::<Params>(tree.clone()).map_err(|e| GovError::BadValue {
            name: change.name.clone(),
            reason: e.to_string(),
        })?;
    }
    let next: Params =
        serde_json::from_value(tree).map_err(|e| GovError::Internal(e.to_string()))?;
    if next.max_validators < params.max_validators {
        return Err(GovError::NotGovernable {
            name: "max_validators".into(),
            why: OPEN_TO_ALL,
        });
    }
    if next.min_validator_stake > params.min_validator_stake {
        return Err(GovError::NotGovernable {
            name: "min_validator_stake".into(),
            why: OPEN_TO_ALL,
        });
    }
    next.validate()
        .map_err(|e| GovError::BreaksRule(e.to_string()))?;
    Ok(next)
}

/// The leaf of `tree` at a dotted path; sections themselves are not leaves.
fn slot<'t>(tree: &'t mut Value, name: &str) -> Option<&'t mut Value> {
    let mut at = tree;
    for part in name.split('.') {
        at = at.as_object_mut()?.get_mut(part)?;
    }
    (!at.is_object()).then_some(at)
}

/// `change.value` as a JSON value of the same kind as `current`: a text parameter (an amount)
/// takes the text as it is, anything else must parse as JSON of its kind.
fn typed_value(current: &Value, change: &ParamChange) -> Result<Value, GovError> {
    let bad = |reason: String| GovError::BadValue {
        name: change.name.clone(),
        reason,
    };
    if change.value.len() > 256 {
        return Err(bad("longer than 256 bytes".into()));
    }
    let parsed = match current {
        Value::String(_) => match serde_json::from_str::<Value>(&change.value) {
            Ok(Value::String(s)) => Value::String(s),
            _ => Value::String(change.value.clone()),
        },
        _ => serde_json::from_str::<Value>(&change.value).map_err(|e| bad(e.to_string()))?,
    };
    let same_kind = matches!(
        (current, &parsed),
        (Value::String(_), Value::String(_))
            | (Value::Number(_), Value::Number(_))
            | (Value::Bool(_), Value::Bool(_))
    );
    if !same_kind {
        return Err(bad(format!("expected a value like {current}")));
    }
    Ok(parsed)
}

/// Every parameter a vote may change, by name, in genesis order.
pub fn governable() -> Vec<String> {
    let tree = serde_json::to_value(Params::mainnet_defaults()).unwrap_or(Value::Null);
    let mut names = Vec::new();
    leaves(&tree, "", &mut names);
    names.retain(|n| forbidden(n).is_none());
    names
}

fn leaves(v: &Value, prefix: &str, out: &mut Vec<String>) {
    match v.as_object() {
        Some(map) => {
            for (k, child) in map {
                let name = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                leaves(child, &name, out);
            }
        }
        None => out.push(prefix.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::amount::Amount;

    #[test]
    fn a_rate_changes_by_name_and_type() {
        let p = Params::mainnet_defaults();
        let next = apply(&p, &[ParamChange::new("reward_per_batch", "0.001")]).unwrap();
        assert_eq!(next.reward_per_batch, "0.001".parse::<Amount>().unwrap());
        let next = apply(&p, &[ParamChange::new("gov.voting_period_ms", "60000")]).unwrap();
        assert_eq!(next.gov.voting_period_ms, 60_000);
        let next = apply(
            &p,
            &[ParamChange::new("training.verify_sample_bps", "1000")],
        )
        .unwrap();
        assert_eq!(next.training.verify_sample_bps, 1_000);
    }

    #[test]
    fn what_the_faq_rules_out_is_refused_by_name() {
        let p = Params::mainnet_defaults();
        for name in [
            "model.layers",
            "model.hidden",
            "total_minted",
            "supply.minted",
            "mint",
        ] {
            let err = apply(&p, &[ParamChange::new(name, "1")]).unwrap_err();
            assert!(
                matches!(err, GovError::NotGovernable { .. }),
                "{name}: {err}"
            );
        }
        let narrow = apply(&p, &[ParamChange::new("max_validators", "4")]).unwrap_err();
        assert!(matches!(narrow, GovError::NotGovernable { .. }), "{narrow}");
        let dearer = apply(&p, &[ParamChange::new("min_validator_stake", "1000")]).unwrap_err();
        assert!(matches!(dearer, GovError::NotGovernable { .. }), "{dearer}");
        let wider = apply(&p, &[ParamChange::new("max_validators", "200")]).unwrap();
        assert_eq!(wider.max_validators, 200);
        let lr = apply(&p, &[ParamChange::new("training.inner_lr_ppm", "5")]).unwrap_err();
        assert!(matches!(lr, GovError::NotGovernable { .. }), "{lr}");
    }

    #[test]
    fn wrong_types_unknown_names_and_broken_rules_are_refused() {
        let p = Params::mainnet_defaults();
        let cases = [
            ("burn_bps", "\"lots\""),
            ("burn_bps", "true"),
            ("reward_per_batch", "-1"),
            ("burn_bps", "70000"),
            ("gov", "1"),
        ];
        for (name, value) in cases {
            assert!(
                apply(&p, &[ParamChange::new(name, value)]).is_err(),
                "{name}={value}"
            );
        }
        assert!(matches!(
            apply(&p, &[ParamChange::new("no_such_thing", "1")]),
            Err(GovError::UnknownParam(_))
        ));
        // The bad one of several is the one named.
        let err = apply(
            &p,
            &[
                ParamChange::new("burn_bps", "100"),
                ParamChange::new("reward_per_batch", "-1"),
            ],
        )
        .unwrap_err();
        assert!(
            matches!(&err, GovError::BadValue { name, .. } if name == "reward_per_batch"),
            "{err}"
        );
        // Honest pay: nothing sampled, or no penalty; and plain ranges.
        for (name, value) in [
            ("training.verify_sample_bps", "0"),
            ("fraud_penalty", "0"),
            ("burn_bps", "10001"),
            ("gov.threshold_bps", "4000"),
            ("gov.quorum_bps", "9000"),
            ("gov.voting_period_ms", "999999999999"),
        ] {
            let err = apply(&p, &[ParamChange::new(name, value)]).unwrap_err();
            assert!(
                matches!(err, GovError::BreaksRule(_)),
                "{name}={value}: {err}"
            );
        }
        assert!(matches!(
            apply(
                &p,
                &[
                    ParamChange::new("burn_bps", "100"),
                    ParamChange::new("burn_bps", "200")
                ]
            ),
            Err(GovError::DuplicateChange(_))
        ));
        assert_eq!(apply(&p, &[]), Err(GovError::EmptyProposal));
    }

    #[test]
    fn the_governable_list_leaves_out_what_is_forbidden() {
        let names = governable();
        assert!(names.contains(&"reward_per_batch".to_owned()));
        assert!(names.contains(&"gov.min_deposit".to_owned()));
        assert!(names.contains(&"training.verify_sample_bps".to_owned()));
        assert!(!names.iter().any(|n| n.starts_with("model.")));
        assert!(!names.contains(&"training.batch_size".to_owned()));
    }
}
