//! Newcomer claims: validators' replay work stays bounded however many free claims arrive.
//!
//! A claim nobody has money on costs its maker nothing, yet every validator re-executes it when
//! it is drawn. Drawn at the genesis rate `s` like a bonded claim, a flood of fabricated claims
//! from fresh wallets (free to register, free to claim) would bury the validators in replays,
//! and a round is attested only once its drawn proofs are replayed. So:
//!
//! * A claim whose wallet's free bond covers at least half its reward is **bonded**: drawn at
//!   `s` by the draw windows ([`crate::draw`]). Making validators replay one costs its maker,
//!   when the replay finds fraud, the whole bond: at least `(R/2)(1 − s)/s`, in proportion to
//!   the replay it forced.
//! * Any other claim is a **newcomer claim**: undrawn it pays nothing (a partial cover is
//!   dropped and no bond is reserved), and each draw window draws its newcomer claims, `W`
//!   batches in all, with one chance `p = min(s, B / W)` each, where `B` is the newcomer
//!   **budget**: a bucket of at most `K = training.newcomer_replay_batches_per_hour` expected
//!   replayed batches, refilled at `K` per hour of block time and spent `p × W` per window.
//!   Drawn and verified, a newcomer claim pays `R / p`.
//!
//! So the newcomer batches validators replay stay within `K` per hour (plus one bucket)
//! however much is claimed; every newcomer claim's expected pay is its reward `R`, whatever its
//! `p` (a flood only makes pay lumpier); a fabricated one is paid nothing undrawn and voided when
//! drawn, so it never profits. In a spoiled window (a withheld block) every newcomer claim the
//! budget allows is drawn (`p = min(1, B / W)`) and a drawn one pays `R` unscaled, like a bonded
//! claim there: a withholder can neither raise the replay load past the budget nor the pay.

use crate::amount::Amount;
use crate::crypto::{domain_hash, Hash32};
use crate::params::Params;
use crate::state::TrainingState;

/// One expected replayed batch in the budget's units.
const ONE: u128 = 1 << 64;

/// Whether a claim worth `reward`, of which its wallet's bond covers `covered`, is a newcomer
/// claim.
pub fn is_newcomer_claim(reward: Amount, covered: Amount) -> bool {
    !reward.is_zero() && covered.0.saturating_mul(2) < reward.0
}

/// The most the newcomer budget holds.
fn capacity(params: &Params) -> u128 {
    u128::from(params.training.newcomer_replay_batches_per_hour.max(1)) * ONE
}

/// One hour of block time, the budget's refill period.
const HOUR_MS: u128 = 3_600_000;

/// Refills the newcomer budget for the block time passed since the last refill.
pub(crate) fn refill(params: &Params, training: &mut TrainingState, now_ms: u64) {
    let cap = capacity(params);
    let elapsed = u128::from(now_ms.saturating_sub(training.newcomer_refill_ms));
    let more = crate::rewards::mul_div_wide(cap, elapsed, HOUR_MS);
    training.newcomer_budget = training.newcomer_budget.saturating_add(more).min(cap);
    training.newcomer_refill_ms = training.newcomer_refill_ms.max(now_ms);
}

/// The chance of each of the newcomer claims drawn together, `batches` in all:
/// `min(s, budget / batches)`, as a fraction of 2^64, never 0 (`s` is 1 in a `spoiled` window,
/// where every claim the budget allows is drawn); and spends its expected replays.
pub(crate) fn spend(
    params: &Params,
    training: &mut TrainingState,
    batches: u64,
    spoiled: bool,
) -> u64 {
    let s = if spoiled {
        ONE
    } else {
        (u128::from(params.training.verify_sample_bps.min(10_000)) * ONE) / 10_000
    };
    let share = training.newcomer_budget / u128::from(batches.max(1));
    let p = s.min(share).clamp(1, u128::from(u64::MAX));
    training.newcomer_budget = training
        .newcomer_budget
        .saturating_sub(p.saturating_mul(u128::from(batches)));
    p as u64
}

/// Whether newcomer claim `id` is drawn with chance `p` by `seed`.
pub fn is_drawn(seed: &Hash32, id: &Hash32, p: u64) -> bool {
    let h = domain_hash(
        b"neuroshard-newcomer-draw-v1",
        &[seed.as_slice(), id].concat(),
    );
    let mut first = [0u8; 8];
    first.copy_from_slice(&h[..8]);
    p == u64::MAX || u64::from_le_bytes(first) < p
}

/// What a newcomer claim of `reward` drawn with chance `p` pays once verified: `reward / p`,
/// rounded down.
pub fn drawn_pay(reward: Amount, p: u64) -> Amount {
    if p == u64::MAX {
        return reward; // drawn for certain
    }
    Amount(crate::rewards::mul_div_wide(
        reward.0,
        ONE,
        u128::from(p.max(1)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(s_bps: u16, k: u32) -> Params {
        let mut p = Params::mainnet_defaults();
        p.training.verify_sample_bps = s_bps;
        p.training.newcomer_replay_batches_per_hour = k;
        p
    }

    #[test]
    fn the_chance_is_the_sample_rate_while_the_budget_lasts_then_what_is_left_shared() {
        let p = params(500, 16);
        let round = 3_600_000; // the budget's hour
        let mut t = TrainingState::default();
        refill(&p, &mut t, 10 * round);
        assert_eq!(t.newcomer_budget, 16 * ONE, "a full bucket, never more");
        let s = ((500 * ONE) / 10_000) as u64;
        // 100 batches at 5%: 5 expected replayed batches spent.
        assert_eq!(spend(&p, &mut t, 100, false), s);
        assert_eq!(t.newcomer_budget, 16 * ONE - 100 * u128::from(s));
        // A flood of a million batches shares the 11 left.
        let flood = spend(&p, &mut t, 1_000_000, false);
        assert_eq!(
            u128::from(flood),
            (16 * ONE - 100 * u128::from(s)) / 1_000_000
        );
        assert!(t.newcomer_budget < ONE / 1_000, "spent");
        // Nothing left but crumbs: a vanishing chance, never zero.
        let crumbs = spend(&p, &mut t, 1_000, false);
        assert!((1..1_000).contains(&crumbs), "{crumbs}");
        // Half an hour later, half a bucket.
        refill(&p, &mut t, 10 * round + round / 2);
        assert!(t.newcomer_budget.abs_diff(8 * ONE) < ONE / 1_000);
        // Every claim drawn at 100% while the budget lasts.
        let all = params(10_000, 16);
        let mut t = TrainingState::default();
        refill(&all, &mut t, round);
        assert_eq!(spend(&all, &mut t, 4, false), u64::MAX);
        // A spoiled window draws every claim the budget allows, whatever the sample rate.
        let mut t = TrainingState::default();
        refill(&p, &mut t, round);
        assert_eq!(spend(&p, &mut t, 4, true), u64::MAX);
        assert!(t.newcomer_budget.abs_diff(12 * ONE) < 8, "4 batches spent");
    }

    #[test]
    fn draws_follow_the_chance_and_pay_its_inverse() {
        let p = ((16 * ONE) / 100_000) as u64;
        let drawn = (0u32..100_000)
            .filter(|i| is_drawn(&[7; 32], &domain_hash(b"id", &i.to_le_bytes()), p))
            .count();
        assert!(
            (4..=40).contains(&drawn),
            "{drawn} drawn where 16 are expected"
        );
        // R / p: at p = 5%, 20 R.
        let five = ((500 * ONE) / 10_000) as u64;
        let pay = drawn_pay(Amount::neuro(1), five);
        assert!(
            pay >= Amount::neuro(20) && pay.0 - Amount::neuro(20).0 < 1_000,
            "{pay:?}"
        );
        assert_eq!(drawn_pay(Amount::neuro(1), u64::MAX), Amount::neuro(1));
        assert!(is_newcomer_claim(Amount::neuro(1), Amount::ZERO));
        assert!(is_newcomer_claim(Amount(10), Amount(4)));
        assert!(!is_newcomer_claim(Amount(10), Amount(5)));
        assert!(!is_newcomer_claim(Amount::ZERO, Amount::ZERO));
    }
}
