//! Property tests: supply conservation under random valid and invalid transactions, and the codec.

mod common;

use common::*;
use neuroshard_runtime::evidence::{Evidence, Vote, VoteKind};
use neuroshard_runtime::proof::{Proof, Role, WorkMetrics};
use neuroshard_runtime::tx::SpendPurpose;
use neuroshard_runtime::*;
use proptest::prelude::*;

const USERS: u8 = 4;

#[derive(Clone, Debug)]
enum Op {
    Transfer {
        from: u8,
        to: u8,
        neuro_milli: u64,
    },
    Spend {
        from: u8,
        to: u8,
        neuro_milli: u64,
    },
    Stake {
        who: u8,
        neuro: u64,
    },
    Unstake {
        who: u8,
        neuro: u64,
    },
    Withdraw {
        who: u8,
    },
    /// `SetBeaconKey` from wallet `who` (a staked wallet has voting power only after it).
    RegisterBeacon {
        who: u8,
    },
    /// `Unjail` from wallet `who`: staked wallets never propose, so windows jail them for
    /// downtime.
    Unjail {
        who: u8,
    },
    Prove {
        node: u8,
        batches: u64,
        uptime: u64,
        samples: u64,
        reuse_batches: bool,
    },
    DoubleSign {
        validator: u8,
        reporter: u8,
        height: u64,
    },
    ConflictingProof {
        node: u8,
        reporter: u8,
    },
    BadNonce {
        who: u8,
    },
    /// A verdict on `node`'s last proof by wallet `voter` (staked wallets are validators) or, for
    /// `voter == USERS`, by the genesis validator.
    Verdict {
        voter: u8,
        node: u8,
        valid: bool,
    },
    EndBlock {
        advance_ms: u64,
    },
    /// NeuroDAO: wallet `who` proposes change `change` with a deposit.
    Propose {
        who: u8,
        change: u8,
        deposit_milli: u64,
    },
    /// NeuroDAO: wallet `who` adds to proposal `id`'s deposit.
    Deposit {
        who: u8,
        id: u64,
        deposit_milli: u64,
    },
    /// NeuroDAO: a vote on proposal `id` by wallet `voter` or, for `voter == USERS`, the
    /// genesis validator.
    GovVote {
        voter: u8,
        id: u64,
        option: u8,
    },
}

/// Changes the property test proposes: each moves money differently once applied.
const GOV_CHANGES: [(&str, &str); 3] = [
    ("burn_bps", "1000"),
    ("reward_per_batch", "2"),
    ("reporter_share_bps", "2000"),
];

fn op() -> impl Strategy<Value = Op> {
    let u = 0..USERS;
    prop_oneof![
        3 => (u.clone(), u.clone(), 0..500_000u64).prop_map(|(from, to, neuro_milli)| Op::Transfer { from, to, neuro_milli }),
        2 => (u.clone(), u.clone(), 0..300_000u64).prop_map(|(from, to, neuro_milli)| Op::Spend { from, to, neuro_milli }),
        2 => (u.clone(), 0..1_500u64).prop_map(|(who, neuro)| Op::Stake { who, neuro }),
        1 => (u.clone(), 0..1_500u64).prop_map(|(who, neuro)| Op::Unstake { who, neuro }),
        1 => u.clone().prop_map(|who| Op::Withdraw { who }),
        2 => u.clone().prop_map(|who| Op::RegisterBeacon { who }),
        1 => u.clone().prop_map(|who| Op::Unjail { who }),
        4 => (u.clone(), 0..1_200u64, 0..25u64, 0..12_000u64, any::<bool>())
            .prop_map(|(node, batches, uptime, samples, reuse_batches)| Op::Prove { node, batches, uptime, samples, reuse_batches }),
        1 => (u.clone(), u.clone(), 1..50u64).prop_map(|(validator, reporter, height)| Op::DoubleSign { validator, reporter, height }),
        1 => (u.clone(), u.clone()).prop_map(|(node, reporter)| Op::ConflictingProof { node, reporter }),
        1 => u.clone().prop_map(|who| Op::BadNonce { who }),
        3 => (0..=USERS, u.clone(), any::<bool>()).prop_map(|(voter, node, valid)| Op::Verdict { voter, node, valid }),
        3 => (1_000..15_000u64).prop_map(|advance_ms| Op::EndBlock { advance_ms }),
        1 => Just(Op::EndBlock { advance_ms: 25_000 }),
        1 => (u.clone(), 0..3u8, 0..1_500u64).prop_map(|(who, change, deposit_milli)| Op::Propose { who, change, deposit_milli }),
        1 => (u.clone(), 0..4u64, 0..1_500u64).prop_map(|(who, id, deposit_milli)| Op::Deposit { who, id, deposit_milli }),
        2 => (0..=USERS, 0..4u64, 0..4u8).prop_map(|(voter, id, option)| Op::GovVote { voter, id, option }),
    ]
}

/// A fee-exempt transaction from the genesis validator, after the `in_block` it already sent
/// in the block being built.
fn dev_signed(c: &Chain, in_block: &mut u64, body: TxBody) -> SignedTransaction {
    let dev = SecretKey::from_hex_token(genesis::DEV_VALIDATOR_TOKEN).unwrap();
    let nonce = c.nonce(&dev) + *in_block;
    *in_block += 1;
    Transaction {
        chain_id: CHAIN.into(),
        nonce,
        fee: Amount::ZERO,
        body,
    }
    .sign(&dev)
}

fn wallet(i: u8) -> SecretKey {
    key(1 + i)
}
fn node_key(i: u8) -> SecretKey {
    key(50 + i)
}

/// Runs `ops`, grouping transactions into blocks, and checks conservation after every block.
fn run(ops: Vec<Op>) {
    let mut g = test_genesis();
    // Short downtime windows: wallets that stake and register a key are jailed for never
    // proposing, and may unjail 20 s later. The dev validator proposes its heights.
    g.params.downtime_window_blocks = 8;
    g.params.downtime_jail_ms = 20_000;
    g.params.gov.min_deposit = Amount::neuro(1);
    g.params.gov.max_deposit_period_ms = 30_000;
    g.params.gov.voting_period_ms = 20_000;
    g.params.gov.timelock_blocks = 2;
    let mut c = Chain::with_genesis(g);
    c.beacons = true;
    for i in 0..USERS {
        c.earn(&wallet(i), Amount::neuro(2_000));
        c.register(&wallet(i), &node_key(i));
    }
    let mut nonces: Vec<u64> = (0..USERS).map(|i| c.nonce(&wallet(i))).collect();
    let mut node_nonces = vec![0u64; USERS as usize];
    let mut pending: Vec<SignedTransaction> = Vec::new();
    let mut last_proofs: Vec<Option<SignedTransaction>> = vec![None; USERS as usize];
    let fee = c.params().min_fee;
    let sign = |who: &SecretKey, nonce: &mut u64, fee: Amount, body: TxBody| {
        let tx = Transaction {
            chain_id: CHAIN.into(),
            nonce: *nonce,
            fee,
            body,
        }
        .sign(who);
        *nonce += 1;
        tx
    };
    let flush = |c: &mut Chain,
                 pending: &mut Vec<SignedTransaction>,
                 advance_ms: u64,
                 nonces: &mut Vec<u64>,
                 node_nonces: &mut Vec<u64>| {
        c.block(advance_ms, pending);
        pending.clear();
        // Downtime never jails the last active validator: the chain always has power.
        let power: u64 = c
            .ledger
            .validators()
            .unwrap()
            .iter()
            .map(|v| v.record.power)
            .sum();
        assert!(power > 0, "no voting power left");
        // Resynchronise expected nonces with the chain (invalid transactions do not use theirs).
        for i in 0..USERS {
            nonces[i as usize] = c.nonce(&wallet(i));
            node_nonces[i as usize] = c.nonce(&node_key(i));
        }
        c.assert_supply_invariant();
    };
    let mut dev_in_block = 0u64;
    for op in ops {
        let tx = match op {
            Op::Transfer {
                from,
                to,
                neuro_milli,
            } => sign(
                &wallet(from),
                &mut nonces[from as usize],
                fee,
                TxBody::Transfer {
                    to: wallet(to).address(),
                    amount: Amount(u128::from(neuro_milli) * 1_000_000_000_000_000 + 1),
                },
            ),
            Op::Spend {
                from,
                to,
                neuro_milli,
            } => sign(
                &wallet(from),
                &mut nonces[from as usize],
                fee,
                TxBody::Spend {
                    to: wallet(to).address(),
                    amount: Amount(u128::from(neuro_milli) * 1_000_000_000_000_000 + 7),
                    purpose: SpendPurpose::Inference,
                },
            ),
            Op::Stake { who, neuro } => sign(
                &wallet(who),
                &mut nonces[who as usize],
                fee,
                TxBody::Stake {
                    amount: Amount::neuro(neuro + 1),
                },
            ),
            Op::Unstake { who, neuro } => sign(
                &wallet(who),
                &mut nonces[who as usize],
                fee,
                TxBody::Unstake {
                    amount: Amount::neuro(neuro + 1),
                },
            ),
            Op::RegisterBeacon { who } => {
                let beacon = neuroshard_runtime::beacon::BeaconSecret::derive(&wallet(who));
                sign(
                    &wallet(who),
                    &mut nonces[who as usize],
                    fee,
                    TxBody::SetBeaconKey {
                        key: beacon.public_key(),
                        possession: beacon.possession(CHAIN, &wallet(who).address()),
                    },
                )
            }
            Op::Unjail { who } => sign(
                &wallet(who),
                &mut nonces[who as usize],
                Amount::ZERO,
                TxBody::Unjail,
            ),
            Op::Withdraw { who } => sign(
                &wallet(who),
                &mut nonces[who as usize],
                fee,
                TxBody::WithdrawUnbonded,
            ),
            Op::Prove {
                node,
                batches,
                uptime,
                samples,
                reuse_batches,
            } => {
                let record = c.ledger.node(&node_key(node).address()).unwrap().unwrap();
                let first_batch = if reuse_batches {
                    record.next_batch.saturating_sub(batches / 2)
                } else {
                    record.next_batch
                };
                let training = c.ledger.training().unwrap();
                let proof = Proof {
                    role: Role::Worker,
                    layer_start: 0,
                    layer_end: c.ledger.params().model.layers,
                    round: training.round,
                    model_version: training.model_version,
                    data_seed: record.data_seed,
                    data_shard: c.ledger.params().training.corpus,
                    pseudo_gradient: [node; 32],
                    start_state: [0; 32],
                    end_state: [0; 32],
                    first_batch,
                    metrics: WorkMetrics {
                        batches,
                        tokens: 0,
                        samples,
                        uptime_secs: uptime,
                    },
                    // Served by itself or by another node (whose wallet is then paid).
                    data_server: (samples % 3 != 0)
                        .then(|| node_key((node + (samples % 7) as u8) % USERS).address()),
                    timestamp_ms: c.time_ms,
                };
                let tx = sign(
                    &node_key(node),
                    &mut node_nonces[node as usize],
                    Amount::ZERO,
                    TxBody::SubmitProof(proof),
                );
                last_proofs[node as usize] = Some(tx.clone());
                tx
            }
            Op::DoubleSign {
                validator,
                reporter,
                height,
            } => {
                let v = wallet(validator);
                let vote = |h| Vote {
                    chain_id: CHAIN.into(),
                    height,
                    round: 0,
                    kind: VoteKind::Prevote,
                    block_hash: Some(h),
                };
                let ev = Evidence::DoubleSign {
                    a: vote([1; 32]).sign(&v),
                    b: vote([2; 32]).sign(&v),
                };
                sign(
                    &wallet(reporter),
                    &mut nonces[reporter as usize],
                    fee,
                    TxBody::ReportFraud(Box::new(ev)),
                )
            }
            Op::ConflictingProof { node, reporter } => {
                let Some(previous) = last_proofs[node as usize].clone() else {
                    continue;
                };
                let Some(a) = neuroshard_runtime::evidence::SignedProof::from_signed(&previous)
                else {
                    continue;
                };
                if a.proof.metrics.batches == 0 {
                    continue;
                }
                let mut twin = a.proof.clone();
                twin.pseudo_gradient = [0xEE; 32];
                let b_tx = Transaction {
                    chain_id: CHAIN.into(),
                    nonce: a.nonce,
                    fee: a.fee,
                    body: TxBody::SubmitProof(twin),
                }
                .sign(&node_key(node));
                let b = neuroshard_runtime::evidence::SignedProof::from_signed(&b_tx).unwrap();
                sign(
                    &wallet(reporter),
                    &mut nonces[reporter as usize],
                    fee,
                    TxBody::ReportFraud(Box::new(Evidence::ConflictingProofs { a, b })),
                )
            }
            Op::Verdict { voter, node, valid } => {
                let Some(proof) = last_proofs[node as usize].as_ref().map(|t| t.hash()) else {
                    continue;
                };
                if voter == USERS {
                    dev_signed(&c, &mut dev_in_block, TxBody::Verdict { proof, valid })
                } else {
                    sign(
                        &wallet(voter),
                        &mut nonces[voter as usize],
                        Amount::ZERO,
                        TxBody::Verdict { proof, valid },
                    )
                }
            }
            Op::Propose {
                who,
                change,
                deposit_milli,
            } => {
                let (name, value) = GOV_CHANGES[change as usize];
                sign(
                    &wallet(who),
                    &mut nonces[who as usize],
                    fee,
                    TxBody::SubmitProposal {
                        title: String::new(),
                        action: gov::ProposalAction::SetParams(vec![gov::ParamChange::new(
                            name, value,
                        )]),
                        deposit: Amount(u128::from(deposit_milli) * 1_000_000_000_000_000),
                    },
                )
            }
            Op::Deposit {
                who,
                id,
                deposit_milli,
            } => sign(
                &wallet(who),
                &mut nonces[who as usize],
                fee,
                TxBody::Deposit {
                    proposal: id,
                    amount: Amount(u128::from(deposit_milli) * 1_000_000_000_000_000),
                },
            ),
            Op::GovVote { voter, id, option } => {
                let option = [
                    gov::VoteOption::Yes,
                    gov::VoteOption::No,
                    gov::VoteOption::Abstain,
                    gov::VoteOption::Veto,
                ][option as usize];
                let body = TxBody::Vote {
                    proposal: id,
                    option,
                };
                if voter == USERS {
                    dev_signed(&c, &mut dev_in_block, body)
                } else {
                    sign(
                        &wallet(voter),
                        &mut nonces[voter as usize],
                        Amount::ZERO,
                        body,
                    )
                }
            }
            Op::BadNonce { who } => Transaction {
                chain_id: CHAIN.into(),
                nonce: 0,
                fee,
                body: TxBody::WithdrawUnbonded,
            }
            .sign(&wallet(who)),
            Op::EndBlock { advance_ms } => {
                dev_in_block = 0;
                flush(
                    &mut c,
                    &mut pending,
                    advance_ms,
                    &mut nonces,
                    &mut node_nonces,
                );
                continue;
            }
        };
        pending.push(tx);
    }
    flush(&mut c, &mut pending, 1_000, &mut nonces, &mut node_nonces);
    // Validator powers agree with stakes after all of it.
    for v in c.ledger.validators().unwrap() {
        let out = v.record.jailed || v.record.down_until_ms.is_some();
        let expected = if out || v.record.beacon_key.is_none() {
            0
        } else if v.stake >= c.params().min_validator_stake {
            (v.record.genesis_power + u64::try_from(v.stake.0 / 1_000_000_000_000_000_000).unwrap())
                .min(c.params().max_validator_power)
        } else {
            v.record.genesis_power
        };
        assert_eq!(v.record.power, expected, "{v:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn supply_is_conserved(ops in proptest::collection::vec(op(), 1..80)) {
        run(ops);
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2_048)) {
        let _ = SignedTransaction::decode(&bytes);
    }

    #[test]
    fn mutated_valid_encodings_never_panic(pos in any::<prop::sample::Index>(), byte in any::<u8>(), cut in any::<prop::sample::Index>()) {
        let c = Chain::new();
        let tx = c.sign(&key(1), TxBody::ReportFraud(Box::new(Evidence::DoubleSign {
            a: Vote { chain_id: CHAIN.into(), height: 1, round: 0, kind: VoteKind::Prevote, block_hash: None }.sign(&key(2)),
            b: Vote { chain_id: CHAIN.into(), height: 1, round: 0, kind: VoteKind::Prevote, block_hash: Some([1; 32]) }.sign(&key(2)),
        })));
        let mut bytes = tx.encode();
        let i = pos.index(bytes.len());
        bytes[i] = byte;
        bytes.truncate(cut.index(bytes.len() + 1).max(1));
        if let Ok(decoded) = SignedTransaction::decode(&bytes) {
            let _ = decoded.verify();
        }
    }

    #[test]
    fn encode_then_decode_is_identity(
        nonce in any::<u64>(), fee in any::<u128>(), amount in any::<u128>(), to in any::<[u8; 20]>(),
        chain in "[a-z0-9-]{0,64}", which in 0..4u8, metrics in any::<(u64, u64, u64, u64)>(), first_batch in any::<u64>(),
    ) {
        let body = match which {
            0 => TxBody::Transfer { to: Address(to), amount: Amount(amount) },
            1 => TxBody::Stake { amount: Amount(amount) },
            2 => TxBody::Spend { to: Address(to), amount: Amount(amount), purpose: SpendPurpose::Data },
            _ => TxBody::SubmitProof(Proof {
                role: Role::Validator, layer_start: 1, layer_end: 3, round: first_batch / 3, model_version: [1; 32],
                data_seed: [4; 32], data_shard: [2; 32],
                pseudo_gradient: [3; 32], start_state: [0; 32], end_state: [0; 32], first_batch,
                metrics: WorkMetrics { batches: metrics.0, tokens: metrics.1, samples: metrics.2, uptime_secs: metrics.3 },
                data_server: None,
                timestamp_ms: nonce,
            }),
        };
        let tx = Transaction { chain_id: chain, nonce, fee: Amount(fee), body }.sign(&key(1));
        let bytes = tx.encode();
        prop_assert_eq!(SignedTransaction::decode(&bytes).unwrap(), tx.clone());
        prop_assert_eq!(SignedTransaction::decode(&bytes).unwrap().encode(), bytes);
    }
}
