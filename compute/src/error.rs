//! Errors of the compute side.

#[derive(Debug, thiserror::Error)]
pub enum ComputeError {
    #[error("model config: {0}")]
    Config(String),
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
    #[error("{path}: {err}")]
    Io { path: String, err: std::io::Error },
    #[error("data: {0}")]
    Data(String),
    #[error("checkpoint {file}: {reason}")]
    Checkpoint { file: String, reason: String },
    #[error("pipeline: {0}")]
    Pipeline(String),
    #[error("aggregation: {0}")]
    Aggregation(String),
}

impl ComputeError {
    pub(crate) fn io(path: impl AsRef<std::path::Path>, err: std::io::Error) -> Self {
        ComputeError::Io {
            path: path.as_ref().display().to_string(),
            err,
        }
    }
}
