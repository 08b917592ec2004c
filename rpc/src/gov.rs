//! NeuroDAO on the RPC: proposals, their deposits, votes and tallies, and the rules in force.

use jsonrpsee::server::RpcModule;
use jsonrpsee::types::ErrorObjectOwned;
use neuroshard_chain::node::NodeApi;
use neuroshard_runtime::gov::{Proposal, ProposalAction, ProposalStatus, Tally};
use neuroshard_runtime::params::GovParams;
use neuroshard_runtime::{Ledger, Storage};
use serde_json::{json, Value};

use crate::codes;
use crate::explorer::{amount, err, internal};

/// Most proposals listed in one page.
const MAX_PAGE: u64 = 100;

/// A proposal's action as JSON: `{"type": "setParams", "changes": [{"name", "value"}]}`.
pub fn action_json(action: &ProposalAction) -> Value {
    match action {
        ProposalAction::SetParams(changes) => json!({
            "type": "setParams",
            "changes": changes.iter().map(|c| json!({"name": c.name, "value": c.value}))
                .collect::<Vec<_>>(),
        }),
        ProposalAction::Architecture(a) => {
            let changes: Vec<Value> = [
                ("model.rope_theta", a.rope_theta),
                ("model.context", a.context),
            ]
            .into_iter()
            .filter_map(|(name, v)| v.map(|v| json!({"name": name, "value": v.to_string()})))
            .collect();
            json!({"type": "architecture", "changes": changes})
        }
    }
}

fn tally_json(t: &Tally, rules: &GovParams) -> Value {
    let outcome = match t.outcome(rules) {
        neuroshard_runtime::gov::tally::Outcome::Passed => "passed",
        neuroshard_runtime::gov::tally::Outcome::Rejected => "rejected",
        neuroshard_runtime::gov::tally::Outcome::NoQuorum => "noQuorum",
        neuroshard_runtime::gov::tally::Outcome::Vetoed => "vetoed",
    };
    json!({
        "yes": amount(t.yes),
        "no": amount(t.no),
        "abstain": amount(t.abstain),
        "veto": amount(t.veto),
        "voted": amount(neuroshard_runtime::Amount(t.voted())),
        "totalPower": amount(t.total_power),
        "outcome": outcome,
    })
}

fn status_json(s: &ProposalStatus) -> Value {
    match s {
        ProposalStatus::Passed { activation_height } => {
            json!({"status": s.name(), "activationHeight": activation_height})
        }
        ProposalStatus::Applied { height } => json!({"status": s.name(), "appliedHeight": height}),
        ProposalStatus::NextRound { height } => {
            json!({"status": s.name(), "scheduledHeight": height})
        }
        ProposalStatus::Failed { height, reason } => {
            json!({"status": s.name(), "failedHeight": height, "reason": reason})
        }
        _ => json!({"status": s.name()}),
    }
}

/// A proposal with its tally: the final one once its vote closed, else the one it would have
/// if the vote closed now (`tally.outcome` says what that would decide).
pub fn proposal_json<S: Storage>(
    ledger: &Ledger<S>,
    p: &Proposal,
    with_votes: bool,
) -> Result<Value, ErrorObjectOwned> {
    let rules = &ledger.params().gov;
    let tally = ledger.tally(p.id).map_err(internal)?;
    let mut out = json!({
        "id": p.id,
        "title": p.title,
        "proposer": p.proposer,
        "action": action_json(&p.action),
        "submittedHeight": p.submitted_height,
        "submittedMs": p.submitted_ms,
        "depositEndMs": p.deposit_end_ms,
        "votingStartMs": p.voting_start_ms,
        "votingEndMs": p.voting_end_ms,
        "totalDeposit": amount(p.total_deposit),
        "minDeposit": amount(rules.min_deposit),
        "deposits": p.deposits.iter().map(|(a, x)| json!({"depositor": a, "amount": amount(*x)}))
            .collect::<Vec<_>>(),
        "voters": p.voters,
        "final": p.tally.is_some(),
        "tally": tally.map(|t| tally_json(&t, rules)),
    });
    if let (Value::Object(map), Value::Object(status)) = (&mut out, status_json(&p.status)) {
        map.extend(status);
    }
    if with_votes {
        let mut votes = Vec::new();
        for v in ledger.validators().map_err(internal)? {
            if let Some(option) = ledger.vote(p.id, &v.address).map_err(internal)? {
                let power = neuroshard_runtime::gov::voting_power(&v.record, v.stake);
                votes.push(json!({"voter": v.address, "option": option.name(),
                    "power": amount(power)}));
            }
        }
        out["votes"] = Value::Array(votes);
    }
    Ok(out)
}

/// `f` over the proposal whose id is the one parameter, or the error saying there is none.
fn with_proposal(
    params: &jsonrpsee::types::Params<'_>,
    api: &NodeApi,
    f: impl FnOnce(&Ledger<neuroshard_chain::RocksStore>, &Proposal) -> Result<Value, ErrorObjectOwned>,
) -> Result<Value, ErrorObjectOwned> {
    let id: u64 = params
        .one()
        .map_err(|e| err(codes::INVALID_PARAMS, e.message()))?;
    api.with_chain(|c| {
        let ledger = c.ledger();
        let p = ledger
            .proposal(id)
            .map_err(internal)?
            .ok_or_else(|| err(codes::NOT_FOUND, format!("no proposal {id}")))?;
        f(ledger, &p)
    })
}

pub fn register(
    module: &mut RpcModule<NodeApi>,
) -> Result<(), jsonrpsee::core::RegisterMethodError> {
    // `[{"limit": n, "before": id}]`: newest first.
    module.register_blocking_method("neuro_getProposals", |params, api, _| {
        let opts: Option<Value> = params
            .sequence()
            .optional_next()
            .map_err(|e| err(codes::INVALID_PARAMS, e.message()))?;
        let opts = opts.unwrap_or(Value::Null);
        let limit = match &opts["limit"] {
            Value::Null => 20,
            v => v
                .as_u64()
                .filter(|n| (1..=MAX_PAGE).contains(n))
                .ok_or_else(|| {
                    err(
                        codes::INVALID_PARAMS,
                        format!("limit must be 1..={MAX_PAGE}"),
                    )
                })?,
        };
        let before = match &opts["before"] {
            Value::Null => None,
            v => Some(
                v.as_u64()
                    .ok_or_else(|| err(codes::INVALID_PARAMS, "before must be a proposal id"))?,
            ),
        };
        api.with_chain(|c| {
            let ledger = c.ledger();
            let gov = ledger.gov().map_err(internal)?;
            let end = before.unwrap_or(gov.next_id).min(gov.next_id);
            let start = end.saturating_sub(limit);
            let mut proposals = Vec::new();
            for id in (start..end).rev() {
                if let Some(p) = ledger.proposal(id).map_err(internal)? {
                    proposals.push(proposal_json(ledger, &p, false)?);
                }
            }
            let rules = &ledger.params().gov;
            Ok::<_, ErrorObjectOwned>(json!({
                "proposals": proposals,
                "next": (start > 0).then_some(start),
                "count": gov.next_id,
                "open": gov.open,
                "queued": gov.queued,
                "rules": {
                    "minDeposit": amount(rules.min_deposit),
                    "maxDepositPeriodMs": rules.max_deposit_period_ms,
                    "votingPeriodMs": rules.voting_period_ms,
                    "quorumBps": rules.quorum_bps,
                    "thresholdBps": rules.threshold_bps,
                    "vetoThresholdBps": rules.veto_threshold_bps,
                    "timelockBlocks": rules.timelock_blocks,
                },
                "governable": neuroshard_runtime::gov::changes::governable(),
            }))
        })
    })?;

    module.register_blocking_method("neuro_getTally", |params, api, _| {
        with_proposal(&params, &api, |ledger, p| {
            let tally = ledger
                .tally(p.id)
                .map_err(internal)?
                .map(|t| tally_json(&t, &ledger.params().gov));
            Ok(json!({
                "id": p.id,
                "final": p.tally.is_some(),
                "status": p.status.name(),
                "tally": tally,
            }))
        })
    })?;

    module.register_blocking_method("neuro_getProposal", |params, api, _| {
        with_proposal(&params, &api, |ledger, p| proposal_json(ledger, p, true))
    })?;
    Ok(())
}
