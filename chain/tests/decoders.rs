//! Every decoder that reads bytes from a peer or a file, fed random bytes and mutations of valid
//! encodings (flipped bytes, truncations, extensions): each returns a typed error or a value,
//! and never panics, hangs or allocates what the input does not hold. CI runs a few thousand
//! cases per decoder; `scripts/fuzz` runs millions (`PROPTEST_CASES`).

use bytes::Bytes;
use malachitebft_app_channel::app::types::codec::Codec;
use neuroshard_chain::block::{txs_root, Block, Header};
use neuroshard_chain::consensus::context::ProposalPart;
use neuroshard_chain::consensus::{BlockHash, WireCodec};
use neuroshard_runtime::{
    Address, Amount, Genesis, SecretKey, SignedTransaction, Transaction, TxBody,
};
use proptest::prelude::*;

fn valid_tx() -> Vec<u8> {
    Transaction {
        chain_id: "neuroshard-dev-1".into(),
        nonce: 7,
        fee: Amount(100),
        body: TxBody::Transfer {
            to: Address([3; 20]),
            amount: Amount(5),
        },
    }
    .sign(&SecretKey::from_entropy([1; 32]))
    .encode()
}

fn valid_block() -> Vec<u8> {
    let txs = vec![valid_tx(), valid_tx()];
    Block {
        header: Header {
            chain_id: "neuroshard-dev-1".into(),
            height: 3,
            time_ms: 1_000,
            proposer: Address([1; 20]),
            parent_hash: [2; 32],
            txs_root: txs_root(&txs),
            prev_state_root: [4; 32],
            beacon: Some(neuroshard_runtime::beacon::BeaconSig([5; 96])),
        },
        txs,
    }
    .encode()
}

/// A mutation of `base`: some bytes flipped, then cut or extended.
fn mutated(base: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    let len = base.len();
    (
        prop::collection::vec((0..len.max(1), any::<u8>()), 0..8),
        0..len + 1,
        prop::collection::vec(any::<u8>(), 0..16),
    )
        .prop_map(move |(flips, cut, tail)| {
            let mut b = base.clone();
            for (i, x) in flips {
                if let Some(v) = b.get_mut(i) {
                    *v ^= x;
                }
            }
            b.truncate(cut);
            b.extend(tail);
            b
        })
}

fn bytes_in() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..512),
        mutated(valid_tx()),
        mutated(valid_block()),
    ]
}

/// Every consensus, streaming and sync message type the network codec decodes.
fn decode_all(codec: &WireCodec, b: &[u8]) {
    let _ = codec.decode_every_kind(b);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(2_000)
    ))]

    #[test]
    fn transactions_decode_or_fail_cleanly(b in bytes_in()) {
        if let Ok(tx) = SignedTransaction::decode(&b) {
            // What decodes re-encodes to the same bytes (strict: no trailing bytes), and its
            // signature check is a typed answer too.
            prop_assert_eq!(tx.encode(), b);
            let _ = tx.verify();
        }
    }

    #[test]
    fn blocks_decode_or_fail_cleanly(b in bytes_in()) {
        if let Ok(block) = Block::decode(&b) {
            prop_assert_eq!(block.header.txs_root, txs_root(&block.txs));
        }
    }

    #[test]
    fn consensus_and_sync_messages_decode_or_fail_cleanly(b in bytes_in()) {
        decode_all(&WireCodec::default(), &b);
    }

    #[test]
    fn genesis_files_parse_or_fail_cleanly(
        text in prop_oneof![
            ".{0,200}",
            mutated(include_bytes!("../../genesis/dev.json").to_vec())
                .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        ]
    ) {
        if let Ok(g) = Genesis::from_json(&text) {
            let _ = g.validate();
        }
    }
}

#[test]
fn valid_encodings_still_decode() {
    assert!(SignedTransaction::decode(&valid_tx()).is_ok());
    assert!(Block::decode(&valid_block()).is_ok());
    assert!(Genesis::from_json(include_str!("../../genesis/dev.json")).is_ok());
}

/// The valid encodings the mutations above start from, as the seed corpus of the coverage-
/// guided fuzz targets (`fuzz/`): each seed decodes, and with `NEUROSHARD_FUZZ_SEEDS=DIR` set
/// (`scripts/fuzz` sets it) they are written under `DIR/<target>/`.
#[test]
fn fuzz_seeds_decode() {
    use malachitebft_app_channel::app::types::core::Round;
    use neuroshard_chain::consensus::context::{Height, ValidatorAddress};
    let codec = WireCodec::default();
    let parts = [
        ProposalPart::Init {
            height: Height(3),
            round: Round::new(0),
            pol_round: Round::Nil,
            proposer: ValidatorAddress(Address([1; 20])),
        },
        ProposalPart::Data(Bytes::from(valid_block())),
        ProposalPart::Fin {
            signature: SecretKey::from_entropy([1; 32]).sign_digest(&[7; 32]),
        },
    ];
    let mut consensus = vec![codec.encode(&BlockHash([9; 32])).unwrap().to_vec()];
    for part in &parts {
        let bytes = codec.encode(part).unwrap();
        let back: ProposalPart = codec.decode(bytes.clone()).unwrap();
        assert_eq!(&back, part);
        assert!(codec.decode_every_kind(&bytes) >= 1);
        consensus.push(bytes.to_vec());
    }
    let seeds: [(&str, Vec<Vec<u8>>); 4] = [
        ("transaction", vec![valid_tx()]),
        ("block", vec![valid_block()]),
        ("consensus", consensus),
        (
            "genesis",
            vec![include_bytes!("../../genesis/dev.json").to_vec()],
        ),
    ];
    assert!(SignedTransaction::decode(&seeds[0].1[0]).is_ok());
    assert!(Block::decode(&seeds[1].1[0]).is_ok());
    let Some(dir) = std::env::var_os("NEUROSHARD_FUZZ_SEEDS") else {
        return;
    };
    for (target, inputs) in seeds {
        let dir = std::path::Path::new(&dir).join(target);
        std::fs::create_dir_all(&dir).unwrap();
        for (i, input) in inputs.iter().enumerate() {
            std::fs::write(dir.join(format!("seed-{i}")), input).unwrap();
        }
    }
}
