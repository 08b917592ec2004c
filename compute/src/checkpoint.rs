//! Checkpoints: safetensors only (data, never code), hashes checked before anything is parsed.
//!
//! * One file per model or stage: f32 tensors plus, in the safetensors metadata under the single
//!   key `neuroshard`, the model config and the layer range as JSON. One key keeps the header's
//!   bytes (and so the file's hash) deterministic.
//! * A sharded checkpoint is a directory of stage files and `manifest.json` listing each file's
//!   layer range and SHA-256. [`assemble`] checks every hash, checks the ranges cover the model,
//!   and writes one whole-model file that anyone can load.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype, SafeTensors, View};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tch::{Kind, Tensor};

use crate::config::ModelConfig;
use crate::error::ComputeError;
use crate::model::NeuroLlm;

const META_KEY: &str = "neuroshard";

/// What the metadata records about a file's contents.
#[derive(Serialize, Deserialize)]
struct FileMeta {
    config: ModelConfig,
    layers: [i64; 2],
}
pub const MANIFEST: &str = "manifest.json";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckpointManifest {
    pub config: ModelConfig,
    pub shards: Vec<ShardFile>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardFile {
    pub file: String,
    pub layers: [i64; 2],
    pub sha256: String,
}

/// Raw little-endian tensor bytes of one dtype, as safetensors serialises them (also used for
/// the int8 pseudo-gradient blobs in [`crate::compress`]).
pub(crate) struct TensorView {
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    pub bytes: Vec<u8>,
}

impl TensorView {
    pub fn f32(shape: Vec<usize>, bytes: Vec<u8>) -> TensorView {
        TensorView {
            dtype: Dtype::F32,
            shape,
            bytes,
        }
    }
}

impl View for TensorView {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.bytes)
    }
    fn data_len(&self) -> usize {
        self.bytes.len()
    }
}

fn bad(file: &Path, reason: impl Into<String>) -> ComputeError {
    ComputeError::Checkpoint {
        file: file.display().to_string(),
        reason: reason.into(),
    }
}

/// The bytes of a model (or stage) as a safetensors file.
pub fn to_bytes(model: &NeuroLlm) -> Result<Vec<u8>, ComputeError> {
    let mut views = Vec::new();
    for (name, t) in model.named_parameters() {
        let values = crate::to_host(&t)?;
        let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let shape = t.size().iter().map(|&d| d as usize).collect();
        views.push((name, TensorView::f32(shape, bytes)));
    }
    let range = model.layer_range();
    let meta = FileMeta {
        config: model.config().clone(),
        layers: [range.start, range.end],
    };
    let metadata = HashMap::from([(
        META_KEY.to_owned(),
        serde_json::to_string(&meta).unwrap_or_default(),
    )]);
    safetensors::tensor::serialize(views, &Some(metadata)).map_err(|e| ComputeError::Checkpoint {
        file: "<memory>".into(),
        reason: e.to_string(),
    })
}

/// Writes `model` to `path`; returns the file's SHA-256.
pub fn save(model: &NeuroLlm, path: &Path) -> Result<[u8; 32], ComputeError> {
    let bytes = to_bytes(model)?;
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, &bytes).map_err(|e| ComputeError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| ComputeError::io(path, e))?;
    Ok(Sha256::digest(&bytes).into())
}

const VECTOR_NAME: &str = "vector";

/// Writes a flat f32 vector (outer momentum, a pseudo-gradient) as a one-tensor safetensors
/// file; returns [`crate::diloco::hash_vector`] of it, its content address.
pub fn save_vector(t: &Tensor, path: &Path) -> Result<[u8; 32], ComputeError> {
    let values = crate::to_host(t)?;
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    let view = TensorView::f32(vec![values.len()], bytes);
    let file = safetensors::tensor::serialize([(VECTOR_NAME, view)], &None).map_err(|e| {
        ComputeError::Checkpoint {
            file: path.display().to_string(),
            reason: e.to_string(),
        }
    })?;
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, &file).map_err(|e| ComputeError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| ComputeError::io(path, e))?;
    Ok(crate::diloco::hash_vector(t))
}

/// Reads a vector written by [`save_vector`]; its values must hash to `expected`.
pub fn load_vector(path: &Path, expected: &[u8; 32]) -> Result<Tensor, ComputeError> {
    let bytes = std::fs::read(path).map_err(|e| ComputeError::io(path, e))?;
    let st = SafeTensors::deserialize(&bytes).map_err(|e| bad(path, e.to_string()))?;
    let view = st
        .tensor(VECTOR_NAME)
        .map_err(|e| bad(path, format!("no vector: {e}")))?;
    if view.dtype() != Dtype::F32 || view.shape().len() != 1 || st.len() != 1 {
        return Err(bad(path, "not a single flat f32 vector"));
    }
    let t = Tensor::f_from_data_size(view.data(), &[view.shape()[0] as i64], Kind::Float)?;
    let actual = crate::diloco::hash_vector(&t);
    if &actual != expected {
        return Err(bad(
            path,
            format!(
                "values hash to {}, expected {}",
                hex::encode(actual),
                hex::encode(expected)
            ),
        ));
    }
    Ok(t)
}

/// A parsed, hash-checked checkpoint file.
pub struct Loaded {
    pub config: ModelConfig,
    pub layers: Range<i64>,
    pub tensors: BTreeMap<String, Tensor>,
}

/// Reads `path`; if `expected` is given the file's SHA-256 must match before it is parsed.
pub fn load(path: &Path, expected: Option<&[u8; 32]>) -> Result<Loaded, ComputeError> {
    let bytes = std::fs::read(path).map_err(|e| ComputeError::io(path, e))?;
    if let Some(expected) = expected {
        let actual: [u8; 32] = Sha256::digest(&bytes).into();
        if &actual != expected {
            return Err(bad(
                path,
                format!(
                    "SHA-256 is {}, expected {}",
                    hex::encode(actual),
                    hex::encode(expected)
                ),
            ));
        }
    }
    let (_, meta) = SafeTensors::read_metadata(&bytes).map_err(|e| bad(path, e.to_string()))?;
    let info = meta.metadata().clone().unwrap_or_default();
    let FileMeta { config, layers } =
        serde_json::from_str(info.get(META_KEY).map(String::as_str).unwrap_or(""))
            .map_err(|e| bad(path, format!("no valid NeuroShard metadata: {e}")))?;
    config.validate()?;
    if !(0 <= layers[0] && layers[0] < layers[1] && layers[1] <= config.layers) {
        return Err(bad(
            path,
            format!("layer range {layers:?} is not within the model"),
        ));
    }
    let layers = layers[0]..layers[1];
    let st = SafeTensors::deserialize(&bytes).map_err(|e| bad(path, e.to_string()))?;
    let mut tensors = BTreeMap::new();
    for (name, view) in st.tensors() {
        if view.dtype() != Dtype::F32 {
            return Err(bad(
                path,
                format!("tensor {name} is {:?}, expected F32", view.dtype()),
            ));
        }
        let shape: Vec<i64> = view.shape().iter().map(|&d| d as i64).collect();
        tensors.insert(
            name,
            Tensor::f_from_data_size(view.data(), &shape, Kind::Float)?,
        );
    }
    Ok(Loaded {
        config,
        layers,
        tensors,
    })
}

impl Loaded {
    /// Builds the model or stage and fills every parameter; any missing, extra or misshapen
    /// tensor is an error.
    pub fn into_model(self, path: &Path) -> Result<NeuroLlm, ComputeError> {
        let model = NeuroLlm::build(&self.config, self.layers.clone(), None)?;
        let params = model.named_parameters();
        if params.len() != self.tensors.len() {
            return Err(bad(
                path,
                format!(
                    "holds {} tensors, the model has {}",
                    self.tensors.len(),
                    params.len()
                ),
            ));
        }
        tch::no_grad(|| {
            for (name, mut p) in params {
                let t = self
                    .tensors
                    .get(&name)
                    .ok_or_else(|| bad(path, format!("missing tensor {name}")))?;
                if t.size() != p.size() {
                    return Err(bad(
                        path,
                        format!("{name} has shape {:?}, expected {:?}", t.size(), p.size()),
                    ));
                }
                p.f_copy_(t)?;
            }
            Ok(())
        })?;
        Ok(model)
    }
}

/// Loads a whole model from `path`, checking its hash if given.
pub fn load_model(path: &Path, expected: Option<&[u8; 32]>) -> Result<NeuroLlm, ComputeError> {
    load(path, expected)?.into_model(path)
}

/// Saves `model` as stages holding `ranges` in `dir`, with a manifest.
pub fn save_sharded(
    model: &NeuroLlm,
    ranges: &[Range<i64>],
    dir: &Path,
) -> Result<CheckpointManifest, ComputeError> {
    std::fs::create_dir_all(dir).map_err(|e| ComputeError::io(dir, e))?;
    let mut shards = Vec::new();
    for (i, range) in ranges.iter().enumerate() {
        let file = format!("shard-{i:03}.safetensors");
        let hash = save(&model.stage(range.clone())?, &dir.join(&file))?;
        shards.push(ShardFile {
            file,
            layers: [range.start, range.end],
            sha256: hex::encode(hash),
        });
    }
    let manifest = CheckpointManifest {
        config: model.config().clone(),
        shards,
    };
    let path = dir.join(MANIFEST);
    let text = serde_json::to_string_pretty(&manifest).unwrap_or_default();
    std::fs::write(&path, text).map_err(|e| ComputeError::io(&path, e))?;
    Ok(manifest)
}

/// Builds one whole-model file at `out` from the sharded checkpoint in `dir`; returns its SHA-256.
pub fn assemble(dir: &Path, out: &Path) -> Result<[u8; 32], ComputeError> {
    let manifest_path = dir.join(MANIFEST);
    let text =
        std::fs::read_to_string(&manifest_path).map_err(|e| ComputeError::io(&manifest_path, e))?;
    let manifest: CheckpointManifest =
        serde_json::from_str(&text).map_err(|e| bad(&manifest_path, e.to_string()))?;
    let whole = NeuroLlm::new(&manifest.config, 0)?;
    let mut expected = whole.named_parameters();
    let mut next = 0;
    for shard in &manifest.shards {
        let path: PathBuf = dir.join(&shard.file);
        if shard.file.contains('/') || shard.file.contains("..") {
            return Err(bad(
                &path,
                "shard file names must be plain names inside the checkpoint",
            ));
        }
        if shard.layers[0] != next {
            return Err(bad(
                &path,
                format!("starts at layer {}, expected {next}", shard.layers[0]),
            ));
        }
        let mut hash = [0u8; 32];
        hex::decode_to_slice(&shard.sha256, &mut hash)
            .map_err(|_| bad(&manifest_path, "bad sha256"))?;
        let loaded = load(&path, Some(&hash))?;
        if loaded.config != manifest.config || loaded.layers != (shard.layers[0]..shard.layers[1]) {
            return Err(bad(
                &path,
                "config or layer range differs from the manifest",
            ));
        }
        tch::no_grad(|| {
            for (name, t) in &loaded.tensors {
                // A tied embedding appears in the first and last stage; the first one wins.
                if let Some(mut p) = expected.remove(name) {
                    if p.size() != t.size() {
                        return Err(bad(&path, format!("{name} has the wrong shape")));
                    }
                    p.f_copy_(t)?;
                }
            }
            Ok(())
        })?;
        next = shard.layers[1];
    }
    if next != manifest.config.layers || !expected.is_empty() {
        return Err(bad(
            &manifest_path,
            format!(
                "shards cover layers 0..{next} of {}; missing {:?}",
                manifest.config.layers,
                expected.keys().collect::<Vec<_>>()
            ),
        ));
    }
    save(&whole, out)
}
