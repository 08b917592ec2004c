//! `neuroshard wallet …`: keys, balances and signed transactions against a node's JSON-RPC.
//!
//! The wallet's key comes from `NEUROSHARD_TOKEN` or the key file `$NEUROSHARD_HOME/wallet.key`
//! (mode 0600) that `wallet new` (a random key: the way to make a wallet) and `wallet import`
//! write; never from an argument, which every user of the machine can read in the process list.
//! The token and key never appear in output or logs; `wallet import` reads a typed token without
//! echoing it.
//!
//! A signed transaction trusts the node for nothing it can check itself: the chain id is pinned
//! (`--chain-id`, else the one this wallet first signed for, kept in `wallet.chain` beside the
//! key) and the fee the node asks for is refused above `--max-fee`.

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use neuroshard_chain::node::config::{random_key, write_file};
use neuroshard_rpc::client::ClientError;
use neuroshard_rpc::RpcClient;
use neuroshard_runtime::{Address, Amount, SecretKey, Transaction, TxBody};
use serde_json::{json, Value};

#[derive(Debug, Args)]
pub struct WalletArgs {
    /// The node's JSON-RPC address.
    #[arg(
        long,
        global = true,
        default_value = "http://127.0.0.1:26657",
        env = "NEUROSHARD_NODE"
    )]
    pub node: String,
    /// Print JSON (for scripts).
    #[arg(long, global = true)]
    pub json: bool,
    /// The chain this wallet signs for [default: the one it first signed for].
    #[arg(long, global = true, env = "NEUROSHARD_CHAIN_ID")]
    pub chain_id: Option<String>,
    /// The most fee (NEURO) a transaction may pay, whatever the node asks.
    #[arg(long, global = true, default_value = "0.01")]
    pub max_fee: String,
    #[command(subcommand)]
    pub command: WalletCommand,
}

#[derive(Debug, Subcommand)]
pub enum WalletCommand {
    /// Create a new wallet key file and print its address.
    New {
        /// Replace an existing key file.
        #[arg(long)]
        force: bool,
    },
    /// Store the key of a token (from NEUROSHARD_TOKEN, or typed on standard input).
    Import {
        #[arg(long)]
        force: bool,
    },
    /// Print this wallet's address.
    Address,
    /// Balance, stake and nonce of ADDR (default: this wallet).
    Balance { address: Option<String> },
    /// Send AMOUNT NEURO (exact decimal, e.g. 1.25) to TO.
    Transfer { to: String, amount: String },
    /// Bond AMOUNT NEURO as validator stake.
    Stake { amount: String },
    /// Start unbonding AMOUNT NEURO of stake.
    Unstake { amount: String },
    /// Withdraw matured unbonding stake.
    Withdraw,
    /// Transactions touching ADDR, newest first.
    History {
        address: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: u64,
    },
    /// Accepted proofs of ADDR (wallet or node), newest first, with rewards.
    Proofs {
        address: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: u64,
    },
    /// Minted, burned, slashed and circulating NEURO.
    Supply,
    /// NeuroDAO: propose parameter changes, deposit, vote, show proposals.
    #[command(subcommand)]
    Gov(super::gov::GovCommand),
}

pub(super) fn key_file() -> anyhow::Result<PathBuf> {
    Ok(super::node::neuroshard_home()?.join("wallet.key"))
}

/// The wallet key: `NEUROSHARD_TOKEN`, or the key file. A 64-hex token is the key on every
/// chain; a passphrase is stretched with a per-chain salt, so it needs the chain: `chain`, else
/// the chain this wallet is pinned to (`wallet.chain`).
pub(super) fn resolve_key(chain: Option<&str>) -> anyhow::Result<SecretKey> {
    if let Ok(token) = std::env::var("NEUROSHARD_TOKEN") {
        return key_of_token(&token, chain).context("NEUROSHARD_TOKEN is not a valid token");
    }
    let path = key_file()?;
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "no wallet: set NEUROSHARD_TOKEN, or create {} with `neuroshard wallet new` or `import`",
            path.display()
        )
    })?;
    SecretKey::from_hex_token(text.trim())
        .with_context(|| format!("{} holds no valid key", path.display()))
}

/// The key of a typed or exported token on `chain` (else the pinned chain).
fn key_of_token(token: &str, chain: Option<&str>) -> anyhow::Result<SecretKey> {
    if neuroshard_runtime::crypto::token_is_key(token) || token.is_empty() {
        return Ok(SecretKey::from_token(token, "")?);
    }
    let pinned = std::fs::read_to_string(chain_file()?).ok();
    let Some(chain) = chain.or(pinned.as_deref().map(str::trim)) else {
        bail!(
            "a passphrase token opens a different wallet on each chain: name the chain with \
             --chain-id (or NEUROSHARD_CHAIN_ID), or use a key from `neuroshard wallet new`"
        );
    };
    Ok(SecretKey::from_token(token, chain)?)
}

pub(super) fn save_key(key: &SecretKey, force: bool) -> anyhow::Result<PathBuf> {
    let path = key_file()?;
    if path.exists() && !force {
        bail!(
            "{} already exists (use --force to replace it)",
            path.display()
        );
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    write_file(&path, key.to_token().as_bytes(), true)?;
    Ok(path)
}

pub(super) fn parse_amount(s: &str) -> anyhow::Result<Amount> {
    s.parse::<Amount>()
        .map_err(|e| anyhow::anyhow!("{s:?} is not an amount of NEURO: {e}"))
}

fn target(address: &Option<String>, chain: Option<&str>) -> anyhow::Result<Address> {
    match address {
        Some(a) => a
            .parse()
            .map_err(|_| anyhow::anyhow!("{a:?} is not an address (0x + 40 hex digits)")),
        None => Ok(resolve_key(chain)?.address()),
    }
}

pub(super) fn client(args: &WalletArgs) -> anyhow::Result<RpcClient> {
    Ok(RpcClient::new(&args.node)?)
}

pub(super) fn print(args: &WalletArgs, value: &Value, human: impl FnOnce(&Value) -> String) {
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(value).unwrap_or_default()
        );
    } else {
        println!("{}", human(value));
    }
}

pub(super) fn neuro(v: &Value) -> String {
    v.get("neuro")
        .and_then(Value::as_str)
        .unwrap_or("?")
        .to_owned()
}

pub(super) async fn call(c: &RpcClient, method: &str, params: Vec<Value>) -> anyhow::Result<Value> {
    c.call(method, params).await.map_err(|e| match e {
        ClientError::Unreachable { url, reason } => {
            anyhow::anyhow!("node unreachable at {url}: {reason} (is it running? see --node)")
        }
        other => anyhow::anyhow!("{other}"),
    })
}

/// The file that pins the chain this wallet signs for.
fn chain_file() -> anyhow::Result<PathBuf> {
    Ok(super::node::neuroshard_home()?.join("wallet.chain"))
}

/// The chain id to sign for: `wanted` (`--chain-id`) or the pinned one must be the node's; with
/// neither, the node's is pinned now (trust on first use). Returns whether to write the pin.
fn check_chain(wanted: Option<&str>, pinned: Option<&str>, node: &str) -> anyhow::Result<bool> {
    match wanted.or(pinned) {
        Some(id) if id == node => Ok(wanted.is_none() && pinned.is_none()),
        Some(id) => bail!(
            "the node at --node is on chain {node:?}, but this wallet signs for {id:?} \
             (--chain-id, or the pin in wallet.chain): refusing to sign for another chain"
        ),
        None => Ok(true),
    }
}

/// Checks the node's chain against `wanted` (`--chain-id`) or the pin, pinning it on first use.
pub(super) fn checked_chain(wanted: Option<&str>, node_chain: &str) -> anyhow::Result<()> {
    let pin_path = chain_file()?;
    let pinned = std::fs::read_to_string(&pin_path).ok();
    if check_chain(wanted, pinned.as_deref().map(str::trim), node_chain)? {
        if let Some(dir) = pin_path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        write_file(&pin_path, node_chain.as_bytes(), false)?;
    }
    Ok(())
}

/// The node's fee estimate, if it is at most `max`.
pub(super) fn check_fee(fee: Amount, max: Amount) -> anyhow::Result<()> {
    if fee > max {
        bail!(
            "the node asks a fee of {} NEURO, above --max-fee {} NEURO: refusing",
            fee.to_neuro_string(),
            max.to_neuro_string()
        );
    }
    Ok(())
}

/// Signs `body` with the next nonce, submits it, waits for the block and returns the receipt.
pub(super) async fn send(
    args: &WalletArgs,
    kind: &str,
    body: TxBody,
    spend: Amount,
) -> anyhow::Result<Value> {
    let max_fee = parse_amount(&args.max_fee).context("--max-fee")?;
    let c = client(args)?;
    let status = call(&c, "neuro_status", vec![]).await?;
    let chain_id = status["chain_id"]
        .as_str()
        .context("the node's status names no chain")?
        .to_owned();
    checked_chain(args.chain_id.as_deref(), &chain_id)?;
    let key = resolve_key(Some(&chain_id))?;
    let account = call(
        &c,
        "neuro_getAccount",
        vec![key.address().to_string().into()],
    )
    .await?;
    let nonce = account["nonce"].as_u64().context("account without nonce")?;
    let fee_info = call(&c, "neuro_estimateFee", vec![kind.into()]).await?;
    let fee: Amount = fee_info["fee"]["base"]
        .as_str()
        .and_then(|s| s.parse::<u128>().ok())
        .map(Amount)
        .context("fee estimate")?;
    check_fee(fee, max_fee)?;
    let balance = account["balance"]
        .as_str()
        .and_then(|s| s.parse::<u128>().ok())
        .map(Amount)
        .unwrap_or_default();
    let needed = spend.checked_add(fee).context("amount too large")?;
    if balance < needed {
        bail!(
            "insufficient balance: {} has {} NEURO, this needs {} NEURO (amount {} + fee {})",
            key.address(),
            balance.to_neuro_string(),
            needed.to_neuro_string(),
            spend.to_neuro_string(),
            fee.to_neuro_string()
        );
    }
    let tx = Transaction {
        chain_id,
        nonce,
        fee,
        body,
    }
    .sign(&key);
    let hash = c
        .send_transaction(&tx)
        .await
        .map_err(|e| anyhow::anyhow!("rejected: {e}"))?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(found) = c.transaction(&hash).await? {
            return Ok(found);
        }
        if Instant::now() > deadline {
            bail!(
                "transaction 0x{} was accepted but is not in a block after 60 s",
                hex::encode(hash)
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A wallet that became a validator by staking registers its beacon key (derived from its
/// key), without which it has no voting power; once, so a later stake sends nothing.
async fn register_beacon_key(args: &WalletArgs) -> anyhow::Result<()> {
    // The stake that made this wallet a validator pinned the chain.
    let key = resolve_key(args.chain_id.as_deref())?;
    let c = client(args)?;
    let account = call(
        &c,
        "neuro_getAccount",
        vec![key.address().to_string().into()],
    )
    .await?;
    let validator = &account["validator"];
    if validator.is_null() || !validator["beaconKey"].is_null() {
        return Ok(());
    }
    let status = call(&c, "neuro_status", vec![]).await?;
    let chain_id = status["chain_id"]
        .as_str()
        .context("the node's status names no chain")?;
    let beacon = neuroshard_runtime::beacon::BeaconSecret::derive(&key);
    let body = TxBody::SetBeaconKey {
        key: beacon.public_key(),
        possession: beacon.possession(chain_id, &key.address()),
    };
    let v = send(args, "setBeaconKey", body, Amount::ZERO).await?;
    report(args, &v)
}

/// Prints the receipt; a transaction whose body failed (fee still paid) is an error exit.
pub(super) fn report(args: &WalletArgs, v: &Value) -> anyhow::Result<()> {
    print(args, v, receipt_line);
    if v["receipt"]["success"].as_bool() != Some(true) {
        bail!(
            "the transaction is in a block but failed: {}",
            v["receipt"]["error"].as_str().unwrap_or("unknown reason")
        );
    }
    Ok(())
}

fn receipt_line(v: &Value) -> String {
    let r = &v["receipt"];
    let t = &v["transaction"];
    let outcome = if r["success"].as_bool() == Some(true) {
        "ok".to_owned()
    } else {
        format!("FAILED: {}", r["error"].as_str().unwrap_or("?"))
    };
    format!(
        "{} {} in block {} ({outcome}); fee {} NEURO, burned {} NEURO",
        t["kind"].as_str().unwrap_or("?"),
        t["hash"].as_str().unwrap_or("?"),
        r["height"],
        neuro(&r["fee"]),
        neuro(&r["burned"]),
    )
}

fn history_lines(v: &Value) -> String {
    let items = v["items"].as_array().cloned().unwrap_or_default();
    if items.is_empty() {
        return "nothing yet".into();
    }
    items
        .iter()
        .map(|i| {
            let events: Vec<String> = i["events"]
                .as_array()
                .map(|es| {
                    es.iter()
                        .filter(|e| e["type"] != "feePaid")
                        .map(|e| match e["type"].as_str().unwrap_or("?") {
                            "transfer" => format!(
                                "transfer {} -> {}: {} NEURO",
                                e["from"].as_str().unwrap_or("?"),
                                e["to"].as_str().unwrap_or("?"),
                                neuro(&e["amount"])
                            ),
                            "reward" => format!(
                                "reward {} NEURO for {} batches",
                                neuro(&e["amount"]),
                                e["batches"]
                            ),
                            "slashed" => format!(
                                "slashed {} NEURO ({} to the reporter)",
                                neuro(&e["taken"]),
                                neuro(&e["toReporter"])
                            ),
                            "spent" => format!(
                                "spent {} NEURO ({} burned)",
                                neuro(&e["amount"]),
                                neuro(&e["burned"])
                            ),
                            other => other.to_owned(),
                        })
                        .collect()
                })
                .unwrap_or_default();
            format!(
                "#{:<8} {:<12} {} {}",
                i["height"],
                i["kind"].as_str().unwrap_or("?"),
                if i["success"].as_bool() == Some(true) {
                    "ok    "
                } else {
                    "failed"
                },
                events.join("; ")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A paged listing (history or proofs) of ADDR, newest first.
async fn listing(
    args: &WalletArgs,
    method: &str,
    address: &Option<String>,
    limit: u64,
) -> anyhow::Result<()> {
    let a = target(address, args.chain_id.as_deref())?;
    let v = call(
        &client(args)?,
        method,
        vec![a.to_string().into(), json!({ "limit": limit })],
    )
    .await?;
    print(args, &v, history_lines);
    Ok(())
}

pub fn run(args: WalletArgs) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(run_async(&args))
}

async fn run_async(args: &WalletArgs) -> anyhow::Result<()> {
    match &args.command {
        WalletCommand::New { force } => {
            let key = SecretKey::from_entropy(random_key());
            let path = save_key(&key, *force)?;
            print(
                args,
                &json!({"address": key.address(), "keyFile": path}),
                |_| {
                    format!(
                        "new wallet {} (key saved to {}, mode 0600)",
                        key.address(),
                        path.display()
                    )
                },
            );
        }
        WalletCommand::Import { force } => {
            let token = match std::env::var("NEUROSHARD_TOKEN") {
                Ok(t) => t,
                // Typed at a terminal: not echoed. Piped: read as a line.
                Err(_) if std::io::stdin().is_terminal() => {
                    rpassword::prompt_password("wallet token (not shown; then Enter): ")?
                        .trim()
                        .to_owned()
                }
                Err(_) => {
                    let mut line = String::new();
                    std::io::stdin().lock().read_line(&mut line)?;
                    line.trim().to_owned()
                }
            };
            let key = key_of_token(&token, args.chain_id.as_deref()).context("invalid token")?;
            let path = save_key(&key, *force)?;
            print(
                args,
                &json!({"address": key.address(), "keyFile": path}),
                |_| {
                    format!(
                        "imported wallet {} (key saved to {})",
                        key.address(),
                        path.display()
                    )
                },
            );
        }
        WalletCommand::Address => {
            let a = resolve_key(args.chain_id.as_deref())?.address();
            print(args, &json!({"address": a}), |_| a.to_string());
        }
        WalletCommand::Balance { address } => {
            let a = target(address, args.chain_id.as_deref())?;
            let v = call(
                &client(args)?,
                "neuro_getAccount",
                vec![a.to_string().into()],
            )
            .await?;
            print(args, &v, |v| {
                format!(
                    "{a}\n  balance  {} NEURO\n  bonded   {} NEURO (earnings held as collateral for a bond period)\n  pending  {} NEURO\n  stake    {} NEURO\n  nonce    {}",
                    v["balanceNeuro"].as_str().unwrap_or("?"),
                    v["bond"]["neuro"].as_str().unwrap_or("?"),
                    v["pending"]["neuro"].as_str().unwrap_or("?"),
                    v["stakeNeuro"].as_str().unwrap_or("?"),
                    v["nonce"]
                )
            });
        }
        WalletCommand::Transfer { to, amount } => {
            let to: Address = to
                .parse()
                .map_err(|_| anyhow::anyhow!("{to:?} is not an address (0x + 40 hex digits)"))?;
            let amount = parse_amount(amount)?;
            let v = send(args, "transfer", TxBody::Transfer { to, amount }, amount).await?;
            report(args, &v)?;
        }
        WalletCommand::Stake { amount } => {
            let amount = parse_amount(amount)?;
            let v = send(args, "stake", TxBody::Stake { amount }, amount).await?;
            report(args, &v)?;
            register_beacon_key(args).await?;
        }
        WalletCommand::Unstake { amount } => {
            let amount = parse_amount(amount)?;
            let v = send(args, "unstake", TxBody::Unstake { amount }, Amount::ZERO).await?;
            report(args, &v)?;
        }
        WalletCommand::Withdraw => {
            let v = send(args, "withdraw", TxBody::WithdrawUnbonded, Amount::ZERO).await?;
            report(args, &v)?;
        }
        WalletCommand::History { address, limit } => {
            listing(args, "neuro_getAccountHistory", address, *limit).await?
        }
        WalletCommand::Proofs { address, limit } => {
            listing(args, "neuro_getProofs", address, *limit).await?
        }
        WalletCommand::Gov(command) => super::gov::run(args, command).await?,
        WalletCommand::Supply => {
            let v = call(&client(args)?, "neuro_getSupply", vec![]).await?;
            print(args, &v, |v| {
                format!(
                    "minted       {} NEURO\nburned       {} NEURO\nslashed      {} NEURO\ncirculating  {} NEURO",
                    neuro(&v["minted"]),
                    neuro(&v["burned"]),
                    neuro(&v["slashed"]),
                    neuro(&v["circulating"])
                )
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wallet_signs_only_for_its_chain_and_never_above_its_fee_cap() {
        // First use: the node's chain is pinned.
        assert!(check_chain(None, None, "neuroshard-1").unwrap());
        // Pinned or asked for: the node must be on it; nothing new to pin.
        assert!(!check_chain(None, Some("neuroshard-1"), "neuroshard-1").unwrap());
        assert!(!check_chain(Some("neuroshard-1"), None, "neuroshard-1").unwrap());
        let lie = check_chain(None, Some("neuroshard-1"), "evil-1").unwrap_err();
        assert!(lie.to_string().contains("refusing"), "{lie}");
        // --chain-id wins over the pin (a deliberate move to another chain).
        assert!(!check_chain(Some("neuroshard-2"), Some("neuroshard-1"), "neuroshard-2").unwrap());
        assert!(check_chain(Some("neuroshard-2"), None, "neuroshard-1").is_err());
        let max = parse_amount("0.01").unwrap();
        assert!(check_fee(parse_amount("0.0001").unwrap(), max).is_ok());
        assert!(check_fee(max, max).is_ok());
        assert!(check_fee(parse_amount("5").unwrap(), max).is_err());
    }
}
