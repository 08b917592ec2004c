//! Blocks as streams of proposal parts: `Init` (who proposes, where), the block's bytes in chunks,
//! `Fin` (the proposer's signature over the block hash at that height and round).
//!
//! Incoming parts are buffered per (peer, stream) until the stream is complete; buffers are bounded
//! in count and bytes, so a peer that streams junk costs bounded memory and is dropped. A peer
//! holds at most [`MAX_STREAMS_PER_PEER`] open streams (a new one evicts its own oldest), and when
//! all [`MAX_OPEN_STREAMS`] are taken a new stream evicts the oldest of the peer holding the
//! most: no peer can push out another's proposal by opening streams.

use std::collections::{BTreeMap, HashMap, VecDeque};

use bytes::Bytes;
use malachitebft_app_channel::app::engine::util::streaming::StreamContent;
use malachitebft_app_channel::app::streaming::{StreamId, StreamMessage};
use malachitebft_app_channel::app::types::core::Round;
use malachitebft_app_channel::app::types::PeerId;
use neuroshard_runtime::Signature;

use crate::block::{Block, MAX_BLOCK_BYTES};
use crate::consensus::context::{Height, ProposalPart, ValidatorAddress};

/// Bytes of block per `Data` part.
pub const CHUNK_BYTES: usize = 256 * 1024;
/// Incomplete streams kept at once.
pub const MAX_OPEN_STREAMS: usize = 64;
/// Incomplete streams kept at once from one peer.
pub const MAX_STREAMS_PER_PEER: usize = 4;
/// Most parts in one stream.
const MAX_PARTS: u64 = (MAX_BLOCK_BYTES / CHUNK_BYTES) as u64 + 4;

/// A complete streamed block, not yet checked.
#[derive(Clone, Debug)]
pub struct StreamedBlock {
    pub height: Height,
    pub round: Round,
    pub pol_round: Round,
    pub proposer: ValidatorAddress,
    pub block: Block,
    pub signature: Signature,
}

/// The stream id of a proposal: its height and round.
pub fn stream_id(height: Height, round: Round) -> StreamId {
    let mut id = Vec::with_capacity(16);
    id.extend_from_slice(&height.0.to_be_bytes());
    id.extend_from_slice(&round.as_i64().to_be_bytes());
    StreamId::new(Bytes::from(id))
}

/// The messages that stream `block`.
pub fn stream_block(
    height: Height,
    round: Round,
    pol_round: Round,
    proposer: ValidatorAddress,
    block: &Block,
    signature: Signature,
) -> Vec<StreamMessage<ProposalPart>> {
    let id = stream_id(height, round);
    let bytes = Bytes::from(block.encode());
    let mut parts = vec![ProposalPart::Init {
        height,
        round,
        pol_round,
        proposer,
    }];
    let mut at = 0;
    while at < bytes.len() {
        let end = (at + CHUNK_BYTES).min(bytes.len());
        parts.push(ProposalPart::Data(bytes.slice(at..end)));
        at = end;
    }
    parts.push(ProposalPart::Fin { signature });
    let mut out: Vec<StreamMessage<ProposalPart>> = parts
        .into_iter()
        .enumerate()
        .map(|(i, p)| StreamMessage::new(id.clone(), i as u64, StreamContent::Data(p)))
        .collect();
    let fin = out.len() as u64;
    out.push(StreamMessage::new(id, fin, StreamContent::Fin));
    out
}

#[derive(Default)]
struct Open {
    parts: BTreeMap<u64, ProposalPart>,
    bytes: usize,
    end: Option<u64>,
}

/// Reassembles streams of parts from peers.
#[derive(Default)]
pub struct Assembler {
    open: HashMap<(PeerId, Bytes), Open>,
    order: VecDeque<(PeerId, Bytes)>,
}

/// Why a stream was dropped.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StreamError {
    #[error("stream is too large")]
    TooLarge,
    #[error("stream is malformed: {0}")]
    Malformed(&'static str),
    #[error("block does not decode: {0}")]
    BadBlock(String),
}

impl Assembler {
    /// Adds one message; returns the block once its stream is complete.
    pub fn push(
        &mut self,
        from: PeerId,
        msg: StreamMessage<ProposalPart>,
    ) -> Result<Option<StreamedBlock>, StreamError> {
        let key = (from, msg.stream_id.to_bytes());
        if msg.sequence > MAX_PARTS {
            self.open.remove(&key);
            return Err(StreamError::TooLarge);
        }
        if !self.open.contains_key(&key) {
            self.make_room(&from);
            self.order.push_back(key.clone());
        }
        let open = self.open.entry(key.clone()).or_default();
        match msg.content {
            StreamContent::Fin => open.end = Some(msg.sequence),
            StreamContent::Data(part) => {
                if let ProposalPart::Data(d) = &part {
                    open.bytes += d.len();
                    if open.bytes > MAX_BLOCK_BYTES {
                        self.open.remove(&key);
                        return Err(StreamError::TooLarge);
                    }
                }
                open.parts.insert(msg.sequence, part);
            }
        }
        let complete = open.end.is_some_and(|end| open.parts.len() as u64 == end);
        if !complete {
            return Ok(None);
        }
        let open = self.open.remove(&key).unwrap_or_default();
        self.order.retain(|k| k != &key);
        assemble(open).map(Some)
    }
}

impl Assembler {
    /// Frees a slot for a new stream from `from`: its own oldest if it is at its limit, else, if
    /// every slot is taken, the oldest stream of the peer holding the most.
    fn make_room(&mut self, from: &PeerId) {
        let count = |order: &VecDeque<(PeerId, Bytes)>, p: &PeerId| {
            order.iter().filter(|(q, _)| q == p).count()
        };
        let victim = if count(&self.order, from) >= MAX_STREAMS_PER_PEER {
            Some(*from)
        } else if self.order.len() >= MAX_OPEN_STREAMS {
            self.order
                .iter()
                .map(|(p, _)| *p)
                .max_by_key(|p| count(&self.order, p))
        } else {
            None
        };
        if let Some(victim) = victim {
            if let Some(pos) = self.order.iter().position(|(p, _)| *p == victim) {
                if let Some(old) = self.order.remove(pos) {
                    self.open.remove(&old);
                }
            }
        }
    }

    /// Streams being reassembled.
    pub fn open_streams(&self) -> usize {
        self.open.len()
    }
}

fn assemble(open: Open) -> Result<StreamedBlock, StreamError> {
    let mut parts = open.parts.into_values();
    let Some(ProposalPart::Init {
        height,
        round,
        pol_round,
        proposer,
    }) = parts.next()
    else {
        return Err(StreamError::Malformed("first part is not Init"));
    };
    let mut bytes = Vec::with_capacity(open.bytes);
    let mut signature = None;
    for part in parts {
        match part {
            ProposalPart::Data(d) if signature.is_none() => bytes.extend_from_slice(&d),
            ProposalPart::Fin { signature: s } if signature.is_none() => signature = Some(s),
            _ => return Err(StreamError::Malformed("parts out of order")),
        }
    }
    let signature = signature.ok_or(StreamError::Malformed("no Fin part"))?;
    let block = Block::decode(&bytes).map_err(|e| StreamError::BadBlock(e.to_string()))?;
    Ok(StreamedBlock {
        height,
        round,
        pol_round,
        proposer,
        block,
        signature,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::{txs_root, Header};
    use neuroshard_runtime::{Address, SecretKey};

    fn block(height: u64) -> Block {
        Block {
            header: Header {
                chain_id: "t".into(),
                height,
                time_ms: 1,
                proposer: Address([1; 20]),
                parent_hash: [0; 32],
                txs_root: txs_root(&[]),
                prev_state_root: [0; 32],
                beacon: None,
            },
            txs: Vec::new(),
        }
    }

    fn peer() -> PeerId {
        PeerId::from_bytes(&libp2p::PeerId::random().to_bytes()).unwrap()
    }

    fn stream(height: u64, round: u32) -> Vec<StreamMessage<ProposalPart>> {
        let signature = SecretKey::from_entropy([5; 32]).sign_digest(&[height as u8; 32]);
        stream_block(
            Height(height),
            Round::new(round),
            Round::Nil,
            ValidatorAddress(Address([1; 20])),
            &block(height),
            signature,
        )
    }

    #[test]
    fn a_peer_opening_streams_cannot_push_out_anothers_proposal() {
        let mut a = Assembler::default();
        let (honest, flooder) = (peer(), peer());
        let proposal = stream(10, 0);
        // The honest peer's first part arrives, then the flooder opens 200 streams.
        a.push(honest, proposal[0].clone()).unwrap();
        for r in 0..200 {
            a.push(flooder, stream(10, r + 1)[0].clone()).unwrap();
        }
        assert!(a.open_streams() <= 1 + MAX_STREAMS_PER_PEER);
        // The rest of the honest stream completes the block.
        let mut done = None;
        for m in &proposal[1..] {
            done = a.push(honest, m.clone()).unwrap().or(done);
        }
        let block = done.expect("the honest proposal survived the flood");
        assert_eq!(block.height, Height(10));
        // Many peers at once fill the slots, but each keeps a bounded share.
        for _ in 0..100 {
            a.push(peer(), stream(11, 0)[0].clone()).unwrap();
        }
        assert!(a.open_streams() <= MAX_OPEN_STREAMS);
    }
}
