//! Command-line interface: argument parsing and dispatch to one module per command group.

mod genesis;

use clap::{Parser, Subcommand};

/// NeuroShard: train NeuroLLM together, on a ledger that pays for the work.
#[derive(Debug, Parser)]
#[command(name = "neuroshard", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check and inspect genesis files.
    #[command(subcommand)]
    Genesis(genesis::GenesisCommand),
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Some(Command::Genesis(cmd)) => genesis::run(cmd),
        None => genesis::summary_of_dev(),
    }
}
