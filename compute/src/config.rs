//! NeuroLLM's shape. Versioned: a network grows its model by moving to a larger config, and
//! [`crate::model::NeuroLlm::grow_depth`] carries trained weights over.

use serde::{Deserialize, Serialize};

use crate::error::ComputeError;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    pub version: u32,
    pub vocab: i64,
    pub hidden: i64,
    pub layers: i64,
    pub heads: i64,
    pub kv_heads: i64,
    pub ffn: i64,
    pub context: i64,
    pub rope_theta: f64,
    pub tied_embeddings: bool,
}

impl ModelConfig {
    /// The bootstrap preset from the protocol: hidden 768, 12 layers, 12 heads, 4 KV heads, one
    /// embedding row per token of the byte-level tokenizer (259), as the mainnet genesis has it.
    pub fn bootstrap() -> ModelConfig {
        ModelConfig {
            version: 1,
            vocab: crate::tokenizer::VOCAB,
            hidden: 768,
            layers: 12,
            heads: 12,
            kv_heads: 4,
            ffn: 2_048,
            context: 2_048,
            rope_theta: 10_000.0,
            tied_embeddings: true,
        }
    }

    /// The dev chain's model (genesis/dev.json): small enough to train on a laptop CPU.
    pub fn dev() -> ModelConfig {
        ModelConfig {
            version: 1,
            vocab: crate::tokenizer::VOCAB,
            hidden: 64,
            layers: 4,
            heads: 4,
            kv_heads: 2,
            ffn: 176,
            context: 128,
            rope_theta: 10_000.0,
            tied_embeddings: true,
        }
    }

    /// A very small model for tests.
    pub fn tiny() -> ModelConfig {
        ModelConfig {
            hidden: 32,
            layers: 2,
            heads: 4,
            kv_heads: 2,
            ffn: 64,
            context: 32,
            ..Self::dev()
        }
    }

    pub fn head_dim(&self) -> i64 {
        self.hidden / self.heads
    }

    pub fn validate(&self) -> Result<(), ComputeError> {
        let bad = |why: &str| Err(ComputeError::Config(why.to_owned()));
        if [
            self.vocab,
            self.hidden,
            self.layers,
            self.heads,
            self.kv_heads,
            self.ffn,
            self.context,
        ]
        .iter()
        .any(|&d| d <= 0)
        {
            return bad("every dimension must be positive");
        }
        if self.heads % self.kv_heads != 0 {
            return bad("kv_heads must divide heads");
        }
        if self.hidden % self.heads != 0 || self.head_dim() % 2 != 0 {
            return bad("hidden must split into heads of even size");
        }
        if self.vocab < crate::tokenizer::VOCAB {
            return bad("vocab must hold the byte-level tokenizer's 259 tokens");
        }
        Ok(())
    }

    /// Parameter count (embedding counted once when tied).
    pub fn parameters(&self) -> i64 {
        let d = self.hidden;
        let kv = self.kv_heads * self.head_dim();
        let per_layer = 2 * d + d * d + 2 * d * kv + d * d + 3 * d * self.ffn;
        let embed = self.vocab * d;
        let head = if self.tied_embeddings {
            0
        } else {
            self.vocab * d
        };
        embed + head + d + self.layers * per_layer
    }
}
