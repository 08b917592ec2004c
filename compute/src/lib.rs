//! # neuroshard-compute
//!
//! Everything a NeuroShard node needs to train and serve NeuroLLM, on libtorch through `tch`:
//! the model ([`model`]), byte-level tokenizer, content-addressed data shards with reproducible
//! batches ([`data`]), the inner training loop ([`train`]), DiLoCo with Byzantine-robust
//! aggregation and int8 compression ([`diloco`], [`aggregate`], [`compress`]), layer assignment
//! and pipeline-sharded training ([`assignment`], [`pipeline`]), safetensors checkpoints
//! ([`checkpoint`]), generation with a KV cache ([`generate`]) and the work accounting that a Proof
//! of Neural Work is built from ([`work`]).
//!
//! `tch` stays inside this crate: other crates see configs, batches, hashes and numbers, never
//! tensors. Runs on CPU everywhere; CUDA when present.

pub mod aggregate;
pub mod assignment;
pub mod checkpoint;
pub mod compress;
pub mod config;
pub mod data;
pub mod diloco;
pub mod error;
pub mod generate;
pub mod model;
pub mod pipeline;
pub mod ponw;
pub mod tokenizer;
pub mod train;
pub mod work;

pub use config::ModelConfig;
pub use error::ComputeError;
pub use model::NeuroLlm;

/// The device new models train on: the first CUDA GPU when libtorch sees one, else the CPU.
pub fn default_device() -> tch::Device {
    tch::Device::cuda_if_available()
}

/// Copies a tensor's values to host memory (from any device).
pub(crate) fn to_host(t: &tch::Tensor) -> Result<Vec<f32>, tch::TchError> {
    Vec::<f32>::try_from(t.detach().to_device(tch::Device::Cpu).flatten(0, -1))
}

/// Sets libtorch's CPU thread count.
pub fn set_threads(n: i32) {
    tch::set_num_threads(n);
}
