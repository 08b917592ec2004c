//! `neuroshard rounds [--last N] [--node URL] [--json]`: the network's training, round by round:
//! the model each round trained, how many proofs its result included, the attesting power, and
//! the held-out loss of the next model (nats per token), so a person sees whether the shared
//! model gets better.

use clap::Args;
use neuroshard_rpc::RpcClient;
use serde_json::{json, Value};

use super::query::QueryArgs;
use super::wallet::call;

#[derive(Debug, Args)]
pub struct RoundsArgs {
    /// How many of the most recent rounds to show.
    #[arg(long, default_value_t = 20)]
    pub last: u64,
    #[command(flatten)]
    pub query: QueryArgs,
}

/// The rounds, oldest first (the open one last).
async fn gather(args: &RoundsArgs) -> anyhow::Result<Vec<Value>> {
    let c = RpcClient::new(&args.query.node)?;
    let open = call(&c, "neuro_getTrainingRound", vec![]).await?;
    let current = open["round"].as_u64().unwrap_or(0);
    let first = current.saturating_sub(args.last.saturating_sub(1));
    let mut out = Vec::new();
    for r in first..current {
        out.push(call(&c, "neuro_getTrainingRound", vec![json!(r)]).await?);
    }
    out.push(open);
    Ok(out)
}

fn short(v: &Value) -> String {
    v.as_str()
        .map_or_else(|| "—".into(), |s| s.chars().take(10).collect())
}

/// One line per round.
fn render(rounds: &[Value]) -> String {
    let mut out = vec![format!(
        "{:>6}  {:<10}  {:<10}  {:>7}  {:>9}  {:>12}",
        "round", "model", "next", "proofs", "included", "eval loss"
    )];
    for r in rounds {
        let close = &r["close"];
        let included = r["included"]
            .as_array()
            .map_or_else(|| "—".into(), |a| a.len().to_string());
        let loss = close["evalLoss"]
            .as_str()
            .unwrap_or(if r["open"] == json!(true) {
                "open"
            } else {
                "—"
            });
        out.push(format!(
            "{:>6}  {:<10}  {:<10}  {:>7}  {:>9}  {:>12}",
            r["round"],
            short(&r["model"]),
            short(&r["nextModel"]),
            r["trainedCount"],
            included,
            loss
        ));
    }
    out.join("\n")
}

pub fn run(args: RoundsArgs) -> anyhow::Result<()> {
    args.query.print(gather(&args), |r: &Vec<Value>| render(r))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_per_round_with_its_loss() {
        let rounds = vec![
            json!({"round": 0, "open": false, "model": "0xaaaaaaaaaaaaaaaa", "nextModel": "0xbbbbbbbbbbbb",
                "trainedCount": 3, "included": ["1", "2"], "close": {"evalLoss": "2.500000"}}),
            json!({"round": 1, "open": true, "model": "0xbbbbbbbbbbbb", "nextModel": null,
                "trainedCount": 1, "included": null, "close": null}),
        ];
        let text = render(&rounds);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[1].contains("2.500000") && lines[1].contains("0xbbbbbbbb"));
        assert!(lines[2].trim_end().ends_with("open"));
    }
}
