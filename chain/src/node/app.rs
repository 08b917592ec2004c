//! The application side of Malachite: answers the engine's requests (`AppMsg`) from the chain state.
//!
//! * `GetValue`: build a block from the mempool (or re-use the one already built for this height
//!   and round, kept durably), reply with its hash and stream it to peers.
//! * `ReceivedProposalPart`: reassemble a peer's block, check the proposer's signature and
//!   execute it; reply with its hash and validity.
//! * `Decided`: commit the block with its commit certificate, atomically; prune the mempool;
//!   read the validator set the block's `end_block` left.
//! * `Finalized` (at the height's target time, the block interval): start the next height with
//!   that set, or run this one again if the block did not commit.
//! * `GetDecidedValues` / `ProcessSyncedValue`: value sync from the store, a few blocks a time.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use eyre::eyre;
use malachitebft_app_channel::app::engine::host::{HeightParams, Next, SyncedValueOutcome};
use malachitebft_app_channel::app::types::core::{
    CommitCertificate, ExtendedCommitCertificate, LinearTimeouts, Round, Validity,
};
use malachitebft_app_channel::app::types::sync::RawDecidedValue;
use malachitebft_app_channel::app::types::{LocallyProposedValue, ProposedValue};
use malachitebft_app_channel::{AppMsg, Channels, NetworkMsg};
use neuroshard_runtime::beacon::BeaconSecret;
use neuroshard_runtime::evidence::Evidence;
use neuroshard_runtime::{SecretKey, TxBody};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use crate::block::{Block, MAX_BLOCK_BYTES};
use crate::consensus::codec::{decode_commit, encode_commit};
use crate::consensus::context::{
    proposer_index, BlockHash, Height, NeuroContext, Validator, ValidatorAddress, ValidatorSet,
};
use crate::consensus::signing::{streamed_block_digest, Signer};
use crate::consensus::watch::AHEAD_HEIGHTS;
use crate::consensus::VoteWatcher;
use crate::executor::ChainState;
use crate::mempool::TX_TTL_MS;
use crate::node::parts::{stream_block, Assembler, StreamedBlock};
use crate::node::shared::{now_ms, Shared};

/// How far ahead of this node's clock a proposed block's time may be.
const MAX_FUTURE_DRIFT_MS: u64 = 10_000;

/// The validator set the ledger's state says is in force for the next height.
pub(crate) fn validator_set(chain: &ChainState) -> eyre::Result<ValidatorSet> {
    let infos = chain.ledger().validators()?;
    Ok(ValidatorSet::new(infos.into_iter().filter_map(|v| {
        (!v.record.jailed && v.record.power > 0)
            .then(|| Validator::new(v.record.public_key, v.record.power))
    })))
}

/// Heights between two registrations of this validator's beacon key while the ledger lacks it.
const BEACON_KEY_RETRY: u64 = 32;

/// Blocks in one value-sync response at most.
pub(crate) const SYNC_BATCH: usize = 4;

/// Streamed blocks for heights ahead of ours kept at once.
const MAX_AHEAD: usize = 16;

pub(crate) struct App {
    pub shared: Arc<Shared>,
    pub signer: Signer,
    pub key: SecretKey,
    /// Its beacon secret (derived from `key`): signs each block it proposes, the draw's
    /// randomness (`neuroshard_runtime::draw`).
    pub beacon: BeaconSecret,
    /// Whether the ledger holds this validator's beacon key, and the height it last sent it.
    pub beacon_key_registered: bool,
    pub beacon_key_tried_at: Option<u64>,
    /// The height it last sent `Unjail` after a downtime jailing.
    pub unjail_tried_at: Option<u64>,
    pub me: ValidatorAddress,
    pub chain_id: String,
    pub block_interval: Duration,
    pub max_block_txs: usize,
    pub timeouts: LinearTimeouts,
    pub validators: ValidatorSet,
    /// The height last decided, and whether its block committed.
    pub decided: Option<(Height, bool)>,
    /// Watches votes for double signs; told of every commit.
    pub watcher: Arc<VoteWatcher>,
    /// Blocks seen for heights not yet decided, by hash.
    pub blocks: HashMap<BlockHash, (Block, bool)>,
    /// Checked proposals per (height, round), to hand back when consensus enters that round.
    pub proposals: HashMap<(u64, Round), Vec<ProposedValue<NeuroContext>>>,
    /// Streamed blocks for heights ahead of ours, checked when we get there.
    pub ahead: Vec<StreamedBlock>,
    pub assembler: Assembler,
}

impl App {
    fn height(&self) -> u64 {
        self.chain().height()
    }

    fn chain(&self) -> std::sync::RwLockReadGuard<'_, ChainState> {
        self.shared.chain.read().unwrap_or_else(|p| p.into_inner())
    }

    fn chain_mut(&self) -> std::sync::RwLockWriteGuard<'_, ChainState> {
        self.shared.chain.write().unwrap_or_else(|p| p.into_inner())
    }

    pub async fn run(
        mut self,
        mut channels: Channels<NeuroContext>,
        mut evidence: mpsc::UnboundedReceiver<Evidence>,
    ) -> eyre::Result<()> {
        loop {
            tokio::select! {
                msg = channels.consensus.recv() => match msg {
                    Some(msg) => self.handle(msg, &mut channels).await?,
                    None => return Err(eyre!("consensus engine stopped")),
                },
                Some(ev) = evidence.recv() => self.report(ev),
            }
        }
    }

    /// Submits a `ReportFraud` transaction signed by this validator.
    fn report(&self, evidence: Evidence) {
        let body = TxBody::ReportFraud(Box::new(evidence));
        match self.shared.sign_and_submit(&self.key, body) {
            Ok(hash) => info!(tx = %hex::encode(hash), "submitted double-sign evidence"),
            Err(e) => warn!("double-sign evidence was not accepted: {e}"),
        }
    }

    async fn handle(
        &mut self,
        msg: AppMsg<NeuroContext>,
        channels: &mut Channels<NeuroContext>,
    ) -> eyre::Result<()> {
        match msg {
            AppMsg::ConsensusReady { reply } => {
                let start = Height(self.height() + 1);
                info!(height = %start, validators = self.validators.validators.len(), "consensus ready");
                let _ = reply.send((start, self.height_params()));
            }
            AppMsg::StartedRound {
                height,
                round,
                proposer,
                reply_value,
                ..
            } => {
                let values = self.on_started_round(height, round, proposer)?;
                let _ = reply_value.send(values);
            }
            AppMsg::GetValue {
                height,
                round,
                reply,
                ..
            } => {
                let block = self.build(height, round)?;
                let hash = BlockHash(block.hash());
                debug!(%height, %round, txs = block.txs.len(), block = %hash, "proposing");
                let _ = reply.send(LocallyProposedValue::new(height, round, hash));
                self.stream(height, round, Round::Nil, &block, channels)
                    .await?;
            }
            AppMsg::RestreamProposal {
                height,
                round,
                valid_round,
                value_id,
                ..
            } => {
                if let Some((block, _)) = self.blocks.get(&value_id).cloned() {
                    self.stream(height, round, valid_round, &block, channels)
                        .await?;
                }
            }
            // NeuroShard uses no vote extensions: none is made, and any that comes is ignored.
            AppMsg::ExtendVote { reply, .. } => {
                let _ = reply.send(None);
            }
            AppMsg::VerifyVoteExtensions {
                extensions, reply, ..
            } => {
                let _ = reply.send(extensions.into_iter().map(|(a, _)| (a, Ok(()))).collect());
            }
            AppMsg::ReceivedProposalPart {
                from,
                published_by,
                part,
                reply,
            } => {
                // A stream's parts may come through different neighbours: they are grouped,
                // and counted against quotas, by the peer that published them (gossipsub signs
                // each message with its publisher's key).
                let from = published_by.unwrap_or(from);
                let value = match self.assembler.push(from, part) {
                    Ok(Some(streamed)) => self.received_block(streamed),
                    Ok(None) => None,
                    Err(e) => {
                        warn!(%from, "dropped a proposal stream: {e}");
                        None
                    }
                };
                let _ = reply.send(value);
            }
            AppMsg::Decided {
                certificate, reply, ..
            } => {
                self.on_decided(certificate);
                let _ = reply.send(());
            }
            AppMsg::Finalized {
                certificate, reply, ..
            } => {
                let next = self.on_finalized(certificate);
                let _ = reply.send(next);
            }
            AppMsg::GetHistoryMinHeight { reply } => {
                let _ = reply.send(Height(1));
            }
            AppMsg::GetDecidedValues { range, reply } => {
                let values = self.on_get_decided_values(range)?;
                let _ = reply.send(values);
            }
            AppMsg::ProcessSyncedValue {
                height,
                round,
                proposer,
                value_bytes,
                reply,
            } => {
                let outcome = self.on_synced_value(height, round, proposer, &value_bytes);
                let _ = reply.send(outcome);
            }
        }
        Ok(())
    }

    /// What consensus needs to run a height: the validator set the ledger holds now (the set
    /// of the height after the last committed block), the round timeouts, and the block
    /// interval as the height's target time (Malachite waits for it before finalizing, and
    /// does not wait for heights decided through sync).
    fn height_params(&self) -> HeightParams<NeuroContext> {
        let target = (!self.block_interval.is_zero()).then_some(self.block_interval);
        HeightParams::new(self.validators.clone(), self.timeouts, target)
    }

    /// Values to hand consensus as it enters a round: the blocks already checked for it and,
    /// after a restart, the block this node proposed there before it stopped.
    fn on_started_round(
        &mut self,
        height: Height,
        round: Round,
        proposer: ValidatorAddress,
    ) -> eyre::Result<Vec<ProposedValue<NeuroContext>>> {
        debug!(%height, %round, %proposer, "started round");
        self.check_ahead(height);
        let mut values = self
            .proposals
            .remove(&(height.0, round))
            .unwrap_or_default();
        if let Some(round_u32) = round.as_u32() {
            let own = self.chain().store().own_proposal(height.0, round_u32)?;
            if let Some(block) = own {
                let hash = BlockHash(block.hash());
                if !values.iter().any(|v| v.value == hash) {
                    self.blocks.insert(hash, (block, false));
                    values.push(ProposedValue {
                        height,
                        round,
                        valid_round: Round::Nil,
                        proposer: self.me,
                        value: hash,
                        validity: Validity::Valid,
                    });
                }
            }
        }
        Ok(values)
    }

    /// Decided blocks for a peer that syncs: at most [`SYNC_BATCH`] from the start of the
    /// range, none past the last committed height (Malachite leaves the range unchecked).
    fn on_get_decided_values(
        &self,
        range: std::ops::RangeInclusive<Height>,
    ) -> eyre::Result<Vec<RawDecidedValue<NeuroContext>>> {
        let chain = self.chain();
        let store = chain.store();
        let first = range.start().0.max(1);
        let last = range
            .end()
            .0
            .min(chain.height())
            .min(first.saturating_add(SYNC_BATCH as u64 - 1));
        let mut values = Vec::new();
        for height in first..=last {
            let (Some(block), Some(cert)) = (store.block(height)?, store.certificate(height)?)
            else {
                break;
            };
            values.push(RawDecidedValue::new(
                Bytes::from(block.encode()),
                ExtendedCommitCertificate::from_commit_certificate_and_extensions(
                    decode_commit(&cert)?,
                    Default::default(),
                ),
            ));
        }
        Ok(values)
    }

    /// A block a peer sent through sync. Consensus checks its certificate against the set of
    /// the height it is running; the block is executed here only if it is the next one.
    fn on_synced_value(
        &mut self,
        height: Height,
        round: Round,
        proposer: ValidatorAddress,
        value_bytes: &[u8],
    ) -> SyncedValueOutcome<NeuroContext> {
        self.shared.catching_up.store(true, Ordering::Relaxed);
        match Block::decode(value_bytes) {
            Ok(block) if block.header.height == height.0 => {
                let hash = BlockHash(block.hash());
                let validity = if height.0 == self.height() + 1 {
                    self.check(&block)
                } else {
                    Validity::Valid
                };
                self.blocks.insert(hash, (block, true));
                SyncedValueOutcome::Verdict(ProposedValue {
                    height,
                    round,
                    valid_round: Round::Nil,
                    proposer,
                    value: hash,
                    validity,
                })
            }
            Ok(_) | Err(_) => {
                warn!(%height, "a peer sent a synced block that does not decode");
                SyncedValueOutcome::PeerFault
            }
        }
    }

    /// The block for (height, round): the one already built there, or a new one from the mempool.
    fn build(&mut self, height: Height, round: Round) -> eyre::Result<Block> {
        let round_u32 = round.as_u32().unwrap_or(0);
        let own = self.chain().store().own_proposal(height.0, round_u32)?;
        if let Some(block) = own {
            self.blocks
                .insert(BlockHash(block.hash()), (block.clone(), false));
            return Ok(block);
        }
        let block = tokio::task::block_in_place(|| -> eyre::Result<Block> {
            let mut chain = self.chain_mut();
            let candidates = {
                let mempool = self
                    .shared
                    .mempool
                    .lock()
                    .unwrap_or_else(|p| p.into_inner());
                let ledger = chain.ledger();
                mempool.reap(self.max_block_txs, MAX_BLOCK_BYTES / 2, |a| {
                    ledger.account(a).map(|acc| acc.nonce).unwrap_or(u64::MAX)
                })
            };
            let beacon = self
                .beacon
                .sign_height(&self.chain_id, height.0, &self.me.0);
            let block = chain.propose(&candidates, now_ms(), self.me.0, Some(beacon))?;
            chain
                .store()
                .put_own_proposal(height.0, round_u32, &block)?;
            Ok(block)
        })?;
        self.blocks
            .insert(BlockHash(block.hash()), (block.clone(), false));
        Ok(block)
    }

    async fn stream(
        &self,
        height: Height,
        round: Round,
        pol_round: Round,
        block: &Block,
        channels: &mut Channels<NeuroContext>,
    ) -> eyre::Result<()> {
        let hash = BlockHash(block.hash());
        let signature = self.signer.sign_streamed_block(height, round, &hash);
        for msg in stream_block(height, round, pol_round, self.me, block, signature) {
            channels
                .network
                .send(NetworkMsg::PublishProposalPart(msg))
                .await?;
        }
        Ok(())
    }

    /// Checks a block for the next height: header against our clock, then full execution.
    fn check(&self, block: &Block) -> Validity {
        if block.header.time_ms > now_ms() + MAX_FUTURE_DRIFT_MS {
            warn!(
                height = block.header.height,
                "proposed block is from the future"
            );
            return Validity::Invalid;
        }
        let result = tokio::task::block_in_place(|| {
            // Signatures this node checked when the transactions entered its mempool.
            let known: HashMap<_, _> = {
                let mempool = self
                    .shared
                    .mempool
                    .lock()
                    .unwrap_or_else(|p| p.into_inner());
                block
                    .txs
                    .iter()
                    .filter_map(|raw| {
                        let hash = crate::block::tx_hash(raw);
                        mempool.get(&hash).map(|v| (hash, v.clone()))
                    })
                    .collect()
            };
            self.chain_mut()
                .validate_with(block, &|h| known.get(h).cloned())
        });
        match result {
            Ok(()) => Validity::Valid,
            Err(e) => {
                warn!(height = block.header.height, "invalid proposed block: {e}");
                Validity::Invalid
            }
        }
    }

    /// A complete stream from a peer: check who signed it, then the block if it is for our next
    /// height. Blocks behind are dropped; blocks ahead wait, only if they are at most
    /// [`AHEAD_HEIGHTS`] ahead and signed by a current validator, one per (height, round,
    /// proposer), at most [`MAX_AHEAD`]: unsigned or far-future streams cost nothing to keep.
    fn received_block(&mut self, s: StreamedBlock) -> Option<ProposedValue<NeuroContext>> {
        let next = self.height() + 1;
        if s.height.0 < next || s.height.0 > next + AHEAD_HEIGHTS {
            return None;
        }
        if s.height.0 > next {
            let signed = self.validators.get(&s.proposer).is_some_and(|v| {
                let hash = BlockHash(s.block.hash());
                let digest = streamed_block_digest(&self.chain_id, s.height, s.round, &hash);
                v.public_key.verify_digest(&digest, &s.signature).is_ok()
            });
            let seen = self
                .ahead
                .iter()
                .any(|a| (a.height, a.round, a.proposer) == (s.height, s.round, s.proposer));
            if signed && !seen && self.ahead.len() < MAX_AHEAD {
                self.ahead.push(s);
            }
            return None;
        }
        self.checked_value(s)
    }

    fn checked_value(&mut self, s: StreamedBlock) -> Option<ProposedValue<NeuroContext>> {
        let hash = BlockHash(s.block.hash());
        // One block executed per (height, round, proposer): the same one again is answered from
        // what was checked; a second, different one is the proposer equivocating, and is not
        // executed (consensus decides on the first or on nil).
        if let Some(known) = self
            .proposals
            .get(&(s.height.0, s.round))
            .and_then(|vs| vs.iter().find(|v| v.proposer == s.proposer))
        {
            if known.value != hash {
                warn!(height = %s.height, round = %s.round, proposer = %s.proposer, "the proposer streamed a second, different block for one round: not executed");
                return None;
            }
            return Some(known.clone());
        }
        let validator = self.validators.get(&s.proposer)?;
        let expected =
            &self.validators.validators[proposer_index(&self.validators, s.height, s.round)];
        if expected.address != s.proposer {
            warn!(height = %s.height, round = %s.round, "block streamed by a validator that is not the proposer");
            return None;
        }
        let digest = streamed_block_digest(&self.chain_id, s.height, s.round, &hash);
        if validator
            .public_key
            .verify_digest(&digest, &s.signature)
            .is_err()
        {
            warn!(height = %s.height, "streamed block with a bad proposer signature");
            return None;
        }
        let validity =
            if s.block.header.height != s.height.0 || s.block.header.proposer != s.proposer.0 {
                Validity::Invalid
            } else {
                self.check(&s.block)
            };
        self.blocks.insert(hash, (s.block, false));
        let value = ProposedValue {
            height: s.height,
            round: s.round,
            valid_round: s.pol_round,
            proposer: s.proposer,
            value: hash,
            validity,
        };
        self.proposals
            .entry((s.height.0, s.round))
            .or_default()
            .push(value.clone());
        Some(value)
    }

    /// Blocks that arrived early for `height`: check them now.
    fn check_ahead(&mut self, height: Height) {
        let (now, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.ahead)
            .into_iter()
            .filter(|s| s.height >= height)
            .partition(|s| s.height == height);
        self.ahead = later;
        for s in now {
            self.checked_value(s);
        }
    }

    /// A validator that joined by staking registers its beacon key once (genesis validators
    /// have theirs): until it does, it has no voting power. Retried every [`BEACON_KEY_RETRY`]
    /// heights until the ledger holds it.
    fn register_beacon_key(&mut self, height: u64) {
        if self.beacon_key_registered
            || self
                .beacon_key_tried_at
                .is_some_and(|at| height < at.saturating_add(BEACON_KEY_RETRY))
        {
            return;
        }
        let record = self.chain().ledger().validator(&self.me.0).ok().flatten();
        match record {
            None => return, // not a validator (yet): nothing to register
            Some(r) if r.beacon_key.is_some() => {
                self.beacon_key_registered = true;
                return;
            }
            Some(_) => {}
        }
        self.beacon_key_tried_at = Some(height);
        let body = TxBody::SetBeaconKey {
            key: self.beacon.public_key(),
            possession: self.beacon.possession(&self.chain_id, &self.me.0),
        };
        match self.shared.sign_and_submit(&self.key, body) {
            Ok(hash) => info!(tx = %hex::encode(hash), "registering this validator's beacon key"),
            Err(e) => warn!("the beacon key registration was not accepted: {e}"),
        }
    }

    /// A validator jailed for downtime (`neuroshard_runtime::liveness`) that runs again sends
    /// `Unjail` once its jail time has passed: a node that commits blocks is back. Retried every
    /// [`BEACON_KEY_RETRY`] heights while it is still jailed.
    fn unjail_when_due(&mut self, height: u64) {
        if self
            .unjail_tried_at
            .is_some_and(|at| height < at.saturating_add(BEACON_KEY_RETRY))
        {
            return;
        }
        let due = {
            let chain = self.chain();
            let ledger = chain.ledger();
            ledger
                .validator(&self.me.0)
                .ok()
                .flatten()
                .and_then(|r| r.down_until_ms.filter(|_| !r.jailed))
                .is_some_and(|until| ledger.last_block_time_ms() >= until)
        };
        if !due {
            return;
        }
        self.unjail_tried_at = Some(height);
        match self.shared.sign_and_submit(&self.key, TxBody::Unjail) {
            Ok(hash) => {
                info!(tx = %hex::encode(hash), "back after downtime: unjailing this validator")
            }
            Err(e) => warn!("the unjail transaction was not accepted: {e}"),
        }
    }

    /// Consensus decided `certificate`'s block: commit it with the certificate, atomically,
    /// and update the mempool, the validator set and the status. What happened is kept for
    /// [`App::on_finalized`], which tells consensus how to go on.
    fn on_decided(&mut self, certificate: CommitCertificate<NeuroContext>) {
        let height = certificate.height;
        let Some((block, synced)) = self.blocks.get(&certificate.value_id).cloned() else {
            warn!(%height, "decided a block this node does not have; restarting the height");
            self.decided = Some((height, false));
            return;
        };
        let applied = tokio::task::block_in_place(|| {
            let mut chain = self.chain_mut();
            let applied =
                chain.apply_with_certificate(&block, Some(encode_commit(&certificate)))?;
            let _ = chain.store().prune_own_proposals(height.0);
            let ledger = chain.ledger();
            let nonce =
                |a: &neuroshard_runtime::Address| ledger.account(a).map_or(0, |acc| acc.nonce);
            let mut mempool = self
                .shared
                .mempool
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            mempool.prune(nonce);
            let time = now_ms();
            let dropped = mempool.recheck(nonce, |tx| ledger.check_tx(tx, time).is_ok())
                + mempool.expire(time, TX_TTL_MS);
            if dropped > 0 {
                debug!(%height, dropped, "dropped transactions that can no longer enter a block or waited too long");
            }
            drop(mempool);
            eyre::Ok(applied)
        });
        let applied = match applied {
            Ok(a) => a,
            Err(e) => {
                warn!(%height, "could not commit the decided block: {e}; restarting the height");
                self.decided = Some((height, false));
                return;
            }
        };
        self.decided = Some((height, true));
        // Per-block lines stay at debug (NEUROSHARD_LOG=neuroshard_chain=debug shows them): at a
        // block a second they would bury the worker's status line.
        debug!(
            %height,
            txs = block.txs.len(),
            block = %BlockHash(applied.hash),
            root = %hex::encode(&applied.state_root[..8]),
            "committed"
        );
        self.blocks.retain(|_, (b, _)| b.header.height > height.0);
        self.proposals.retain(|(h, _), _| *h > height.0);
        self.shared.catching_up.store(synced, Ordering::Relaxed);
        let set = validator_set(&self.chain());
        match set {
            Ok(set) if !set.validators.is_empty() => self.validators = set,
            Ok(_) => warn!("every validator is jailed; keeping the last validator set"),
            Err(e) => warn!("could not read the validator set: {e}; keeping the last one"),
        }
        self.register_beacon_key(height.0);
        self.unjail_when_due(height.0);
        self.watcher.committed(
            height.0,
            self.validators.validators.iter().map(|v| v.public_key),
        );
        let mempool_size = self
            .shared
            .mempool
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len();
        self.shared.status.send_modify(|s| {
            s.height = height.0;
            s.latest_block_hash = hex::encode(applied.hash);
            s.state_root = hex::encode(applied.state_root);
            s.latest_block_time_ms = block.header.time_ms;
            s.mempool_size = mempool_size;
        });
    }

    /// The height is final (its target time has passed): start the next one with the
    /// validator set the committed block left, or run this one again if it did not commit.
    fn on_finalized(&mut self, certificate: CommitCertificate<NeuroContext>) -> Next<NeuroContext> {
        let height = certificate.height;
        match self.decided.take() {
            Some((h, true)) if h == height => Next::Start(height.increment(), self.height_params()),
            _ => Next::Restart(height, self.height_params()),
        }
    }
}

use malachitebft_app_channel::app::types::core::Height as _;
