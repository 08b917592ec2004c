//! A flood of free future-nonce transactions from fresh keys (none of which can be checked
//! against the state they would run in) is refused at the door of a real dev node, so it never
//! fills the mempool; an honest transfer sent during the flood commits.

mod support;

use std::time::{Duration, Instant};

use neuroshard_rpc::client::ClientError;
use neuroshard_runtime::proof::{Proof, Role, WorkMetrics};
use neuroshard_runtime::{Address, Amount, SecretKey, TxBody};
use support::*;

const DEV: &str = "neuroshard-dev-1";

fn fresh(i: u32) -> SecretKey {
    SecretKey::from_entropy(neuroshard_runtime::crypto::domain_hash(
        b"flood",
        &i.to_le_bytes(),
    ))
}

#[test]
fn future_nonce_floods_from_fresh_keys_leave_room_for_an_honest_transfer() {
    let dir = TempDir::new("flood");
    let node = dev_node(&dir.0.join("dev"), 200);
    let honest = key(31);
    rt().block_on(async {
        wait_height(&node, 1, Duration::from_secs(60)).await;
        earn(&node, DEV, &honest, &key(32)).await;
        let c = node.client();
        let mut refused = 0;
        for i in 0..300u32 {
            let k = fresh(i);
            // A transfer three nonces ahead, paying a fee the key cannot cover, and a free proof
            // one nonce ahead: both refused without touching the mempool.
            let transfer = sign(
                DEV,
                &k,
                3,
                "0.001",
                TxBody::Transfer {
                    to: Address([7; 20]),
                    amount: Amount(1),
                },
            );
            let proof = sign(
                DEV,
                &k,
                1,
                "0",
                TxBody::SubmitProof(Proof {
                    role: Role::Driver,
                    layer_start: 0,
                    layer_end: 1,
                    round: 0,
                    model_version: [0; 32],
                    data_seed: [0; 32],
                    data_shard: [0; 32],
                    pseudo_gradient: [0; 32],
                    start_state: [0; 32],
                    end_state: [0; 32],
                    first_batch: 0,
                    metrics: WorkMetrics {
                        batches: 10,
                        ..WorkMetrics::default()
                    },
                    data_server: None,
                    timestamp_ms: now_ms(),
                }),
            );
            for raw in [transfer, proof] {
                match c.send_raw_transaction(&raw).await {
                    Err(ClientError::Rpc { code, message }) => {
                        assert_eq!(code, neuroshard_rpc::codes::MEMPOOL, "{message}");
                        refused += 1;
                    }
                    other => panic!("flood transaction admitted: {other:?}"),
                }
            }
        }
        assert_eq!(refused, 600);
        // Too far ahead is refused even for a funded key.
        let far = sign(
            DEV,
            &honest,
            1 + neuroshard_chain::mempool::MAX_NONCE_GAP + 10,
            "0.001",
            TxBody::Transfer {
                to: Address([7; 20]),
                amount: Amount(1),
            },
        );
        let err = c.send_raw_transaction(&far).await.unwrap_err().to_string();
        assert!(err.contains("ahead"), "{err}");
        let status = c.status().await.unwrap();
        assert_eq!(status.mempool_size, 0, "nothing of the flood is pending");

        // The honest wallet's transfer (at its next nonce) commits.
        let nonce = c.account(&honest.address()).await.unwrap().nonce;
        let to = Address([8; 20]);
        let raw = sign(
            DEV,
            &honest,
            nonce,
            "0.001",
            TxBody::Transfer {
                to,
                amount: Amount(1_000),
            },
        );
        c.send_raw_transaction(&raw).await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while c.account(&to).await.map(|a| a.balance).unwrap_or_default() != "1000" {
            assert!(Instant::now() < deadline, "honest transfer not committed");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
}
