//! Every consensus, proposal-streaming and sync message the network codec decodes from a peer
//! (`WireCodec::decode_every_kind`): each returns a value or a typed error, and never panics,
//! hangs or allocates what the input does not hold.
#![no_main]

use libfuzzer_sys::fuzz_target;
use neuroshard_chain::consensus::WireCodec;

fuzz_target!(|data: &[u8]| {
    let _ = WireCodec::default().decode_every_kind(data);
});
