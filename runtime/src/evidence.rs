//! Evidence of misbehaviour that anyone can check from the evidence alone.
//!
//! * [`Evidence::DoubleSign`]: one validator key signed two different values for the same height,
//!   round and vote kind.
//! * [`Evidence::ConflictingProofs`]: one node key signed two different proofs that claim an
//!   overlapping range of batch ids: the same work claimed twice.
//!
//! Evidence holds no nested transaction of arbitrary kind (a [`SignedProof`] can only carry a
//! proof), so decoding is never recursive.

use borsh::{BorshDeserialize, BorshSerialize};

use crate::amount::Amount;
use crate::crypto::{domain_hash, Address, Hash32, PublicKey, SecretKey, Signature};
use crate::error::TxError;
use crate::proof::Proof;
use crate::tx::{Transaction, TxBody};

const VOTE_DOMAIN: &[u8] = b"neuroshard-vote-v1";
const EVIDENCE_DOMAIN: &[u8] = b"neuroshard-evidence-v1";

/// Tendermint vote kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
#[borsh(use_discriminant = false)]
pub enum VoteKind {
    Prevote,
    Precommit,
}

/// A consensus vote as a validator signs it.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Vote {
    pub chain_id: String,
    pub height: u64,
    pub round: u32,
    pub kind: VoteKind,
    /// `None` is a vote for nil.
    pub block_hash: Option<Hash32>,
}

impl Vote {
    pub fn signing_digest(&self) -> Hash32 {
        domain_hash(VOTE_DOMAIN, &borsh::to_vec(self).unwrap_or_default())
    }

    pub fn sign(self, key: &SecretKey) -> SignedVote {
        let signature = key.sign_digest(&self.signing_digest());
        SignedVote {
            vote: self,
            validator: key.public_key(),
            signature,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct SignedVote {
    pub vote: Vote,
    pub validator: PublicKey,
    pub signature: Signature,
}

/// A signed `SubmitProof` transaction, carried as evidence.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct SignedProof {
    pub chain_id: String,
    pub nonce: u64,
    pub fee: Amount,
    pub proof: Proof,
    pub signer: PublicKey,
    pub signature: Signature,
}

impl SignedProof {
    fn transaction(&self) -> Transaction {
        Transaction {
            chain_id: self.chain_id.clone(),
            nonce: self.nonce,
            fee: self.fee,
            body: TxBody::SubmitProof(self.proof.clone()),
        }
    }

    fn digest(&self) -> Hash32 {
        self.transaction().signing_digest()
    }

    fn verify(&self) -> Result<(), TxError> {
        Ok(self.signer.verify_digest(&self.digest(), &self.signature)?)
    }

    /// The evidence form of a signed proof transaction, if it is one.
    pub fn from_signed(tx: &crate::tx::SignedTransaction) -> Option<SignedProof> {
        match &tx.tx.body {
            TxBody::SubmitProof(proof) => Some(SignedProof {
                chain_id: tx.tx.chain_id.clone(),
                nonce: tx.tx.nonce,
                fee: tx.tx.fee,
                proof: proof.clone(),
                signer: tx.signer,
                signature: tx.signature,
            }),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
#[borsh(use_discriminant = false)]
#[allow(clippy::large_enum_variant)] // carried boxed in `TxBody::ReportFraud`
pub enum Evidence {
    DoubleSign { a: SignedVote, b: SignedVote },
    ConflictingProofs { a: SignedProof, b: SignedProof },
}

/// Who misbehaved, as the evidence proves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Offender {
    /// A validator key (its address).
    Validator(Address),
    /// A node key (its address); the penalty falls on the wallet it is registered to.
    Node(Address),
}

fn invalid(reason: &str) -> TxError {
    TxError::InvalidEvidence(reason.to_owned())
}

impl Evidence {
    /// Checks that the evidence is internally consistent and every signature in it is valid.
    pub fn verify_signatures(&self) -> Result<(), TxError> {
        match self {
            Evidence::DoubleSign { a, b } => {
                if a.validator != b.validator {
                    return Err(invalid("the two votes have different signers"));
                }
                let (va, vb) = (&a.vote, &b.vote);
                if va.chain_id != vb.chain_id
                    || va.height != vb.height
                    || va.round != vb.round
                    || va.kind != vb.kind
                {
                    return Err(invalid(
                        "the votes are not for the same height, round and kind",
                    ));
                }
                if va.block_hash == vb.block_hash {
                    return Err(invalid("the votes are for the same value"));
                }
                a.validator
                    .verify_digest(&va.signing_digest(), &a.signature)?;
                b.validator
                    .verify_digest(&vb.signing_digest(), &b.signature)?;
                Ok(())
            }
            Evidence::ConflictingProofs { a, b } => {
                if a.signer != b.signer {
                    return Err(invalid("the two proofs have different signers"));
                }
                if a.chain_id != b.chain_id {
                    return Err(invalid("the proofs are for different chains"));
                }
                if a == b {
                    return Err(invalid("the two proofs are the same proof"));
                }
                let overlap = match (a.proof.batch_range(), b.proof.batch_range()) {
                    (Some(ra), Some(rb)) => ra.start < rb.end && rb.start < ra.end,
                    _ => false,
                };
                if !overlap {
                    return Err(invalid("the proofs claim no common batch"));
                }
                a.verify()?;
                b.verify()?;
                Ok(())
            }
        }
    }

    /// The chain the evidence was signed for.
    pub fn chain_id(&self) -> &str {
        match self {
            Evidence::DoubleSign { a, .. } => &a.vote.chain_id,
            Evidence::ConflictingProofs { a, .. } => &a.chain_id,
        }
    }

    pub fn offender(&self) -> Offender {
        match self {
            Evidence::DoubleSign { a, .. } => Offender::Validator(a.validator.address()),
            Evidence::ConflictingProofs { a, .. } => Offender::Node(a.signer.address()),
        }
    }

    /// Identifies the offence, so that it is punished once however it is re-packaged: a double
    /// sign by (validator, height, round, kind); a proof conflict by the unordered pair of proofs.
    pub fn offence_id(&self) -> Hash32 {
        let bytes = match self {
            Evidence::DoubleSign { a, .. } => borsh::to_vec(&(
                0u8,
                a.validator,
                &a.vote.chain_id,
                a.vote.height,
                a.vote.round,
                a.vote.kind,
            )),
            Evidence::ConflictingProofs { a, b } => {
                let (da, db) = (a.digest(), b.digest());
                let (lo, hi) = if da <= db { (da, db) } else { (db, da) };
                borsh::to_vec(&(1u8, lo, hi))
            }
        };
        domain_hash(EVIDENCE_DOMAIN, &bytes.unwrap_or_default())
    }
}
