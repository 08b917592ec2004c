//! Text generation with a KV cache: greedy (temperature 0) or temperature sampling from a seeded
//! ChaCha8 stream, so a given seed always gives the same text.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tch::{Kind, Tensor};

use crate::error::ComputeError;
use crate::model::{NeuroLlm, StageInput};
use crate::tokenizer;

#[derive(Clone, Debug, PartialEq)]
pub struct Sampling {
    pub max_new_tokens: usize,
    /// 0 means greedy.
    pub temperature: f64,
    pub seed: u64,
}

impl Default for Sampling {
    fn default() -> Self {
        Sampling {
            max_new_tokens: 64,
            temperature: 0.0,
            seed: 0,
        }
    }
}

fn pick(logits: &Tensor, s: &Sampling, rng: &mut ChaCha8Rng) -> Result<i64, ComputeError> {
    if s.temperature <= 0.0 {
        return Ok(i64::try_from(
            logits.argmax(-1, false).to_device(tch::Device::Cpu),
        )?);
    }
    let probs: Vec<f64> = Vec::try_from(
        (logits / s.temperature)
            .softmax(-1, Kind::Double)
            .to_device(tch::Device::Cpu),
    )?;
    let x: f64 = rng.gen();
    let mut acc = 0.0;
    for (i, p) in probs.iter().enumerate() {
        acc += p;
        if x < acc {
            return Ok(i as i64);
        }
    }
    Ok(probs.len() as i64 - 1)
}

/// Continues `prompt`; stops at `max_new_tokens`, an end-of-sequence token or the context limit.
/// `use_cache = false` recomputes the whole sequence each step (for checking the cache).
pub fn generate_tokens(
    model: &NeuroLlm,
    prompt: &[i64],
    s: &Sampling,
    use_cache: bool,
) -> Result<Vec<i64>, ComputeError> {
    if !model.is_whole() {
        return Err(ComputeError::Pipeline(
            "generation needs the whole model".into(),
        ));
    }
    let context = model.config().context as usize;
    let mut tokens: Vec<i64> = if prompt.is_empty() {
        vec![tokenizer::BOS]
    } else {
        prompt.to_vec()
    };
    if tokens.len() >= context {
        tokens.drain(..tokens.len() - (context - 1));
    }
    let start = tokens.len();
    let mut rng = ChaCha8Rng::seed_from_u64(s.seed);
    let mut cache = model.new_cache();
    tch::no_grad(|| -> Result<(), ComputeError> {
        let row = |t: &[i64]| Tensor::from_slice(t).view([1, t.len() as i64]);
        let mut logits = model.forward_at(
            StageInput::Tokens(&row(&tokens)),
            0,
            use_cache.then_some(&mut cache),
        )?;
        while tokens.len() - start < s.max_new_tokens && tokens.len() < context {
            let last = logits.get(0).get(-1);
            let next = pick(&last, s, &mut rng)?;
            if next == tokenizer::EOS {
                break;
            }
            tokens.push(next);
            if tokens.len() >= context {
                break;
            }
            logits = if use_cache {
                let pos = cache.len;
                model.forward_at(StageInput::Tokens(&row(&[next])), pos, Some(&mut cache))?
            } else {
                model.forward_at(StageInput::Tokens(&row(&tokens)), 0, None)?
            };
        }
        Ok(())
    })?;
    Ok(tokens[start..].to_vec())
}

/// Generates text after `prompt` (bytes in, bytes out).
pub fn generate(model: &NeuroLlm, prompt: &str, s: &Sampling) -> Result<Vec<u8>, ComputeError> {
    let tokens = generate_tokens(model, &tokenizer::encode(prompt.as_bytes()), s, true)?;
    Ok(tokenizer::decode(&tokens))
}
