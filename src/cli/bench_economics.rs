//! `neuroshard bench economics`: every way we know to be paid for work that was not done, played
//! against the real runtime in process (a `Ledger` on the in-memory store, signed transactions,
//! real blocks), over many proofs, beside an honest node on the same parameters.
//!
//! Four validators re-execute what the ledger draws and vote as honest validators would: a
//! drawn honest proof is valid, a drawn fabricated one is not. Nothing here is a formula: each
//! strategy's profit is what its wallets hold at the end (balance, bond, stake) minus what the
//! honest part of its work, played alone on a copy of the chain, ended with. Rounds are held
//! open (round length is no economic parameter); every other parameter is the genesis file's.

use std::collections::HashSet;

use clap::Args;
use neuroshard_runtime::maturity::is_sampled;
use neuroshard_runtime::proof::{Proof, Role, WorkMetrics};
use neuroshard_runtime::tx::node_registration_digest;
use neuroshard_runtime::{
    Address, Amount, BlockHeader, Genesis, Hash32, Ledger, MemoryStorage, Params, SecretKey,
    SignedTransaction, Transaction, TxBody,
};

#[derive(Debug, Args)]
pub struct BenchEconomicsArgs {
    /// Genesis file whose parameters are played, or `mainnet` for the mainnet defaults
    /// [default: the dev genesis].
    #[arg(long)]
    pub genesis: Option<String>,
    /// Proofs each strategy submits.
    #[arg(long, default_value_t = 400)]
    pub proofs: u64,
    /// Block times a grinding proposer tries for each block that carries its partner's proof.
    #[arg(long, default_value_t = 8)]
    pub grind: u64,
}

/// One way to claim rewards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// Real work at the largest claim the rules allow.
    Honest,
    /// Fabricated batches at the largest claim the rules allow, from a wallet with no bond.
    Fabricate,
    /// Honest for the first half (building a bond), then fabricated claims covered by it.
    BondThenFabricate,
    /// Each fabricated claim from a fresh wallet and node.
    FreshWallets,
    /// Samples served, claimed with no training.
    SamplesOnly,
    /// Uptime, claimed with no training.
    UptimeOnly,
    /// A stage (one layer range) of training that nobody replays.
    StageRange,
    /// A trainer that also claims the samples it served itself.
    OwnData,
    /// Honest first half, then fabricated claims whose accepting block's proposer (a partner)
    /// tries block times until the draw leaves the claim unchecked.
    Grind,
}

impl Strategy {
    pub const ALL: [Strategy; 9] = [
        Strategy::Honest,
        Strategy::Fabricate,
        Strategy::BondThenFabricate,
        Strategy::FreshWallets,
        Strategy::SamplesOnly,
        Strategy::UptimeOnly,
        Strategy::StageRange,
        Strategy::OwnData,
        Strategy::Grind,
    ];

    fn name(self) -> &'static str {
        match self {
            Strategy::Honest => "honest (real work)",
            Strategy::Fabricate => "fabricated batches, largest claim",
            Strategy::BondThenFabricate => "honest half, then fabricated",
            Strategy::FreshWallets => "fabricated, a fresh wallet each",
            Strategy::SamplesOnly => "samples served only",
            Strategy::UptimeOnly => "uptime only",
            Strategy::StageRange => "stage range (layers 0..1)",
            Strategy::OwnData => "training + own data served",
            Strategy::Grind => "honest half, then fabricated + grinding proposer",
        }
    }

    /// Whether the strategy starts with honest work (its profit is measured past it).
    fn builds_bond(self) -> bool {
        matches!(self, Strategy::BondThenFabricate | Strategy::Grind)
    }
}

/// What one strategy ended with.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// Claims beyond honest work (all of them for `Honest`).
    pub claims: u64,
    /// Base units: held at the end minus what the honest part alone ended with.
    pub profit: i128,
    pub per_claim: f64,
    pub per_day: f64,
}

/// A chain under play: the ledger, block time, and the validators that judge drawn proofs.
struct Play {
    ledger: Ledger<MemoryStorage>,
    time_ms: u64,
    validators: Vec<SecretKey>,
    /// Proofs of real work (the validators find them valid when drawn).
    honest: HashSet<Hash32>,
    /// Accepted proofs not yet judged.
    open: Vec<Hash32>,
    proposer: Address,
}

fn key(tag: &[u8], i: u64) -> SecretKey {
    SecretKey::from_entropy(neuroshard_runtime::crypto::domain_hash(
        tag,
        &i.to_le_bytes(),
    ))
}

impl Play {
    fn new(params: &Params) -> anyhow::Result<Play> {
        let mut genesis = Genesis::dev();
        genesis.params = params.clone();
        genesis.params.round_length_ms = 365 * 86_400_000;
        let validators: Vec<SecretKey> = (0..4).map(|i| key(b"econ-validator", i)).collect();
        genesis.validators = validators
            .iter()
            .enumerate()
            .map(|(i, k)| neuroshard_runtime::genesis::GenesisValidator {
                name: format!("v{i}"),
                public_key: k.public_key(),
                power: 10,
            })
            .collect();
        let time_ms = genesis.genesis_time_ms()?;
        Ok(Play {
            ledger: Ledger::init_chain(MemoryStorage::new(), &genesis)?,
            time_ms,
            validators,
            honest: HashSet::new(),
            open: Vec::new(),
            proposer: key(b"econ-proposer", 0).address(),
        })
    }

    /// A copy of the chain as committed now.
    fn fork(&self) -> anyhow::Result<Play> {
        Ok(Play {
            ledger: Ledger::open(self.ledger.store().clone())?,
            time_ms: self.time_ms,
            validators: self.validators.clone(),
            honest: self.honest.clone(),
            open: self.open.clone(),
            proposer: self.proposer,
        })
    }

    fn params(&self) -> &Params {
        self.ledger.params()
    }

    fn sign(&self, who: &SecretKey, body: TxBody) -> anyhow::Result<SignedTransaction> {
        let nonce = self.ledger.account(&who.address())?.nonce;
        let fee = if body.is_fee_exempt() {
            Amount::ZERO
        } else {
            self.params().min_fee
        };
        Ok(Transaction {
            chain_id: self.ledger.chain_id().to_owned(),
            nonce,
            fee,
            body,
        }
        .sign(who))
    }

    /// Applies one block at `time_ms`; returns which transactions succeeded.
    fn block_at(
        ledger: &mut Ledger<MemoryStorage>,
        time_ms: u64,
        proposer: Address,
        txs: &[SignedTransaction],
    ) -> anyhow::Result<Vec<bool>> {
        ledger.begin_block(BlockHeader {
            height: ledger.height() + 1,
            time_ms,
            proposer,
        })?;
        let mut ok = Vec::new();
        for tx in txs {
            let applied = tx
                .clone()
                .verify()
                .ok()
                .and_then(|v| ledger.deliver_tx(&v).ok());
            ok.push(applied.is_some_and(|r| r.result.is_ok()));
        }
        ledger.end_block()?;
        ledger.commit()?;
        Ok(ok)
    }

    fn block(&mut self, advance_ms: u64, txs: &[SignedTransaction]) -> anyhow::Result<Vec<bool>> {
        self.time_ms += advance_ms;
        Self::block_at(&mut self.ledger, self.time_ms, self.proposer, txs)
    }

    /// The validators' verdicts on every open proof the ledger drew; undrawn ones are done.
    fn judge(&mut self) -> anyhow::Result<()> {
        let mut txs = Vec::new();
        let mut still_open = Vec::new();
        for id in std::mem::take(&mut self.open) {
            let Some(p) = self.ledger.proof(&id)? else {
                continue;
            };
            match p.sampled {
                None => still_open.push(id),
                Some(false) => {}
                Some(true) => {
                    let valid = self.honest.contains(&id);
                    for v in &self.validators {
                        // One verdict per validator per drawn proof, in this block.
                        let nonce = self.ledger.account(&v.address())?.nonce
                            + txs.len() as u64 / self.validators.len() as u64;
                        txs.push(
                            Transaction {
                                chain_id: self.ledger.chain_id().to_owned(),
                                nonce,
                                fee: Amount::ZERO,
                                body: TxBody::Verdict { proof: id, valid },
                            }
                            .sign(v),
                        );
                    }
                }
            }
        }
        self.open = still_open;
        if !txs.is_empty() {
            self.block(1_000, &txs)?;
        }
        Ok(())
    }

    fn register(&mut self, wallet: &SecretKey, node: &SecretKey) -> anyhow::Result<()> {
        let consent = node.sign_digest(&node_registration_digest(
            self.ledger.chain_id(),
            &wallet.address(),
        ));
        let tx = self.sign(
            wallet,
            TxBody::RegisterNode {
                node_key: node.public_key(),
                node_signature: consent,
            },
        )?;
        anyhow::ensure!(self.block(1_000, &[tx])?[0], "registration refused");
        Ok(())
    }

    /// The largest training claim the rules allow in one proof interval.
    fn max_batches(&self) -> u64 {
        let p = self.params();
        let rate = p.max_batches_per_sec() * p.proof_interval_ms / 1_000;
        rate.min(u64::from(p.training.inner_steps))
    }

    /// One proof interval: `node` claims `metrics` (over `layers`), accepted in a block whose
    /// proposer grinds `grind` block times if it is a partner; then the draw and the verdicts.
    fn prove(
        &mut self,
        node: &SecretKey,
        metrics: WorkMetrics,
        layers: (u32, u32),
        honest: bool,
        grind: u64,
    ) -> anyhow::Result<bool> {
        self.time_ms += self.params().proof_interval_ms;
        let training = self.ledger.training()?;
        let record = self.ledger.node(&node.address())?;
        let (data_seed, first_batch) = record
            .map(|r| (r.data_seed, r.next_batch))
            .unwrap_or_default();
        let proof = Proof {
            role: Role::Driver,
            layer_start: layers.0,
            layer_end: layers.1,
            round: training.round,
            model_version: training.model_version,
            data_seed,
            data_shard: [2; 32],
            pseudo_gradient: if honest { [3; 32] } else { [4; 32] },
            first_batch,
            metrics,
            timestamp_ms: self.time_ms,
        };
        let tx = self.sign(node, TxBody::SubmitProof(proof))?;
        let id = tx.hash();
        // A grinding proposer tries block times until the state root its block leaves (the
        // next block's draw seed) does not draw its partner's proof.
        let sample = self.params().training.verify_sample_bps;
        let mut offset = 0;
        for k in 0..grind {
            let mut trial = Ledger::open(self.ledger.store().clone())?;
            Self::block_at(
                &mut trial,
                self.time_ms + k,
                self.proposer,
                std::slice::from_ref(&tx),
            )?;
            if !is_sampled(&trial.state_root(), &id, sample) {
                offset = k;
                break;
            }
        }
        self.time_ms += offset;
        let accepted = Self::block_at(&mut self.ledger, self.time_ms, self.proposer, &[tx])?[0];
        if accepted {
            if honest {
                self.honest.insert(id);
            }
            self.open.push(id);
        }
        self.block(1_000, &[])?; // the draw
        self.judge()?;
        Ok(accepted)
    }

    /// Lets every window pass: pending rewards mature, bonds are released.
    fn settle(&mut self) -> anyhow::Result<()> {
        let p = self.params().clone();
        for _ in 0..3 {
            self.judge()?;
            self.block(p.challenge_window_ms, &[])?;
            self.block(p.bond_period_ms, &[])?;
        }
        Ok(())
    }

    fn holdings(&self, wallets: &[Address]) -> anyhow::Result<u128> {
        let mut sum = 0u128;
        for w in wallets {
            let a = self.ledger.account(w)?;
            sum += a.holdings().0 + a.pending.0;
        }
        Ok(sum)
    }
}

/// Plays `strategy` for `proofs` proofs on `params`.
pub fn play(
    params: &Params,
    strategy: Strategy,
    proofs: u64,
    grind: u64,
) -> anyhow::Result<Outcome> {
    let mut chain = Play::new(params)?;
    let wallet = key(b"econ-wallet", 0);
    let node = key(b"econ-node", 0);
    let layers = (0, params.model.layers);
    let interval_s = params.proof_interval_ms / 1_000;
    let max = chain.max_batches();
    let training = |batches| WorkMetrics {
        batches,
        tokens: 0,
        samples: 0,
        uptime_secs: interval_s,
    };
    let mut wallets = vec![wallet.address()];
    let mut baseline = 0u128;
    let mut claims = 0;
    if strategy != Strategy::FreshWallets {
        chain.register(&wallet, &node)?;
    }
    let honest_part = if strategy.builds_bond() {
        proofs / 2
    } else {
        0
    };
    for _ in 0..honest_part {
        chain.prove(&node, training(max), layers, true, 0)?;
    }
    if honest_part > 0 {
        let mut alone = chain.fork()?;
        alone.settle()?;
        baseline = alone.holdings(&wallets)?;
    }
    for i in honest_part..proofs {
        claims += 1;
        match strategy {
            Strategy::Honest => {
                chain.prove(&node, training(max), layers, true, 0)?;
            }
            Strategy::Fabricate | Strategy::BondThenFabricate => {
                chain.prove(&node, training(max), layers, false, 0)?;
            }
            Strategy::Grind => {
                chain.prove(&node, training(max), layers, false, grind)?;
            }
            Strategy::FreshWallets => {
                let (w, n) = (key(b"econ-fresh-wallet", i), key(b"econ-fresh-node", i));
                chain.register(&w, &n)?;
                wallets.push(w.address());
                chain.prove(&n, training(max), layers, false, 0)?;
            }
            Strategy::SamplesOnly => {
                let samples = chain.params().max_samples_per_sec * interval_s;
                let m = WorkMetrics {
                    samples,
                    ..WorkMetrics::default()
                };
                chain.prove(&node, m, layers, false, 0)?;
            }
            Strategy::UptimeOnly => {
                let m = WorkMetrics {
                    uptime_secs: interval_s,
                    ..WorkMetrics::default()
                };
                chain.prove(&node, m, layers, false, 0)?;
            }
            Strategy::StageRange => {
                chain.prove(&node, training(max), (0, 1), false, 0)?;
            }
            Strategy::OwnData => {
                let mut m = training(max);
                m.samples = max * u64::from(params.training.batch_size);
                chain.prove(&node, m, layers, true, 0)?;
            }
        }
    }
    chain.settle()?;
    let held = chain.holdings(&wallets)?;
    let profit = held as i128 - baseline as i128;
    let per_claim = profit as f64 / claims.max(1) as f64;
    let per_day = per_claim * 86_400_000.0 / params.proof_interval_ms as f64;
    Ok(Outcome {
        claims,
        profit,
        per_claim,
        per_day,
    })
}

fn neuro(base: f64) -> f64 {
    base / 1e18
}

pub fn run(args: BenchEconomicsArgs) -> anyhow::Result<()> {
    let params = match args.genesis.as_deref() {
        None => Genesis::dev().params,
        Some("mainnet") => Params::mainnet_defaults(),
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("cannot read {path}: {e}"))?;
            Genesis::from_json(&text)?.params
        }
    };
    params.validate()?;
    println!(
        "sample rate {:.2}%, bond period {} s, {} proofs per strategy, proofs every {} s, largest claim {} batches",
        f64::from(params.training.verify_sample_bps) / 100.0,
        params.bond_period_ms / 1_000,
        args.proofs,
        params.proof_interval_ms / 1_000,
        Play::new(&params)?.max_batches(),
    );
    println!(
        "{:<50} {:>7} {:>14} {:>14} {:>14}",
        "strategy", "claims", "NEURO total", "NEURO/claim", "NEURO/day"
    );
    let mut worst = f64::NEG_INFINITY;
    let mut worst_name = "";
    for s in Strategy::ALL {
        let o = play(&params, s, args.proofs, args.grind)?;
        println!(
            "{:<50} {:>7} {:>14.4} {:>14.6} {:>14.4}",
            s.name(),
            o.claims,
            neuro(o.profit as f64),
            neuro(o.per_claim),
            neuro(o.per_day)
        );
        if s != Strategy::Honest && o.per_day > worst {
            worst = o.per_day;
            worst_name = s.name();
        }
    }
    println!(
        "max_cheater_profit {:.4} NEURO/day ({worst_name})",
        neuro(worst)
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Short plays at the dev genesis: honest work earns, and no way of fabricating work that
    /// the draw can catch profits. (Grinding is printed by the bench, not asserted here.)
    #[test]
    fn at_the_dev_parameters_only_real_work_pays() {
        let params = Genesis::dev().params;
        let honest = play(&params, Strategy::Honest, 60, 0).unwrap();
        assert!(honest.profit > 0, "{honest:?}");
        for s in Strategy::ALL {
            if matches!(s, Strategy::Honest | Strategy::Grind) {
                continue;
            }
            let o = play(&params, s, 60, 0).unwrap();
            assert!(o.profit <= 0, "{o:?}");
        }
    }
}
