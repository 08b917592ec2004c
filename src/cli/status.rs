//! `neuroshard status [ADDR] [--node URL]`: what a running node is doing, in a few lines a person
//! reads at a glance: height, peers, sync state, the training round, and the wallet's balance and
//! pending rewards.

use clap::Args;
use neuroshard_rpc::RpcClient;
use serde_json::{json, Value};

use super::query::QueryArgs;
use super::wallet::call;

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Wallet address to report [default: this machine's wallet, from NEUROSHARD_TOKEN or the
    /// key file, if there is one].
    pub address: Option<String>,
    #[command(flatten)]
    pub query: QueryArgs,
}

/// The wallet to show: the one named, else this machine's (never created here).
fn wallet(args: &StatusArgs, chain_id: Option<&str>) -> anyhow::Result<Option<String>> {
    if let Some(a) = &args.address {
        let parsed: neuroshard_runtime::Address = a
            .parse()
            .map_err(|_| anyhow::anyhow!("{a:?} is not an address (0x + 40 hex digits)"))?;
        return Ok(Some(parsed.to_string()));
    }
    if std::env::var_os("NEUROSHARD_TOKEN").is_some() || super::wallet::key_file()?.exists() {
        return Ok(Some(
            super::wallet::resolve_key(chain_id)?.address().to_string(),
        ));
    }
    Ok(None)
}

/// Everything the status shows, as one JSON object.
async fn gather(args: &StatusArgs) -> anyhow::Result<Value> {
    let c = RpcClient::new(&args.query.node)?;
    let status = call(&c, "neuro_status", vec![]).await?;
    let model = call(&c, "neuro_getModel", vec![]).await?;
    let round = call(&c, "neuro_getTrainingRound", vec![]).await?;
    let wallet = match wallet(args, status["chain_id"].as_str())? {
        Some(w) => Some(call(&c, "neuro_getAccount", vec![json!(w)]).await?),
        None => None,
    };
    Ok(json!({
        "node": args.query.node,
        "status": status,
        "model": model,
        "round": round,
        "wallet": wallet,
    }))
}

fn str_of<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    path.iter()
        .try_fold(v, |v, k| v.get(*k))
        .and_then(Value::as_str)
        .unwrap_or("?")
}

/// The human form of [`gather`]'s answer.
fn render(v: &Value) -> String {
    let s = &v["status"];
    let mut out = Vec::new();
    let row = |k: &str, val: String| format!("{k:<10} {val}");
    out.push(row(
        "node",
        format!(
            "{} ({}, chain {})",
            str_of(v, &["node"]),
            str_of(s, &["moniker"]),
            str_of(s, &["chain_id"])
        ),
    ));
    let sync = if s["catching_up"].as_bool().unwrap_or(false) {
        "catching up with its peers"
    } else {
        "in sync"
    };
    out.push(row(
        "height",
        format!("{} ({sync})", s["height"].as_u64().unwrap_or(0)),
    ));
    out.push(row("peers", s["peers"].as_u64().unwrap_or(0).to_string()));
    out.push(row(
        "mempool",
        format!("{} transactions", s["mempool_size"].as_u64().unwrap_or(0)),
    ));
    let m = &v["model"];
    let proofs = v["round"]["proofCount"].as_u64().unwrap_or(0);
    out.push(row(
        "round",
        format!(
            "{} open, {proofs} proofs so far, model {}",
            m["round"].as_u64().unwrap_or(0),
            str_of(m, &["modelVersion"])
        ),
    ));
    match v["wallet"].as_object() {
        Some(_) => {
            let w = &v["wallet"];
            out.push(row("wallet", str_of(w, &["address"]).to_owned()));
            out.push(row(
                "balance",
                format!("{} NEURO spendable", str_of(w, &["balanceNeuro"])),
            ));
            out.push(row(
                "pending",
                format!(
                    "{} NEURO in the challenge window (paid once it ends unless proven fraud)",
                    str_of(w, &["pending", "neuro"])
                ),
            ));
            out.push(row(
                "bonded",
                format!(
                    "{} NEURO paid and held as collateral, released a bond period after payment",
                    str_of(w, &["bond", "neuro"])
                ),
            ));
            out.push(row(
                "staked",
                format!("{} NEURO", str_of(w, &["stakeNeuro"])),
            ));
        }
        None => out.push(row(
            "wallet",
            "none on this machine (name an address, or set NEUROSHARD_TOKEN)".into(),
        )),
    }
    out.join("\n")
}

pub fn run(args: StatusArgs) -> anyhow::Result<()> {
    args.query.print(gather(&args), render)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_names_height_sync_peers_round_and_the_wallet() {
        let v = json!({
            "node": "http://127.0.0.1:26657",
            "status": {"chain_id": "neuroshard-dev", "moniker": "dev", "height": 42,
                "catching_up": true, "peers": 3, "mempool_size": 1},
            "model": {"round": 7, "modelVersion": "0xabc"},
            "round": {"proofCount": 5},
            "wallet": {"address": "0x01", "balanceNeuro": "1.5", "stakeNeuro": "0",
                "pending": {"neuro": "0.25"}, "bond": {"neuro": "0.5"}},
        });
        let text = render(&v);
        for want in [
            "height     42 (catching up",
            "peers      3",
            "round      7 open, 5 proofs",
            "balance    1.5 NEURO",
            "pending    0.25 NEURO",
            "bonded     0.5 NEURO",
        ] {
            assert!(text.contains(want), "{want:?} missing from\n{text}");
        }
        let mut none = v.clone();
        none["wallet"] = Value::Null;
        assert!(render(&none).contains("wallet     none on this machine"));
    }
}
