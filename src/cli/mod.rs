//! Command-line interface: argument parsing and dispatch to one module per command group.

mod bench_blobs;
mod bench_chain;
mod bench_economics;
#[cfg(feature = "training")]
mod bench_ponw;
#[cfg(feature = "training")]
mod bench_round;
mod bench_rpc;
mod genesis;
mod gov;
mod infer;
mod node;
mod query;
mod rounds;
mod run;
mod status;
#[cfg(feature = "training")]
mod train;
mod wallet;

use clap::{Parser, Subcommand};

/// NeuroShard: train NeuroLLM together, on a ledger that pays for the work.
#[derive(Debug, Parser)]
#[command(
    name = "neuroshard",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// With no command: run a node that trains and earns (see `neuroshard --help`).
    #[command(flatten)]
    pub run: run::RunArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check and inspect genesis files.
    #[command(subcommand)]
    Genesis(genesis::GenesisCommand),
    /// Train NeuroLLM locally (synthetic corpus or your text files), with a progress bar.
    #[cfg(feature = "training")]
    Train(train::TrainArgs),
    /// Generate text from a checkpoint (greedy or temperature sampling, KV cache).
    #[cfg(feature = "training")]
    Generate(train::GenerateArgs),
    /// Work with sharded checkpoints.
    #[cfg(feature = "training")]
    #[command(subcommand)]
    Checkpoint(train::CheckpointCommand),
    /// Run a node (validator or full node) from its home directory.
    Node(node::NodeArgs),
    /// Run the local single-validator dev chain (home under $NEUROSHARD_HOME, reused).
    Dev(node::DevArgs),
    /// Create local test networks.
    #[command(subcommand)]
    Testnet(node::TestnetCommand),
    /// Wallet: keys, balances, transfers, staking, history (talks to a node's JSON-RPC).
    Wallet(wallet::WalletArgs),
    /// Height, peers, sync state, training round, and the wallet's balance and pending rewards
    /// of a running node.
    Status(status::StatusArgs),
    /// The network's training round by round: proofs included, held-out loss of each next model.
    Rounds(rounds::RoundsArgs),
    /// Buy one inference from a node: pays its posted price on chain, prints the text.
    Infer(infer::InferArgs),
    /// Measure throughput.
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Committed transfers per second and commit latency of a loopback testnet in this process.
    Chain(bench_chain::BenchChainArgs),
    /// Plays every known way to be paid for work not done against the runtime, beside an
    /// honest node: profit per claim and per day, ending with `max_cheater_profit`.
    Economics(bench_economics::BenchEconomicsArgs),
    /// Requests per second of neuro_getAccount and neuro_getBlock over loopback HTTP.
    Rpc(bench_rpc::BenchRpcArgs),
    /// Blob transfer MB/s between two blob swarms on loopback, beside a plain TCP copy.
    Blobs(bench_blobs::BenchBlobsArgs),
    /// Proof of Neural Work costs here: proving overhead, verification ratio, NEURO per day.
    #[cfg(feature = "training")]
    Ponw(bench_ponw::BenchPonwArgs),
    /// Round close costs (clip, robust rule, outer step, held-out evaluation) for 4/16/64 workers.
    #[cfg(feature = "training")]
    Round(bench_round::BenchRoundArgs),
    /// Robust-aggregation throughput (GB/s) over WORKERS vectors of LEN f32 values.
    #[cfg(feature = "training")]
    Aggregate {
        #[arg(long, default_value_t = 16)]
        workers: usize,
        #[arg(long, default_value_t = 10_000_000)]
        len: i64,
    },
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Some(Command::Genesis(cmd)) => genesis::run(cmd),
        Some(Command::Node(args)) => node::run_node(args),
        Some(Command::Wallet(args)) => wallet::run(args),
        Some(Command::Status(args)) => status::run(args),
        Some(Command::Rounds(args)) => rounds::run(args),
        Some(Command::Dev(args)) => node::run_dev(args),
        Some(Command::Infer(args)) => infer::run(args),
        Some(Command::Testnet(cmd)) => node::run_testnet(cmd),
        #[cfg(feature = "training")]
        Some(Command::Train(args)) => train::train(args),
        #[cfg(feature = "training")]
        Some(Command::Generate(args)) => train::generate_text(args),
        #[cfg(feature = "training")]
        Some(Command::Checkpoint(cmd)) => train::checkpoint_cmd(cmd),
        #[cfg(feature = "training")]
        Some(Command::Bench(BenchCommand::Aggregate { workers, len })) => {
            train::bench_aggregate(workers, len)
        }
        Some(Command::Bench(BenchCommand::Chain(args))) => bench_chain::run(args),
        Some(Command::Bench(BenchCommand::Economics(args))) => bench_economics::run(args),
        #[cfg(feature = "training")]
        Some(Command::Bench(BenchCommand::Ponw(args))) => bench_ponw::run(args),
        Some(Command::Bench(BenchCommand::Rpc(args))) => bench_rpc::run(args),
        Some(Command::Bench(BenchCommand::Blobs(args))) => bench_blobs::run(args),
        #[cfg(feature = "training")]
        Some(Command::Bench(BenchCommand::Round(args))) => bench_round::run(args),
        None => {
            if cli.run.home.is_none() {
                genesis::summary_of_dev()?;
            }
            run::run(cli.run)
        }
    }
}
