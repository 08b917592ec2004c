//! Reward arithmetic for an accepted proof: the FAQ's rates, the layer split, and the
//! diminishing-returns curve. Integers only; every division rounds down, so rounding never
//! creates a base unit.
//!
//! **Gross reward** of a proof:
//! `batches × reward_per_batch × layers_held / model_layers`
//! `+ uptime_secs × reward_per_uptime_minute / 60 + samples × reward_per_sample`.
//! A node holding every layer earns the full 0.0005 NEURO per batch; the stages of a pipeline
//! split it by the layers each holds.
//!
//! **Diminishing returns** per wallet: block time is cut into windows of `diminishing_window_ms`.
//! Within a window, a wallet's gross rewards fill tiers of `diminishing_tier` each; gross reward
//! falling in tier `k` (from 0) pays `factor^k` of itself, with `factor = diminishing_factor_bps /
//! 10 000`. With the defaults (250 NEURO tiers, factor 0.5) the first 250 NEURO of a day pay in full,
//! the next 250 at half, then a quarter, …, so no wallet out-earns the curve by adding nodes.

use crate::amount::Amount;
use crate::error::TxError;
use crate::params::Params;
use crate::proof::Proof;

/// Fixed-point one for tier multipliers.
const WAD: u128 = 1_000_000_000_000_000_000;

/// Gross reward of a proof before diminishing returns.
pub fn gross_reward(params: &Params, proof: &Proof) -> Result<Amount, TxError> {
    let m = &proof.metrics;
    let per_batch_all_layers = params
        .reward_per_batch
        .checked_mul(u128::from(m.batches))
        .ok_or(TxError::Overflow)?;
    let training = per_batch_all_layers
        .mul_div_floor(
            u128::from(proof.layers_held()),
            u128::from(params.model.layers),
        )
        .ok_or(TxError::Overflow)?;
    let uptime = params
        .reward_per_uptime_minute
        .checked_mul(u128::from(m.uptime_secs))
        .ok_or(TxError::Overflow)?
        .mul_div_floor(1, 60)
        .ok_or(TxError::Overflow)?;
    let data = params
        .reward_per_sample
        .checked_mul(u128::from(m.samples))
        .ok_or(TxError::Overflow)?;
    training
        .checked_add(uptime)
        .and_then(|a| a.checked_add(data))
        .ok_or(TxError::Overflow)
}

/// Basis points in one.
const BPS: u128 = 10_000;

/// What an accepted claim pays if it is not drawn, and what it puts at stake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cover {
    /// Paid if the proof is not drawn for re-execution.
    pub covered: Amount,
    /// Bond reserved until the draw (or the verdict, if drawn); forfeited with the rest of the
    /// bond if the proof is fraud.
    pub collateral: Amount,
}

/// **Covered pay.** A proof worth `reward` is drawn for re-execution with probability
/// `s = sample_bps / 10 000`. Undrawn, it pays only `covered`: as much of the reward as the
/// wallet's free bond can answer for, `covered ≤ free_bond × s / (1 − s)`, with
/// `collateral = ⌈covered × (1 − s) / s⌉` of the bond reserved. Drawn and verified, it pays
/// [`drawn_pay`], which makes an honest proof's expected pay the reward. A fabricated claim
/// gains `covered` with probability `1 − s` and loses at least `collateral` with probability
/// `s`: its expected profit is `(1 − s) × covered − s × collateral ≤ 0`, for every sample rate,
/// reward and bond, before any penalty. A wallet with no bond yet is paid only for proofs that
/// were checked.
pub fn cover(sample_bps: u16, reward: Amount, free_bond: Amount) -> Cover {
    let s = u128::from(sample_bps);
    if s >= BPS {
        // Every proof is drawn: nothing needs cover.
        return Cover {
            covered: reward,
            collateral: Amount::ZERO,
        };
    }
    if s == 0 {
        return Cover {
            covered: Amount::ZERO,
            collateral: Amount::ZERO,
        };
    }
    let max_cover = free_bond.0.saturating_mul(s) / (BPS - s);
    let covered = reward.0.min(max_cover);
    let collateral = covered.saturating_mul(BPS - s).div_ceil(s);
    Cover {
        covered: Amount(covered),
        collateral: Amount(collateral.min(free_bond.0)),
    }
}

/// What a drawn proof that more than two thirds of validator power verified pays:
/// `(reward − (1 − s) × covered) / s`, rounded down, so that `s × drawn + (1 − s) × covered`
/// is the reward (at least `reward`, at most `reward / s`).
pub fn drawn_pay(sample_bps: u16, reward: Amount, covered: Amount) -> Amount {
    let s = u128::from(sample_bps).clamp(1, BPS);
    let owed = reward
        .0
        .saturating_mul(BPS)
        .saturating_sub(covered.0.min(reward.0).saturating_mul(BPS - s));
    Amount(owed / s)
}

/// `factor^k` in WAD fixed point, rounded down at each step.
fn tier_multiplier(factor_bps: u16, k: u128) -> u128 {
    let factor = u128::from(factor_bps) * (WAD / 10_000);
    let (mut result, mut base, mut exp) = (WAD, factor, k);
    while exp > 0 && result > 0 {
        if exp & 1 == 1 {
            result = result * base / WAD;
        }
        base = base * base / WAD;
        exp >>= 1;
    }
    result
}

/// What `gross` pays when the wallet has already claimed `already` gross in this window.
pub fn diminished(params: &Params, already: Amount, gross: Amount) -> Amount {
    let tier = params.diminishing_tier.0.max(1);
    let (mut pos, mut left, mut paid) = (already.0, gross.0, 0u128);
    while left > 0 {
        let k = pos / tier;
        let multiplier = tier_multiplier(params.diminishing_factor_bps, k);
        if multiplier == 0 {
            break; // every later tier pays nothing
        }
        let room = tier - pos % tier;
        let chunk = left.min(room);
        let part = Amount(chunk)
            .mul_div_floor(multiplier, WAD)
            .unwrap_or(Amount::ZERO);
        paid = paid.saturating_add(part.0);
        pos = pos.saturating_add(chunk);
        left -= chunk;
    }
    Amount(paid)
}

/// The diminishing-returns window that block time `time_ms` falls in.
pub fn window_of(params: &Params, time_ms: u64) -> u64 {
    time_ms / params.diminishing_window_ms.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proof::{Role, WorkMetrics};
    use proptest::prelude::*;

    fn proof(batches: u64, uptime_secs: u64, samples: u64, layers: (u32, u32)) -> Proof {
        Proof {
            role: Role::Driver,
            layer_start: layers.0,
            layer_end: layers.1,
            round: 0,
            model_version: [0; 32],
            data_seed: [0; 32],
            data_shard: [0; 32],
            pseudo_gradient: [0; 32],
            first_batch: 0,
            metrics: WorkMetrics {
                batches,
                tokens: 0,
                samples,
                uptime_secs,
            },
            timestamp_ms: 0,
        }
    }

    #[test]
    fn faq_rates() {
        let p = Params::mainnet_defaults();
        let all = (0, p.model.layers);
        assert_eq!(
            gross_reward(&p, &proof(1, 0, 0, all)).unwrap(),
            "0.0005".parse().unwrap()
        );
        assert_eq!(
            gross_reward(&p, &proof(0, 60, 0, all)).unwrap(),
            "0.0001".parse().unwrap()
        );
        assert_eq!(
            gross_reward(&p, &proof(0, 0, 1, all)).unwrap(),
            "0.00001".parse().unwrap()
        );
        // FAQ: ~43 NEURO/day active = 86 400 batches at one per second.
        let day = gross_reward(&p, &proof(86_400, 0, 0, all)).unwrap();
        assert_eq!(
            day,
            Amount::neuro(43)
                .checked_add("0.2".parse().unwrap())
                .unwrap()
        );
        // FAQ: ~0.14 NEURO/day idle.
        let idle = gross_reward(&p, &proof(0, 86_400, 0, all)).unwrap();
        assert_eq!(idle, "0.144".parse().unwrap());
    }

    #[test]
    fn pipeline_stages_split_a_batch_by_layers_without_creating_units() {
        let p = Params::mainnet_defaults(); // 12 layers
        let stages = [(0, 5), (5, 7), (7, 12)];
        let total: u128 = stages
            .iter()
            .map(|&s| gross_reward(&p, &proof(3, 0, 0, s)).unwrap().0)
            .sum();
        let whole = gross_reward(&p, &proof(3, 0, 0, (0, 12))).unwrap().0;
        assert!(total <= whole);
        assert!(whole - total < stages.len() as u128);
    }

    #[test]
    fn tiers_halve() {
        let p = Params::mainnet_defaults(); // 250 NEURO tiers, factor 0.5
        let full = diminished(&p, Amount::ZERO, Amount::neuro(250));
        assert_eq!(full, Amount::neuro(250));
        let half = diminished(&p, Amount::neuro(250), Amount::neuro(250));
        assert_eq!(half, Amount::neuro(125));
        let straddle = diminished(&p, Amount::neuro(200), Amount::neuro(100));
        assert_eq!(straddle, Amount::neuro(75));
        // A 64 GB server's 400 gross NEURO/day pays 325: inside the FAQ's 200-400.
        assert_eq!(
            diminished(&p, Amount::ZERO, Amount::neuro(400)),
            Amount::neuro(325)
        );
        assert_eq!(
            diminished(&p, Amount(u128::MAX / 2), Amount::neuro(1)),
            Amount::ZERO
        );
    }

    #[test]
    fn a_wallet_without_bond_is_paid_only_when_checked() {
        let reward = Amount::neuro(1);
        let c = cover(500, reward, Amount::ZERO);
        assert_eq!(c.covered, Amount::ZERO);
        assert_eq!(c.collateral, Amount::ZERO);
        assert_eq!(drawn_pay(500, reward, c.covered), Amount::neuro(20));
        // 19 NEURO of bond covers a whole 1 NEURO claim at a 5% draw.
        let c = cover(500, reward, Amount::neuro(19));
        assert_eq!(c.covered, reward);
        assert_eq!(c.collateral, Amount::neuro(19));
        assert_eq!(drawn_pay(500, reward, c.covered), reward);
        // Everything drawn: nothing at stake, the reward as it is.
        let c = cover(10_000, reward, Amount::ZERO);
        assert_eq!((c.covered, c.collateral), (reward, Amount::ZERO));
    }

    proptest! {
        #[test]
        fn a_fabricated_claim_never_profits_and_an_honest_one_is_paid_its_reward(
            s in 1u16..=10_000,
            reward in 0u128..10u128.pow(24),
            bond in 0u128..10u128.pow(26),
        ) {
            let c = cover(s, Amount(reward), Amount(bond));
            let s = u128::from(s);
            prop_assert!(c.collateral.0 <= bond);
            prop_assert!(c.covered.0 <= reward);
            // Fabricated: + covered when undrawn, − collateral when drawn (in units × 10 000).
            prop_assert!((BPS - s) * c.covered.0 <= s * c.collateral.0);
            // Honest: the expected pay is the reward, less rounding.
            let drawn = drawn_pay(s as u16, Amount(reward), c.covered).0;
            let expected = s * drawn + (BPS - s) * c.covered.0;
            prop_assert!(expected <= BPS * reward);
            prop_assert!(expected + BPS > BPS * reward);
        }

        #[test]
        fn splitting_a_claim_never_pays_more(a in 0u128..10u128.pow(22), b in 0u128..10u128.pow(21), c in 0u128..10u128.pow(21)) {
            let p = Params::mainnet_defaults();
            let together = diminished(&p, Amount(a), Amount(b + c));
            let split = diminished(&p, Amount(a), Amount(b)).0 + diminished(&p, Amount(a + b), Amount(c)).0;
            prop_assert!(split <= together.0 + 1);
            prop_assert!(together.0 <= b + c);
        }
    }
}
