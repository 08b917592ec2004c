//! The node's chain state on a real RocksDB: blocks apply atomically with their state, survive
//! reopening and `kill -9`, and bad blocks or foreign data directories are refused.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use neuroshard_chain::{Block, ChainError, ChainState};
use neuroshard_runtime::proof::{Proof, Role, WorkMetrics};
use neuroshard_runtime::tx::node_registration_digest;
use neuroshard_runtime::*;

fn genesis() -> Genesis {
    let mut g = Genesis::dev();
    g.params.reward_per_batch = Amount::neuro(1);
    g.params.diminishing_tier = Amount::neuro(1_000_000);
    // Every proof is drawn for re-execution; `fund` verifies its own with the dev validator.
    g.params.training.verify_sample_bps = 10_000;
    g
}

fn key(n: u8) -> SecretKey {
    SecretKey::from_bytes(&[n; 32]).unwrap()
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ns-chain-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn sign(chain: &ChainState, who: &SecretKey, nonce_offset: u64, body: TxBody) -> VerifiedTx {
    let nonce = chain.ledger().account(&who.address()).unwrap().nonce + nonce_offset;
    let fee = if body.is_fee_exempt() {
        Amount::ZERO
    } else {
        chain.ledger().params().min_fee
    };
    Transaction {
        chain_id: chain.ledger().chain_id().into(),
        nonce,
        fee,
        body,
    }
    .sign(who)
    .verify()
    .unwrap()
}

fn next_block(chain: &mut ChainState, txs: &[VerifiedTx], advance_ms: u64) -> Block {
    let time = chain.ledger().last_block_time_ms() + advance_ms;
    chain.propose(txs, time, Address([7; 20]), None).unwrap()
}

/// Registers a node for `wallet` and proves enough work to fund it (two blocks).
fn fund(chain: &mut ChainState, wallet: &SecretKey) {
    let node = key(200);
    let consent = node.sign_digest(&node_registration_digest(
        chain.ledger().chain_id(),
        &wallet.address(),
    ));
    let reg = sign(
        chain,
        wallet,
        0,
        TxBody::RegisterNode {
            node_key: node.public_key(),
            node_signature: consent,
            expires_ms: neuroshard_runtime::tx::registration_expiry(
                chain.ledger().params(),
                chain.ledger().last_block_time_ms(),
            ),
        },
    );
    let b = next_block(chain, &[reg], 1_000);
    chain.apply(&b).unwrap();
    let time = chain.ledger().last_block_time_ms() + 10_000;
    let training = chain.ledger().training().unwrap();
    let data_seed = chain
        .ledger()
        .node(&node.address())
        .unwrap()
        .unwrap()
        .data_seed;
    let proof = Proof {
        role: Role::Driver,
        layer_start: 0,
        layer_end: 4,
        round: training.round,
        model_version: training.model_version,
        data_seed,
        data_shard: chain.ledger().params().training.corpus,
        pseudo_gradient: [0; 32],
        start_state: [0; 32],
        end_state: [0; 32],
        first_batch: 0,
        metrics: WorkMetrics {
            batches: 500,
            ..Default::default()
        },
        data_server: None,
        timestamp_ms: time,
    };
    let p = sign(chain, &node, 0, TxBody::SubmitProof(proof));
    let id = p.hash();
    let b = chain.propose(&[p], time, Address([7; 20]), None).unwrap();
    chain.apply(&b).unwrap();
    // Drawn in the next block (a proposer that is no validator spoils its draw window, so every
    // proof in it is drawn); the dev validator re-executes it and finds it valid.
    let b = next_block(chain, &[], 1_000);
    chain.apply(&b).unwrap();
    let validator =
        SecretKey::from_hex_token(neuroshard_runtime::genesis::DEV_VALIDATOR_TOKEN).unwrap();
    let verdict = sign(
        chain,
        &validator,
        0,
        TxBody::Verdict {
            proof: id,
            valid: true,
        },
    );
    let b = next_block(chain, &[verdict], 1_000);
    chain.apply(&b).unwrap();
    // Paid into the bond when the challenge window ends, released a bond period later.
    let window = chain.ledger().params().challenge_window_ms;
    let b = next_block(chain, &[], window);
    chain.apply(&b).unwrap();
    let bond = chain.ledger().params().bond_period_ms;
    let b = next_block(chain, &[], bond);
    chain.apply(&b).unwrap();
    assert_eq!(
        chain.ledger().account(&wallet.address()).unwrap().balance,
        Amount::neuro(500)
    );
}

fn transfers(chain: &ChainState, from: &SecretKey, n: u64) -> Vec<VerifiedTx> {
    (0..n)
        .map(|i| {
            sign(
                chain,
                from,
                i,
                TxBody::Transfer {
                    to: key(50).address(),
                    amount: Amount(1 + i as u128),
                },
            )
        })
        .collect()
}

#[test]
fn blocks_apply_persist_and_reopen() {
    let dir = tmp("reopen");
    let alice = key(1);
    let (height, root, hash) = {
        let mut chain = ChainState::open(&dir, &genesis()).unwrap();
        fund(&mut chain, &alice);
        let txs = transfers(&chain, &alice, 5);
        let block = next_block(&mut chain, &txs, 1_000);
        assert_eq!(block.txs.len(), 5);
        let applied = chain.apply(&block).unwrap();
        assert!(applied.receipts.iter().all(|r| r.result.is_ok()));
        let loc = chain.store().tx_location(&txs[3].hash()).unwrap().unwrap();
        // Funding took 6 blocks (registration, proof, draw, verdict, maturity, release).
        assert_eq!((loc.height, loc.position), (7, 3));
        // Each committed transaction reads back on its own, byte for byte; an unknown hash is
        // none.
        for tx in &txs {
            assert_eq!(
                chain.store().transaction(&tx.hash()).unwrap(),
                Some(tx.signed().encode())
            );
        }
        assert_eq!(chain.store().transaction(&[9; 32]).unwrap(), None);
        assert_eq!(
            chain.store().block_height_by_hash(&applied.hash).unwrap(),
            Some(7)
        );
        (
            chain.height(),
            chain.ledger().state_root(),
            chain.last_hash(),
        )
    };
    let chain = ChainState::open(&dir, &genesis()).unwrap();
    assert_eq!(
        (
            chain.height(),
            chain.ledger().state_root(),
            chain.last_hash()
        ),
        (height, root, hash)
    );
    assert_eq!(chain.store().block(7).unwrap().unwrap().hash(), hash);
    assert_eq!(
        chain.ledger().account(&key(50).address()).unwrap().balance,
        Amount(1 + 2 + 3 + 4 + 5)
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn proposals_leave_out_invalid_transactions_and_bad_blocks_are_refused() {
    let dir = tmp("bad");
    let alice = key(1);
    let mut chain = ChainState::open(&dir, &genesis()).unwrap();
    fund(&mut chain, &alice);
    let good = transfers(&chain, &alice, 2);
    let broke = sign(
        &chain,
        &key(9),
        0,
        TxBody::Transfer {
            to: key(50).address(),
            amount: Amount(1),
        },
    );
    let block = next_block(
        &mut chain,
        &[good[0].clone(), broke, good[0].clone(), good[1].clone()],
        1_000,
    );
    assert_eq!(
        block.txs.len(),
        2,
        "the unfunded sender and the duplicate are left out"
    );
    let root = chain.ledger().state_root();

    let mut wrong_parent = block.clone();
    wrong_parent.header.parent_hash = [1; 32];
    let mut wrong_state = block.clone();
    wrong_state.header.prev_state_root = [1; 32];
    let mut wrong_height = block.clone();
    wrong_height.header.height += 1;
    let mut tampered = block.clone();
    tampered.txs.swap(0, 1);
    let mut replay = block.clone();
    replay.txs = vec![block.txs[0].clone(), block.txs[0].clone()];
    replay.header.txs_root = neuroshard_chain::block::txs_root(&replay.txs);
    for bad in [wrong_parent, wrong_state, tampered, replay] {
        assert!(
            matches!(chain.apply(&bad), Err(ChainError::InvalidBlock(_))),
            "{:?}",
            chain.apply(&bad)
        );
        assert_eq!(
            chain.ledger().state_root(),
            root,
            "a refused block changes nothing"
        );
    }
    assert!(matches!(
        chain.apply(&wrong_height),
        Err(ChainError::UnexpectedHeight { .. })
    ));
    chain.validate(&block).unwrap();
    chain.apply(&block).unwrap();
    assert!(
        matches!(
            chain.apply(&block),
            Err(ChainError::UnexpectedHeight { .. })
        ),
        "applying twice"
    );
    assert!(Block::decode(&[0xff; 40]).is_err());
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn foreign_and_mismatched_data_dirs_are_refused() {
    let dir = tmp("foreign");
    ChainState::open(&dir, &genesis()).unwrap();
    let mut other = genesis();
    other.chain_id = "another-chain".into();
    let err = ChainState::open(&dir, &other).err().unwrap();
    assert!(matches!(err, ChainError::ForeignDataDir { .. }), "{err}");
    assert!(err.to_string().contains("another-chain"));

    let junk = tmp("junk");
    std::fs::create_dir_all(&junk).unwrap();
    std::fs::write(junk.join("notes.txt"), "my files").unwrap();
    assert!(matches!(
        ChainState::open(&junk, &genesis()),
        Err(ChainError::ForeignDataDir { .. })
    ));
    assert_eq!(
        std::fs::read_to_string(junk.join("notes.txt")).unwrap(),
        "my files",
        "nothing overwritten"
    );

    // A damaged database is an error, not a panic.
    std::fs::write(dir.join("CURRENT"), "garbage\n").unwrap();
    assert!(ChainState::open(&dir, &genesis()).is_err());
    std::fs::remove_dir_all(dir).ok();
    std::fs::remove_dir_all(junk).ok();
}

#[test]
fn an_interrupted_first_start_leaves_nothing_that_blocks_the_next() {
    // What a first start killed while RocksDB was creating its files leaves behind.
    let dir = tmp("interrupted");
    let staging = PathBuf::from(format!("{}.new", dir.display()));
    std::fs::create_dir_all(&staging).unwrap();
    for f in ["LOCK", "LOG", "IDENTITY", "000004.log"] {
        std::fs::write(staging.join(f), "half written").unwrap();
    }
    let chain = ChainState::open(&dir, &genesis()).unwrap();
    assert_eq!(chain.height(), 0);
    assert!(!staging.exists(), "the staging directory is discarded");
    drop(chain);
    assert_eq!(ChainState::open(&dir, &genesis()).unwrap().height(), 0);

    // An empty data directory (made by hand, say) is a new database too.
    let empty = tmp("empty");
    std::fs::create_dir_all(&empty).unwrap();
    assert_eq!(ChainState::open(&empty, &genesis()).unwrap().height(), 0);
    std::fs::remove_dir_all(dir).ok();
    std::fs::remove_dir_all(empty).ok();
}

#[test]
fn a_home_runs_in_one_process_at_a_time() {
    let home = neuroshard_chain::node::Home::new(tmp("locked-home"));
    let first = home.lock().unwrap();
    let second = home.lock().unwrap_err();
    assert!(second.to_string().contains("in use"), "{second}");
    drop(first);
    let again = home.lock().expect("a released home can be claimed again");
    drop(again);
    std::fs::remove_dir_all(&home.dir).ok();
}

/// Replays every stored block into a fresh in-memory ledger and checks it reaches the same state,
/// and that no transaction was included twice.
fn replay_matches(dir: &Path) -> u64 {
    let chain = ChainState::open(dir, &genesis()).unwrap();
    let mut fresh = Ledger::init_chain(MemoryStorage::new(), &genesis()).unwrap();
    let mut seen = std::collections::HashSet::new();
    for h in 1..=chain.height() {
        let block = chain
            .store()
            .block(h)
            .unwrap()
            .expect("every committed height has its block");
        assert_eq!(block.header.prev_state_root, fresh.state_root());
        let hd = &block.header;
        fresh
            .begin_block(BlockHeader {
                height: hd.height,
                time_ms: hd.time_ms,
                proposer: hd.proposer,
                beacon: hd.beacon,
            })
            .unwrap();
        for raw in &block.txs {
            assert!(
                seen.insert(neuroshard_chain::block::tx_hash(raw)),
                "transaction applied twice"
            );
            fresh
                .deliver_tx(&SignedTransaction::decode(raw).unwrap().verify().unwrap())
                .unwrap();
        }
        fresh.end_block().unwrap();
        fresh.commit().unwrap();
    }
    assert_eq!(
        fresh.state_root(),
        chain.ledger().state_root(),
        "stored blocks reproduce the stored state"
    );
    chain.height()
}

/// Run by `kill_9_during_commits_loses_nothing_and_doubles_nothing` as a child process.
#[test]
#[ignore = "child process of the kill -9 test"]
fn crash_writer() {
    let dir = PathBuf::from(std::env::var("NEUROSHARD_CRASH_DIR").expect("NEUROSHARD_CRASH_DIR"));
    let alice = key(1);
    let mut chain = ChainState::open(&dir, &genesis()).unwrap();
    if chain.height() == 0 {
        fund(&mut chain, &alice);
    }
    loop {
        let txs = transfers(&chain, &alice, 20);
        let block = next_block(&mut chain, &txs, 1_000);
        chain.apply(&block).unwrap();
        println!("committed {}", chain.height());
    }
}

#[test]
fn kill_9_during_commits_loses_nothing_and_doubles_nothing() {
    let dir = tmp("crash");
    let exe = std::env::current_exe().unwrap();
    let mut last = 0;
    for round in 0..4u64 {
        let mut child = Command::new(&exe)
            .args([
                "--ignored",
                "--exact",
                "crash_writer",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("NEUROSHARD_CRASH_DIR", &dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(700 + 137 * round));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let height = replay_matches(&dir);
        assert!(height >= last, "height went back from {last} to {height}");
        last = height;
    }
    eprintln!("kill -9 test: reached height {last} across 4 kills");
    assert!(
        last > 2,
        "the writer committed blocks between kills (reached {last})"
    );
    std::fs::remove_dir_all(dir).ok();
}
