//! The inner training loop: AdamW, gradient clipping, linear warm-up then cosine decay.

use tch::nn::{self, OptimizerConfig};

use crate::data::Batch;
use crate::error::ComputeError;
use crate::model::{NeuroLlm, StageInput};

/// Inner-optimizer settings (the protocol's defaults: lr 1e-4, weight decay 0.1, warm-up 1 000,
/// cosine to 0.1× over 50 000 steps, clipping at 1.0).
#[derive(Clone, Debug, PartialEq)]
pub struct TrainConfig {
    pub batch_size: usize,
    pub seq_len: usize,
    pub lr: f64,
    pub weight_decay: f64,
    pub warmup_steps: u64,
    pub decay_steps: u64,
    pub min_lr_ratio: f64,
    pub grad_clip: f64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            batch_size: 8,
            seq_len: 128,
            lr: 1e-4,
            weight_decay: 0.1,
            warmup_steps: 1_000,
            decay_steps: 50_000,
            min_lr_ratio: 0.1,
            grad_clip: 1.0,
        }
    }
}

impl TrainConfig {
    /// Learning rate at `step` (0-based).
    pub fn lr_at(&self, step: u64) -> f64 {
        if step < self.warmup_steps {
            return self.lr * (step + 1) as f64 / self.warmup_steps as f64;
        }
        let progress =
            ((step - self.warmup_steps) as f64 / self.decay_steps.max(1) as f64).min(1.0);
        let cosine = 0.5 * (1.0 + (std::f64::consts::PI * progress).cos());
        self.lr * (self.min_lr_ratio + (1.0 - self.min_lr_ratio) * cosine)
    }
}

/// A model and its inner optimizer.
pub struct Trainer {
    pub model: NeuroLlm,
    opt: nn::Optimizer,
    /// Steps taken by this trainer.
    pub step: u64,
    /// Where on the learning-rate schedule its first step is ([`TrainConfig::lr_at`] of
    /// `schedule_start + step`): training resumed at a later point of a longer run.
    pub schedule_start: u64,
    pub cfg: TrainConfig,
}

impl Trainer {
    pub fn new(model: NeuroLlm, cfg: TrainConfig) -> Result<Trainer, ComputeError> {
        let opt = nn::adamw(0.9, 0.95, cfg.weight_decay).build(model.var_store(), cfg.lr)?;
        Ok(Trainer {
            model,
            opt,
            step: 0,
            schedule_start: 0,
            cfg,
        })
    }

    /// One optimizer step on `batch`; returns the loss before the step.
    pub fn train_step(&mut self, batch: &Batch) -> Result<f64, ComputeError> {
        let (inputs, targets) = NeuroLlm::batch_tensors(batch);
        let logits = self.model.forward(StageInput::Tokens(&inputs))?;
        let loss = NeuroLlm::loss(&logits, &targets);
        self.opt.set_lr(
            self.cfg
                .lr_at(self.schedule_start.saturating_add(self.step)),
        );
        self.opt.backward_step_clip_norm(&loss, self.cfg.grad_clip);
        self.step += 1;
        Ok(f64::try_from(&loss)?)
    }
}
