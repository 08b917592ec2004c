//! Proof verification on the ledger: the challenge window, validators' verdicts, fraud
//! penalties, overruled validators, training rounds, and the attacks an earlier prototype fell to.

mod common;

use common::*;
use neuroshard_runtime::genesis::{GenesisValidator, DEV_VALIDATOR_TOKEN};
use neuroshard_runtime::proof::WorkMetrics;
use neuroshard_runtime::round;
use neuroshard_runtime::state::ProofStatus;
use neuroshard_runtime::*;

fn dev_validator() -> SecretKey {
    SecretKey::from_hex_token(DEV_VALIDATOR_TOKEN).unwrap()
}

fn batches(n: u64) -> WorkMetrics {
    WorkMetrics {
        batches: n,
        ..Default::default()
    }
}

/// Registers `node` to `wallet` and has it prove `n` batches; returns the proof's hash.
fn proven(c: &mut Chain, wallet: &SecretKey, node: &SecretKey, n: u64) -> Hash32 {
    c.register(wallet, node);
    c.time_ms += 9_000;
    let tx = c.sign(node, TxBody::SubmitProof(c.proof(node, batches(n))));
    let hash = tx.hash();
    c.ok(tx);
    *c.next_batch.entry(node.address()).or_default() += n;
    hash
}

fn verdict(c: &mut Chain, validator: &SecretKey, proof: Hash32, valid: bool) -> Receipt {
    c.apply(c.sign(validator, TxBody::Verdict { proof, valid }))
        .unwrap()
}

#[test]
fn a_proof_found_invalid_is_voided_and_its_wallet_penalised() {
    let mut c = Chain::new(); // 1 NEURO per batch
    let (wallet, node) = (key(1), key(10));
    c.earn(&wallet, Amount::neuro(30)); // minted holdings to take the penalty from
    let before = c.balance(&wallet.address());
    let cheat = proven(&mut c, &wallet, &node, 500);
    assert_eq!(c.pending(&wallet.address()), Amount::neuro(500));
    let validator = dev_validator();
    let r = verdict(&mut c, &validator, cheat, false);
    assert_eq!(r.result, Ok(()));
    let penalty = c.params().fraud_penalty;
    let to_reporter = penalty.bps(c.params().reporter_share_bps);
    assert!(r.events.iter().any(
        |e| matches!(e, Event::FraudProven { voided, taken, to_reporters, .. }
        if *voided == Amount::neuro(500) && *taken == penalty && *to_reporters == to_reporter)
    ));
    assert_eq!(c.pending(&wallet.address()), Amount::ZERO);
    assert_eq!(
        c.balance(&wallet.address()),
        before.checked_sub(penalty).unwrap()
    );
    assert_eq!(c.balance(&validator.address()), to_reporter);
    let record = c.ledger.proof(&cheat).unwrap().unwrap();
    assert_eq!(record.status, ProofStatus::Voided);
    c.assert_supply_invariant();
    // The window passes: nothing is minted for the voided proof.
    let minted = c.ledger.supply().unwrap().minted;
    c.mature();
    assert_eq!(c.ledger.supply().unwrap().minted, minted);
    assert_eq!(c.ledger.supply().unwrap().voided, Amount::neuro(500));
    // A second verdict on a settled proof is refused.
    let again = verdict(&mut c, &validator, cheat, false);
    assert!(matches!(again.result, Err(TxError::ProofSettled(_))));
    c.assert_supply_invariant();
}

#[test]
fn a_wallet_with_nothing_minted_pays_from_its_other_pending_rewards() {
    let mut c = Chain::new();
    let (wallet, node) = (key(1), key(10));
    let honest = proven(&mut c, &wallet, &node, 100); // 100 NEURO pending
    c.time_ms += 9_000;
    let tx = c.sign(&node, TxBody::SubmitProof(c.proof(&node, batches(50))));
    let cheat = tx.hash();
    c.ok(tx);
    let r = verdict(&mut c, &dev_validator(), cheat, false);
    assert_eq!(r.result, Ok(()));
    let penalty = c.params().fraud_penalty;
    // Nothing minted to take, so nothing goes to the reporter; the penalty comes off the
    // other pending reward.
    assert!(r.events.iter().any(
        |e| matches!(e, Event::FraudProven { taken, voided_pending, to_reporters, .. }
        if taken.is_zero() && *voided_pending == penalty && to_reporters.is_zero())
    ));
    assert_eq!(
        c.ledger.proof(&honest).unwrap().unwrap().reward,
        Amount::neuro(100).checked_sub(penalty).unwrap()
    );
    c.mature();
    assert_eq!(
        c.balance(&wallet.address()),
        Amount::neuro(100).checked_sub(penalty).unwrap()
    );
    c.assert_supply_invariant();
}

#[test]
fn a_verified_proof_is_paid_when_its_window_ends() {
    let mut c = Chain::new();
    let (wallet, node) = (key(1), key(10));
    let p = proven(&mut c, &wallet, &node, 10);
    let r = verdict(&mut c, &dev_validator(), p, true);
    assert!(r
        .events
        .iter()
        .any(|e| matches!(e, Event::ProofVerified { .. })));
    assert_eq!(
        c.ledger.proof(&p).unwrap().unwrap().status,
        ProofStatus::Verified
    );
    assert_eq!(c.balance(&wallet.address()), Amount::ZERO);
    c.mature();
    assert_eq!(c.balance(&wallet.address()), Amount::neuro(10));
    assert_eq!(
        c.ledger.proof(&p).unwrap().unwrap().status,
        ProofStatus::Paid
    );
    c.assert_supply_invariant();
}

#[test]
fn verdicts_come_only_from_active_validators_once_each() {
    let mut c = Chain::new();
    let (wallet, node) = (key(1), key(10));
    c.earn(&key(3), Amount::neuro(1));
    let p = proven(&mut c, &wallet, &node, 10);
    let r = verdict(&mut c, &key(3), p, false);
    assert_eq!(r.result, Err(TxError::UnknownValidator(key(3).address())));
    let r = verdict(&mut c, &dev_validator(), [9; 32], false);
    assert!(matches!(r.result, Err(TxError::UnknownProof(_))));
    c.assert_supply_invariant();
}

/// A chain whose bootstrap validators are `keys`, 10 power each.
fn with_validators(keys: &[SecretKey]) -> Chain {
    let mut g = test_genesis();
    g.validators = keys
        .iter()
        .map(|k| GenesisValidator::for_key("", k, 10))
        .collect();
    let mut c = Chain::with_genesis(g);
    c.validators = keys.to_vec();
    c
}

fn three_validators() -> (Chain, [SecretKey; 3]) {
    let keys = [key(201), key(202), key(203)];
    (with_validators(&keys), keys)
}

#[test]
fn a_disputed_reward_waits_until_more_than_a_third_vouches_for_it() {
    let (mut c, [a, b, v3]) = three_validators();
    let (wallet, node) = (key(1), key(10));
    let p = proven(&mut c, &wallet, &node, 10);
    // a says invalid: a dispute. The window passes; the reward waits.
    assert_eq!(verdict(&mut c, &a, p, false).result, Ok(()));
    c.mature_unverified();
    assert_eq!(c.balance(&wallet.address()), Amount::ZERO);
    assert_eq!(c.pending(&wallet.address()), Amount::neuro(10));
    // b reproduces it: 10 of 30 is a third, not more (a Byzantine third could say as much):
    // still open.
    assert_eq!(verdict(&mut c, &b, p, true).result, Ok(()));
    assert_eq!(
        c.ledger.proof(&p).unwrap().unwrap().status,
        ProofStatus::Pending
    );
    c.mature_unverified();
    assert_eq!(c.balance(&wallet.address()), Amount::ZERO);
    // v3 too: 20 of 30 is more than a third, so an honest validator reproduced it: verified.
    assert_eq!(verdict(&mut c, &v3, p, true).result, Ok(()));
    assert_eq!(
        c.ledger.proof(&p).unwrap().unwrap().status,
        ProofStatus::Verified
    );
    c.mature();
    assert_eq!(c.balance(&wallet.address()), Amount::neuro(10));
    c.assert_supply_invariant();
}

#[test]
fn more_than_a_third_overrule_a_false_verdict_and_slash_it() {
    let keys = [key(201), key(202), key(203), key(204)];
    let mut c = with_validators(&keys);
    c.earn(&keys[0], Amount::neuro(50));
    let liar_before = c.balance(&keys[0].address());
    let (wallet, node) = (key(1), key(10));
    let p = proven(&mut c, &wallet, &node, 10);
    assert_eq!(verdict(&mut c, &keys[0], p, false).result, Ok(()));
    assert_eq!(verdict(&mut c, &keys[1], p, true).result, Ok(()));
    assert_eq!(
        c.ledger.proof(&p).unwrap().unwrap().status,
        ProofStatus::Pending,
        "10 of 40 is not more than a third"
    );
    // 20 of 40 > a third: verified; the false verdict costs its validator.
    assert_eq!(verdict(&mut c, &keys[2], p, true).result, Ok(()));
    assert_eq!(
        c.ledger.proof(&p).unwrap().unwrap().status,
        ProofStatus::Verified
    );
    let penalty = c.params().false_verdict_penalty;
    assert_eq!(
        c.balance(&keys[0].address()),
        liar_before.checked_sub(penalty).unwrap()
    );
    // The last validator need not re-execute it: the question is settled.
    assert!(matches!(
        verdict(&mut c, &keys[3], p, true).result,
        Err(TxError::ProofSettled(_))
    ));
    c.mature();
    assert_eq!(c.balance(&wallet.address()), Amount::neuro(10));
    c.assert_supply_invariant();
}

#[test]
fn proofs_must_train_the_open_round_from_the_assigned_data() {
    let mut c = Chain::new();
    let (wallet, node) = (key(1), key(10));
    c.register(&wallet, &node);
    c.time_ms += 9_000;
    let mut stale = c.proof(&node, batches(10));
    stale.model_version = [0xAB; 32];
    let r = c.apply(c.sign(&node, TxBody::SubmitProof(stale))).unwrap();
    assert!(matches!(r.result, Err(TxError::StaleModel { .. })));
    let mut chosen = c.proof(&node, batches(10));
    chosen.data_seed = [0xCD; 32];
    let r = c.apply(c.sign(&node, TxBody::SubmitProof(chosen))).unwrap();
    assert!(matches!(r.result, Err(TxError::WrongDataSeed { .. })));
    // The seed changes with every accepted proof.
    let seed = c.ledger.node(&node.address()).unwrap().unwrap().data_seed;
    c.time_ms += 9_000;
    assert_eq!(c.prove(&node, 10, 10_000).unwrap().result, Ok(()));
    assert_ne!(
        c.ledger.node(&node.address()).unwrap().unwrap().data_seed,
        seed
    );
}

fn result(included: Vec<u8>, next_model: u8) -> round::RoundResult {
    round::RoundResult {
        included,
        aggregate: [5; 32],
        next_model: [next_model; 32],
        momentum: [7; 32],
        model_blob: [8; 32],
        momentum_blob: [9; 32],
        eval_loss_micro: 2_500_000,
    }
}

fn attest(c: &mut Chain, v: &SecretKey, round: u64, r: round::RoundResult) -> Receipt {
    c.apply(c.sign(v, TxBody::AttestRound { round, result: r }))
        .unwrap()
}

#[test]
fn a_round_closes_with_the_attested_result_and_old_round_proofs_are_refused() {
    let mut c = Chain::new();
    let (wallet, node) = (key(1), key(10));
    let p = proven(&mut c, &wallet, &node, 10);
    let v = dev_validator();
    let other = proven(&mut c, &key(2), &key(11), 10);
    assert_eq!(verdict(&mut c, &v, p, true).result, Ok(()));
    let both = round::bitmap([true, true]);
    let r = attest(&mut c, &v, 0, result(both.clone(), 6));
    assert!(matches!(r.result, Err(TxError::RoundTooYoung { .. })));
    c.block(c.params().round_length_ms, &[]);
    let r = attest(&mut c, &v, 0, result(both.clone(), 6));
    assert_eq!(r.result, Ok(()));
    assert!(r.events.iter().any(|e| matches!(
        e,
        Event::RoundClosed {
            round: 0,
            proofs: 2,
            eval_loss_micro: 2_500_000,
            ..
        }
    )));
    let t = c.ledger.training().unwrap();
    assert_eq!(
        (t.round, t.model_version, t.momentum),
        (1, [6; 32], [7; 32])
    );
    let round0 = c.ledger.round(0).unwrap().unwrap();
    let close = round0.close.clone().unwrap();
    assert_eq!(close.result, result(both, 6));
    assert_eq!(round0.trained, 2);
    assert_eq!(c.ledger.round_proofs(0, 0, 10).unwrap(), vec![p, other]);
    let round1 = c.ledger.round(1).unwrap().unwrap();
    assert_eq!((round1.model_version, round1.momentum), ([6; 32], [7; 32]));
    // A proof still naming round 0 is stale now.
    c.time_ms += 9_000;
    let mut old = c.proof(&node, batches(5));
    old.round = 0;
    old.model_version = round0.model_version;
    let r = c.apply(c.sign(&node, TxBody::SubmitProof(old))).unwrap();
    assert!(matches!(r.result, Err(TxError::StaleModel { .. })));
    // A late attestation of round 0, or one of round 1 too early, is refused.
    let r = attest(&mut c, &v, 0, result(vec![], 6));
    assert!(matches!(r.result, Err(TxError::WrongRound { .. })));
    let r = attest(&mut c, &v, 1, result(vec![], 8));
    assert!(matches!(r.result, Err(TxError::RoundTooYoung { .. })));
    c.assert_supply_invariant();
}

#[test]
fn training_proofs_stop_at_the_deadline_so_every_validator_sees_the_same_list() {
    let mut c = Chain::new();
    let (wallet, node) = (key(1), key(10));
    proven(&mut c, &wallet, &node, 10);
    c.block(c.params().round_length_ms, &[]);
    c.time_ms += 9_000;
    let late = c.proof(&node, batches(10));
    let r = c.apply(c.sign(&node, TxBody::SubmitProof(late))).unwrap();
    assert!(matches!(
        r.result,
        Err(TxError::RoundClosing { round: 0, .. })
    ));
    // Inference goes on, and does not enter the round's training list.
    let uptime = c.proof(
        &node,
        WorkMetrics {
            tokens: 5,
            ..Default::default()
        },
    );
    let r = c.apply(c.sign(&node, TxBody::SubmitProof(uptime))).unwrap();
    assert_eq!(r.result, Ok(()));
    let round0 = c.ledger.round(0).unwrap().unwrap();
    assert_eq!((round0.proofs, round0.trained), (2, 1));
}

#[test]
fn a_result_must_cover_every_training_proof_keep_the_verified_and_drop_the_voided() {
    let mut c = Chain::new();
    let v = dev_validator();
    let verified = proven(&mut c, &key(1), &key(10), 10);
    assert_eq!(verdict(&mut c, &v, verified, true).result, Ok(()));
    let voided = proven(&mut c, &key(2), &key(11), 10);
    assert_eq!(verdict(&mut c, &v, voided, false).result, Ok(()));
    proven(&mut c, &key(3), &key(12), 10); // neither: unsampled, may go either way
    c.block(c.params().round_length_ms, &[]);
    let bad = [
        vec![],                              // too short
        vec![0b0000_0001, 0],                // too long
        vec![0b0000_1001],                   // a bit past the third proof
        round::bitmap([true, true, false]),  // the voided one
        round::bitmap([false, false, true]), // the verified one left out
    ];
    for included in bad {
        let r = attest(&mut c, &v, 0, result(included.clone(), 6));
        assert!(
            matches!(r.result, Err(TxError::BadInclusion(_))),
            "{included:?}: {:?}",
            r.result
        );
    }
    assert_eq!(c.ledger.training().unwrap().round, 0);
    let r = attest(&mut c, &v, 0, result(round::bitmap([true, false, true]), 6));
    assert_eq!(r.result, Ok(()));
    assert_eq!(c.ledger.training().unwrap().round, 1);
    // Too big to be a transaction of any round.
    let huge = c.sign(
        &v,
        TxBody::AttestRound {
            round: 1,
            result: result(vec![0; round::MAX_INCLUDED_BYTES + 1], 6),
        },
    );
    assert!(matches!(huge.verify(), Err(TxError::BadInclusion(_))));
}

#[test]
fn more_than_two_thirds_adopt_a_round_and_the_validator_that_attested_another_pays() {
    let keys = [key(201), key(202), key(203), key(204)];
    let mut c = with_validators(&keys);
    c.earn(&keys[0], Amount::neuro(50));
    c.earn(&key(3), Amount::neuro(1));
    let liar_before = c.balance(&keys[0].address());
    proven(&mut c, &key(1), &key(10), 10);
    c.block(c.params().round_length_ms, &[]);
    // Every training proof of the round goes in (the earnings above were verified).
    let trained = c.ledger.round(0).unwrap().unwrap().trained;
    let all = || round::bitmap((0..trained).map(|_| true));
    let honest = result(all(), 6);
    // The liar names its own next model first; it does not close the round.
    let r = attest(&mut c, &keys[0], 0, result(all(), 66));
    assert_eq!(r.result, Ok(()));
    assert_eq!(c.ledger.training().unwrap().round, 0);
    let r = attest(&mut c, &keys[0], 0, honest.clone());
    assert!(matches!(r.result, Err(TxError::DuplicateAttestation(_))));
    // Two honest validators: 20 of 40 is not more than two thirds.
    for k in &keys[1..3] {
        assert_eq!(attest(&mut c, k, 0, honest.clone()).result, Ok(()));
    }
    assert_eq!(c.ledger.training().unwrap().round, 0);
    // The third: 30 of 40. Adopted; the liar loses false_verdict_penalty.
    let r = attest(&mut c, &keys[3], 0, honest.clone());
    assert_eq!(r.result, Ok(()));
    let penalty = c.params().false_verdict_penalty;
    assert!(r.events.iter().any(|e| matches!(e,
        Event::AttestationOverruled { validator, taken, .. }
        if *validator == keys[0].address() && *taken == penalty)));
    let t = c.ledger.training().unwrap();
    assert_eq!((t.round, t.model_version), (1, [6; 32]));
    assert_eq!(
        c.balance(&keys[0].address()),
        liar_before.checked_sub(penalty).unwrap()
    );
    let close = c.ledger.round(0).unwrap().unwrap().close.unwrap();
    assert_eq!((close.attested_power, close.total_power), (30, 40));
    assert_eq!(close.result, honest);
    // Only active validators attest.
    c.block(c.params().round_length_ms, &[]);
    let r = attest(&mut c, &key(3), 1, result(vec![], 1));
    assert_eq!(r.result, Err(TxError::UnknownValidator(key(3).address())));
    c.assert_supply_invariant();
}

#[test]
fn pending_rewards_cannot_be_spent_or_staked() {
    let mut c = Chain::new();
    let (wallet, node) = (key(1), key(10));
    proven(&mut c, &wallet, &node, 500); // 500 NEURO pending, nothing minted
    let r = c.apply(c.sign(
        &wallet,
        TxBody::Stake {
            amount: Amount::neuro(100),
        },
    ));
    assert!(matches!(r, Err(TxError::InsufficientFunds { .. })));
    let r = c.apply(c.sign(
        &wallet,
        TxBody::Transfer {
            to: key(2).address(),
            amount: Amount::neuro(1),
        },
    ));
    assert!(matches!(r, Err(TxError::InsufficientFunds { .. })));
    c.assert_supply_invariant();
}

#[test]
fn every_proof_field_is_signed() {
    let mut c = Chain::new();
    let (wallet, node) = (key(1), key(10));
    c.register(&wallet, &node);
    let tx = c.sign(&node, TxBody::SubmitProof(c.proof(&node, batches(10))));
    type Tamper = Box<dyn Fn(&mut neuroshard_runtime::proof::Proof)>;
    let tampers: Vec<Tamper> = vec![
        Box::new(|p| p.metrics.batches += 1),
        Box::new(|p| p.metrics.uptime_secs += 1),
        Box::new(|p| p.metrics.samples += 1),
        Box::new(|p| p.first_batch += 1),
        Box::new(|p| p.layer_end -= 1),
        Box::new(|p| p.round += 1),
        Box::new(|p| p.pseudo_gradient[0] ^= 1),
        Box::new(|p| p.model_version[0] ^= 1),
        Box::new(|p| p.data_seed[0] ^= 1),
        Box::new(|p| p.timestamp_ms += 1),
    ];
    for tamper in tampers {
        let mut forged = tx.clone();
        let TxBody::SubmitProof(p) = &mut forged.tx.body else {
            unreachable!()
        };
        tamper(p);
        assert!(matches!(
            forged.verify(),
            Err(TxError::Crypto(CryptoError::BadSignature))
        ));
    }
    let _ = c.apply(tx);
}

#[test]
fn a_malleated_signature_is_no_second_transaction() {
    let c = Chain::new();
    let node = key(10);
    let tx = c.sign(&node, TxBody::SubmitProof(c.proof(&node, batches(10))));
    // Flip s to n - s: the same signature in high-S form.
    let bytes = tx.signature.0;
    let sig = k256::ecdsa::Signature::from_slice(&bytes).unwrap();
    let (r, s) = sig.split_scalars();
    let flipped = k256::ecdsa::Signature::from_scalars(r, -s).unwrap();
    let mut twin = tx.clone();
    twin.signature = Signature(flipped.to_bytes().into());
    assert_ne!(twin.hash(), tx.hash());
    assert_eq!(
        twin.verify().unwrap_err(),
        TxError::Crypto(CryptoError::NonCanonicalSignature)
    );
}

#[test]
fn a_sampled_proof_is_paid_only_after_validators_verify_it() {
    let mut g = test_genesis();
    g.params.training.verify_sample_bps = 10_000; // every proof is drawn
    let mut c = Chain::with_exact_genesis(g);
    let (wallet, node) = (key(1), key(10));
    let p = proven(&mut c, &wallet, &node, 10);
    c.block(1_000, &[]);
    assert_eq!(c.ledger.proof(&p).unwrap().unwrap().sampled, Some(true));
    c.mature_unverified();
    c.mature_unverified();
    assert_eq!(
        c.balance(&wallet.address()),
        Amount::ZERO,
        "unverified: not paid"
    );
    assert_eq!(verdict(&mut c, &dev_validator(), p, true).result, Ok(()));
    c.mature();
    assert_eq!(c.balance(&wallet.address()), Amount::neuro(10));
    c.assert_supply_invariant();
}

#[test]
fn sampling_follows_the_rate() {
    let seed = [3u8; 32];
    let drawn = (0u32..10_000)
        .filter(|i| {
            let id = neuroshard_runtime::crypto::domain_hash(b"id", &i.to_le_bytes());
            neuroshard_runtime::maturity::is_sampled(&seed, &id, 500)
        })
        .count();
    assert!((400..600).contains(&drawn), "{drawn} of 10 000 drawn at 5%");
}

/// Covered pay at a 50% draw, played proof by proof: a wallet with no bond is paid only for
/// drawn (checked) proofs, at twice their reward; its bond then covers undrawn ones; a fraud
/// proven after payment, inside the bond period, takes the whole bond.
#[test]
fn undrawn_proofs_pay_what_the_bond_covers_and_fraud_after_payment_takes_the_bond() {
    let mut g = test_genesis();
    g.params.training.verify_sample_bps = 5_000;
    g.params.bond_period_ms = 3_600_000;
    let mut c = Chain::with_exact_genesis(g);
    let (wallet, node) = (key(1), key(10));
    let w = wallet.address();
    c.register(&wallet, &node);
    let reward = Amount::neuro(100);
    let (mut drawn_seen, mut undrawn_seen) = (false, false);
    let mut undrawn = Vec::new();
    for _ in 0..12 {
        let bond_before = c.ledger.account(&w).unwrap().free_bond();
        let r = c.prove(&node, 100, 10_000).unwrap();
        assert_eq!(r.result, Ok(()));
        let id = *c.proofs.last().unwrap();
        let p = c.ledger.proof(&id).unwrap().unwrap();
        // Cover: at most free bond × s / (1 − s) = the free bond itself at 50%.
        assert_eq!(p.covered, reward.min(bond_before));
        c.verify_drawn();
        c.block(c.params().challenge_window_ms, &[]);
        let p = c.ledger.proof(&id).unwrap().unwrap();
        assert_eq!(p.status, ProofStatus::Paid);
        if p.sampled == Some(true) {
            drawn_seen = true;
            // (R − (1 − s) × covered) / s
            let want = Amount((reward.0 * 2).saturating_sub(p.covered.0));
            assert_eq!(p.paid, want, "{p:?}");
        } else {
            undrawn_seen = true;
            assert_eq!(p.paid, p.covered, "undrawn pays only what the bond covered");
            undrawn.push(id);
        }
        c.assert_supply_invariant();
    }
    assert!(
        drawn_seen && undrawn_seen,
        "12 proofs at 50% drew both kinds"
    );
    assert!(undrawn.len() >= 2);
    let supply = c.ledger.supply().unwrap();
    let account = c.ledger.account(&w).unwrap();
    assert_eq!(
        supply.minted,
        account.bond.checked_add(account.balance).unwrap()
    );
    assert!(account.bond > Amount::ZERO, "a bond period has not passed");
    // A fraud found after payment (here: the validator re-executes a paid proof and it does not
    // reproduce): the bond goes, and the reporter's share comes out of it.
    let bond = account.bond;
    let target = *undrawn.last().unwrap();
    let r = c.apply(c.sign(
        &dev_validator(),
        TxBody::Verdict {
            proof: target,
            valid: false,
        },
    ));
    assert_eq!(r.unwrap().result, Ok(()));
    let after = c.ledger.account(&w).unwrap();
    assert_eq!(after.bond, Amount::ZERO);
    assert_eq!(
        c.ledger.proof(&target).unwrap().unwrap().status,
        ProofStatus::Voided
    );
    let slashed = c
        .ledger
        .supply()
        .unwrap()
        .slashed
        .checked_sub(supply.slashed)
        .unwrap();
    let to_reporter = c.balance(&dev_validator().address());
    assert!(slashed.checked_add(to_reporter).unwrap() >= bond);
    c.assert_supply_invariant();
    // Past the bond period, a paid proof is settled for good.
    c.block(c.params().bond_period_ms, &[]);
    let r = c.apply(c.sign(
        &dev_validator(),
        TxBody::Verdict {
            proof: undrawn[0],
            valid: false,
        },
    ));
    assert!(matches!(r.unwrap().result, Err(TxError::ProofSettled(_))));
}

/// A proof of `n` batches by `node` that starts from inner state `start` and ends at `end`.
fn segment(c: &mut Chain, node: &SecretKey, n: u64, start: u8, end: u8) -> Receipt {
    c.time_ms += 9_000;
    let mut p = c.proof(node, batches(n));
    p.start_state = [start; 32];
    p.end_state = [end; 32];
    let r = c.apply(c.sign(node, TxBody::SubmitProof(p))).unwrap();
    if r.result.is_ok() {
        *c.next_batch.entry(node.address()).or_default() += n;
    }
    r
}

#[test]
fn a_nodes_segments_form_one_chain_nobody_forks_and_a_voided_segment_takes_the_rest_out() {
    let mut c = Chain::new();
    let v = dev_validator();
    let (wallet, node) = (key(1), key(10));
    c.register(&wallet, &node);
    // The first segment starts from the round's model (the zero state) and ends at A.
    let r = segment(&mut c, &node, 10, 0, 0xA);
    assert_eq!(r.result, Ok(()));
    let first = c.ledger.round_proofs(0, 0, 10).unwrap()[0];
    // A start state that no proof of this node ended at is refused, before any payment.
    let pending = c.pending(&wallet.address());
    for made_up in [0xB, 0xEE] {
        let r = segment(&mut c, &node, 10, made_up, 0xC);
        assert!(
            matches!(r.result, Err(TxError::BrokenSegmentChain { .. })),
            "{:?}",
            r.result
        );
    }
    assert_eq!(c.pending(&wallet.address()), pending);
    // Another node cannot continue this node's chain either.
    let (other_wallet, other) = (key(2), key(11));
    c.register(&other_wallet, &other);
    let r = segment(&mut c, &other, 10, 0xA, 0xD);
    assert!(matches!(r.result, Err(TxError::BrokenSegmentChain { .. })));
    // Continuing from A is accepted and names its predecessor; then from B.
    assert_eq!(segment(&mut c, &node, 10, 0xA, 0xB).result, Ok(()));
    let second = c.ledger.round_proofs(0, 1, 10).unwrap()[0];
    let record = c.ledger.proof(&second).unwrap().unwrap();
    assert_eq!(record.previous_segment, Some(first));
    assert_eq!(
        (record.start_state, record.end_state),
        ([0xA; 32], [0xB; 32])
    );
    // A is no longer the chain's end: starting from it again would fork the chain.
    let r = segment(&mut c, &node, 10, 0xA, 0xC);
    assert!(matches!(r.result, Err(TxError::BrokenSegmentChain { .. })));
    assert_eq!(segment(&mut c, &node, 10, 0xB, 0xC).result, Ok(()));
    let third = c.ledger.round_proofs(0, 2, 10).unwrap()[0];
    // An unrelated proof of another node, from the round's model.
    assert_eq!(segment(&mut c, &other, 10, 0, 0xF).result, Ok(()));
    // The chain's middle segment is found invalid: voided.
    assert_eq!(verdict(&mut c, &v, second, false).result, Ok(()));
    // Its successor is verified (it replays from its committed start state), but it started
    // from a state nobody aggregates, so the result leaves it out with the voided one.
    assert_eq!(verdict(&mut c, &v, third, true).result, Ok(()));
    c.block(c.params().round_length_ms, &[]);
    let r = attest(
        &mut c,
        &v,
        0,
        result(round::bitmap([true, false, true, true]), 6),
    );
    assert!(
        matches!(&r.result, Err(TxError::BadInclusion(why)) if why.contains("continues")),
        "{:?}",
        r.result
    );
    let r = attest(
        &mut c,
        &v,
        0,
        result(round::bitmap([true, false, false, true]), 6),
    );
    assert_eq!(r.result, Ok(()));
    // A new round starts every chain afresh: the old chain's end is no start.
    assert_eq!(c.ledger.training().unwrap().round, 1);
    let r = segment(&mut c, &node, 10, 0xC, 0xD);
    assert!(matches!(r.result, Err(TxError::BrokenSegmentChain { .. })));
    assert_eq!(segment(&mut c, &node, 10, 0, 0xD).result, Ok(()));
    c.assert_supply_invariant();
}
