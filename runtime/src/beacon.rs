//! The draw beacon: validators' unique signatures, the randomness that decides which proofs are
//! re-executed.
//!
//! Every validator holds a BLS12-381 *beacon key* (`blst`, min-pk: 48-byte public keys, 96-byte
//! signatures), derived from its secp256k1 key and registered on chain (in genesis, or once with
//! `SetBeaconKey`). A block's proposer puts its beacon signature over
//! `(chain id, height, proposer)` in the block header. BLS signatures are *unique*: for one key
//! and one message there is exactly one valid signature, so a proposer has exactly one beacon
//! value per height, and choosing its block time or transactions changes nothing. Its only choice
//! is to withhold it; how the draw makes withholding useless is in [`crate::draw`].
//!
//! The weighted choice of a height's first proposer, [`first_proposer`], lives here too: the
//! consensus engine and the draw must name the same validator.

use std::fmt;
use std::str::FromStr;

use blst::min_pk::{PublicKey as BlsPublicKey, SecretKey as BlsSecretKey, Signature as BlsSig};
use blst::BLST_ERROR;
use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::crypto::{domain_hash, Address, Hash32, SecretKey};
use crate::error::CryptoError;

/// Hash-to-curve domain of beacon signatures (RFC 9380 suite for BLS signatures on G2).
const DST: &[u8] = b"NEUROSHARD-BEACON-V1_BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_NUL_";
const HEIGHT_DOMAIN: &[u8] = b"neuroshard-beacon-height-v1";
const POSSESSION_DOMAIN: &[u8] = b"neuroshard-beacon-possession-v1";
const OUTPUT_DOMAIN: &[u8] = b"neuroshard-beacon-output-v1";
const KEY_DOMAIN: &[u8] = b"neuroshard-beacon-key-v1";

/// A validator's beacon public key: a compressed BLS12-381 G1 point (48 bytes).
#[derive(Clone, Copy, PartialEq, Eq, Hash, BorshSerialize, BorshDeserialize)]
pub struct BeaconKey(pub [u8; 48]);

/// A beacon signature: a compressed BLS12-381 G2 point (96 bytes).
#[derive(Clone, Copy, PartialEq, Eq, Hash, BorshSerialize, BorshDeserialize)]
pub struct BeaconSig(pub [u8; 96]);

/// A validator's beacon secret. `Debug` never shows it.
pub struct BeaconSecret(BlsSecretKey);

impl fmt::Debug for BeaconSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BeaconSecret(<redacted>, key {})", self.public_key())
    }
}

impl BeaconSecret {
    /// The beacon secret of the validator whose consensus key is `key` (HKDF per the BLS key
    /// generation of draft-irtf-cfrg-bls-signature, over a domain-separated hash of the secret).
    pub fn derive(key: &SecretKey) -> BeaconSecret {
        let ikm = domain_hash(KEY_DOMAIN, &key.secret_bytes());
        // `key_gen` fails only for input keying material shorter than 32 bytes.
        let sk = BlsSecretKey::key_gen(&ikm, &[]).expect("32 bytes of input keying material");
        BeaconSecret(sk)
    }

    pub fn public_key(&self) -> BeaconKey {
        BeaconKey(self.0.sk_to_pk().compress())
    }

    /// The beacon signature `proposer` puts in its block at `height`.
    pub fn sign_height(&self, chain_id: &str, height: u64, proposer: &Address) -> BeaconSig {
        BeaconSig(
            self.0
                .sign(&height_message(chain_id, height, proposer), DST, &[])
                .compress(),
        )
    }

    /// The proof that the holder of this secret registers its key for `address`.
    pub fn possession(&self, chain_id: &str, address: &Address) -> BeaconSig {
        BeaconSig(
            self.0
                .sign(&possession_message(chain_id, address), DST, &[])
                .compress(),
        )
    }
}

fn height_message(chain_id: &str, height: u64, proposer: &Address) -> Vec<u8> {
    let mut m = Vec::with_capacity(chain_id.len() + 36);
    m.extend_from_slice(&(chain_id.len() as u64).to_be_bytes());
    m.extend_from_slice(chain_id.as_bytes());
    m.extend_from_slice(&height.to_be_bytes());
    m.extend_from_slice(&proposer.0);
    domain_hash(HEIGHT_DOMAIN, &m).to_vec()
}

fn possession_message(chain_id: &str, address: &Address) -> Vec<u8> {
    let mut m = Vec::with_capacity(chain_id.len() + 28);
    m.extend_from_slice(&(chain_id.len() as u64).to_be_bytes());
    m.extend_from_slice(chain_id.as_bytes());
    m.extend_from_slice(&address.0);
    domain_hash(POSSESSION_DOMAIN, &m).to_vec()
}

impl BeaconKey {
    fn point(&self) -> Result<BlsPublicKey, CryptoError> {
        // `key_validate` also refuses the identity and points outside the prime-order subgroup.
        BlsPublicKey::key_validate(&self.0).map_err(|_| CryptoError::InvalidBeaconKey)
    }

    /// Checks that the key is a valid point.
    pub fn check(&self) -> Result<(), CryptoError> {
        self.point().map(|_| ())
    }

    fn verify(&self, message: &[u8], sig: &BeaconSig) -> Option<BlsSig> {
        let pk = self.point().ok()?;
        let sig = BlsSig::sig_validate(&sig.0, true).ok()?;
        (sig.verify(true, message, DST, &[], &pk, false) == BLST_ERROR::BLST_SUCCESS).then_some(sig)
    }

    /// The beacon output of `sig` if it is this key's signature for `(chain_id, height,
    /// proposer)`: a hash of the signature's canonical encoding, so that no second encoding of
    /// the one valid signature gives a second output.
    pub fn height_output(
        &self,
        sig: &BeaconSig,
        chain_id: &str,
        height: u64,
        proposer: &Address,
    ) -> Option<Hash32> {
        let sig = self.verify(&height_message(chain_id, height, proposer), sig)?;
        Some(domain_hash(OUTPUT_DOMAIN, &sig.compress()))
    }

    /// Whether `sig` proves possession of this key for `address`.
    pub fn verify_possession(&self, sig: &BeaconSig, chain_id: &str, address: &Address) -> bool {
        self.verify(&possession_message(chain_id, address), sig)
            .is_some()
    }
}

/// The index in `powers` (validators in address order with their voting power) of the first
/// proposer of `height`: drawn in proportion to power from a hash of the height, so over many
/// heights each validator proposes its share. `None` if nobody has power.
pub fn first_proposer(powers: &[(Address, u64)], height: u64) -> Option<usize> {
    let total: u64 = powers.iter().map(|(_, p)| *p).fold(0, u64::saturating_add);
    if total == 0 {
        return None;
    }
    let digest = domain_hash(b"neuroshard-proposer-v1", &height.to_be_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    let mut slot = u64::from_be_bytes(first) % total;
    for (i, (_, power)) in powers.iter().enumerate() {
        if slot < *power {
            return Some(i);
        }
        slot -= power;
    }
    None
}

impl fmt::Debug for BeaconKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BeaconKey({})", hex::encode(self.0))
    }
}

impl fmt::Display for BeaconKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl FromStr for BeaconKey {
    type Err = CryptoError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 48];
        hex::decode_to_slice(s.trim_start_matches("0x"), &mut out)
            .map_err(|_| CryptoError::InvalidBeaconKey)?;
        let key = BeaconKey(out);
        key.check()?;
        Ok(key)
    }
}

crate::crypto::serde_via_str!(BeaconKey);

impl fmt::Debug for BeaconSig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BeaconSig({})", hex::encode(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(seed: u8) -> (SecretKey, BeaconSecret) {
        let key = SecretKey::from_bytes(&[seed; 32]).unwrap();
        let beacon = BeaconSecret::derive(&key);
        (key, beacon)
    }

    #[test]
    fn one_key_one_message_one_output() {
        let (key, b) = secret(7);
        let me = key.address();
        let pk = b.public_key();
        let s1 = b.sign_height("c", 5, &me);
        // Derivation is deterministic, and BLS signing too: the same signature every time.
        assert_eq!(BeaconSecret::derive(&key).sign_height("c", 5, &me), s1);
        let out = pk.height_output(&s1, "c", 5, &me).unwrap();
        assert_eq!(pk.height_output(&s1, "c", 5, &me), Some(out));
        // Another height, chain or proposer is another message: the signature does not verify.
        assert!(pk.height_output(&s1, "c", 6, &me).is_none());
        assert!(pk.height_output(&s1, "d", 5, &me).is_none());
        assert!(pk.height_output(&s1, "c", 5, &Address([1; 20])).is_none());
        // Another key's signature, garbage, or a flipped bit do not verify.
        let (_, other) = secret(8);
        assert!(pk
            .height_output(&other.sign_height("c", 5, &me), "c", 5, &me)
            .is_none());
        assert!(pk.height_output(&BeaconSig([0; 96]), "c", 5, &me).is_none());
        let mut flipped = s1;
        flipped.0[40] ^= 1;
        assert!(pk.height_output(&flipped, "c", 5, &me).is_none());
    }

    #[test]
    fn possession_binds_key_chain_and_address() {
        let (key, b) = secret(9);
        let pop = b.possession("c", &key.address());
        assert!(b.public_key().verify_possession(&pop, "c", &key.address()));
        assert!(!b.public_key().verify_possession(&pop, "d", &key.address()));
        assert!(!b
            .public_key()
            .verify_possession(&pop, "c", &Address([2; 20])));
    }

    #[test]
    fn keys_parse_only_when_valid() {
        let (_, b) = secret(3);
        let k = b.public_key();
        assert_eq!(k.to_string().parse::<BeaconKey>().unwrap(), k);
        assert_eq!(
            "00".repeat(48).parse::<BeaconKey>(),
            Err(CryptoError::InvalidBeaconKey)
        );
        assert!("zz".parse::<BeaconKey>().is_err());
        // The identity point (compressed infinity) is refused.
        let mut infinity = [0u8; 48];
        infinity[0] = 0xc0;
        assert!(BeaconKey(infinity).check().is_err());
    }

    #[test]
    fn first_proposer_follows_power() {
        let powers: Vec<(Address, u64)> = (0..4u8).map(|i| (Address([i; 20]), 10)).collect();
        let mut counts = [0u32; 4];
        for h in 1..4_001 {
            counts[first_proposer(&powers, h).unwrap()] += 1;
        }
        assert!(
            counts.iter().all(|c| (800..1_200).contains(c)),
            "{counts:?}"
        );
        assert_eq!(first_proposer(&[], 1), None);
        assert_eq!(first_proposer(&[(Address([0; 20]), 0)], 1), None);
    }
}
