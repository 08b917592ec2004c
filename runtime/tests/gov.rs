//! NeuroDAO played on the ledger: proposals, deposits, votes, the tally, the timelock, and
//! the FAQ's limits.

mod common;

use common::*;
use neuroshard_runtime::gov::{ParamChange, ProposalAction, ProposalStatus, VoteOption, ESCROW};
use neuroshard_runtime::*;

/// Four validators of genesis power 10 (so 10 NEURO of voting power each), a 1 NEURO minimum
/// deposit, 10 s votes and a 3-block timelock.
fn gov_chain() -> Chain {
    let mut g = test_genesis();
    g.params.gov.min_deposit = Amount::neuro(1);
    g.params.gov.max_deposit_period_ms = 20_000;
    g.params.gov.voting_period_ms = 10_000;
    g.params.gov.timelock_blocks = 3;
    let mut c = Chain::with_validators(g, 4);
    c.beacons = false;
    c
}

/// A [`gov_chain`] where `key(1)` earned `earned` NEURO and proposed each of `fees` as the
/// minimum fee, with a deposit of 1 NEURO each (proposals 0, 1, …).
fn proposed(earned: u64, fees: &[&str]) -> (Chain, SecretKey) {
    let mut c = gov_chain();
    let proposer = key(1);
    c.earn(&proposer, Amount::neuro(earned));
    for fee in fees {
        submit(&mut c, &proposer, set("min_fee", fee), Amount::neuro(1))
            .result
            .unwrap();
    }
    (c, proposer)
}

fn set(name: &str, value: &str) -> ProposalAction {
    ProposalAction::SetParams(vec![ParamChange::new(name, value)])
}

fn submit(c: &mut Chain, who: &SecretKey, action: ProposalAction, deposit: Amount) -> Receipt {
    c.apply(c.sign(
        who,
        TxBody::SubmitProposal {
            title: "test".into(),
            action,
            deposit,
        },
    ))
    .unwrap()
}

fn vote(c: &mut Chain, who: usize, id: u64, option: VoteOption) -> Result<Receipt, TxError> {
    let v = c.validators[who].clone();
    c.apply(c.sign(
        &v,
        TxBody::Vote {
            proposal: id,
            option,
        },
    ))
}

fn status(c: &Chain, id: u64) -> ProposalStatus {
    c.ledger.proposal(id).unwrap().unwrap().status
}

/// Blocks of one second until block time passes `ms` from now.
fn wait(c: &mut Chain, ms: u64) {
    c.block(ms, &[]);
}

#[test]
fn a_change_voted_above_the_threshold_applies_at_its_timelocked_height_and_the_deposit_comes_back()
{
    let mut c = gov_chain();
    let proposer = key(1);
    c.earn(&proposer, Amount::neuro(3));
    let before = c.balance(&proposer.address());
    let r = submit(
        &mut c,
        &proposer,
        set("reward_per_batch", "2"),
        Amount::neuro(1),
    );
    assert_eq!(r.result, Ok(()));
    assert_eq!(status(&c, 0), ProposalStatus::Voting);
    assert_eq!(c.balance(&ESCROW), Amount::neuro(1));
    for v in 0..3 {
        vote(&mut c, v, 0, VoteOption::Yes).unwrap().result.unwrap();
    }
    vote(&mut c, 3, 0, VoteOption::No).unwrap().result.unwrap();
    let live = c.ledger.tally(0).unwrap().unwrap();
    assert_eq!(live.yes, Amount::neuro(30));
    assert_eq!(live.total_power, Amount::neuro(40));
    wait(&mut c, 10_000);
    let ProposalStatus::Passed { activation_height } = status(&c, 0) else {
        panic!("{:?}", status(&c, 0));
    };
    assert_eq!(activation_height, c.ledger.height() + 3);
    // Deposit back (less the submission's fee), escrow empty; nothing changed yet.
    let fee = c.params().min_fee;
    assert_eq!(c.balance(&proposer.address()), before.saturating_sub(fee));
    assert_eq!(c.balance(&ESCROW), Amount::ZERO);
    while c.ledger.height() < activation_height - 1 {
        c.block(1_000, &[]);
        assert_eq!(c.params().reward_per_batch, Amount::neuro(1));
    }
    c.block(1_000, &[]);
    assert_eq!(c.ledger.height(), activation_height);
    assert_eq!(c.params().reward_per_batch, Amount::neuro(2));
    assert_eq!(
        status(&c, 0),
        ProposalStatus::Applied {
            height: activation_height
        }
    );
    // The next proof is paid at the new rate.
    let node = key(60);
    c.register(&proposer, &node);
    let r = c.prove(&node, 10, 10_000).unwrap();
    let gross = r.events.iter().find_map(|e| match e {
        Event::ProofAccepted { gross, .. } => Some(*gross),
        _ => None,
    });
    assert_eq!(gross, Some(Amount::neuro(20)));
    assert!(c.ledger.gov().unwrap().open.is_empty());
    c.assert_supply_invariant();
}

#[test]
fn a_vote_below_quorum_changes_nothing_and_burns_the_deposit() {
    let mut c = gov_chain();
    let proposer = key(1);
    c.earn(&proposer, Amount::neuro(3));
    let burned = c.ledger.supply().unwrap().burned;
    submit(
        &mut c,
        &proposer,
        set("reward_per_batch", "2"),
        Amount::neuro(1),
    )
    .result
    .unwrap();
    // 10 of 40 voted: 25%, under the 33.4% quorum.
    vote(&mut c, 0, 0, VoteOption::Yes).unwrap().result.unwrap();
    wait(&mut c, 10_000);
    assert_eq!(status(&c, 0), ProposalStatus::NoQuorum);
    for _ in 0..5 {
        c.block(1_000, &[]);
    }
    assert_eq!(c.params(), c.ledger.genesis_params().unwrap());
    let fee_burn = c.params().min_fee.bps(c.params().burn_bps);
    assert_eq!(
        c.ledger.supply().unwrap().burned,
        burned
            .saturating_add(Amount::neuro(1))
            .saturating_add(fee_burn)
    );
    assert_eq!(c.balance(&ESCROW), Amount::ZERO);
    c.assert_supply_invariant();
}

#[test]
fn a_veto_burns_the_deposit_and_a_plain_no_returns_it() {
    let (mut c, proposer) = proposed(5, &["0.001", "0.002"]);
    vote(&mut c, 0, 0, VoteOption::Yes).unwrap().result.unwrap();
    vote(&mut c, 1, 0, VoteOption::Veto)
        .unwrap()
        .result
        .unwrap();
    vote(&mut c, 2, 0, VoteOption::Veto)
        .unwrap()
        .result
        .unwrap();
    vote(&mut c, 0, 1, VoteOption::No).unwrap().result.unwrap();
    vote(&mut c, 1, 1, VoteOption::No).unwrap().result.unwrap();
    let before = c.balance(&proposer.address());
    wait(&mut c, 10_000);
    assert_eq!(status(&c, 0), ProposalStatus::Vetoed);
    assert_eq!(status(&c, 1), ProposalStatus::Rejected);
    // Only the rejected proposal's deposit came back.
    assert_eq!(
        c.balance(&proposer.address()),
        before.saturating_add(Amount::neuro(1))
    );
    assert_eq!(
        c.params().min_fee,
        c.ledger.genesis_params().unwrap().min_fee
    );
    c.assert_supply_invariant();
}

#[test]
fn model_size_minting_and_narrowing_participation_are_refused_at_submission() {
    let mut c = gov_chain();
    let proposer = key(1);
    c.earn(&proposer, Amount::neuro(3));
    let balance = c.balance(&proposer.address());
    for (name, value) in [
        ("model.layers", "48"),
        ("model.hidden", "4096"),
        ("total_minted", "1000000"),
        ("supply.minted", "1000000"),
        ("max_validators", "1"),
    ] {
        let r = submit(&mut c, &proposer, set(name, value), Amount::neuro(1));
        match r.result {
            Err(TxError::Gov(GovError::NotGovernable { name: n, why })) => {
                assert_eq!(n, name);
                assert!(!why.is_empty());
            }
            other => panic!("{name}: {other:?}"),
        }
    }
    // Honest pay must still hold: a proposal that stops sampling proofs is refused.
    let r = submit(
        &mut c,
        &proposer,
        set("training.verify_sample_bps", "0"),
        Amount::neuro(1),
    );
    assert!(
        matches!(r.result, Err(TxError::Gov(GovError::BreaksRule(_)))),
        "{r:?}"
    );
    let r = submit(
        &mut c,
        &proposer,
        set("fraud_penalty", "0"),
        Amount::neuro(1),
    );
    assert!(
        matches!(r.result, Err(TxError::Gov(GovError::BreaksRule(_)))),
        "{r:?}"
    );
    // Nothing was proposed, and only fees left the wallet.
    assert_eq!(c.ledger.gov().unwrap().next_id, 0);
    let fees = c.params().min_fee.0 * 7;
    assert_eq!(c.balance(&proposer.address()).0, balance.0 - fees);
    // Nobody can pay the escrow either.
    let r = c
        .apply(c.sign(
            &proposer,
            TxBody::Transfer {
                to: ESCROW,
                amount: Amount::neuro(1),
            },
        ))
        .unwrap();
    assert_eq!(r.result, Err(TxError::Gov(GovError::PaysEscrow)));
    c.assert_supply_invariant();
}

#[test]
fn a_validator_that_votes_twice_is_counted_once_and_strangers_have_no_vote() {
    let (mut c, proposer) = proposed(3, &["0.001"]);
    vote(&mut c, 0, 0, VoteOption::Yes).unwrap().result.unwrap();
    let again = vote(&mut c, 0, 0, VoteOption::Yes).unwrap();
    assert!(matches!(
        again.result,
        Err(TxError::Gov(GovError::AlreadyVoted { id: 0, .. }))
    ));
    let switch = vote(&mut c, 0, 0, VoteOption::No).unwrap();
    assert!(matches!(
        switch.result,
        Err(TxError::Gov(GovError::AlreadyVoted { .. }))
    ));
    vote(&mut c, 1, 0, VoteOption::No).unwrap().result.unwrap();
    let stranger = c.apply(c.sign(
        &proposer,
        TxBody::Vote {
            proposal: 0,
            option: VoteOption::Yes,
        },
    ));
    assert!(
        matches!(
            &stranger,
            Ok(r) if matches!(r.result, Err(TxError::Gov(GovError::NoVotingPower(_))))
        ),
        "{stranger:?}"
    );
    wait(&mut c, 10_000);
    let tally = c.ledger.proposal(0).unwrap().unwrap().tally.unwrap();
    assert_eq!(tally.yes, Amount::neuro(10));
    assert_eq!(tally.no, Amount::neuro(10));
    assert_eq!(status(&c, 0), ProposalStatus::Rejected);
    // A closed vote takes no more votes.
    let late = vote(&mut c, 2, 0, VoteOption::Yes).unwrap();
    assert_eq!(late.result, Err(TxError::Gov(GovError::NotVoting(0))));
}

#[test]
fn a_proposal_short_of_its_deposit_waits_and_others_can_fund_it_or_it_expires_and_burns() {
    let mut c = gov_chain();
    let (a, b) = (key(1), key(2));
    c.earn(&a, Amount::neuro(3));
    c.earn(&b, Amount::neuro(3));
    let too_small = submit(&mut c, &a, set("min_fee", "0.001"), neuro("0.2"));
    assert!(matches!(
        too_small.result,
        Err(TxError::Gov(GovError::DepositTooSmall { .. }))
    ));
    submit(&mut c, &a, set("min_fee", "0.001"), neuro("0.25"))
        .result
        .unwrap();
    submit(&mut c, &a, set("min_fee", "0.002"), neuro("0.25"))
        .result
        .unwrap();
    assert_eq!(status(&c, 0), ProposalStatus::DepositPeriod);
    let early = vote(&mut c, 0, 0, VoteOption::Yes).unwrap();
    assert_eq!(early.result, Err(TxError::Gov(GovError::NotVoting(0))));
    c.ok(c.sign(
        &b,
        TxBody::Deposit {
            proposal: 0,
            amount: neuro("0.75"),
        },
    ));
    assert_eq!(status(&c, 0), ProposalStatus::Voting);
    let p = c.ledger.proposal(0).unwrap().unwrap();
    assert_eq!(p.deposits.len(), 2);
    assert_eq!(p.total_deposit, Amount::neuro(1));
    let burned = c.ledger.supply().unwrap().burned;
    wait(&mut c, 20_000);
    assert_eq!(status(&c, 1), ProposalStatus::Expired);
    // Proposal 0's vote also closed with no votes: no quorum, burned too.
    assert_eq!(status(&c, 0), ProposalStatus::NoQuorum);
    assert_eq!(
        c.ledger.supply().unwrap().burned,
        burned.saturating_add(neuro("1.25"))
    );
    c.assert_supply_invariant();
}

#[test]
fn proposals_votes_and_changed_parameters_survive_a_restart_on_the_same_genesis() {
    let mut g = test_genesis();
    g.params.gov.min_deposit = Amount::neuro(1);
    g.params.gov.voting_period_ms = 10_000;
    g.params.gov.timelock_blocks = 1;
    let genesis = {
        let mut g2 = g.clone();
        g2.params.training.verify_sample_bps = 10_000;
        g2.params.bond_period_ms = 1_000;
        g2
    };
    let mut c = Chain::with_genesis(g);
    let proposer = key(1);
    c.earn(&proposer, Amount::neuro(5));
    submit(&mut c, &proposer, set("min_fee", "0.001"), Amount::neuro(1))
        .result
        .unwrap();
    submit(&mut c, &proposer, set("min_fee", "0.002"), Amount::neuro(1))
        .result
        .unwrap();
    let dev = c.validators[0].clone();
    c.ok(c.sign(
        &dev,
        TxBody::Vote {
            proposal: 0,
            option: VoteOption::Yes,
        },
    ));
    let tally = c.ledger.tally(0).unwrap();
    let root = c.ledger.state_root();
    // Restart: the same store reopened with the genesis file.
    let Chain { ledger, .. } = c;
    let reopened = Ledger::open_or_init(ledger.into_store(), &genesis).unwrap();
    assert_eq!(reopened.state_root(), root);
    assert_eq!(reopened.tally(0).unwrap(), tally);
    assert_eq!(
        reopened.vote(0, &dev.address()).unwrap(),
        Some(VoteOption::Yes)
    );
    let mut c = Chain::with_genesis(genesis.clone());
    c.ledger = reopened;
    c.time_ms = c.ledger.last_block_time_ms();
    wait(&mut c, 10_000);
    c.block(1_000, &[]);
    assert_eq!(c.params().min_fee, neuro("0.001"));
    // The changed parameters are not the genesis file's, and the chain still opens with it.
    let root = c.ledger.state_root();
    let Chain { ledger, .. } = c;
    let reopened = Ledger::open_or_init(ledger.into_store(), &genesis).unwrap();
    assert_eq!(reopened.params().min_fee, neuro("0.001"));
    assert_eq!(reopened.state_root(), root);
    let mut other = genesis;
    other.params.min_fee = neuro("0.001");
    assert!(Ledger::open_or_init(reopened.into_store(), &other).is_err());
}

#[test]
fn an_architecture_change_waits_for_the_next_round_and_earlier_rounds_keep_their_shape() {
    let mut c = gov_chain();
    let proposer = key(1);
    c.earn(&proposer, Amount::neuro(3));
    let genesis_model = c.params().model;
    let change = neuroshard_runtime::gov::ArchitectureChange {
        rope_theta: Some(50_000),
        context: None,
    };
    // A context shorter than the training sequences is refused at submission.
    let short = neuroshard_runtime::gov::ArchitectureChange {
        rope_theta: None,
        context: Some(8),
    };
    let r = submit(
        &mut c,
        &proposer,
        ProposalAction::Architecture(short),
        Amount::neuro(1),
    );
    assert!(
        matches!(r.result, Err(TxError::Gov(GovError::BreaksRule(_)))),
        "{r:?}"
    );
    // Two changes that meet at one round boundary.
    let longer = neuroshard_runtime::gov::ArchitectureChange {
        rope_theta: None,
        context: Some(256),
    };
    for action in [change, longer] {
        submit(
            &mut c,
            &proposer,
            ProposalAction::Architecture(action),
            Amount::neuro(1),
        )
        .result
        .unwrap();
    }
    for id in 0..2 {
        for v in 0..3 {
            vote(&mut c, v, id, VoteOption::Yes)
                .unwrap()
                .result
                .unwrap();
        }
    }
    wait(&mut c, 10_000);
    for _ in 0..3 {
        c.block(1_000, &[]);
    }
    for id in 0..2 {
        assert!(
            matches!(status(&c, id), ProposalStatus::NextRound { .. }),
            "{:?}",
            status(&c, id)
        );
    }
    assert_eq!(
        c.params().model,
        genesis_model,
        "nothing changes inside a round"
    );
    // Round 0 closes (the earning proof included): three of four validators attest its result.
    c.block(c.params().round_length_ms, &[]);
    let result = neuroshard_runtime::round::RoundResult {
        included: neuroshard_runtime::round::bitmap([true]),
        aggregate: [5; 32],
        next_model: [6; 32],
        momentum: [7; 32],
        model_blob: [8; 32],
        momentum_blob: [9; 32],
        eval_loss_micro: 2_500_000,
    };
    for v in 0..3 {
        let key = c.validators[v].clone();
        let tx = c.sign(
            &key,
            TxBody::AttestRound {
                round: 0,
                result: result.clone(),
            },
        );
        c.apply(tx).unwrap().result.unwrap();
    }
    assert_eq!(c.ledger.training().unwrap().round, 1);
    let model = c.params().model;
    assert_eq!((model.rope_theta, model.context), (50_000, 256));
    // Both make one new version.
    assert_eq!(model.version, genesis_model.version + 1);
    assert_eq!(model.parameter_count(), genesis_model.parameter_count());
    assert_eq!(c.ledger.model_for_round(0).unwrap(), genesis_model);
    assert_eq!(c.ledger.model_for_round(1).unwrap(), model);
    for id in 0..2 {
        assert!(matches!(status(&c, id), ProposalStatus::Applied { .. }));
    }
    assert!(c.ledger.gov().unwrap().next_architecture.is_none());
    c.assert_supply_invariant();
}

#[test]
fn small_deposits_cannot_squat_the_open_slots() {
    let mut c = gov_chain();
    let (squatter, honest) = (key(1), key(2));
    c.earn(&squatter, Amount::neuro(10));
    c.earn(&honest, Amount::neuro(3));
    let max = neuroshard_runtime::gov::MAX_OPEN_PROPOSALS;
    let txs: Vec<_> = (0..max as u64)
        .map(|i| {
            Transaction {
                chain_id: CHAIN.into(),
                nonce: c.nonce(&squatter) + i,
                fee: c.params().min_fee,
                body: TxBody::SubmitProposal {
                    title: format!("squat {i}"),
                    action: set("min_fee", "0.001"),
                    deposit: neuro("0.25"),
                },
            }
            .sign(&squatter)
        })
        .collect();
    for r in c.block(1_000, &txs).0 {
        r.unwrap().result.unwrap();
    }
    assert_eq!(c.ledger.gov().unwrap().open.len(), max);
    let squatter_balance = c.balance(&squatter.address());
    // An equal deposit does not get in; a larger one displaces the first of the smallest.
    let r = submit(&mut c, &honest, set("min_fee", "0.002"), neuro("0.25"));
    assert!(matches!(
        r.result,
        Err(TxError::Gov(GovError::TooManyOpenProposals { .. }))
    ));
    submit(&mut c, &honest, set("min_fee", "0.002"), Amount::neuro(1))
        .result
        .unwrap();
    assert_eq!(status(&c, 0), ProposalStatus::Displaced);
    assert_eq!(status(&c, max as u64), ProposalStatus::Voting);
    assert_eq!(c.ledger.gov().unwrap().open.len(), max);
    // The displaced deposit went back.
    assert_eq!(
        c.balance(&squatter.address()),
        squatter_balance.saturating_add(neuro("0.25"))
    );
    c.assert_supply_invariant();
}
