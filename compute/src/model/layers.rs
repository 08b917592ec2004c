//! The building blocks of NeuroLLM: RMSNorm, rotary position embeddings, grouped-query attention
//! with an optional KV cache, and the SwiGLU feed-forward.

use tch::{Kind, Tensor};

const NORM_EPS: f64 = 1e-5;

/// `x / rms(x) * weight` over the last dimension.
pub fn rms_norm(x: &Tensor, weight: &Tensor) -> Tensor {
    let scale = (x.pow_tensor_scalar(2).mean_dim(-1, true, Kind::Float) + NORM_EPS).rsqrt();
    x * scale * weight
}

/// Precomputed rotary tables for positions `0..context`.
pub struct Rope {
    cos: Tensor,
    sin: Tensor,
}

impl Rope {
    pub fn new(head_dim: i64, context: i64, theta: f64, device: tch::Device) -> Rope {
        let half = head_dim / 2;
        let inv_freq = Tensor::arange(half, (Kind::Float, device))
            .multiply_scalar(-2.0 * theta.ln() / head_dim as f64)
            .exp();
        let pos = Tensor::arange(context, (Kind::Float, device));
        let angles = pos.unsqueeze(1) * inv_freq.unsqueeze(0); // [context, half]
        Rope {
            cos: angles.cos(),
            sin: angles.sin(),
        }
    }

    /// Rotates `x` of shape `[batch, heads, time, head_dim]` whose first position is `pos`.
    pub fn apply(&self, x: &Tensor, pos: i64) -> Tensor {
        let (_, _, t, d) = x.size4().unwrap_or((0, 0, 0, 0));
        let half = d / 2;
        let cos = self.cos.narrow(0, pos, t);
        let sin = self.sin.narrow(0, pos, t);
        let x1 = x.narrow(-1, 0, half);
        let x2 = x.narrow(-1, half, half);
        Tensor::cat(&[&x1 * &cos - &x2 * &sin, &x1 * &sin + &x2 * &cos], -1)
    }
}

/// Cached keys and values of one layer, `[batch, kv_heads, time, head_dim]`.
#[derive(Default)]
pub struct LayerCache {
    k: Option<Tensor>,
    v: Option<Tensor>,
}

/// One transformer block's weights (row-major `[out, in]` matrices, as `nn::Linear`).
pub struct Block {
    pub attn_norm: Tensor,
    pub wq: Tensor,
    pub wk: Tensor,
    pub wv: Tensor,
    pub wo: Tensor,
    pub ffn_norm: Tensor,
    pub w1: Tensor,
    pub w2: Tensor,
    pub w3: Tensor,
    pub heads: i64,
    pub kv_heads: i64,
}

impl Block {
    pub fn forward(
        &self,
        x: &Tensor,
        rope: &Rope,
        pos: i64,
        cache: Option<&mut LayerCache>,
    ) -> Tensor {
        let h = x + self.attention(&rms_norm(x, &self.attn_norm), rope, pos, cache);
        let n = rms_norm(&h, &self.ffn_norm);
        let gated = n.matmul(&self.w1.tr()).silu() * n.matmul(&self.w3.tr());
        &h + gated.matmul(&self.w2.tr())
    }

    fn attention(
        &self,
        x: &Tensor,
        rope: &Rope,
        pos: i64,
        cache: Option<&mut LayerCache>,
    ) -> Tensor {
        let (b, t, d) = x.size3().unwrap_or((0, 0, 0));
        let hd = d / self.heads;
        let split =
            |w: &Tensor, heads: i64| x.matmul(&w.tr()).view([b, t, heads, hd]).transpose(1, 2);
        let q = rope.apply(&split(&self.wq, self.heads), pos);
        let mut k = rope.apply(&split(&self.wk, self.kv_heads), pos);
        let mut v = split(&self.wv, self.kv_heads);
        if let Some(cache) = cache {
            if let (Some(pk), Some(pv)) = (&cache.k, &cache.v) {
                k = Tensor::cat(&[pk, &k], 2);
                v = Tensor::cat(&[pv, &v], 2);
            }
            cache.k = Some(k.shallow_clone());
            cache.v = Some(v.shallow_clone());
        }
        // Causal within the new positions; a single new token attends to everything cached.
        let is_causal = t > 1;
        let out = Tensor::scaled_dot_product_attention(
            &q,
            &k,
            &v,
            None::<Tensor>,
            0.0,
            is_causal,
            None,
            true,
        );
        out.transpose(1, 2)
            .contiguous()
            .view([b, t, d])
            .matmul(&self.wo.tr())
    }
}
