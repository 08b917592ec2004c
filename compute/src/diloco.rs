//! DiLoCo: each worker takes `H` inner AdamW steps from the global weights; its pseudo-gradient
//! `θ_start − θ_end` is (optionally int8-compressed and) aggregated with a Byzantine-robust rule;
//! the outer optimizer, SGD with Nesterov momentum (lr 0.7, μ 0.9 by default), applies it:
//! `v ← μ v + Δ;  θ ← θ − lr (Δ + μ v)`.

use sha2::{Digest, Sha256};
use tch::{Kind, Tensor};

use crate::aggregate::{aggregate, Rule};
use crate::compress;
use crate::data::Batch;
use crate::error::ComputeError;
use crate::model::NeuroLlm;
use crate::train::Trainer;

#[derive(Clone, Debug, PartialEq)]
pub struct DilocoConfig {
    pub inner_steps: u64,
    pub outer_lr: f64,
    pub outer_momentum: f64,
    pub rule: Rule,
    pub int8: bool,
}

impl Default for DilocoConfig {
    fn default() -> Self {
        DilocoConfig {
            inner_steps: 500,
            outer_lr: 0.7,
            outer_momentum: 0.9,
            rule: Rule::TrimmedMean { trim: 0.1 },
            int8: false,
        }
    }
}

/// Outer SGD with Nesterov momentum over the flat parameter vector.
pub struct OuterOptimizer {
    lr: f64,
    momentum: f64,
    velocity: Option<Tensor>,
}

impl OuterOptimizer {
    pub fn new(cfg: &DilocoConfig) -> OuterOptimizer {
        OuterOptimizer {
            lr: cfg.outer_lr,
            momentum: cfg.outer_momentum,
            velocity: None,
        }
    }

    /// An optimizer that resumes from committed momentum.
    pub fn resume(cfg: &DilocoConfig, momentum: Momentum) -> OuterOptimizer {
        OuterOptimizer {
            velocity: momentum.velocity,
            ..OuterOptimizer::new(cfg)
        }
    }

    /// The momentum after the last step.
    pub fn momentum(&self) -> Momentum {
        Momentum {
            velocity: self.velocity.as_ref().map(Tensor::shallow_clone),
        }
    }

    pub fn step(&mut self, global: &NeuroLlm, delta: &Tensor) -> Result<(), ComputeError> {
        let delta = &delta.to_device(global.device());
        let v = match self.velocity.take() {
            Some(v) => v * self.momentum + delta,
            None => delta.shallow_clone().copy(),
        };
        let update = (delta + &v * self.momentum) * self.lr;
        global.set_flat_parameters(&(global.flat_parameters() - update))?;
        self.velocity = Some(v);
        Ok(())
    }
}

/// The outer optimizer's momentum: committed training state, content-addressed by
/// [`Momentum::hash`] (all zero before the first step, when there is none).
#[derive(Debug, Default)]
pub struct Momentum {
    velocity: Option<Tensor>,
}

impl Momentum {
    /// No momentum yet (round 0).
    pub fn none() -> Momentum {
        Momentum::default()
    }

    pub fn hash(&self) -> [u8; 32] {
        self.velocity
            .as_ref()
            .map_or(crate::ponw::NO_MOMENTUM_HASH, hash_vector)
    }

    /// Writes the momentum to `path` (nothing for none); returns its hash.
    pub fn save(&self, path: &std::path::Path) -> Result<[u8; 32], ComputeError> {
        match &self.velocity {
            Some(v) => crate::checkpoint::save_vector(v, path),
            None => Ok(crate::ponw::NO_MOMENTUM_HASH),
        }
    }

    /// Reads the momentum whose hash is `expected` from `path` (none for the zero hash).
    pub fn load(path: &std::path::Path, expected: &[u8; 32]) -> Result<Momentum, ComputeError> {
        if expected == &crate::ponw::NO_MOMENTUM_HASH {
            return Ok(Momentum::none());
        }
        Ok(Momentum {
            velocity: Some(crate::checkpoint::load_vector(path, expected)?),
        })
    }
}

/// How a worker behaves: honest, or (to test robustness) Byzantine.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Behaviour {
    Honest,
    /// Sends `-scale ×` its real pseudo-gradient.
    SignFlip {
        scale: f64,
    },
}

pub struct Worker {
    pub trainer: Trainer,
    pub behaviour: Behaviour,
    residual: Option<Tensor>,
}

impl Worker {
    pub fn new(trainer: Trainer, behaviour: Behaviour) -> Worker {
        Worker {
            trainer,
            behaviour,
            residual: None,
        }
    }
}

/// What one round did.
#[derive(Clone, Debug, PartialEq)]
pub struct RoundReport {
    pub mean_inner_loss: f64,
    /// Bytes each worker sent for its pseudo-gradient.
    pub bytes_per_worker: usize,
    /// SHA-256 of each worker's pseudo-gradient as sent (what its proof commits to).
    pub pseudo_gradient_hashes: Vec<[u8; 32]>,
}

/// SHA-256 of a flat f32 vector's little-endian bytes.
pub fn hash_vector(t: &Tensor) -> [u8; 32] {
    let values = crate::to_host(t).unwrap_or_default();
    let mut h = Sha256::new();
    for v in values {
        h.update(v.to_le_bytes());
    }
    h.finalize().into()
}

/// One DiLoCo round. `batch(worker, inner_step)` supplies each worker's batches.
pub fn round(
    global: &NeuroLlm,
    workers: &mut [Worker],
    cfg: &DilocoConfig,
    outer: &mut OuterOptimizer,
    mut batch: impl FnMut(usize, u64) -> Result<Batch, ComputeError>,
) -> Result<RoundReport, ComputeError> {
    let start = global.flat_parameters();
    let mut deltas = Vec::with_capacity(workers.len());
    let mut hashes = Vec::with_capacity(workers.len());
    let (mut loss_sum, mut loss_n) = (0.0, 0u64);
    let mut bytes = 0;
    for (w, worker) in workers.iter_mut().enumerate() {
        worker.trainer.model.set_flat_parameters(&start)?;
        for h in 0..cfg.inner_steps {
            loss_sum += worker.trainer.train_step(&batch(w, h)?)?;
            loss_n += 1;
        }
        let mut delta = &start - worker.trainer.model.flat_parameters();
        if let Behaviour::SignFlip { scale } = worker.behaviour {
            delta *= -scale;
        }
        if cfg.int8 {
            let residual = worker
                .residual
                .get_or_insert_with(|| Tensor::zeros(delta.size(), (Kind::Float, delta.device())));
            let q = compress::quantize(&delta, residual)?;
            bytes = q.wire_bytes();
            delta = compress::dequantize(&q)?;
        } else {
            bytes = delta.numel() * 4;
        }
        hashes.push(hash_vector(&delta));
        deltas.push(delta);
    }
    let agg = aggregate(&deltas, cfg.rule)?;
    outer.step(global, &agg)?;
    Ok(RoundReport {
        mean_inner_loss: loss_sum / loss_n.max(1) as f64,
        bytes_per_worker: bytes,
        pseudo_gradient_hashes: hashes,
    })
}
