//! Proof of Neural Work end to end: `neuroshard` processes that train a tiny model on CPU, prove
//! their work, and are paid (or caught) by a validator that re-executes it. Real processes on
//! loopback, real RocksDB, real libtorch. The genesis re-executes every proof (sampling 100%).

#![cfg(feature = "training")]

mod support;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use neuroshard_runtime::proof::{Proof, Role, WorkMetrics};
use neuroshard_runtime::tx::node_registration_digest;
use neuroshard_runtime::{Genesis, SecretKey, TxBody};
use serde_json::{json, Value};
use support::*;

/// The tests start CPU-heavy processes: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// The dev genesis with every proof re-executed, optionally changed further.
fn genesis(dir: &Path, tweak: impl FnOnce(&mut Genesis)) -> PathBuf {
    let mut g = Genesis::dev();
    g.params.training.verify_sample_bps = 10_000;
    tweak(&mut g);
    let path = dir.join("genesis.json");
    std::fs::write(&path, g.to_json_pretty()).unwrap();
    path
}

fn token(seed: u8) -> String {
    SecretKey::from_entropy(neuroshard_runtime::crypto::domain_hash(
        b"ponw-test",
        &[seed],
    ))
    .to_token()
}

fn wallet_of(token: &str) -> String {
    SecretKey::from_hex_token(token)
        .unwrap()
        .address()
        .to_string()
}

/// A `neuroshard` node process under `ns_home`, training on the synthetic corpus. The first one
/// started under a home runs the dev validator; later ones join it.
fn node(
    ns_home: &Path,
    name: &str,
    base: u16,
    genesis: &Path,
    token: &str,
    extra: &[&str],
) -> NodeProc {
    let base_s = base.to_string();
    let mut args = vec![
        "--base-port",
        base_s.as_str(),
        "--corpus",
        "synthetic",
        "--dev-genesis",
        genesis.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    NodeProc::spawn_env(
        &args,
        &[
            ("NEUROSHARD_HOME", ns_home.to_str().unwrap()),
            ("NEUROSHARD_TOKEN", token),
            // Failure messages show log tails: keep consensus chatter out of them.
            ("NEUROSHARD_LOG", "info,arc_malachitebft_core_consensus=warn,arc_malachitebft_engine=off,arc_malachitebft_sync=error,arc_malachitebft_network=off,neuroshard_chain::node::app=warn"),
        ],
        &ns_home.join(name),
        &format!("http://127.0.0.1:{}", base + 1),
    )
}

async fn call(dev: &NodeProc, method: &str, params: Vec<Value>) -> Value {
    dev.client()
        .call(method, params)
        .await
        .unwrap_or_else(|e| panic!("{method}: {e}"))
}

async fn balance(dev: &NodeProc, wallet: &str) -> u128 {
    dev.client()
        .account(&wallet.parse().unwrap())
        .await
        .map(|a| a.balance.parse().unwrap())
        .unwrap_or(0)
}

/// The wallet's proofs (newest first, up to 100), each with its ledger record.
async fn proofs(dev: &NodeProc, who: &str) -> Vec<Value> {
    let page = call(
        dev,
        "neuro_getProofs",
        vec![json!(who), json!({"limit": 100})],
    )
    .await;
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| !i["proof"].is_null())
        .cloned()
        .collect()
}

fn base_units(v: &Value) -> u128 {
    v["base"].as_str().unwrap().parse().unwrap()
}

fn status(item: &Value) -> &str {
    item["proof"]["status"].as_str().unwrap()
}

#[test]
fn a_fresh_token_trains_and_earns_exactly_its_paid_proofs() {
    let _serial = serial();
    let dir = TempDir::new("ponw-earn");
    let g = genesis(&dir.0, |_| {});
    let base = free_base_port(1);
    let t = token(1);
    let wallet = wallet_of(&t);
    let mut dev = node(&dir.0, "dev", base, &g, &t, &[]);
    rt().block_on(async {
        let started = Instant::now();
        until(
            "a spendable balance",
            Duration::from_secs(120),
            &[&dev],
            || async { (balance(&dev, &wallet).await > 0).then_some(()) },
        )
        .await;
        eprintln!("first spendable NEURO after {:?}", started.elapsed());
        // Balance + bond = what the wallet's paid proofs minted; minted = all of it.
        let (held, paid, minted) = until(
            "a consistent reading",
            Duration::from_secs(30),
            &[&dev],
            || async {
                let holds = |a: Value| {
                    base_units(&a["bond"]) + a["balance"].as_str().unwrap().parse::<u128>().unwrap()
                };
                let before = holds(call(&dev, "neuro_getAccount", vec![json!(wallet)]).await);
                let paid: u128 = proofs(&dev, &wallet)
                    .await
                    .iter()
                    .filter(|p| status(p) == "paid")
                    .map(|p| base_units(&p["proof"]["paid"]))
                    .sum();
                let supply = call(&dev, "neuro_getSupply", vec![]).await;
                let after = holds(call(&dev, "neuro_getAccount", vec![json!(wallet)]).await);
                (before == after).then(|| (after, paid, base_units(&supply["minted"])))
            },
        )
        .await;
        assert!(held > 0);
        assert_eq!(
            held, paid,
            "balance and bond are exactly what the paid proofs minted"
        );
        assert_eq!(minted, paid, "minted is exactly what was ever paid");
        // Every paid proof was re-executed and found valid by the validator first.
        for p in proofs(&dev, &wallet)
            .await
            .iter()
            .filter(|p| status(p) == "paid")
        {
            let verdicts = p["proof"]["verdicts"].as_array().unwrap();
            assert!(verdicts.iter().all(|v| v["valid"] == json!(true)), "{p}");
            assert!(!verdicts.is_empty(), "paid without a verdict: {p}");
            // It holds the corpus, so it served its own samples: the data reward of its
            // batches' samples (4 per batch at dev, 0.00001 NEURO each) is in its pay.
            let r = &p["proof"];
            assert_eq!(r["dataServer"]["node"], r["node"], "{p}");
            let batches = u128::from(r["batches"].as_u64().unwrap());
            assert_eq!(
                base_units(&r["dataGross"]),
                batches * 4 * 10_000_000_000_000,
                "{p}"
            );
        }
        // Training is recorded: a round that took training proofs closed with all of them.
        // (Round 0 opened at the genesis time, long past: it closes at once, empty.)
        let round0 = until(
            "a round with training proofs to close",
            Duration::from_secs(90),
            &[&dev],
            || async {
                let open = call(&dev, "neuro_getTrainingRound", vec![]).await;
                for r in 0..open["round"].as_u64().unwrap() {
                    let r = call(&dev, "neuro_getTrainingRound", vec![json!(r)]).await;
                    if r["trainedCount"].as_u64() > Some(0) {
                        return Some(r);
                    }
                }
                None
            },
        )
        .await;
        // Every training proof of the round is in its result (all are re-executed here, none
        // is voided), and the result records the next model's held-out loss.
        let included = round0["included"].as_array().unwrap();
        assert!(!included.is_empty());
        assert_eq!(included, round0["trained"].as_array().unwrap(), "{round0}");
        let loss: f64 = round0["evalLoss"].as_str().unwrap().parse().unwrap();
        assert!(loss > 0.0 && loss < 10.0, "{round0}");
        assert_eq!(round0["attestations"].as_array().unwrap().len(), 1);
        let model = call(&dev, "neuro_getModel", vec![]).await;
        assert!(model["round"].as_u64().unwrap() >= 1);
        let next = round0["round"].as_u64().unwrap() + 1;
        let round1 = call(&dev, "neuro_getTrainingRound", vec![json!(next)]).await;
        assert_eq!(round1["model"], round0["nextModel"]);
        assert!(round0["proofs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["pseudoGradient"].is_string()));
        // The token never leaves the machine: not in logs, not in RPC answers.
        let log = dev.log_text();
        let account = call(&dev, "neuro_getAccount", vec![json!(wallet)])
            .await
            .to_string();
        for text in [&log, &account] {
            assert!(
                !text.contains(&t) && !text.contains(&t[..8]),
                "token leaked"
            );
        }
    });
    dev.stop();
}

#[test]
fn cheating_nodes_are_caught_voided_and_penalised_and_honest_ones_never_are() {
    let _serial = serial();
    let dir = TempDir::new("ponw-cheat");
    let g = genesis(&dir.0, |_| {});
    let base = free_base_port(1);
    let honest = token(10);
    let mut dev = node(&dir.0, "dev", base, &g, &honest, &[]);
    rt().block_on(wait_height(&dev, 2, Duration::from_secs(60)));
    let cheats = [
        ("inflate", token(11)),
        ("random-gradient", token(12)),
        ("skip", token(13)),
    ];
    let mut cheaters: Vec<NodeProc> = cheats
        .iter()
        .map(|(mode, t)| node(&dir.0, mode, base, &g, t, &["--cheat", mode]))
        .collect();
    rt().block_on(async {
        for (i, (mode, t)) in cheats.iter().enumerate() {
            let w = wallet_of(t);
            let logs = [&dev, &cheaters[i]];
            let voided = until(
                &format!("the {mode} cheat voided"),
                Duration::from_secs(180),
                &logs,
                || async {
                    proofs(&dev, &w)
                        .await
                        .into_iter()
                        .find(|p| status(p) == "voided")
                },
            )
            .await;
            let verdicts = voided["proof"]["verdicts"].as_array().unwrap();
            assert!(
                verdicts.iter().any(|v| v["valid"] == json!(false)),
                "{voided}"
            );
            // The fraud is on the wallet's record, with what it cost.
            let history = call(
                &dev,
                "neuro_getAccountHistory",
                vec![json!(w), json!({"limit": 100})],
            )
            .await;
            assert!(
                history.to_string().contains("fraudProven"),
                "{mode}: {history}"
            );
            assert!(
                proofs(&dev, &w).await.iter().all(|p| status(p) != "paid"),
                "{mode} was paid"
            );
            assert_eq!(balance(&dev, &w).await, 0, "{mode} holds NEURO");
        }
        // Meanwhile the honest node was paid and never accused.
        let hw = wallet_of(&honest);
        until(
            "the honest node paid",
            Duration::from_secs(60),
            &[&dev],
            || async { (balance(&dev, &hw).await > 0).then_some(()) },
        )
        .await;
        for p in proofs(&dev, &hw).await {
            assert_ne!(status(&p), "voided", "honest proof voided: {p}");
            assert!(p["proof"]["verdicts"]
                .as_array()
                .unwrap()
                .iter()
                .all(|v| v["valid"] == json!(true)));
        }
    });
    for c in &mut cheaters {
        c.stop();
    }
    dev.stop();
}

#[test]
fn two_nodes_with_one_token_earn_into_one_wallet_at_the_networks_diminishing_rate_and_hidden_start_states_are_recomputed(
) {
    let _serial = serial();
    let dir = TempDir::new("ponw-two");
    // Small tiers and short windows so that diminishing returns show within a minute: a window
    // whose predecessor claimed more than a tier pays every proof less than its gross.
    // Half the proofs drawn, so that the second node's chained segments get replayed soon.
    let g = genesis(&dir.0, |g| {
        g.params.diminishing_tier = "0.2".parse().unwrap();
        g.params.diminishing_window_ms = 20_000;
        g.params.training.verify_sample_bps = 5_000;
    });
    let base = free_base_port(1);
    let t = token(20);
    let wallet = wallet_of(&t);
    let mut dev = node(&dir.0, "dev", base, &g, &t, &[]);
    rt().block_on(wait_height(&dev, 2, Duration::from_secs(60)));
    // The second node does honest work but serves none of its segments' start states: to
    // replay a segment that continues another, the validator recomputes its start state from
    // the chain (the previous segment, re-executed), and never judges the node for it.
    let mut second = node(&dir.0, "second", base, &g, &t, &["--cheat", "hide-states"]);
    rt().block_on(async {
        let nodes = until(
            "proofs from two nodes",
            Duration::from_secs(150),
            &[&dev, &second],
            || async {
                let mut ids: Vec<String> = proofs(&dev, &wallet)
                    .await
                    .iter()
                    .map(|p| p["proof"]["node"].as_str().unwrap().to_owned())
                    .collect();
                ids.sort();
                ids.dedup();
                (ids.len() == 2).then_some(ids)
            },
        )
        .await;
        assert_ne!(nodes[0], nodes[1]);
        for n in &nodes {
            let info = call(&dev, "neuro_getNode", vec![json!(n)]).await;
            assert_eq!(info["wallet"].as_str().unwrap(), wallet);
        }
        // Diminishing returns of the network: proofs accepted after a window in which more
        // than a tier was paid pay less than their gross.
        until(
            "a proof paid below its gross",
            Duration::from_secs(150),
            &[&dev, &second],
            || async {
                proofs(&dev, &wallet)
                    .await
                    .iter()
                    .any(|p| base_units(&p["proof"]["reward"]) < base_units(&p["proof"]["gross"]))
                    .then_some(())
            },
        )
        .await;
        until(
            "a start state no peer served, recomputed from the chain",
            Duration::from_secs(180),
            &[&dev, &second],
            || async {
                dev.log_text()
                    .contains("recomputing a start state no peer served")
                    .then_some(())
            },
        )
        .await;
        // Every chained proof replayed so far reproduced: none voided, no invalid verdict.
        let all = proofs(&dev, &wallet).await;
        assert!(all
            .iter()
            .any(|p| p["proof"]["previousSegment"].is_string()));
        for p in &all {
            assert_ne!(status(p), "voided", "{p}");
            assert!(
                p["proof"]["verdicts"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|v| v["valid"] == json!(true)),
                "{p}"
            );
        }
        assert!(!dev.log_text().contains("does not recompute"));
    });
    second.stop();
    dev.stop();
}

#[test]
fn claims_faster_than_physically_possible_are_refused_with_the_reason() {
    let _serial = serial();
    let dir = TempDir::new("ponw-fast");
    let dev = dev_node(&dir.0.join("dev"), 200);
    let chain_id = Genesis::dev().chain_id;
    rt().block_on(async {
        wait_height(&dev, 1, Duration::from_secs(30)).await;
        let (wallet, worker) = (key(41), key(42));
        let client = dev.client();
        let consent = worker.sign_digest(&node_registration_digest(&chain_id, &wallet.address()));
        let reg = sign(
            &chain_id,
            &wallet,
            0,
            "0",
            TxBody::RegisterNode {
                node_key: worker.public_key(),
                node_signature: consent,
                expires_ms: registration_expiry_now(),
            },
        );
        client.send_raw_transaction(&reg).await.unwrap();
        let info = until("registration", Duration::from_secs(20), &[&dev], || async {
            dev.client()
                .call("neuro_getNode", vec![json!(worker.address().to_string())])
                .await
                .ok()
        })
        .await;
        tokio::time::sleep(Duration::from_millis(6_000)).await;
        let model = call(&dev, "neuro_getModel", vec![]).await;
        let claim = |batches: u64| Proof {
            role: Role::Driver,
            layer_start: 0,
            layer_end: Genesis::dev().params.model.layers,
            round: model["round"].as_u64().unwrap(),
            model_version: hash32(&model["modelVersion"]),
            data_seed: hash32(&info["dataSeed"]),
            data_shard: Genesis::dev().params.training.corpus,
            pseudo_gradient: [0; 32],
            start_state: [0; 32],
            end_state: [0; 32],
            first_batch: 0,
            metrics: WorkMetrics {
                batches,
                ..WorkMetrics::default()
            },
            data_server: None,
            timestamp_ms: now_ms(),
        };
        // ~6 s since registration allow at most ~600 batches at 100 per second.
        let err = client
            .send_raw_transaction(&sign(
                &chain_id,
                &worker,
                0,
                "0",
                TxBody::SubmitProof(claim(1_000_000)),
            ))
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("physically possible"), "{err}");
        assert!(err.contains("batches"), "{err}");
        // Uptime with no liveness answer is refused: nothing shows the node was up; so is
        // uptime beside training (the training pays for that time).
        for (batches, uptime_secs) in [(1, 5), (0, 10)] {
            let mut p = claim(batches);
            p.metrics.uptime_secs = uptime_secs;
            let err = client
                .send_raw_transaction(&sign(&chain_id, &worker, 0, "0", TxBody::SubmitProof(p)))
                .await
                .unwrap_err()
                .to_string();
            assert!(err.contains("cannot be checked"), "{err}");
        }
        // Inflated uptime is refused as inflated batches are, answered or not.
        let mut p = claim(0);
        p.metrics.uptime_secs = 3_600;
        p.pseudo_gradient = [9; 32];
        let err = client
            .send_raw_transaction(&sign(&chain_id, &worker, 0, "0", TxBody::SubmitProof(p)))
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("uptime seconds"), "{err}");
        // Nothing was paid or queued.
        let supply = call(&dev, "neuro_getSupply", vec![]).await;
        assert_eq!(base_units(&supply["pending"]), 0);
        assert_eq!(base_units(&supply["minted"]), 0);
        // Nothing claimed, so the network's rate is full.
        assert_eq!(supply["rewardRate"], "1");
        assert_eq!(base_units(&supply["rewardWindowGross"]), 0);
    });
}

#[test]
fn a_no_training_node_mints_nothing_on_its_word_and_sells_inference_with_5_percent_burned() {
    let _serial = serial();
    let dir = TempDir::new("ponw-uptime");
    // Every proof drawn; the harness verifies the client's funding proof itself (no verifier,
    // so nobody attests rounds either: round 0 stays open).
    let g = genesis(&dir.0, |g| g.params.round_length_ms = 10 * 365 * 86_400_000);
    let base = free_base_port(1);
    let t = token(30);
    let wallet = wallet_of(&t);
    let mut dev = node(
        &dir.0,
        "dev",
        base,
        &g,
        &t,
        &["--no-training", "--no-verify", "--inference-price", "0.001"],
    );
    rt().block_on(async {
        // An idle node proves uptime each proof interval (10 s) with a liveness answer, but
        // nobody here replays them (`--no-verify`), and every proof is drawn: so however many it
        // proves, none is paid. It mints nothing on its word.
        wait_height(&dev, 1, Duration::from_secs(30)).await;
        let uptime = until(
            "two uptime proofs",
            Duration::from_secs(60),
            &[&dev],
            || async {
                let all = proofs(&dev, &wallet).await;
                (all.len() >= 2).then_some(all)
            },
        )
        .await;
        for p in &uptime {
            let r = &p["proof"];
            assert_eq!(r["batches"], json!(0), "{p}");
            assert!(r["uptimeSecs"].as_u64().unwrap() >= 5, "{p}");
            assert_ne!(
                r["pseudoGradient"],
                json!(format!("0x{}", "0".repeat(64))),
                "{p}"
            );
        }
        // Past the first one's challenge window (20 s at dev): unreplayed, nothing is paid.
        tokio::time::sleep(Duration::from_secs(22)).await;
        for p in proofs(&dev, &wallet).await {
            assert!(
                status(&p) == "pending" || base_units(&p["proof"]["paid"]) == 0,
                "{p}"
            );
        }
        let account = call(&dev, "neuro_getAccount", vec![json!(wallet)]).await;
        assert_eq!(balance(&dev, &wallet).await, 0);
        assert_eq!(base_units(&account["bond"]), 0, "{account}");
        assert!(
            !dev.log_text().contains("proof refused"),
            "{}",
            dev.log_tail()
        );
        // A client buys 8 tokens at 0.001 NEURO each.
        let chain_id = Genesis::dev().chain_id;
        let (client, worker) = (key(60), key(61));
        earn(&dev, &chain_id, &client, &worker).await;
        let out = std::process::Command::new(BIN)
            .args([
                "infer",
                "--prompt",
                "The licence ",
                "--max-tokens",
                "8",
                "--json",
                "--node",
                &dev.rpc_url,
            ])
            .env("NEUROSHARD_TOKEN", client.to_token())
            .env("NEUROSHARD_HOME", dir.0.join("client"))
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let answer: Value = serde_json::from_str(stdout.trim()).unwrap();
        assert!(answer["text"].is_string());
        let paid = call(
            &dev,
            "neuro_getTransaction",
            vec![answer["payment"].clone()],
        )
        .await;
        let spent = paid["receipt"]["events"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["type"] == json!("spent"))
            .cloned()
            .unwrap_or_else(|| panic!("no spend event: {paid}"));
        assert_eq!(spent["to"].as_str().unwrap(), wallet);
        assert_eq!(spent["amount"]["neuro"], json!("0.008"));
        assert_eq!(
            spent["burned"]["neuro"],
            json!("0.0004"),
            "5% of every spend is burned"
        );
        // The token never shows in the client's output.
        assert!(!stdout.contains(&client.to_token()));
        // A payment buys one request: presented again once it is on chain, it is refused.
        let fee = call(&dev, "neuro_estimateFee", vec![json!("spend")]).await["fee"]["neuro"]
            .as_str()
            .unwrap()
            .to_owned();
        let nonce = call(
            &dev,
            "neuro_getAccount",
            vec![json!(client.address().to_string())],
        )
        .await["nonce"]
            .as_u64()
            .unwrap();
        let payment = sign(
            &chain_id,
            &client,
            nonce,
            &fee,
            TxBody::Spend {
                to: wallet.parse().unwrap(),
                amount: "0.002".parse().unwrap(),
                purpose: neuroshard_runtime::tx::SpendPurpose::Inference,
            },
        );
        let request = json!({"prompt": "The ", "maxTokens": 2, "payment": hex::encode(&payment)});
        let first = dev
            .client()
            .call("neuro_infer", vec![request.clone()])
            .await
            .unwrap();
        assert!(first["text"].is_string(), "{first}");
        let again = dev
            .client()
            .call("neuro_infer", vec![request])
            .await
            .unwrap_err();
        assert!(again.to_string().contains("already on chain"), "{again}");
    });
    dev.stop();
}

#[test]
fn a_killed_training_node_resumes_and_never_claims_a_batch_twice() {
    let _serial = serial();
    let dir = TempDir::new("ponw-kill");
    // Next to no re-execution (0.01%): this test is about resuming, and two trainers already
    // fill 2 cores.
    let g = genesis(&dir.0, |g| g.params.training.verify_sample_bps = 1);
    let base = free_base_port(1);
    let (t1, t2) = (token(50), token(51));
    let mut dev = node(&dir.0, "dev", base, &g, &t1, &[]);
    rt().block_on(wait_height(&dev, 2, Duration::from_secs(60)));
    let mut worker = node(&dir.0, "worker", base, &g, &t2, &[]);
    let w = wallet_of(&t2);
    rt().block_on(async {
        let first = until(
            "the worker's first proof",
            Duration::from_secs(120),
            &[&dev, &worker],
            || async { proofs(&dev, &w).await.first().cloned() },
        )
        .await;
        let node_id = first["proof"]["node"].as_str().unwrap().to_owned();
        worker.kill9();
        let before = call(&dev, "neuro_getNode", vec![json!(node_id)]).await["proofs"]
            .as_u64()
            .unwrap();
        worker.start();
        until(
            "proofs after the restart",
            Duration::from_secs(120),
            &[&dev, &worker],
            || async {
                let n = call(&dev, "neuro_getNode", vec![json!(node_id)]).await["proofs"]
                    .as_u64()
                    .unwrap();
                (n >= before + 2).then_some(())
            },
        )
        .await;
        // Same node id (its own home and key), batch ranges strictly increasing, never shared.
        let mut ranges: Vec<(u64, u64)> = proofs(&dev, &node_id)
            .await
            .iter()
            .map(|p| {
                let first = p["proof"]["firstBatch"].as_u64().unwrap();
                (first, first + p["proof"]["batches"].as_u64().unwrap())
            })
            .collect();
        ranges.sort();
        for pair in ranges.windows(2) {
            assert!(pair[0].1 <= pair[1].0, "batches claimed twice: {ranges:?}");
        }
        assert!(
            worker
                .log_text()
                .matches("node registered to the wallet")
                .count()
                <= 1
        );
    });
    worker.stop();
    dev.stop();
}

/// NeuroDAO's architecture change end to end: a new rotary base voted in applies when the next
/// round opens, the node trains under it, and the validator's re-execution of those proofs
/// (under the round's shape) finds them valid: no honest proof is voided across the boundary.
#[test]
fn an_attention_change_voted_in_is_trained_and_verified_from_the_next_round_on() {
    let _serial = serial();
    let dir = TempDir::new("ponw-arch");
    let g = genesis(&dir.0, |g| {
        g.params.round_length_ms = 30_000;
        g.params.gov.voting_period_ms = 5_000;
        g.params.gov.timelock_blocks = 2;
    });
    let base = free_base_port(1);
    let t = token(9);
    let wallet = wallet_of(&t);
    let mut dev = node(&dir.0, "dev", base, &g, &t, &[]);
    let cli = |token: &str, args: &[&str]| {
        let out = std::process::Command::new(BIN)
            .args(["wallet", "--node", &dev.rpc_url])
            .args(args)
            .env(
                "NEUROSHARD_HOME",
                dir.0.join(format!("cli-{}", &token[..6])),
            )
            .env("NEUROSHARD_TOKEN", token)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}: {text}");
    };
    rt().block_on(async {
        until(
            "a balance for the deposit",
            Duration::from_secs(180),
            &[&dev],
            || async { (balance(&dev, &wallet).await >= 20_000_000_000_000_000).then_some(()) },
        )
        .await;
    });
    cli(
        &t,
        &[
            "gov",
            "propose",
            "--title",
            "rope",
            "--rope-theta",
            "20000",
            "--deposit",
            "0.01",
        ],
    );
    cli(
        neuroshard_runtime::genesis::DEV_VALIDATOR_TOKEN,
        &["gov", "vote", "0", "yes"],
    );
    rt().block_on(async {
        let from = until(
            "the new architecture",
            Duration::from_secs(120),
            &[&dev],
            || async {
                let m = call(&dev, "neuro_getModel", vec![]).await;
                (m["config"]["version"] == json!(2)).then(|| {
                    assert_eq!(m["config"]["rope_theta"], json!(20000));
                    m["round"].as_u64().unwrap()
                })
            },
        )
        .await;
        // A proof trained under the new shape is re-executed and found valid, and the round
        // closes with every training proof in it.
        until(
            "a verified proof of the new architecture",
            Duration::from_secs(120),
            &[&dev],
            || async {
                proofs(&dev, &wallet).await.iter().find_map(|p| {
                    let r = &p["proof"];
                    let new = r["round"].as_u64() >= Some(from);
                    (new && matches!(status(p), "verified" | "paid")).then_some(())
                })
            },
        )
        .await;
        let closed = until(
            "the first round of the new architecture closes",
            Duration::from_secs(120),
            &[&dev],
            || async {
                let r = call(&dev, "neuro_getTrainingRound", vec![json!(from)]).await;
                (r["open"] == json!(false)).then_some(r)
            },
        )
        .await;
        assert_eq!(
            closed["included"], closed["trained"],
            "every proof of the round is in its result: {closed}"
        );
        for p in proofs(&dev, &wallet).await {
            assert_ne!(status(&p), "voided", "an honest proof was voided: {p}");
        }
        let proposal = call(&dev, "neuro_getProposal", vec![json!(0)]).await;
        assert_eq!(proposal["status"], "applied", "{proposal}");
    });
    dev.stop();
}
