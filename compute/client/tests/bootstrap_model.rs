//! Real sizes travel: the mainnet bootstrap model (768 × 12, about 300 MB of f32), made from its
//! genesis seed on one node, is fetched by another over loopback as a content-addressed blob,
//! verified while it streams and again by its weights hash before it is used.

#![cfg(feature = "training")]

use std::sync::Arc;
use std::time::{Duration, Instant};

use neuroshard_chain::blobs::{BlobNode, BlobStore};
use neuroshard_client::models::MAX_MODEL_BLOB;
use neuroshard_client::spec::model_config_of;
use neuroshard_compute::{checkpoint, ponw};
use neuroshard_runtime::Params;

fn dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("neuroshard-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_node_fetches_the_bootstrap_model_from_a_peer_and_verifies_it() {
    let params = Params::mainnet_defaults();
    let cfg = model_config_of(&params.model);
    let (a, b) = (dir("bootstrap-a"), dir("bootstrap-b"));
    let model = ponw::genesis_model(&cfg, params.training.init_seed).unwrap();
    let version = model.weights_hash();
    let file = a.join("model.safetensors");
    checkpoint::save(&model, &file).unwrap();
    drop(model);
    let size = std::fs::metadata(&file).unwrap().len();
    assert!(size > 250_000_000, "the bootstrap model is {size} bytes");

    let sa = Arc::new(BlobStore::open(a.join("blobs"), MAX_MODEL_BLOB).unwrap());
    let blob = sa.put_file(&file).unwrap();
    let na = BlobNode::spawn(sa, [31; 32], Vec::new()).await.unwrap();
    let sb = Arc::new(BlobStore::open(b.join("blobs"), MAX_MODEL_BLOB).unwrap());
    let nb = BlobNode::spawn(sb, [32; 32], vec![na.addr.clone()])
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while nb.connected() < 1 {
        assert!(Instant::now() < deadline, "never connected");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let fetched = nb.client.fetch(blob, MAX_MODEL_BLOB).await.unwrap();
    assert_eq!(std::fs::metadata(&fetched).unwrap().len(), size);
    // The bytes are the ones offered (checked piece by piece while streaming), and the weights
    // they hold are the version the chain names (what `ModelStore::fetch` checks before use).
    assert_eq!(
        neuroshard_chain::blobs::blob_hash(&std::fs::read(&fetched).unwrap()),
        blob
    );
    let loaded = checkpoint::load_model(&fetched, None).unwrap();
    assert_eq!(loaded.weights_hash(), version);
    assert_eq!(loaded.num_parameters(), cfg.parameters());
    drop((na, nb));
    for d in [a, b] {
        let _ = std::fs::remove_dir_all(d);
    }
}
