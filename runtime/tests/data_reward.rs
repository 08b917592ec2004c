//! The data reward (FAQ: 0.00001 NEURO per sample served): paid to the node a training proof
//! names as its data server, for samples of that proof's own batches, with the proof's pay and
//! never without it.

mod common;

use common::*;
use neuroshard_runtime::proof::WorkMetrics;
use neuroshard_runtime::state::ProofStatus;
use neuroshard_runtime::*;

/// A chain at the dev rates (0.0005 per batch, 0.00001 per sample) with every proof drawn,
/// whose round stays open.
fn chain() -> Chain {
    let mut g = Genesis::dev();
    g.params.round_length_ms = 30 * 24 * 3_600_000;
    Chain::with_genesis(g)
}

fn fed(batches: u64, samples: u64) -> WorkMetrics {
    WorkMetrics {
        batches,
        samples,
        ..Default::default()
    }
}

/// Submits `node`'s proof of `metrics` naming `server`, 9 s after the last block.
fn prove(
    c: &mut Chain,
    node: &SecretKey,
    metrics: WorkMetrics,
    server: Option<&SecretKey>,
) -> (Hash32, Result<(), TxError>) {
    c.time_ms += 9_000;
    let mut proof = c.proof(node, metrics);
    proof.data_server = server.map(|s| s.address());
    let tx = c.sign(node, TxBody::SubmitProof(proof));
    let id = tx.hash();
    let result = c.apply(tx).unwrap().result;
    if result.is_ok() {
        *c.next_batch.entry(node.address()).or_default() += metrics.batches;
    }
    (id, result)
}

fn held(c: &Chain, wallet: &SecretKey) -> Amount {
    c.ledger.account(&wallet.address()).unwrap().holdings()
}

#[test]
fn the_server_a_paid_proof_names_earns_its_samples_and_the_trainer_its_batches() {
    let mut c = chain();
    let batch_size = u64::from(c.params().training.batch_size); // 4 at dev
    let (trainer_wallet, trainer) = (key(1), key(10));
    let (server_wallet, server) = (key(2), key(20));
    c.register(&trainer_wallet, &trainer);
    c.register(&server_wallet, &server);

    let (id, r) = prove(&mut c, &trainer, fed(100, 100 * batch_size), Some(&server));
    assert_eq!(r, Ok(()));
    c.mature();
    let record = c.ledger.proof(&id).unwrap().unwrap();
    assert_eq!(record.status, ProofStatus::Paid);
    // 100 batches × 0.0005 to the trainer, 400 samples × 0.00001 to the server.
    assert_eq!(held(&c, &trainer_wallet), neuro("0.05"));
    assert_eq!(held(&c, &server_wallet), neuro("0.004"));
    assert_eq!(record.paid, neuro("0.054"));
    assert_eq!(
        c.ledger.node(&server.address()).unwrap().unwrap().earned,
        neuro("0.004")
    );
    c.assert_supply_invariant();

    // A trainer that held the corpus itself names itself: the same total, one wallet.
    let (_, r) = prove(&mut c, &trainer, fed(100, 100 * batch_size), Some(&trainer));
    assert_eq!(r, Ok(()));
    c.mature();
    assert_eq!(held(&c, &trainer_wallet), neuro("0.104"));
    c.assert_supply_invariant();
}

#[test]
fn samples_beyond_the_proofs_own_batches_or_served_by_nobody_are_refused() {
    let mut c = chain();
    let batch_size = u64::from(c.params().training.batch_size);
    let (wallet, node, stranger) = (key(1), key(10), key(30));
    c.register(&wallet, &node);
    let cases = [
        // One sample more than its batches hold.
        (fed(10, 10 * batch_size + 1), Some(&node)),
        // Samples with no training at all.
        (fed(0, 50), Some(&node)),
        // Samples nobody is named for.
        (fed(10, 10 * batch_size), None),
    ];
    for (metrics, server) in cases {
        let (_, r) = prove(&mut c, &node, metrics, server);
        assert!(matches!(r, Err(TxError::UncheckableClaim { .. })), "{r:?}");
    }
    // A server that is no registered node.
    let (_, r) = prove(&mut c, &node, fed(10, 10 * batch_size), Some(&stranger));
    assert_eq!(r, Err(TxError::UnknownDataServer(stranger.address())));
    assert_eq!(c.ledger.supply().unwrap().pending, Amount::ZERO);
}

#[test]
fn a_voided_proof_pays_its_server_nothing() {
    let mut c = chain();
    let batch_size = u64::from(c.params().training.batch_size);
    let (trainer_wallet, trainer) = (key(1), key(10));
    let (server_wallet, server) = (key(2), key(20));
    c.register(&trainer_wallet, &trainer);
    c.register(&server_wallet, &server);
    let (id, r) = prove(&mut c, &trainer, fed(100, 100 * batch_size), Some(&server));
    assert_eq!(r, Ok(()));
    assert_eq!(c.dev_verdict(id, false).result, Ok(()));
    c.mature();
    assert_eq!(
        c.ledger.proof(&id).unwrap().unwrap().status,
        ProofStatus::Voided
    );
    assert_eq!(held(&c, &server_wallet), Amount::ZERO);
    assert_eq!(held(&c, &trainer_wallet), Amount::ZERO);
    c.assert_supply_invariant();
}

/// Sybils gain nothing: the same batches proved by one node that names itself, or split over
/// two wallets' nodes that name each other (or a third wallet), mint the same amount.
#[test]
fn splitting_work_and_service_over_wallets_mints_no_more() {
    let batch_size = u64::from(Genesis::dev().params.training.batch_size);
    let total = |split: bool| {
        let mut c = chain();
        let (wa, a, wb, b) = (key(1), key(10), key(2), key(20));
        c.register(&wa, &a);
        c.register(&wb, &b);
        for _ in 0..4 {
            if split {
                let (_, r) = prove(&mut c, &a, fed(50, 50 * batch_size), Some(&b));
                assert_eq!(r, Ok(()));
                let (_, r) = prove(&mut c, &b, fed(50, 50 * batch_size), Some(&a));
                assert_eq!(r, Ok(()));
            } else {
                let (_, r) = prove(&mut c, &a, fed(100, 100 * batch_size), Some(&a));
                assert_eq!(r, Ok(()));
                c.time_ms += 9_000;
            }
        }
        c.mature();
        c.assert_supply_invariant();
        c.ledger.supply().unwrap().minted
    };
    let one = total(false);
    assert_eq!(one, neuro("0.216")); // 400 batches × 0.0005 + 1 600 samples × 0.00001
    assert_eq!(total(true), one);
}
