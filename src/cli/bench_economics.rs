//! `neuroshard bench economics`: every way we know to be paid for work that was not done, played
//! against the real runtime in process (a `Ledger` on the in-memory store, signed transactions,
//! real blocks), over many proofs, beside an honest node on the same parameters.
//!
//! Four validators re-execute what the ledger draws and vote as honest validators would: a
//! drawn honest proof is valid, a drawn fabricated one is not. Nothing here is a formula: each
//! strategy's profit is what its wallets hold at the end (balance, bond, stake) minus what the
//! honest part of its work, played alone on a copy of the chain, ended with. Rounds are held
//! open (round length is no economic parameter); every other parameter is the genesis file's. Beside the profit, each strategy's
//! cost to validators: the batches of drawn claims each re-executes per hour of block time.

use std::collections::HashSet;

use clap::Args;
use neuroshard_runtime::beacon::BeaconSecret;
use neuroshard_runtime::proof::{liveness_batches, Proof, Role, WorkMetrics};
use neuroshard_runtime::tx::{node_registration_digest, registration_expiry};
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
    /// Uptime with made-up liveness answers.
    UptimeOnly,
    /// An idle node: uptime with real liveness answers (one forward batch a minute).
    Idle,
    /// A stage (one layer range) of training that nobody replays.
    StageRange,
    /// Honest first half (building a bond), then fabricated batches whose samples a partner
    /// wallet's node is named to have served, so that the data reward lands outside the
    /// cheater's bond.
    OwnData,
    /// Honest first half, then fabricated claims, with a partner validator that steers the draw
    /// as far as it can: whenever its block would close a draw window that draws a partner
    /// claim, it withholds that block (a later consensus round's proposer proposes instead).
    /// Block time and transaction order no longer enter the draw, so withholding is its only
    /// lever.
    Grind,
}

impl Strategy {
    pub const ALL: [Strategy; 10] = [
        Strategy::Honest,
        Strategy::Idle,
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
            Strategy::UptimeOnly => "uptime, made-up liveness answers",
            Strategy::Idle => "idle (real liveness answers)",
            Strategy::StageRange => "stage range (layers 0..1)",
            Strategy::OwnData => "honest half, then fabricated, data 'served' by a partner",
            Strategy::Grind => "honest half, then fabricated + withholding validator",
        }
    }

    /// Whether the strategy starts with honest work (its profit is measured past it).
    /// Real work (all its claims reproduce).
    fn is_honest(self) -> bool {
        matches!(self, Strategy::Honest | Strategy::Idle)
    }

    fn builds_bond(self) -> bool {
        matches!(
            self,
            Strategy::BondThenFabricate | Strategy::Grind | Strategy::OwnData
        )
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
    /// Blocks a partner validator withheld to dodge draws.
    pub withheld: u64,
    /// Batches of drawn claims each validator re-executed, per hour of block time (the mean
    /// over validators).
    pub replayed_per_hour: f64,
    /// Batches of real work claimed per hour of block time.
    pub trained_per_hour: f64,
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
    /// Blocks the partner validator withheld.
    withheld: u64,
    /// Whether validator 0 is the cheater's partner, withholding its blocks to dodge draws.
    grinder: bool,
    /// The partner's fabricated claims not yet drawn.
    partner: Vec<Hash32>,
    /// Batches of drawn claims re-executed, summed over the validators that re-executed them.
    replayed: u64,
    /// Batches of real work claimed.
    trained: u64,
    /// The node claims name as their samples' server (`None`: the claiming node itself, which
    /// holds the corpus).
    data_server: Option<Address>,
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
            .map(|(i, k)| {
                neuroshard_runtime::genesis::GenesisValidator::for_key(&format!("v{i}"), k, 10)
            })
            .collect();
        let time_ms = genesis.genesis_time_ms()?;
        Ok(Play {
            ledger: Ledger::init_chain(MemoryStorage::new(), &genesis)?,
            time_ms,
            validators,
            honest: HashSet::new(),
            open: Vec::new(),
            withheld: 0,
            grinder: false,
            partner: Vec::new(),
            replayed: 0,
            trained: 0,
            data_server: None,
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
            withheld: self.withheld,
            grinder: self.grinder,
            partner: self.partner.clone(),
            replayed: self.replayed,
            trained: self.trained,
            data_server: self.data_server,
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

    /// Applies one block at `time_ms`, proposed by its first proposer with that validator's
    /// beacon signature, or (`withhold`) by the next validator, as consensus does when the first
    /// proposer stays silent; returns which transactions succeeded.
    fn block_at(
        ledger: &mut Ledger<MemoryStorage>,
        validators: &[SecretKey],
        time_ms: u64,
        txs: &[SignedTransaction],
        withhold: bool,
    ) -> anyhow::Result<Vec<bool>> {
        let height = ledger.height() + 1;
        let first = ledger.draw_proposer(height)?;
        let mut by_address: Vec<&SecretKey> = validators.iter().collect();
        by_address.sort_by_key(|k| k.address());
        let i = by_address
            .iter()
            .position(|k| Some(k.address()) == first)
            .unwrap_or(0);
        let proposer = by_address[(i + usize::from(withhold)) % by_address.len()];
        let address = proposer.address();
        ledger.begin_block(BlockHeader {
            height,
            time_ms,
            proposer: address,
            beacon: Some(BeaconSecret::derive(proposer).sign_height(
                ledger.chain_id(),
                height,
                &address,
            )),
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

    /// Whether the partner validator withholds the next block: it is that block's first
    /// proposer, and its block would close a draw window that draws a partner claim (it plays
    /// the block on a copy of the chain to see).
    fn withholds(&self, txs: &[SignedTransaction]) -> anyhow::Result<bool> {
        let partner = &self.validators[0];
        if !self.grinder
            || self.partner.is_empty()
            || self.ledger.draw_proposer(self.ledger.height() + 1)? != Some(partner.address())
        {
            return Ok(false);
        }
        let mut trial = Ledger::open(self.ledger.store().clone())?;
        Self::block_at(&mut trial, &self.validators, self.time_ms, txs, false)?;
        for id in &self.partner {
            if trial.proof(id)?.is_some_and(|p| p.sampled == Some(true)) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn block(&mut self, advance_ms: u64, txs: &[SignedTransaction]) -> anyhow::Result<Vec<bool>> {
        self.time_ms += advance_ms;
        let withhold = self.withholds(txs)?;
        if withhold {
            self.withheld += 1;
        }
        let ok = Self::block_at(
            &mut self.ledger,
            &self.validators,
            self.time_ms,
            txs,
            withhold,
        )?;
        let mut still = Vec::new();
        for id in std::mem::take(&mut self.partner) {
            if self.ledger.proof(&id)?.is_some_and(|p| p.sampled.is_none()) {
                still.push(id);
            }
        }
        self.partner = still;
        Ok(ok)
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
                    // Shared replay, as validator nodes play it: a drawn proof's replayers
                    // re-execute it; their *invalid* on a fabricated one sends it to every
                    // validator.
                    let judges: Vec<&SecretKey> = self
                        .validators
                        .iter()
                        .filter(|v| !valid || p.replayers.contains(&v.address()))
                        .collect();
                    self.replayed += p.replay_batches() * judges.len() as u64;
                    for v in judges {
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
                expires_ms: registration_expiry(self.params(), self.time_ms),
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

    /// One proof interval: `node` claims `metrics` (over `layers`) in a block; then blocks until
    /// the draw window that draws it closes, and the verdicts.
    fn prove(
        &mut self,
        node: &SecretKey,
        metrics: WorkMetrics,
        layers: (u32, u32),
        honest: bool,
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
            data_shard: self.params().training.corpus,
            pseudo_gradient: if honest { [3; 32] } else { [4; 32] },
            start_state: [0; 32],
            end_state: [0; 32],
            first_batch,
            metrics,
            data_server: (metrics.samples > 0)
                .then(|| self.data_server.unwrap_or_else(|| node.address())),
            timestamp_ms: self.time_ms,
        };
        let tx = self.sign(node, TxBody::SubmitProof(proof))?;
        let id = tx.hash();
        let accepted = self.block(0, &[tx])?[0];
        if accepted {
            if honest {
                self.honest.insert(id);
                self.trained += metrics.batches;
            } else {
                self.partner.push(id);
            }
            self.open.push(id);
            // The draw: a window closes once validators with more than a third of the power
            // contributed (a few blocks here).
            for _ in 0..64 {
                if self.ledger.proof(&id)?.is_some_and(|p| p.sampled.is_some()) {
                    break;
                }
                self.block(1_000, &[])?;
            }
        }
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
pub fn play(params: &Params, strategy: Strategy, proofs: u64) -> anyhow::Result<Outcome> {
    let mut chain = Play::new(params)?;
    let start_ms = chain.time_ms;
    let wallet = key(b"econ-wallet", 0);
    let node = key(b"econ-node", 0);
    let layers = (0, params.model.layers);
    let interval_s = params.proof_interval_ms / 1_000;
    let max = chain.max_batches();
    // Every trainer holds the pinned corpus and names itself as its samples' server.
    let training = |batches| WorkMetrics {
        batches,
        tokens: 0,
        samples: batches * u64::from(params.training.batch_size),
        uptime_secs: 0,
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
        chain.prove(&node, training(max), layers, true)?;
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
                chain.prove(&node, training(max), layers, true)?;
            }
            Strategy::Fabricate | Strategy::BondThenFabricate => {
                chain.prove(&node, training(max), layers, false)?;
            }
            Strategy::Grind => {
                chain.grinder = true;
                chain.prove(&node, training(max), layers, false)?;
            }
            Strategy::FreshWallets => {
                let (w, n) = (key(b"econ-fresh-wallet", i), key(b"econ-fresh-node", i));
                chain.register(&w, &n)?;
                wallets.push(w.address());
                chain.prove(&n, training(max), layers, false)?;
            }
            Strategy::SamplesOnly => {
                let samples = chain.params().max_samples_per_sec * interval_s;
                let m = WorkMetrics {
                    samples,
                    ..WorkMetrics::default()
                };
                chain.prove(&node, m, layers, false)?;
            }
            Strategy::UptimeOnly | Strategy::Idle => {
                let m = WorkMetrics {
                    uptime_secs: interval_s,
                    ..WorkMetrics::default()
                };
                chain.prove(&node, m, layers, strategy == Strategy::Idle)?;
            }
            Strategy::StageRange => {
                chain.prove(&node, training(max), (0, 1), false)?;
            }
            Strategy::OwnData => {
                if chain.data_server.is_none() {
                    let (w, n) = (key(b"econ-partner-wallet", 0), key(b"econ-partner-node", 0));
                    chain.register(&w, &n)?;
                    wallets.push(w.address());
                    chain.data_server = Some(n.address());
                }
                chain.prove(&node, training(max), layers, false)?;
            }
        }
    }
    let hours = (chain.time_ms - start_ms) as f64 / 3_600_000.0;
    let replayed_per_hour =
        chain.replayed as f64 / chain.validators.len().max(1) as f64 / hours.max(1e-9);
    let trained_per_hour = chain.trained as f64 / hours.max(1e-9);
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
        withheld: chain.withheld,
        replayed_per_hour,
        trained_per_hour,
    })
}

fn neuro(base: f64) -> f64 {
    base / 1e18
}

pub fn run(args: BenchEconomicsArgs) -> anyhow::Result<()> {
    let params = super::genesis::params_of(args.genesis.as_deref())?;
    println!(
        "sample rate {:.2}%, bond period {} s, {} proofs per strategy, proofs every {} s, largest claim {} batches",
        f64::from(params.training.verify_sample_bps) / 100.0,
        params.bond_period_ms / 1_000,
        args.proofs,
        params.proof_interval_ms / 1_000,
        Play::new(&params)?.max_batches(),
    );
    println!(
        "newcomer replay budget {} batches per hour (a claim its bond covers less than half of is a newcomer's)",
        params.training.newcomer_replay_batches_per_hour,
    );
    println!(
        "{:<50} {:>7} {:>14} {:>14} {:>14} {:>12}",
        "strategy", "claims", "NEURO total", "NEURO/claim", "NEURO/day", "replayed/h"
    );
    let mut worst = f64::NEG_INFINITY;
    let mut honest_per_claim = 0.0;
    let max = Play::new(&params)?.max_batches();
    let interval_s = params.proof_interval_ms / 1_000;
    let mut worst_name = "";
    for s in Strategy::ALL {
        let o = play(&params, s, args.proofs)?;
        println!(
            "{:<50} {:>7} {:>14.4} {:>14.6} {:>14.4} {:>12.0}",
            s.name(),
            o.claims,
            neuro(o.profit as f64),
            neuro(o.per_claim),
            neuro(o.per_day),
            o.replayed_per_hour
        );
        if s == Strategy::Idle {
            // Pay per unit of compute: a liveness answer is one forward batch per started
            // minute, a training batch about three forward batches' work.
            let forward = liveness_batches(interval_s) as f64;
            let per_answer = neuro(o.per_claim);
            let training = neuro(honest_per_claim) / (3.0 * max as f64);
            println!(
                "    {per_answer:.6} NEURO per forward batch answering, {training:.6} per forward-batch of compute training ({:.0}%): an identity more earns less than training with its compute",
                100.0 * per_answer / forward / training.max(1e-30),
            );
        }
        if s == Strategy::Honest {
            honest_per_claim = o.per_claim;
            // A replay costs what training does (bench ponw: 0.99x), so batches compare CPU.
            println!(
                "    validator replay CPU: {:.2}% of the network's training CPU per validator ({:.0} of {:.0} batches/h; goal <= 3%)",
                100.0 * o.replayed_per_hour / o.trained_per_hour.max(1e-9),
                o.replayed_per_hour,
                o.trained_per_hour,
            );
        }
        if s == Strategy::Grind {
            println!(
                "    (its partner validator withheld {} blocks that would have drawn a partner claim; each spoiled its draw window, so every claim in it was drawn)",
                o.withheld
            );
        }
        if !s.is_honest() && o.per_day > worst {
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

    /// Short plays at the dev genesis: honest work earns, and no way of fabricating work
    /// profits, a partner validator withholding its blocks to dodge the draw included.
    #[test]
    fn at_the_dev_parameters_only_real_work_pays() {
        let params = Genesis::dev().params;
        let honest = play(&params, Strategy::Honest, 60).unwrap();
        assert!(honest.profit > 0, "{honest:?}");
        for s in Strategy::ALL {
            if s.is_honest() {
                continue;
            }
            let o = play(&params, s, 60).unwrap();
            assert!(o.profit <= 0, "{o:?}");
        }
    }
}
