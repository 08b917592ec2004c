//! Training on the ledger: rounds, their proofs' pseudo-gradient commitments and aggregates, the
//! current model, single proofs, and the round models' weights (safetensors, hex) for nodes that
//! join later.

use jsonrpsee::server::RpcModule;
use jsonrpsee::types::ErrorObjectOwned;
use neuroshard_chain::node::NodeApi;
use neuroshard_runtime::round::micro_to_decimal;
use serde_json::{json, Value};

use crate::codes;
use crate::explorer::{err, hex32, internal, parse_hash, proof_record_json};

/// Most proofs listed with one round.
const MAX_ROUND_PROOFS: u64 = 1_000;

pub fn register(
    module: &mut RpcModule<NodeApi>,
) -> Result<(), jsonrpsee::core::RegisterMethodError> {
    module.register_blocking_method("neuro_getTrainingRound", |params, api, _| {
        let round: Option<u64> = params
            .sequence()
            .optional_next()
            .map_err(|e| err(codes::INVALID_PARAMS, e.message()))?;
        api.with_chain(|c| {
            let ledger = c.ledger();
            let current = ledger.training().map_err(internal)?.round;
            let round = round.unwrap_or(current);
            let record = ledger.round(round).map_err(internal)?.ok_or_else(|| {
                err(
                    codes::NOT_FOUND,
                    format!("no round {round} yet (open round is {current})"),
                )
            })?;
            let mut proofs = Vec::new();
            for id in ledger
                .round_proofs(round, 0, MAX_ROUND_PROOFS)
                .map_err(internal)?
            {
                if let Some(p) = ledger.proof(&id).map_err(internal)? {
                    let mut item = proof_record_json(&p);
                    item["hash"] = Value::String(hex32(&id));
                    proofs.push(item);
                }
            }
            let trained = ledger.round_trained(round).map_err(internal)?;
            let close = record.close.as_ref();
            let included: Option<Vec<String>> = close.map(|c| {
                trained
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| c.result.includes(*i as u64))
                    .map(|(_, id)| hex32(id))
                    .collect()
            });
            let eval_loss = close.map(|c| micro_to_decimal(c.result.eval_loss_micro));
            Ok::<_, ErrorObjectOwned>(json!({
                "round": record.round,
                "open": close.is_none(),
                "model": hex32(&record.model_version),
                "modelVersion": hex32(&record.model_version),
                "momentum": hex32(&record.momentum),
                "nextModel": close.map(|c| hex32(&c.result.next_model)),
                "included": included,
                "evalLoss": eval_loss,
                "openedMs": record.opened_ms,
                "openedHeight": record.opened_height,
                "deadlineMs": record.opened_ms.saturating_add(ledger.params().round_length_ms),
                "proofCount": record.proofs,
                "trainedCount": record.trained,
                "trained": trained.iter().map(hex32).collect::<Vec<_>>(),
                "proofs": proofs,
                "attestations": record.attestations.iter().map(|a| json!({
                    "validator": a.validator,
                    "power": a.power,
                    "result": hex32(&a.result),
                })).collect::<Vec<_>>(),
                "close": close.map(|c| json!({
                    "aggregate": hex32(&c.result.aggregate),
                    "nextModel": hex32(&c.result.next_model),
                    "momentum": hex32(&c.result.momentum),
                    "modelBlob": hex32(&c.result.model_blob),
                    "momentumBlob": hex32(&c.result.momentum_blob),
                    "included": included,
                    "evalLoss": eval_loss,
                    "result": hex32(&c.result_hash),
                    "closedMs": c.closed_ms,
                    "closedHeight": c.closed_height,
                    "attestedPower": c.attested_power,
                    "totalPower": c.total_power,
                })),
            }))
        })
    })?;

    module.register_blocking_method("neuro_getModel", |_params, api, _| {
        api.with_chain(|c| {
            let ledger = c.ledger();
            let t = ledger.training().map_err(internal)?;
            let p = ledger.params();
            let available = neuroshard_chain::node::Home::new(api.home())
                .models()
                .join(format!("{}.safetensors", hex::encode(t.model_version)))
                .exists();
            Ok::<_, ErrorObjectOwned>(json!({
                "round": t.round,
                "modelVersion": hex32(&t.model_version),
                "openedMs": t.opened_ms,
                "genesisModel": hex32(&p.training.genesis_model),
                "corpus": hex32(&p.training.corpus),
                "config": p.model,
                "weightsAvailableHere": available,
            }))
        })
    })?;

    module.register_blocking_method("neuro_getProof", |params, api, _| {
        let s: String = params
            .one()
            .map_err(|e| err(codes::INVALID_PARAMS, e.message()))?;
        let id = parse_hash(&s)?;
        let p = api
            .with_chain(|c| c.ledger().proof(&id))
            .map_err(internal)?
            .ok_or_else(|| err(codes::NOT_FOUND, format!("no accepted proof {s}")))?;
        let mut item = proof_record_json(&p);
        item["hash"] = Value::String(s);
        Ok::<_, ErrorObjectOwned>(item)
    })?;

    module.register_blocking_method("neuro_getNode", |params, api, _| {
        let s: String = params
            .one()
            .map_err(|e| err(codes::INVALID_PARAMS, e.message()))?;
        let address = crate::explorer::parse_address(&s)?;
        let n = api
            .with_chain(|c| c.ledger().node(&address))
            .map_err(internal)?
            .ok_or_else(|| err(codes::NOT_FOUND, format!("node {s} is not registered")))?;
        Ok::<_, ErrorObjectOwned>(json!({
            "node": address,
            "wallet": n.wallet,
            "registeredAtMs": n.registered_at_ms,
            "lastProofMs": n.last_proof_ms,
            "nextBatch": n.next_batch,
            "dataSeed": hex32(&n.data_seed),
            "proofs": n.proofs,
            "earned": crate::explorer::amount(n.earned),
            "pendingProofs": n.pending_proofs.iter().map(hex32).collect::<Vec<_>>(),
        }))
    })?;

    Ok(())
}
