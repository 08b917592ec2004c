//! Every consensus, proposal-streaming and sync message the network codec decodes from a peer:
//! each returns a value or a typed error, and never panics, hangs or allocates what the input
//! does not hold.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use malachitebft_app_channel::app::consensus::LivenessMsg;
use malachitebft_app_channel::app::streaming::StreamMessage;
use malachitebft_app_channel::app::types::codec::Codec;
use malachitebft_app_channel::app::types::sync;
use malachitebft_app_channel::app::types::{ProposedValue, SignedConsensusMsg};
use neuroshard_chain::consensus::context::ProposalPart;
use neuroshard_chain::consensus::{BlockHash, NeuroContext, WireCodec};

type Ctx = NeuroContext;

fuzz_target!(|data: &[u8]| {
    let codec = WireCodec::default();
    let bytes = || Bytes::copy_from_slice(data);
    let _: Result<BlockHash, _> = codec.decode(bytes());
    let _: Result<ProposalPart, _> = codec.decode(bytes());
    let _: Result<SignedConsensusMsg<Ctx>, _> = codec.decode(bytes());
    let _: Result<LivenessMsg<Ctx>, _> = codec.decode(bytes());
    let _: Result<StreamMessage<ProposalPart>, _> = codec.decode(bytes());
    let _: Result<ProposedValue<Ctx>, _> = codec.decode(bytes());
    let _: Result<sync::Status<Ctx>, _> = codec.decode(bytes());
    let _: Result<sync::Request<Ctx>, _> = codec.decode(bytes());
    let _: Result<sync::Response<Ctx>, _> = codec.decode(bytes());
});
