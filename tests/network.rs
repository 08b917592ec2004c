//! Multi-node tests: real `neuroshard` processes on loopback, real RocksDB, Malachite consensus.
//! They run one at a time (a lock), since each starts several nodes on a small machine.

mod support;

use std::sync::Mutex;
use std::time::Duration;

use neuroshard_chain::node::Home;
use neuroshard_rpc::types::ValidatorEntry;
use neuroshard_runtime::TxBody;
use support::*;

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

const TESTNET: &str = "neuroshard-testnet-1";
const DEV: &str = "neuroshard-dev-1";
const MINUTE: Duration = Duration::from_secs(60);

/// Every node has the same block (hence parent hashes and previous state roots) at every height
/// up to the lowest node's height; returns that height.
fn assert_same_chain(nodes: &mut [NodeProc]) -> u64 {
    for n in nodes.iter_mut() {
        n.stop();
    }
    let chains: Vec<_> = nodes.iter().map(|n| n.open_chain()).collect();
    let top = chains.iter().map(|c| c.height()).min().unwrap();
    for h in 1..=top {
        let first = chains[0].store().block(h).unwrap().unwrap();
        for (i, c) in chains.iter().enumerate().skip(1) {
            let b = c.store().block(h).unwrap().unwrap();
            assert_eq!(b.hash(), first.hash(), "node {i} differs at height {h}");
            assert_eq!(b.header.prev_state_root, first.header.prev_state_root);
        }
    }
    // Nodes at the same height have the same state root.
    for c in &chains {
        if c.height() == chains[0].height() {
            assert_eq!(c.ledger().state_root(), chains[0].ledger().state_root());
        }
    }
    top
}

#[test]
fn four_validators_commit_the_same_blocks() {
    let _g = serial();
    let dir = TempDir::new("four");
    let mut nodes = testnet(&dir.0, 4, 200);
    rt().block_on(async {
        for n in &nodes {
            wait_height(n, 20, 2 * MINUTE).await;
        }
    });
    let top = assert_same_chain(&mut nodes);
    assert!(top >= 20, "only {top} heights in common");
}

#[test]
fn a_killed_validator_catches_up_by_sync() {
    let _g = serial();
    let dir = TempDir::new("catchup");
    let mut nodes = testnet(&dir.0, 4, 200);
    let rt = rt();
    rt.block_on(wait_height(&nodes[3], 3, 2 * MINUTE));
    nodes[3].kill9();
    let resumed_at = rt.block_on(async {
        let h = height(&nodes[0]).await;
        // The other three keep committing without it.
        for n in &nodes[..3] {
            wait_height(n, h + 15, MINUTE).await;
        }
        height(&nodes[0]).await
    });
    nodes[3].start();
    rt.block_on(async {
        wait_height(&nodes[3], resumed_at + 5, 2 * MINUTE).await;
    });
    let top = assert_same_chain(&mut nodes);
    assert!(top >= resumed_at + 5);
}

/// A validator that stays down is jailed for downtime (the others go on without it); restarted,
/// its node sends `Unjail` once its jail time has passed, and it has its power back.
#[test]
fn a_validator_down_is_jailed_and_its_node_unjails_it_when_back() {
    let _g = serial();
    let dir = TempDir::new("downtime");
    let mut g = neuroshard_runtime::Genesis::dev();
    g.params.downtime_window_blocks = 40;
    g.params.downtime_jail_ms = 5_000;
    let genesis = dir.0.join("genesis-downtime.json");
    std::fs::write(&genesis, g.to_json_pretty()).unwrap();
    let mut nodes = testnet_on(&dir.0, 4, 200, &genesis);
    let down = Home::new(&nodes[3].home)
        .load_validator_key()
        .unwrap()
        .address()
        .to_string();
    // Its entry in node 0's validator list once `done` holds for it.
    let entry_when = |node: &NodeProc, done: fn(&ValidatorEntry) -> bool| {
        let (down, client) = (down.clone(), node.client());
        async move {
            let vs = client.validators().await.ok()?;
            vs.into_iter().find(|v| v.address == down && done(v))
        }
    };
    let rt = rt();
    rt.block_on(wait_height(&nodes[3], 3, 2 * MINUTE));
    nodes[3].kill9();
    rt.block_on(async {
        let v = until("jailed for downtime", 2 * MINUTE, &[&nodes[0]], || {
            entry_when(&nodes[0], |v| v.down_until_ms.is_some())
        })
        .await;
        assert_eq!(v.power, 0);
        assert!(!v.jailed, "downtime is not misbehaviour");
        // The three others keep committing.
        let h = height(&nodes[0]).await;
        wait_height(&nodes[1], h + 10, MINUTE).await;
    });
    nodes[3].start();
    rt.block_on(async {
        until("unjailed", 2 * MINUTE, &[&nodes[3]], || {
            entry_when(&nodes[0], |v| v.down_until_ms.is_none() && v.power == 10)
        })
        .await;
        assert!(nodes[3].log_text().contains("unjailing this validator"));
        let h = height(&nodes[0]).await;
        wait_height(&nodes[3], h + 5, MINUTE).await;
    });
    assert_same_chain(&mut nodes);
}

#[test]
fn a_transfer_is_applied_once_wherever_it_is_sent() {
    let _g = serial();
    let dir = TempDir::new("transfer");
    let mut nodes = testnet(&dir.0, 4, 200);
    let wallet = key(1);
    let to = key(2).address();
    rt().block_on(async {
        wait_height(&nodes[0], 2, 2 * MINUTE).await;
        earn(&nodes[1], TESTNET, &wallet, &key(3)).await;
        // Every node has committed the reward (a lagging node rightly refuses an unfunded
        // transfer).
        for n in &nodes {
            let deadline = std::time::Instant::now() + MINUTE;
            while n
                .client()
                .account(&wallet.address())
                .await
                .map(|a| a.balance == "0")
                .unwrap_or(true)
            {
                assert!(std::time::Instant::now() < deadline, "{}", n.log_tail());
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        // Nonce 0: registering its node left the fresh wallet's nonce unused.
        let transfer = sign(
            TESTNET,
            &wallet,
            0,
            "0.0001",
            TxBody::Transfer {
                to,
                amount: "0.01".parse().unwrap(),
            },
        );
        // The same signed transfer to two nodes, and twice to one of them.
        let a = nodes[2]
            .client()
            .send_raw_transaction(&transfer)
            .await
            .unwrap();
        let b = nodes[3]
            .client()
            .send_raw_transaction(&transfer)
            .await
            .unwrap();
        let c = nodes[2]
            .client()
            .send_raw_transaction(&transfer)
            .await
            .unwrap();
        assert_eq!(a, b);
        assert_eq!(a, c);
        // Visible on every node.
        for n in &nodes {
            let deadline = std::time::Instant::now() + MINUTE;
            loop {
                let acct = n.client().account(&to).await.unwrap();
                if acct.balance_neuro == "0.01" {
                    break;
                }
                assert_eq!(acct.balance, "0", "credited more than once");
                assert!(std::time::Instant::now() < deadline, "{}", n.log_tail());
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        // Sent again after commit: still once.
        nodes[0]
            .client()
            .send_raw_transaction(&transfer)
            .await
            .unwrap();
        let h = height(&nodes[0]).await;
        wait_height(&nodes[0], h + 3, MINUTE).await;
    });
    assert_same_chain(&mut nodes);
    for n in &nodes {
        let chain = n.open_chain();
        assert_eq!(
            chain
                .ledger()
                .account(&to)
                .unwrap()
                .balance
                .to_neuro_string(),
            "0.01"
        );
        assert_eq!(chain.ledger().account(&wallet.address()).unwrap().nonce, 1);
    }
}

#[test]
fn a_killed_dev_node_loses_and_doubles_nothing() {
    let _g = serial();
    let dir = TempDir::new("devkill");
    let home = dir.0.join("dev");
    let mut node = dev_node(&home, 100);
    let wallet = key(4);
    let to = key(5).address();
    let rt = rt();
    const N: u64 = 200;
    let transfers: Vec<Vec<u8>> = (0..N)
        .map(|i| {
            sign(
                DEV,
                &wallet,
                i,
                "0.0001",
                TxBody::Transfer {
                    to,
                    amount: "0.0001".parse().unwrap(),
                },
            )
        })
        .collect();
    let seen = rt.block_on(async {
        wait_height(&node, 1, MINUTE).await;
        earn(&node, DEV, &wallet, &key(6)).await;
        // Stream transfers and kill the node in the middle of the stream.
        let client = node.client();
        for tx in &transfers[..(N as usize / 2)] {
            let _ = client.send_raw_transaction(tx).await;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        height(&node).await
    });
    node.kill9();
    let after_kill = {
        let chain = node.open_chain();
        assert!(chain.height() >= seen, "committed height went back");
        let paid = chain.ledger().account(&to).unwrap().balance.0;
        let nonce = chain.ledger().account(&wallet.address()).unwrap().nonce;
        // Every committed transfer is there exactly once: one payment per used nonce.
        assert_eq!(paid, u128::from(nonce) * 100_000_000_000_000);
        nonce
    };
    node.start();
    rt.block_on(async {
        wait_height(&node, seen + 1, MINUTE).await;
        // Resubmitting everything (committed or not) gets each transfer applied exactly once.
        let client = node.client();
        for tx in &transfers {
            let _ = client.send_raw_transaction(tx).await;
        }
        let deadline = std::time::Instant::now() + MINUTE;
        loop {
            let acct = client.account(&wallet.address()).await.unwrap();
            if acct.nonce == N {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{}", node.log_tail());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    node.stop();
    let chain = node.open_chain();
    assert!(after_kill <= N);
    assert_eq!(
        chain.ledger().account(&to).unwrap().balance.0,
        u128::from(N) * 100_000_000_000_000
    );
}

#[test]
fn a_double_signing_validator_is_reported_and_jailed() {
    let _g = serial();
    let dir = TempDir::new("doublesign");
    // Node3 runs Malachite's byzantine network proxy (`--byzantine-equivocate`): every vote it
    // casts goes out with a second, conflicting one for another block. Deterministic: every
    // height it votes at holds a conflicting pair, whichever arrives first.
    let homes = testnet_homes(&dir.0, 4, 200, &checked_genesis(&dir.0));
    let mut nodes: Vec<NodeProc> = homes
        .iter()
        .enumerate()
        .map(|(i, (home, rpc))| {
            let home_s = home.to_str().unwrap();
            let mut args = vec!["node", "--home", home_s, "--no-verify"];
            if i == 3 {
                args.push("--byzantine-equivocate");
            }
            NodeProc::spawn(&args, home, rpc)
        })
        .collect();
    let key = Home::new(&nodes[3].home).load_validator_key().unwrap();
    let offender = key.address().to_string();
    let jailed_at = rt().block_on(async {
        let client = nodes[0].client();
        let deadline = std::time::Instant::now() + 2 * MINUTE;
        loop {
            let validators = client.validators().await.unwrap_or_default();
            if validators.iter().any(|v| v.jailed) {
                for v in &validators {
                    assert_eq!(
                        v.jailed,
                        v.address == offender,
                        "wrong validator jailed: {v:?}"
                    );
                }
                break height(&nodes[0]).await;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no double sign reported; node0:\n{}\nnode3:\n{}",
                nodes[0].log_tail(),
                nodes[3].log_tail()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    // The three honest validators carry on without it.
    rt().block_on(async {
        for n in &nodes[..3] {
            wait_height(n, jailed_at + 5, MINUTE).await;
        }
    });
    nodes[3].kill9();
    let chain = {
        nodes[0].stop();
        nodes[0].open_chain()
    };
    let offender_addr: neuroshard_runtime::Address = offender.parse().unwrap();
    let record = chain
        .ledger()
        .validators()
        .unwrap()
        .into_iter()
        .find(|v| v.address == offender_addr)
        .unwrap();
    assert!(record.record.jailed);
    assert_eq!(record.record.power, 0);
}
