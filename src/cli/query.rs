//! What the read-only query commands (`status`, `rounds`) share: the node's address, and an
//! answer printed as JSON for scripts or as text for a person.

use std::future::Future;

use clap::Args;
use serde::Serialize;

/// Where a local node answers JSON-RPC by default.
pub const DEFAULT_NODE: &str = "http://127.0.0.1:26657";

#[derive(Debug, Args)]
pub struct QueryArgs {
    /// The node's JSON-RPC address.
    #[arg(long, default_value = DEFAULT_NODE, env = "NEUROSHARD_NODE")]
    pub node: String,
    /// Print JSON (for scripts).
    #[arg(long)]
    pub json: bool,
}

impl QueryArgs {
    /// Runs `gather` on a one-thread runtime and prints what it returns.
    pub fn print<T: Serialize>(
        &self,
        gather: impl Future<Output = anyhow::Result<T>>,
        render: impl FnOnce(&T) -> String,
    ) -> anyhow::Result<()> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let answer = rt.block_on(gather)?;
        if self.json {
            println!("{}", serde_json::to_string_pretty(&answer)?);
        } else {
            println!("{}", render(&answer));
        }
        Ok(())
    }
}
