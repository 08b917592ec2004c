//! `neuroshard infer --prompt …`: buy one inference from a node. Asks the node's price, signs an
//! inference `Spend` of price × max tokens to the node's wallet (5% of it is burned on chain),
//! and prints the generated text once the payment is committed.

use anyhow::{bail, Context};
use clap::Args;
use neuroshard_rpc::RpcClient;
use neuroshard_runtime::tx::SpendPurpose;
use neuroshard_runtime::{Amount, Transaction, TxBody};
use serde_json::{json, Value};

#[derive(Debug, Args)]
pub struct InferArgs {
    #[arg(long)]
    pub prompt: String,
    /// Tokens to generate (and to pay for).
    #[arg(long, default_value_t = 32)]
    pub max_tokens: u64,
    /// The serving node's JSON-RPC address.
    #[arg(long, default_value = super::query::DEFAULT_NODE, env = "NEUROSHARD_NODE")]
    pub node: String,
    /// The chain this wallet signs for [default: the one it first signed for].
    #[arg(long, env = "NEUROSHARD_CHAIN_ID")]
    pub chain_id: Option<String>,
    /// The most fee (NEURO) the payment may pay, whatever the node asks.
    #[arg(long, default_value = "0.01")]
    pub max_fee: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

fn base(v: &Value) -> anyhow::Result<Amount> {
    v["base"]
        .as_str()
        .and_then(|s| s.parse::<u128>().ok())
        .map(Amount)
        .context("malformed amount in the node's answer")
}

pub fn run(args: InferArgs) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let c = RpcClient::new(&args.node)?;
        let call = |m: &'static str, p: Vec<Value>| {
            let c = &c;
            async move { c.call(m, p).await.map_err(|e| anyhow::anyhow!("{m}: {e}")) }
        };
        let quote = call("neuro_inferenceQuote", vec![]).await?;
        let provider = quote["provider"]
            .as_str()
            .context("quote without provider")?
            .parse()
            .map_err(|_| anyhow::anyhow!("quote names no valid provider"))?;
        let price = base(&quote["pricePerToken"])?;
        let amount = price
            .checked_mul(u128::from(args.max_tokens))
            .context("price overflows")?;
        let status = call("neuro_status", vec![]).await?;
        let chain_id = status["chain_id"]
            .as_str()
            .context("the node's status names no chain")?
            .to_owned();
        super::wallet::checked_chain(args.chain_id.as_deref(), &chain_id)?;
        let key = super::wallet::resolve_key(Some(&chain_id))?;
        let account = call("neuro_getAccount", vec![json!(key.address())]).await?;
        let fee = base(&call("neuro_estimateFee", vec![json!("spend")]).await?["fee"])?;
        let max_fee: Amount = args
            .max_fee
            .parse()
            .map_err(|e| anyhow::anyhow!("--max-fee: {e}"))?;
        super::wallet::check_fee(fee, max_fee)?;
        let balance = Amount(
            account["balance"]
                .as_str()
                .unwrap_or("0")
                .parse()
                .unwrap_or(0),
        );
        let needed = amount.checked_add(fee).context("amount too large")?;
        if balance < needed {
            bail!(
                "insufficient balance: {} NEURO, this needs {} NEURO ({} tokens at {} + fee {})",
                balance.to_neuro_string(),
                needed.to_neuro_string(),
                args.max_tokens,
                price.to_neuro_string(),
                fee.to_neuro_string()
            );
        }
        let payment = Transaction {
            chain_id,
            nonce: account["nonce"].as_u64().context("account without nonce")?,
            fee,
            body: TxBody::Spend {
                to: provider,
                amount,
                purpose: SpendPurpose::Inference,
            },
        }
        .sign(&key);
        let answer = call(
            "neuro_infer",
            vec![json!({
                "prompt": args.prompt,
                "maxTokens": args.max_tokens,
                "payment": hex::encode(payment.encode()),
            })],
        )
        .await?;
        if args.json {
            println!("{answer}");
        } else {
            println!("{}", answer["text"].as_str().unwrap_or_default());
            eprintln!(
                "paid {} NEURO to {} (payment {})",
                amount.to_neuro_string(),
                provider,
                answer["payment"].as_str().unwrap_or("?")
            );
        }
        Ok(())
    })
}
