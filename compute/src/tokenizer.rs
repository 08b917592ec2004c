//! The byte-level tokenizer: token `b` is byte `b` (0-255), then three specials. Any UTF-8 (or
//! any bytes at all) round-trips exactly, nothing needs training, and every node tokenizes the same
//! way. Its cost is longer sequences than a learned BPE; a BPE on top of these 256 byte tokens can
//! replace it in a later model version.

pub const BOS: i64 = 256;
pub const EOS: i64 = 257;
pub const PAD: i64 = 258;
pub const VOCAB: i64 = 259;

pub fn encode(text: &[u8]) -> Vec<i64> {
    text.iter().map(|&b| i64::from(b)).collect()
}

/// Bytes of the byte tokens; specials are dropped.
pub fn decode(tokens: &[i64]) -> Vec<u8> {
    tokens
        .iter()
        .filter_map(|&t| u8::try_from(t).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_any_bytes() {
        let text = "NeuroShard — ¡hola! 🧠".as_bytes();
        assert_eq!(decode(&encode(text)), text);
        assert_eq!(decode(&[BOS, 104, 105, EOS, PAD]), b"hi");
    }
}
