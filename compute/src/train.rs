//! The inner training loop: AdamW, gradient clipping, linear warm-up then cosine decay.
//!
//! AdamW is written here in plain tensor operations rather than through tch's C++ optimizer,
//! whose moments cannot be read out: a worker's inner optimizer state ([`InnerState`]: weights,
//! both moments and the step count) is what carries one segment of DiLoCo inner steps into the
//! next, and what a replay of a later segment starts from (`ponw`).

use tch::{Kind, Tensor};

use crate::data::Batch;
use crate::error::ComputeError;
use crate::model::{NeuroLlm, StageInput};

/// AdamW's first-moment decay.
pub const BETA1: f64 = 0.9;
/// AdamW's second-moment decay.
pub const BETA2: f64 = 0.95;
/// AdamW's denominator guard.
pub const EPS: f64 = 1e-8;

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

/// A model and its inner AdamW optimizer.
pub struct Trainer {
    pub model: NeuroLlm,
    /// First and second moments, one pair per parameter in `named_parameters` order.
    moments: Vec<(Tensor, Tensor)>,
    /// AdamW steps behind the moments (bias correction): carried across segments.
    adam_steps: u64,
    /// Steps taken by this trainer.
    pub step: u64,
    /// Where on the learning-rate schedule its first step is ([`TrainConfig::lr_at`] of
    /// `schedule_start + step`): training resumed at a later point of a longer run.
    pub schedule_start: u64,
    pub cfg: TrainConfig,
}

impl Trainer {
    /// A trainer with fresh (zero) moments.
    pub fn new(model: NeuroLlm, cfg: TrainConfig) -> Result<Trainer, ComputeError> {
        let moments = model
            .named_parameters()
            .values()
            .map(|p| (p.zeros_like(), p.zeros_like()))
            .collect();
        Ok(Trainer {
            model,
            moments,
            adam_steps: 0,
            step: 0,
            schedule_start: 0,
            cfg,
        })
    }

    /// A trainer that continues from `state`: its weights go into `model` (whose shape must
    /// match), its moments and step count into the optimizer.
    pub fn resume(
        model: NeuroLlm,
        cfg: TrainConfig,
        state: &InnerState,
    ) -> Result<Trainer, ComputeError> {
        let n = model.num_parameters();
        if state.parameters() != n {
            return Err(ComputeError::Config(format!(
                "an inner state of {} parameters for a model of {n}",
                state.parameters()
            )));
        }
        model.set_flat_parameters(&state.weights.to_device(model.device()))?;
        let mut moments = Vec::new();
        let mut offset = 0;
        for p in model.named_parameters().values() {
            let len = p.numel() as i64;
            let shape = p.size();
            let take = |flat: &Tensor| {
                flat.narrow(0, offset, len)
                    .reshape(shape.as_slice())
                    .to_device(p.device())
                    .copy()
            };
            moments.push((take(&state.m), take(&state.v)));
            offset += len;
        }
        Ok(Trainer {
            model,
            moments,
            adam_steps: state.steps,
            step: 0,
            schedule_start: 0,
            cfg,
        })
    }

    /// Weights, moments and step count as an [`InnerState`] blob: the same bytes
    /// [`InnerState::to_bytes`] gives for them, written from the parameters one at a time (no
    /// flat copy of the model is made: on the bootstrap model that is 909 MB less at the peak).
    pub fn state_bytes(&self) -> Result<Vec<u8>, ComputeError> {
        serialize_state(
            self.model.named_parameters().into_values().collect(),
            self.moments
                .iter()
                .map(|(m, _)| m.shallow_clone())
                .collect(),
            self.moments
                .iter()
                .map(|(_, v)| v.shallow_clone())
                .collect(),
            self.adam_steps,
        )
    }

    /// One optimizer step on `batch`; returns the loss before the step.
    pub fn train_step(&mut self, batch: &Batch) -> Result<f64, ComputeError> {
        let mut params: Vec<Tensor> = self.model.named_parameters().into_values().collect();
        for p in &mut params {
            p.zero_grad();
        }
        let (inputs, targets) = NeuroLlm::batch_tensors(batch);
        let logits = self.model.forward(StageInput::Tokens(&inputs))?;
        let loss = NeuroLlm::loss(&logits, &targets);
        loss.f_backward()?;
        let lr = self
            .cfg
            .lr_at(self.schedule_start.saturating_add(self.step));
        tch::no_grad(|| self.adamw(&mut params, lr))?;
        self.step += 1;
        Ok(f64::try_from(&loss)?)
    }

    /// Clips the gradients to a total norm of `grad_clip`, then takes AdamW's step (decoupled
    /// weight decay, bias-corrected moments), parameter by parameter in a fixed order.
    fn adamw(&mut self, params: &mut [Tensor], lr: f64) -> Result<(), ComputeError> {
        let grads: Vec<Option<Tensor>> = params
            .iter()
            .map(|p| {
                let g = p.grad();
                g.defined().then_some(g)
            })
            .collect();
        let mut total = 0.0f64;
        for g in grads.iter().flatten() {
            let n = f64::try_from(g.f_norm()?)?;
            total += n * n;
        }
        let coef = self.cfg.grad_clip / (total.sqrt() + 1e-6);
        let scale = if coef < 1.0 { coef } else { 1.0 };
        self.adam_steps += 1;
        let t = self.adam_steps as f64;
        let bias1 = 1.0 - BETA1.powf(t);
        let bias2 = 1.0 - BETA2.powf(t);
        for ((p, g), (m, v)) in params.iter_mut().zip(&grads).zip(&mut self.moments) {
            let Some(g) = g else { continue };
            let g = g * scale;
            let _ = p.f_mul_scalar_(1.0 - lr * self.cfg.weight_decay)?;
            let _ = m.f_mul_scalar_(BETA1)?;
            let _ = m.f_add_(&(&g * (1.0 - BETA1)))?;
            let _ = v.f_mul_scalar_(BETA2)?;
            let _ = v.f_addcmul_(&(&g * (1.0 - BETA2)), &g)?;
            let denom = v.f_sqrt()? / bias2.sqrt() + EPS;
            let _ = p.f_sub_(&(m.f_div(&denom)? * (lr / bias1)))?;
        }
        Ok(())
    }
}

/// A worker's inner optimizer state between two segments: flat weights, AdamW's two moments
/// (all in `named_parameters` order) and its step count. It travels as a blob
/// ([`InnerState::to_bytes`]), named by the hash a proof commits to as its start or end state.
pub struct InnerState {
    weights: Tensor,
    m: Tensor,
    v: Tensor,
    steps: u64,
}

const WEIGHTS: &str = "weights";
const FIRST_MOMENT: &str = "m";
const SECOND_MOMENT: &str = "v";
const STEPS: &str = "steps";

impl InnerState {
    pub fn parameters(&self) -> i64 {
        self.weights.numel() as i64
    }

    /// AdamW steps behind the moments.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// The flat weights.
    pub fn weights(&self) -> &Tensor {
        &self.weights
    }

    /// The state as safetensors bytes: the same state gives the same bytes on every machine.
    pub fn to_bytes(&self) -> Result<Vec<u8>, ComputeError> {
        serialize_state(
            vec![self.weights.shallow_clone()],
            vec![self.m.shallow_clone()],
            vec![self.v.shallow_clone()],
            self.steps,
        )
    }

    /// Reads [`InnerState::to_bytes`]'s output for a model of `parameters` parameters (after
    /// its hash was checked against the proof's).
    pub fn from_bytes(bytes: &[u8], parameters: i64) -> Result<InnerState, ComputeError> {
        use safetensors::tensor::{Dtype, SafeTensors};
        let bad = |reason: String| ComputeError::Checkpoint {
            file: "inner state".into(),
            reason,
        };
        let st = SafeTensors::deserialize(bytes).map_err(|e| bad(e.to_string()))?;
        if st.len() != 4 {
            return Err(bad(format!("{} tensors, not 4", st.len())));
        }
        let n = usize::try_from(parameters).map_err(|_| bad("negative size".into()))?;
        let vector = |name: &str| -> Result<Tensor, ComputeError> {
            let view = st.tensor(name).map_err(|e| bad(e.to_string()))?;
            if view.dtype() != Dtype::F32 || view.shape() != [n] {
                return Err(bad(format!("{name} must be {n} f32 values")));
            }
            Ok(Tensor::f_from_data_size(
                view.data(),
                &[parameters],
                Kind::Float,
            )?)
        };
        let steps = st.tensor(STEPS).map_err(|e| bad(e.to_string()))?;
        if steps.dtype() != Dtype::U64 || steps.shape() != [1] {
            return Err(bad("steps must be one u64".into()));
        }
        let mut le = [0u8; 8];
        le.copy_from_slice(steps.data());
        Ok(InnerState {
            weights: vector(WEIGHTS)?,
            m: vector(FIRST_MOMENT)?,
            v: vector(SECOND_MOMENT)?,
            steps: u64::from_le_bytes(le),
        })
    }

    /// The most bytes [`InnerState::to_bytes`] gives for a `parameters`-parameter model.
    pub fn max_len(parameters: i64) -> u64 {
        (parameters.max(0) as u64)
            .saturating_mul(12)
            .saturating_add(4_096)
    }
}

/// One tensor of a state blob: f32 values gathered from `parts` (flattened, in order) only when
/// the serialiser asks for them, so one part's bytes are in memory at a time besides the output;
/// or the step count.
enum StateView {
    F32 {
        parts: Vec<Tensor>,
        shape: [usize; 1],
    },
    Steps([u8; 8]),
}

impl safetensors::tensor::View for StateView {
    fn dtype(&self) -> safetensors::tensor::Dtype {
        match self {
            StateView::F32 { .. } => safetensors::tensor::Dtype::F32,
            StateView::Steps(_) => safetensors::tensor::Dtype::U64,
        }
    }
    fn shape(&self) -> &[usize] {
        match self {
            StateView::F32 { shape, .. } => shape,
            StateView::Steps(_) => &[1],
        }
    }
    fn data(&self) -> std::borrow::Cow<'_, [u8]> {
        match self {
            StateView::F32 { parts, shape } => {
                let mut bytes = Vec::with_capacity(shape[0] * 4);
                for part in parts {
                    // A part that cannot be read leaves the blob short, which
                    // `serialize_state` refuses: no state is written with missing values.
                    if let Ok(values) = crate::to_host(part) {
                        bytes.extend(values.iter().flat_map(|v| v.to_le_bytes()));
                    }
                }
                std::borrow::Cow::Owned(bytes)
            }
            StateView::Steps(b) => std::borrow::Cow::Borrowed(b),
        }
    }
    fn data_len(&self) -> usize {
        match self {
            StateView::F32 { shape, .. } => shape[0] * 4,
            StateView::Steps(_) => 8,
        }
    }
}

/// The state blob of weights `w`, moments `m` and `v` (each a list of tensors, flattened in
/// order) and `steps`: a safetensors file of `weights`, `m`, `v` (f32) and `steps` (u64).
fn serialize_state(
    w: Vec<Tensor>,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    steps: u64,
) -> Result<Vec<u8>, ComputeError> {
    let f32s = |parts: Vec<Tensor>| {
        let n = parts.iter().map(|t| t.numel()).sum();
        StateView::F32 { parts, shape: [n] }
    };
    use safetensors::tensor::View;
    let views = [
        (WEIGHTS, f32s(w)),
        (FIRST_MOMENT, f32s(m)),
        (SECOND_MOMENT, f32s(v)),
        (STEPS, StateView::Steps(steps.to_le_bytes())),
    ];
    let data_len: usize = views.iter().map(|(_, view)| view.data_len()).sum();
    let bad = |reason: String| ComputeError::Checkpoint {
        file: "inner state".into(),
        reason,
    };
    let bytes = safetensors::tensor::serialize(views, &None).map_err(|e| bad(e.to_string()))?;
    // The header's size, the header, then exactly the declared data: a part that could not be
    // read would have left it short.
    let header = bytes
        .get(..8)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map_or(0, u64::from_le_bytes);
    if bytes.len() as u64 != 8 + header + data_len as u64 {
        return Err(bad("a tensor could not be read".into()));
    }
    Ok(bytes)
}
