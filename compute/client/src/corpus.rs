//! The training corpus between peers. Genesis pins the corpus by the BLAKE3 hash of its
//! [`CorpusManifest`] (each shard's BLAKE3 and length, in order), which is also the name of the
//! blob that carries the manifest. So:
//!
//! * every node that trains or verifies puts the manifest and every shard in its blob store,
//!   and so serves the corpus to peers ([`serve`]);
//! * a node started without a corpus of its own (no `--corpus`, and neither corpus known by
//!   name matches the pin) fetches the manifest by the pinned hash and then each shard by the
//!   hash the manifest names, each verified piece by piece as it streams in, and checks the
//!   whole against the pin before it trains on a byte ([`load`]);
//! * the blobs stay in the store (kept by `ModelStore::prune`), so a restart finds them there.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use neuroshard_chain::blobs::{BlobClient, BlobError, BlobHash};
use neuroshard_chain::node::{Home, NodeApi};
use neuroshard_compute::data::{CorpusManifest, Dataset};
use neuroshard_compute::ponw::dataset_hash;
use neuroshard_runtime::{Address, Hash32};
use tracing::{info, warn};

use crate::spec::Corpus;

/// How long a node without the corpus keeps asking peers for it before it gives up (peers may
/// still be connecting when it starts).
const PATIENCE: Duration = Duration::from_secs(300);

/// One corpus load at a time per process: the worker and the verifier of one node both load it,
/// and the second finds what the first fetched.
static LOADING: Mutex<()> = Mutex::new(());

/// Where a node's copy of the corpus came from: what its training proofs name as their data
/// server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// Its own machine: it serves its own samples (and names itself).
    Local,
    /// Peers, over the blob plane: `server` is the registered node that served the most of
    /// its bytes (as the pieces' servers named themselves), which its proofs name; `None` if
    /// no server named itself.
    Peers { server: Option<Address> },
}

/// The corpus genesis pins (`pinned`): `corpus` if it matches, else (with no `--corpus` given)
/// fetched from peers. Either way it is then served to peers.
pub fn load(api: &NodeApi, corpus: &Corpus, pinned: &Hash32) -> anyhow::Result<(Dataset, Source)> {
    let _one = LOADING.lock().unwrap_or_else(|p| p.into_inner());
    let mut source = Source::Local;
    let dataset = match corpus.load_pinned(pinned) {
        Ok(dataset) => dataset,
        Err(local) if *corpus == Corpus::Pinned => {
            info!(
                corpus = %hex::encode(&pinned[..8]),
                "the pinned corpus is not on this machine: fetching it from peers"
            );
            let (dataset, server) = fetch(api.blobs(), pinned).with_context(|| {
                format!("{local:#}; nor could it be fetched from peers (give `--corpus DIR`)")
            })?;
            // Later loads (the worker's and verifier's, or after a restart) find the blobs
            // held and learn no server: the home remembers the one that fed it.
            let file = Home::new(api.home()).corpus_server();
            let server = match server {
                Some(s) => {
                    if let Err(e) = std::fs::write(&file, format!("{} {s}", hex::encode(pinned))) {
                        warn!("cannot record who served the corpus: {e}");
                    }
                    Some(s)
                }
                None => std::fs::read_to_string(&file).ok().and_then(|text| {
                    let (pin, server) = text.trim().split_once(' ')?;
                    (pin == hex::encode(pinned)).then(|| server.parse().ok())?
                }),
            };
            source = Source::Peers { server };
            dataset
        }
        Err(e) => return Err(e),
    };
    if let Err(e) = serve(api.blobs(), &dataset) {
        warn!("cannot serve the corpus to peers: {e:#}");
    }
    Ok((dataset, source))
}

/// Puts the manifest and every shard of `dataset` in the blob store (those not there yet), so
/// that peers can fetch the corpus from this node.
pub fn serve(blobs: &BlobClient, dataset: &Dataset) -> anyhow::Result<()> {
    let manifest = CorpusManifest::of(dataset);
    for (shard, r) in dataset.shards.iter().zip(&manifest.shards) {
        if !blobs.store().has(&r.blake3) {
            blobs.store().put(&shard.bytes)?;
        }
    }
    let pin = manifest.hash();
    if !blobs.store().has(&pin) {
        blobs.store().put(&manifest.to_bytes())?;
    }
    Ok(())
}

/// The blobs of corpus `pinned` this node holds (the manifest and its shards): what pruning
/// must keep.
pub fn held_blobs(blobs: &BlobClient, pinned: &Hash32) -> Vec<BlobHash> {
    let Some(path) = blobs.store().path(pinned) else {
        return Vec::new();
    };
    let manifest = std::fs::read(&path)
        .ok()
        .and_then(|b| CorpusManifest::from_bytes(&b).ok());
    let mut out = vec![*pinned];
    if let Some(m) = manifest {
        out.extend(m.shards.iter().map(|s| s.blake3));
    }
    out
}

/// Fetches corpus `pinned` from peers: its manifest, then its shards, with one progress bar
/// over all their bytes; checks every shard and the whole against the pin. Returns it with the
/// registered node that served the most of its bytes (if any server named itself).
pub fn fetch(blobs: &BlobClient, pinned: &Hash32) -> anyhow::Result<(Dataset, Option<Address>)> {
    let began = Instant::now();
    let until = began + PATIENCE;
    let mut served: HashMap<Address, u64> = HashMap::new();
    let path = fetch_one(
        blobs,
        *pinned,
        CorpusManifest::MAX_BYTES,
        until,
        None,
        &mut served,
    )?;
    let manifest = CorpusManifest::from_bytes(&std::fs::read(&path)?)?;
    anyhow::ensure!(
        manifest.hash() == *pinned,
        "the corpus manifest peers served is not the pinned one"
    );
    let total = manifest.total_len();
    let bar = crate::progress::add(ProgressBar::new(total));
    bar.set_style(
        ProgressStyle::with_template("{msg} {bytes}/{total_bytes} ({bytes_per_sec}, {eta} left)")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message(format!(
        "fetching the corpus {} ({} shards) from peers:",
        hex::encode(&pinned[..8]),
        manifest.shards.len()
    ));
    let mut shards = Vec::with_capacity(manifest.shards.len());
    let mut done = 0u64;
    for s in &manifest.shards {
        let path = fetch_one(
            blobs,
            s.blake3,
            s.len,
            until,
            Some((&bar, done)),
            &mut served,
        )?;
        shards.push(std::fs::read(&path)?);
        done = done.saturating_add(s.len);
        bar.set_position(done);
    }
    bar.finish_and_clear();
    let dataset = manifest.dataset(shards)?;
    anyhow::ensure!(
        dataset_hash(&dataset) == *pinned,
        "the corpus fetched from peers is not the pinned one"
    );
    info!(
        corpus = %hex::encode(&pinned[..8]),
        shards = dataset.shards.len(),
        bytes = total,
        secs = format!("{:.1}", began.elapsed().as_secs_f64()),
        "fetched the pinned corpus from peers"
    );
    // The most bytes; ties to the lowest address, so the choice is the same on every run.
    let server = served
        .into_iter()
        .max_by(|(a, x), (b, y)| x.cmp(y).then(b.cmp(a)))
        .map(|(server, _)| server);
    Ok((dataset, server))
}

/// Blob `hash` (at most `max` bytes) from the store or from peers, asking again while no peer
/// has it until `until`; adds the bytes each named server served to `served`.
fn fetch_one(
    blobs: &BlobClient,
    hash: BlobHash,
    max: u64,
    until: Instant,
    bar: Option<(&ProgressBar, u64)>,
    served: &mut HashMap<Address, u64>,
) -> anyhow::Result<PathBuf> {
    loop {
        let result = match blobs.start_fetch(hash, max) {
            Ok(mut pending) => loop {
                if let Some(r) = pending.poll() {
                    for (server, bytes) in pending.servers() {
                        *served.entry(server).or_default() += bytes;
                    }
                    break r;
                }
                if let Some((bar, before)) = bar {
                    bar.set_position(before.saturating_add(pending.progress().0));
                }
                std::thread::sleep(Duration::from_millis(100));
            },
            Err(e) => Err(e),
        };
        match result {
            Ok(path) => return Ok(path),
            Err(e @ (BlobError::Unavailable { .. } | BlobError::Busy))
                if Instant::now() < until =>
            {
                tracing::debug!(blob = %hex::encode(&hash[..8]), "corpus blob not served yet: {e}");
                std::thread::sleep(Duration::from_secs(2));
            }
            Err(e) => {
                return Err(e).with_context(|| {
                    format!("cannot fetch corpus blob {} from peers", hex::encode(hash))
                })
            }
        }
    }
}
