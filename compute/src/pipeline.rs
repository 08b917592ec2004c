//! Pipeline-sharded training: stages hold contiguous layer ranges and exchange activations forward
//! and their gradients backward through a [`Transport`]. Messages are plain data (shapes and f32
//! values), so a network transport can carry them; [`InProcess`] runs all stages in one process.
//!
//! With tied embeddings the last stage holds a copy of the embedding for its head; the gradient of
//! that copy travels back with the activation gradients and is added to the first stage's, so the
//! pipeline's gradients equal the whole model's.

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::Mutex;

use tch::Tensor;

use crate::data::Batch;
use crate::error::ComputeError;
use crate::model::{NeuroLlm, StageInput};

/// A tensor as plain data.
#[derive(Clone, Debug, PartialEq)]
pub struct Wire {
    pub shape: Vec<i64>,
    pub data: Vec<f32>,
}

impl Wire {
    fn from_tensor(t: &Tensor) -> Result<Wire, ComputeError> {
        Ok(Wire {
            shape: t.size(),
            data: crate::to_host(t)?,
        })
    }

    fn to_tensor(&self) -> Result<Tensor, ComputeError> {
        let n: i64 = self.shape.iter().product();
        if n as usize != self.data.len() {
            return Err(ComputeError::Pipeline(format!(
                "message of shape {:?} carries {} values",
                self.shape,
                self.data.len()
            )));
        }
        Ok(Tensor::from_slice(&self.data).f_view(self.shape.as_slice())?)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum StageMessage {
    Activations {
        step: u64,
        hidden: Wire,
    },
    Gradients {
        step: u64,
        grad: Wire,
        tied_embedding_grad: Option<Wire>,
    },
}

/// Moves messages between stages.
pub trait Transport {
    fn send(&self, to: usize, msg: StageMessage) -> Result<(), ComputeError>;
    fn recv(&self, at: usize) -> Result<StageMessage, ComputeError>;
}

/// All stages in one process.
pub struct InProcess {
    queues: Vec<Mutex<VecDeque<StageMessage>>>,
}

impl InProcess {
    pub fn new(stages: usize) -> InProcess {
        InProcess {
            queues: (0..stages).map(|_| Mutex::new(VecDeque::new())).collect(),
        }
    }
}

impl Transport for InProcess {
    fn send(&self, to: usize, msg: StageMessage) -> Result<(), ComputeError> {
        let queue = self
            .queues
            .get(to)
            .ok_or_else(|| ComputeError::Pipeline(format!("no stage {to}")))?;
        queue
            .lock()
            .map_err(|_| ComputeError::Pipeline("queue poisoned".into()))?
            .push_back(msg);
        Ok(())
    }

    fn recv(&self, at: usize) -> Result<StageMessage, ComputeError> {
        let queue = self
            .queues
            .get(at)
            .ok_or_else(|| ComputeError::Pipeline(format!("no stage {at}")))?;
        queue
            .lock()
            .map_err(|_| ComputeError::Pipeline("queue poisoned".into()))?
            .pop_front()
            .ok_or_else(|| ComputeError::Pipeline(format!("stage {at} has no message")))
    }
}

pub struct Pipeline<T: Transport> {
    pub stages: Vec<NeuroLlm>,
    transport: T,
    step: u64,
}

impl<T: Transport> Pipeline<T> {
    /// Splits `model` into stages holding `ranges` (contiguous, covering every layer).
    pub fn split(
        model: &NeuroLlm,
        ranges: &[Range<i64>],
        transport: T,
    ) -> Result<Self, ComputeError> {
        let layers = model.config().layers;
        let contiguous = ranges.first().is_some_and(|r| r.start == 0)
            && ranges.last().is_some_and(|r| r.end == layers)
            && ranges.windows(2).all(|w| w[0].end == w[1].start);
        if !contiguous {
            return Err(ComputeError::Pipeline(format!(
                "stages {ranges:?} do not cover 0..{layers} contiguously"
            )));
        }
        let stages = ranges
            .iter()
            .map(|r| model.stage(r.clone()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Pipeline {
            stages,
            transport,
            step: 0,
        })
    }

    fn zero_grads(&self) {
        for stage in &self.stages {
            for (_, mut t) in stage.named_parameters() {
                t.zero_grad();
            }
        }
    }

    /// Forward and backward of one batch through every stage; leaves each stage's parameter
    /// gradients in place and returns the loss.
    pub fn forward_backward(&mut self, batch: &Batch) -> Result<f64, ComputeError> {
        self.zero_grads();
        self.step += 1;
        let step = self.step;
        let last = self.stages.len() - 1;
        let (inputs, targets) = NeuroLlm::batch_tensors(batch);
        // Forward: each stage keeps its input (as a leaf) and output for the backward pass.
        let mut saved: Vec<(Option<Tensor>, Tensor)> = Vec::with_capacity(self.stages.len());
        let mut loss_value = 0.0;
        for (i, stage) in self.stages.iter().enumerate() {
            let (input, output) = if i == 0 {
                (None, stage.forward(StageInput::Tokens(&inputs))?)
            } else {
                let hidden = match self.transport.recv(i)? {
                    StageMessage::Activations { step: s, hidden } if s == step => {
                        hidden.to_tensor()?
                    }
                    other => {
                        return Err(ComputeError::Pipeline(format!(
                            "stage {i} expected activations, got {other:?}"
                        )))
                    }
                };
                let x = hidden.set_requires_grad(true);
                let out = stage.forward(StageInput::Hidden(&x))?;
                (Some(x), out)
            };
            if i < last {
                self.transport.send(
                    i + 1,
                    StageMessage::Activations {
                        step,
                        hidden: Wire::from_tensor(&output)?,
                    },
                )?;
            } else {
                let loss = NeuroLlm::loss(&output, &targets);
                loss_value = f64::try_from(&loss)?;
                loss.backward();
            }
            saved.push((input, output));
        }
        // Backward, last stage to first. The last stage's tied-embedding gradient rides along.
        for i in (0..=last).rev() {
            let (input, output) = &saved[i];
            let mut carried = None;
            if i < last {
                match self.transport.recv(i)? {
                    StageMessage::Gradients {
                        step: s,
                        grad,
                        tied_embedding_grad,
                    } if s == step => {
                        (output * grad.to_tensor()?.to_device(output.device()))
                            .sum(tch::Kind::Float)
                            .backward();
                        carried = tied_embedding_grad;
                    }
                    other => {
                        return Err(ComputeError::Pipeline(format!(
                            "stage {i} expected gradients, got {other:?}"
                        )))
                    }
                }
            } else if last > 0 && self.stages[last].config().tied_embeddings {
                carried = self.stages[last]
                    .named_parameters()
                    .get("embed.weight")
                    .map(|e| Wire::from_tensor(&e.grad()))
                    .transpose()?;
            }
            match (i, input) {
                (0, _) => {
                    if let (Some(tied), Some(embed)) = (
                        carried,
                        self.stages[0].named_parameters().get("embed.weight"),
                    ) {
                        let mut g = embed.grad();
                        tch::no_grad(|| {
                            g.f_add_(&tied.to_tensor()?.to_device(g.device()))
                                .map(|_| ())
                                .map_err(ComputeError::from)
                        })?;
                    }
                }
                (_, Some(x)) => self.transport.send(
                    i - 1,
                    StageMessage::Gradients {
                        step,
                        grad: Wire::from_tensor(&x.grad())?,
                        tied_embedding_grad: carried,
                    },
                )?,
                (_, None) => {
                    return Err(ComputeError::Pipeline(format!("stage {i} lost its input")))
                }
            }
        }
        Ok(loss_value)
    }
}
