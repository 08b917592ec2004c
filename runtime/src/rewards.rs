//! Reward arithmetic for an accepted proof: the FAQ's rates, the layer split, and the
//! diminishing-returns curve. Integers only; every division rounds down, so rounding never
//! creates a base unit.
//!
//! **Gross reward** of a proof:
//! `batches × reward_per_batch × layers_held / model_layers`
//! `+ uptime_secs × reward_per_uptime_minute / 60 + samples × reward_per_sample`.
//!
//! **Data reward.** The samples are those of the proof's own batches (at most
//! `batches × batch_size`) that a named node served; whatever the proof is paid, that share of
//! it ([`data_share`]) goes to the server's wallet. So the data reward is minted only for
//! samples that fed training which was itself paid (checked, or covered by the trainer's bond),
//! and lost with it; naming oneself or a second wallet changes who holds it, never how much
//! the work mints, so a split earns no more than one wallet.
//! A node holding every layer earns the full 0.0005 NEURO per batch; the stages of a pipeline
//! split it by the layers each holds.
//!
//! **Diminishing returns**, network-wide: block time is cut into windows of
//! `diminishing_window_ms`. The network's gross rewards of a window fill tiers of
//! `diminishing_tier` each; gross falling in tier `k` (from 0) is worth `factor^k` of itself, with
//! `factor = diminishing_factor_bps / 10 000`. Every proof accepted in a window pays its gross
//! times one **multiplier**: what the curve pays for the *previous* window's network gross,
//! divided by that gross ([`multiplier_after`]). A window's gross is counted as proofs are paid
//! ([`paid_gross`]), not as they are claimed: claims cost nothing to make, payments only real
//! (or bonded) work. With the mainnet defaults (tiers of 1,000,000 NEURO a day, factor 0.5) the
//! rate is full while the network is paid for under a million NEURO of gross a day, and what it
//! mints per day stays below twice a tier however many nodes join.
//!
//! Why the network and not the wallet: a per-wallet curve pays a machine more for splitting its
//! work across fresh wallets and nodes, which are free. One rate for every proof of a window makes
//! pay linear in work for everyone, so a split earns exactly what one wallet earns (less rounding,
//! under one base unit per proof). Taking the rate from the window before makes it the same for
//! every proof of a window, whatever their order in blocks. Lowering everyone's next rate takes
//! payments: fabricated claims on an empty bond are paid nothing and count nothing, and those
//! a bond covers lose it in expectation (`cover`).

use crate::amount::Amount;
use crate::error::TxError;
use crate::params::Params;
use crate::proof::Proof;
use crate::state::RewardCurve;

/// Fixed-point one for tier multipliers.
pub const WAD: u128 = 1_000_000_000_000_000_000;

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
    let data = data_reward(params, proof)?;
    training
        .checked_add(uptime)
        .and_then(|a| a.checked_add(data))
        .ok_or(TxError::Overflow)
}

/// The data reward in a proof's gross: `samples × reward_per_sample`, owed to the node that
/// served the samples (`Proof::data_server`).
pub fn data_reward(params: &Params, proof: &Proof) -> Result<Amount, TxError> {
    params
        .reward_per_sample
        .checked_mul(u128::from(proof.metrics.samples))
        .ok_or(TxError::Overflow)
}

/// The data server's part of `paid`, what a proof of gross `gross` (of which `data_gross` is
/// its data reward) was paid: the same share of the pay as of the gross, rounded down, so that
/// whatever the proof is paid (covered, drawn, after diminishing returns) splits alike.
pub fn data_share(paid: Amount, data_gross: Amount, gross: Amount) -> Amount {
    if gross.is_zero() {
        return Amount::ZERO;
    }
    Amount(mul_div_wide(paid.0, data_gross.0.min(gross.0), gross.0))
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

/// Expected profit, in base units (negative: a loss), of a **fabricated** claim worth `reward`
/// made by a wallet whose free bond is `bond`: undrawn (chance `1 − s`) it is paid its
/// [`cover`]; drawn (chance `s`) the replay fails, and the wallet forfeits its whole bond and
/// pays `penalty` (`fraud_penalty`, from its balance, stake and pending rewards). Rounded toward
/// the attacker (the loss down), so a negative value is negative in exact arithmetic too.
pub fn fabricated_claim_profit(
    sample_bps: u16,
    reward: Amount,
    bond: Amount,
    penalty: Amount,
) -> i128 {
    let s = u128::from(sample_bps).min(BPS);
    let paid = cover(sample_bps, reward, bond).covered.0;
    let gain = paid.saturating_mul(BPS - s).div_ceil(BPS);
    let loss = bond.0.saturating_add(penalty.0).saturating_mul(s) / BPS;
    let clamp = |v: u128| i128::try_from(v).unwrap_or(i128::MAX);
    clamp(gain).saturating_sub(clamp(loss))
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

/// What `gross` is worth on the curve when the window already holds `already` gross before it.
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

/// The multiplier (in [`WAD`]) of a window after one whose payments stood for `gross_before`:
/// the curve's value of that gross over the gross itself, rounded down; full after none.
pub fn multiplier_after(params: &Params, gross_before: Amount) -> u128 {
    if gross_before.is_zero() {
        return WAD;
    }
    let worth = diminished(params, Amount::ZERO, gross_before).0;
    mul_div_wide(worth, WAD, gross_before.0).min(WAD)
}

/// The curve at block time `time_ms`: unchanged inside its window; in a later window, its
/// multiplier is set from the gross paid for in the window just before (full if none).
pub fn curve_at(params: &Params, curve: &RewardCurve, time_ms: u64) -> RewardCurve {
    let window = window_of(params, time_ms);
    if window == curve.window {
        return curve.clone();
    }
    let before = if curve.window.checked_add(1) == Some(window) {
        curve.gross
    } else {
        Amount::ZERO
    };
    RewardCurve {
        window,
        gross: Amount::ZERO,
        multiplier_wad: multiplier_after(params, before),
    }
}

/// The gross reward a payment of `paid` for a proof of `gross` (accepted at a reward of
/// `reward`) stands for: `gross × paid / reward`, rounded down. Over the draw, an honest proof's
/// expected count is its gross; a claim that is paid nothing counts nothing.
pub fn paid_gross(gross: Amount, reward: Amount, paid: Amount) -> Amount {
    Amount(mul_div_wide(paid.0, gross.0, reward.0))
}

/// `a × b / c` rounded down (0 when `c` is 0). Where `a × b` does not fit in 128 bits, `c` and
/// the larger factor are halved until it does: exact below 2^128, and otherwise correct to the
/// leading 64 bits, the same on every machine.
pub(crate) fn mul_div_wide(a: u128, b: u128, c: u128) -> u128 {
    let (mut a, mut b, mut c) = (a, b, c);
    loop {
        if c == 0 {
            return 0;
        }
        if let Some(product) = a.checked_mul(b) {
            return product / c;
        }
        if a >= b {
            a >>= 1;
        } else {
            b >>= 1;
        }
        c >>= 1;
    }
}

/// What `gross` pays at the multiplier `multiplier_wad`, rounded down.
pub fn at_rate(gross: Amount, multiplier_wad: u128) -> Amount {
    gross
        .mul_div_floor(multiplier_wad.min(WAD), WAD)
        .unwrap_or(Amount::ZERO)
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
            start_state: [0; 32],
            end_state: [0; 32],
            first_batch: 0,
            metrics: WorkMetrics {
                batches,
                tokens: 0,
                samples,
                uptime_secs,
            },
            data_server: None,
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
        let mut p = Params::mainnet_defaults(); // factor 0.5
        p.diminishing_tier = Amount::neuro(250);
        let full = diminished(&p, Amount::ZERO, Amount::neuro(250));
        assert_eq!(full, Amount::neuro(250));
        let half = diminished(&p, Amount::neuro(250), Amount::neuro(250));
        assert_eq!(half, Amount::neuro(125));
        let straddle = diminished(&p, Amount::neuro(200), Amount::neuro(100));
        assert_eq!(straddle, Amount::neuro(75));
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
    fn the_rate_of_a_window_comes_from_the_network_gross_of_the_window_before() {
        let mut p = Params::mainnet_defaults();
        p.diminishing_tier = Amount::neuro(250);
        let day = p.diminishing_window_ms;
        let start = RewardCurve::default();
        // Nothing claimed before: full rate.
        let c = curve_at(&p, &start, 5 * day);
        assert_eq!((c.window, c.multiplier_wad), (5, WAD));
        // 1 000 gross in window 5 are worth 250 + 125 + 62.5 + 31.25 = 468.75: 0.46875.
        let busy = RewardCurve {
            gross: Amount::neuro(1_000),
            ..c.clone()
        };
        assert_eq!(curve_at(&p, &busy, 5 * day + 1), busy, "same window");
        let next = curve_at(&p, &busy, 6 * day);
        assert_eq!(next.multiplier_wad, 468_750_000_000_000_000);
        assert_eq!(next.gross, Amount::ZERO);
        assert_eq!(
            at_rate(Amount::neuro(2), next.multiplier_wad),
            neuro("0.9375")
        );
        // A window with no claims in between: full rate again.
        assert_eq!(curve_at(&p, &busy, 7 * day).multiplier_wad, WAD);
        // Under a tier: full rate; huge gross: a tiny rate, never above full or a panic.
        assert_eq!(multiplier_after(&p, Amount::neuro(100)), WAD);
        assert!(multiplier_after(&p, Amount(u128::MAX)) < WAD / 1_000_000);
        assert_eq!(at_rate(Amount(u128::MAX), WAD), Amount(u128::MAX));
    }

    #[test]
    fn a_payment_counts_the_gross_it_stands_for() {
        // Paid in full at a rate of 0.75: its whole gross.
        assert_eq!(
            paid_gross(Amount::neuro(400), Amount::neuro(300), Amount::neuro(300)),
            Amount::neuro(400)
        );
        // Paid nothing (undrawn on an empty bond): nothing.
        assert_eq!(
            paid_gross(Amount::neuro(400), Amount::neuro(300), Amount::ZERO),
            Amount::ZERO
        );
        // Drawn and paid reward / s at s = 5%: twenty times, as the draw expects.
        assert_eq!(
            paid_gross(neuro("0.25"), neuro("0.25"), Amount::neuro(5)),
            Amount::neuro(5)
        );
        // Products past 2^128 stay close and never panic.
        let huge = paid_gross(
            Amount(u128::MAX / 3),
            Amount(u128::MAX / 6),
            Amount(u128::MAX / 6),
        );
        assert!(huge.0 >= u128::MAX / 3 - (u128::MAX >> 60));
        assert_eq!(
            paid_gross(Amount::neuro(1), Amount::ZERO, Amount::neuro(1)),
            Amount::ZERO
        );
    }

    fn neuro(s: &str) -> Amount {
        s.parse().unwrap()
    }

    proptest! {
        #[test]
        fn one_rate_pays_a_split_no_more_than_the_whole(
            gross_before in 0u128..10u128.pow(30),
            parts in proptest::collection::vec(0u128..10u128.pow(22), 1..8),
        ) {
            let p = Params::mainnet_defaults();
            let m = multiplier_after(&p, Amount(gross_before));
            prop_assert!(m <= WAD);
            let whole = at_rate(Amount(parts.iter().sum()), m).0;
            let split: u128 = parts.iter().map(|g| at_rate(Amount(*g), m).0).sum();
            prop_assert!(split <= whole);
            prop_assert!(whole - split < parts.len() as u128);
        }
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
