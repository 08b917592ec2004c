//! Ledger throughput: signed transfers and PoNW proofs per second, from signed transactions to a
//! committed state root. Signatures are checked in parallel (rayon, one thread per core), then
//! transactions are applied in order and the block is committed (Merkle root included).
//!
//! `cargo bench -p neuroshard-runtime --bench apply`

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use neuroshard_runtime::proof::{Proof, Role, WorkMetrics};
use neuroshard_runtime::tx::node_registration_digest;
use neuroshard_runtime::*;
use rayon::prelude::*;

const WALLETS: usize = 1_000;
const TRANSFERS_PER_WALLET: u64 = 10;
const NODES: usize = 5_000;

fn key(domain: &[u8], i: usize) -> SecretKey {
    SecretKey::from_entropy(crypto::domain_hash(domain, &i.to_le_bytes()))
}

struct Setup {
    ledger: Ledger<MemoryStorage>,
    time_ms: u64,
    chain_id: String,
}

impl Setup {
    fn block(&mut self, advance_ms: u64, txs: Vec<SignedTransaction>) {
        self.time_ms += advance_ms;
        apply_block(&mut self.ledger, self.time_ms, txs);
    }
    fn tx(&self, key: &SecretKey, nonce: u64, fee: Amount, body: TxBody) -> SignedTransaction {
        Transaction {
            chain_id: self.chain_id.clone(),
            nonce,
            fee,
            body,
        }
        .sign(key)
    }
}

/// Verify in parallel, apply in order, commit. Panics if any transaction fails: a benchmark of
/// refused transactions would measure nothing.
fn apply_block(
    ledger: &mut Ledger<MemoryStorage>,
    time_ms: u64,
    txs: Vec<SignedTransaction>,
) -> StateRoot {
    let verified: Vec<VerifiedTx> = txs.into_par_iter().map(|t| t.verify().unwrap()).collect();
    let height = ledger.height() + 1;
    ledger
        .begin_block(BlockHeader {
            height,
            time_ms,
            proposer: Address([7; 20]),
            beacon: None,
        })
        .unwrap();
    for tx in &verified {
        let receipt = ledger.deliver_tx(tx).unwrap();
        assert_eq!(receipt.result, Ok(()));
    }
    ledger.end_block().unwrap();
    ledger.commit().unwrap()
}

/// `WALLETS` funded wallets and `NODES` registered nodes (node i belongs to wallet i % WALLETS).
fn setup() -> (Setup, Vec<SecretKey>, Vec<SecretKey>) {
    let mut genesis = Genesis::dev();
    genesis.params.reward_per_batch = Amount::neuro(1);
    genesis.params.diminishing_tier = Amount::neuro(1_000_000_000);
    // Every funding proof is drawn and the dev validator verifies it below.
    genesis.params.training.verify_sample_bps = 10_000;
    let chain_id = genesis.chain_id.clone();
    let time_ms = genesis.genesis_time_ms().unwrap();
    let ledger = Ledger::init_chain(MemoryStorage::new(), &genesis).unwrap();
    let mut s = Setup {
        ledger,
        time_ms,
        chain_id,
    };
    let wallets: Vec<SecretKey> = (0..WALLETS).map(|i| key(b"bench-wallet", i)).collect();
    let nodes: Vec<SecretKey> = (0..NODES).map(|i| key(b"bench-node", i)).collect();
    let registrations = nodes
        .iter()
        .enumerate()
        .map(|(i, node)| {
            let w = i % WALLETS;
            let consent = node.sign_digest(&node_registration_digest(
                &s.chain_id,
                &wallets[w].address(),
            ));
            let body = TxBody::RegisterNode {
                node_key: node.public_key(),
                node_signature: consent,
                expires_ms: neuroshard_runtime::tx::registration_expiry(
                    s.ledger.params(),
                    s.time_ms,
                ),
            };
            // A wallet without an account registers at nonce 0 every time: a free
            // registration leaves no account behind.
            s.tx(&wallets[w], 0, Amount::ZERO, body)
        })
        .collect();
    s.block(1_000, registrations);
    // Fund every wallet through one proof by its first node.
    let proofs = (0..WALLETS)
        .map(|i| {
            s.tx(
                &nodes[i],
                0,
                Amount::ZERO,
                TxBody::SubmitProof(proof(&s, &nodes[i], 0, 500)),
            )
        })
        .collect::<Vec<SignedTransaction>>();
    let ids: Vec<Hash32> = proofs.iter().map(|p| p.hash()).collect();
    s.time_ms += 9_000;
    s.block(1_000, proofs);
    s.block(1_000, Vec::new()); // the draw
    let validator =
        SecretKey::from_hex_token(neuroshard_runtime::genesis::DEV_VALIDATOR_TOKEN).unwrap();
    let verdicts = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            s.tx(
                &validator,
                i as u64,
                Amount::ZERO,
                TxBody::Verdict {
                    proof: *id,
                    valid: true,
                },
            )
        })
        .collect();
    s.block(1_000, verdicts);
    let window = s.ledger.params().challenge_window_ms;
    s.block(window, Vec::new());
    let bond = s.ledger.params().bond_period_ms;
    s.block(bond, Vec::new());
    (s, wallets, nodes)
}

fn proof(s: &Setup, node: &SecretKey, first_batch: u64, batches: u64) -> Proof {
    let training = s.ledger.training().unwrap();
    let data_seed = s
        .ledger
        .node(&node.address())
        .unwrap()
        .map(|n| n.data_seed)
        .unwrap_or_default();
    Proof {
        role: Role::Driver,
        layer_start: 0,
        layer_end: 4,
        round: training.round,
        model_version: training.model_version,
        data_seed,
        data_shard: s.ledger.params().training.corpus,
        pseudo_gradient: [3; 32],
        start_state: [0; 32],
        end_state: [0; 32],
        first_batch,
        metrics: WorkMetrics {
            batches,
            tokens: 0,
            samples: batches * u64::from(s.ledger.params().training.batch_size),
            uptime_secs: 0,
        },
        data_server: Some(node.address()),
        timestamp_ms: s.time_ms,
    }
}

fn bench(c: &mut Criterion) {
    let (mut s, wallets, nodes) = setup();
    let fee = s.ledger.params().min_fee;
    let nonce0: Vec<u64> = wallets
        .iter()
        .map(|w| s.ledger.account(&w.address()).unwrap().nonce)
        .collect();
    let transfers: Vec<SignedTransaction> = (0..TRANSFERS_PER_WALLET)
        .flat_map(|k| (0..WALLETS).map(move |i| (k, i)))
        .map(|(k, i)| {
            let to = wallets[(i + 1 + k as usize) % WALLETS].address();
            s.tx(
                &wallets[i],
                nonce0[i] + k,
                fee,
                TxBody::Transfer {
                    to,
                    amount: Amount(1_000 + k as u128),
                },
            )
        })
        .collect();
    s.time_ms += 10_000;
    let proofs: Vec<SignedTransaction> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let claimed = if i < WALLETS { 1_000 } else { 0 };
            let nonce = u64::from(i < WALLETS);
            s.tx(
                n,
                nonce,
                Amount::ZERO,
                TxBody::SubmitProof(proof(&s, n, claimed, 500)),
            )
        })
        .collect();
    let base = s.ledger.store().clone();
    let reopen = || Ledger::open(base.clone()).unwrap();
    let t = s.time_ms;

    let mut g = c.benchmark_group("ledger");
    g.sample_size(10);
    g.throughput(Throughput::Elements(transfers.len() as u64));
    g.bench_function("transfers_verify_apply_commit", |b| {
        b.iter_batched(
            || (reopen(), transfers.clone()),
            |(mut l, txs)| apply_block(&mut l, t, txs),
            BatchSize::LargeInput,
        )
    });
    g.bench_function("transfers_verify_only", |b| {
        b.iter_batched(
            || transfers.clone(),
            |txs| txs.into_par_iter().map(|t| t.verify().unwrap()).count(),
            BatchSize::LargeInput,
        )
    });
    g.throughput(Throughput::Elements(proofs.len() as u64));
    g.bench_function("proofs_verify_apply_commit", |b| {
        b.iter_batched(
            || (reopen(), proofs.clone()),
            |(mut l, txs)| apply_block(&mut l, t, txs),
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
