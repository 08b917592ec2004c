//! The explorer's methods: blocks, transactions with receipts, account history, proofs, supply,
//! parameters and fee estimates, all read from the node's RocksDB indexes.

use jsonrpsee::server::RpcModule;
use jsonrpsee::types::{ErrorObjectOwned, Params};
use neuroshard_chain::node::NodeApi;
use neuroshard_chain::store::{Cursor, StoredReceipt};
use neuroshard_chain::Block;
use neuroshard_runtime::state::{ProofRecord, ProofStatus};
use neuroshard_runtime::{Address, Amount, Event, Hash32, SignedTransaction, TxBody};
use serde_json::{json, Value};

use crate::codes;

/// Most entries in one page of history.
pub const MAX_PAGE: usize = 100;
/// Most points in one supply history answer.
pub const MAX_SUPPLY_POINTS: u64 = 200;

fn supply_point(height: u64, time_ms: u64, s: &neuroshard_runtime::state::Supply) -> Value {
    json!({
        "height": height,
        "timeMs": time_ms,
        "minted": s.minted.0.to_string(),
        "burned": s.burned.0.to_string(),
        "slashed": s.slashed.0.to_string(),
        "pending": s.pending.0.to_string(),
        "voided": s.voided.0.to_string(),
        "unchecked": s.unchecked.0.to_string(),
    })
}

pub(crate) fn err(code: i32, message: impl Into<String>) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(code, message.into(), None::<()>)
}

pub(crate) fn internal(e: impl std::fmt::Display) -> ErrorObjectOwned {
    err(codes::INTERNAL, e.to_string())
}

pub(crate) fn amount(a: Amount) -> Value {
    json!({ "base": a.0.to_string(), "neuro": a.to_neuro_string() })
}

pub(crate) fn hex32(h: &Hash32) -> String {
    format!("0x{}", hex::encode(h))
}

pub(crate) fn parse_hash(s: &str) -> Result<Hash32, ErrorObjectOwned> {
    let bytes = hex::decode(s.trim_start_matches("0x"))
        .map_err(|_| err(codes::INVALID_PARAMS, format!("{s:?} is not a hex hash")))?;
    bytes
        .try_into()
        .map_err(|_| err(codes::INVALID_PARAMS, format!("{s:?} is not 32 bytes")))
}

pub(crate) fn parse_address(s: &str) -> Result<Address, ErrorObjectOwned> {
    s.parse().map_err(|_| {
        err(
            codes::INVALID_PARAMS,
            format!("{s:?} is not an address (0x + 40 hex digits)"),
        )
    })
}

pub fn event_json(e: &Event) -> Value {
    match e {
        Event::FeePaid {
            payer,
            proposer,
            to_proposer,
            burned,
        } => json!({"type": "feePaid", "payer": payer, "proposer": proposer,
            "toProposer": amount(*to_proposer), "burned": amount(*burned)}),
        Event::Transfer {
            from,
            to,
            amount: a,
        } => {
            json!({"type": "transfer", "from": from, "to": to, "amount": amount(*a)})
        }
        Event::Spent {
            from,
            to,
            amount: a,
            burned,
            purpose,
        } => json!({"type": "spent", "from": from, "to": to, "amount": amount(*a),
            "burned": amount(*burned), "purpose": format!("{purpose:?}")}),
        Event::NodeRegistered { node, wallet } => {
            json!({"type": "nodeRegistered", "node": node, "wallet": wallet})
        }
        Event::ProofAccepted {
            wallet,
            node,
            gross,
            amount: a,
            first_batch,
            batches,
            matures_at_ms,
        } => json!({"type": "reward", "wallet": wallet, "node": node, "gross": amount(*gross),
            "amount": amount(*a), "firstBatch": first_batch, "batches": batches,
            "maturesAtMs": matures_at_ms}),
        Event::VerdictGiven {
            validator,
            proof,
            valid,
        } => json!({"type": "verdict", "validator": validator, "proof": hex32(proof),
            "valid": valid}),
        Event::ProofVerified { proof } => json!({"type": "proofVerified", "proof": hex32(proof)}),
        Event::FraudProven {
            proof,
            node,
            wallet,
            voided,
            voided_pending,
            taken,
            to_reporters,
            destroyed,
        } => json!({"type": "fraudProven", "proof": hex32(proof), "node": node, "wallet": wallet,
            "voided": amount(*voided), "voidedPending": amount(*voided_pending),
            "taken": amount(*taken), "toReporters": amount(*to_reporters),
            "destroyed": amount(*destroyed)}),
        Event::VerdictOverruled {
            validator,
            proof,
            taken,
        } => json!({"type": "verdictOverruled", "validator": validator, "proof": hex32(proof),
            "taken": amount(*taken)}),
        Event::RoundAttested {
            round,
            validator,
            result,
        } => json!({"type": "roundAttested", "round": round, "validator": validator,
            "result": hex32(result)}),
        Event::AttestationOverruled {
            round,
            validator,
            taken,
        } => json!({"type": "attestationOverruled", "round": round, "validator": validator,
            "taken": amount(*taken)}),
        Event::RoundClosed {
            round,
            aggregate,
            next_model,
            proofs,
            eval_loss_micro,
        } => json!({"type": "roundClosed", "round": round, "aggregate": hex32(aggregate),
            "nextModel": hex32(next_model), "proofs": proofs,
            "evalLoss": neuroshard_runtime::round::micro_to_decimal(*eval_loss_micro)}),
        Event::Staked { account, amount: a } => {
            json!({"type": "staked", "account": account, "amount": amount(*a)})
        }
        Event::UnbondingStarted {
            account,
            amount: a,
            matures_at_ms,
        } => json!({"type": "unbondingStarted", "account": account, "amount": amount(*a),
            "maturesAtMs": matures_at_ms}),
        Event::Withdrawn { account, amount: a } => {
            json!({"type": "withdrawn", "account": account, "amount": amount(*a)})
        }
        Event::Slashed {
            offender,
            reporter,
            taken,
            to_reporter,
            destroyed,
            offence,
        } => json!({"type": "slashed", "offender": offender, "reporter": reporter,
            "taken": amount(*taken), "toReporter": amount(*to_reporter),
            "destroyed": amount(*destroyed), "offence": hex32(offence)}),
        Event::ValidatorJailed { validator } => {
            json!({"type": "validatorJailed", "validator": validator})
        }
        Event::ValidatorUnjailed { validator } => {
            json!({"type": "validatorUnjailed", "validator": validator})
        }
        Event::ProposalSubmitted { id, proposer } => {
            json!({"type": "proposalSubmitted", "proposal": id, "proposer": proposer})
        }
        Event::Deposited {
            id,
            depositor,
            amount: a,
        } => json!({"type": "deposited", "proposal": id, "depositor": depositor,
            "amount": amount(*a)}),
        Event::Voted { id, voter, option } => {
            json!({"type": "voted", "proposal": id, "voter": voter, "option": option.name()})
        }
    }
}

fn kind_of(body: &TxBody) -> &'static str {
    body.kind()
}

/// An accepted proof's ledger record: status, reward, verdicts.
pub fn proof_record_json(p: &ProofRecord) -> Value {
    let status = match p.status {
        ProofStatus::Pending if p.disputed() => "disputed",
        ProofStatus::Pending => "pending",
        ProofStatus::Verified => "verified",
        ProofStatus::Paid => "paid",
        ProofStatus::Voided => "voided",
    };
    json!({
        "status": status,
        "node": p.node,
        "wallet": p.wallet,
        "round": p.round,
        "height": p.height,
        "acceptedMs": p.accepted_ms,
        "maturesAtMs": p.matures_at_ms,
        "gross": amount(p.gross),
        // Of the gross, the data reward of its samples, and who served them (that share of
        // what it is paid goes to the server's wallet).
        "dataGross": amount(p.data_gross),
        "dataServer": p.data_server.map(|d| json!({"node": d.node, "wallet": d.wallet})),
        "reward": amount(p.reward),
        "covered": amount(p.covered),
        "collateral": amount(p.collateral),
        "paid": amount(p.paid),
        "paidMs": p.paid_ms,
        "firstBatch": p.first_batch,
        "batches": p.batches,
        // An uptime proof's seconds (its `pseudoGradient` is then its liveness answer).
        "uptimeSecs": p.uptime_secs,
        "layers": [p.layer_start, p.layer_end],
        "modelVersion": hex32(&p.model_version),
        "dataSeed": hex32(&p.data_seed),
        "dataShard": hex32(&p.data_shard),
        "pseudoGradient": hex32(&p.pseudo_gradient),
        // Its segment chain: the inner states it started from (zero: the round's model) and
        // ended at, and the proof it continues.
        "startState": hex32(&p.start_state),
        "endState": hex32(&p.end_state),
        "previousSegment": p.previous_segment.as_ref().map(hex32),
        "sampled": p.sampled,
        "drawnInFull": p.drawn_in_full,
        "newcomer": p.newcomer,
        // The chance its newcomer draw had (0 to 1, decimal), once drawn for; null otherwise.
        "newcomerChance": (p.newcomer && p.sampled.is_some())
            .then(|| format!("{:.9}", p.lottery_p as f64 / 18_446_744_073_709_551_616.0)),
        // The validators a drawn proof's re-execution falls to (more than a third of the power).
        "replayers": &p.replayers,
        "verdicts": p.verdicts.iter().map(|v| json!({
            "validator": v.validator, "valid": v.valid, "power": v.power
        })).collect::<Vec<_>>(),
    })
}

fn receipt_json(r: &StoredReceipt) -> Value {
    let burned: u128 = r
        .events
        .iter()
        .map(|e| match e {
            Event::FeePaid { burned, .. } | Event::Spent { burned, .. } => burned.0,
            _ => 0,
        })
        .sum();
    json!({
        "height": r.height,
        "position": r.position,
        "sender": r.sender,
        "success": r.error.is_none(),
        "error": r.error,
        "fee": amount(r.fee),
        "burned": amount(Amount(burned)),
        "events": r.events.iter().map(event_json).collect::<Vec<_>>(),
    })
}

fn tx_json(tx: &SignedTransaction) -> Value {
    let body = match &tx.tx.body {
        TxBody::Transfer { to, amount: a } => json!({"to": to, "amount": amount(*a)}),
        TxBody::Stake { amount: a } | TxBody::Unstake { amount: a } => {
            json!({"amount": amount(*a)})
        }
        TxBody::Spend {
            to,
            amount: a,
            purpose,
        } => json!({"to": to, "amount": amount(*a), "purpose": format!("{purpose:?}")}),
        TxBody::RegisterNode {
            node_key,
            expires_ms,
            ..
        } => {
            json!({"node": node_key.address(), "nodeKey": node_key.to_string(),
                "expiresMs": expires_ms})
        }
        TxBody::SubmitProof(p) => json!({
            "role": format!("{:?}", p.role),
            "layers": [p.layer_start, p.layer_end],
            "round": p.round,
            "modelVersion": hex32(&p.model_version),
            "dataSeed": hex32(&p.data_seed),
            "dataShard": hex32(&p.data_shard),
            "pseudoGradient": hex32(&p.pseudo_gradient),
            "startState": hex32(&p.start_state),
            "endState": hex32(&p.end_state),
            "firstBatch": p.first_batch,
            "metrics": {
                "batches": p.metrics.batches,
                "tokens": p.metrics.tokens,
                "samples": p.metrics.samples,
                "uptimeSecs": p.metrics.uptime_secs,
            },
            "dataServer": p.data_server,
            "timestampMs": p.timestamp_ms,
        }),
        TxBody::WithdrawUnbonded => json!({}),
        TxBody::ReportFraud(e) => json!({"offence": hex32(&e.offence_id())}),
        TxBody::Verdict { proof, valid } => json!({"proof": hex32(proof), "valid": valid}),
        TxBody::AttestRound { round, result } => json!({"round": round,
            "result": hex32(&result.hash()),
            "included": hex::encode(&result.included),
            "includedCount": result.included_count(),
            "aggregate": hex32(&result.aggregate),
            "nextModel": hex32(&result.next_model), "momentum": hex32(&result.momentum),
            "evalLoss": neuroshard_runtime::round::micro_to_decimal(result.eval_loss_micro)}),
        TxBody::SetBeaconKey { key, .. } => json!({"beaconKey": key.to_string()}),
        TxBody::Unjail => json!({}),
        TxBody::SubmitProposal {
            title,
            action,
            deposit,
        } => json!({"title": title, "action": crate::gov::action_json(action),
            "deposit": amount(*deposit)}),
        TxBody::Deposit {
            proposal,
            amount: a,
        } => json!({"proposal": proposal, "amount": amount(*a)}),
        TxBody::Vote { proposal, option } => {
            json!({"proposal": proposal, "option": option.name()})
        }
    };
    json!({
        "hash": hex32(&tx.hash()),
        "from": tx.signer.address(),
        "nonce": tx.tx.nonce,
        "fee": amount(tx.tx.fee),
        "kind": kind_of(&tx.tx.body),
        "body": body,
    })
}

fn block_json(block: &Block, full: bool) -> Value {
    let h = &block.header;
    let txs: Vec<Value> = if full {
        block
            .transactions()
            .map(|t| t.iter().map(tx_json).collect())
            .unwrap_or_default()
    } else {
        block
            .txs
            .iter()
            .map(|raw| Value::String(hex32(&neuroshard_chain::block::tx_hash(raw))))
            .collect()
    };
    json!({
        "hash": hex32(&block.hash()),
        "height": h.height,
        "timeMs": h.time_ms,
        "proposer": h.proposer,
        "parentHash": hex32(&h.parent_hash),
        "txsRoot": hex32(&h.txs_root),
        "prevStateRoot": hex32(&h.prev_state_root),
        "beacon": h.beacon.map(|b| hex::encode(b.0)),
        "transactions": txs,
    })
}

/// Page options: `{ "limit": n, "before": "height:position" }`.
fn page(params: &Params<'_>, index: usize) -> Result<(usize, Option<Cursor>), ErrorObjectOwned> {
    let mut seq = params.sequence();
    for _ in 0..index {
        let _: Value = seq
            .next()
            .map_err(|e| err(codes::INVALID_PARAMS, e.message()))?;
    }
    let opts: Option<Value> = seq
        .optional_next()
        .map_err(|e| err(codes::INVALID_PARAMS, e.message()))?;
    let opts = opts.unwrap_or(Value::Null);
    let limit = match opts.get("limit") {
        None | Some(Value::Null) => 20,
        Some(v) => v
            .as_u64()
            .ok_or_else(|| err(codes::INVALID_PARAMS, "limit must be a number"))?
            as usize,
    };
    if limit == 0 || limit > MAX_PAGE {
        return Err(err(
            codes::INVALID_PARAMS,
            format!("limit must be 1..={MAX_PAGE}"),
        ));
    }
    let before = match opts.get("before") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => {
            let (h, p) = s
                .split_once(':')
                .ok_or_else(|| err(codes::INVALID_PARAMS, "before must be \"height:position\""))?;
            Some(Cursor {
                height: h
                    .parse()
                    .map_err(|_| err(codes::INVALID_PARAMS, "bad height in before"))?,
                position: p
                    .parse()
                    .map_err(|_| err(codes::INVALID_PARAMS, "bad position in before"))?,
            })
        }
        Some(_) => return Err(err(codes::INVALID_PARAMS, "before must be a string")),
    };
    Ok((limit, before))
}

fn history_page(
    api: &NodeApi,
    kinds: &[u8],
    address: &Address,
    limit: usize,
    before: Option<Cursor>,
) -> Result<Value, ErrorObjectOwned> {
    api.with_chain(|c| {
        let store = c.store();
        let mut entries = Vec::new();
        for kind in kinds {
            entries.extend(
                store
                    .history(*kind, address, before, limit)
                    .map_err(internal)?,
            );
        }
        entries.sort_by_key(|e| std::cmp::Reverse(e.0));
        entries.dedup_by_key(|e| e.0);
        entries.truncate(limit);
        let mut items = Vec::new();
        for (_, hash) in &entries {
            let Some(r) = store.receipt(hash).map_err(internal)? else {
                continue;
            };
            let tx = store
                .transaction(hash)
                .map_err(internal)?
                .and_then(|raw| SignedTransaction::decode(&raw).ok());
            let mut item = receipt_json(&r);
            item["hash"] = Value::String(hex32(hash));
            if let Some(tx) = tx {
                item["kind"] = Value::String(kind_of(&tx.tx.body).into());
                item["transaction"] = tx_json(&tx);
                if matches!(tx.tx.body, TxBody::SubmitProof(_)) {
                    if let Some(p) = c.ledger().proof(hash).map_err(internal)? {
                        item["proof"] = proof_record_json(&p);
                    }
                }
            }
            items.push(item);
        }
        let next = (entries.len() == limit)
            .then(|| {
                entries
                    .last()
                    .map(|(c, _)| format!("{}:{}", c.height, c.position))
            })
            .flatten();
        Ok(json!({ "items": items, "next": next }))
    })
}

pub fn register(
    module: &mut RpcModule<NodeApi>,
) -> Result<(), jsonrpsee::core::RegisterMethodError> {
    module.register_blocking_method("neuro_getBlock", |params, api, _| {
        let mut seq = params.sequence();
        let id: Value = seq
            .next()
            .map_err(|e| err(codes::INVALID_PARAMS, e.message()))?;
        let full: Option<bool> = seq
            .optional_next()
            .map_err(|e| err(codes::INVALID_PARAMS, e.message()))?;
        api.with_chain(|c| {
            let top = c.height();
            let height = match &id {
                Value::Number(n) => n
                    .as_u64()
                    .ok_or_else(|| err(codes::INVALID_PARAMS, "height must be a whole number"))?,
                Value::String(s) => {
                    let hash = parse_hash(s)?;
                    c.store()
                        .block_height_by_hash(&hash)
                        .map_err(internal)?
                        .ok_or_else(|| err(codes::NOT_FOUND, format!("no block with hash {s}")))?
                }
                _ => {
                    return Err(err(
                        codes::INVALID_PARAMS,
                        "give a height (number) or a block hash (hex string)",
                    ))
                }
            };
            if height == 0 || height > top {
                return Err(err(
                    codes::NOT_FOUND,
                    format!("no block at height {height}: the chain is at height {top}"),
                ));
            }
            let block = c
                .store()
                .block(height)
                .map_err(internal)?
                .ok_or_else(|| err(codes::NOT_FOUND, format!("block {height} is missing")))?;
            Ok(block_json(&block, full.unwrap_or(false)))
        })
    })?;

    module.register_blocking_method("neuro_getTransaction", |params, api, _| {
        let s: String = params
            .one()
            .map_err(|e| err(codes::INVALID_PARAMS, e.message()))?;
        let hash = parse_hash(&s)?;
        api.with_chain(|c| {
            let store = c.store();
            let r = store
                .receipt(&hash)
                .map_err(internal)?
                .ok_or_else(|| err(codes::NOT_FOUND, format!("no committed transaction {s}")))?;
            let tx = store
                .transaction(&hash)
                .map_err(internal)?
                .and_then(|raw| SignedTransaction::decode(&raw).ok())
                .ok_or_else(|| internal("receipt without its transaction"))?;
            Ok::<_, ErrorObjectOwned>(
                json!({ "transaction": tx_json(&tx), "receipt": receipt_json(&r) }),
            )
        })
    })?;

    // History and proofs: the same paged listing over different indexes.
    for (method, kinds) in [
        ("neuro_getAccountHistory", b"a".as_slice()),
        ("neuro_getProofs", b"wn".as_slice()),
    ] {
        module.register_blocking_method(method, move |params, api, _| {
            let address: String = params
                .sequence()
                .next()
                .map_err(|e| err(codes::INVALID_PARAMS, e.message()))?;
            let address = parse_address(&address)?;
            let (limit, before) = page(&params, 1)?;
            history_page(&api, kinds, &address, limit, before)
        })?;
    }

    module.register_blocking_method("neuro_getSupply", |_params, api, _| {
        let (s, curve) = api
            .with_chain(|c| {
                let ledger = c.ledger();
                let curve = neuroshard_runtime::rewards::curve_at(
                    ledger.params(),
                    &ledger.reward_curve()?,
                    ledger.last_block_time_ms(),
                );
                Ok::<_, neuroshard_runtime::error::StorageError>((ledger.supply()?, curve))
            })
            .map_err(internal)?;
        let circulating = s
            .minted
            .checked_sub(s.burned)
            .and_then(|x| x.checked_sub(s.slashed))
            .unwrap_or_default();
        Ok::<_, ErrorObjectOwned>(json!({
            "minted": amount(s.minted),
            "burned": amount(s.burned),
            "slashed": amount(s.slashed),
            "circulating": amount(circulating),
            "pending": amount(s.pending),
            "voided": amount(s.voided),
            "unchecked": amount(s.unchecked),
            // The network's diminishing returns: what one NEURO of gross reward pays in the
            // window now open, and the gross its payments so far stand for.
            "rewardRate": Amount(curve.multiplier_wad).to_neuro_string(),
            "rewardWindowGross": amount(curve.gross),
        }))
    })?;

    module.register_blocking_method("neuro_getSupplyHistory", |params, api, _| {
        let points: Option<u64> = params
            .sequence()
            .optional_next()
            .map_err(|e| err(codes::INVALID_PARAMS, e.message()))?;
        let points = points.unwrap_or(100);
        if !(2..=MAX_SUPPLY_POINTS).contains(&points) {
            return Err(err(
                codes::INVALID_PARAMS,
                format!("points must be 2..={MAX_SUPPLY_POINTS}"),
            ));
        }
        api.with_chain(|c| {
            let top = c.height();
            // At most points − 1 evenly spaced heights below the top, then the top itself.
            let step = top.div_ceil(points - 1).max(1);
            let mut out = Vec::new();
            for h in (0..top).step_by(step as usize) {
                if let Some((time, s)) = c.store().supply_at(h).map_err(internal)? {
                    out.push(supply_point(h, time, &s));
                }
            }
            let now = c.ledger().supply().map_err(internal)?;
            out.push(supply_point(top, c.ledger().last_block_time_ms(), &now));
            Ok::<_, ErrorObjectOwned>(json!({ "points": out }))
        })
    })?;

    module.register_blocking_method("neuro_getParams", |_params, api, _| {
        let p = api.with_chain(|c| c.ledger().params().clone());
        serde_json::to_value(&p).map_err(internal)
    })?;

    module.register_blocking_method("neuro_estimateFee", |params, api, _| {
        let kind: Option<String> = params
            .sequence()
            .optional_next()
            .map_err(|e| err(codes::INVALID_PARAMS, e.message()))?;
        let min = api.with_chain(|c| c.ledger().params().min_fee);
        let kinds = &neuroshard_runtime::tx::TX_KINDS;
        let exempt: Vec<&str> = kinds.iter().filter(|k| k.1).map(|k| k.0).collect();
        let known: Vec<&str> = kinds.iter().map(|k| k.0).collect();
        let fee = match kind.as_deref() {
            None => min,
            Some(k) if exempt.contains(&k) => Amount::ZERO,
            Some(k) if known.contains(&k) => min,
            Some(k) => {
                return Err(err(
                    codes::INVALID_PARAMS,
                    format!("unknown transaction kind {k:?}; one of {known:?}"),
                ))
            }
        };
        Ok(json!({ "fee": amount(fee), "minFee": amount(min), "feeExemptKinds": exempt }))
    })?;
    Ok(())
}
