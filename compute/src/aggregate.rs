//! Byzantine-robust aggregation of flat pseudo-gradients.
//!
//! | rule | tolerates | cost |
//! | --- | --- | --- |
//! | `Mean` | nobody (baseline) | O(nd) |
//! | `TrimmedMean { trim }` | `f ≤ k = ceil(trim·n)` per coordinate (k capped so at least one value remains) | sort per coordinate |
//! | `Median` | `f < n/2` per coordinate (lower median for even n) | sort per coordinate |
//! | `Krum { f, m }` | `f` Byzantine when `n ≥ 2f + 3` (works in practice down to `n = 2f + 2`); averages the `m` best-scored updates (multi-Krum) | O(n²d) distances |

use tch::{Kind, Tensor};

use crate::error::ComputeError;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Rule {
    Mean,
    TrimmedMean { trim: f64 },
    Median,
    Krum { f: usize, m: usize },
}

impl Rule {
    /// The rule named in genesis (`mean`, `trimmed_mean`, `krum`, `coordinate_median`), for `n`
    /// workers of which at most `f` are assumed Byzantine.
    pub fn from_name(name: &str, trim: f64, f: usize, n: usize) -> Option<Rule> {
        Some(match name {
            "mean" => Rule::Mean,
            "trimmed_mean" => Rule::TrimmedMean { trim },
            "coordinate_median" | "median" => Rule::Median,
            "krum" => Rule::Krum {
                f,
                m: n.saturating_sub(f).max(1),
            },
            _ => return None,
        })
    }
}

/// Aggregates `updates` (equal-length 1-D f32 tensors) into one.
pub fn aggregate(updates: &[Tensor], rule: Rule) -> Result<Tensor, ComputeError> {
    let n = updates.len();
    if n == 0 {
        return Err(ComputeError::Aggregation("no updates".into()));
    }
    let len = updates[0].numel();
    if updates.iter().any(|u| u.numel() != len || u.dim() != 1) {
        return Err(ComputeError::Aggregation("updates differ in shape".into()));
    }
    let stacked = Tensor::f_stack(updates, 0)?; // [n, d]
    Ok(match rule {
        Rule::Mean => stacked.mean_dim(0, false, Kind::Float),
        Rule::Median => stacked.median_dim(0, false).0,
        Rule::TrimmedMean { trim } => {
            let k = ((trim * n as f64).ceil() as usize).min((n - 1) / 2);
            let (sorted, _) = stacked.sort(0, false);
            sorted
                .narrow(0, k as i64, (n - 2 * k) as i64)
                .mean_dim(0, false, Kind::Float)
        }
        Rule::Krum { f, m } => {
            let dist = Tensor::f_cdist(&stacked, &stacked, 2.0, None)?.square(); // [n, n]
            let neighbours = n.saturating_sub(f + 2).max(1) as i64;
            // Sorted row includes the zero distance to itself first.
            let (sorted, _) = dist.sort(1, false);
            let scores = sorted
                .narrow(1, 1, neighbours.min(n as i64 - 1).max(1))
                .sum_dim_intlist(1, false, Kind::Float);
            let (_, best) = scores.sort(0, false);
            let chosen = best.narrow(0, 0, m.clamp(1, n) as i64);
            stacked
                .index_select(0, &chosen)
                .mean_dim(0, false, Kind::Float)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(x: &[f32]) -> Tensor {
        Tensor::from_slice(x)
    }

    fn values(t: &Tensor) -> Vec<f32> {
        Vec::try_from(t).unwrap()
    }

    #[test]
    fn rules_on_a_small_example() {
        let ups = [
            v(&[1.0, 10.0]),
            v(&[2.0, 20.0]),
            v(&[3.0, 30.0]),
            v(&[-1000.0, 1000.0]),
        ];
        assert_eq!(
            values(&aggregate(&ups, Rule::Mean).unwrap()),
            vec![-248.5, 265.0]
        );
        assert_eq!(
            values(&aggregate(&ups, Rule::Median).unwrap()),
            vec![1.0, 20.0]
        );
        assert_eq!(
            values(&aggregate(&ups, Rule::TrimmedMean { trim: 0.1 }).unwrap()),
            vec![1.5, 25.0]
        );
        let krum = values(&aggregate(&ups, Rule::Krum { f: 1, m: 3 }).unwrap());
        assert_eq!(krum, vec![2.0, 20.0]);
    }

    #[test]
    fn bad_inputs_are_errors() {
        assert!(aggregate(&[], Rule::Mean).is_err());
        assert!(aggregate(&[v(&[1.0]), v(&[1.0, 2.0])], Rule::Mean).is_err());
    }
}
