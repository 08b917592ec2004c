//! int8 compression of pseudo-gradients.
//!
//! Values are quantised per block of [`BLOCK`] with a scale `max|x| / 127`: one byte per value
//! plus four per block, 1.001 bytes per parameter (3.996× smaller than f32). Two flavours:
//!
//! * [`quantize_exact`]: a pure function of the update's bits, with no state carried between
//!   updates. This is what a proof commits to: a validator's replay quantises its own
//!   pseudo-gradient and must get the same bytes ([`Int8Update::to_bytes`], a safetensors file),
//!   so what a sampled replay checks is exactly what the round aggregates. Error feedback would
//!   make the bytes depend on a residual that no replay can see; the per-value error stays
//!   below half a step (`max|x| / 254` of its block).
//! * [`quantize`]: with error feedback (what quantisation loses is kept by the sender and added
//!   to its next update), for transfers that are not replayed.

use safetensors::tensor::{Dtype, SafeTensors};
use tch::{Kind, Tensor};

use crate::checkpoint::TensorView;
use crate::error::ComputeError;

pub const BLOCK: usize = 4_096;

/// A quantised update as it travels.
#[derive(Clone, Debug, PartialEq)]
pub struct Int8Update {
    pub scales: Vec<f32>,
    pub values: Vec<i8>,
}

impl Int8Update {
    pub fn wire_bytes(&self) -> usize {
        self.values.len() + 4 * self.scales.len()
    }
}

/// Quantises `update + residual` and leaves what was lost in `residual`.
pub fn quantize(update: &Tensor, residual: &mut Tensor) -> Result<Int8Update, ComputeError> {
    let device = update.device();
    let x = crate::to_host(&(update + &*residual))?;
    let q = quantize_values(&x);
    let lost: Vec<f32> = x
        .chunks(BLOCK)
        .zip(q.values.chunks(BLOCK).zip(&q.scales))
        .flat_map(|(block, (qs, &s))| {
            block
                .iter()
                .zip(qs)
                .map(move |(&v, &q)| v - f32::from(q) * s)
        })
        .collect();
    *residual = Tensor::from_slice(&lost).to_device(device);
    Ok(q)
}

/// Quantises `update` alone: the same bits in give the same bytes out on every machine.
pub fn quantize_exact(update: &Tensor) -> Result<Int8Update, ComputeError> {
    Ok(quantize_values(&crate::to_host(update)?))
}

fn quantize_values(x: &[f32]) -> Int8Update {
    let mut scales = Vec::with_capacity(x.len().div_ceil(BLOCK));
    let mut values = Vec::with_capacity(x.len());
    for block in x.chunks(BLOCK) {
        // NaN and infinities are not updates: they quantise to zero.
        let max = block
            .iter()
            .filter(|v| v.is_finite())
            .fold(0f32, |m, v| m.max(v.abs()));
        let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
        scales.push(scale);
        values.extend(block.iter().map(|&v| {
            if v.is_finite() {
                (v / scale).round().clamp(-127.0, 127.0) as i8
            } else {
                0
            }
        }));
    }
    Int8Update { scales, values }
}

const SCALES: &str = "scales";
const VALUES: &str = "values";

impl Int8Update {
    /// The most bytes [`Int8Update::to_bytes`] gives for `values` values (a bound on what a
    /// fetch of one may read).
    pub fn max_encoded_len(values: u64) -> u64 {
        values + 4 * values.div_ceil(BLOCK as u64) + 1_024
    }

    /// The update as a safetensors file of two tensors, `scales` (f32) and `values` (i8): the
    /// same update always gives the same bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>, ComputeError> {
        let scales = TensorView::f32(
            vec![self.scales.len()],
            self.scales.iter().flat_map(|v| v.to_le_bytes()).collect(),
        );
        let values = TensorView {
            dtype: Dtype::I8,
            shape: vec![self.values.len()],
            bytes: self.values.iter().map(|&v| v as u8).collect(),
        };
        safetensors::tensor::serialize([(SCALES, scales), (VALUES, values)], &None)
            .map_err(|e| bad(e.to_string()))
    }

    /// Reads [`Int8Update::to_bytes`]'s output, which must hold exactly `values` values.
    pub fn from_bytes(bytes: &[u8], values: usize) -> Result<Int8Update, ComputeError> {
        let st = SafeTensors::deserialize(bytes).map_err(|e| bad(e.to_string()))?;
        if st.len() != 2 {
            return Err(bad(format!("{} tensors, not 2", st.len())));
        }
        let scales = st.tensor(SCALES).map_err(|e| bad(e.to_string()))?;
        let vals = st.tensor(VALUES).map_err(|e| bad(e.to_string()))?;
        let blocks = values.div_ceil(BLOCK);
        if scales.dtype() != Dtype::F32 || scales.shape() != [blocks] {
            return Err(bad(format!("scales must be {blocks} f32 values")));
        }
        if vals.dtype() != Dtype::I8 || vals.shape() != [values] {
            return Err(bad(format!("values must be {values} i8 values")));
        }
        let scales: Vec<f32> = scales
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        if scales.iter().any(|s| !s.is_finite()) {
            return Err(bad("a scale is not finite".into()));
        }
        Ok(Int8Update {
            scales,
            values: vals.data().iter().map(|&b| b as i8).collect(),
        })
    }
}

fn bad(reason: String) -> ComputeError {
    ComputeError::Aggregation(format!("not an int8 update: {reason}"))
}

pub fn dequantize(update: &Int8Update) -> Result<Tensor, ComputeError> {
    if update.scales.len() != update.values.len().div_ceil(BLOCK) {
        return Err(ComputeError::Aggregation(
            "int8 update has the wrong number of scales".into(),
        ));
    }
    let out: Vec<f32> = update
        .values
        .chunks(BLOCK)
        .zip(&update.scales)
        .flat_map(|(block, &s)| block.iter().map(move |&q| f32::from(q) * s))
        .collect();
    Ok(Tensor::from_slice(&out).to_kind(Kind::Float))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_quantisation_is_reproducible_bounded_and_round_trips() {
        tch::manual_seed(4);
        let n = 10_000;
        let u = Tensor::randn([n], (Kind::Float, tch::Device::Cpu)) * 1e-3;
        let a = quantize_exact(&u).unwrap().to_bytes().unwrap();
        let b = quantize_exact(&u.copy()).unwrap().to_bytes().unwrap();
        assert_eq!(a, b);
        assert!(a.len() as u64 <= Int8Update::max_encoded_len(n as u64));
        assert!(a.len() < n as usize * 4 / 3, "{} bytes", a.len());
        let back = dequantize(&Int8Update::from_bytes(&a, n as usize).unwrap()).unwrap();
        // Each value within half a step of its block's scale.
        let err = f64::try_from((&back - &u).abs().max()).unwrap();
        let max = f64::try_from(u.abs().max()).unwrap();
        assert!(err <= max / 254.0 * 1.001, "{err} vs {max}");
        // A changed value changes the bytes; wrong lengths and garbage are refused.
        let mut v = Vec::<f32>::try_from(&u).unwrap();
        v[7] += 1e-3;
        let c = quantize_exact(&Tensor::from_slice(&v))
            .unwrap()
            .to_bytes()
            .unwrap();
        assert_ne!(a, c);
        assert!(Int8Update::from_bytes(&a, n as usize + 1).is_err());
        assert!(Int8Update::from_bytes(&a[..a.len() - 1], n as usize).is_err());
        assert!(Int8Update::from_bytes(b"not safetensors", n as usize).is_err());
        // NaN quantises to zero instead of spreading.
        v[3] = f32::NAN;
        let q = quantize_exact(&Tensor::from_slice(&v)).unwrap();
        assert_eq!(q.values[3], 0);
        assert!(q.scales.iter().all(|s| s.is_finite()));
    }

    #[test]
    fn error_feedback_keeps_the_running_sum_exact() {
        tch::manual_seed(3);
        let n = 10_000;
        let mut residual = Tensor::zeros([n], (Kind::Float, tch::Device::Cpu));
        let mut sent = Tensor::zeros([n], (Kind::Float, tch::Device::Cpu));
        let mut truth = Tensor::zeros([n], (Kind::Float, tch::Device::Cpu));
        for _ in 0..5 {
            let u = Tensor::randn([n], (Kind::Float, tch::Device::Cpu));
            let q = quantize(&u, &mut residual).unwrap();
            assert_eq!(q.wire_bytes(), n as usize + 4 * 3);
            sent += dequantize(&q).unwrap();
            truth += &u;
        }
        // What was sent plus what is still held back is exactly what was produced.
        let gap = f64::try_from((&sent + &residual - &truth).abs().max()).unwrap();
        assert!(gap < 1e-4, "{gap}");
        let per_value = f64::try_from(residual.abs().max()).unwrap();
        assert!(per_value < 0.05, "{per_value}");
    }
}
