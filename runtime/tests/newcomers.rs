//! Newcomer claims (`lottery`): a flood of free claims costs validators at most the newcomer
//! budget of replays, each newcomer claim is paid `reward / p` when drawn and verified (so its
//! expected pay stays its reward), and bonded claims beside the flood are drawn as before.

mod common;

use common::*;
use neuroshard_runtime::lottery;
use neuroshard_runtime::state::{ProofRecord, ProofStatus};
use neuroshard_runtime::*;

fn claims_in_one_block(c: &mut Chain, nodes: &[SecretKey], batches: u64) -> Vec<Hash32> {
    let (ids, receipts) = c.claims_in_one_block(nodes, batches);
    for r in &receipts {
        assert!(matches!(r, Ok(r) if r.result.is_ok()), "{r:?}");
    }
    ids
}

fn record(c: &Chain, id: &Hash32) -> ProofRecord {
    c.ledger.proof(id).unwrap().unwrap()
}

#[test]
fn a_flood_of_free_claims_costs_validators_at_most_the_newcomer_budget() {
    let mut g = test_genesis();
    g.params.training.verify_sample_bps = 5_000; // half of all claims would be replayed
    g.params.training.newcomer_replay_batches_per_hour = 40; // 4 claims of 10 batches
    let mut c = Chain::with_exact_genesis(g);

    // 64 fresh wallets, one node each, claim in one block.
    let flood: Vec<(SecretKey, SecretKey)> =
        (0..64).map(|i| (key(100 + i), key(180 + i))).collect();
    for (w, n) in &flood {
        c.register(w, n);
    }
    let nodes: Vec<SecretKey> = flood.iter().map(|(_, n)| n.clone()).collect();
    let newcomer_ids = claims_in_one_block(&mut c, &nodes, 10);
    for _ in 0..3 {
        c.block(1_000, &[]);
    }
    let records: Vec<ProofRecord> = newcomer_ids.iter().map(|id| record(&c, id)).collect();
    assert!(records.iter().all(|r| r.newcomer && r.sampled.is_some()));
    assert!(records
        .iter()
        .all(|r| r.covered.is_zero() && r.collateral.is_zero()));
    // At 50%, 32 of the 64 would be replayed; the budget allows 40 batches, 4 claims of 10 in
    // expectation: p = 40 / 640.
    let p = records[0].lottery_p;
    assert!(records.iter().all(|r| r.lottery_p == p));
    assert!(p.abs_diff(u64::MAX / 16) < 1 << 20, "p = {p}");
    let drawn: Vec<&ProofRecord> = records.iter().filter(|r| r.sampled == Some(true)).collect();
    assert!(
        drawn.len() <= 12,
        "{} of 64 newcomer claims drawn",
        drawn.len()
    );

    // Verified, a drawn newcomer claim pays reward / p (16 R); an undrawn one nothing.
    c.mature();
    let mut minted_for_newcomers = Amount::ZERO;
    for r in newcomer_ids.iter().map(|id| record(&c, id)) {
        assert_eq!(r.status, ProofStatus::Paid, "{r:?}");
        if r.sampled == Some(true) {
            assert_eq!(r.paid, lottery::drawn_pay(r.reward, p));
            assert!(r.paid >= r.reward.checked_mul(16).unwrap());
        } else {
            assert!(r.paid.is_zero(), "{r:?}");
        }
        minted_for_newcomers = minted_for_newcomers.checked_add(r.paid).unwrap();
    }
    // In expectation the 64 claims are paid their rewards: 4 draws of 16 R each.
    let expected = records[0].reward.checked_mul(64).unwrap();
    assert_eq!(
        minted_for_newcomers.0 / records[0].reward.0 / 16,
        drawn.len() as u128,
        "{minted_for_newcomers:?} against {expected:?} in expectation"
    );
    c.assert_supply_invariant();

    // The budget is spent: a second flood soon after (the bucket refills at 40 batches an hour)
    // is drawn with a chance a hundred times smaller: a claim or two replayed, not 32.
    let again = claims_in_one_block(&mut c, &nodes, 10);
    for _ in 0..3 {
        c.block(1_000, &[]);
    }
    let second: Vec<ProofRecord> = again.iter().map(|id| record(&c, id)).collect();
    assert!(
        second.iter().all(|r| r.lottery_p < p / 50),
        "{}",
        second[0].lottery_p
    );
    let replayed = second.iter().filter(|r| r.sampled == Some(true)).count();
    assert!(replayed <= 2, "{replayed} of the second flood replayed");
    c.assert_supply_invariant();
}

#[test]
fn a_claim_its_bond_covers_is_drawn_at_the_sample_rate_beside_newcomers() {
    let mut g = test_genesis();
    g.params.training.verify_sample_bps = 5_000;
    g.params.bond_period_ms = 30 * 24 * 3_600_000; // the bond stays bonded in this test
    let mut c = Chain::with_exact_genesis(g);
    let (wallet, node) = (key(1), key(2));
    c.register(&wallet, &node);
    // Its first claims are a newcomer's: paid only when drawn, into the bond.
    let first = claims_in_one_block(&mut c, std::slice::from_ref(&node), 10);
    assert!(record(&c, &first[0]).newcomer);
    while c.ledger.account(&wallet.address()).unwrap().bond < Amount::neuro(100) {
        claims_in_one_block(&mut c, std::slice::from_ref(&node), 10);
        c.verify_drawn();
        c.block(c.params().challenge_window_ms, &[]);
    }
    // Now its bond covers a claim: bonded, collateral reserved, drawn by the windows at s.
    let (fresh_wallet, fresh_node) = (key(3), key(4));
    c.register(&fresh_wallet, &fresh_node);
    let ids = claims_in_one_block(&mut c, &[node, fresh_node], 10);
    let bonded = record(&c, &ids[0]);
    assert!(!bonded.newcomer && bonded.lottery_p == 0, "{bonded:?}");
    assert_eq!(bonded.covered, bonded.reward);
    assert!(
        !bonded.collateral.is_zero(),
        "collateral reserved until the draw"
    );
    c.block(1_000, &[]);
    let bonded = record(&c, &ids[0]);
    assert!(bonded.sampled.is_some() && bonded.lottery_p == 0);
    let newcomer = record(&c, &ids[1]);
    assert!(
        newcomer.newcomer && newcomer.covered.is_zero(),
        "{newcomer:?}"
    );
    c.assert_supply_invariant();
}
