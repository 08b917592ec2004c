//! Paid inference: the node posts a price per generated token; a client signs a `Spend` to the
//! node's wallet (purpose `Inference`, at least price × max tokens), and `neuro_infer` commits
//! that payment on chain (5% of it burned, as every spend) before generating with the current
//! round's model. Each payment buys one request.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use jsonrpsee::types::ErrorObjectOwned;
use jsonrpsee::RpcModule;
use neuroshard_chain::node::NodeApi;
use neuroshard_compute::generate::{generate, Sampling};
use neuroshard_compute::NeuroLlm;
use neuroshard_rpc::codes;
use neuroshard_runtime::tx::SpendPurpose;
use neuroshard_runtime::{Address, Amount, Hash32, SignedTransaction, TxBody};
use serde::Deserialize;
use serde_json::{json, Value};

use super::models::ModelStore;

/// Most tokens one request may ask for.
pub const MAX_TOKENS: u64 = 256;

pub struct InferenceService {
    pub api: NodeApi,
    /// Paid here.
    pub wallet: Address,
    pub price_per_token: Amount,
    model: Mutex<Option<(Hash32, NeuroLlm)>>,
    served: Mutex<HashSet<Hash32>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InferRequest {
    prompt: String,
    max_tokens: u64,
    /// The signed `Spend` transaction, hex.
    payment: String,
}

fn err(code: i32, msg: impl Into<String>) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(code, msg.into(), None::<()>)
}

fn amount(a: Amount) -> Value {
    json!({"base": a.0.to_string(), "neuro": a.to_neuro_string()})
}

impl InferenceService {
    pub fn new(api: NodeApi, wallet: Address, price_per_token: Amount) -> InferenceService {
        InferenceService {
            api,
            wallet,
            price_per_token,
            model: Mutex::new(None),
            served: Mutex::new(HashSet::new()),
        }
    }

    fn quote(&self) -> Value {
        let version = self
            .api
            .with_chain(|c| c.ledger().training().map(|t| t.model_version))
            .unwrap_or_default();
        json!({
            "provider": self.wallet,
            "pricePerToken": amount(self.price_per_token),
            "maxTokens": MAX_TOKENS,
            "modelVersion": format!("0x{}", hex::encode(version)),
        })
    }

    fn infer(&self, req: InferRequest) -> Result<Value, ErrorObjectOwned> {
        if req.max_tokens == 0 || req.max_tokens > MAX_TOKENS {
            return Err(err(
                codes::INVALID_PARAMS,
                format!("maxTokens must be 1..={MAX_TOKENS}"),
            ));
        }
        let bytes = hex::decode(req.payment.trim_start_matches("0x"))
            .map_err(|_| err(codes::TX_MALFORMED, "payment is not hex"))?;
        let tx = SignedTransaction::decode(&bytes)
            .map_err(|e| err(codes::TX_MALFORMED, e.to_string()))?;
        let due = self
            .price_per_token
            .checked_mul(u128::from(req.max_tokens))
            .ok_or_else(|| err(codes::INVALID_PARAMS, "price overflows"))?;
        match &tx.tx.body {
            TxBody::Spend {
                to,
                amount: paid,
                purpose: SpendPurpose::Inference,
            } if *to == self.wallet && *paid >= due => {}
            _ => {
                return Err(err(
                    codes::PAYMENT,
                    format!(
                        "the payment must be an inference spend of at least {} NEURO to {}",
                        due.to_neuro_string(),
                        self.wallet
                    ),
                ))
            }
        }
        let hash = tx.hash();
        if !self
            .served
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(hash)
        {
            return Err(err(codes::PAYMENT, "this payment was already used"));
        }
        let refuse = |e: ErrorObjectOwned| {
            self.served
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&hash);
            e
        };
        if let Err(e) = self.api.submit(&bytes) {
            return Err(refuse(err(codes::TX_REJECTED, e.to_string())));
        }
        // Generate only once the payment is committed (and succeeded).
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let receipt = self
                .api
                .with_chain(|c| c.store().receipt(&hash))
                .map_err(|e| err(codes::INTERNAL, e.to_string()))?;
            match receipt {
                Some(r) if r.error.is_none() => break,
                Some(r) => {
                    return Err(err(
                        codes::PAYMENT,
                        format!("the payment failed: {}", r.error.unwrap_or_default()),
                    ))
                }
                None if Instant::now() > deadline => {
                    return Err(refuse(err(
                        codes::PAYMENT,
                        "the payment was not committed in 30 s",
                    )))
                }
                None => std::thread::sleep(Duration::from_millis(100)),
            }
        }
        let text = self.generate(&req.prompt, req.max_tokens)?;
        Ok(json!({
            "text": text,
            "payment": format!("0x{}", hex::encode(hash)),
            "maxTokens": req.max_tokens,
        }))
    }

    fn generate(&self, prompt: &str, max_tokens: u64) -> Result<String, ErrorObjectOwned> {
        let internal = |e: String| err(codes::INTERNAL, e);
        let (params, version) = self.api.with_chain(|c| {
            let l = c.ledger();
            (l.params().clone(), l.training().map(|t| t.model_version))
        });
        let version = version.map_err(|e| internal(e.to_string()))?;
        let mut slot = self.model.lock().unwrap_or_else(|p| p.into_inner());
        if slot.as_ref().map(|(v, _)| v) != Some(&version) {
            let store = ModelStore::new(&self.api).map_err(|e| internal(e.to_string()))?;
            let model = store
                .get(&params, &version)
                .map_err(|e| internal(e.to_string()))?
                .ok_or_else(|| internal("this node does not hold the current model yet".into()))?;
            *slot = Some((version, model));
        }
        let Some((_, model)) = slot.as_ref() else {
            return Err(internal("no model".into()));
        };
        let sampling = Sampling {
            max_new_tokens: max_tokens as usize,
            ..Sampling::default()
        };
        let bytes = generate(model, prompt, &sampling).map_err(|e| internal(e.to_string()))?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }
}

/// `neuro_inferenceQuote` and `neuro_infer`.
pub fn module(
    svc: InferenceService,
) -> Result<jsonrpsee::Methods, jsonrpsee::core::RegisterMethodError> {
    let mut m = RpcModule::new(svc);
    m.register_method("neuro_inferenceQuote", |_p, svc, _| {
        Ok::<_, ErrorObjectOwned>(svc.quote())
    })?;
    m.register_blocking_method("neuro_infer", |params, svc, _| {
        let req: InferRequest = params
            .one()
            .map_err(|e| err(codes::INVALID_PARAMS, e.message()))?;
        svc.infer(req)
    })?;
    Ok(m.into())
}
