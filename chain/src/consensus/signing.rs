//! Consensus signatures with the runtime's secp256k1 keys.
//!
//! Every signed consensus message is a domain-separated SHA-256 digest signed by the runtime's
//! [`SecretKey`] (low-S ECDSA): votes with the runtime's vote format (so that a pair of conflicting
//! votes is `ReportFraud` evidence as it is), proposals and streamed blocks with their own domains.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use malachitebft_app_channel::app::types::core::{
    self as mc, Round, SignedMessage, ValidatorProof, VoteExtensionScope,
};
use malachitebft_signing::{self as signing, Error as SigningError, VerificationResult};
use neuroshard_runtime::crypto::domain_hash;
use neuroshard_runtime::{Hash32, PublicKey, SecretKey, Signature};

use super::context::{BlockHash, Height, NeuroContext, Proposal, Vote};
use super::sign_state::SignState;
use super::watch::VoteWatcher;

/// The signing scheme: secp256k1 ECDSA over SHA-256 digests, 64-byte compact signatures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct K256;

/// A consensus signature (ordered by its bytes, as Malachite wants).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConsensusSignature(pub Signature);

impl fmt::Debug for ConsensusSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl PartialOrd for ConsensusSignature {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ConsensusSignature {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0 .0.cmp(&other.0 .0)
    }
}

/// A signature or public key of the wrong length.
#[derive(Debug)]
pub struct BadLength {
    pub what: &'static str,
    pub expected: usize,
    pub got: usize,
}

impl fmt::Display for BadLength {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a {} is {} bytes, got {}",
            self.what, self.expected, self.got
        )
    }
}

impl mc::SigningScheme for K256 {
    type DecodingError = BadLength;
    type Signature = ConsensusSignature;
    type PublicKey = PublicKey;
    type PrivateKey = SecretKey;

    fn decode_signature(bytes: &[u8]) -> Result<ConsensusSignature, BadLength> {
        let array: [u8; 64] = bytes.try_into().map_err(|_| BadLength {
            what: "signature",
            expected: 64,
            got: bytes.len(),
        })?;
        Ok(ConsensusSignature(Signature(array)))
    }

    fn encode_signature(signature: &ConsensusSignature) -> Vec<u8> {
        signature.0 .0.to_vec()
    }

    fn decode_public_key(bytes: &[u8]) -> Result<PublicKey, BadLength> {
        let array: [u8; 33] = bytes.try_into().map_err(|_| BadLength {
            what: "public key",
            expected: 33,
            got: bytes.len(),
        })?;
        Ok(PublicKey(array))
    }

    fn encode_public_key(public_key: &PublicKey) -> Vec<u8> {
        public_key.0.to_vec()
    }
}

pub fn proposal_digest(chain_id: &str, p: &Proposal) -> Hash32 {
    let bytes = borsh::to_vec(&(
        chain_id,
        p.height.0,
        p.round.as_i64(),
        p.value.0,
        p.pol_round.as_i64(),
        p.proposer.0,
    ))
    .unwrap_or_default();
    domain_hash(b"neuroshard-proposal-v1", &bytes)
}

/// What a proposer signs at the end of a streamed block: this block, at this height and round.
pub fn streamed_block_digest(
    chain_id: &str,
    height: Height,
    round: Round,
    hash: &BlockHash,
) -> Hash32 {
    let bytes = borsh::to_vec(&(chain_id, height.0, round.as_i64(), hash.0)).unwrap_or_default();
    domain_hash(b"neuroshard-streamed-block-v1", &bytes)
}

fn extension_digest(
    chain_id: &str,
    scope: &VoteExtensionScope<NeuroContext>,
    ext: &bytes::Bytes,
) -> Hash32 {
    let bytes = borsh::to_vec(&(
        chain_id,
        scope.height.0,
        scope.round.as_i64(),
        scope.value_id.0,
        scope.validator_address.0,
        ext.as_ref(),
    ))
    .unwrap_or_default();
    domain_hash(b"neuroshard-vote-extension-v2", &bytes)
}

/// What a validator signs to tie its consensus key to its libp2p peer id (Malachite's
/// proof of validator): Malachite's own preimage, under this chain's domain.
fn validator_proof_digest(chain_id: &str, public_key: &[u8], peer_id: &[u8]) -> Hash32 {
    let preimage = ValidatorProof::<NeuroContext>::signing_bytes(public_key, peer_id);
    let bytes = borsh::to_vec(&(chain_id, preimage)).unwrap_or_default();
    domain_hash(b"neuroshard-validator-proof-v1", &bytes)
}

/// Signs for this node's validator key and checks others' signatures.
pub struct Signer {
    key: SecretKey,
    chain_id: String,
    watcher: Option<Arc<VoteWatcher>>,
    sign_state: Option<Arc<SignState>>,
}

impl Signer {
    pub fn new(key: SecretKey, chain_id: &str) -> Signer {
        Signer {
            key,
            chain_id: chain_id.to_owned(),
            watcher: None,
            sign_state: None,
        }
    }

    /// Guards every vote with the validator's last sign state: never two different votes for
    /// one height, round and kind, never a vote below the last one signed.
    pub fn with_sign_state(mut self, state: Arc<SignState>) -> Signer {
        self.sign_state = Some(state);
        self
    }

    /// Shows every vote that verifies to `watcher`.
    pub fn with_watcher(mut self, watcher: Arc<VoteWatcher>) -> Signer {
        self.watcher = Some(watcher);
        self
    }

    fn sign(&self, digest: &Hash32) -> ConsensusSignature {
        ConsensusSignature(self.key.sign_digest(digest))
    }

    /// Signs the end of a streamed block.
    pub fn sign_streamed_block(&self, height: Height, round: Round, hash: &BlockHash) -> Signature {
        self.key
            .sign_digest(&streamed_block_digest(&self.chain_id, height, round, hash))
    }
}

fn nil_or_block(value: Option<Hash32>) -> mc::NilOrVal<BlockHash> {
    value.map_or(mc::NilOrVal::Nil, |h| mc::NilOrVal::Val(BlockHash(h)))
}

fn verify(public_key: &PublicKey, digest: &Hash32, signature: &ConsensusSignature) -> bool {
    public_key.verify_digest(digest, &signature.0).is_ok()
}

impl Signer {
    /// Signs a consensus vote, through the sign state when there is one (see
    /// [`Signer::with_sign_state`]).
    pub fn sign_vote_now(&self, mut vote: Vote) -> SignedMessage<NeuroContext, Vote> {
        let Some(state) = &self.sign_state else {
            let signature = self.sign(&vote.to_runtime(&self.chain_id).signing_digest());
            return SignedMessage::new(vote, signature);
        };
        let step = (
            vote.height.0,
            vote.round.as_i64(),
            matches!(vote.kind, mc::VoteType::Precommit),
        );
        let value = match vote.value {
            mc::NilOrVal::Nil => None,
            mc::NilOrVal::Val(h) => Some(h.0),
        };
        let signed = state.sign(step, value, |value| {
            let v = Vote {
                value: nil_or_block(value),
                ..vote.clone()
            };
            self.key
                .sign_digest(&v.to_runtime(&self.chain_id).signing_digest())
        });
        match signed {
            Some((value, signature)) => {
                vote.value = nil_or_block(value);
                SignedMessage::new(vote, ConsensusSignature(signature))
            }
            // Refused: a signature that nobody, this node included, accepts.
            None => SignedMessage::new(vote, ConsensusSignature(Signature([0; 64]))),
        }
    }

    /// Checks a vote's signature; a vote that verifies is shown to the watcher.
    pub fn verify_vote_now(
        &self,
        vote: &Vote,
        signature: &ConsensusSignature,
        public_key: &PublicKey,
    ) -> bool {
        let ok = verify(
            public_key,
            &vote.to_runtime(&self.chain_id).signing_digest(),
            signature,
        );
        if ok {
            if let Some(w) = &self.watcher {
                w.observe(vote, &signature.0, public_key);
            }
        }
        ok
    }
}

fn verdict(ok: bool) -> Result<VerificationResult, SigningError> {
    Ok(VerificationResult::from_bool(ok))
}

#[async_trait]
impl signing::Signer<NeuroContext> for Signer {
    async fn sign_vote(
        &self,
        vote: Vote,
    ) -> Result<SignedMessage<NeuroContext, Vote>, SigningError> {
        Ok(self.sign_vote_now(vote))
    }

    async fn sign_proposal(
        &self,
        proposal: Proposal,
    ) -> Result<SignedMessage<NeuroContext, Proposal>, SigningError> {
        let signature = self.sign(&proposal_digest(&self.chain_id, &proposal));
        Ok(SignedMessage::new(proposal, signature))
    }

    async fn sign_vote_extension(
        &self,
        scope: VoteExtensionScope<NeuroContext>,
        extension: bytes::Bytes,
    ) -> Result<SignedMessage<NeuroContext, bytes::Bytes>, SigningError> {
        let signature = self.sign(&extension_digest(&self.chain_id, &scope, &extension));
        Ok(SignedMessage::new(extension, signature))
    }

    async fn sign_validator_proof(
        &self,
        public_key: Vec<u8>,
        peer_id: Vec<u8>,
    ) -> Result<ValidatorProof<NeuroContext>, SigningError> {
        let digest = validator_proof_digest(&self.chain_id, &public_key, &peer_id);
        Ok(ValidatorProof::new(public_key, peer_id, self.sign(&digest)))
    }
}

#[async_trait]
impl signing::Verifier<NeuroContext> for Signer {
    async fn verify_signed_vote(
        &self,
        vote: &Vote,
        signature: &ConsensusSignature,
        public_key: &PublicKey,
    ) -> Result<VerificationResult, SigningError> {
        verdict(self.verify_vote_now(vote, signature, public_key))
    }

    async fn verify_signed_proposal(
        &self,
        proposal: &Proposal,
        signature: &ConsensusSignature,
        public_key: &PublicKey,
    ) -> Result<VerificationResult, SigningError> {
        verdict(verify(
            public_key,
            &proposal_digest(&self.chain_id, proposal),
            signature,
        ))
    }

    async fn verify_signed_vote_extension(
        &self,
        scope: &VoteExtensionScope<NeuroContext>,
        extension: &bytes::Bytes,
        signature: &ConsensusSignature,
        public_key: &PublicKey,
    ) -> Result<VerificationResult, SigningError> {
        verdict(verify(
            public_key,
            &extension_digest(&self.chain_id, scope, extension),
            signature,
        ))
    }

    async fn verify_validator_proof(
        &self,
        proof: &ValidatorProof<NeuroContext>,
    ) -> Result<VerificationResult, SigningError> {
        let Ok(public_key) = <K256 as mc::SigningScheme>::decode_public_key(&proof.public_key)
        else {
            return verdict(false);
        };
        let digest = validator_proof_digest(&self.chain_id, &proof.public_key, &proof.peer_id);
        verdict(verify(&public_key, &digest, &proof.signature))
    }
}

#[cfg(test)]
mod tests {
    use mc::{NilOrVal, VoteType};

    use super::*;
    use crate::consensus::context::ValidatorAddress;

    fn vote(key: &SecretKey, kind: VoteType, value: Option<u8>) -> Vote {
        Vote {
            kind,
            height: Height(7),
            round: Round::new(1),
            value: value.map_or(NilOrVal::Nil, |v| NilOrVal::Val(BlockHash([v; 32]))),
            validator: ValidatorAddress(key.address()),
        }
    }

    #[test]
    fn a_signer_with_a_sign_state_never_signs_two_votes_for_one_step() {
        let dir = std::env::temp_dir().join(format!("signer-guard-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let key = SecretKey::from_entropy([3; 32]);
        let signer = |()| {
            Signer::new(key.clone(), "guard-test")
                .with_sign_state(Arc::new(SignState::open(&dir.join("sign_state")).unwrap()))
        };
        let first = signer(()).sign_vote_now(vote(&key, VoteType::Precommit, Some(1)));
        assert!(signer(()).verify_vote_now(&first.message, &first.signature, &key.public_key()));
        // A new process with the same home is asked for a nil precommit at the same step: it
        // gets the block precommit it signed before, signature and all.
        let again = signer(()).sign_vote_now(vote(&key, VoteType::Precommit, None));
        assert_eq!(again.message, first.message);
        assert_eq!(again.signature, first.signature);
        // The prevote of that round comes too late: its signature is worthless.
        let late = signer(()).sign_vote_now(vote(&key, VoteType::Prevote, Some(1)));
        assert!(!signer(()).verify_vote_now(&late.message, &late.signature, &key.public_key()));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
