//! The ledger state machine and its block life cycle.
//!
//! `init_chain` (once) → for each decided block: `begin_block` → `deliver_tx`* → `end_block` →
//! `commit`. Time, proposer and height come in with the block header; nothing here reads a clock,
//! the network or the disk except through [`Storage`]. A block's writes stay in memory until
//! `commit` hands them, with the new Merkle nodes, to storage as one atomic batch, so a crash at
//! any point leaves the last committed block intact.

use crate::crypto::Hash32;
use crate::crypto::{Address, PublicKey};
use crate::ctx::{BlockHeader, BlockScratch, Env};
use crate::error::{BlockError, StorageError, TxError};
use crate::execute;
use crate::genesis::Genesis;
use crate::handlers::voting_power;
use crate::maturity;
use crate::merkle::{self, StateRoot};
use crate::overlay::{Changes, Overlay};
use crate::params::Params;
use crate::receipt::Receipt;
use crate::state::{
    keys, Account, ChainInfo, NodeRecord, ProofRecord, RoundRecord, Supply, TrainingState,
    ValidatorIndex, ValidatorRecord,
};
use crate::storage::{Storage, WriteBatch};
use crate::tx::VerifiedTx;

/// A change of a validator's voting power, to take effect at the next height (0 removes it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ValidatorUpdate {
    pub public_key: PublicKey,
    pub power: u64,
}

/// A validator as the state records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatorInfo {
    pub address: Address,
    pub record: ValidatorRecord,
    pub stake: crate::amount::Amount,
}

struct BlockInProgress {
    header: BlockHeader,
    /// Its height's round-0 proposer in the set in force ([`crate::liveness`]).
    expected_proposer: Option<Address>,
    changes: Changes,
    scratch: BlockScratch,
    ended: bool,
}

/// The ledger over a store `S`.
pub struct Ledger<S: Storage> {
    store: S,
    chain: ChainInfo,
    params: Params,
    root: StateRoot,
    block: Option<BlockInProgress>,
}

fn corrupt(key: &[u8], reason: &str) -> StorageError {
    StorageError::Corrupt {
        key: String::from_utf8_lossy(key).into_owned(),
        reason: reason.to_owned(),
    }
}

fn read<T: borsh::BorshDeserialize>(
    store: &impl Storage,
    key: &[u8],
) -> Result<Option<T>, StorageError> {
    let mut empty = Changes::new();
    Overlay::new(store, &mut empty).get(key)
}

impl<S: Storage> Ledger<S> {
    /// Writes the genesis state (version 0) into an empty store.
    pub fn init_chain(mut store: S, genesis: &Genesis) -> Result<Ledger<S>, BlockError> {
        genesis.validate()?;
        if let Some(existing) = read::<ChainInfo>(&store, keys::CHAIN)? {
            return Err(BlockError::AlreadyInitialized(existing.chain_id));
        }
        let time_ms = genesis.genesis_time_ms()?;
        let chain = ChainInfo {
            chain_id: genesis.chain_id.clone(),
            genesis_time_ms: time_ms,
            height: 0,
            time_ms,
            proposer: Address::default(),
        };
        let mut changes = Changes::new();
        {
            let mut ov = Overlay::new(&store, &mut changes);
            ov.put(keys::CHAIN.to_vec(), &chain);
            ov.put(keys::PARAMS.to_vec(), &genesis.params);
            ov.put(keys::GENESIS_PARAMS.to_vec(), &genesis.params);
            ov.put(keys::SUPPLY.to_vec(), &Supply::default());
            let model = genesis.params.training.genesis_model;
            ov.put(
                keys::TRAINING.to_vec(),
                &TrainingState {
                    round: 0,
                    model_version: model,
                    momentum: crate::round::NO_MOMENTUM,
                    opened_ms: time_ms,
                    ..TrainingState::default()
                },
            );
            ov.put(
                keys::round(0),
                &RoundRecord::opened(0, model, crate::round::NO_MOMENTUM, time_ms, 0),
            );
            let mut index = ValidatorIndex::default();
            for v in &genesis.validators {
                let address = v.public_key.address();
                let record = ValidatorRecord {
                    public_key: v.public_key,
                    power: v.power,
                    genesis_power: v.power,
                    jailed: false,
                    beacon_key: Some(v.beacon_key),
                    liveness: Default::default(),
                    down_until_ms: None,
                };
                ov.put(keys::validator(&address), &record);
                index.0.push(address);
            }
            index.0.sort();
            ov.put(keys::VALIDATOR_INDEX.to_vec(), &index);
            let draw_set = crate::draw::snapshot(&mut ov)?;
            ov.put(keys::DRAW_SET.to_vec(), &draw_set);
        }
        let root = Self::write_version(&mut store, changes, 0)?;
        Ok(Ledger {
            store,
            chain,
            params: genesis.params.clone(),
            root,
            block: None,
        })
    }

    /// Opens a store that already holds a chain.
    pub fn open(store: S) -> Result<Ledger<S>, BlockError> {
        let chain: ChainInfo = read(&store, keys::CHAIN)?.ok_or(BlockError::NotInitialized)?;
        let params: Params =
            read(&store, keys::PARAMS)?.ok_or_else(|| corrupt(keys::PARAMS, "missing"))?;
        let root = merkle::root_at(&store, chain.height)?
            .ok_or_else(|| corrupt(b"t/", "no state tree root for the committed height"))?;
        Ok(Ledger {
            store,
            chain,
            params,
            root,
            block: None,
        })
    }

    /// Opens the store if it holds a chain, otherwise writes `genesis` into it. A store that holds
    /// a different chain is refused.
    pub fn open_or_init(store: S, genesis: &Genesis) -> Result<Ledger<S>, BlockError> {
        if read::<ChainInfo>(&store, keys::CHAIN)?.is_none() {
            return Self::init_chain(store, genesis);
        }
        let ledger = Self::open(store)?;
        // NeuroDAO may have changed the parameters since: the genesis file is checked against
        // the ones genesis set.
        let at_genesis: Option<Params> = read(&ledger.store, keys::GENESIS_PARAMS)?;
        if ledger.chain.chain_id != genesis.chain_id || at_genesis.as_ref() != Some(&genesis.params)
        {
            return Err(BlockError::AlreadyInitialized(ledger.chain.chain_id));
        }
        Ok(ledger)
    }

    fn write_version(
        store: &mut S,
        changes: Changes,
        version: u64,
    ) -> Result<StateRoot, StorageError> {
        let mut batch = WriteBatch::default();
        let root = merkle::update(store, &changes, version, &mut batch)?;
        for (key, value) in changes {
            match value {
                Some(v) => batch.put(key, v),
                None => batch.delete(key),
            }
        }
        store.write(batch)?;
        Ok(root)
    }

    /// Starts block `header.height`, which must follow the last committed height, at a block
    /// time no earlier than the last one.
    pub fn begin_block(&mut self, header: BlockHeader) -> Result<(), BlockError> {
        if self.block.is_some() {
            return Err(BlockError::WrongPhase {
                call: "begin_block",
                when: "a block is already in progress",
            });
        }
        if Some(header.height) != self.chain.height.checked_add(1) {
            return Err(BlockError::HeightNotNext {
                last: self.chain.height,
                got: header.height,
            });
        }
        if header.time_ms < self.chain.time_ms {
            return Err(BlockError::TimeWentBack {
                previous: self.chain.time_ms,
                got: header.time_ms,
            });
        }
        self.check_beacon(&header)?;
        let mut changes = Changes::new();
        let expected_proposer = crate::liveness::expected_proposer(
            &mut Overlay::new(&self.store, &mut changes),
            header.height,
        )?;
        let info = ChainInfo {
            height: header.height,
            time_ms: header.time_ms,
            proposer: header.proposer,
            ..self.chain.clone()
        };
        Overlay::new(&self.store, &mut changes).put(keys::CHAIN.to_vec(), &info);
        self.block = Some(BlockInProgress {
            header,
            expected_proposer,
            changes,
            scratch: BlockScratch::default(),
            ended: false,
        });
        Ok(())
    }

    /// A block proposed by a validator with a beacon key must carry that key's signature for its
    /// height: such a proposer cannot spoil a draw window by leaving it out or garbling it, only
    /// by not proposing at all (`crate::draw`). Blocks from others carry what they like.
    fn check_beacon(&self, header: &BlockHeader) -> Result<(), BlockError> {
        let Some(key) = self
            .validator(&header.proposer)?
            .and_then(|record| record.beacon_key)
        else {
            return Ok(());
        };
        let valid = header.beacon.is_some_and(|sig| {
            key.height_output(&sig, &self.chain.chain_id, header.height, &header.proposer)
                .is_some()
        });
        if valid {
            Ok(())
        } else {
            Err(BlockError::BadBeacon {
                height: header.height,
                proposer: header.proposer,
            })
        }
    }

    /// Applies one transaction to the block in progress (see [`Receipt`] for what `Ok` and `Err`
    /// mean). Signature checks were done by [`crate::tx::SignedTransaction::verify`].
    pub fn deliver_tx(&mut self, tx: &VerifiedTx) -> Result<Receipt, TxError> {
        let Some(block) = self.block.as_mut().filter(|b| !b.ended) else {
            return Err(TxError::NoBlockInProgress);
        };
        let env = Env {
            chain_id: &self.chain.chain_id,
            params: &self.params,
            header: block.header,
            prev_root: self.root,
        };
        let mut ov = Overlay::new(&self.store, &mut block.changes);
        execute::deliver(&mut ov, &env, &mut block.scratch, tx)
    }

    /// Runs `tx` against the committed state as if it were the first transaction of a next block
    /// at `time_ms` (the caller's clock, never earlier than the last block), and forgets the
    /// result: the mempool's admission check.
    pub fn check_tx(&self, tx: &VerifiedTx, time_ms: u64) -> Result<Receipt, TxError> {
        let env = Env {
            chain_id: &self.chain.chain_id,
            params: &self.params,
            header: BlockHeader {
                height: self.chain.height.saturating_add(1),
                time_ms: time_ms.max(self.chain.time_ms),
                proposer: self.chain.proposer,
                beacon: None,
            },
            prev_root: self.root,
        };
        let mut scratch = Changes::new();
        let mut ov = Overlay::new(&self.store, &mut scratch);
        let receipt = execute::deliver(&mut ov, &env, &mut BlockScratch::default(), tx)?;
        match &receipt.result {
            Ok(()) => Ok(receipt),
            Err(e) => Err(e.clone()),
        }
    }

    /// Ends the block: returns the voting-power changes that stake and slashing caused.
    pub fn end_block(&mut self) -> Result<Vec<ValidatorUpdate>, BlockError> {
        let Some(block) = self.block.as_mut().filter(|b| !b.ended) else {
            return Err(BlockError::WrongPhase {
                call: "end_block",
                when: "no block is in progress",
            });
        };
        block.ended = true;
        let mut ov = Overlay::new(&self.store, &mut block.changes);
        crate::liveness::on_block(
            &mut ov,
            &self.params,
            &block.header,
            block.expected_proposer,
            &mut block.scratch.touched,
        )?;
        let mut updates = Vec::new();
        for address in &block.scratch.touched {
            let Some(mut record) = ov.get::<ValidatorRecord>(&keys::validator(address))? else {
                continue;
            };
            let stake = ov
                .get::<Account>(&keys::account(address))?
                .unwrap_or_default()
                .stake;
            let power = voting_power(&self.params, &record, stake);
            if power != record.power {
                record.power = power;
                ov.put(keys::validator(address), &record);
                updates.push(ValidatorUpdate {
                    public_key: record.public_key,
                    power,
                });
            }
        }
        // After the power changes: a draw window that closes here snapshots the set consensus
        // uses for the next height.
        crate::draw::on_block(&mut ov, &self.params, &self.chain.chain_id, &block.header)?;
        maturity::mature_rewards(&mut ov, &self.params, block.header.time_ms)?;
        crate::bond::release_due(&mut ov, &self.params, block.header.time_ms)?;
        crate::registrations::expire_due(&mut ov, block.header.time_ms)?;
        crate::gov::block::on_block(&mut ov, &self.params, &block.header)?;
        Ok(updates)
    }

    /// Writes the ended block atomically and returns the new state root.
    pub fn commit(&mut self) -> Result<StateRoot, BlockError> {
        if !self.block.as_ref().is_some_and(|b| b.ended) {
            return Err(BlockError::WrongPhase {
                call: "commit",
                when: "before end_block",
            });
        }
        let Some(block) = self.block.take() else {
            return Err(BlockError::WrongPhase {
                call: "commit",
                when: "no block is in progress",
            });
        };
        let params_changed = block.changes.contains_key(keys::PARAMS);
        let root = Self::write_version(&mut self.store, block.changes, block.header.height)?;
        if params_changed {
            // A NeuroDAO change applied in this block: in force from the next one.
            self.params =
                read(&self.store, keys::PARAMS)?.ok_or_else(|| corrupt(keys::PARAMS, "missing"))?;
        }
        self.chain.height = block.header.height;
        self.chain.time_ms = block.header.time_ms;
        self.chain.proposer = block.header.proposer;
        self.root = root;
        Ok(root)
    }

    /// Drops the block in progress (e.g. consensus moved to another proposal).
    pub fn abort_block(&mut self) {
        self.block = None;
    }

    // --- Queries on committed state ---

    pub fn chain_id(&self) -> &str {
        &self.chain.chain_id
    }
    pub fn height(&self) -> u64 {
        self.chain.height
    }
    pub fn last_block_time_ms(&self) -> u64 {
        self.chain.time_ms
    }
    pub fn state_root(&self) -> StateRoot {
        self.root
    }
    pub fn params(&self) -> &Params {
        &self.params
    }
    pub fn store(&self) -> &S {
        &self.store
    }
    /// Gives the store back (e.g. to reopen it as after a restart).
    pub fn into_store(self) -> S {
        self.store
    }

    pub fn account(&self, address: &Address) -> Result<Account, StorageError> {
        Ok(read(&self.store, &keys::account(address))?.unwrap_or_default())
    }
    pub fn supply(&self) -> Result<Supply, StorageError> {
        Ok(read(&self.store, keys::SUPPLY)?.unwrap_or_default())
    }
    pub fn node(&self, address: &Address) -> Result<Option<NodeRecord>, StorageError> {
        read(&self.store, &keys::node(address))
    }

    /// The network's diminishing-returns curve as last written (a proof accepted in a later
    /// window sees [`crate::rewards::curve_at`] of it).
    pub fn reward_curve(&self) -> Result<crate::state::RewardCurve, StorageError> {
        Ok(read(&self.store, keys::REWARD_CURVE)?.unwrap_or_default())
    }

    /// NeuroDAO's bookkeeping: next proposal id, open and queued proposals.
    pub fn gov(&self) -> Result<crate::gov::GovState, StorageError> {
        Ok(read(&self.store, keys::GOV)?.unwrap_or_default())
    }
    /// Proposal `id`, if it was ever submitted.
    pub fn proposal(&self, id: u64) -> Result<Option<crate::gov::Proposal>, StorageError> {
        read(&self.store, &keys::proposal(id))
    }
    /// `voter`'s vote on proposal `id`.
    pub fn vote(
        &self,
        id: u64,
        voter: &Address,
    ) -> Result<Option<crate::gov::VoteOption>, StorageError> {
        read(&self.store, &keys::vote(id, voter))
    }
    /// The tally of proposal `id` as it would close now: its final tally once closed, else
    /// every current voter's power and vote.
    pub fn tally(&self, id: u64) -> Result<Option<crate::gov::Tally>, StorageError> {
        let Some(p) = self.proposal(id)? else {
            return Ok(None);
        };
        if p.tally.is_some() {
            return Ok(p.tally);
        }
        let mut empty = Changes::new();
        crate::gov::block::count(&Overlay::new(&self.store, &mut empty), id).map(Some)
    }
    /// The architecture round `round` trains: genesis's, unless NeuroDAO changed it from an
    /// earlier round on. Replays of a round's proofs use this, not the shape in force now.
    pub fn model_for_round(&self, round: u64) -> Result<crate::params::ModelParams, StorageError> {
        let history: crate::gov::ArchitectureHistory =
            read(&self.store, keys::ARCHITECTURES)?.unwrap_or_default();
        Ok(history.at(round, &self.genesis_params()?.model))
    }

    /// The parameters genesis set (NeuroDAO may have changed [`Ledger::params`] since).
    pub fn genesis_params(&self) -> Result<Params, StorageError> {
        read(&self.store, keys::GENESIS_PARAMS)?
            .ok_or_else(|| corrupt(keys::GENESIS_PARAMS, "missing"))
    }

    /// The open training round and the maturity queue.
    pub fn training(&self) -> Result<TrainingState, StorageError> {
        Ok(read(&self.store, keys::TRAINING)?.unwrap_or_default())
    }
    pub fn round(&self, round: u64) -> Result<Option<RoundRecord>, StorageError> {
        read(&self.store, &keys::round(round))
    }
    /// The transaction hashes of the proofs accepted in `round`, in order, from `start`, at most
    /// `limit`.
    pub fn round_proofs(
        &self,
        round: u64,
        start: u64,
        limit: u64,
    ) -> Result<Vec<Hash32>, StorageError> {
        let Some(record) = self.round(round)? else {
            return Ok(Vec::new());
        };
        let end = record.proofs.min(start.saturating_add(limit));
        let mut out = Vec::new();
        for i in start..end {
            if let Some(id) = read::<Hash32>(&self.store, &keys::round_proof(round, i))? {
                out.push(id);
            }
        }
        Ok(out)
    }
    /// The round's training proofs (those a result's bitmap covers), in acceptance order.
    pub fn round_trained(&self, round: u64) -> Result<Vec<Hash32>, StorageError> {
        let Some(record) = self.round(round)? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for i in 0..record.trained {
            let id = read::<Hash32>(&self.store, &keys::round_trained(round, i))?
                .ok_or_else(|| corrupt(&keys::round_trained(round, i), "missing"))?;
            out.push(id);
        }
        Ok(out)
    }

    /// A result attested for `round`, by its hash.
    pub fn round_result(
        &self,
        round: u64,
        hash: &Hash32,
    ) -> Result<Option<crate::round::RoundResult>, StorageError> {
        read(&self.store, &keys::round_result(round, hash))
    }

    pub fn proof(&self, id: &Hash32) -> Result<Option<ProofRecord>, StorageError> {
        read(&self.store, &keys::proof(id))
    }

    /// The validator record of `address`, if it has one.
    pub fn validator(&self, address: &Address) -> Result<Option<ValidatorRecord>, StorageError> {
        read(&self.store, &keys::validator(address))
    }

    /// Who must propose block `height` (the next one) for it to add to the open draw window: its
    /// first proposer in the window's validator snapshot ([`crate::draw`]).
    pub fn draw_proposer(&self, height: u64) -> Result<Option<Address>, StorageError> {
        let set: crate::state::DrawSet = read(&self.store, keys::DRAW_SET)?.unwrap_or_default();
        let powers: Vec<_> = set.0.iter().map(|m| (m.address, m.power)).collect();
        Ok(crate::beacon::first_proposer(&powers, height).map(|i| powers[i].0))
    }

    /// Every validator record, in address order, with its account's bonded stake.
    pub fn validators(&self) -> Result<Vec<ValidatorInfo>, StorageError> {
        let index: ValidatorIndex = read(&self.store, keys::VALIDATOR_INDEX)?.unwrap_or_default();
        let mut out = Vec::with_capacity(index.0.len());
        for address in index.0 {
            let record: ValidatorRecord = read(&self.store, &keys::validator(&address))?
                .ok_or_else(|| {
                    corrupt(keys::VALIDATOR_INDEX, "lists a validator with no record")
                })?;
            let stake = self.account(&address)?.stake;
            out.push(ValidatorInfo {
                address,
                record,
                stake,
            });
        }
        Ok(out)
    }
}
