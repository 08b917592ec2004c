//! NeuroDAO on a real four-validator network (`neuroshard node` processes, RocksDB, libp2p on
//! loopback), driven through the wallet CLI as a user would: a parameter change voted by three
//! of four validators applies at its timelocked height on every node with equal state roots; a
//! proposal that only one validator votes for reaches no quorum and changes nothing; a proposal
//! to change the model's size is refused with the reason; a second vote is refused and counted
//! once; a node killed with SIGKILL and another restarted mid-vote come back with the same
//! tallies.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};
use support::*;

const TESTNET: &str = "neuroshard-testnet-1";

/// The checked chain-only genesis, with a small deposit, 20 s votes and a 5-block timelock.
fn gov_genesis(dir: &Path) -> std::path::PathBuf {
    let mut g = neuroshard_runtime::Genesis::dev();
    g.params.training.verify_sample_bps = 10_000;
    g.params.round_length_ms = 10 * 365 * 86_400_000;
    g.params.gov.min_deposit = "0.02".parse().unwrap();
    g.params.gov.max_deposit_period_ms = 120_000;
    g.params.gov.voting_period_ms = 20_000;
    g.params.gov.timelock_blocks = 5;
    let path = dir.join("genesis-gov.json");
    std::fs::write(&path, g.to_json_pretty()).unwrap();
    path
}

/// `neuroshard wallet --node URL <args>` signed by `token`, with a wallet home of its own.
fn wallet(dir: &Path, node: &NodeProc, token: &str, args: &[&str]) -> (bool, String) {
    let home = dir.join(format!("wallet-{}", &token[..8]));
    let out = Command::new(BIN)
        .args(["wallet", "--node", &node.rpc_url])
        .args(args)
        .env("NEUROSHARD_HOME", &home)
        .env("NEUROSHARD_TOKEN", token)
        .env_remove("NEUROSHARD_NODE")
        .env_remove("NEUROSHARD_CHAIN_ID")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

async fn proposal(node: &NodeProc, id: u64) -> Value {
    node.client()
        .call("neuro_getProposal", vec![json!(id)])
        .await
        .unwrap()
}

#[test]
fn a_change_voted_by_stake_applies_on_every_node_at_its_height_and_a_thin_vote_changes_nothing() {
    let dir = TempDir::new("gov");
    let genesis = gov_genesis(&dir.0);
    let mut nodes = testnet_on(&dir.0, 4, 200, &genesis);
    let rt = rt();
    let proposer = key(51);
    let proposer_token = proposer.to_token();
    let validators: Vec<String> = nodes
        .iter()
        .map(|n| {
            std::fs::read_to_string(n.home.join("validator_key"))
                .unwrap()
                .trim()
                .to_owned()
        })
        .collect();
    rt.block_on(async {
        wait_height(&nodes[0], 2, Duration::from_secs(120)).await;
        earn(&nodes[0], TESTNET, &proposer, &key(52)).await;
    });

    // What the FAQ rules out is refused before it costs anything, with the reason.
    let (ok, out) = wallet(
        &dir.0,
        &nodes[0],
        &proposer_token,
        &[
            "gov",
            "propose",
            "--title",
            "bigger",
            "--set",
            "model.layers=48",
            "--deposit",
            "0.02",
        ],
    );
    assert!(!ok, "{out}");
    assert!(out.contains("cannot be changed by a vote"), "{out}");
    assert!(out.contains("model size is automatic"), "{out}");

    // Proposal 0: a higher minimum fee; proposal 1: a higher data reward.
    for (title, set) in [
        ("dearer spam", "min_fee=0.0002"),
        ("more for data", "reward_per_sample=0.00002"),
    ] {
        let (ok, out) = wallet(
            &dir.0,
            &nodes[1],
            &proposer_token,
            &[
                "gov",
                "propose",
                "--title",
                title,
                "--set",
                set,
                "--deposit",
                "0.02",
            ],
        );
        assert!(ok, "{out}");
    }
    // Three of four validators vote yes on 0 (one of them twice); only one votes on 1.
    for (i, token) in validators.iter().enumerate().take(3) {
        let (ok, out) = wallet(&dir.0, &nodes[i], token, &["gov", "vote", "0", "yes"]);
        assert!(ok, "validator {i}: {out}");
    }
    let (ok, out) = wallet(
        &dir.0,
        &nodes[2],
        &validators[0],
        &["gov", "vote", "0", "no"],
    );
    assert!(!ok && out.contains("already voted"), "{out}");
    let (ok, out) = wallet(
        &dir.0,
        &nodes[3],
        &validators[3],
        &["gov", "vote", "1", "yes"],
    );
    assert!(ok, "{out}");

    // Mid-vote, node 3 is killed with SIGKILL and node 2 restarted; both come back with the
    // same tallies as the others.
    let before = rt.block_on(proposal(&nodes[0], 0));
    assert_eq!(before["status"], "voting", "{before}");
    assert_eq!(before["tally"]["yes"]["neuro"], "30", "{before}");
    nodes[3].kill9();
    nodes[2].stop();
    nodes[2].start();
    nodes[3].start();
    rt.block_on(async {
        let h = height(&nodes[0]).await;
        for n in &nodes {
            wait_height(n, h + 2, Duration::from_secs(120)).await;
        }
        for n in &nodes {
            let p = proposal(n, 0).await;
            assert_eq!(p["tally"], before["tally"], "{}", n.rpc_url);
            assert_eq!(p["votes"].as_array().unwrap().len(), 3);
            let p1 = proposal(n, 1).await;
            assert_eq!(p1["tally"]["yes"]["neuro"], "10", "{p1}");
            let t1 = n
                .client()
                .call("neuro_getTally", vec![json!(1)])
                .await
                .unwrap();
            assert_eq!(t1["tally"], p1["tally"]);
            assert_eq!(t1["tally"]["outcome"], "noQuorum", "{t1}");
        }
    });

    // The vote closes: 0 passed (30 of 40 NEURO of power voted yes), 1 had no quorum.
    let (activation, applied) = rt.block_on(async {
        let activation = until(
            "proposal 0 tallied",
            Duration::from_secs(90),
            &[&nodes[0]],
            || async {
                let p = proposal(&nodes[0], 0).await;
                p["activationHeight"]
                    .as_u64()
                    .or_else(|| (p["status"] == "applied").then_some(0))
            },
        )
        .await;
        let applied = until(
            "proposal 0 applied",
            Duration::from_secs(90),
            &[&nodes[0]],
            || async {
                let p = proposal(&nodes[0], 0).await;
                p["appliedHeight"].as_u64()
            },
        )
        .await;
        (activation, applied)
    });
    assert!(
        activation == 0 || activation == applied,
        "{activation} {applied}"
    );
    let p1 = rt.block_on(proposal(&nodes[0], 1));
    assert_eq!(p1["status"], "noQuorum", "{p1}");
    let (_, shown) = wallet(&dir.0, &nodes[0], &proposer_token, &["gov", "show", "0"]);
    assert!(shown.contains("applied at height"), "{shown}");

    // The explorer page shows both proposals, the outcome and each vote.
    let driver = browser::Driver::start();
    rt.block_on(async {
        let c = driver.browser().await;
        c.goto(&format!("{}/#/governance", nodes[0].rpc_url))
            .await
            .unwrap();
        let list = browser::text_when(&c, "#view", Duration::from_secs(30), |t| {
            t.contains("dearer spam") && t.contains("more for data")
        })
        .await;
        assert!(list.contains("min_fee = 0.0002"), "{list}");
        assert!(
            list.contains(&format!("applied at block {applied}")),
            "{list}"
        );
        assert!(list.contains("noQuorum"), "{list}");
        browser::click(&c, "tr.proposal:last-child td a").await;
        let page = browser::text_when(&c, "#view", Duration::from_secs(15), |t| {
            t.contains("Proposal 0") && t.contains("Final tally")
        })
        .await;
        assert!(
            page.contains("yes 30 · no 0 · abstain 0 · veto 0 of 40"),
            "{page}"
        );
        let votes = c
            .find_all(fantoccini::Locator::Css("tr.vote"))
            .await
            .unwrap();
        assert_eq!(votes.len(), 3);
        let png = c.screenshot().await.unwrap();
        let shot = browser::screenshot_dir().join("explorer-proposal.png");
        std::fs::write(&shot, &png).unwrap();
        eprintln!("screenshot: {}", shot.display());
    });
    drop(driver);
    rt.block_on(async {
        for n in &nodes {
            wait_height(n, applied + 2, Duration::from_secs(60)).await;
            let fee = n
                .client()
                .call("neuro_estimateFee", vec!["transfer".into()])
                .await
                .unwrap();
            assert_eq!(fee["fee"]["neuro"], "0.0002", "{}", n.rpc_url);
        }
    });

    // Every node: the same blocks, the change from the same height, equal state roots.
    let chains = stop_and_open(&mut nodes);
    assert!(assert_agree(&chains) > applied);
    for c in &chains {
        let l = c.ledger();
        assert_eq!(l.params().min_fee, "0.0002".parse().unwrap());
        assert_eq!(l.params().reward_per_sample, "0.00001".parse().unwrap());
        assert_eq!(
            l.genesis_params().unwrap().min_fee,
            "0.0001".parse().unwrap()
        );
    }
}
