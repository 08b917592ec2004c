//! The draw nobody can steer (`neuroshard_runtime::draw`): windows of beacon signatures from
//! more than a third of the power, spoiled (every proof drawn) by any block that is not its
//! first proposer's with a valid signature, and blind to block time.

mod common;

use common::*;
use neuroshard_runtime::beacon::{BeaconSecret, BeaconSig};
use neuroshard_runtime::proof::WorkMetrics;
use neuroshard_runtime::*;

/// A chain of four validators of equal power, drawing `sample_bps` of proofs, whose blocks come
/// from their first proposer with its beacon signature.
fn four_validators(sample_bps: u16) -> Chain {
    let mut g = test_genesis();
    g.params.training.verify_sample_bps = sample_bps;
    Chain::with_validators(g, 4)
}

/// Applies an empty block 1 s later with the given proposer and beacon signature.
fn block_by(c: &mut Chain, proposer: Address, beacon: Option<BeaconSig>) {
    c.time_ms += 1_000;
    let header = BlockHeader {
        height: c.ledger.height() + 1,
        time_ms: c.time_ms,
        proposer,
        beacon,
    };
    c.ledger.begin_block(header).unwrap();
    c.ledger.end_block().unwrap();
    c.ledger.commit().unwrap();
}

/// `n` nodes of one wallet each submit one proof, all in one block; their ids.
fn proofs_in_one_block(c: &mut Chain, n: u8) -> Vec<Hash32> {
    let wallet = key(1);
    let nodes: Vec<SecretKey> = (0..n).map(|i| key(100 + i)).collect();
    for node in &nodes {
        c.register(&wallet, node);
    }
    c.time_ms += 10_000;
    let txs: Vec<SignedTransaction> = nodes
        .iter()
        .map(|node| {
            let p = c.proof(
                node,
                WorkMetrics {
                    batches: 100,
                    ..Default::default()
                },
            );
            c.sign(node, TxBody::SubmitProof(p))
        })
        .collect();
    let (receipts, _) = c.block(0, &txs);
    for r in receipts {
        assert_eq!(r.unwrap().result, Ok(()));
    }
    txs.iter().map(|t| t.hash()).collect()
}

/// A validator of `c` other than `first`.
fn another_validator(c: &Chain, first: &SecretKey) -> SecretKey {
    c.validators
        .iter()
        .find(|k| k.address() != first.address())
        .unwrap()
        .clone()
}

fn sampled(c: &Chain, ids: &[Hash32]) -> Vec<Option<bool>> {
    ids.iter()
        .map(|id| c.ledger.proof(id).unwrap().unwrap().sampled)
        .collect()
}

#[test]
fn a_window_closes_once_more_than_a_third_of_the_power_contributed() {
    let mut c = four_validators(5_000);
    let ids = proofs_in_one_block(&mut c, 3);
    let accepted_at = c.ledger.height();
    for _ in 0..40 {
        let before = c.ledger.training().unwrap().draw;
        let next = c.ledger.height() + 1;
        let proposer = c.ledger.draw_proposer(next).unwrap().unwrap();
        c.block(1_000, &[]);
        let now = sampled(&c, &ids);
        if now.iter().all(Option::is_some) {
            // Drawn in the block that brought a second distinct contributor (20 of 40 power),
            // by a window opened at or after the accepting block.
            assert!(before.after >= accepted_at, "{before:?}");
            assert_eq!(before.contributors.len(), 1, "{before:?}");
            assert!(!before.contributors.contains(&proposer));
            assert!(!before.spoiled);
            return;
        }
        assert!(
            now.iter().all(Option::is_none),
            "drawn together or not at all"
        );
        let draw = c.ledger.training().unwrap().draw;
        assert!(draw.contributors.len() <= 1, "{draw:?}");
    }
    panic!("no window closed in 40 blocks");
}

/// Who proposes the next block of a chain, with which beacon, given its height and first proposer.
type Spoiler = dyn Fn(&Chain, u64, &SecretKey) -> (Address, Option<BeaconSig>);

/// Honest blocks until the open draw window is one that draws the proofs accepted at `height`.
fn until_window_for(c: &mut Chain, height: u64) {
    while c.ledger.training().unwrap().draw.after < height {
        c.block(1_000, &[]);
    }
}

/// The first proposer of the block after `ids` were accepted, and that height.
fn first_of_next(c: &Chain) -> (u64, SecretKey) {
    let h = c.ledger.height() + 1;
    let first = c.ledger.draw_proposer(h).unwrap().unwrap();
    let key = c.validators.iter().find(|k| k.address() == first).unwrap();
    (h, key.clone())
}

#[test]
fn a_withheld_block_draws_every_proof_and_a_garbled_beacon_is_no_block() {
    // At 0.01%, honest windows draw none of these proofs.
    let honest = {
        let mut c = four_validators(1);
        let ids = proofs_in_one_block(&mut c, 6);
        for _ in 0..20 {
            c.block(1_000, &[]);
        }
        sampled(&c, &ids)
    };
    assert!(honest.iter().all(|s| *s == Some(false)), "{honest:?}");

    // The first proposer withholds its block: a later round's proposer (another validator,
    // with its own valid beacon) proposes instead. Or a proposer that is no validator does.
    let withheld = |c: &Chain, h: u64, first: &SecretKey| {
        let other = c
            .validators
            .iter()
            .find(|k| k.address() != first.address())
            .unwrap();
        let sig = BeaconSecret::derive(other).sign_height(CHAIN, h, &other.address());
        (other.address(), Some(sig))
    };
    let stranger = |_: &Chain, _: u64, _: &SecretKey| (key(250).address(), None);
    let spoilers: [&Spoiler; 2] = [&withheld, &stranger];
    for (i, spoil) in spoilers.iter().enumerate() {
        let mut c = four_validators(1);
        let ids = proofs_in_one_block(&mut c, 6);
        let accepted = c.ledger.height();
        until_window_for(&mut c, accepted);
        assert_eq!(sampled(&c, &ids), vec![None; ids.len()]);
        let (h, first) = first_of_next(&c);
        let (proposer, beacon) = spoil(&c, h, &first);
        block_by(&mut c, proposer, beacon);
        assert_eq!(
            sampled(&c, &ids),
            vec![Some(true); ids.len()],
            "spoiler {i}: every proof of a spoiled window is drawn"
        );
        c.assert_supply_invariant();
    }

    // A validator's block without its own valid beacon signature for the height is refused:
    // leaving it out or garbling it is no way to spoil a window.
    let mut c = four_validators(1);
    proofs_in_one_block(&mut c, 2);
    let (h, first) = first_of_next(&c);
    let other = another_validator(&c, &first);
    let me = first.address();
    let garbled = [
        None,
        Some(BeaconSecret::derive(&other).sign_height(CHAIN, h, &me)),
        Some(BeaconSecret::derive(&first).sign_height(CHAIN, h - 1, &me)),
        Some(BeaconSecret::derive(&first).sign_height("another-chain", h, &me)),
        Some(BeaconSig([7; 96])),
    ];
    let root = c.ledger.state_root();
    for beacon in garbled {
        let header = BlockHeader {
            height: h,
            time_ms: c.time_ms + 1_000,
            proposer: me,
            beacon,
        };
        assert_eq!(
            c.ledger.begin_block(header),
            Err(BlockError::BadBeacon {
                height: h,
                proposer: me
            })
        );
        assert_eq!(c.ledger.state_root(), root);
    }
}

#[test]
fn block_times_do_not_move_the_draw() {
    // One chain state with 12 proofs accepted, then the closing blocks at different block times:
    // under the old state-root seed each time gave another draw.
    let mut base = four_validators(5_000);
    let ids = proofs_in_one_block(&mut base, 12);
    let outcomes: Vec<Vec<Option<bool>>> = [1_000u64, 1_001, 2_500, 7_777]
        .iter()
        .map(|step| {
            let mut c = Chain::with_exact_genesis(Genesis::dev());
            c.ledger = Ledger::open(base.ledger.store().clone()).unwrap();
            c.time_ms = base.time_ms;
            c.validators = base.validators.clone();
            for _ in 0..40 {
                if sampled(&c, &ids).iter().all(Option::is_some) {
                    break;
                }
                c.block(*step, &[]);
            }
            sampled(&c, &ids)
        })
        .collect();
    assert!(outcomes[0].iter().all(Option::is_some));
    assert!(outcomes.iter().all(|o| *o == outcomes[0]), "{outcomes:?}");
    // And it is a draw: at 50%, 12 proofs are neither all drawn nor all left.
    assert!(outcomes[0].contains(&Some(true)) && outcomes[0].contains(&Some(false)));
}

#[test]
fn a_staked_validator_registers_its_beacon_key_once() {
    let mut c = Chain::new();
    let v = key(30);
    c.earn(&v, Amount::neuro(101));
    c.ok(c.sign(
        &v,
        TxBody::Stake {
            amount: Amount::neuro(100),
        },
    ));
    let record_of = |c: &Chain| {
        c.ledger
            .validators()
            .unwrap()
            .into_iter()
            .find(|i| i.address == v.address())
            .unwrap()
            .record
    };
    assert_eq!(
        record_of(&c).beacon_key,
        None,
        "staking alone names no beacon key"
    );
    assert_eq!(
        record_of(&c).power,
        0,
        "no voting power without a beacon key"
    );
    let secret = BeaconSecret::derive(&v);
    let set = |for_address: &Address| TxBody::SetBeaconKey {
        key: secret.public_key(),
        possession: secret.possession(CHAIN, for_address),
    };
    // A possession signature made for another address is refused.
    let r = c.apply(c.sign(&v, set(&key(31).address())));
    assert_eq!(r.unwrap().result, Err(TxError::BadBeaconPossession));
    // Somebody who is not a validator cannot register one.
    let stranger = key(32);
    c.earn(&stranger, Amount::neuro(1));
    let r = c.apply(c.sign(&stranger, set(&stranger.address())));
    assert_eq!(
        r.unwrap().result,
        Err(TxError::UnknownValidator(stranger.address()))
    );
    c.ok(c.sign(&v, set(&v.address())));
    assert_eq!(record_of(&c).beacon_key, Some(secret.public_key()));
    assert_eq!(record_of(&c).power, 100, "power once the key is registered");
    // Set once: a validator that could switch keys would have a choice of beacon values.
    let r = c.apply(c.sign(&v, set(&v.address())));
    assert_eq!(
        r.unwrap().result,
        Err(TxError::BeaconKeyAlreadySet(v.address()))
    );
    c.assert_supply_invariant();
}

/// Spoiling a window draws every proof in it, but must not raise what honest work is paid: a
/// proof the seed draws is paid `(R − (1 − s)·C)/s` (10,000 R here, at 0.01% and no bond),
/// a proof drawn because its window was spoiled only `R`.
#[test]
fn a_spoiled_window_pays_honest_proofs_their_reward_unscaled() {
    let mut c = four_validators(1);
    let ids = proofs_in_one_block(&mut c, 3);
    let accepted = c.ledger.height();
    until_window_for(&mut c, accepted);
    let (h, first) = first_of_next(&c);
    let other = another_validator(&c, &first);
    let sig = BeaconSecret::derive(&other).sign_height(CHAIN, h, &other.address());
    block_by(&mut c, other.address(), Some(sig));
    c.mature();
    let minted = c.ledger.supply().unwrap().minted;
    let mut rewards = Amount::ZERO;
    for id in &ids {
        let p = c.ledger.proof(id).unwrap().unwrap();
        assert!(p.drawn_in_full, "{p:?}");
        assert_eq!(p.status, state::ProofStatus::Paid, "{p:?}");
        assert_eq!(p.paid, p.reward, "{p:?}");
        rewards = rewards.checked_add(p.reward).unwrap();
    }
    assert_eq!(minted, rewards);
    c.assert_supply_invariant();
}

/// Honest blocks until `ids` are drawn.
fn until_drawn(c: &mut Chain, ids: &[Hash32]) {
    for _ in 0..40 {
        if sampled(c, ids).iter().all(Option::is_some) {
            return;
        }
        c.block(1_000, &[]);
    }
    panic!("not drawn in 40 blocks");
}

/// Every drawn proof falls to the fewest validators, in an order its draw picks, that hold more
/// than a third of the power; their verdicts alone verify it, and no two proofs need fall to
/// the same ones.
#[test]
fn a_drawn_proof_falls_to_replayers_holding_more_than_a_third_of_the_power() {
    let mut c = four_validators(10_000);
    let ids = proofs_in_one_block(&mut c, 12);
    until_drawn(&mut c, &ids);
    let mut sets = std::collections::BTreeSet::new();
    for id in &ids {
        let p = c.ledger.proof(id).unwrap().unwrap();
        assert_eq!(p.sampled, Some(true));
        // Four validators of 10: 10 of 40 is not more than a third, 20 is.
        assert_eq!(p.replayers.len(), 2, "{:?}", p.replayers);
        assert!(p
            .replayers
            .iter()
            .all(|r| c.validators.iter().any(|v| v.address() == *r)));
        sets.insert(p.replayers.clone());
    }
    assert!(
        sets.len() > 1,
        "twelve proofs all fell to the same two validators"
    );
    // Each validator re-executes about half the drawn work, not all of it.
    for v in &c.validators {
        let mine = ids
            .iter()
            .filter(|id| {
                c.ledger
                    .proof(id)
                    .unwrap()
                    .unwrap()
                    .replayers
                    .contains(&v.address())
            })
            .count();
        assert!(mine < ids.len(), "{mine} of {}", ids.len());
    }
    c.verify_drawn();
    for id in &ids {
        let p = c.ledger.proof(id).unwrap().unwrap();
        assert_eq!(p.status, state::ProofStatus::Verified);
        assert_eq!(p.verdicts.len(), 2);
    }
}

/// The attack shared replay invites: a worker colluding with a validator that holds less than
/// a third of the power. The colluder's *valid* cannot verify a fabricated claim; the honest
/// replayer's *invalid* sends it to every validator, which proves the fraud and slashes the
/// colluder for its verdict.
#[test]
fn a_validator_under_a_third_cannot_verify_a_fabricated_claim_for_its_worker() {
    let mut c = four_validators(10_000);
    // Every validator holds a balance its false verdict can be taken from.
    for v in c.validators.clone() {
        c.earn(&v, Amount::neuro(50));
    }
    let ids = proofs_in_one_block(&mut c, 8);
    until_drawn(&mut c, &ids);
    let id = ids[0];
    let p = c.ledger.proof(&id).unwrap().unwrap();
    let colluder = c
        .validators
        .iter()
        .find(|v| p.replayers.contains(&v.address()))
        .unwrap()
        .clone();
    let before = c.balance(&colluder.address());
    let r = c.ok(c.sign(
        &colluder,
        TxBody::Verdict {
            proof: id,
            valid: true,
        },
    ));
    assert_eq!(r.result, Ok(()));
    let p = c.ledger.proof(&id).unwrap().unwrap();
    assert_eq!(
        p.status,
        state::ProofStatus::Pending,
        "10 of 40 verified it"
    );
    // The other replayer is honest: the claim does not reproduce.
    let honest = p
        .replayers
        .iter()
        .find(|r| **r != colluder.address())
        .copied()
        .unwrap();
    let honest = c
        .validators
        .iter()
        .find(|v| v.address() == honest)
        .unwrap()
        .clone();
    let r = c.ok(c.sign(
        &honest,
        TxBody::Verdict {
            proof: id,
            valid: false,
        },
    ));
    assert_eq!(r.result, Ok(()));
    let p = c.ledger.proof(&id).unwrap().unwrap();
    assert!(
        p.contested(c.time_ms, c.params().bond_period_ms),
        "every validator now re-executes it"
    );
    // The validators outside the replayers re-execute it too: 30 of 40 call it invalid.
    let others: Vec<SecretKey> = c
        .validators
        .iter()
        .filter(|v| !p.replayers.contains(&v.address()))
        .cloned()
        .collect();
    for v in &others {
        let r = c.ok(c.sign(
            v,
            TxBody::Verdict {
                proof: id,
                valid: false,
            },
        ));
        assert_eq!(r.result, Ok(()));
    }
    let p = c.ledger.proof(&id).unwrap().unwrap();
    assert_eq!(p.status, state::ProofStatus::Voided);
    assert_eq!(p.paid, Amount::ZERO);
    let penalty = c.params().false_verdict_penalty;
    assert_eq!(
        c.balance(&colluder.address()),
        before.checked_sub(penalty).unwrap()
    );
    c.assert_supply_invariant();
}
