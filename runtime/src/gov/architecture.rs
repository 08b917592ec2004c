//! Architecture changes: a new NeuroLLM version that a training round opens with.
//!
//! The FAQ lets NeuroDAO vote on architecture changes (the attention mechanism, the tokenizer)
//! but not on the model's size. What a vote may change here is what keeps every weight's shape,
//! so the next round trains on from the weights the last round produced, with no conversion
//! that validators would have to check: the rotary base of attention (`rope_theta`) and the
//! context the attention spans (`context`, never below the training sequence length). Changes
//! that reshape weights (grouped-query heads, the tokenizer's vocabulary) are refused until a
//! checked conversion exists.
//!
//! A change that passed waits for its height, then for the next round to open
//! (`RoundRecord` of that round is the boundary): from that round on, `params.model` is the new
//! shape with `version + 1`, and [`super::ArchitectureHistory`] keeps which round trained which
//! shape, so a proof of an earlier round is still replayed as it was trained.

use borsh::{BorshDeserialize, BorshSerialize};

use crate::error::GovError;
use crate::params::{ModelParams, Params};

/// What an architecture proposal changes; `None` keeps the value.
#[derive(Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct ArchitectureChange {
    /// Rotary position embedding base of attention.
    pub rope_theta: Option<u32>,
    /// Longest sequence attention spans.
    pub context: Option<u32>,
}

/// The model after `change`, checked against `params` (its training sequence length included):
/// a new version number, every genesis rule still met.
pub fn apply(
    params: &Params,
    model: &ModelParams,
    change: &ArchitectureChange,
) -> Result<ModelParams, GovError> {
    if change.rope_theta.is_none() && change.context.is_none() {
        return Err(GovError::EmptyProposal);
    }
    let mut next = model.clone();
    if let Some(theta) = change.rope_theta {
        if theta == 0 {
            return Err(GovError::BadValue {
                name: "model.rope_theta".into(),
                reason: "must be greater than zero".into(),
            });
        }
        next.rope_theta = theta;
    }
    if let Some(context) = change.context {
        next.context = context;
    }
    if next == *model {
        return Err(GovError::EmptyProposal);
    }
    next.version = model
        .version
        .checked_add(1)
        .ok_or(GovError::Internal("model version overflows".into()))?;
    let mut whole = params.clone();
    whole.model = next.clone();
    whole
        .validate()
        .map_err(|e| GovError::BreaksRule(e.to_string()))?;
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attention_changes_keep_every_shape_and_bump_the_version() {
        let p = Params::mainnet_defaults();
        let next = apply(
            &p,
            &p.model,
            &ArchitectureChange {
                rope_theta: Some(500_000),
                context: Some(4_096),
            },
        )
        .unwrap();
        assert_eq!(next.version, p.model.version + 1);
        assert_eq!(next.rope_theta, 500_000);
        assert_eq!(next.parameter_count(), p.model.parameter_count());
        // Shorter than the training sequences: refused.
        let short = ArchitectureChange {
            context: Some(16),
            ..Default::default()
        };
        assert!(matches!(
            apply(&p, &p.model, &short),
            Err(GovError::BreaksRule(_))
        ));
        assert_eq!(
            apply(&p, &p.model, &ArchitectureChange::default()),
            Err(GovError::EmptyProposal)
        );
        let same = ArchitectureChange {
            rope_theta: Some(p.model.rope_theta),
            ..Default::default()
        };
        assert_eq!(apply(&p, &p.model, &same), Err(GovError::EmptyProposal));
    }
}
