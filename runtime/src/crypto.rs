//! Keys, addresses, signatures and hashes. Everything here wraps `k256` and `sha2`; nothing is
//! home-made cryptography.
//!
//! * A **wallet token** is the wallet's secret. A token of exactly 64 hex digits *is* the secp256k1
//!   secret scalar (`neuroshard wallet new` makes one at random: the documented way). Any other
//!   token (a passphrase) is stretched with Argon2id at RFC 9106's second recommended cost
//!   (64 MiB of memory, 3 passes, 4 lanes: about half a second on a laptop core) with a
//!   **per-chain salt**, `SHA-256("neuroshard-wallet-token-v2" ‖ 0 ‖ chain id)`, into 32 bytes,
//!   re-derived with a counter in the (2^-128-likely) case that they are not a valid scalar.
//!   One guess therefore tests one chain's wallets only, at that cost each; the same passphrase
//!   gives the same wallet on every machine, and a different one on every chain.
//! * A **public key** is the 33-byte SEC1-compressed point.
//! * An **address** is the first 20 bytes of `SHA-256("neuroshard-address-v1" || public key)`, shown
//!   as `0x` and 40 lowercase hex digits.
//! * A **signature** is 64 bytes `r || s` over a SHA-256 digest of a domain-separated payload.
//!   Only low-S signatures are valid, so `(r, n - s)` is never a second valid signature.

use std::fmt;
use std::str::FromStr;

use borsh::{BorshDeserialize, BorshSerialize};
use k256::ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
use k256::ecdsa::{Signature as EcdsaSignature, SigningKey, VerifyingKey};
use k256::elliptic_curve::scalar::IsHigh;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use crate::error::CryptoError;

/// A SHA-256 digest.
pub type Hash32 = [u8; 32];

/// SHA-256 of `domain || 0x00 || data`, the one way this crate hashes anything it signs or names.
pub fn domain_hash(domain: &[u8], data: &[u8]) -> Hash32 {
    let mut h = Sha256::new();
    h.update(domain);
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

/// A wallet's or node's secret key. `Debug` never shows the key.
#[derive(Clone)]
pub struct SecretKey(SigningKey);

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey(<redacted>, address {})", self.address())
    }
}

/// Argon2id cost for passphrase tokens: RFC 9106 §4's second recommended option.
const TOKEN_ARGON_MEMORY_KIB: u32 = 64 * 1024;
const TOKEN_ARGON_PASSES: u32 = 3;
const TOKEN_ARGON_LANES: u32 = 4;

/// Whether `token` is a key itself (64 hex digits) rather than a passphrase.
pub fn token_is_key(token: &str) -> bool {
    token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit())
}

impl SecretKey {
    /// The key a wallet token stands for on chain `chain_id` (see the module docs): a 64-hex
    /// token is the key on every chain; a passphrase is stretched with the chain's salt.
    pub fn from_token(token: &str, chain_id: &str) -> Result<SecretKey, CryptoError> {
        if token.is_empty() {
            return Err(CryptoError::EmptyToken);
        }
        if token_is_key(token) {
            return Self::from_hex_token(token);
        }
        let params = argon2::Params::new(
            TOKEN_ARGON_MEMORY_KIB,
            TOKEN_ARGON_PASSES,
            TOKEN_ARGON_LANES,
            Some(32),
        )
        .map_err(|_| CryptoError::TokenDerivation)?;
        let argon =
            argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let salt = domain_hash(b"neuroshard-wallet-token-v2", chain_id.as_bytes());
        for counter in 0u32.. {
            let mut input = token.as_bytes().to_vec();
            input.extend_from_slice(&counter.to_le_bytes());
            let mut out = [0u8; 32];
            argon
                .hash_password_into(&input, &salt, &mut out)
                .map_err(|_| CryptoError::TokenDerivation)?;
            if let Ok(key) = Self::from_bytes(&out) {
                return Ok(key);
            }
        }
        Err(CryptoError::TokenDerivation)
    }

    /// The key of a 64-hex-digit token (what [`SecretKey::to_token`] writes and key files hold);
    /// anything else is refused, never stretched.
    pub fn from_hex_token(token: &str) -> Result<SecretKey, CryptoError> {
        if !token_is_key(token) {
            return Err(CryptoError::NotAKeyToken);
        }
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(token, &mut bytes).map_err(|_| CryptoError::InvalidSecretKey)?;
        Self::from_bytes(&bytes)
    }

    /// The key whose secret scalar is `bytes` (big-endian); rejects 0 and values >= n.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<SecretKey, CryptoError> {
        SigningKey::from_bytes(bytes.into())
            .map(SecretKey)
            .map_err(|_| CryptoError::InvalidSecretKey)
    }

    /// A new random key from the given 32 bytes of entropy, retried by hashing if out of range.
    /// The runtime takes randomness as an argument; callers pass OS randomness.
    pub fn from_entropy(entropy: [u8; 32]) -> SecretKey {
        let mut candidate = entropy;
        loop {
            if let Ok(key) = Self::from_bytes(&candidate) {
                return key;
            }
            candidate = domain_hash(b"neuroshard-key-retry-v1", &candidate);
        }
    }

    /// The secret scalar's bytes, for deriving keys of other schemes from this one
    /// ([`crate::beacon::BeaconSecret::derive`]).
    pub(crate) fn secret_bytes(&self) -> [u8; 32] {
        self.0.to_bytes().into()
    }

    /// The 64-hex-digit token that reproduces this key exactly. Treat it as the secret it is.
    pub fn to_token(&self) -> String {
        hex::encode(self.0.to_bytes())
    }

    pub fn public_key(&self) -> PublicKey {
        let point = self.0.verifying_key().to_sec1_point(true);
        let mut out = [0u8; 33];
        out.copy_from_slice(point.as_bytes());
        PublicKey(out)
    }

    pub fn address(&self) -> Address {
        self.public_key().address()
    }

    /// Signs a 32-byte digest; the result is always low-S.
    pub fn sign_digest(&self, digest: &Hash32) -> Signature {
        // Signing a 32-byte prehash with a valid key cannot fail; k256 already normalises s.
        let sig: EcdsaSignature = self
            .0
            .sign_prehash(digest)
            .expect("ECDSA signing of a 32-byte digest with a valid key");
        let sig = sig.normalize_s();
        Signature(sig.to_bytes().into())
    }
}

/// A SEC1-compressed secp256k1 public key (33 bytes). Validity is checked when it is used.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize)]
pub struct PublicKey(pub [u8; 33]);

impl PublicKey {
    /// The address that this key controls.
    pub fn address(&self) -> Address {
        let h = domain_hash(b"neuroshard-address-v1", &self.0);
        let mut out = [0u8; 20];
        out.copy_from_slice(&h[..20]);
        Address(out)
    }

    fn verifying_key(&self) -> Result<VerifyingKey, CryptoError> {
        VerifyingKey::from_sec1_bytes(&self.0).map_err(|_| CryptoError::InvalidPublicKey)
    }

    /// Checks `signature` over `digest`; rejects malformed, high-S and wrong signatures.
    pub fn verify_digest(&self, digest: &Hash32, signature: &Signature) -> Result<(), CryptoError> {
        let key = self.verifying_key()?;
        let sig =
            EcdsaSignature::from_slice(&signature.0).map_err(|_| CryptoError::BadSignature)?;
        if bool::from(sig.s().is_high()) {
            return Err(CryptoError::NonCanonicalSignature);
        }
        key.verify_prehash(digest, &sig)
            .map_err(|_| CryptoError::BadSignature)
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", hex::encode(self.0))
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl FromStr for PublicKey {
    type Err = CryptoError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 33];
        hex::decode_to_slice(s.trim_start_matches("0x"), &mut out)
            .map_err(|_| CryptoError::InvalidPublicKey)?;
        let key = PublicKey(out);
        key.verifying_key()?;
        Ok(key)
    }
}

/// A 64-byte `r || s` ECDSA signature.
#[derive(Clone, Copy, PartialEq, Eq, Hash, BorshSerialize, BorshDeserialize)]
pub struct Signature(pub [u8; 64]);

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({})", hex::encode(self.0))
    }
}

/// A 20-byte account address.
#[derive(
    Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize,
)]
pub struct Address(pub [u8; 20]);

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{}", hex::encode(self.0))
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl FromStr for Address {
    type Err = CryptoError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let digits = s.strip_prefix("0x").ok_or(CryptoError::InvalidAddress)?;
        let mut out = [0u8; 20];
        hex::decode_to_slice(digits, &mut out).map_err(|_| CryptoError::InvalidAddress)?;
        Ok(Address(out))
    }
}

macro_rules! serde_via_str {
    ($t:ty) => {
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.to_string())
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                <String as Deserialize>::deserialize(d)?
                    .parse()
                    .map_err(serde::de::Error::custom)
            }
        }
    };
}
pub(crate) use serde_via_str;
serde_via_str!(Address);
serde_via_str!(PublicKey);

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SecretKey {
        SecretKey::from_hex_token(&"11".repeat(32)).unwrap()
    }

    #[test]
    fn hex_token_is_the_key_itself() {
        let k = key();
        assert_eq!(k.to_token(), "11".repeat(32));
        assert_eq!(
            SecretKey::from_hex_token(&k.to_token()).unwrap().address(),
            k.address()
        );
    }

    #[test]
    fn passphrases_are_stretched_deterministically_per_chain() {
        let pass = "correct horse battery staple";
        let a = SecretKey::from_token(pass, "neuroshard-1").unwrap();
        let b = SecretKey::from_token(pass, "neuroshard-1").unwrap();
        let c = SecretKey::from_token("correct horse battery stapler", "neuroshard-1").unwrap();
        let other_chain = SecretKey::from_token(pass, "neuroshard-dev-1").unwrap();
        assert_eq!(a.address(), b.address());
        assert_ne!(a.address(), c.address());
        assert_ne!(a.address(), other_chain.address(), "the salt is per chain");
        // A hex token is the key on every chain.
        let k = key();
        for chain in ["neuroshard-1", "neuroshard-dev-1", ""] {
            assert_eq!(
                SecretKey::from_token(&k.to_token(), chain)
                    .unwrap()
                    .address(),
                k.address()
            );
        }
        assert_eq!(
            SecretKey::from_token("", "neuroshard-1").unwrap_err(),
            CryptoError::EmptyToken
        );
        assert_eq!(
            SecretKey::from_hex_token(pass).unwrap_err(),
            CryptoError::NotAKeyToken
        );
    }

    #[test]
    fn invalid_scalars_are_rejected() {
        assert_eq!(
            SecretKey::from_hex_token(&"00".repeat(32)).unwrap_err(),
            CryptoError::InvalidSecretKey
        );
        assert_eq!(
            SecretKey::from_hex_token(&"ff".repeat(32)).unwrap_err(),
            CryptoError::InvalidSecretKey
        );
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let k = key();
        let shown = format!("{k:?}");
        assert!(!shown.contains(&k.to_token()[..8]), "{shown}");
        assert!(shown.contains("redacted"));
    }

    #[test]
    fn signatures_verify_and_reject_tampering() {
        let k = key();
        let digest = domain_hash(b"test", b"hello");
        let sig = k.sign_digest(&digest);
        k.public_key().verify_digest(&digest, &sig).unwrap();
        let other = domain_hash(b"test", b"hellO");
        assert_eq!(
            k.public_key().verify_digest(&other, &sig),
            Err(CryptoError::BadSignature)
        );
        let stranger = SecretKey::from_hex_token(&"22".repeat(32)).unwrap();
        assert_eq!(
            stranger.public_key().verify_digest(&digest, &sig),
            Err(CryptoError::BadSignature)
        );
    }

    #[test]
    fn high_s_twin_of_a_valid_signature_is_rejected() {
        let k = key();
        let digest = domain_hash(b"test", b"malleable?");
        let sig = k.sign_digest(&digest);
        let parsed = EcdsaSignature::from_slice(&sig.0).unwrap();
        let (r, s) = parsed.split_scalars();
        let flipped = EcdsaSignature::from_scalars(r, -s).unwrap();
        let twin = Signature(flipped.to_bytes().into());
        assert_ne!(twin, sig);
        assert_eq!(
            k.public_key().verify_digest(&digest, &twin),
            Err(CryptoError::NonCanonicalSignature)
        );
    }

    #[test]
    fn text_forms_round_trip_and_reject_garbage() {
        let k = key();
        let addr = k.address();
        assert_eq!(addr.to_string().len(), 42);
        assert_eq!(addr.to_string().parse::<Address>().unwrap(), addr);
        assert_eq!("0x12".parse::<Address>(), Err(CryptoError::InvalidAddress));
        assert_eq!(
            "12".repeat(20).parse::<Address>(),
            Err(CryptoError::InvalidAddress)
        );
        let pk = k.public_key();
        assert_eq!(pk.to_string().parse::<PublicKey>().unwrap(), pk);
        assert_eq!(
            format!("05{}", "00".repeat(32)).parse::<PublicKey>(),
            Err(CryptoError::InvalidPublicKey)
        );
    }
}
