//! The Ledger Explorer page in a real browser: a dev node that trains and earns, Debian's
//! Chromium driven over WebDriver (chromedriver, through `fantoccini`), a person's search for
//! their wallet address. Also: an unknown address, a search the explorer cannot parse, and the
//! node going away under an open page each give a clear message. The screenshot of the account
//! page is written to `$NEUROSHARD_SCREENSHOT_DIR` (default: the system temp directory).

#![cfg(feature = "training")]

mod support;

use std::time::{Duration, Instant};

use fantoccini::Locator;
use neuroshard_runtime::SecretKey;
use serde_json::json;
use support::browser::*;
use support::*;

#[test]
fn a_person_finds_their_earnings_on_the_explorer_page() {
    let dir = TempDir::new("explorer-page");
    let base = free_base_port(1);
    let token = SecretKey::from_entropy([77; 32]).to_token();
    let wallet = SecretKey::from_hex_token(&token)
        .unwrap()
        .address()
        .to_string();
    let rpc_url = format!("http://127.0.0.1:{}", base + 1);
    let mut node = NodeProc::spawn_env(
        &["--base-port", &base.to_string(), "--corpus", "synthetic"],
        &[
            ("NEUROSHARD_HOME", dir.0.to_str().unwrap()),
            ("NEUROSHARD_TOKEN", &token),
        ],
        &dir.0.join("dev"),
        &rpc_url,
    );
    let driver = Driver::start();
    rt().block_on(async {
        // Earn for real: the node trains, proves, and a proof's reward matures.
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            let bal = node
                .client()
                .account(&wallet.parse().unwrap())
                .await
                .map(|a| a.balance)
                .unwrap_or_default();
            if !bal.is_empty() && bal != "0" {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "no NEURO earned; log:\n{}",
                node.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }

        let c = driver.browser().await;
        c.goto(&format!("{rpc_url}/")).await.unwrap();
        let home = text_when(&c, "#view", Duration::from_secs(30), |t| {
            t.contains("Latest blocks")
        })
        .await;
        assert!(home.to_lowercase().contains("height"), "{home}");

        // The person searches for their wallet address and sees the balance and the proofs.
        search(&c, &wallet).await;
        let shown = text_when(&c, "#balance", Duration::from_secs(30), |t| {
            t.ends_with("NEURO")
        })
        .await;
        // Live updates may move the balance on: it must match the chain at some reading.
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut matched = false;
        while Instant::now() < deadline && !matched {
            let on_chain = node
                .client()
                .call("neuro_getAccount", vec![json!(wallet)])
                .await
                .unwrap();
            let want = format!("{} NEURO", on_chain["balanceNeuro"].as_str().unwrap());
            matched = text_of(&c, "#balance").await.as_deref() == Some(want.as_str());
            if !matched {
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }
        assert!(
            matched,
            "the page's balance {shown:?} never matched the chain's"
        );
        assert_ne!(shown, "0 NEURO");
        let proofs = text_when(&c, "#proofs", Duration::from_secs(10), |t| {
            t.contains("paid")
        })
        .await;
        assert!(proofs.contains("NEURO"), "{proofs}");
        let rows = c.find_all(Locator::Css("#proofs tr.proof")).await.unwrap();
        assert!(!rows.is_empty());
        let nodes = text_when(&c, "#nodes", Duration::from_secs(5), |t| t.contains("0x")).await;
        assert!(!nodes.is_empty());
        let png = c.screenshot().await.unwrap();
        assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
        let shot = screenshot_dir().join("explorer-account.png");
        std::fs::write(&shot, &png).unwrap();
        eprintln!("screenshot: {}", shot.display());

        // A proof's page, from the table.
        click(&c, "#proofs tr.proof td:nth-child(2) a").await;
        let proof = text_when(&c, "#view", Duration::from_secs(15), |t| {
            t.contains("Proof of Neural Work")
        })
        .await;
        assert!(proof.contains(&wallet[..10]), "{proof}");
        // Whether the claim was bonded or a newcomer's, and whether it was drawn.
        assert!(
            proof.contains("bonded") || proof.contains("newcomer: its bond"),
            "{proof}"
        );
        assert!(proof.contains("Drawn"), "{proof}");

        // The supply page draws its chart.
        c.goto(&format!("{rpc_url}/#/supply")).await.unwrap();
        text_when(&c, "#minted", Duration::from_secs(15), |t| {
            t.ends_with("NEURO")
        })
        .await;
        c.find(Locator::Css("#supply-chart svg path"))
            .await
            .expect("a supply line");
        // The network's reward rate: a share of gross, between 0 and 100%.
        let rate = text_when(&c, "#reward-rate", Duration::from_secs(15), |t| {
            t.contains('%')
        })
        .await;
        let pct: f64 = rate.split('%').next().unwrap().trim().parse().unwrap();
        assert!((0.0..=100.0).contains(&pct), "{rate}");

        // An address the chain has never seen.
        let stranger = SecretKey::from_entropy([78; 32]).address().to_string();
        search(&c, &stranger).await;
        let unknown = text_when(&c, "#unknown", Duration::from_secs(15), |t| {
            t.contains("No activity")
        })
        .await;
        assert!(unknown.contains(&stranger), "{unknown}");

        // Something that is no address, hash or height.
        search(&c, "my wallet please").await;
        let err = text_when(&c, "#error", Duration::from_secs(10), |t| {
            t.contains("is not something the explorer can look up")
        })
        .await;
        assert!(err.contains("40 hex digits"), "{err}");

        // The node goes away under the open page.
        node.stop();
        search(&c, &wallet).await;
        let down = text_when(&c, "#error", Duration::from_secs(20), |t| {
            t.contains("Cannot reach the NeuroShard node")
        })
        .await;
        assert!(down.contains(&format!("127.0.0.1:{}", base + 1)), "{down}");
        let _ = c.close().await;
    });
}
