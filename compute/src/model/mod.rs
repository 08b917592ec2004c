//! NeuroLLM: a decoder-only transformer (RMSNorm, RoPE, grouped-query attention, SwiGLU, causal,
//! tied or untied head).
//!
//! A [`NeuroLlm`] holds a contiguous range of layers: the whole model (`0..layers`), or one
//! pipeline stage. The first stage also holds the token embedding; the last holds the final norm and
//! the head (with tied embeddings, its own copy of the embedding, whose gradient the pipeline adds
//! back to the first stage's). Variables are named by global layer index, so a stage's weights copy
//! to and from the whole model by name.

pub mod layers;

use std::collections::BTreeMap;
use std::ops::Range;

use sha2::{Digest, Sha256};
use tch::nn::{self, Init};
use tch::{Device, Tensor};

use crate::config::ModelConfig;
use crate::error::ComputeError;
use layers::{rms_norm, Block, LayerCache, Rope};

/// A model or a pipeline stage of it.
pub struct NeuroLlm {
    cfg: ModelConfig,
    range: Range<i64>,
    vs: nn::VarStore,
    embed: Option<Tensor>,
    blocks: Vec<Block>,
    final_norm: Option<Tensor>,
    head: Option<Tensor>,
    rope: Rope,
}

/// Per-layer caches for incremental decoding.
pub struct KvCache {
    layers: Vec<LayerCache>,
    pub len: i64,
}

/// What a stage consumes: token ids (first stage) or the previous stage's hidden states.
pub enum StageInput<'a> {
    Tokens(&'a Tensor),
    Hidden(&'a Tensor),
}

/// Held while a model's weights are drawn from libtorch's process-wide generator.
static INIT_RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

impl NeuroLlm {
    /// A freshly initialised whole model; the same seed gives the same weights.
    pub fn new(cfg: &ModelConfig, seed: i64) -> Result<NeuroLlm, ComputeError> {
        Self::build(cfg, 0..cfg.layers, Some(seed))
    }

    /// A stage holding `range`, freshly initialised (seeded if `seed` is given).
    pub fn build(
        cfg: &ModelConfig,
        range: Range<i64>,
        seed: Option<i64>,
    ) -> Result<NeuroLlm, ComputeError> {
        Self::build_on(cfg, range, seed, crate::default_device())
    }

    /// [`Self::build`] on `device`. Seeded weights are always drawn on the CPU, so a seed gives
    /// the same weights on every machine, then moved to `device`.
    pub fn build_on(
        cfg: &ModelConfig,
        range: Range<i64>,
        seed: Option<i64>,
        device: Device,
    ) -> Result<NeuroLlm, ComputeError> {
        cfg.validate()?;
        if range.start < 0 || range.start >= range.end || range.end > cfg.layers {
            return Err(ComputeError::Config(format!(
                "layer range {range:?} is not within 0..{}",
                cfg.layers
            )));
        }
        // libtorch's generator is process-wide: a build on another thread (seeded or not) would
        // draw from it between our seed and our draws and change the weights.
        let _rng = INIT_RNG.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(seed) = seed {
            tch::manual_seed(seed);
        }
        let mut vs = nn::VarStore::new(Device::Cpu);
        let root = vs.root();
        let std = 0.02;
        let out_std = std / (2.0 * cfg.layers as f64).sqrt();
        let normal = |stdev: f64| Init::Randn { mean: 0.0, stdev };
        let (d, kv) = (cfg.hidden, cfg.kv_heads * cfg.head_dim());
        let first = range.start == 0;
        let last = range.end == cfg.layers;
        let embed = (first || (last && cfg.tied_embeddings))
            .then(|| (root.clone() / "embed").var("weight", &[cfg.vocab, d], normal(std)));
        let blocks = range
            .clone()
            .map(|i| {
                let p = root.clone() / "layers" / i;
                Block {
                    attn_norm: p.var("attn_norm", &[d], Init::Const(1.0)),
                    wq: p.var("wq", &[d, d], normal(std)),
                    wk: p.var("wk", &[kv, d], normal(std)),
                    wv: p.var("wv", &[kv, d], normal(std)),
                    wo: p.var("wo", &[d, d], normal(out_std)),
                    ffn_norm: p.var("ffn_norm", &[d], Init::Const(1.0)),
                    w1: p.var("w1", &[cfg.ffn, d], normal(std)),
                    w2: p.var("w2", &[d, cfg.ffn], normal(out_std)),
                    w3: p.var("w3", &[cfg.ffn, d], normal(std)),
                    heads: cfg.heads,
                    kv_heads: cfg.kv_heads,
                }
            })
            .collect();
        let final_norm = last.then(|| root.var("norm", &[d], Init::Const(1.0)));
        let head = (last && !cfg.tied_embeddings)
            .then(|| (root.clone() / "head").var("weight", &[cfg.vocab, d], normal(std)));
        if device != Device::Cpu {
            vs.set_device(device);
        }
        let rope = Rope::new(cfg.head_dim(), cfg.context, cfg.rope_theta, vs.device());
        Ok(NeuroLlm {
            cfg: cfg.clone(),
            range,
            vs,
            embed,
            blocks,
            final_norm,
            head,
            rope,
        })
    }

    /// A pipeline stage holding `range`, with this model's weights.
    pub fn stage(&self, range: Range<i64>) -> Result<NeuroLlm, ComputeError> {
        let stage = Self::build(&self.cfg, range, None)?;
        stage.copy_weights_from(self)?;
        Ok(stage)
    }

    /// Copies every variable that both hold (by name) from `other`.
    pub fn copy_weights_from(&self, other: &NeuroLlm) -> Result<(), ComputeError> {
        let theirs = other.vs.variables();
        tch::no_grad(|| {
            for (name, mut mine) in self.vs.variables() {
                if let Some(src) = theirs.get(&name) {
                    mine.f_copy_(src)?;
                }
            }
            Ok::<(), tch::TchError>(())
        })?;
        Ok(())
    }

    /// The same weights under `cfg`, which must give every weight the shape it has now: an
    /// attention change (rotary base, context) that NeuroDAO voted for a new model version.
    pub fn reconfigured(&self, cfg: &ModelConfig) -> Result<NeuroLlm, ComputeError> {
        let c = &self.cfg;
        let same_shapes = (c.vocab, c.hidden, c.layers, c.heads, c.kv_heads, c.ffn)
            == (
                cfg.vocab,
                cfg.hidden,
                cfg.layers,
                cfg.heads,
                cfg.kv_heads,
                cfg.ffn,
            )
            && c.tied_embeddings == cfg.tied_embeddings;
        if !same_shapes {
            return Err(ComputeError::Config(format!(
                "model version {} reshapes weights of version {}: not an attention change",
                cfg.version, c.version
            )));
        }
        let model = Self::build(cfg, self.range.clone(), None)?;
        model.copy_weights_from(self)?;
        Ok(model)
    }

    /// The model grown to `layers` layers. New layers are appended with zero output projections
    /// (`wo`, `w2`), so each is an identity residual block and the function is unchanged.
    pub fn grow_depth(&self, layers: i64) -> Result<NeuroLlm, ComputeError> {
        if !self.is_whole() || layers < self.cfg.layers {
            return Err(ComputeError::Config(
                "can only grow a whole model deeper".into(),
            ));
        }
        let cfg = ModelConfig {
            layers,
            version: self.cfg.version + 1,
            ..self.cfg.clone()
        };
        let grown = Self::build(&cfg, 0..layers, None)?;
        grown.copy_weights_from(self)?;
        tch::no_grad(|| {
            for block in &grown.blocks[self.cfg.layers as usize..] {
                let _ = block.wo.shallow_clone().zero_();
                let _ = block.w2.shallow_clone().zero_();
            }
        });
        Ok(grown)
    }

    pub fn config(&self) -> &ModelConfig {
        &self.cfg
    }
    pub fn layer_range(&self) -> Range<i64> {
        self.range.clone()
    }
    pub fn is_first(&self) -> bool {
        self.range.start == 0
    }
    pub fn is_last(&self) -> bool {
        self.range.end == self.cfg.layers
    }
    pub fn is_whole(&self) -> bool {
        self.is_first() && self.is_last()
    }
    /// Where this model's weights live (CUDA when available, else CPU).
    pub fn device(&self) -> Device {
        self.vs.device()
    }

    /// Variables sorted by name: the canonical order for flattening, hashing and checkpoints.
    pub fn named_parameters(&self) -> BTreeMap<String, Tensor> {
        self.vs.variables().into_iter().collect()
    }

    pub fn num_parameters(&self) -> i64 {
        self.named_parameters()
            .values()
            .map(|t| t.numel() as i64)
            .sum()
    }

    /// SHA-256 over (name, shape, little-endian f32 values) of every parameter: the model version a
    /// proof commits to.
    pub fn weights_hash(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        for (name, t) in self.named_parameters() {
            h.update(name.as_bytes());
            for dim in t.size() {
                h.update(dim.to_le_bytes());
            }
            let values = crate::to_host(&t).unwrap_or_default();
            for v in values {
                h.update(v.to_le_bytes());
            }
        }
        h.finalize().into()
    }

    pub fn new_cache(&self) -> KvCache {
        KvCache {
            layers: self.blocks.iter().map(|_| LayerCache::default()).collect(),
            len: 0,
        }
    }

    /// Runs this stage. Returns hidden states, or logits `[batch, time, vocab]` on the last stage.
    pub fn forward(&self, input: StageInput<'_>) -> Result<Tensor, ComputeError> {
        self.forward_at(input, 0, None)
    }

    /// Runs this stage at absolute position `pos`, appending to `cache` if given. Prefill from
    /// position 0, then feed one token at a time.
    pub fn forward_at(
        &self,
        input: StageInput<'_>,
        pos: i64,
        mut cache: Option<&mut KvCache>,
    ) -> Result<Tensor, ComputeError> {
        let mut h = match (input, &self.embed) {
            (StageInput::Tokens(tokens), Some(embed)) if self.is_first() => {
                Tensor::f_embedding(embed, &tokens.to_device(self.device()), -1, false, false)?
            }
            (StageInput::Hidden(h), _) if !self.is_first() => h.to_device(self.device()),
            _ => {
                return Err(ComputeError::Pipeline(
                    "the first stage takes tokens, later stages take hidden states".into(),
                ))
            }
        };
        let t = h.size().get(1).copied().unwrap_or(0);
        if pos + t > self.cfg.context {
            return Err(ComputeError::Pipeline(format!(
                "sequence of {} exceeds the context of {}",
                pos + t,
                self.cfg.context
            )));
        }
        for (i, block) in self.blocks.iter().enumerate() {
            let layer_cache = cache.as_deref_mut().map(|c| &mut c.layers[i]);
            h = block.forward(&h, &self.rope, pos, layer_cache);
        }
        if let Some(c) = cache {
            c.len = pos + t;
        }
        match (&self.final_norm, &self.head, &self.embed) {
            (Some(norm), Some(head), _) => Ok(rms_norm(&h, norm).matmul(&head.tr())),
            (Some(norm), None, Some(embed)) => Ok(rms_norm(&h, norm).matmul(&embed.tr())),
            _ => Ok(h),
        }
    }

    /// Mean next-token cross-entropy (nats) of logits against targets.
    pub fn loss(logits: &Tensor, targets: &Tensor) -> Tensor {
        let vocab = logits.size().last().copied().unwrap_or(1);
        logits
            .reshape([-1, vocab])
            .cross_entropy_for_logits(&targets.reshape([-1]).to_device(logits.device()))
    }

    /// Inputs and targets of a batch as tensors.
    pub fn batch_tensors(batch: &crate::data::Batch) -> (Tensor, Tensor) {
        let all = Tensor::from_slice(&batch.tokens).view([batch.rows as i64, batch.cols as i64]);
        let len = batch.cols as i64 - 1;
        (all.narrow(1, 0, len), all.narrow(1, 1, len))
    }

    /// Loss of a whole model on a batch, without gradients.
    pub fn eval_loss(&self, batch: &crate::data::Batch) -> Result<f64, ComputeError> {
        let (inputs, targets) = Self::batch_tensors(batch);
        let loss = tch::no_grad(|| {
            self.forward(StageInput::Tokens(&inputs))
                .map(|logits| Self::loss(&logits, &targets))
        })?;
        Ok(f64::try_from(loss)?)
    }

    /// All parameters as one flat f32 vector (in `named_parameters` order).
    pub fn flat_parameters(&self) -> Tensor {
        let parts: Vec<Tensor> = self
            .named_parameters()
            .values()
            .map(|t| t.detach().flatten(0, -1))
            .collect();
        Tensor::cat(&parts, 0)
    }

    /// Overwrites all parameters from a flat vector made by [`Self::flat_parameters`].
    pub fn set_flat_parameters(&self, flat: &Tensor) -> Result<(), ComputeError> {
        let expected = self.num_parameters();
        if flat.numel() as i64 != expected {
            return Err(ComputeError::Aggregation(format!(
                "flat vector has {} values, the model {expected}",
                flat.numel()
            )));
        }
        let mut offset = 0;
        tch::no_grad(|| {
            for (_, mut t) in self.named_parameters() {
                let n = t.numel() as i64;
                t.f_copy_(&flat.narrow(0, offset, n).view(t.size().as_slice()))?;
                offset += n;
            }
            Ok::<(), tch::TchError>(())
        })?;
        Ok(())
    }
}
