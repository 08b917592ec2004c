//! `neuroshard bench chain`: a loopback testnet of N validators in this process (real RocksDB,
//! real libp2p, Malachite), funded the only way the chain allows (registered nodes proving work),
//! then loaded with signed transfers. Prints committed transactions per second and the median and
//! 99th-percentile latency from submission to commit.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use neuroshard_chain::node::{self, Home, NodeApi};
use neuroshard_runtime::proof::{Proof, Role, WorkMetrics};
use neuroshard_runtime::tx::node_registration_digest;
use neuroshard_runtime::{Address, Hash32, SecretKey, Transaction, TxBody};

#[derive(Debug, Args)]
pub struct BenchChainArgs {
    #[arg(long, default_value_t = 4)]
    pub validators: usize,
    /// Sending accounts (each may have 200 transactions pending).
    #[arg(long, default_value_t = 64)]
    pub senders: usize,
    /// Transfers per sender.
    #[arg(long, default_value_t = 300)]
    pub txs_per_sender: u64,
    #[arg(long, default_value_t = 500)]
    pub block_interval_ms: u64,
    #[arg(long, default_value_t = 36_000)]
    pub base_port: u16,
}

const MAX_IN_FLIGHT: u64 = 200;

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn tx(chain: &str, key: &SecretKey, nonce: u64, fee: &str, body: TxBody) -> Vec<u8> {
    Transaction {
        chain_id: chain.to_owned(),
        nonce,
        fee: fee.parse().unwrap_or_default(),
        body,
    }
    .sign(key)
    .encode()
}

async fn wait_for(
    api: &NodeApi,
    what: &str,
    timeout: Duration,
    done: impl Fn(&NodeApi) -> bool,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    while !done(api) {
        anyhow::ensure!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

pub fn run(args: BenchChainArgs) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("neuroshard-bench-chain-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let chain_id = "neuroshard-bench-1";
    let homes = super::node::init_testnet(
        args.validators,
        &dir,
        args.base_port,
        chain_id,
        args.block_interval_ms,
        Some({
            // The benchmark's senders earn their NEURO with made-up proofs, every one drawn, that
            // the benchmark verifies with the validators' keys (no verifier runs in process).
            // Nobody trains or attests rounds here, so round 0 stays open (taking proofs) for
            // ten years.
            let mut p = neuroshard_runtime::Genesis::dev().params;
            p.training.verify_sample_bps = 10_000;
            p.round_length_ms = 10 * 365 * 86_400_000;
            p
        }),
    )?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let result = rt.block_on(bench(&args, chain_id, &homes));
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// One core's rate of transaction signature checks (what `check_tx` does for every transfer a
/// node admits), over one second.
fn verify_rate() -> anyhow::Result<f64> {
    let key = SecretKey::from_entropy([9; 32]);
    let body = TxBody::Transfer {
        to: Address([0xEE; 20]),
        amount: neuroshard_runtime::Amount(1),
    };
    let signed = neuroshard_runtime::SignedTransaction::decode(&tx("bound", &key, 0, "0", body))?;
    let started = Instant::now();
    let mut n = 0u64;
    while started.elapsed() < Duration::from_secs(1) {
        signed.clone().verify()?;
        n += 1;
    }
    Ok(n as f64 / started.elapsed().as_secs_f64())
}

async fn bench(
    args: &BenchChainArgs,
    chain_id: &str,
    homes: &[(std::path::PathBuf, u16)],
) -> anyhow::Result<()> {
    // The bound, measured before any node runs: every validator checks every transfer's
    // signature once, and they share this machine's cores.
    let per_core = verify_rate()?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let bound = per_core * cores as f64 / args.validators as f64;
    let mut nodes = Vec::new();
    for (home, _) in homes {
        nodes.push(
            node::start(&Home::new(home))
                .await
                .map_err(|e| anyhow::anyhow!("{e:#}"))?,
        );
    }
    let apis: Vec<NodeApi> = nodes.iter().map(|n| n.api.clone()).collect();
    let api0 = apis[0].clone();
    wait_for(&api0, "the first block", Duration::from_secs(60), |a| {
        a.status().height >= 2
    })
    .await?;

    // Funding: each sender registers a node and proves 500 batches (0.25 NEURO).
    eprintln!(
        "funding {} senders through proofs of work (about 25 s)…",
        args.senders
    );
    let senders: Vec<SecretKey> = (0..args.senders)
        .map(|i| {
            SecretKey::from_entropy(neuroshard_runtime::crypto::domain_hash(
                b"bench-sender",
                &i.to_le_bytes(),
            ))
        })
        .collect();
    let workers: Vec<SecretKey> = (0..args.senders)
        .map(|i| {
            SecretKey::from_entropy(neuroshard_runtime::crypto::domain_hash(
                b"bench-worker",
                &i.to_le_bytes(),
            ))
        })
        .collect();
    for (s, w) in senders.iter().zip(&workers) {
        let sig = w.sign_digest(&node_registration_digest(chain_id, &s.address()));
        api0.submit(&tx(
            chain_id,
            s,
            0,
            "0",
            TxBody::RegisterNode {
                node_key: w.public_key(),
                node_signature: sig,
                expires_ms: api0.with_chain(|c| {
                    neuroshard_runtime::tx::registration_expiry(
                        c.ledger().params(),
                        c.ledger().last_block_time_ms(),
                    )
                }),
            },
        ))
        .map_err(|e| anyhow::anyhow!("register: {e}"))?;
    }
    tokio::time::sleep(Duration::from_secs(21)).await;
    let layers = neuroshard_runtime::Genesis::dev().params.model.layers;
    let mut proof_ids = Vec::new();
    for w in &workers {
        let (training, seed) = api0.with_chain(|c| {
            let l = c.ledger();
            let seed = l.node(&w.address()).ok().flatten().map(|n| n.data_seed);
            (l.training(), seed)
        });
        let training = training?;
        let proof = Proof {
            role: Role::Driver,
            layer_start: 0,
            layer_end: layers,
            round: training.round,
            model_version: training.model_version,
            data_seed: seed.context("worker not registered")?,
            data_shard: neuroshard_runtime::Genesis::dev().params.training.corpus,
            pseudo_gradient: [3; 32],
            start_state: [0; 32],
            end_state: [0; 32],
            first_batch: 0,
            metrics: WorkMetrics {
                batches: 500,
                ..WorkMetrics::default()
            },
            data_server: None,
            timestamp_ms: now_ms(),
        };
        let bytes = tx(chain_id, w, 0, "0", TxBody::SubmitProof(proof));
        proof_ids.push(neuroshard_chain::block::tx_hash(&bytes));
        api0.submit(&bytes)
            .map_err(|e| anyhow::anyhow!("proof: {e}"))?;
    }
    // Every proof is drawn in the block after its own; the validators find each valid.
    let drawn = proof_ids.clone();
    wait_for(&api0, "the draw", Duration::from_secs(60), move |a| {
        a.with_chain(|c| {
            drawn
                .iter()
                .all(|id| matches!(c.ledger().proof(id), Ok(Some(p)) if p.sampled.is_some()))
        })
    })
    .await?;
    for (home, _) in homes {
        let key = Home::new(home).load_validator_key()?;
        let nonce = api0
            .with_chain(|c| c.ledger().account(&key.address()))?
            .nonce;
        for (i, id) in proof_ids.iter().enumerate() {
            let body = TxBody::Verdict {
                proof: *id,
                valid: true,
            };
            api0.submit(&tx(chain_id, &key, nonce + i as u64, "0", body))
                .map_err(|e| anyhow::anyhow!("verdict: {e}"))?;
        }
    }
    let last = senders.last().context("no senders")?.address();
    // Rewards mature after the challenge window and leave the bond a bond period later (20 s
    // each on the dev genesis).
    wait_for(&api0, "the rewards", Duration::from_secs(120), |a| {
        a.with_chain(|c| {
            c.ledger()
                .account(&last)
                .map(|x| !x.balance.is_zero())
                .unwrap_or(false)
        })
    })
    .await?;

    // Sign every transfer up front.
    let total = args.senders as u64 * args.txs_per_sender;
    eprintln!("signing {total} transfers…");
    let sink = Address([0xEE; 20]);
    let signed: Vec<Vec<(Hash32, Vec<u8>)>> = senders
        .iter()
        .map(|s| {
            (0..args.txs_per_sender)
                .map(|i| {
                    // A registration from a wallet with no account leaves its nonce at 0.
                    let bytes = tx(
                        chain_id,
                        s,
                        i,
                        "0.0001",
                        TxBody::Transfer {
                            to: sink,
                            amount: neuroshard_runtime::Amount(1),
                        },
                    );
                    (neuroshard_chain::block::tx_hash(&bytes), bytes)
                })
                .collect()
        })
        .collect();

    // Commit tracker: watch node 0's blocks.
    let submitted_at: Arc<std::sync::Mutex<HashMap<Hash32, Instant>>> = Default::default();
    let latencies: Arc<std::sync::Mutex<Vec<Duration>>> = Default::default();
    let committed_per_sender: Arc<std::sync::Mutex<HashMap<Address, u64>>> = Default::default();
    let start_height = api0.status().height;
    let tracker = {
        let api = api0.clone();
        let submitted_at = submitted_at.clone();
        let latencies = latencies.clone();
        let committed = committed_per_sender.clone();
        let mut rx = api.subscribe();
        tokio::spawn(async move {
            let mut next = start_height + 1;
            while rx.changed().await.is_ok() {
                let top = rx.borrow().height;
                while next <= top {
                    let block = api.with_chain(|c| c.store().block(next).ok().flatten());
                    let now = Instant::now();
                    if let Some(block) = block {
                        let subs = submitted_at.lock().unwrap_or_else(|p| p.into_inner());
                        let mut lat = latencies.lock().unwrap_or_else(|p| p.into_inner());
                        let mut per = committed.lock().unwrap_or_else(|p| p.into_inner());
                        for raw in &block.txs {
                            if let Some(t) = subs.get(&neuroshard_chain::block::tx_hash(raw)) {
                                lat.push(now - *t);
                                if let Ok(stx) = neuroshard_runtime::SignedTransaction::decode(raw)
                                {
                                    *per.entry(stx.signer.address()).or_default() += 1;
                                }
                            }
                        }
                    }
                    next += 1;
                }
            }
        })
    };

    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} committed {per_sec} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let started = Instant::now();
    let mut sent = vec![0u64; args.senders];
    let mut node_rr = 0usize;
    let mut rejected = 0u64;
    loop {
        let committed_total = latencies.lock().unwrap_or_else(|p| p.into_inner()).len() as u64;
        bar.set_position(committed_total);
        if committed_total >= total {
            break;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(600),
            "benchmark did not finish in 10 minutes"
        );
        let committed = committed_per_sender
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let mut progressed = false;
        for (i, s) in senders.iter().enumerate() {
            let done = committed.get(&s.address()).copied().unwrap_or(0);
            while sent[i] < args.txs_per_sender && sent[i] - done < MAX_IN_FLIGHT {
                let (hash, bytes) = &signed[i][sent[i] as usize];
                submitted_at
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(*hash, Instant::now());
                let api = apis[node_rr % apis.len()].clone();
                node_rr += 1;
                if tokio::task::block_in_place(|| api.submit(bytes)).is_err() {
                    rejected += 1;
                }
                sent[i] += 1;
                progressed = true;
            }
        }
        if !progressed {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    let elapsed = started.elapsed();
    bar.finish();
    tracker.abort();
    let mut lat = latencies.lock().unwrap_or_else(|p| p.into_inner()).clone();
    lat.sort();
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
    let end_height = api0.status().height;
    println!("validators            {}", args.validators);
    println!("transfers committed   {}", lat.len());
    println!("submissions refused   {rejected}");
    println!(
        "blocks                {} (interval {} ms)",
        end_height - start_height,
        args.block_interval_ms
    );
    let throughput = lat.len() as f64 / elapsed.as_secs_f64();
    println!("throughput            {throughput:.0} tx/s");
    println!(
        "signature bound       {bound:.0} tx/s ({cores} cores x {per_core:.0} checks/s, \
         each of {} validators checking every transfer once): {:.0}% of it",
        args.validators,
        100.0 * throughput / bound
    );
    println!(
        "latency median        {:.0} ms",
        pct(0.5).as_secs_f64() * 1e3
    );
    println!(
        "latency p99           {:.0} ms",
        pct(0.99).as_secs_f64() * 1e3
    );
    for n in nodes {
        n.shutdown().await;
    }
    Ok(())
}
