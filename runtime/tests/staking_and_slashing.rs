//! Stake, unbond, withdraw, validator-set updates, and slashing with evidence.

mod common;

use common::*;
use neuroshard_runtime::evidence::{Evidence, Vote, VoteKind};
use neuroshard_runtime::proof::{Proof, WorkMetrics};
use neuroshard_runtime::*;

/// Stakes `amount` from `who` and, in the same block, registers its beacon key (without which a
/// validator has no power; refused harmlessly if it is no validator or has one already).
fn stake(c: &mut Chain, who: &SecretKey, amount: Amount) -> (Receipt, Vec<ValidatorUpdate>) {
    let stake = c.sign(who, TxBody::Stake { amount });
    let mut register = c.beacon_key_tx(who);
    register.tx.nonce += 1;
    let register = register.tx.sign(who);
    let (mut receipts, updates) = c.block(1_000, &[stake, register]);
    (receipts.remove(0).unwrap(), updates)
}

#[test]
fn stake_above_the_cap_buys_no_more_voting_power() {
    let mut c = Chain::new();
    let v = key(1);
    c.earn(&v, Amount::neuro(1_500));
    let cap = c.params().max_validator_power;
    assert_eq!(cap, 1_000);
    let (r, updates) = stake(&mut c, &v, Amount::neuro(1_400));
    assert_eq!(r.result, Ok(()));
    assert_eq!(updates[0].power, cap, "1 400 NEURO staked, power capped");
    // A genesis that gives a validator more than the cap is refused.
    let mut g = test_genesis();
    g.validators[0].power = cap + 1;
    assert!(matches!(
        g.validate(),
        Err(GenesisError::InvalidParam {
            name: "validators.power",
            ..
        })
    ));
}

#[test]
fn staking_the_minimum_makes_a_validator_and_updates_power_at_end_block() {
    let mut c = Chain::new();
    let v = key(1);
    c.earn(&v, Amount::neuro(500));
    let (r, updates) = stake(&mut c, &v, Amount::neuro(99));
    assert_eq!(
        r.result,
        Err(TxError::StakeBelowMinimum {
            min: Amount::neuro(100),
            resulting: Amount::neuro(99)
        })
    );
    assert!(updates.is_empty());
    let (r, updates) = stake(&mut c, &v, Amount::neuro(150));
    assert_eq!(r.result, Ok(()));
    assert_eq!(
        updates,
        vec![ValidatorUpdate {
            public_key: v.public_key(),
            power: 150
        }]
    );
    let vals = c.ledger.validators().unwrap();
    assert!(vals.iter().any(|i| i.address == v.address()
        && i.record.power == 150
        && i.stake == Amount::neuro(150)));
    // Staking what one does not hold.
    let (r, _) = stake(&mut c, &v, Amount::neuro(1_000_000));
    assert!(matches!(r.result, Err(TxError::InsufficientFunds { .. })));
    assert_eq!(
        c.ledger.account(&v.address()).unwrap().stake,
        Amount::neuro(150)
    );
    c.assert_supply_invariant();
}

#[test]
fn unbonding_waits_for_the_period_then_withdraws() {
    let mut c = Chain::new();
    let v = key(1);
    c.earn(&v, Amount::neuro(300));
    stake(&mut c, &v, Amount::neuro(200));
    // Partial unstake that would leave less than the minimum.
    let r = c
        .apply(c.sign(
            &v,
            TxBody::Unstake {
                amount: Amount::neuro(150),
            },
        ))
        .unwrap();
    assert!(matches!(r.result, Err(TxError::StakeBelowMinimum { .. })));
    let r = c
        .apply(c.sign(
            &v,
            TxBody::Unstake {
                amount: Amount::neuro(500),
            },
        ))
        .unwrap();
    assert!(matches!(r.result, Err(TxError::InsufficientStake { .. })));
    let (mut rs, updates) = c.block(
        1_000,
        &[c.sign(
            &v,
            TxBody::Unstake {
                amount: Amount::neuro(200),
            },
        )],
    );
    assert_eq!(rs.remove(0).unwrap().result, Ok(()));
    assert_eq!(
        updates,
        vec![ValidatorUpdate {
            public_key: v.public_key(),
            power: 0
        }]
    );
    let acct = c.ledger.account(&v.address()).unwrap();
    assert_eq!(
        (acct.stake, acct.unbonding_total()),
        (Amount::ZERO, Amount::neuro(200))
    );
    let r = c.apply(c.sign(&v, TxBody::WithdrawUnbonded)).unwrap();
    assert_eq!(r.result, Err(TxError::NothingToWithdraw));
    let before = c.balance(&v.address());
    c.time_ms += c.params().unbonding_period_ms;
    c.ok(c.sign(&v, TxBody::WithdrawUnbonded));
    let fee = c.params().min_fee;
    assert_eq!(
        c.balance(&v.address()),
        before
            .checked_add(Amount::neuro(200))
            .unwrap()
            .checked_sub(fee)
            .unwrap()
    );
    assert!(c.ledger.account(&v.address()).unwrap().unbonding.is_empty());
    c.assert_supply_invariant();
}

#[test]
fn unbonding_entries_are_bounded() {
    let mut c = Chain::new();
    let v = key(1);
    c.earn(&v, Amount::neuro(2_000));
    stake(&mut c, &v, Amount::neuro(1_000));
    let max = c.params().max_unbonding_entries;
    for _ in 0..max {
        c.ok(c.sign(
            &v,
            TxBody::Unstake {
                amount: Amount::neuro(1),
            },
        ));
    }
    let r = c
        .apply(c.sign(
            &v,
            TxBody::Unstake {
                amount: Amount::neuro(1),
            },
        ))
        .unwrap();
    assert_eq!(r.result, Err(TxError::TooManyUnbondingEntries { max }));
}

#[test]
fn validator_set_is_bounded() {
    let mut g = test_genesis();
    g.params.max_validators = 2; // the dev validator plus one
    let mut c = Chain::with_genesis(g);
    let (a, b) = (key(1), key(2));
    c.earn(&a, Amount::neuro(100));
    c.earn(&b, Amount::neuro(100));
    assert_eq!(stake(&mut c, &a, Amount::neuro(100)).0.result, Ok(()));
    assert_eq!(
        stake(&mut c, &b, Amount::neuro(100)).0.result,
        Err(TxError::ValidatorSetFull { max: 2 })
    );
}

/// Emptied validators give their slots back, jailed ones give theirs to the next newcomer; a
/// jailed one still cannot return.
#[test]
fn jailed_and_empty_validators_do_not_squat_the_set() {
    let mut g = test_genesis();
    g.params.max_validators = 2; // the dev validator plus one
    let mut c = Chain::with_genesis(g);
    let (a, b, d, reporter) = (key(1), key(2), key(3), key(4));
    for k in [&a, &b, &d] {
        c.earn(k, Amount::neuro(200));
    }
    c.earn(&reporter, Amount::neuro(1));
    assert_eq!(stake(&mut c, &a, Amount::neuro(100)).0.result, Ok(()));
    let full = Err(TxError::ValidatorSetFull { max: 2 });
    assert_eq!(stake(&mut c, &b, Amount::neuro(100)).0.result, full);
    // `a` unstakes everything: its slot is free for `b`.
    let r = c.apply(c.sign(
        &a,
        TxBody::Unstake {
            amount: Amount::neuro(100),
        },
    ));
    assert_eq!(r.unwrap().result, Ok(()));
    assert_eq!(stake(&mut c, &b, Amount::neuro(100)).0.result, Ok(()));
    assert_eq!(stake(&mut c, &a, Amount::neuro(100)).0.result, full);
    // `b` double-signs and is jailed: its slot is free for `d`, and `b` cannot come back.
    let report = c.sign(&reporter, TxBody::ReportFraud(Box::new(double_sign(&b, 9))));
    assert_eq!(c.apply(report).unwrap().result, Ok(()));
    // Still listed, as jailed, until its slot is wanted.
    assert!(c
        .ledger
        .validators()
        .unwrap()
        .iter()
        .any(|v| v.address == b.address() && v.record.jailed));
    assert_eq!(stake(&mut c, &d, Amount::neuro(100)).0.result, Ok(()));
    assert_eq!(
        stake(&mut c, &b, Amount::neuro(50)).0.result,
        Err(TxError::ValidatorJailed(b.address()))
    );
    let active: Vec<_> = c
        .ledger
        .validators()
        .unwrap()
        .into_iter()
        .map(|v| v.address)
        .collect();
    assert!(active.contains(&d.address()) && !active.contains(&b.address()));
    c.assert_supply_invariant();
}

fn double_sign(v: &SecretKey, height: u64) -> Evidence {
    let vote = |hash| Vote {
        chain_id: CHAIN.into(),
        height,
        round: 0,
        kind: VoteKind::Precommit,
        block_hash: Some(hash),
    };
    Evidence::DoubleSign {
        a: vote([1; 32]).sign(v),
        b: vote([2; 32]).sign(v),
    }
}

#[test]
fn double_signing_validator_is_slashed_jailed_and_the_reporter_paid() {
    let mut c = Chain::new();
    let (v, reporter) = (key(1), key(2));
    c.earn(&v, Amount::neuro(1_001));
    c.earn(&reporter, Amount::neuro(1));
    assert_eq!(stake(&mut c, &v, Amount::neuro(1_000)).0.result, Ok(()));
    let reporter_before = c.balance(&reporter.address());
    let slashed_before = c.ledger.supply().unwrap().slashed;
    let (mut rs, updates) = c.block(
        1_000,
        &[c.sign(&reporter, TxBody::ReportFraud(Box::new(double_sign(&v, 7))))],
    );
    let r = rs.remove(0).unwrap();
    assert_eq!(r.result, Ok(()));
    assert_eq!(
        updates,
        vec![ValidatorUpdate {
            public_key: v.public_key(),
            power: 0
        }]
    );
    // 5% of 1 000 staked = 50: 25 to the reporter, 25 destroyed.
    assert_eq!(
        c.ledger.account(&v.address()).unwrap().stake,
        Amount::neuro(950)
    );
    // Reporting is free: the reporter gains exactly its share.
    assert_eq!(
        c.balance(&reporter.address()),
        reporter_before.checked_add(Amount::neuro(25)).unwrap()
    );
    assert_eq!(
        c.ledger
            .supply()
            .unwrap()
            .slashed
            .checked_sub(slashed_before)
            .unwrap(),
        Amount::neuro(25)
    );
    assert!(r
        .events
        .iter()
        .any(|e| matches!(e, Event::ValidatorJailed { validator } if *validator == v.address())));
    // The same offence again, even re-packaged with the votes swapped, is refused.
    let swapped = match double_sign(&v, 7) {
        Evidence::DoubleSign { a, b } => Evidence::DoubleSign { a: b, b: a },
        e => e,
    };
    let r = c
        .apply(c.sign(&reporter, TxBody::ReportFraud(Box::new(swapped))))
        .unwrap();
    assert_eq!(r.result, Err(TxError::DuplicateEvidence));
    // A jailed validator cannot stake back in.
    assert_eq!(
        stake(&mut c, &v, Amount::neuro(100)).0.result,
        Err(TxError::ValidatorJailed(v.address()))
    );
    c.assert_supply_invariant();
}

#[test]
fn genesis_validator_double_sign_jails_it() {
    let mut c = Chain::new();
    let dev = SecretKey::from_hex_token(neuroshard_runtime::genesis::DEV_VALIDATOR_TOKEN).unwrap();
    let reporter = key(2);
    c.earn(&reporter, Amount::neuro(1));
    let (mut rs, updates) = c.block(
        1_000,
        &[c.sign(
            &reporter,
            TxBody::ReportFraud(Box::new(double_sign(&dev, 3))),
        )],
    );
    assert_eq!(rs.remove(0).unwrap().result, Ok(()));
    assert_eq!(
        updates,
        vec![ValidatorUpdate {
            public_key: dev.public_key(),
            power: 0
        }]
    );
}

#[test]
fn invalid_evidence_is_refused() {
    let mut c = Chain::new();
    let (v, other, reporter) = (key(1), key(3), key(2));
    c.earn(&reporter, Amount::neuro(1));
    // Same value twice is not equivocation.
    let vote = Vote {
        chain_id: CHAIN.into(),
        height: 1,
        round: 0,
        kind: VoteKind::Prevote,
        block_hash: None,
    };
    let same = Evidence::DoubleSign {
        a: vote.clone().sign(&v),
        b: vote.clone().sign(&v),
    };
    assert!(matches!(
        c.sign(&reporter, TxBody::ReportFraud(Box::new(same)))
            .verify(),
        Err(TxError::InvalidEvidence(_))
    ));
    // Two different signers.
    let mut b = vote.clone();
    b.block_hash = Some([9; 32]);
    let mixed = Evidence::DoubleSign {
        a: vote.clone().sign(&v),
        b: b.clone().sign(&other),
    };
    assert!(matches!(
        c.sign(&reporter, TxBody::ReportFraud(Box::new(mixed)))
            .verify(),
        Err(TxError::InvalidEvidence(_))
    ));
    // A forged signature.
    let mut forged = b.clone().sign(&v);
    forged.vote.round = 5;
    let mut forged_b = vote.clone().sign(&v);
    forged_b.vote.round = 5;
    let ev = Evidence::DoubleSign {
        a: forged,
        b: forged_b,
    };
    assert_eq!(
        c.sign(&reporter, TxBody::ReportFraud(Box::new(ev)))
            .verify()
            .unwrap_err(),
        TxError::Crypto(CryptoError::BadSignature)
    );
    // Not a validator.
    let r = c
        .apply(c.sign(
            &reporter,
            TxBody::ReportFraud(Box::new(double_sign(&other, 1))),
        ))
        .unwrap();
    assert_eq!(r.result, Err(TxError::UnknownValidator(other.address())));
    // Another chain's votes.
    let foreign = Vote {
        chain_id: "elsewhere".into(),
        height: 1,
        round: 0,
        kind: VoteKind::Prevote,
        block_hash: None,
    };
    let mut foreign_b = foreign.clone();
    foreign_b.block_hash = Some([1; 32]);
    let ev = Evidence::DoubleSign {
        a: foreign.sign(&v),
        b: foreign_b.sign(&v),
    };
    let r = c
        .apply(c.sign(&reporter, TxBody::ReportFraud(Box::new(ev))))
        .unwrap();
    assert!(matches!(r.result, Err(TxError::InvalidEvidence(_))));
}

/// A proof of `batches` from `node`, and a second, different proof (changed by `tweak`) signed
/// with the next nonce over overlapping batches: a double claim.
fn two_claims(
    c: &Chain,
    node: &SecretKey,
    batches: u64,
    tweak: impl FnOnce(&mut Proof),
) -> (SignedTransaction, SignedTransaction) {
    let first = c.proof(
        node,
        WorkMetrics {
            batches,
            ..Default::default()
        },
    );
    let mut second = first.clone();
    tweak(&mut second);
    let tx1 = c.sign(node, TxBody::SubmitProof(first));
    let tx2 = Transaction {
        chain_id: CHAIN.into(),
        nonce: tx1.tx.nonce + 1,
        fee: Amount::ZERO,
        body: TxBody::SubmitProof(second),
    }
    .sign(node);
    (tx1, tx2)
}

#[test]
fn a_node_claiming_batches_twice_costs_its_wallet_the_fraud_penalty() {
    let mut c = Chain::new();
    let (wallet, node, reporter) = (key(1), key(10), key(2));
    c.earn(&reporter, Amount::neuro(1));
    c.register(&wallet, &node);
    c.time_ms += 9_000;
    // Two different signed proofs over batches 0..500 and 250..750.
    let (tx1, tx2) = two_claims(&c, &node, 500, |p| p.first_batch = 250);
    c.ok(tx1.clone());
    c.mature();
    let earned = c.balance(&wallet.address());
    assert_eq!(earned, Amount::neuro(500));
    let ev = Evidence::ConflictingProofs {
        a: signed_proof(&tx1),
        b: signed_proof(&tx2),
    };
    let r = c.ok(c.sign(&reporter, TxBody::ReportFraud(Box::new(ev))));
    let penalty = c.params().fraud_penalty;
    assert_eq!(
        c.balance(&wallet.address()),
        earned.checked_sub(penalty).unwrap()
    );
    assert!(r.events.iter().any(|e| matches!(e, Event::Slashed { offender, taken, .. } if *offender == wallet.address() && *taken == penalty)));
    // Proofs that do not overlap are no evidence.
    c.time_ms += 9_000;
    let p3 = c.proof(
        &node,
        WorkMetrics {
            batches: 10,
            ..Default::default()
        },
    );
    let mut p3 = p3;
    p3.first_batch = 500;
    let tx3 = c.sign(&node, TxBody::SubmitProof(p3));
    let ev = Evidence::ConflictingProofs {
        a: signed_proof(&tx1),
        b: signed_proof(&tx3),
    };
    assert!(matches!(
        c.sign(&reporter, TxBody::ReportFraud(Box::new(ev)))
            .verify(),
        Err(TxError::InvalidEvidence(_))
    ));
    c.assert_supply_invariant();
}

#[test]
fn a_penalty_never_takes_more_than_the_offender_holds() {
    let mut c = Chain::with_genesis(Genesis::dev()); // real rates: earns far less than the 10 NEURO penalty
    let (wallet, node, reporter) = (key(1), key(10), key(2));
    c.register(&wallet, &node);
    c.time_ms += 9_000;
    let (tx1, tx2) = two_claims(&c, &node, 100, |p| p.pseudo_gradient = [7; 32]);
    c.ok(tx1.clone());
    c.mature();
    let held = c.balance(&wallet.address());
    assert_eq!(held, neuro("0.05"));
    // The reporter needs a fee: give it work of its own.
    let rnode = key(12);
    c.register(&reporter, &rnode);
    c.time_ms += 9_000;
    c.next_batch.insert(rnode.address(), 0);
    assert_eq!(c.prove(&rnode, 500, 10_000).unwrap().result, Ok(()));
    c.mature();
    let ev = Evidence::ConflictingProofs {
        a: signed_proof(&tx1),
        b: signed_proof(&tx2),
    };
    let r = c.ok(c.sign(&reporter, TxBody::ReportFraud(Box::new(ev.clone()))));
    assert!(r
        .events
        .iter()
        .any(|e| matches!(e, Event::Slashed { taken, .. } if *taken == held)));
    assert_eq!(c.balance(&wallet.address()), Amount::ZERO);
    c.assert_supply_invariant();
}
