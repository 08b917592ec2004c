//! `neuroshard wallet gov …`: NeuroDAO from the wallet: propose parameter changes, deposit,
//! vote, and read proposals and their tallies.

use anyhow::{bail, Context};
use clap::Subcommand;
use neuroshard_runtime::gov::{ArchitectureChange, ParamChange, ProposalAction, VoteOption};
use neuroshard_runtime::{Amount, TxBody};
use serde_json::{json, Value};

use super::wallet::{call, client, neuro, parse_amount, print, report, send, WalletArgs};

#[derive(Debug, Subcommand)]
pub enum GovCommand {
    /// Propose changing parameters (names as in genesis/README.md) or NeuroLLM's attention,
    /// depositing DEPOSIT NEURO (at least a quarter of gov.min_deposit; the vote opens once the
    /// proposal holds all of it).
    Propose {
        /// One line saying what the change is for.
        #[arg(long)]
        title: String,
        /// NAME=VALUE, as the genesis file spells the value (e.g. reward_per_batch=0.001,
        /// gov.voting_period_ms=86400000); repeat for several.
        #[arg(long = "set", value_name = "NAME=VALUE", required_unless_present_any = ["rope_theta", "context"], conflicts_with_all = ["rope_theta", "context"])]
        set: Vec<String>,
        /// Architecture: attention's rotary base, from the next training round on.
        #[arg(long)]
        rope_theta: Option<u32>,
        /// Architecture: the context attention spans, from the next training round on.
        #[arg(long)]
        context: Option<u32>,
        #[arg(long)]
        deposit: String,
    },
    /// Add AMOUNT NEURO to the deposit of proposal ID.
    Deposit { id: u64, amount: String },
    /// Vote on proposal ID: yes, no, abstain or veto (once; weight: bonded stake at the close).
    Vote { id: u64, option: String },
    /// Proposal ID with its votes, or the latest proposals and the voting rules.
    Show {
        id: Option<u64>,
        #[arg(long, default_value_t = 20)]
        limit: u64,
    },
}

/// `NAME=VALUE` pairs as parameter changes.
fn parse_changes(set: &[String]) -> anyhow::Result<Vec<ParamChange>> {
    set.iter()
        .map(|s| {
            let (name, value) = s
                .split_once('=')
                .with_context(|| format!("{s:?} is not NAME=VALUE"))?;
            Ok(ParamChange::new(name.trim(), value.trim()))
        })
        .collect()
}

/// A tally: final once the vote closed, else what it would decide if the vote closed now.
fn tally_line(t: &Value, closed: bool) -> String {
    if t.is_null() {
        return "no tally".into();
    }
    format!(
        "yes {} · no {} · abstain {} · veto {} of {} NEURO of power ({}{})",
        neuro(&t["yes"]),
        neuro(&t["no"]),
        neuro(&t["abstain"]),
        neuro(&t["veto"]),
        neuro(&t["totalPower"]),
        if closed { "" } else { "if it closed now: " },
        t["outcome"].as_str().unwrap_or("?")
    )
}

fn proposal_lines(p: &Value) -> String {
    let changes: Vec<String> = p["action"]["changes"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .map(|c| {
                    format!(
                        "{} = {}",
                        c["name"].as_str().unwrap_or("?"),
                        c["value"].as_str().unwrap_or("?")
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let mut status = p["status"].as_str().unwrap_or("?").to_owned();
    if let Some(h) = p["activationHeight"].as_u64() {
        status.push_str(&format!(" (applies at height {h})"));
    }
    if p["status"] == "nextRound" {
        status.push_str(" (applies when the next training round opens)");
    }
    if let Some(h) = p["appliedHeight"].as_u64() {
        status.push_str(&format!(" at height {h}"));
    }
    if let Some(r) = p["reason"].as_str() {
        status.push_str(&format!(": {r}"));
    }
    let mut out = format!(
        "#{} {:?} [{status}]\n  {}\n  deposit {} of {} NEURO · {} votes · {}",
        p["id"],
        p["title"].as_str().unwrap_or(""),
        changes.join(", "),
        neuro(&p["totalDeposit"]),
        neuro(&p["minDeposit"]),
        p["voters"],
        tally_line(&p["tally"], p["final"].as_bool() == Some(true)),
    );
    for v in p["votes"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "\n    {} {} ({} NEURO)",
            v["voter"].as_str().unwrap_or("?"),
            v["option"].as_str().unwrap_or("?"),
            neuro(&v["power"])
        ));
    }
    out
}

pub(super) async fn run(args: &WalletArgs, command: &GovCommand) -> anyhow::Result<()> {
    match command {
        GovCommand::Propose {
            title,
            set,
            rope_theta,
            context,
            deposit,
        } => {
            let deposit = parse_amount(deposit)?;
            let action = if set.is_empty() {
                ProposalAction::Architecture(ArchitectureChange {
                    rope_theta: *rope_theta,
                    context: *context,
                })
            } else {
                ProposalAction::SetParams(parse_changes(set)?)
            };
            let body = TxBody::SubmitProposal {
                title: title.clone(),
                action,
                deposit,
            };
            let v = send(args, "submitProposal", body, deposit).await?;
            report(args, &v)?;
        }
        GovCommand::Deposit { id, amount } => {
            let amount = parse_amount(amount)?;
            let body = TxBody::Deposit {
                proposal: *id,
                amount,
            };
            let v = send(args, "deposit", body, amount).await?;
            report(args, &v)?;
        }
        GovCommand::Vote { id, option } => {
            let Some(option) = VoteOption::parse(option) else {
                bail!("{option:?} is not a vote: yes, no, abstain or veto");
            };
            let body = TxBody::Vote {
                proposal: *id,
                option,
            };
            let v = send(args, "vote", body, Amount::ZERO).await?;
            report(args, &v)?;
        }
        GovCommand::Show { id: Some(id), .. } => {
            let v = call(&client(args)?, "neuro_getProposal", vec![json!(id)]).await?;
            print(args, &v, proposal_lines);
        }
        GovCommand::Show { id: None, limit } => {
            let v = call(
                &client(args)?,
                "neuro_getProposals",
                vec![json!({"limit": limit})],
            )
            .await?;
            print(args, &v, |v| {
                let r = &v["rules"];
                let mut out = format!(
                    "NeuroDAO: deposit {} NEURO, votes last {} s, quorum {}%, threshold {}%, veto {}%, timelock {} blocks",
                    neuro(&r["minDeposit"]),
                    r["votingPeriodMs"].as_u64().unwrap_or(0) / 1000,
                    r["quorumBps"].as_u64().unwrap_or(0) as f64 / 100.0,
                    r["thresholdBps"].as_u64().unwrap_or(0) as f64 / 100.0,
                    r["vetoThresholdBps"].as_u64().unwrap_or(0) as f64 / 100.0,
                    r["timelockBlocks"],
                );
                let list = v["proposals"].as_array().cloned().unwrap_or_default();
                if list.is_empty() {
                    out.push_str("\nno proposals yet");
                }
                for p in &list {
                    out.push('\n');
                    out.push_str(&proposal_lines(p));
                }
                out
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_are_name_value_pairs() {
        let c = parse_changes(&[
            "reward_per_batch=0.001".into(),
            "gov.quorum_bps = 4000".into(),
        ])
        .unwrap();
        assert_eq!(c[0], ParamChange::new("reward_per_batch", "0.001"));
        assert_eq!(c[1], ParamChange::new("gov.quorum_bps", "4000"));
        assert!(parse_changes(&["nothing".into()]).is_err());
    }
}
