//! Transactions as peers gossip them and clients submit them: whatever decodes re-encodes to
//! the same bytes (no trailing bytes, one encoding per transaction), and its signature check
//! gives a typed answer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use neuroshard_runtime::SignedTransaction;

fuzz_target!(|data: &[u8]| {
    if let Ok(tx) = SignedTransaction::decode(data) {
        assert_eq!(tx.encode(), data, "a transaction has two encodings");
        let _ = tx.verify();
    }
});
