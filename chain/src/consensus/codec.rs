//! Wire and WAL encoding of every consensus message, with borsh.
//!
//! Malachite's message types are generic over the context and carry no encoding of their own, so
//! each has a plain borsh "wire" twin here and a conversion both ways. Decoding is strict: no
//! trailing bytes, rounds in range, signatures of the right length; anything else is an error
//! that the engine drops, never a panic.

use std::sync::Arc;

use borsh::{BorshDeserialize, BorshSerialize};
use bytes::Bytes;
use malachitebft_app_channel::app::consensus::LivenessMsg;
use malachitebft_app_channel::app::engine::util::streaming::StreamContent;
use malachitebft_app_channel::app::streaming::{StreamId, StreamMessage};
use malachitebft_app_channel::app::types::codec::{Codec, HasEncodedLen};
use malachitebft_app_channel::app::types::core::{
    CommitCertificate, CommitSignature, ExtendedCommitCertificate, NilOrVal, PolkaCertificate,
    PolkaSignature, Round, RoundCertificate, RoundCertificateType, RoundSignature, SignedMessage,
    ValidatorProof, Validity, VoteType,
};
use malachitebft_app_channel::app::types::sync::{self, RawDecidedValue};
use malachitebft_app_channel::app::types::{PeerId, ProposedValue, SignedConsensusMsg};
use neuroshard_runtime::{Address, Hash32, Signature};

use crate::block::MAX_BLOCK_BYTES;

use super::context::{
    BlockHash, Height, NeuroContext, Proposal, ProposalPart, ValidatorAddress, Vote,
};
use super::signing::ConsensusSignature;
use super::watch::VoteWatcher;

/// Largest consensus message decoded (a streamed block chunk plus framing).
pub const MAX_MESSAGE_BYTES: usize = 2 * 1024 * 1024;

/// Largest value-sync response decoded: a whole block at [`MAX_BLOCK_BYTES`] plus its commit
/// certificate (a signature per validator) and framing. Sync carries whole blocks, so a cap
/// below the block limit would leave a node that fell behind stuck before the first large block.
/// Malachite's RPC limit (`P2pConfig::rpc_max_size`, 10 MiB) is above it (unit-tested).
pub const MAX_SYNC_RESPONSE_BYTES: usize = MAX_BLOCK_BYTES + 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("malformed message: {0}")]
    Malformed(String),
    #[error("message of {0} bytes is over the limit")]
    TooLarge(usize),
}

/// The codec for the network and the write-ahead log. The network's codec shows every vote it
/// decodes to a [`VoteWatcher`], which catches double signs that consensus no longer looks at.
#[derive(Clone, Default)]
pub struct WireCodec {
    watcher: Option<Arc<VoteWatcher>>,
}

impl WireCodec {
    /// A codec that shows every decoded vote to `watcher`.
    pub fn watched(watcher: Arc<VoteWatcher>) -> WireCodec {
        WireCodec {
            watcher: Some(watcher),
        }
    }

    fn vote_from_wire(
        &self,
        wire: (WireVote, Signature),
    ) -> Result<SignedMessage<Ctx, Vote>, CodecError> {
        let vote = signed_vote_from_wire(wire)?;
        if let Some(w) = &self.watcher {
            w.observe_wire(&vote.message, &vote.signature.0);
        }
        Ok(vote)
    }
}

type Ctx = NeuroContext;

fn round_to_wire(r: Round) -> i64 {
    r.as_i64()
}

fn round_from_wire(r: i64) -> Result<Round, CodecError> {
    match r {
        -1 => Ok(Round::Nil),
        0..=0xFFFF_FFFF => Ok(Round::new(r as u32)),
        _ => Err(CodecError::Malformed(format!("round {r}"))),
    }
}

fn decode<T: BorshDeserialize>(bytes: &[u8]) -> Result<T, CodecError> {
    decode_capped(bytes, MAX_MESSAGE_BYTES)
}

fn decode_capped<T: BorshDeserialize>(bytes: &[u8], cap: usize) -> Result<T, CodecError> {
    if bytes.len() > cap {
        return Err(CodecError::TooLarge(bytes.len()));
    }
    borsh::from_slice(bytes).map_err(|e| CodecError::Malformed(e.to_string()))
}

fn encode<T: BorshSerialize>(value: &T) -> Result<Bytes, CodecError> {
    borsh::to_vec(value)
        .map(Bytes::from)
        .map_err(|e| CodecError::Malformed(e.to_string()))
}

#[derive(BorshSerialize, BorshDeserialize)]
#[borsh(use_discriminant = false)]
enum WireVoteType {
    Prevote,
    Precommit,
}

fn vote_type_to_wire(t: VoteType) -> WireVoteType {
    match t {
        VoteType::Prevote => WireVoteType::Prevote,
        VoteType::Precommit => WireVoteType::Precommit,
    }
}

fn vote_type_from_wire(t: WireVoteType) -> VoteType {
    match t {
        WireVoteType::Prevote => VoteType::Prevote,
        WireVoteType::Precommit => VoteType::Precommit,
    }
}

fn nil_or_val_to_wire(v: &NilOrVal<BlockHash>) -> Option<Hash32> {
    match v {
        NilOrVal::Nil => None,
        NilOrVal::Val(h) => Some(h.0),
    }
}

fn nil_or_val_from_wire(v: Option<Hash32>) -> NilOrVal<BlockHash> {
    v.map_or(NilOrVal::Nil, |h| NilOrVal::Val(BlockHash(h)))
}

#[derive(BorshSerialize, BorshDeserialize)]
struct WireVote {
    kind: WireVoteType,
    height: u64,
    round: i64,
    value: Option<Hash32>,
    validator: Address,
}

impl WireVote {
    fn from_vote(v: &Vote) -> WireVote {
        WireVote {
            kind: vote_type_to_wire(v.kind),
            height: v.height.0,
            round: round_to_wire(v.round),
            value: nil_or_val_to_wire(&v.value),
            validator: v.validator.0,
        }
    }
    fn into_vote(self) -> Result<Vote, CodecError> {
        Ok(Vote {
            kind: vote_type_from_wire(self.kind),
            height: Height(self.height),
            round: round_from_wire(self.round)?,
            value: nil_or_val_from_wire(self.value),
            validator: ValidatorAddress(self.validator),
        })
    }
}

#[derive(BorshSerialize, BorshDeserialize)]
struct WireProposal {
    height: u64,
    round: i64,
    value: Hash32,
    pol_round: i64,
    proposer: Address,
}

#[derive(BorshSerialize, BorshDeserialize)]
#[borsh(use_discriminant = false)]
pub(crate) enum WirePart {
    Init {
        height: u64,
        round: i64,
        pol_round: i64,
        proposer: Address,
    },
    Data(Vec<u8>),
    Fin {
        signature: Signature,
    },
}

pub(crate) fn part_to_wire(p: &ProposalPart) -> WirePart {
    match p {
        ProposalPart::Init {
            height,
            round,
            pol_round,
            proposer,
        } => WirePart::Init {
            height: height.0,
            round: round_to_wire(*round),
            pol_round: round_to_wire(*pol_round),
            proposer: proposer.0,
        },
        ProposalPart::Data(d) => WirePart::Data(d.to_vec()),
        ProposalPart::Fin { signature } => WirePart::Fin {
            signature: *signature,
        },
    }
}

fn part_from_wire(w: WirePart) -> Result<ProposalPart, CodecError> {
    Ok(match w {
        WirePart::Init {
            height,
            round,
            pol_round,
            proposer,
        } => ProposalPart::Init {
            height: Height(height),
            round: round_from_wire(round)?,
            pol_round: round_from_wire(pol_round)?,
            proposer: ValidatorAddress(proposer),
        },
        WirePart::Data(d) => ProposalPart::Data(Bytes::from(d)),
        WirePart::Fin { signature } => ProposalPart::Fin { signature },
    })
}

#[derive(BorshSerialize, BorshDeserialize)]
#[borsh(use_discriminant = false)]
enum WireSigned {
    Vote(WireVote, Signature),
    Proposal(WireProposal, Signature),
}

fn signed_vote_to_wire(v: &SignedMessage<Ctx, Vote>) -> (WireVote, Signature) {
    (WireVote::from_vote(&v.message), v.signature.0)
}

fn signed_vote_from_wire(
    (v, s): (WireVote, Signature),
) -> Result<SignedMessage<Ctx, Vote>, CodecError> {
    Ok(SignedMessage::new(v.into_vote()?, ConsensusSignature(s)))
}

#[derive(BorshSerialize, BorshDeserialize)]
struct WirePolka {
    height: u64,
    round: i64,
    value: Hash32,
    signatures: Vec<(Address, Signature)>,
}

fn polka_to_wire(p: &PolkaCertificate<Ctx>) -> WirePolka {
    WirePolka {
        height: p.height.0,
        round: round_to_wire(p.round),
        value: p.value_id.0,
        signatures: p
            .polka_signatures
            .iter()
            .map(|s| (s.address.0, s.signature.0))
            .collect(),
    }
}

fn polka_from_wire(p: WirePolka) -> Result<PolkaCertificate<Ctx>, CodecError> {
    Ok(PolkaCertificate {
        height: Height(p.height),
        round: round_from_wire(p.round)?,
        value_id: BlockHash(p.value),
        polka_signatures: p
            .signatures
            .into_iter()
            .map(|(a, s)| PolkaSignature::new(ValidatorAddress(a), ConsensusSignature(s)))
            .collect(),
    })
}

/// Malachite's proof of validator: a consensus key's signature over a libp2p peer id.
#[derive(BorshSerialize, BorshDeserialize)]
struct WireValidatorProof {
    public_key: Vec<u8>,
    peer_id: Vec<u8>,
    signature: Signature,
}

#[derive(BorshSerialize, BorshDeserialize)]
struct WireRoundCert {
    height: u64,
    round: i64,
    skip: bool,
    signatures: Vec<(WireVoteType, Option<Hash32>, Address, Signature)>,
}

#[derive(BorshSerialize, BorshDeserialize)]
#[borsh(use_discriminant = false)]
enum WireLiveness {
    Vote(WireVote, Signature),
    Polka(WirePolka),
    SkipRound(WireRoundCert),
}

/// A commit certificate on the wire and on disk.
#[derive(BorshSerialize, BorshDeserialize)]
pub(crate) struct WireCommit {
    height: u64,
    round: i64,
    value: Hash32,
    signatures: Vec<(Address, Signature)>,
}

pub(crate) fn commit_to_wire(c: &CommitCertificate<Ctx>) -> WireCommit {
    WireCommit {
        height: c.height.0,
        round: round_to_wire(c.round),
        value: c.value_id.0,
        signatures: c
            .commit_signatures
            .iter()
            .map(|s| (s.address.0, s.signature.0))
            .collect(),
    }
}

pub(crate) fn commit_from_wire(w: WireCommit) -> Result<CommitCertificate<Ctx>, CodecError> {
    Ok(CommitCertificate {
        height: Height(w.height),
        round: round_from_wire(w.round)?,
        value_id: BlockHash(w.value),
        commit_signatures: w
            .signatures
            .into_iter()
            .map(|(a, s)| CommitSignature::new(ValidatorAddress(a), ConsensusSignature(s)))
            .collect(),
    })
}

/// Encodes a commit certificate for storage.
pub fn encode_commit(c: &CommitCertificate<Ctx>) -> Vec<u8> {
    borsh::to_vec(&commit_to_wire(c)).unwrap_or_default()
}

/// Decodes a stored commit certificate.
pub fn decode_commit(bytes: &[u8]) -> Result<CommitCertificate<Ctx>, CodecError> {
    commit_from_wire(decode(bytes)?)
}

impl WireCodec {
    /// Decodes `bytes` as every message type this codec reads from a peer or the WAL, and
    /// counts the types it decodes as: the fuzz targets and the decoder property tests call it,
    /// so a type added here is fuzzed everywhere. Never panics.
    pub fn decode_every_kind(&self, bytes: &[u8]) -> usize {
        fn ok<T>(r: Result<T, CodecError>) -> usize {
            usize::from(r.is_ok())
        }
        let b = || Bytes::copy_from_slice(bytes);
        ok::<BlockHash>(self.decode(b()))
            + ok::<ProposalPart>(self.decode(b()))
            + ok::<SignedConsensusMsg<Ctx>>(self.decode(b()))
            + ok::<LivenessMsg<Ctx>>(self.decode(b()))
            + ok::<PolkaCertificate<Ctx>>(self.decode(b()))
            + ok::<ValidatorProof<Ctx>>(self.decode(b()))
            + ok::<StreamMessage<ProposalPart>>(self.decode(b()))
            + ok::<ProposedValue<Ctx>>(self.decode(b()))
            + ok::<sync::Status<Ctx>>(self.decode(b()))
            + ok::<sync::Request<Ctx>>(self.decode(b()))
            + ok::<sync::Response<Ctx>>(self.decode(b()))
    }
}

impl Codec<BlockHash> for WireCodec {
    type Error = CodecError;
    fn decode(&self, bytes: Bytes) -> Result<BlockHash, CodecError> {
        decode::<Hash32>(&bytes).map(BlockHash)
    }
    fn encode(&self, msg: &BlockHash) -> Result<Bytes, CodecError> {
        encode(&msg.0)
    }
}

impl Codec<ProposalPart> for WireCodec {
    type Error = CodecError;
    fn decode(&self, bytes: Bytes) -> Result<ProposalPart, CodecError> {
        part_from_wire(decode(&bytes)?)
    }
    fn encode(&self, msg: &ProposalPart) -> Result<Bytes, CodecError> {
        encode(&part_to_wire(msg))
    }
}

impl Codec<SignedConsensusMsg<Ctx>> for WireCodec {
    type Error = CodecError;
    fn decode(&self, bytes: Bytes) -> Result<SignedConsensusMsg<Ctx>, CodecError> {
        Ok(match decode::<WireSigned>(&bytes)? {
            WireSigned::Vote(v, s) => SignedConsensusMsg::Vote(self.vote_from_wire((v, s))?),
            WireSigned::Proposal(p, s) => SignedConsensusMsg::Proposal(SignedMessage::new(
                Proposal {
                    height: Height(p.height),
                    round: round_from_wire(p.round)?,
                    value: BlockHash(p.value),
                    pol_round: round_from_wire(p.pol_round)?,
                    proposer: ValidatorAddress(p.proposer),
                },
                ConsensusSignature(s),
            )),
        })
    }
    fn encode(&self, msg: &SignedConsensusMsg<Ctx>) -> Result<Bytes, CodecError> {
        let wire = match msg {
            SignedConsensusMsg::Vote(v) => {
                let (v, s) = signed_vote_to_wire(v);
                WireSigned::Vote(v, s)
            }
            SignedConsensusMsg::Proposal(p) => WireSigned::Proposal(
                WireProposal {
                    height: p.message.height.0,
                    round: round_to_wire(p.message.round),
                    value: p.message.value.0,
                    pol_round: round_to_wire(p.message.pol_round),
                    proposer: p.message.proposer.0,
                },
                p.signature.0,
            ),
        };
        encode(&wire)
    }
}

impl Codec<PolkaCertificate<Ctx>> for WireCodec {
    type Error = CodecError;
    fn decode(&self, bytes: Bytes) -> Result<PolkaCertificate<Ctx>, CodecError> {
        polka_from_wire(decode(&bytes)?)
    }
    fn encode(&self, msg: &PolkaCertificate<Ctx>) -> Result<Bytes, CodecError> {
        encode(&polka_to_wire(msg))
    }
}

impl Codec<ValidatorProof<Ctx>> for WireCodec {
    type Error = CodecError;
    fn decode(&self, bytes: Bytes) -> Result<ValidatorProof<Ctx>, CodecError> {
        let w: WireValidatorProof = decode(&bytes)?;
        if w.public_key.len() > 64 || w.peer_id.len() > 128 {
            return Err(CodecError::Malformed("validator proof".into()));
        }
        Ok(ValidatorProof::new(
            w.public_key,
            w.peer_id,
            ConsensusSignature(w.signature),
        ))
    }
    fn encode(&self, msg: &ValidatorProof<Ctx>) -> Result<Bytes, CodecError> {
        encode(&WireValidatorProof {
            public_key: msg.public_key.clone(),
            peer_id: msg.peer_id.clone(),
            signature: msg.signature.0,
        })
    }
}

impl Codec<LivenessMsg<Ctx>> for WireCodec {
    type Error = CodecError;
    fn decode(&self, bytes: Bytes) -> Result<LivenessMsg<Ctx>, CodecError> {
        Ok(match decode::<WireLiveness>(&bytes)? {
            WireLiveness::Vote(v, s) => LivenessMsg::Vote(self.vote_from_wire((v, s))?),
            WireLiveness::Polka(p) => LivenessMsg::PolkaCertificate(polka_from_wire(p)?),
            WireLiveness::SkipRound(r) => LivenessMsg::SkipRoundCertificate(RoundCertificate {
                height: Height(r.height),
                round: round_from_wire(r.round)?,
                cert_type: if r.skip {
                    RoundCertificateType::Skip
                } else {
                    RoundCertificateType::Precommit
                },
                round_signatures: r
                    .signatures
                    .into_iter()
                    .map(|(t, v, a, s)| {
                        RoundSignature::new(
                            vote_type_from_wire(t),
                            nil_or_val_from_wire(v),
                            ValidatorAddress(a),
                            ConsensusSignature(s),
                        )
                    })
                    .collect(),
            }),
        })
    }
    fn encode(&self, msg: &LivenessMsg<Ctx>) -> Result<Bytes, CodecError> {
        let wire = match msg {
            LivenessMsg::Vote(v) => {
                let (v, s) = signed_vote_to_wire(v);
                WireLiveness::Vote(v, s)
            }
            LivenessMsg::PolkaCertificate(p) => WireLiveness::Polka(polka_to_wire(p)),
            LivenessMsg::SkipRoundCertificate(r) => WireLiveness::SkipRound(WireRoundCert {
                height: r.height.0,
                round: round_to_wire(r.round),
                skip: matches!(r.cert_type, RoundCertificateType::Skip),
                signatures: r
                    .round_signatures
                    .iter()
                    .map(|s| {
                        (
                            vote_type_to_wire(s.vote_type),
                            nil_or_val_to_wire(&s.value_id),
                            s.address.0,
                            s.signature.0,
                        )
                    })
                    .collect(),
            }),
        };
        encode(&wire)
    }
}

#[derive(BorshSerialize, BorshDeserialize)]
struct WireStream {
    stream_id: Vec<u8>,
    sequence: u64,
    /// `None` ends the stream.
    part: Option<WirePart>,
}

impl Codec<StreamMessage<ProposalPart>> for WireCodec {
    type Error = CodecError;
    fn decode(&self, bytes: Bytes) -> Result<StreamMessage<ProposalPart>, CodecError> {
        let w: WireStream = decode(&bytes)?;
        Ok(StreamMessage {
            stream_id: StreamId::new(Bytes::from(w.stream_id)),
            sequence: w.sequence,
            content: match w.part {
                Some(p) => StreamContent::Data(part_from_wire(p)?),
                None => StreamContent::Fin,
            },
        })
    }
    fn encode(&self, msg: &StreamMessage<ProposalPart>) -> Result<Bytes, CodecError> {
        encode(&WireStream {
            stream_id: msg.stream_id.to_bytes().to_vec(),
            sequence: msg.sequence,
            part: match &msg.content {
                StreamContent::Data(p) => Some(part_to_wire(p)),
                StreamContent::Fin => None,
            },
        })
    }
}

#[derive(BorshSerialize, BorshDeserialize)]
struct WireProposedValue {
    height: u64,
    round: i64,
    valid_round: i64,
    proposer: Address,
    value: Hash32,
    valid: bool,
}

impl Codec<ProposedValue<Ctx>> for WireCodec {
    type Error = CodecError;
    fn decode(&self, bytes: Bytes) -> Result<ProposedValue<Ctx>, CodecError> {
        let w: WireProposedValue = decode(&bytes)?;
        Ok(ProposedValue {
            height: Height(w.height),
            round: round_from_wire(w.round)?,
            valid_round: round_from_wire(w.valid_round)?,
            proposer: ValidatorAddress(w.proposer),
            value: BlockHash(w.value),
            validity: Validity::from_bool(w.valid),
        })
    }
    fn encode(&self, msg: &ProposedValue<Ctx>) -> Result<Bytes, CodecError> {
        encode(&WireProposedValue {
            height: msg.height.0,
            round: round_to_wire(msg.round),
            valid_round: round_to_wire(msg.valid_round),
            proposer: msg.proposer.0,
            value: msg.value.0,
            valid: msg.validity.is_valid(),
        })
    }
}

#[derive(BorshSerialize, BorshDeserialize)]
struct WireStatus {
    peer_id: Vec<u8>,
    tip_height: u64,
    history_min_height: u64,
}

impl Codec<sync::Status<Ctx>> for WireCodec {
    type Error = CodecError;
    fn decode(&self, bytes: Bytes) -> Result<sync::Status<Ctx>, CodecError> {
        let w: WireStatus = decode(&bytes)?;
        Ok(sync::Status {
            peer_id: PeerId::from_bytes(&w.peer_id)
                .map_err(|e| CodecError::Malformed(format!("peer id: {e}")))?,
            tip_height: Height(w.tip_height),
            history_min_height: Height(w.history_min_height),
        })
    }
    fn encode(&self, msg: &sync::Status<Ctx>) -> Result<Bytes, CodecError> {
        encode(&WireStatus {
            peer_id: msg.peer_id.to_bytes(),
            tip_height: msg.tip_height.0,
            history_min_height: msg.history_min_height.0,
        })
    }
}

impl Codec<sync::Request<Ctx>> for WireCodec {
    type Error = CodecError;
    fn decode(&self, bytes: Bytes) -> Result<sync::Request<Ctx>, CodecError> {
        let (first, last): (u64, u64) = decode(&bytes)?;
        if first > last {
            return Err(CodecError::Malformed(format!(
                "value request for heights {first}..={last}"
            )));
        }
        Ok(sync::Request::ValueRequest(
            malachitebft_sync::ValueRequest::new(Height(first)..=Height(last)),
        ))
    }
    fn encode(&self, msg: &sync::Request<Ctx>) -> Result<Bytes, CodecError> {
        match msg {
            sync::Request::ValueRequest(r) => encode(&(r.range.start().0, r.range.end().0)),
        }
    }
}

/// A value-sync response: the decided blocks from `start_height` on, each with its commit
/// certificate (NeuroShard uses no vote extensions, so none travels).
#[derive(BorshSerialize, BorshDeserialize)]
struct WireValueResponse {
    start_height: u64,
    values: Vec<(Vec<u8>, WireCommit)>,
}

/// [`WireValueResponse`]'s encoding, borrowing the blocks (borsh writes a slice as a `Vec`).
#[derive(BorshSerialize)]
struct WireValueResponseRef<'a> {
    start_height: u64,
    values: Vec<(&'a [u8], WireCommit)>,
}

fn response_to_wire(r: &sync::Response<Ctx>) -> WireValueResponseRef<'_> {
    let sync::Response::ValueResponse(r) = r;
    WireValueResponseRef {
        start_height: r.start_height.0,
        values: r
            .values
            .iter()
            .map(|v| {
                (
                    v.value_bytes.as_ref(),
                    commit_to_wire(&v.certificate.trim_vote_extensions()),
                )
            })
            .collect(),
    }
}

impl Codec<sync::Response<Ctx>> for WireCodec {
    type Error = CodecError;
    fn decode(&self, bytes: Bytes) -> Result<sync::Response<Ctx>, CodecError> {
        let w: WireValueResponse = decode_capped(&bytes, MAX_SYNC_RESPONSE_BYTES)?;
        let values = w
            .values
            .into_iter()
            .map(|(block, cert)| {
                Ok(RawDecidedValue::new(
                    Bytes::from(block),
                    ExtendedCommitCertificate::from_commit_certificate_and_extensions(
                        commit_from_wire(cert)?,
                        Default::default(),
                    ),
                ))
            })
            .collect::<Result<_, CodecError>>()?;
        Ok(sync::Response::ValueResponse(
            malachitebft_sync::ValueResponse::new(Height(w.start_height), values),
        ))
    }
    fn encode(&self, msg: &sync::Response<Ctx>) -> Result<Bytes, CodecError> {
        encode(&response_to_wire(msg))
    }
}

impl HasEncodedLen<sync::Response<Ctx>> for WireCodec {
    fn encoded_len(&self, msg: &sync::Response<Ctx>) -> Result<usize, CodecError> {
        borsh::object_length(&response_to_wire(msg))
            .map_err(|e| CodecError::Malformed(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(block_bytes: usize) -> Bytes {
        let wire = WireValueResponse {
            start_height: 7,
            values: vec![(
                vec![0xAB; block_bytes],
                WireCommit {
                    height: 7,
                    round: 0,
                    value: [1; 32],
                    signatures: Vec::new(),
                },
            )],
        };
        Bytes::from(borsh::to_vec(&wire).unwrap())
    }

    #[test]
    fn sync_carries_a_block_at_the_block_size_limit_and_refuses_more() {
        let codec = WireCodec::default();
        // A block of 4 MiB of transactions (what a proposer may reap) and one at the hard limit
        // both pass: the consensus-message cap (2 MiB) does not apply to sync.
        for size in [4 * 1024 * 1024, MAX_BLOCK_BYTES] {
            let decoded: sync::Response<Ctx> = codec.decode(response(size)).unwrap();
            let sync::Response::ValueResponse(r) = decoded;
            assert_eq!(r.start_height, Height(7));
            assert_eq!(r.values.len(), 1);
            assert_eq!(r.values[0].value_bytes.len(), size);
            // The engine sizes responses with `encoded_len`: it matches the encoding.
            let again = sync::Response::ValueResponse(r);
            assert_eq!(
                codec.encoded_len(&again).unwrap(),
                codec.encode(&again).unwrap().len()
            );
        }
        let over = response(MAX_SYNC_RESPONSE_BYTES);
        let refused: Result<sync::Response<Ctx>, _> = codec.decode(over);
        assert!(matches!(refused, Err(CodecError::TooLarge(_))));
        // Garbage is a typed error, not a panic.
        let garbage: Result<sync::Response<Ctx>, _> = codec.decode(Bytes::from_static(b"\xff\x01"));
        assert!(matches!(garbage, Err(CodecError::Malformed(_))));
        // Malachite's RPC transport lets such a response through.
        let rpc = malachitebft_app_channel::app::config::P2pConfig::default().rpc_max_size;
        assert!(rpc.as_u64() >= MAX_SYNC_RESPONSE_BYTES as u64 + 64 * 1024);
    }
}
