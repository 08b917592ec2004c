//! `neuroshard genesis …`: validate a genesis file, print the embedded dev genesis, and compute a
//! genesis state root (so that validators can compare before launch).

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use neuroshard_runtime::genesis::DEV_GENESIS_JSON;
use neuroshard_runtime::{Genesis, Ledger, MemoryStorage};

#[derive(Debug, Subcommand)]
pub enum GenesisCommand {
    /// Check a genesis file: schema, no pre-mine, parameter ranges. Exits non-zero if invalid.
    Validate { file: PathBuf },
    /// Print the embedded single-validator development genesis.
    Dev,
    /// Print the state root that a genesis file produces.
    Root { file: PathBuf },
    /// Summarise the embedded dev chain (id, validators, genesis state root).
    Summary,
    /// Print the hash of the genesis weights a genesis file's model and `init_seed` give (the
    /// value its `training.genesis_model` must hold); the embedded dev genesis if no file.
    #[cfg(feature = "training")]
    Model { file: Option<PathBuf> },
    /// Print the hash a training corpus is pinned by (`training.corpus`): the BLAKE3 hash of
    /// its manifest (each shard's BLAKE3 hash and length, the held-out shard last).
    #[cfg(feature = "training")]
    Corpus {
        /// A directory (or file) of UTF-8 text, or `synthetic` [default: synthetic].
        corpus: Option<String>,
    },
}

fn load(file: &PathBuf) -> anyhow::Result<Genesis> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read genesis file {}", file.display()))?;
    Genesis::from_json(&text).with_context(|| format!("{} is not a valid genesis", file.display()))
}

fn root_of(genesis: &Genesis) -> anyhow::Result<String> {
    let ledger = Ledger::init_chain(MemoryStorage::new(), genesis)?;
    Ok(hex::encode(ledger.state_root()))
}

pub fn run(cmd: GenesisCommand) -> anyhow::Result<()> {
    match cmd {
        GenesisCommand::Validate { file } => {
            let g = load(&file)?;
            println!(
                "{}: valid genesis for chain {} ({} validator(s), total minted 0)",
                file.display(),
                g.chain_id,
                g.validators.len()
            );
        }
        GenesisCommand::Dev => print!("{DEV_GENESIS_JSON}"),
        GenesisCommand::Root { file } => println!("{}", root_of(&load(&file)?)?),
        GenesisCommand::Summary => summary_of_dev()?,
        #[cfg(feature = "training")]
        GenesisCommand::Model { file } => {
            let g = match file {
                Some(f) => load(&f)?,
                None => Genesis::dev(),
            };
            println!("{}", hex::encode(genesis_model_hash(&g.params)?));
        }
        #[cfg(feature = "training")]
        GenesisCommand::Corpus { corpus } => {
            println!("{}", hex::encode(corpus_hash(corpus.as_deref())?));
        }
    }
    Ok(())
}

/// What a bare `neuroshard` prints before it starts the dev chain.
pub fn summary_of_dev() -> anyhow::Result<()> {
    let g = Genesis::dev();
    println!("NeuroShard {}", env!("CARGO_PKG_VERSION"));
    println!(
        "dev chain {}: {} validator(s), genesis state root {}",
        g.chain_id,
        g.validators.len(),
        root_of(&g)?
    );
    Ok(())
}

/// The parameters a bench plays: a genesis file's, `mainnet` for the mainnet defaults, or (none)
/// the dev genesis's.
pub fn params_of(genesis: Option<&str>) -> anyhow::Result<neuroshard_runtime::Params> {
    let params = match genesis {
        None => Genesis::dev().params,
        Some("mainnet") => neuroshard_runtime::Params::mainnet_defaults(),
        Some(path) => load(&PathBuf::from(path))?.params,
    };
    params.validate()?;
    Ok(params)
}

/// Hash of the weights `params` make at genesis.
#[cfg(feature = "training")]
pub fn genesis_model_hash(params: &neuroshard_runtime::Params) -> anyhow::Result<[u8; 32]> {
    let cfg = neuroshard_client::spec::model_config_of(&params.model);
    Ok(neuroshard_compute::ponw::genesis_model(&cfg, params.training.init_seed)?.weights_hash())
}

/// The hash that pins a corpus (`training.corpus`): a directory of text, or `synthetic`.
#[cfg(feature = "training")]
pub fn corpus_hash(corpus: Option<&str>) -> anyhow::Result<[u8; 32]> {
    let corpus = neuroshard_client::spec::Corpus::choose(Some(corpus.unwrap_or("synthetic")));
    Ok(neuroshard_compute::ponw::dataset_hash(&corpus.load()?))
}

#[cfg(all(test, feature = "training"))]
mod tests {
    #[test]
    fn dev_genesis_names_the_weights_its_seed_makes() {
        let g = neuroshard_runtime::Genesis::dev();
        assert_eq!(
            super::genesis_model_hash(&g.params).unwrap(),
            g.params.training.genesis_model
        );
    }
}
