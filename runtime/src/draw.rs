//! Which accepted proofs are re-executed: a draw nobody can steer once the proofs are committed.
//!
//! The draw's randomness comes from validators' beacon signatures ([`crate::beacon`]), collected
//! in *windows*:
//!
//! 1. A window opens at the end of block `after`, with a snapshot of the validator set
//!    ([`DrawSet`]: address, power, beacon key). Every proof accepted at or before `after` and
//!    not yet drawn waits for this window.
//! 2. Each later block contributes if it was proposed by its height's *first proposer* in the
//!    snapshot ([`crate::beacon::first_proposer`], the round-0 proposer when the set has not
//!    changed) and carries that validator's valid beacon signature: the seed becomes
//!    `H(seed ‖ output)`. Any other block (a later consensus round, a missing or bad signature,
//!    a validator without a beacon key, a set that changed) *spoils* the window.
//! 3. The window closes at the first block after which its distinct contributors hold more than
//!    a third of the snapshot's power, and its proofs are drawn from the seed at the genesis
//!    sample rate. A spoiled window closes at once, and every proof it holds is drawn. The next
//!    window opens at the end of the closing block.
//!
//! Why nobody can steer it, as long as validators holding less than a third of the power
//! collude (the assumption the chain's safety already rests on):
//! * **Nobody knows the seed while the proofs can still change.** The contributors of a window
//!   hold more than a third of the power, so at least one is honest, and its contribution is a
//!   BLS signature over a height after `after`, which nobody else can compute and which it
//!   publishes only in its block, after every proof of the window was committed.
//! * **Nobody can choose among seeds.** Signatures are unique, so a contributor has exactly one
//!   value. Block time, transaction order and the state root do not enter the seed. The
//!   proposer of each height and the powers are fixed by the snapshot taken before the window's
//!   contributions start, so staking, unstaking or registering keys cannot change who
//!   contributes or with what key.
//! * **Withholding does not help.** A contributor who, knowing the other contributions, dislikes
//!   the outcome can only not propose (or sign wrongly): that spoils the window, and then every
//!   proof of the window is drawn, which is what a cheater likes least. Honest proofs drawn that
//!   way are paid their reward, not the seed-drawn `(R − (1 − s)·C)/s`
//!   (`ProofRecord::drawn_in_full`), so withholding cannot raise anyone's pay either.
//!
//! A spoiled window costs honest validators extra re-execution (every proof of one window), never
//! an honest node money. On a one-validator chain a window is one block long, as before.

use crate::beacon::first_proposer;
use crate::crypto::{domain_hash, Hash32};
use crate::ctx::BlockHeader;
use crate::error::StorageError;
use crate::maturity;
use crate::overlay::Overlay;
use crate::params::Params;
use crate::state::{
    keys, DrawMember, DrawSet, DrawWindow, TrainingState, ValidatorIndex, ValidatorRecord,
};
use crate::storage::Storage;

const MIX_DOMAIN: &[u8] = b"neuroshard-draw-mix-v1";
const REPLAYERS_DOMAIN: &[u8] = b"neuroshard-replayers-v1";

/// Who re-executes drawn proof `id` first: the members of `set` ordered by
/// `H(seed ‖ id ‖ address)`, as few of them from the front as hold more than a third of the
/// set's power.
///
/// A proof is verified once more than a third of the power calls it valid, and Byzantine
/// validators hold less than a third, so these replayers are enough to verify an honest proof
/// and always include an honest validator, whose *invalid* verdict on a fabricated one sends it
/// to every validator ([`crate::state::ProofRecord::contested`]). The seed is the draw's, which
/// nobody knew when the proof was committed, so no worker picks the validators that judge it.
/// With equal powers each validator replays about a third of the drawn work (half with four
/// validators) instead of all of it.
pub fn replayers(set: &DrawSet, seed: &Hash32, id: &Hash32) -> Vec<crate::crypto::Address> {
    let total: u128 = set.0.iter().map(|m| u128::from(m.power)).sum();
    let mut order: Vec<(Hash32, &DrawMember)> = set
        .0
        .iter()
        .map(|m| {
            let key = domain_hash(
                REPLAYERS_DOMAIN,
                &[&seed[..], &id[..], &m.address.0].concat(),
            );
            (key, m)
        })
        .collect();
    order.sort_by_key(|a| a.0);
    let mut power = 0u128;
    let mut out = Vec::new();
    for (_, m) in order {
        if power * 3 > total {
            break;
        }
        power += u128::from(m.power);
        out.push(m.address);
    }
    out
}

/// The active validator set now in `ov`, in address order (the set consensus uses for the next
/// height).
pub(crate) fn snapshot<S: Storage>(ov: &mut Overlay<'_, S>) -> Result<DrawSet, StorageError> {
    let index: ValidatorIndex = ov.get(keys::VALIDATOR_INDEX)?.unwrap_or_default();
    let mut members = Vec::with_capacity(index.0.len());
    for address in index.0 {
        let Some(record) = ov.get::<ValidatorRecord>(&keys::validator(&address))? else {
            continue;
        };
        if record.jailed || record.power == 0 {
            continue;
        }
        members.push(DrawMember {
            address,
            power: record.power,
            beacon_key: record.beacon_key,
        });
    }
    Ok(DrawSet(members))
}

/// What block `header` contributes to a window with validator set `set`: the index of its
/// contributor and the beacon output, or `None` if it spoils the window.
pub fn contribution(
    set: &DrawSet,
    chain_id: &str,
    header: &BlockHeader,
) -> Option<(usize, Hash32)> {
    let powers: Vec<_> = set.0.iter().map(|m| (m.address, m.power)).collect();
    let i = first_proposer(&powers, header.height)?;
    let member = &set.0[i];
    if member.address != header.proposer {
        return None;
    }
    let out = member.beacon_key?.height_output(
        header.beacon.as_ref()?,
        chain_id,
        header.height,
        &header.proposer,
    )?;
    Some((i, out))
}

/// Adds block `header` to the open window, and closes the window (drawing its proofs) if its
/// contributors now hold more than a third of its power. Called at the end of every block.
pub(crate) fn on_block<S: Storage>(
    ov: &mut Overlay<'_, S>,
    params: &Params,
    chain_id: &str,
    header: &BlockHeader,
) -> Result<(), StorageError> {
    let mut training: TrainingState = ov.get(keys::TRAINING)?.unwrap_or_default();
    let set: DrawSet = ov.get(keys::DRAW_SET)?.unwrap_or_default();
    let before = training.clone();
    add(&mut training.draw, &set, chain_id, header);
    let total: u64 = set.0.iter().map(|m| m.power).fold(0, u64::saturating_add);
    let enough = u128::from(training.draw.power) * 3 > u128::from(total);
    if enough || training.draw.spoiled || total == 0 {
        let window = std::mem::take(&mut training.draw);
        maturity::draw_samples(ov, params, &mut training, &set, &window, header.time_ms)?;
        training.draw = DrawWindow {
            after: header.height,
            seed: window.seed,
            ..DrawWindow::default()
        };
        let next = snapshot(ov)?;
        if next != set {
            ov.put(keys::DRAW_SET.to_vec(), &next);
        }
    }
    if training != before {
        ov.put(keys::TRAINING.to_vec(), &training);
    }
    Ok(())
}

fn add(window: &mut DrawWindow, set: &DrawSet, chain_id: &str, header: &BlockHeader) {
    match contribution(set, chain_id, header) {
        Some((i, out)) => {
            window.seed = domain_hash(MIX_DOMAIN, &[window.seed, out].concat());
            let member = &set.0[i];
            if !window.contributors.contains(&member.address) {
                window.contributors.push(member.address);
                window.power = window.power.saturating_add(member.power);
            }
        }
        None => window.spoiled = true,
    }
}

#[cfg(test)]
mod replayer_tests {
    use super::*;
    use crate::crypto::Address;
    use proptest::prelude::*;

    fn set(powers: &[u64]) -> DrawSet {
        DrawSet(
            powers
                .iter()
                .enumerate()
                .map(|(i, p)| DrawMember {
                    address: Address([i as u8 + 1; 20]),
                    power: *p,
                    beacon_key: None,
                })
                .collect(),
        )
    }

    proptest! {
        /// The replayers hold more than a third of the power, and without the last of them
        /// they would not: enough to verify, and no more.
        #[test]
        fn replayers_are_the_fewest_that_hold_more_than_a_third(
            powers in proptest::collection::vec(1u64..1_000, 1..40),
            seed in any::<[u8; 32]>(),
            id in any::<[u8; 32]>(),
        ) {
            let set = set(&powers);
            let total: u128 = powers.iter().map(|p| u128::from(*p)).sum();
            let chosen = replayers(&set, &seed, &id);
            let power_of = |a: &Address| {
                u128::from(set.0.iter().find(|m| m.address == *a).unwrap().power)
            };
            let held: u128 = chosen.iter().map(power_of).sum();
            prop_assert!(held * 3 > total);
            let without_last = held - power_of(chosen.last().unwrap());
            prop_assert!(without_last * 3 <= total);
            prop_assert_eq!(&chosen, &replayers(&set, &seed, &id));
        }
    }

    #[test]
    fn an_empty_set_has_no_replayers() {
        assert!(replayers(&DrawSet::default(), &[0; 32], &[1; 32]).is_empty());
    }
}
