//! The network trains one model: a 4-validator testnet (`neuroshard testnet init`) whose nodes
//! each run `neuroshard --home` (chain, worker, validator round service), with short test rounds.
//! Real processes on loopback, real RocksDB, libtorch on CPU, the synthetic corpus (and once a
//! directory of real English text). One test at
//! a time.

#![cfg(feature = "training")]

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use neuroshard_chain::node::{Home, NodeConfig};
use neuroshard_runtime::{Genesis, SecretKey};
use serde_json::{json, Value};
use support::*;

/// Each test starts four training nodes: one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// The dev genesis with short rounds and short segments; `sample_bps` of proofs re-executed;
/// `corpus` (a directory of text, or `synthetic`) pinned as the training corpus.
fn genesis(dir: &Path, sample_bps: u16, corpus: &str) -> PathBuf {
    let mut g = Genesis::dev();
    let out = std::process::Command::new(BIN)
        .args(["genesis", "corpus", corpus])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let hash = String::from_utf8(out.stdout).unwrap();
    hex::decode_to_slice(hash.trim(), &mut g.params.training.corpus).unwrap();
    g.params.training.verify_sample_bps = sample_bps;
    g.params.training.inner_steps = 30;
    g.params.round_length_ms = 25_000;
    g.params.proof_interval_ms = 5_000;
    g.params.min_proof_interval_ms = 2_500;
    let path = dir.join("genesis-training.json");
    std::fs::write(&path, g.to_json_pretty()).unwrap();
    path
}

fn token(seed: u8) -> String {
    SecretKey::from_entropy(neuroshard_runtime::crypto::domain_hash(
        b"training-network-test",
        &[seed],
    ))
    .to_token()
}

/// Test misbehaviour in a testnet: which node attests wrong round results, which publishes
/// poisoned pseudo-gradients, and the share of proofs re-executed.
#[derive(Clone, Copy)]
struct Setup {
    liar: Option<usize>,
    poisoner: Option<usize>,
    sample_bps: u16,
    /// The training corpus genesis pins: `synthetic` or a directory of text.
    corpus: &'static str,
}

const HONEST: Setup = Setup {
    liar: None,
    poisoner: None,
    sample_bps: 10_000,
    corpus: "synthetic",
};

/// `testnet init` homes, each run by `neuroshard --home` with its own wallet token.
fn training_testnet(dir: &Path, setup: Setup) -> Vec<NodeProc> {
    let g = genesis(dir, setup.sample_bps, setup.corpus);
    testnet_homes(dir, 4, 500, &g)
        .into_iter()
        .enumerate()
        .map(|(i, (home, rpc))| {
            let t = token(i as u8);
            let mut args = vec!["--home", home.to_str().unwrap(), "--corpus", setup.corpus];
            if setup.liar == Some(i) {
                args.extend(["--cheat", "wrong-round-result"]);
            }
            if setup.poisoner == Some(i) {
                args.extend(["--cheat", "poison-gradient"]);
            }
            NodeProc::spawn_env(
                &args,
                &[
                    ("NEUROSHARD_TOKEN", t.as_str()),
                    ("NEUROSHARD_LOG", "info,arc_malachitebft_core_consensus=warn,arc_malachitebft_engine=off,arc_malachitebft_sync=error,arc_malachitebft_network=off,neuroshard_chain::node::app=warn"),
                ],
                &home,
                &rpc,
            )
        })
        .collect()
}

async fn call(node: &NodeProc, method: &str, params: Vec<Value>) -> Value {
    node.client()
        .call(method, params)
        .await
        .unwrap_or_else(|e| panic!("{method}: {e}\n{}", node.log_tail()))
}

async fn round(node: &NodeProc, r: u64) -> Value {
    call(node, "neuro_getTrainingRound", vec![json!(r)]).await
}

fn loss(r: &Value) -> f64 {
    r["evalLoss"].as_str().unwrap().parse().unwrap()
}

/// Waits until every node's open round is at least `n`.
async fn rounds_closed(nodes: &[NodeProc], n: u64, timeout: Duration) {
    let started = std::time::Instant::now();
    for node in nodes {
        loop {
            // A node still starting answers nothing yet.
            let open = node
                .client()
                .call("neuro_getTrainingRound", vec![])
                .await
                .unwrap_or_default();
            if open["round"].as_u64().is_some_and(|r| r >= n) {
                break;
            }
            assert!(
                started.elapsed() < timeout,
                "round {n} not reached: open round {}\n{}",
                open["round"],
                nodes
                    .iter()
                    .map(|n| n.log_tail())
                    .collect::<Vec<_>>()
                    .join("\n---\n")
            );
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

/// Half the proofs drawn for re-execution, one node attesting wrong results, one publishing
/// pseudo-gradients times −100: every round aggregates every proof that is not voided, all four
/// agree on every result, and the held-out loss still falls.
#[test]
fn four_validators_aggregate_every_proof_outvote_a_liar_and_tame_a_poisoner() {
    let _serial = serial();
    let dir = TempDir::new("training-network");
    let liar = 3;
    let poisoner = 2;
    let nodes = training_testnet(
        &dir.0,
        Setup {
            liar: Some(liar),
            poisoner: Some(poisoner),
            // A quarter drawn: each round the poisoner's first segment goes undrawn (and into
            // the aggregate, which has to tame it) with chance 3/4 or more, so four rounds
            // without one happen in under 1% of runs (at half drawn, in 6%).
            sample_bps: 2_500,
            corpus: "synthetic",
        },
    );
    rt().block_on(async {
        // Round 0 opened at the (past) genesis time and closes at once; 4 more with training.
        rounds_closed(&nodes, 5, Duration::from_secs(420)).await;
        let liar_address = Home::new(&nodes[liar].home)
            .load_validator_key()
            .unwrap()
            .address()
            .to_string();
        let poisoner_wallet = SecretKey::from_hex_token(&token(poisoner as u8))
            .unwrap()
            .address()
            .to_string();
        let (mut undrawn_included, mut poison_included, mut chained) = (0, 0, 0);
        // Shared replay: verdicts on the honest drawn proofs that were verified.
        let (mut drawn_verified, mut replay_verdicts) = (0, 0);
        let mut losses = Vec::new();
        for r in 0..5 {
            let first = round(&nodes[0], r).await;
            // Every node records the same result.
            for n in &nodes[1..] {
                let other = round(n, r).await;
                assert_eq!(other["nextModel"], first["nextModel"], "round {r}");
                assert_eq!(other["included"], first["included"], "round {r}");
                assert_eq!(other["evalLoss"], first["evalLoss"], "round {r}");
            }
            // Every training proof that is not voided is in the aggregate, whether it was drawn
            // for re-execution or not (then its pseudo-gradient came from the node that trained
            // it, as a blob). The poisoner's drawn proofs are voided and left out; its undrawn
            // ones go in, and the robust aggregation has to tame them.
            // A worker's segments of a round form one chain (each continues the previous
            // one's inner state); a segment that continues a left-out one is left out too.
            let proofs = first["proofs"].as_array().unwrap();
            let included = first["included"].as_array().unwrap();
            let mut left_out = Vec::new();
            for h in first["trained"].as_array().unwrap() {
                let p = proofs.iter().find(|p| p["hash"] == *h).unwrap();
                let voided = p["status"] == json!("voided");
                let orphaned = left_out.contains(&p["previousSegment"]);
                assert_eq!(included.contains(h), !voided && !orphaned, "round {r}: {p}");
                if voided || orphaned {
                    left_out.push(h.clone());
                }
                if p["previousSegment"].is_string() {
                    chained += 1;
                }
                let poisoned = p["wallet"].as_str() == Some(poisoner_wallet.as_str());
                match (p["sampled"].as_bool(), poisoned) {
                    (Some(true), true) => assert!(voided, "round {r}: {p}"),
                    (Some(false), true) if !orphaned => poison_included += 1,
                    (Some(false), true) => {}
                    (Some(false), false) => undrawn_included += 1,
                    (Some(true), false) => {
                        assert!(!voided, "round {r}: {p}");
                        // Four validators of 10: two hold more than a third of the power.
                        assert_eq!(p["replayers"].as_array().unwrap().len(), 2, "{p}");
                        if p["status"] == json!("verified") || p["status"] == json!("paid") {
                            drawn_verified += 1;
                            replay_verdicts += p["verdicts"].as_array().unwrap().len();
                        }
                    }
                    (None, _) => panic!("round {r}: a proof never drawn: {p}"),
                }
            }
            // Adopted by the three honest validators; the liar's attestation, if it made one
            // before adoption, is not the adopted result.
            let close = &first["close"];
            assert!(
                close["attestedPower"].as_u64().unwrap() * 3 > 2 * 40,
                "{close}"
            );
            for a in first["attestations"].as_array().unwrap() {
                let is_liar = a["validator"].as_str() == Some(liar_address.as_str());
                assert_eq!(a["result"] == close["result"], !is_liar, "round {r}: {a}");
            }
            // The next round trains the adopted model.
            let next = round(&nodes[0], r + 1).await;
            assert_eq!(next["model"], first["nextModel"]);
            losses.push(loss(&first));
        }
        eprintln!(
            "held-out loss per round: {losses:?}; undrawn proofs aggregated: {undrawn_included} \
             honest, {poison_included} poisoned; {chained} segments continued a previous one; \
             {replay_verdicts} verdicts on {drawn_verified} verified drawn proofs"
        );
        // Each drawn proof was re-executed by its replayers, not by all four validators.
        assert!(drawn_verified > 0);
        assert!(
            replay_verdicts < 4 * drawn_verified,
            "{replay_verdicts} verdicts on {drawn_verified} drawn proofs: every validator replayed"
        );
        assert!(undrawn_included > 0 && poison_included > 0);
        // Workers carry their inner optimizer across the segments of a round.
        assert!(chained > 0);
        let trained: u64 = {
            let mut t = 0;
            for r in 1..5 {
                t += round(&nodes[0], r).await["trainedCount"].as_u64().unwrap();
            }
            t
        };
        assert!(trained >= 4, "only {trained} training proofs in rounds 1-4");
        let last = *losses.last().unwrap();
        assert!(
            last < 0.9 * losses[0],
            "held-out loss did not fall 10%: {losses:?}"
        );
    });
}

/// Where real English text is on every Debian system (the licence texts of `base-files`, about
/// 260 KB): the same directory `neuroshard_client::spec::DEBIAN_CORPUS` names.
const DEBIAN_TEXT: &str = "/usr/share/common-licenses";

/// The same network on real text: genesis pins a directory of English (its hash, as
/// `neuroshard genesis corpus DIR` prints it), every node trains it, and the held-out loss of
/// the adopted model (on the directory's last file, never trained on) falls below round 0's.
#[test]
fn the_network_learns_a_pinned_directory_of_real_text() {
    let _serial = serial();
    assert!(
        Path::new(DEBIAN_TEXT).is_dir(),
        "{DEBIAN_TEXT} is missing: Debian's base-files installs it"
    );
    let dir = TempDir::new("training-text");
    let nodes = training_testnet(
        &dir.0,
        Setup {
            sample_bps: 5_000,
            corpus: DEBIAN_TEXT,
            ..HONEST
        },
    );
    rt().block_on(async {
        rounds_closed(&nodes, 4, Duration::from_secs(300)).await;
        let mut losses = Vec::new();
        for r in 0..4 {
            let result = round(&nodes[0], r).await;
            for n in &nodes[1..] {
                assert_eq!(
                    round(n, r).await["evalLoss"],
                    result["evalLoss"],
                    "round {r}"
                );
            }
            losses.push(loss(&result));
        }
        eprintln!("held-out loss per round on real text: {losses:?}");
        let trained: u64 = {
            let mut t = 0;
            for r in 1..4 {
                t += round(&nodes[0], r).await["trainedCount"].as_u64().unwrap();
            }
            t
        };
        assert!(trained >= 4, "only {trained} training proofs in rounds 1-3");
        assert!(
            losses[3] < losses[0],
            "held-out loss on real text did not fall: {losses:?}"
        );
    });
}

/// kill -9 one validator: the other three close the next rounds without it. Restarted, it syncs
/// the chain and catches up on the rounds it missed: it fetches the adopted model and momentum
/// from peers, or recomputes each adopted result from the chain (the included pseudo-gradients
/// fetched by the hashes their proofs name, or re-executed), then holds the same training record.
#[test]
fn rounds_keep_closing_while_a_validator_is_killed_and_it_catches_up_on_restart() {
    let _serial = serial();
    let dir = TempDir::new("training-kill");
    // Half the proofs re-executed: to catch up, the restarted validator fetches the others'
    // pseudo-gradients from peers.
    let mut nodes = training_testnet(
        &dir.0,
        Setup {
            sample_bps: 5_000,
            ..HONEST
        },
    );
    rt().block_on(rounds_closed(&nodes, 2, Duration::from_secs(300)));
    nodes[0].kill9();
    let rt = rt();
    let open = rt.block_on(async {
        let open = round_now(&nodes[1]).await;
        // No round waits on one validator: the other three close two more. A drawn proof that
        // fell to the killed validator is verified by its other replayer and, once that is
        // not enough, by a validator that re-executes it in its place.
        rounds_closed(&nodes[1..], open + 2, Duration::from_secs(240)).await;
        round_now(&nodes[1]).await
    });
    let stood_in = nodes[1..]
        .iter()
        .any(|n| n.log_text().contains("its replayers have not decided it"));
    assert!(
        stood_in,
        "no validator re-executed a proof in the killed replayer's place"
    );
    nodes[0].start();
    rt.block_on(async {
        rounds_closed(&nodes[..1], open, Duration::from_secs(180)).await;
        // Restarted, it holds the same training record as the others for every closed round.
        for r in 0..open {
            let (a, b) = (round(&nodes[0], r).await, round(&nodes[1], r).await);
            assert_eq!(a["nextModel"], b["nextModel"], "round {r}");
            assert_eq!(a["evalLoss"], b["evalLoss"], "round {r}");
            assert!(!a["nextModel"].is_null(), "round {r} not closed: {a}");
        }
        // And it recomputed the models it missed: it holds the open round's model, so it can
        // judge that round's proofs again.
        let model = round(&nodes[1], open).await["model"]
            .as_str()
            .unwrap()
            .trim_start_matches("0x")
            .to_owned();
        let file = Home::new(&nodes[0].home)
            .models()
            .join(format!("{model}.safetensors"));
        let deadline = std::time::Instant::now() + Duration::from_secs(180);
        while !file.exists() {
            assert!(
                std::time::Instant::now() < deadline,
                "the restarted validator never caught up to model {model}\n{}",
                nodes[0].log_tail()
            );
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        // With the momentum its next attestation starts from, fetched from peers (or recomputed).
        let momentum = round(&nodes[1], open).await["momentum"]
            .as_str()
            .unwrap()
            .trim_start_matches("0x")
            .to_owned();
        // (Written just after the model: wait for it within the same deadline.)
        let momentum_file = Home::new(&nodes[0].home)
            .models()
            .join(format!("momentum-{momentum}.safetensors"));
        while !momentum_file.exists() {
            assert!(
                std::time::Instant::now() < deadline,
                "the restarted validator holds model {model} but never momentum {momentum}\n{}",
                nodes[0].log_tail()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let log = nodes[0].log_text();
        assert!(
            log.contains("fetched a blob from peers") || log.contains("caught up"),
            "{log}"
        );
    });
}

async fn round_now(node: &NodeProc) -> u64 {
    call(node, "neuro_getTrainingRound", vec![]).await["round"]
        .as_u64()
        .unwrap()
}

/// A home for a full node that joins the running testnet `nodes` with a key no validator set
/// names (it follows consensus; it does not vote), and its RPC URL.
fn joining_home(dir: &Path, name: &str, nodes: &[NodeProc], seed: u8) -> (Home, String) {
    let configs: Vec<NodeConfig> = nodes
        .iter()
        .map(|n| Home::new(&n.home).load_config().unwrap())
        .collect();
    let home = Home::new(dir.join(name));
    let base = free_base_port(1);
    let mut config = NodeConfig::local(name, base, base + 1, base + 3);
    config.p2p.persistent_peers = configs.iter().map(|c| c.p2p.listen.clone()).collect();
    config.gossip.peers = configs.iter().map(|c| c.gossip.listen.clone()).collect();
    config.consensus = configs[0].consensus.clone();
    let genesis = std::fs::read_to_string(Home::new(&nodes[0].home).genesis()).unwrap();
    home.init(
        &config,
        &genesis,
        &SecretKey::from_entropy([seed; 32]),
        [seed + 1; 32],
    )
    .unwrap();
    (home, format!("http://127.0.0.1:{}", base + 1))
}

/// A full node that joins after round 2, with nothing but its peers to get models and data
/// from: genesis pins a corpus only the validators hold (four licence texts copied to a
/// directory of the test's), so it fetches the corpus by the pinned manifest hash, then the open
/// round's model and momentum from its peers as the blobs the adopted result names, and its
/// proofs on that model are accepted and verified. An inference-only node (`--no-training`)
/// joining at the same time fetches the round's model the same way and sells inference with it.
#[test]
fn a_node_joining_later_fetches_the_model_from_peers_and_its_proofs_are_accepted() {
    let _serial = serial();
    let dir = TempDir::new("training-join");
    let corpus = dir.0.join("corpus");
    std::fs::create_dir_all(&corpus).unwrap();
    for name in ["Apache-2.0", "BSD", "GPL-2", "MPL-2.0"] {
        std::fs::copy(Path::new(DEBIAN_TEXT).join(name), corpus.join(name)).unwrap();
    }
    let corpus: &'static str = Box::leak(corpus.to_str().unwrap().to_owned().into_boxed_str());
    let nodes = training_testnet(&dir.0, Setup { corpus, ..HONEST });
    rt().block_on(rounds_closed(&nodes, 3, Duration::from_secs(300)));
    let (home, late_rpc) = joining_home(&dir.0, "late", &nodes, 42);
    let t = token(9);
    let wallet = SecretKey::from_hex_token(&t).unwrap().address().to_string();
    // No `--corpus`: nothing on this machine matches the pin.
    let mut late = NodeProc::spawn_env(
        &["--home", home.dir.to_str().unwrap()],
        &[("NEUROSHARD_TOKEN", t.as_str())],
        &home.dir,
        &late_rpc,
    );
    let (reader_home, reader_rpc) = joining_home(&dir.0, "reader", &nodes, 52);
    let mut reader = NodeProc::spawn_env(
        &[
            "--home",
            reader_home.dir.to_str().unwrap(),
            "--no-training",
            "--inference-price",
            "0.0001",
        ],
        &[("NEUROSHARD_TOKEN", token(10).as_str())],
        &reader_home.dir,
        &reader_rpc,
    );
    rt().block_on(async {
        let deadline = std::time::Instant::now() + Duration::from_secs(240);
        let verified = loop {
            let page = call(
                &nodes[0],
                "neuro_getProofs",
                vec![json!(wallet), json!({"limit": 20})],
            )
            .await;
            let found = page["items"].as_array().unwrap().iter().find(|i| {
                let p = &i["proof"];
                p["batches"].as_u64() > Some(0)
                    && p["round"].as_u64() >= Some(3)
                    && p["verdicts"].as_array().is_some_and(|v| !v.is_empty())
            });
            if let Some(item) = found {
                break item.clone();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no verified training proof from the late node\n{}",
                late.log_tail()
            );
            tokio::time::sleep(Duration::from_secs(1)).await;
        };
        let p = &verified["proof"];
        assert!(
            p["verdicts"]
                .as_array()
                .unwrap()
                .iter()
                .all(|v| v["valid"] == json!(true)),
            "{p}"
        );
        assert_ne!(p["status"], json!("voided"));
        // It fetched the corpus, so it names the validator node that served it the most as its
        // data server, which is paid the data reward of its batches' samples (4 per batch, at
        // 0.00001 NEURO each) with the proof.
        let server = &p["dataServer"];
        assert!(server["node"].is_string(), "no data server named: {p}");
        assert_ne!(server["node"], p["node"], "{p}");
        assert_ne!(server["wallet"], json!(wallet), "{p}");
        let batches = u128::from(p["batches"].as_u64().unwrap());
        assert_eq!(
            p["dataGross"]["base"],
            json!((batches * 4 * 10_000_000_000_000).to_string()),
            "{p}"
        );
        // Its model came from peers: it was never computed on this node.
        let model = p["modelVersion"].as_str().unwrap().trim_start_matches("0x");
        assert!(home.models().join(format!("{model}.safetensors")).exists());
        let log = late.log_text();
        assert!(log.contains("fetched a blob from peers"), "{log}");
        assert!(
            log.contains("fetched the pinned corpus from peers"),
            "{log}"
        );

        // The inference-only node holds a round's model it never computed, fetched from peers.
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        loop {
            let open = call(&nodes[0], "neuro_getTrainingRound", vec![]).await;
            let model = open["model"].as_str().unwrap().trim_start_matches("0x");
            if reader_home
                .models()
                .join(format!("{model}.safetensors"))
                .exists()
            {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the inference-only node never fetched the open round's model\n{}",
                reader.log_tail()
            );
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        assert!(
            reader.log_text().contains("to serve inference"),
            "{}",
            reader.log_tail()
        );
        // It proves its uptime with liveness answers on that model and the corpus it fetched,
        // and a validator replays one and finds it valid (every proof is drawn here).
        let reader_wallet = SecretKey::from_hex_token(&token(10))
            .unwrap()
            .address()
            .to_string();
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        let uptime = loop {
            let page = call(
                &nodes[0],
                "neuro_getProofs",
                vec![json!(reader_wallet), json!({"limit": 20})],
            )
            .await;
            let verified = page["items"].as_array().unwrap().iter().find(|i| {
                let p = &i["proof"];
                p["uptimeSecs"].as_u64() > Some(0)
                    && p["verdicts"].as_array().is_some_and(|v| !v.is_empty())
            });
            if let Some(item) = verified {
                break item["proof"].clone();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no replayed uptime proof from the inference-only node\n{}",
                reader.log_tail()
            );
            tokio::time::sleep(Duration::from_secs(1)).await;
        };
        assert_eq!(uptime["batches"], json!(0), "{uptime}");
        assert!(
            uptime["verdicts"]
                .as_array()
                .unwrap()
                .iter()
                .all(|v| v["valid"] == json!(true)),
            "{uptime}"
        );
        // A validator's wallet, paid for its verified proofs, buys an inference from it.
        let buyer = token(0);
        let buyer_address = SecretKey::from_hex_token(&buyer)
            .unwrap()
            .address()
            .to_string();
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        while call(&nodes[0], "neuro_getAccount", vec![json!(buyer_address)]).await["balance"]
            .as_str()
            .unwrap()
            .parse::<u128>()
            .unwrap()
            < 10u128.pow(16)
        {
            assert!(
                std::time::Instant::now() < deadline,
                "the buyer earned nothing spendable"
            );
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let out = std::process::Command::new(BIN)
            .args([
                "infer",
                "--prompt",
                "The ",
                "--max-tokens",
                "4",
                "--json",
                "--node",
                &reader_rpc,
            ])
            .env("NEUROSHARD_TOKEN", &buyer)
            .env("NEUROSHARD_HOME", dir.0.join("buyer"))
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout}\n{}\n{}",
            String::from_utf8_lossy(&out.stderr),
            reader.log_tail()
        );
        let answer: Value = serde_json::from_str(stdout.trim()).unwrap();
        assert!(answer["text"].is_string(), "{answer}");
    });
    reader.stop();
    late.stop();
}
