//! Blocks as sync and proposals carry them: whatever decodes holds transactions whose root is
//! the one its header names.
#![no_main]

use libfuzzer_sys::fuzz_target;
use neuroshard_chain::block::{txs_root, Block};

fuzz_target!(|data: &[u8]| {
    if let Ok(block) = Block::decode(data) {
        assert_eq!(block.header.txs_root, txs_root(&block.txs));
    }
});
