//! Byzantine-robust aggregation of flat pseudo-gradients.
//!
//! | rule | tolerates | cost |
//! | --- | --- | --- |
//! | `Mean` | nobody (baseline) | O(nd) |
//! | `TrimmedMean { trim }` | `f ≤ k = ceil(trim·n)` per coordinate (k capped so at least one value remains) | sort per coordinate |
//! | `Median` | `f < n/2` per coordinate (lower median for even n) | sort per coordinate |
//! | `Krum { f, m }` | `f` Byzantine when `n ≥ 2f + 3` (works in practice down to `n = 2f + 2`); averages the `m` best-scored updates (multi-Krum) | O(n²d) distances |

use rayon::prelude::*;
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

/// Scales every update whose L2 norm exceeds the median norm down to it (as Templar does before
/// its rule), so that no single peer's update outweighs a typical one however large it is sent;
/// an update with a non-finite value counts as zero. Norms are summed on the host in f64, in
/// order: the same bits on every machine.
pub fn clip_to_median_norm(updates: &[Tensor]) -> Result<Vec<Tensor>, ComputeError> {
    let mut hosts = updates
        .iter()
        .map(crate::to_host)
        .collect::<Result<Vec<_>, _>>()?;
    let norms: Vec<Option<f64>> = hosts
        .iter()
        .map(|v| {
            let sq: f64 = v.iter().map(|x| f64::from(*x) * f64::from(*x)).sum();
            (v.iter().all(|x| x.is_finite()) && sq.is_finite()).then(|| sq.sqrt())
        })
        .collect();
    let mut finite: Vec<f64> = norms.iter().flatten().copied().collect();
    finite.sort_by(f64::total_cmp);
    let median = finite.get(finite.len().saturating_sub(1) / 2).copied();
    for (v, norm) in hosts.iter_mut().zip(&norms) {
        match (norm, median) {
            (Some(n), Some(m)) if *n > m && *n > 0.0 => {
                let scale = (m / n) as f32;
                v.iter_mut().for_each(|x| *x *= scale);
            }
            (Some(_), _) => {}
            (None, _) => v.iter_mut().for_each(|x| *x = 0.0),
        }
    }
    Ok(hosts
        .iter()
        .zip(updates)
        .map(|(v, u)| Tensor::from_slice(v).to_device(u.device()))
        .collect())
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
    let stack = || Tensor::f_stack(updates, 0); // [n, d]
    Ok(match rule {
        Rule::Mean => stack()?.mean_dim(0, false, Kind::Float),
        Rule::Median | Rule::TrimmedMean { .. } => {
            let vectors = updates
                .iter()
                .map(crate::to_host)
                .collect::<Result<Vec<_>, _>>()?;
            let slices: Vec<&[f32]> = vectors.iter().map(Vec::as_slice).collect();
            Tensor::from_slice(&per_coordinate(&slices, rule)?).to_device(updates[0].device())
        }
        Rule::Krum { f, m } => {
            let stacked = stack()?;
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

/// Coordinate-wise rules on plain vectors (how peers' updates arrive off the wire): each
/// coordinate's n values are ordered with `f32::total_cmp`, so NaN and infinities sort to the ends
/// and are trimmed like any outlier. Parallel over blocks of coordinates.
pub fn per_coordinate(updates: &[&[f32]], rule: Rule) -> Result<Vec<f32>, ComputeError> {
    let n = updates.len();
    let len = updates.first().map_or(0, |u| u.len());
    if n == 0 || updates.iter().any(|u| u.len() != len) {
        return Err(ComputeError::Aggregation(
            "updates are missing or differ in length".into(),
        ));
    }
    let (lo, hi) = match rule {
        Rule::Median => {
            let m = (n - 1) / 2; // lower median
            (m, m + 1)
        }
        Rule::TrimmedMean { trim } => {
            let k = ((trim * n as f64).ceil() as usize).min((n - 1) / 2);
            (k, n - k)
        }
        Rule::Mean => (0, n),
        Rule::Krum { .. } => {
            return Err(ComputeError::Aggregation(
                "Krum is not coordinate-wise".into(),
            ))
        }
    };
    const BLOCK: usize = 16_384;
    const TILE: usize = 64;
    let mut out = vec![0f32; len];
    out.par_chunks_mut(BLOCK)
        .enumerate()
        .for_each(|(b, chunk)| {
            let base = b * BLOCK;
            // A tile holds TILE coordinates of every update, one row per update, as totally ordered
            // integer keys. An odd-even transposition network sorts every column at once with
            // branch-free min/max over whole rows (which the compiler vectorises). It costs n² / 2
            // compare-exchanges per column: right for the tens of updates one aggregation round sees.
            let mut tile = vec![[0i32; TILE]; n];
            for (t, outs) in chunk.chunks_mut(TILE).enumerate() {
                let start = base + t * TILE;
                let w = outs.len();
                for (row, u) in tile.iter_mut().zip(updates) {
                    for (k, v) in row[..w].iter_mut().zip(&u[start..start + w]) {
                        *k = order_key(*v);
                    }
                }
                let rounds = if lo == 0 && hi == n { 0 } else { n };
                for round in 0..rounds {
                    let mut i = round % 2;
                    while i + 1 < n {
                        let (a, b) = tile.split_at_mut(i + 1);
                        let (lo_row, hi_row) = (&mut a[i], &mut b[0]);
                        for j in 0..TILE {
                            let (x, y) = (lo_row[j], hi_row[j]);
                            lo_row[j] = x.min(y);
                            hi_row[j] = x.max(y);
                        }
                        i += 2;
                    }
                }
                let kept = (hi - lo) as f32;
                for (j, slot) in outs.iter_mut().enumerate() {
                    let sum: f32 = tile[lo..hi].iter().map(|row| from_order_key(row[j])).sum();
                    *slot = sum / kept;
                }
            }
        });
    Ok(out)
}

/// Maps an f32 to an i32 whose order is `f32::total_cmp`'s (an involution).
fn order_key(x: f32) -> i32 {
    let i = x.to_bits() as i32;
    i ^ ((((i >> 31) as u32) >> 1) as i32)
}

fn from_order_key(k: i32) -> f32 {
    f32::from_bits((k ^ ((((k >> 31) as u32) >> 1) as i32)) as u32)
}

/// Random inputs for throughput measurements (the tensors stay inside this crate).
pub struct BenchInputs(Vec<Tensor>);

pub fn aggregate_bench_inputs(workers: usize, len: i64) -> BenchInputs {
    tch::manual_seed(0);
    BenchInputs(
        (0..workers)
            .map(|_| Tensor::randn([len], (Kind::Float, tch::Device::Cpu)))
            .collect(),
    )
}

/// Best wall time (seconds) of `reps` aggregations of `inputs` with `rule`: on plain vectors for
/// the coordinate-wise rules (as updates arrive from peers), on tensors for Krum.
pub fn time_rule(inputs: &BenchInputs, rule: Rule, reps: usize) -> Result<f64, ComputeError> {
    let vectors = inputs
        .0
        .iter()
        .map(crate::to_host)
        .collect::<Result<Vec<_>, _>>()?;
    let slices: Vec<&[f32]> = vectors.iter().map(Vec::as_slice).collect();
    let mut best = f64::INFINITY;
    for _ in 0..reps.max(1) {
        let t = std::time::Instant::now();
        match rule {
            Rule::Krum { .. } => {
                let _ = aggregate(&inputs.0, rule)?.numel();
            }
            _ => {
                let _ = per_coordinate(&slices, rule)?.len();
            }
        }
        best = best.min(t.elapsed().as_secs_f64());
    }
    Ok(best)
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
    fn non_finite_values_are_trimmed_like_outliers() {
        let a = [1.0f32, 5.0];
        let b = [2.0f32, 6.0];
        let c = [3.0f32, 7.0];
        let evil = [f32::NAN, f32::INFINITY];
        let ups: [&[f32]; 4] = [&a, &b, &c, &evil];
        assert_eq!(
            per_coordinate(&ups, Rule::TrimmedMean { trim: 0.1 }).unwrap(),
            vec![2.5, 6.5]
        );
        assert_eq!(per_coordinate(&ups, Rule::Median).unwrap(), vec![2.0, 6.0]);
        assert!(per_coordinate(&ups, Rule::Mean).unwrap()[0].is_nan());
    }

    #[test]
    fn per_coordinate_rules_match_sorting_on_random_data() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        for n in [1usize, 2, 3, 5, 16] {
            let data: Vec<Vec<f32>> = (0..n)
                .map(|_| (0..1_000).map(|_| rng.gen_range(-5.0..5.0)).collect())
                .collect();
            let slices: Vec<&[f32]> = data.iter().map(Vec::as_slice).collect();
            for rule in [Rule::Median, Rule::TrimmedMean { trim: 0.25 }, Rule::Mean] {
                let got = per_coordinate(&slices, rule).unwrap();
                for j in 0..1_000 {
                    let mut col: Vec<f32> = data.iter().map(|d| d[j]).collect();
                    col.sort_by(f32::total_cmp);
                    let (lo, hi) = match rule {
                        Rule::Median => ((n - 1) / 2, (n - 1) / 2 + 1),
                        Rule::TrimmedMean { trim } => {
                            let k = ((trim * n as f64).ceil() as usize).min((n - 1) / 2);
                            (k, n - k)
                        }
                        _ => (0, n),
                    };
                    let expected = col[lo..hi].iter().sum::<f32>() / (hi - lo) as f32;
                    assert!((got[j] - expected).abs() < 1e-5, "n={n} {rule:?} j={j}");
                }
            }
        }
        assert_eq!(
            from_order_key(order_key(-0.0)).to_bits(),
            (-0.0f32).to_bits()
        );
    }

    #[test]
    fn bad_inputs_are_errors() {
        assert!(aggregate(&[], Rule::Mean).is_err());
        assert!(aggregate(&[v(&[1.0]), v(&[1.0, 2.0])], Rule::Mean).is_err());
    }
}
