//! Every transaction kind, and every way each can be refused.

mod common;

use common::*;
use neuroshard_runtime::proof::{Role, WorkMetrics};
use neuroshard_runtime::tx::{node_registration_digest, SpendPurpose, MAX_TX_BYTES};
use neuroshard_runtime::*;

#[test]
fn transfer_moves_funds_and_burns_five_percent_of_the_fee() {
    let mut c = Chain::new();
    let (alice, bob) = (key(1), key(2));
    c.earn(&alice, Amount::neuro(10));
    let before = c.balance(&alice.address());
    let supply_before = c.ledger.supply().unwrap();
    let receipt = c.ok(c.sign(
        &alice,
        TxBody::Transfer {
            to: bob.address(),
            amount: neuro("2.5"),
        },
    ));
    let fee = c.params().min_fee;
    assert_eq!(c.balance(&bob.address()), neuro("2.5"));
    assert_eq!(
        c.balance(&alice.address()),
        before
            .checked_sub(neuro("2.5"))
            .unwrap()
            .checked_sub(fee)
            .unwrap()
    );
    let burned = fee.bps(500);
    assert_eq!(
        c.ledger.supply().unwrap().burned.0 - supply_before.burned.0,
        burned.0
    );
    assert_eq!(c.balance(&c.proposer), fee.checked_sub(burned).unwrap());
    assert!(receipt.events.contains(&Event::Transfer {
        from: alice.address(),
        to: bob.address(),
        amount: neuro("2.5")
    }));
    c.assert_supply_invariant();
}

#[test]
fn overdraft_fails_charges_only_the_fee_and_is_refused_by_check_tx() {
    let mut c = Chain::new();
    let (alice, bob) = (key(1), key(2));
    c.earn(&alice, Amount::neuro(1));
    let balance = c.balance(&alice.address());
    let too_much = balance.checked_add(Amount(1)).unwrap();
    let tx = c.sign(
        &alice,
        TxBody::Transfer {
            to: bob.address(),
            amount: too_much,
        },
    );
    let checked = c.ledger.check_tx(&tx.clone().verify().unwrap(), c.time_ms);
    assert!(
        matches!(checked, Err(TxError::InsufficientFunds { .. })),
        "{checked:?}"
    );
    assert_eq!(
        c.balance(&alice.address()),
        balance,
        "check_tx changed nothing"
    );
    let receipt = c.apply(tx).unwrap();
    assert!(matches!(
        receipt.result,
        Err(TxError::InsufficientFunds { .. })
    ));
    assert_eq!(c.balance(&bob.address()), Amount::ZERO);
    assert_eq!(
        c.balance(&alice.address()),
        balance.checked_sub(c.params().min_fee).unwrap()
    );
    assert_eq!(
        c.nonce(&alice),
        1,
        "the failed transfer used a nonce (the free registration, from a wallet without an \
         account, left none)"
    );
    c.assert_supply_invariant();
}

#[test]
fn unpayable_fee_makes_the_transaction_invalid_and_changes_nothing() {
    let mut c = Chain::new();
    let broke = key(9);
    let tx = c.sign(
        &broke,
        TxBody::Transfer {
            to: key(2).address(),
            amount: Amount(1),
        },
    );
    let root = c.ledger.state_root();
    let err = c.apply(tx).unwrap_err();
    assert!(matches!(err, TxError::InsufficientFunds { .. }), "{err}");
    assert_eq!(c.nonce(&broke), 0);
    assert_ne!(
        c.ledger.state_root(),
        root,
        "the block itself still advanced the chain"
    );
    assert_eq!(
        c.ledger.account(&broke.address()).unwrap(),
        Default::default()
    );
}

#[test]
fn authentication_errors() {
    let mut c = Chain::new();
    let alice = key(1);
    c.earn(&alice, Amount::neuro(5));
    let to = key(2).address();
    let body = TxBody::Transfer {
        to,
        amount: Amount(1),
    };

    // Bad signature: a field changed after signing.
    let mut forged = c.sign(&alice, body.clone());
    forged.tx.body = TxBody::Transfer {
        to,
        amount: Amount::neuro(4),
    };
    assert_eq!(
        forged.verify().unwrap_err(),
        TxError::Crypto(CryptoError::BadSignature)
    );

    // Signed by someone else's key but claiming Alice's.
    let mut impostor = c.sign(&key(3), body.clone());
    impostor.signer = alice.public_key();
    assert_eq!(
        impostor.verify().unwrap_err(),
        TxError::Crypto(CryptoError::BadSignature)
    );

    // Wrong chain.
    let other = Transaction {
        chain_id: "other-chain".into(),
        nonce: c.nonce(&alice),
        fee: c.params().min_fee,
        body: body.clone(),
    }
    .sign(&alice);
    assert!(matches!(c.apply(other), Err(TxError::WrongChainId { .. })));

    // Replay and future nonce.
    let tx = c.sign(&alice, body.clone());
    c.ok(tx.clone());
    assert_eq!(
        c.apply(tx).unwrap_err(),
        TxError::NonceReplayed {
            expected: 1,
            got: 0
        }
    );
    let future = Transaction {
        chain_id: CHAIN.into(),
        nonce: 9,
        fee: c.params().min_fee,
        body: body.clone(),
    }
    .sign(&alice);
    assert_eq!(
        c.apply(future).unwrap_err(),
        TxError::NonceFromFuture {
            expected: 1,
            got: 9
        }
    );

    // Fee below minimum.
    let cheap = Transaction {
        chain_id: CHAIN.into(),
        nonce: c.nonce(&alice),
        fee: Amount(1),
        body,
    }
    .sign(&alice);
    assert!(matches!(c.apply(cheap), Err(TxError::FeeTooLow { .. })));

    // Zero amounts are refused before any state is read.
    let zero = c.sign(
        &alice,
        TxBody::Transfer {
            to,
            amount: Amount::ZERO,
        },
    );
    assert_eq!(zero.verify().unwrap_err(), TxError::ZeroAmount);
    for body in [
        TxBody::Stake {
            amount: Amount::ZERO,
        },
        TxBody::Unstake {
            amount: Amount::ZERO,
        },
    ] {
        assert_eq!(
            c.sign(&alice, body).verify().unwrap_err(),
            TxError::ZeroAmount
        );
    }
    c.assert_supply_invariant();
}

#[test]
fn same_signed_transaction_twice_in_one_block_applies_once() {
    let mut c = Chain::new();
    let alice = key(1);
    c.earn(&alice, Amount::neuro(5));
    let tx = c.sign(
        &alice,
        TxBody::Transfer {
            to: key(2).address(),
            amount: Amount::neuro(1),
        },
    );
    let (receipts, _) = c.block(1_000, &[tx.clone(), tx]);
    assert_eq!(receipts[0].as_ref().unwrap().result, Ok(()));
    assert!(matches!(receipts[1], Err(TxError::NonceReplayed { .. })));
    assert_eq!(c.balance(&key(2).address()), Amount::neuro(1));
}

#[test]
fn malformed_bytes_are_refused_with_typed_errors() {
    let c = Chain::new();
    let tx = c.sign(
        &key(1),
        TxBody::Transfer {
            to: key(2).address(),
            amount: Amount(5),
        },
    );
    let bytes = tx.encode();
    assert_eq!(SignedTransaction::decode(&bytes).unwrap(), tx);
    let mut trailing = bytes.clone();
    trailing.push(0);
    assert!(matches!(
        SignedTransaction::decode(&trailing),
        Err(DecodeError::Malformed(_))
    ));
    assert!(matches!(
        SignedTransaction::decode(&bytes[..bytes.len() - 1]),
        Err(DecodeError::Malformed(_))
    ));
    // The body's variant tag sits right after chain id, nonce and fee.
    let tag_at = 4 + CHAIN.len() + 8 + 16;
    let mut unknown = bytes.clone();
    unknown[tag_at] = 200;
    assert!(matches!(
        SignedTransaction::decode(&unknown),
        Err(DecodeError::Malformed(_))
    ));
    let huge = vec![0u8; MAX_TX_BYTES + 1];
    assert_eq!(
        SignedTransaction::decode(&huge),
        Err(DecodeError::TooLarge {
            size: MAX_TX_BYTES + 1,
            max: MAX_TX_BYTES
        })
    );
    assert!(SignedTransaction::decode(&[]).is_err());
}

#[test]
fn node_registration_needs_the_node_s_consent_and_happens_once() {
    let mut c = Chain::new();
    let (wallet, node, thief) = (key(1), key(10), key(3));
    // The thief signs a registration of someone else's node with a consent for the thief's own
    // wallet... made by the thief's key, not the node's.
    let fake = thief.sign_digest(&node_registration_digest(CHAIN, &thief.address()));
    let tx = c.sign(
        &thief,
        TxBody::RegisterNode {
            node_key: node.public_key(),
            node_signature: fake,
            expires_ms: c.registration_expiry(),
        },
    );
    assert_eq!(
        tx.verify().unwrap_err(),
        TxError::Crypto(CryptoError::BadSignature)
    );
    // Consent given to another wallet does not transfer.
    let consent_for_wallet = node.sign_digest(&node_registration_digest(CHAIN, &wallet.address()));
    let stolen = c.sign(
        &thief,
        TxBody::RegisterNode {
            node_key: node.public_key(),
            node_signature: consent_for_wallet,
            expires_ms: c.registration_expiry(),
        },
    );
    assert_eq!(
        stolen.verify().unwrap_err(),
        TxError::Crypto(CryptoError::BadSignature)
    );

    c.register(&wallet, &node);
    assert_eq!(
        c.ledger.node(&node.address()).unwrap().unwrap().wallet,
        wallet.address()
    );
    let again = node.sign_digest(&node_registration_digest(CHAIN, &wallet.address()));
    let dup = c.sign(
        &wallet,
        TxBody::RegisterNode {
            node_key: node.public_key(),
            node_signature: again,
            expires_ms: c.registration_expiry(),
        },
    );
    // The wallet has no account (a free registration leaves none), so a registration that
    // cannot take effect is invalid rather than included.
    assert_eq!(
        c.apply(dup).unwrap_err(),
        TxError::NodeAlreadyRegistered(node.address())
    );

    let own = wallet.sign_digest(&node_registration_digest(CHAIN, &wallet.address()));
    let selfish = c.sign(
        &wallet,
        TxBody::RegisterNode {
            node_key: wallet.public_key(),
            node_signature: own,
            expires_ms: c.registration_expiry(),
        },
    );
    assert_eq!(selfish.verify().unwrap_err(), TxError::NodeKeyIsWallet);
}

#[test]
fn accepted_proof_mints_exactly_the_faq_rates_to_the_wallet() {
    let mut c = Chain::with_genesis(Genesis::dev()); // real rates
    let (wallet, node) = (key(1), key(10));
    c.register(&wallet, &node);
    c.time_ms += 9_000;
    let metrics = WorkMetrics {
        batches: 100,
        tokens: 0,
        samples: 400,
        uptime_secs: 0,
    };
    let mut proof = c.proof(&node, metrics);
    proof.data_server = Some(node.address());
    let receipt = c.ok(c.sign(&node, TxBody::SubmitProof(proof)));
    // 100 × 0.0005 + 400 samples × 0.00001 (uptime: `liveness.rs`)
    let expected = neuro("0.054");
    // Pending first: not minted, not spendable, until the challenge window closes.
    assert_eq!(c.pending(&wallet.address()), expected);
    assert_eq!(c.balance(&wallet.address()), Amount::ZERO);
    assert_eq!(c.ledger.supply().unwrap().minted, Amount::ZERO);
    assert_eq!(c.ledger.supply().unwrap().pending, expected);
    assert!(matches!(receipt.events[0], Event::ProofAccepted { amount, .. } if amount == expected));
    c.assert_supply_invariant();
    // Drawn (every proof is, here) and verified in the next two blocks; one block before the
    // window ends it is still pending.
    c.verify_drawn();
    c.block(c.params().challenge_window_ms - 3_000, &[]);
    assert_eq!(c.pending(&wallet.address()), expected);
    c.block(1_000, &[]);
    // Minted into the wallet's bond, then released to its balance a bond period later.
    let account = c.ledger.account(&wallet.address()).unwrap();
    assert_eq!((account.bond, account.balance), (expected, Amount::ZERO));
    c.block(c.params().bond_period_ms, &[]);
    assert_eq!(c.balance(&wallet.address()), expected);
    assert_eq!(c.pending(&wallet.address()), Amount::ZERO);
    assert_eq!(
        c.balance(&node.address()),
        Amount::ZERO,
        "rewards go to the wallet, not the node"
    );
    assert_eq!(c.ledger.supply().unwrap().minted, expected);
    let record = c.ledger.node(&node.address()).unwrap().unwrap();
    assert_eq!(
        (record.next_batch, record.proofs, record.earned),
        (100, 1, expected)
    );
    c.assert_supply_invariant();
}

#[test]
fn claims_nobody_can_check_are_refused_and_mint_nothing() {
    let mut c = Chain::with_genesis(Genesis::dev()); // 4 layers, 500 inner steps
    let wallet = key(1);
    let (node, other) = (key(10), key(11));
    c.register(&wallet, &node);
    c.register(&wallet, &other);
    c.time_ms += 9_000;
    let claim = |c: &Chain, n: &SecretKey, batches, samples, uptime_secs| {
        c.proof(
            n,
            WorkMetrics {
                batches,
                tokens: 0,
                samples,
                uptime_secs,
            },
        )
    };
    // Samples served by nobody named (the data reward needs a server to go to).
    let p = claim(&c, &node, 10, 50, 0);
    let r = c.apply(c.sign(&node, TxBody::SubmitProof(p))).unwrap();
    assert!(
        matches!(r.result, Err(TxError::UncheckableClaim { .. })),
        "{r:?}"
    );
    // Uptime with no liveness answer: nothing shows the node was up.
    let mut p = claim(&c, &node, 0, 0, 10);
    p.pseudo_gradient = [0; 32];
    let r = c.apply(c.sign(&node, TxBody::SubmitProof(p))).unwrap();
    assert!(
        matches!(r.result, Err(TxError::UncheckableClaim { .. })),
        "{r:?}"
    );
    // Uptime beside training: the training pays for that time.
    let p = claim(&c, &node, 10, 0, 10);
    let r = c.apply(c.sign(&node, TxBody::SubmitProof(p))).unwrap();
    assert!(
        matches!(r.result, Err(TxError::UncheckableClaim { .. })),
        "{r:?}"
    );
    // A stage of the pipeline: not replayable yet, so (L−1)/L of a reward is never unjudged.
    for (start, end) in [(0, 1), (1, 4), (1, 3)] {
        let mut p = claim(&c, &other, 10, 0, 0);
        (p.layer_start, p.layer_end) = (start, end);
        let r = c.apply(c.sign(&other, TxBody::SubmitProof(p))).unwrap();
        assert!(
            matches!(r.result, Err(TxError::UncheckableClaim { .. })),
            "{r:?}"
        );
    }
    // More than one segment (the genesis inner steps), though the rate limit would allow it.
    c.time_ms += 9_000;
    let p = claim(&c, &node, 501, 0, 0);
    let r = c.apply(c.sign(&node, TxBody::SubmitProof(p))).unwrap();
    assert_eq!(
        r.result,
        Err(TxError::SegmentTooLong {
            claimed: 501,
            max: 500
        })
    );
    assert_eq!(c.pending(&wallet.address()), Amount::ZERO);
    assert_eq!(c.ledger.supply().unwrap().pending, Amount::ZERO);
    c.assert_supply_invariant();
}

#[test]
fn a_proof_on_another_corpus_is_refused_not_judged_and_its_node_loses_nothing() {
    let mut c = Chain::new(); // the dev genesis's corpus pin
    let pinned = c.params().training.corpus;
    assert_ne!(pinned, [0; 32], "the dev genesis pins its corpus");
    let (wallet, node) = (key(1), key(10));
    c.register(&wallet, &node);
    c.earn(&wallet, neuro("5"));
    c.time_ms += 9_000;
    let held = |c: &Chain| {
        let a = c.ledger.account(&wallet.address()).unwrap();
        (a.balance, a.bond, c.pending(&wallet.address()))
    };
    let before = held(&c);
    let mut p = c.proof(
        &node,
        WorkMetrics {
            batches: 10,
            ..Default::default()
        },
    );
    p.data_shard = [9; 32];
    let tx = c.sign(&node, TxBody::SubmitProof(p.clone()));
    // The mempool's gate refuses it, naming both corpora...
    let checked = c.ledger.check_tx(&tx.clone().verify().unwrap(), c.time_ms);
    let expected = TxError::WrongCorpus {
        pinned: hex::encode(pinned),
        got: hex::encode([9u8; 32]),
    };
    assert_eq!(checked.as_ref().map(|_| ()), Err(&expected));
    assert!(expected.to_string().contains("not fraud"));
    // ...and were a proposer to include it, it fails: no proof on record to judge, nothing
    // pending, nothing taken.
    let r = c.apply(tx.clone()).unwrap();
    assert_eq!(r.result, Err(expected));
    assert!(c.ledger.proof(&tx.hash()).unwrap().is_none());
    assert_eq!(held(&c), before);
    // The same batches on the pinned corpus are accepted.
    p.data_shard = pinned;
    p.timestamp_ms = c.time_ms + 1_000;
    c.ok(c.sign(&node, TxBody::SubmitProof(p)));
    assert!(c.pending(&wallet.address()) > Amount::ZERO);
    c.assert_supply_invariant();
}

#[test]
fn proofs_over_physical_limits_are_rejected_not_clipped() {
    let mut g = test_genesis();
    // The node stays silent for an hour below without its registration lapsing.
    g.params.registration_ttl_ms = 7_200_000;
    let mut c = Chain::with_genesis(g);
    let (wallet, node) = (key(1), key(10));
    c.register(&wallet, &node);
    let p = c.params();
    // 10 s since registration: at most 100 batches/s × 10 s.
    c.time_ms += 9_000;
    let over = c.proof(
        &node,
        WorkMetrics {
            batches: 1_001,
            ..Default::default()
        },
    );
    let r = c.apply(c.sign(&node, TxBody::SubmitProof(over))).unwrap();
    assert_eq!(
        r.result,
        Err(TxError::RateLimited {
            metric: "batches".into(),
            claimed: 1_001,
            max: 1_000
        })
    );
    assert_eq!(c.balance(&wallet.address()), Amount::ZERO);
    assert_eq!(c.ledger.supply().unwrap().minted, Amount::ZERO);

    // Uptime cannot exceed the time since the previous proof (here 10 s + 1 s).
    c.time_ms += 9_000;
    let uptime = c.proof(
        &node,
        WorkMetrics {
            uptime_secs: 60,
            ..Default::default()
        },
    );
    let r = c.apply(c.sign(&node, TxBody::SubmitProof(uptime))).unwrap();
    assert!(
        matches!(r.result, Err(TxError::RateLimited { ref metric, .. }) if metric == "uptime seconds"),
        "{r:?}"
    );

    // A long silence does not bank unlimited claims: the window is capped.
    c.time_ms += 3_600_000;
    let cap = p.max_batches_per_sec() * p.max_claim_window_ms / 1_000;
    let banked = c.proof(
        &node,
        WorkMetrics {
            batches: cap + 1,
            ..Default::default()
        },
    );
    let r = c.apply(c.sign(&node, TxBody::SubmitProof(banked))).unwrap();
    assert!(matches!(r.result, Err(TxError::RateLimited { max, .. }) if max == cap));
    let tokens = c.proof(
        &node,
        WorkMetrics {
            tokens: 5_000 * 20 + 1,
            ..Default::default()
        },
    );
    let r = c.apply(c.sign(&node, TxBody::SubmitProof(tokens))).unwrap();
    assert!(
        matches!(r.result, Err(TxError::RateLimited { ref metric, .. }) if metric == "inference tokens")
    );
    let samples = c.proof(
        &node,
        WorkMetrics {
            samples: 1_000 * 20 + 1,
            ..Default::default()
        },
    );
    let r = c
        .apply(c.sign(&node, TxBody::SubmitProof(samples)))
        .unwrap();
    // Samples with no batches of the proof's own are not paid (nor past the rate limit).
    assert!(matches!(r.result, Err(TxError::UncheckableClaim { .. })));
}

#[test]
fn proof_timing_and_batch_rules() {
    let mut c = Chain::new();
    let (wallet, node) = (key(1), key(10));
    c.register(&wallet, &node);
    assert_eq!(c.prove(&node, 10, 10_000).unwrap().result, Ok(()));
    // Too soon after the previous proof.
    let r = c.prove(&node, 10, 2_000).unwrap();
    assert_eq!(
        r.result,
        Err(TxError::ProofTooSoon {
            elapsed_ms: 2_000,
            min_ms: 5_000
        })
    );
    // Reclaiming batch 0..10.
    c.time_ms += 9_000;
    let mut again = c.proof(
        &node,
        WorkMetrics {
            batches: 5,
            ..Default::default()
        },
    );
    again.first_batch = 5;
    let r = c.apply(c.sign(&node, TxBody::SubmitProof(again))).unwrap();
    assert_eq!(
        r.result,
        Err(TxError::DuplicateBatches {
            first_batch: 5,
            next_unclaimed: 10
        })
    );
    // Timestamp far from block time.
    c.time_ms += 9_000;
    let mut stale = c.proof(
        &node,
        WorkMetrics {
            batches: 5,
            ..Default::default()
        },
    );
    stale.timestamp_ms -= 3_600_000;
    let r = c.apply(c.sign(&node, TxBody::SubmitProof(stale))).unwrap();
    assert!(matches!(
        r.result,
        Err(TxError::ProofTimestampOutOfRange { .. })
    ));
    // Layers outside the model.
    c.time_ms += 9_000;
    let mut layers = c.proof(
        &node,
        WorkMetrics {
            batches: 5,
            ..Default::default()
        },
    );
    layers.layer_end = 99;
    let r = c.apply(c.sign(&node, TxBody::SubmitProof(layers))).unwrap();
    assert!(matches!(r.result, Err(TxError::InvalidLayerRange { .. })));
    // Validator role without being a validator.
    c.time_ms += 9_000;
    let mut role = c.proof(
        &node,
        WorkMetrics {
            batches: 5,
            ..Default::default()
        },
    );
    role.role = Role::Validator;
    let r = c.apply(c.sign(&node, TxBody::SubmitProof(role))).unwrap();
    assert_eq!(r.result, Err(TxError::UnknownValidator(wallet.address())));
    // Unregistered node, empty proof.
    let stranger = key(11);
    let p = c.proof(
        &stranger,
        WorkMetrics {
            batches: 1,
            ..Default::default()
        },
    );
    let r = c.apply(c.sign(&stranger, TxBody::SubmitProof(p))).unwrap();
    assert_eq!(r.result, Err(TxError::UnknownNode(stranger.address())));
    let empty = c.proof(&node, WorkMetrics::default());
    assert_eq!(
        c.sign(&node, TxBody::SubmitProof(empty))
            .verify()
            .unwrap_err(),
        TxError::EmptyProof
    );
    c.assert_supply_invariant();
}

/// What each of two proofs of 500 batches in one block pays, from nodes `n1` and `n2`.
fn two_proofs_in_one_block(c: &mut Chain, n1: &SecretKey, n2: &SecretKey) -> Vec<Amount> {
    let (_, receipts) = c.claims_in_one_block(&[n1.clone(), n2.clone()], 500);
    receipts
        .into_iter()
        .map(|r| match r.unwrap().events[0] {
            Event::ProofAccepted { amount, .. } => amount,
            ref e => panic!("{e:?}"),
        })
        .collect()
}

/// Moves `c`'s clock to the start of the next diminishing-returns window.
fn next_window(c: &mut Chain) {
    let day = c.params().diminishing_window_ms;
    c.time_ms = (c.time_ms / day + 1) * day;
}

#[test]
fn diminishing_returns_are_the_networks_so_splitting_work_across_wallets_earns_nothing_more() {
    let mut g = Genesis::dev();
    g.params.reward_per_batch = Amount::neuro(1);
    g.params.diminishing_tier = Amount::neuro(500);
    g.params.round_length_ms = 30 * 24 * 3_600_000; // one round throughout
                                                    // One machine's two nodes under one wallet, and the same work split over two fresh wallets.
    let (n1, n2) = (key(10), key(11));
    let mut one = Chain::with_genesis(g.clone());
    one.register(&key(1), &n1);
    one.register(&key(1), &n2);
    let mut split = Chain::with_genesis(g);
    split.register(&key(1), &n1);
    split.register(&key(2), &n2);

    let mut minted = Vec::new();
    for c in [&mut one, &mut split] {
        // Window w: nothing paid before, so the full rate; 1 000 gross paid in it.
        next_window(c);
        let first = two_proofs_in_one_block(c, &n1, &n2);
        assert_eq!(first, vec![Amount::neuro(500); 2]);
        c.mature();
        // Window w + 1: the curve is worth 500 + 250 of those 1 000, so every proof of the
        // window pays 0.75 of its gross, whichever wallet and in whichever order.
        next_window(c);
        let second = two_proofs_in_one_block(c, &n1, &n2);
        assert_eq!(second, vec![neuro("375"); 2]);
        c.mature();
        // Window w + 3: nothing was paid in the window before, so the full rate again.
        next_window(c);
        next_window(c);
        let third = two_proofs_in_one_block(c, &n1, &n2);
        assert_eq!(third, vec![Amount::neuro(500); 2]);
        c.mature();
        c.assert_supply_invariant();
        minted.push(c.ledger.supply().unwrap().minted);
    }
    // The split was paid exactly what one wallet was.
    assert_eq!(minted[0], minted[1]);
    assert_eq!(minted[0], Amount::neuro(500 * 2 + 375 * 2 + 500 * 2));
}

#[test]
fn claims_nobody_pays_do_not_lower_the_networks_rate() {
    // A griefer registers fresh wallets and claims the most each may; at a 0.01% draw none is
    // re-executed, and with no bond none is paid. Counted at acceptance, their 10 000 gross
    // would cut everyone's next rate to under a tenth; counted as paid, they change nothing.
    let mut g = Genesis::dev();
    g.params.reward_per_batch = Amount::neuro(1);
    g.params.diminishing_tier = Amount::neuro(500);
    g.params.round_length_ms = 30 * 24 * 3_600_000;
    g.params.training.verify_sample_bps = 1;
    g.params.bond_period_ms = 1_000;
    let mut c = Chain::with_exact_genesis(g);
    next_window(&mut c);
    let griefers: Vec<(SecretKey, SecretKey)> =
        (0..20).map(|i| (key(100 + i), key(150 + i))).collect();
    for (w, n) in &griefers {
        c.register(w, n);
    }
    let nodes: Vec<SecretKey> = griefers.iter().map(|(_, n)| n.clone()).collect();
    let (_, receipts) = c.claims_in_one_block(&nodes, 500);
    assert!(receipts
        .iter()
        .all(|r| matches!(r, Ok(r) if r.result.is_ok())));
    c.mature_unverified();
    assert_eq!(
        c.ledger.supply().unwrap().minted,
        Amount::ZERO,
        "nothing paid"
    );
    // Next window: an honest node is paid at the full rate.
    next_window(&mut c);
    let honest = key(9);
    c.register(&key(8), &honest);
    let r = c.prove(&honest, 500, 10_000).unwrap();
    assert!(
        matches!(r.events[0], Event::ProofAccepted { amount, .. } if amount == Amount::neuro(500)),
        "{:?}",
        r.events
    );
}

#[test]
fn spend_burns_five_percent_and_pays_the_rest() {
    let mut c = Chain::new();
    let (user, provider) = (key(1), key(2));
    c.earn(&user, Amount::neuro(10));
    let burned_before = c.ledger.supply().unwrap().burned;
    let r = c.ok(c.sign(
        &user,
        TxBody::Spend {
            to: provider.address(),
            amount: Amount::neuro(2),
            purpose: SpendPurpose::Inference,
        },
    ));
    assert_eq!(c.balance(&provider.address()), neuro("1.9"));
    let fee_burn = c.params().min_fee.bps(500);
    let burned = c
        .ledger
        .supply()
        .unwrap()
        .burned
        .checked_sub(burned_before)
        .unwrap();
    assert_eq!(burned, neuro("0.1").checked_add(fee_burn).unwrap());
    assert!(r
        .events
        .iter()
        .any(|e| matches!(e, Event::Spent { burned, .. } if *burned == neuro("0.1"))));
    let r = c
        .apply(c.sign(
            &user,
            TxBody::Spend {
                to: provider.address(),
                amount: Amount::neuro(1_000_000),
                purpose: SpendPurpose::Data,
            },
        ))
        .unwrap();
    assert!(matches!(r.result, Err(TxError::InsufficientFunds { .. })));
    c.assert_supply_invariant();
}

#[test]
fn check_tx_judges_proofs_at_the_callers_clock_and_changes_nothing() {
    let mut c = Chain::new();
    let (wallet, node) = (key(1), key(10));
    c.register(&wallet, &node);
    let later = c.time_ms + 10_000;
    let mut proof = c.proof(
        &node,
        WorkMetrics {
            batches: 10,
            ..Default::default()
        },
    );
    proof.timestamp_ms = later;
    let tx = c.sign(&node, TxBody::SubmitProof(proof)).verify().unwrap();
    let now = c.ledger.check_tx(&tx, c.time_ms);
    assert!(matches!(now, Err(TxError::ProofTooSoon { .. })), "{now:?}");
    let receipt = c.ledger.check_tx(&tx, later).unwrap();
    assert!(matches!(receipt.events[0], Event::ProofAccepted { .. }));
    let record = c.ledger.node(&node.address()).unwrap().unwrap();
    assert_eq!(
        (record.proofs, record.next_batch),
        (0, 0),
        "nothing was applied"
    );
    assert_eq!(c.ledger.supply().unwrap().minted, Amount::ZERO);
}

#[test]
fn one_block_takes_a_bounded_number_of_free_registrations() {
    let mut c = Chain::new();
    let max = neuroshard_runtime::params::MAX_REGISTRATIONS_PER_BLOCK as u8;
    // Fresh wallets, one registration each (free, nonce 0), all in one block.
    let registration = |c: &Chain, i: u8| {
        let (wallet, node) = (key(100 + i), key(200 - i));
        let consent = node.sign_digest(&node_registration_digest(CHAIN, &wallet.address()));
        c.sign(
            &wallet,
            TxBody::RegisterNode {
                node_key: node.public_key(),
                node_signature: consent,
                expires_ms: c.registration_expiry(),
            },
        )
    };
    let txs: Vec<_> = (0..=max).map(|i| registration(&c, i)).collect();
    let (receipts, _) = c.block(1_000, &txs);
    for r in &receipts[..max as usize] {
        assert_eq!(r.as_ref().unwrap().result, Ok(()));
    }
    assert_eq!(
        receipts[max as usize].as_ref().unwrap_err(),
        &TxError::RegistrationsFull { max: max.into() }
    );
    assert!(c.ledger.node(&key(200 - max).address()).unwrap().is_none());
    // The next block takes registrations again.
    let next = registration(&c, max + 1);
    assert_eq!(c.apply(next).unwrap().result, Ok(()));
}

fn node_records(c: &Chain) -> usize {
    c.ledger
        .store()
        .scan_prefix(neuroshard_runtime::state::keys::NODE_PREFIX)
        .count()
}

#[test]
fn a_registration_without_a_proof_lapses_and_one_with_a_proof_stays() {
    let mut c = Chain::new();
    let ttl = c.params().registration_ttl_ms;
    let (wallet, idle, busy) = (key(1), key(10), key(11));
    let consent = idle.sign_digest(&node_registration_digest(CHAIN, &wallet.address()));
    let idle_registration = c.sign(
        &wallet,
        TxBody::RegisterNode {
            node_key: idle.public_key(),
            node_signature: consent,
            expires_ms: c.registration_expiry(),
        },
    );
    c.ok(idle_registration.clone());
    c.register(&wallet, &busy);
    let r = c.prove(&busy, 10, 10_000).unwrap();
    assert_eq!(r.result, Ok(()));
    c.block(ttl, &[]);
    assert!(c.ledger.node(&idle.address()).unwrap().is_none(), "lapsed");
    assert!(c.ledger.node(&busy.address()).unwrap().is_some(), "proved");
    // Its registration has expired by now: nobody can replay it to register the node again.
    assert!(matches!(
        c.apply(idle_registration),
        Err(TxError::RegistrationOutOfTime { .. })
    ));
    assert!(c.ledger.node(&idle.address()).unwrap().is_none());
    // The lapsed node registers again, as a new node, and once it proves it stays.
    c.register(&wallet, &idle);
    assert_eq!(c.prove(&idle, 10, 10_000).unwrap().result, Ok(()));
    c.block(ttl, &[]);
    assert!(c.ledger.node(&idle.address()).unwrap().is_some());
    c.assert_supply_invariant();
}

#[test]
fn free_registrations_from_fresh_keys_do_not_stay_in_the_state() {
    let mut c = Chain::new();
    let before = node_records(&c);
    let accounts_before = c
        .ledger
        .store()
        .scan_prefix(neuroshard_runtime::state::keys::ACCOUNT_PREFIX)
        .count();
    // Eight blocks of the most registrations a block takes, from fresh wallets.
    for b in 0..8u8 {
        let txs: Vec<SignedTransaction> = (0..16u8)
            .map(|i| {
                let (w, n) = (key(100 + b * 16 + i / 2), key(b * 16 + i));
                let sig = n.sign_digest(&node_registration_digest(CHAIN, &w.address()));
                c.sign(
                    &w,
                    TxBody::RegisterNode {
                        node_key: n.public_key(),
                        node_signature: sig,
                        expires_ms: c.registration_expiry(),
                    },
                )
            })
            .collect();
        let _ = c.block(1_000, &txs);
    }
    let registered = node_records(&c) - before;
    assert!(registered >= 64, "{registered} registered");
    // A registration period later, every one of them is gone.
    let ttl = c.params().registration_ttl_ms;
    c.block(ttl, &[]);
    for _ in 0..8 {
        c.block(1_000, &[]);
    }
    assert_eq!(node_records(&c), before);
    // Nor did they leave accounts (not even a nonce) behind.
    let accounts = c
        .ledger
        .store()
        .scan_prefix(neuroshard_runtime::state::keys::ACCOUNT_PREFIX)
        .count();
    assert_eq!(accounts, accounts_before);
}

/// A registration is valid from its signing until its `expires_ms`, which must come before its
/// node could lapse; a fresh wallet registers without an account, at nonce 0 every time, and a
/// registration that cannot take effect is refused rather than recorded.
#[test]
fn a_registration_expires_before_its_node_could_lapse_and_a_fresh_wallet_keeps_no_account() {
    let mut c = Chain::new();
    let ttl = c.params().registration_ttl_ms;
    let wallet = key(1);
    let registration = |c: &Chain, node: &SecretKey, expires_ms: u64| {
        let consent = node.sign_digest(&node_registration_digest(CHAIN, &wallet.address()));
        c.sign(
            &wallet,
            TxBody::RegisterNode {
                node_key: node.public_key(),
                node_signature: consent,
                expires_ms,
            },
        )
    };
    // Next block's time is c.time_ms + 1 000 (`apply`).
    let next = c.time_ms + 1_000;
    let late = registration(&c, &key(10), next + ttl);
    assert!(matches!(
        c.apply(late),
        Err(TxError::RegistrationOutOfTime { .. })
    ));
    let next = c.time_ms + 1_000;
    let stale = registration(&c, &key(10), next - 1);
    assert!(matches!(
        c.apply(stale),
        Err(TxError::RegistrationOutOfTime { .. })
    ));
    // Two nodes, both at nonce 0: the wallet still has no account.
    let next = c.time_ms + 1_000;
    let first = registration(&c, &key(10), next + ttl - 1);
    let second = registration(&c, &key(11), next + ttl - 1);
    assert_eq!(first.tx.nonce, 0);
    assert_eq!(second.tx.nonce, 0);
    let (receipts, _) = c.block(1_000, &[first.clone(), second]);
    assert!(receipts
        .iter()
        .all(|r| r.as_ref().unwrap().result == Ok(())));
    assert_eq!(c.nonce(&wallet), 0);
    assert!(c.ledger.account(&wallet.address()).unwrap() == Default::default());
    // A replay while the node is registered is refused, not included.
    assert_eq!(
        c.apply(first.clone()).unwrap_err(),
        TxError::NodeAlreadyRegistered(key(10).address())
    );
    // Once the node lapsed, the registration has expired: the replay is refused again.
    c.block(ttl, &[]);
    c.block(1_000, &[]);
    assert!(c.ledger.node(&key(10).address()).unwrap().is_none());
    assert!(matches!(
        c.apply(first),
        Err(TxError::RegistrationOutOfTime { .. })
    ));
    assert!(c.ledger.node(&key(10).address()).unwrap().is_none());
}
