//! The explorer RPC and the wallet CLI against a real dev node (real sockets, real RocksDB).

mod support;

use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};
use support::*;

const DEV: &str = "neuroshard-dev-1";

fn wallet(
    node: &NodeProc,
    home: &std::path::Path,
    token: Option<&str>,
    args: &[&str],
) -> (bool, String, String) {
    let mut cmd = Command::new(BIN);
    cmd.arg("wallet")
        .args(["--node", &node.rpc_url])
        .args(args)
        .env("NEUROSHARD_HOME", home)
        .env_remove("NEUROSHARD_TOKEN");
    if let Some(t) = token {
        cmd.env("NEUROSHARD_TOKEN", t);
    }
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn rpc_err(node: &NodeProc, method: &str, params: Vec<Value>) -> i32 {
    match node.client().call(method, params).await {
        Err(neuroshard_rpc::client::ClientError::Rpc { code, .. }) => code,
        other => panic!("{method}: expected an error, got {other:?}"),
    }
}

#[test]
fn explorer_and_wallet_end_to_end() {
    let dir = TempDir::new("explorer");
    let node = dev_node(&dir.0.join("dev"), 200);
    let wallet_home = dir.0.join("wallet-home");
    let earner = key(11);
    let token = earner.to_token();
    let rt = rt();
    rt.block_on(async {
        wait_height(&node, 1, Duration::from_secs(60)).await;
        earn(&node, DEV, &earner, &key(12)).await;
    });

    // A new wallet: key file with mode 0600, address printed.
    let (ok, out, err) = wallet(&node, &wallet_home, None, &["new"]);
    assert!(ok, "{err}");
    let key_file = wallet_home.join("wallet.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let (_, addr_out, _) = wallet(&node, &wallet_home, None, &["address"]);
    let receiver = addr_out.trim().to_owned();
    assert!(out.contains(&receiver));
    assert!(
        !out.contains(&std::fs::read_to_string(&key_file).unwrap()),
        "key printed"
    );

    // Transfer from the earner (token from the environment) to the new wallet.
    let (ok, out, err) = wallet(
        &node,
        &wallet_home,
        Some(&token),
        &["transfer", &receiver, "0.0123"],
    );
    assert!(ok, "{out}{err}");
    assert!(out.contains("transfer") && out.contains("ok"), "{out}");
    assert!(
        !out.contains(&token) && !err.contains(&token),
        "token leaked"
    );
    let (ok, out, _) = wallet(&node, &wallet_home, None, &["--json", "balance"]);
    assert!(ok);
    let bal: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(bal["balanceNeuro"], "0.0123");

    // Insufficient balance: a clear error, nothing sent.
    let (ok, _, err) = wallet(
        &node,
        &wallet_home,
        None,
        &["transfer", &earner.address().to_string(), "5"],
    );
    assert!(!ok);
    assert!(err.contains("insufficient balance"), "{err}");
    // Unknown address format, unreachable node.
    let (ok, _, err) = wallet(&node, &wallet_home, None, &["transfer", "0x1234", "1"]);
    assert!(!ok && err.contains("not an address"), "{err}");
    let mut dead = Command::new(BIN);
    let out = dead
        .args([
            "wallet",
            "--node",
            "http://127.0.0.1:9",
            "balance",
            &receiver,
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unreachable"));

    // Staking below the minimum, withdrawing or unstaking nothing: the node refuses them before
    // any block (so no fee is lost), and the wallet says why.
    for args in [
        &["stake", "0.001"][..],
        &["withdraw"][..],
        &["unstake", "0.001"][..],
    ] {
        let (ok, out, err) = wallet(&node, &wallet_home, None, args);
        assert!(!ok, "{args:?}: {out}");
        assert!(err.contains("rejected"), "{args:?}: {err}");
    }
    let (_, out, _) = wallet(&node, &wallet_home, None, &["--json", "balance"]);
    let bal: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(bal["balanceNeuro"], "0.0123");
    assert_eq!(bal["nonce"], 0);

    // History of both sides, proofs, supply.
    let (ok, out, _) = wallet(&node, &wallet_home, Some(&token), &["--json", "history"]);
    assert!(ok);
    let hist: Value = serde_json::from_str(&out).unwrap();
    let kinds: Vec<&str> = hist["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["kind"].as_str())
        .collect();
    assert_eq!(kinds, ["transfer", "submitProof", "registerNode"], "{hist}");
    let (_, out, _) = wallet(&node, &wallet_home, Some(&token), &["--json", "proofs"]);
    let proofs: Value = serde_json::from_str(&out).unwrap();
    let reward = &proofs["items"][0]["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "reward")
        .unwrap()["amount"]["neuro"];
    assert_eq!(reward, "0.05");
    let (_, out, _) = wallet(&node, &wallet_home, None, &["--json", "supply"]);
    let supply: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(supply["minted"]["neuro"], "0.05");
    // The transfer's fee (0.0001) burned 5%.
    // The transfer's fee (0.0001) burned 5%.
    assert_eq!(supply["burned"]["neuro"], "0.000005");
    assert_eq!(supply["circulating"]["neuro"], "0.049995");

    rt.block_on(async {
        let c = node.client();
        // Blocks by height and by hash, with and without transactions.
        let tx_hash = hist["items"][0]["hash"].as_str().unwrap().to_owned();
        let txv = c
            .call("neuro_getTransaction", vec![tx_hash.clone().into()])
            .await
            .unwrap();
        let h = txv["receipt"]["height"].as_u64().unwrap();
        assert_eq!(txv["receipt"]["success"], true);
        assert_eq!(txv["receipt"]["fee"]["neuro"], "0.0001");
        let b = c.call("neuro_getBlock", vec![h.into()]).await.unwrap();
        assert!(b["transactions"]
            .as_array()
            .unwrap()
            .contains(&Value::String(tx_hash.clone())));
        let b2 = c
            .call("neuro_getBlock", vec![b["hash"].clone(), true.into()])
            .await
            .unwrap();
        assert_eq!(b2["height"], h);
        assert_eq!(b2["transactions"][0]["kind"], "transfer");
        let params = c.call("neuro_getParams", vec![]).await.unwrap();
        assert_eq!(params["min_fee"], "0.0001");
        let fee = c
            .call("neuro_estimateFee", vec!["transfer".into()])
            .await
            .unwrap();
        assert_eq!(fee["fee"]["neuro"], "0.0001");
        let free = c
            .call("neuro_estimateFee", vec!["submitProof".into()])
            .await
            .unwrap();
        assert_eq!(free["fee"]["neuro"], "0");
        let validators = c.call("neuro_getValidators", vec![]).await.unwrap();
        assert_eq!(validators.as_array().unwrap().len(), 1);
        let doc = c.call("rpc.discover", vec![]).await.unwrap();
        let methods: Vec<&str> = doc["methods"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|m| m["name"].as_str())
            .collect();
        assert!(methods.contains(&"neuro_getAccountHistory"));

        // Paging: one item per page, following `next`.
        let p1 = c
            .call(
                "neuro_getAccountHistory",
                vec![earner.address().to_string().into(), json!({"limit": 1})],
            )
            .await
            .unwrap();
        let next = p1["next"].as_str().unwrap().to_owned();
        let p2 = c
            .call(
                "neuro_getAccountHistory",
                vec![
                    earner.address().to_string().into(),
                    json!({"limit": 1, "before": next}),
                ],
            )
            .await
            .unwrap();
        assert_eq!(p1["items"][0]["kind"], "transfer");
        assert_eq!(p2["items"][0]["kind"], "submitProof");

        // Subscriptions over WebSocket: a new head per block; the account's change after a
        // transfer to it.
        use jsonrpsee::core::client::SubscriptionClientT;
        let ws = jsonrpsee::ws_client::WsClientBuilder::default()
            .build(node.rpc_url.replace("http://", "ws://"))
            .await
            .unwrap();
        let mut heads = ws
            .subscribe::<Value, _>(
                "neuro_subscribeNewHeads",
                jsonrpsee::rpc_params![],
                "neuro_unsubscribeNewHeads",
            )
            .await
            .unwrap();
        let a = heads.next().await.unwrap().unwrap();
        let b = heads.next().await.unwrap().unwrap();
        assert_eq!(
            b["height"].as_u64().unwrap(),
            a["height"].as_u64().unwrap() + 1
        );
        let mut changes = ws
            .subscribe::<Value, _>(
                "neuro_subscribeAccount",
                jsonrpsee::rpc_params![receiver.clone()],
                "neuro_unsubscribeAccount",
            )
            .await
            .unwrap();
        let nonce = c.account(&earner.address()).await.unwrap().nonce;
        let to: neuroshard_runtime::Address = receiver.parse().unwrap();
        let more = sign(
            DEV,
            &earner,
            nonce,
            "0.0001",
            neuroshard_runtime::TxBody::Transfer {
                to,
                amount: "0.0007".parse().unwrap(),
            },
        );
        c.send_raw_transaction(&more).await.unwrap();
        let changed = tokio::time::timeout(Duration::from_secs(30), changes.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(changed["balanceNeuro"], "0.013");
        let bad = ws
            .subscribe::<Value, _>(
                "neuro_subscribeAccount",
                jsonrpsee::rpc_params!["nope"],
                "neuro_unsubscribeAccount",
            )
            .await;
        assert!(bad.is_err());

        // Every error code.
        use neuroshard_rpc::codes::*;
        assert_eq!(
            rpc_err(&node, "neuro_getBlock", vec![999_999.into()]).await,
            NOT_FOUND
        );
        assert_eq!(
            rpc_err(
                &node,
                "neuro_getBlock",
                vec![format!("0x{}", "ab".repeat(32)).into()]
            )
            .await,
            NOT_FOUND
        );
        assert_eq!(
            rpc_err(&node, "neuro_getBlock", vec![json!({"x": 1})]).await,
            INVALID_PARAMS
        );
        assert_eq!(
            rpc_err(
                &node,
                "neuro_getTransaction",
                vec![format!("0x{}", "cd".repeat(32)).into()]
            )
            .await,
            NOT_FOUND
        );
        assert_eq!(
            rpc_err(&node, "neuro_getTransaction", vec!["xyz".into()]).await,
            INVALID_PARAMS
        );
        assert_eq!(
            rpc_err(&node, "neuro_getAccount", vec![7.into()]).await,
            INVALID_PARAMS
        );
        assert_eq!(
            rpc_err(&node, "neuro_getAccount", vec!["0x12".into()]).await,
            INVALID_PARAMS
        );
        assert_eq!(
            rpc_err(
                &node,
                "neuro_getAccountHistory",
                vec![receiver.clone().into(), json!({"limit": 1000})]
            )
            .await,
            INVALID_PARAMS
        );
        assert_eq!(
            rpc_err(&node, "neuro_estimateFee", vec!["mint".into()]).await,
            INVALID_PARAMS
        );
        assert_eq!(
            rpc_err(&node, "neuro_sendRawTransaction", vec!["zz".into()]).await,
            TX_MALFORMED
        );
        assert_eq!(
            rpc_err(&node, "neuro_sendRawTransaction", vec!["00ff".into()]).await,
            TX_MALFORMED
        );
        // Two different transactions for the same future nonce: the second finds it taken.
        let future = c.account(&earner.address()).await.unwrap().nonce + 5;
        let t1 = sign(
            DEV,
            &earner,
            future,
            "0.0001",
            neuroshard_runtime::TxBody::WithdrawUnbonded,
        );
        let t2 = sign(
            DEV,
            &earner,
            future,
            "0.0002",
            neuroshard_runtime::TxBody::WithdrawUnbonded,
        );
        c.send_raw_transaction(&t1).await.unwrap();
        assert_eq!(
            rpc_err(
                &node,
                "neuro_sendRawTransaction",
                vec![hex::encode(t2).into()]
            )
            .await,
            MEMPOOL
        );
        // A replay of the committed transfer's nonce with other content: rejected.
        let replay = sign(
            DEV,
            &earner,
            0,
            "0.0001",
            neuroshard_runtime::TxBody::WithdrawUnbonded,
        );
        assert_eq!(
            rpc_err(
                &node,
                "neuro_sendRawTransaction",
                vec![hex::encode(replay).into()]
            )
            .await,
            TX_REJECTED
        );
    });
}
