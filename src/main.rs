//! `neuroshard`: the one NeuroShard binary: the node (`node`, `dev`, `testnet init`), genesis
//! tools, local training, and benchmarks. Bare `neuroshard` runs the local dev chain.

mod cli;

use std::process::ExitCode;

use clap::Parser;

/// Default log filter: our own `info`, the consensus engine's warnings. A one-validator dev chain
/// has no peers by design, so the network's "no peers" errors are silenced there.
fn default_filter(args: &cli::Cli) -> String {
    let mut filter = String::from(
        "info,arc_malachitebft_core_consensus=warn,arc_malachitebft_engine=warn,\
         arc_malachitebft_network=warn,arc_malachitebft_discovery=warn,\
         arc_malachitebft_sync=warn,libp2p_swarm=warn,libp2p_gossipsub=warn",
    );
    if matches!(args.command, None | Some(cli::Command::Dev(_))) {
        filter.push_str(",arc_malachitebft_network=off");
    }
    if matches!(args.command, Some(cli::Command::Bench(_))) {
        // Benchmarks print figures; per-block logs of several in-process nodes would drown them.
        return "warn,arc_malachitebft_engine=off,arc_malachitebft_network=off".into();
    }
    filter
}

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("NEUROSHARD_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter(&args))),
        )
        .with_writer(|| neuroshard_client::progress::LogWriter)
        .init();
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
