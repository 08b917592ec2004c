//! Paid inference: the node posts a price per generated token; a client signs a `Spend` to the
//! node's wallet (purpose `Inference`, at least price × max tokens), and `neuro_infer` commits
//! that payment on chain (5% of it burned, as every spend) before generating with the current
//! round's model. Each payment buys one request. That model is loaded (fetched from peers if
//! this node lacks it) before the payment is submitted: a node that cannot serve the request
//! takes nothing (`codes::NOT_READY`).
//!
//! Bounded: at most [`MAX_IN_FLIGHT`] requests wait for their payment at once (an async wait:
//! no thread is held), and at most [`MAX_GENERATING`] generate at once (on blocking threads). A
//! payment must be presented before it commits, and is remembered only while its request is in
//! flight: one already on chain is refused, so nothing needs remembering afterwards. The one
//! exception: a payment this node submitted that committed only after its request gave up is
//! kept (at most [`MAX_UNSERVED`], for an hour) so that presenting it again is served.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
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

use crate::models::ModelStore;

/// Most tokens one request may ask for.
pub const MAX_TOKENS: u64 = 256;
/// Requests waiting for their payment or generating, at most.
pub const MAX_IN_FLIGHT: usize = 64;
/// Requests generating at once, at most.
pub const MAX_GENERATING: usize = 2;
/// How long a request waits for its payment to commit.
const PAYMENT_WAIT: Duration = Duration::from_secs(30);
/// Payments whose request gave up before they committed, kept to serve them later, at most.
pub const MAX_UNSERVED: usize = 4_096;
/// How long such a payment is kept.
const UNSERVED_TTL: Duration = Duration::from_secs(3_600);

pub struct InferenceService {
    pub api: NodeApi,
    /// Paid here.
    pub wallet: Address,
    pub price_per_token: Amount,
    model: Mutex<Option<(Hash32, NeuroLlm)>>,
    /// Payments of the requests in flight.
    in_flight: Mutex<HashSet<Hash32>>,
    /// Payments this node submitted whose request gave up waiting, and when.
    unserved: Mutex<std::collections::HashMap<Hash32, Instant>>,
    waiting: tokio::sync::Semaphore,
    generating: tokio::sync::Semaphore,
}

/// Forgets an in-flight payment when its request ends, however it ends.
struct InFlight<'a> {
    set: &'a Mutex<HashSet<Hash32>>,
    hash: Hash32,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.set
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.hash);
    }
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
            in_flight: Mutex::new(HashSet::new()),
            unserved: Mutex::new(std::collections::HashMap::new()),
            waiting: tokio::sync::Semaphore::new(MAX_IN_FLIGHT),
            generating: tokio::sync::Semaphore::new(MAX_GENERATING),
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

    async fn infer(self: Arc<Self>, req: InferRequest) -> Result<Value, ErrorObjectOwned> {
        let _slot = self.waiting.try_acquire().map_err(|_| {
            err(
                codes::MEMPOOL,
                format!("{MAX_IN_FLIGHT} inference requests are in flight: try again shortly"),
            )
        })?;
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
        // Never take a payment that cannot be served: the current round's model is loaded (from
        // disk, or fetched from peers) before the payment goes anywhere.
        let svc = self.clone();
        tokio::task::spawn_blocking(move || svc.load_current_model())
            .await
            .map_err(|e| err(codes::INTERNAL, e.to_string()))??;
        let hash = tx.hash();
        let receipt = |svc: &Self| {
            svc.api
                .with_chain(|c| c.store().receipt(&hash))
                .map_err(|e| err(codes::INTERNAL, e.to_string()))
        };
        // A payment already on chain bought a request before (or was never meant for one),
        // unless it is one this node submitted for a request that gave up waiting.
        let late = self
            .unserved
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&hash)
            .is_some_and(|at| at.elapsed() < UNSERVED_TTL);
        if !late && receipt(&self)?.is_some() {
            return Err(err(
                codes::PAYMENT,
                "this payment is already on chain: a request is paid by a new payment",
            ));
        }
        if !self
            .in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(hash)
        {
            return Err(err(codes::PAYMENT, "this payment is already in use"));
        }
        let _in_flight = InFlight {
            set: &self.in_flight,
            hash,
        };
        if !late {
            self.api
                .submit(&bytes)
                .map_err(|e| err(codes::TX_REJECTED, e.to_string()))?;
        }
        // Generate only once the payment is committed (and succeeded).
        let deadline = Instant::now() + PAYMENT_WAIT;
        loop {
            match receipt(&self)? {
                Some(r) if r.error.is_none() => break,
                Some(r) => {
                    return Err(err(
                        codes::PAYMENT,
                        format!("the payment failed: {}", r.error.unwrap_or_default()),
                    ))
                }
                None if Instant::now() > deadline => {
                    self.keep_unserved(hash);
                    return Err(err(
                        codes::PAYMENT,
                        format!(
                            "the payment was not committed in {PAYMENT_WAIT:?}; present it again \
                             once it is on chain"
                        ),
                    ));
                }
                None => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        let _generating = self
            .generating
            .acquire()
            .await
            .map_err(|_| err(codes::INTERNAL, "shutting down"))?;
        let svc = self.clone();
        let prompt = req.prompt.clone();
        let max_tokens = req.max_tokens;
        let text = tokio::task::spawn_blocking(move || svc.generate(&prompt, max_tokens))
            .await
            .map_err(|e| err(codes::INTERNAL, e.to_string()))??;
        Ok(json!({
            "text": text,
            "payment": format!("0x{}", hex::encode(hash)),
            "maxTokens": req.max_tokens,
        }))
    }

    /// Remembers a payment whose request gave up, within [`MAX_UNSERVED`] (the oldest and the
    /// expired go first).
    fn keep_unserved(&self, hash: Hash32) {
        let mut unserved = self.unserved.lock().unwrap_or_else(|p| p.into_inner());
        unserved.retain(|_, at| at.elapsed() < UNSERVED_TTL);
        if unserved.len() >= MAX_UNSERVED {
            if let Some(oldest) = unserved.iter().min_by_key(|(_, at)| **at).map(|(h, _)| *h) {
                unserved.remove(&oldest);
            }
        }
        unserved.insert(hash, Instant::now());
    }

    /// Makes the open round's model the loaded one: from this node's models, else fetched from
    /// peers as the blob the adopted round result names. [`codes::NOT_READY`] if neither has it.
    fn load_current_model(&self) -> Result<(), ErrorObjectOwned> {
        let internal = |e: anyhow::Error| err(codes::INTERNAL, format!("{e:#}"));
        let (params, version) = self.api.with_chain(|c| {
            let l = c.ledger();
            (l.params().clone(), l.training().map(|t| t.model_version))
        });
        let version = version.map_err(|e| internal(e.into()))?;
        let mut slot = self.model.lock().unwrap_or_else(|p| p.into_inner());
        if slot.as_ref().map(|(v, _)| v) == Some(&version) {
            return Ok(());
        }
        let store = ModelStore::new(&self.api).map_err(internal)?;
        let mut model = store.get(&params, &version).map_err(internal)?;
        if model.is_none() {
            if let Err(e) = store.fetch_open_round(&self.api, &params) {
                tracing::debug!("the current model is not to be had from peers: {e:#}");
            }
            model = store.get(&params, &version).map_err(internal)?;
        }
        let model = model.ok_or_else(|| {
            err(
                codes::NOT_READY,
                format!(
                    "this node does not hold the current model {} yet and no peer served it; \
                     nothing was taken: try again shortly",
                    hex::encode(&version[..8])
                ),
            )
        })?;
        *slot = Some((version, model));
        Ok(())
    }

    /// Generates with the loaded model: the one checked before the payment was taken (or the
    /// current one, if a round closed since and this node holds its model).
    fn generate(&self, prompt: &str, max_tokens: u64) -> Result<String, ErrorObjectOwned> {
        if let Err(e) = self.load_current_model() {
            tracing::debug!(
                "serving with the model the payment was taken for: {}",
                e.message()
            );
        }
        let slot = self.model.lock().unwrap_or_else(|p| p.into_inner());
        let Some((_, model)) = slot.as_ref() else {
            return Err(err(codes::INTERNAL, "no model loaded"));
        };
        let sampling = Sampling {
            max_new_tokens: max_tokens as usize,
            ..Sampling::default()
        };
        let bytes =
            generate(model, prompt, &sampling).map_err(|e| err(codes::INTERNAL, e.to_string()))?;
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
    m.register_async_method("neuro_infer", |params, svc, _| async move {
        let req: InferRequest = params
            .one()
            .map_err(|e| err(codes::INVALID_PARAMS, e.message()))?;
        svc.infer(req).await
    })?;
    Ok(m.into())
}
