//! Genesis files, which a node reads at its first start: whatever parses is validated, and
//! both give a typed answer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use neuroshard_runtime::Genesis;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(g) = Genesis::from_json(text) {
            let _ = g.validate();
        }
    }
});
