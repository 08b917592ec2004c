//! Uptime (FAQ: 0.0001 NEURO per minute): paid only for a liveness answer (the round model's
//! losses on one forward batch per started minute, drawn from the node's data seed), sampled and
//! replayed like a training segment; never beside training, never on the node's word.

mod common;

use common::*;
use neuroshard_runtime::proof::{liveness_batches, WorkMetrics};
use neuroshard_runtime::state::ProofStatus;
use neuroshard_runtime::*;

/// A chain at the dev rates with every proof drawn, whose round stays open.
fn chain() -> Chain {
    let mut g = Genesis::dev();
    g.params.round_length_ms = 30 * 24 * 3_600_000;
    Chain::with_genesis(g)
}

/// `node`'s uptime proof for `secs`, answered with `answer`, 9 s after the last block.
fn answer(c: &mut Chain, node: &SecretKey, secs: u64, answer: Hash32) -> (Hash32, Receipt) {
    c.time_ms += 9_000;
    let mut p = c.proof(
        node,
        WorkMetrics {
            uptime_secs: secs,
            ..Default::default()
        },
    );
    p.pseudo_gradient = answer;
    let tx = c.sign(node, TxBody::SubmitProof(p));
    let id = tx.hash();
    (id, c.apply(tx).unwrap())
}

fn held(c: &Chain, wallet: &SecretKey) -> Amount {
    let a = c.ledger.account(&wallet.address()).unwrap();
    a.holdings().checked_add(a.pending).unwrap()
}

#[test]
fn an_answered_challenge_is_paid_the_faq_rate_once_a_validator_replays_it() {
    let mut c = chain();
    let (wallet, node) = (key(1), key(10));
    c.register(&wallet, &node);
    let (id, r) = answer(&mut c, &node, 8, [5; 32]);
    assert_eq!(r.result, Ok(()));
    let record = c.ledger.proof(&id).unwrap().unwrap();
    assert_eq!((record.uptime_secs, record.replay_batches()), (8, 1));
    // Pending until drawn, replayed and matured: 8 s × 0.0001 / 60.
    assert_eq!(
        c.ledger.supply().unwrap().minted,
        Amount::ZERO,
        "nothing minted on the node's word"
    );
    c.mature();
    assert_eq!(
        c.ledger.proof(&id).unwrap().unwrap().status,
        ProofStatus::Paid
    );
    assert_eq!(held(&c, &wallet), Amount(100_000_000_000_000 * 8 / 60));
    c.assert_supply_invariant();
    // One forward batch per started minute.
    assert_eq!([0, 1, 60, 61, 120].map(liveness_batches), [0, 1, 1, 2, 2]);
}

#[test]
fn a_wrong_answer_is_voided_and_pays_nothing() {
    let mut c = chain();
    let (wallet, node) = (key(1), key(10));
    c.register(&wallet, &node);
    let (id, r) = answer(&mut c, &node, 8, [6; 32]);
    assert_eq!(r.result, Ok(()));
    assert_eq!(c.dev_verdict(id, false).result, Ok(()));
    c.mature();
    assert_eq!(
        c.ledger.proof(&id).unwrap().unwrap().status,
        ProofStatus::Voided
    );
    assert_eq!(held(&c, &wallet), Amount::ZERO);
    c.assert_supply_invariant();
}

#[test]
fn uptime_without_an_answer_beside_training_or_past_the_time_elapsed_is_refused() {
    let mut c = chain();
    let (wallet, node) = (key(1), key(10));
    c.register(&wallet, &node);
    let (_, r) = answer(&mut c, &node, 8, [0; 32]);
    assert!(
        matches!(r.result, Err(TxError::UncheckableClaim { .. })),
        "{r:?}"
    );
    let mut p = c.proof(
        &node,
        WorkMetrics {
            batches: 10,
            uptime_secs: 8,
            ..Default::default()
        },
    );
    p.pseudo_gradient = [5; 32];
    let r = c.apply(c.sign(&node, TxBody::SubmitProof(p))).unwrap();
    assert!(
        matches!(r.result, Err(TxError::UncheckableClaim { .. })),
        "{r:?}"
    );
    // More uptime than the claim window (20 s at dev) allows.
    let (_, r) = answer(&mut c, &node, 25, [5; 32]);
    assert!(
        matches!(r.result, Err(TxError::RateLimited { ref metric, .. }) if metric == "uptime seconds"),
        "{r:?}"
    );
    assert_eq!(c.ledger.supply().unwrap().pending, Amount::ZERO);
}

#[test]
fn genesis_refuses_an_uptime_rate_above_the_training_rate_per_unit_of_compute() {
    let mut g = Genesis::dev();
    // One forward batch a minute is a third of a training batch: 0.0005 / 3 is the most.
    g.params.reward_per_uptime_minute = "0.00017".parse().unwrap();
    assert!(matches!(
        g.params.validate(),
        Err(GenesisError::InvalidParam {
            name: "reward_per_uptime_minute",
            ..
        })
    ));
    g.params.reward_per_uptime_minute = "0.000166".parse().unwrap();
    g.params.validate().unwrap();
}
