//! Transactions: what they say, how they are encoded (borsh), signed and checked without state.
//!
//! Wire form: `borsh(SignedTransaction)`, at most [`MAX_TX_BYTES`]; decoding rejects trailing bytes
//! and unknown variants. The signer signs `SHA-256("neuroshard-tx-v1" || 0 || borsh(Transaction))`,
//! which commits to the chain id, nonce, fee and every field of the body. The transaction hash is
//! `SHA-256("neuroshard-txid-v1" || 0 || wire bytes)`; with low-S signatures it is unique per
//! transaction.

use borsh::{BorshDeserialize, BorshSerialize};

use crate::amount::Amount;
use crate::beacon::{BeaconKey, BeaconSig};
use crate::crypto::{domain_hash, Address, Hash32, PublicKey, SecretKey, Signature};
use crate::error::{DecodeError, TxError};
use crate::evidence::Evidence;
use crate::gov::{ProposalAction, VoteOption};
use crate::proof::Proof;
use crate::round::{RoundResult, MAX_INCLUDED_BYTES};

/// Largest accepted encoded transaction.
pub const MAX_TX_BYTES: usize = 64 * 1024;
const TX_DOMAIN: &[u8] = b"neuroshard-tx-v1";
const TXID_DOMAIN: &[u8] = b"neuroshard-txid-v1";
const NODE_REGISTRATION_DOMAIN: &[u8] = b"neuroshard-node-registration-v1";

/// What a spend pays for. Every spend burns `burn_bps` of its amount.
#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
#[borsh(use_discriminant = false)]
pub enum SpendPurpose {
    Inference,
    Data,
}

/// The action a transaction performs.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
#[borsh(use_discriminant = false)]
pub enum TxBody {
    /// Move `amount` from the signer to `to`.
    Transfer { to: Address, amount: Amount },
    /// Signed by a wallet: pay the rewards of the node holding `node_key` to this wallet.
    /// `node_signature` is the node key's signature over [`node_registration_digest`], proving the
    /// node consents (nobody can claim someone else's node). Valid only in blocks up to block
    /// time `expires_ms`, which must come before `registration_ttl_ms` has passed (see
    /// [`registration_expiry`]): a wallet with no account registers without leaving one (its
    /// nonce stays 0), so it is the expiry, together with the node record while it lives, that
    /// keeps anyone from replaying the registration once its node has lapsed.
    RegisterNode {
        node_key: PublicKey,
        node_signature: Signature,
        expires_ms: u64,
    },
    /// Signed by a registered node key: a Proof of Neural Work.
    SubmitProof(Proof),
    /// Bond `amount` of the signer's balance; at `min_validator_stake` the signer is a validator.
    Stake { amount: Amount },
    /// Start unbonding `amount`; it becomes withdrawable after `unbonding_period_ms`.
    Unstake { amount: Amount },
    /// Move every matured unbonding entry back to the balance.
    WithdrawUnbonded,
    /// Pay a provider for inference or data; `burn_bps` of `amount` is burned.
    Spend {
        to: Address,
        amount: Amount,
        purpose: SpendPurpose,
    },
    /// Submit evidence of misbehaviour; the offender is slashed and the reporter rewarded.
    ReportFraud(Box<Evidence>),
    /// Signed by an active validator: whether its re-execution of the accepted proof `proof` (a
    /// `SubmitProof` transaction hash) reproduced the committed pseudo-gradient.
    Verdict { proof: Hash32, valid: bool },
    /// Signed by an active validator: the result it computed for round `round` (past its
    /// deadline). The ledger adopts a result once more than two thirds of validator power
    /// attested it (see [`crate::round`]).
    AttestRound { round: u64, result: RoundResult },
    /// Signed by a validator without a beacon key: registers `key` as its beacon key, once.
    /// `possession` is the key's signature over `(chain id, signer)`
    /// ([`crate::beacon::BeaconSecret::possession`]).
    SetBeaconKey {
        key: BeaconKey,
        possession: BeaconSig,
    },
    /// Signed by a validator jailed for downtime ([`crate::liveness`]) once its jail time has
    /// passed: its voting power comes back.
    Unjail,
    /// NeuroDAO: propose `action`, depositing `deposit` (at least a quarter of
    /// `gov.min_deposit`) from the signer's balance ([`crate::gov`]).
    SubmitProposal {
        title: String,
        action: ProposalAction,
        deposit: Amount,
    },
    /// NeuroDAO: add `amount` to the deposit of proposal `proposal` in its deposit period.
    Deposit { proposal: u64, amount: Amount },
    /// NeuroDAO: the signer's vote on proposal `proposal`, once; its weight is the signer's
    /// bonded stake when the vote closes ([`crate::gov::voting_power`]).
    Vote { proposal: u64, option: VoteOption },
}

/// Every transaction kind's name (as the RPC, the explorer and fee estimates spell it) and
/// whether it is fee-exempt, in [`TxBody`] order.
pub const TX_KINDS: [(&str, bool); 15] = [
    ("transfer", false),
    ("registerNode", true),
    ("submitProof", true),
    ("stake", false),
    ("unstake", false),
    ("withdraw", false),
    ("spend", false),
    ("reportFraud", true),
    ("verdict", true),
    ("attestRound", true),
    ("setBeaconKey", true),
    ("unjail", true),
    ("submitProposal", false),
    ("deposit", false),
    // Bootstrap validators hold no balance to pay with; one vote per voter and proposal.
    ("vote", true),
];

impl TxBody {
    /// The kind's index in [`TX_KINDS`].
    pub fn variant_index(&self) -> usize {
        match self {
            TxBody::Transfer { .. } => 0,
            TxBody::RegisterNode { .. } => 1,
            TxBody::SubmitProof(_) => 2,
            TxBody::Stake { .. } => 3,
            TxBody::Unstake { .. } => 4,
            TxBody::WithdrawUnbonded => 5,
            TxBody::Spend { .. } => 6,
            TxBody::ReportFraud(_) => 7,
            TxBody::Verdict { .. } => 8,
            TxBody::AttestRound { .. } => 9,
            TxBody::SetBeaconKey { .. } => 10,
            TxBody::Unjail => 11,
            TxBody::SubmitProposal { .. } => 12,
            TxBody::Deposit { .. } => 13,
            TxBody::Vote { .. } => 14,
        }
    }

    /// The kind's name (`"transfer"`, `"attestRound"`, …).
    pub fn kind(&self) -> &'static str {
        TX_KINDS[self.variant_index()].0
    }

    /// Transactions that exist before anyone holds NEURO pay no minimum fee: genesis mints
    /// nothing, so the path to a first reward must be free, and reporting fraud must never cost
    /// the honest reporter (a bootstrap validator holds nothing). Nodes keep such transactions out
    /// of blocks unless their body succeeds, so they cannot be used to fill blocks for free.
    pub fn is_fee_exempt(&self) -> bool {
        TX_KINDS[self.variant_index()].1
    }
}

/// The signed-over part of a transaction.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Transaction {
    pub chain_id: String,
    /// Must equal the signer's account nonce; each accepted or failed transaction bumps it.
    pub nonce: u64,
    pub fee: Amount,
    pub body: TxBody,
}

impl Transaction {
    /// The digest that the signer signs.
    pub fn signing_digest(&self) -> Hash32 {
        domain_hash(TX_DOMAIN, &borsh::to_vec(self).unwrap_or_default())
    }

    pub fn sign(self, key: &SecretKey) -> SignedTransaction {
        let signature = key.sign_digest(&self.signing_digest());
        SignedTransaction {
            tx: self,
            signer: key.public_key(),
            signature,
        }
    }
}

/// A transaction with its signer's key and signature: the wire form.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct SignedTransaction {
    pub tx: Transaction,
    pub signer: PublicKey,
    pub signature: Signature,
}

impl SignedTransaction {
    pub fn encode(&self) -> Vec<u8> {
        borsh::to_vec(self).unwrap_or_default()
    }

    /// Strict decoding: size limit, no trailing bytes, no unknown variants.
    pub fn decode(bytes: &[u8]) -> Result<SignedTransaction, DecodeError> {
        decode_strict(bytes, MAX_TX_BYTES)
    }

    pub fn hash(&self) -> Hash32 {
        domain_hash(TXID_DOMAIN, &self.encode())
    }

    /// All checks that need no state: the signature, the amounts, and every signature nested in
    /// the body. Cheap to run in parallel before sequential execution.
    pub fn verify(self) -> Result<VerifiedTx, TxError> {
        let wire = self.encode();
        if wire.len() > MAX_TX_BYTES {
            return Err(DecodeError::TooLarge {
                size: wire.len(),
                max: MAX_TX_BYTES,
            }
            .into());
        }
        self.signer
            .verify_digest(&self.tx.signing_digest(), &self.signature)?;
        let sender = self.signer.address();
        match &self.tx.body {
            TxBody::Transfer { amount, .. }
            | TxBody::Stake { amount }
            | TxBody::Unstake { amount }
            | TxBody::Spend { amount, .. }
            | TxBody::Deposit { amount, .. }
            | TxBody::SubmitProposal {
                deposit: amount, ..
            } => {
                if amount.is_zero() {
                    return Err(TxError::ZeroAmount);
                }
            }
            TxBody::RegisterNode {
                node_key,
                node_signature,
                ..
            } => {
                if node_key.address() == sender {
                    return Err(TxError::NodeKeyIsWallet);
                }
                let digest = node_registration_digest(&self.tx.chain_id, &sender);
                node_key.verify_digest(&digest, node_signature)?;
            }
            TxBody::SubmitProof(proof) => {
                if proof.metrics.is_empty() {
                    return Err(TxError::EmptyProof);
                }
                if proof.metrics.batches > 0 && proof.batch_range().is_none() {
                    return Err(TxError::Overflow);
                }
            }
            TxBody::ReportFraud(evidence) => evidence.verify_signatures()?,
            TxBody::AttestRound { result, .. } => {
                if result.included.len() > MAX_INCLUDED_BYTES {
                    return Err(TxError::BadInclusion(format!(
                        "the bitmap has {} bytes, more than {MAX_INCLUDED_BYTES}",
                        result.included.len()
                    )));
                }
            }
            TxBody::WithdrawUnbonded
            | TxBody::Verdict { .. }
            | TxBody::Unjail
            | TxBody::Vote { .. } => {}
            // The possession signature is a pairing check: the handler does it once the signer
            // is known to be a validator without a key, so strangers cannot make nodes pay it.
            TxBody::SetBeaconKey { .. } => {}
        }
        let hash = domain_hash(TXID_DOMAIN, &wire);
        Ok(VerifiedTx {
            tx: self,
            hash,
            sender,
        })
    }
}

/// The `expires_ms` a registration built when the last block's time was `last_block_ms` should
/// carry: half a registration TTL later, so that it is valid wherever it is included within
/// that time, and expired before its node could lapse.
pub fn registration_expiry(params: &crate::params::Params, last_block_ms: u64) -> u64 {
    last_block_ms.saturating_add(params.registration_ttl_ms / 2)
}

/// What a node key signs to consent to paying `wallet` on `chain_id`.
pub fn node_registration_digest(chain_id: &str, wallet: &Address) -> Hash32 {
    let payload = borsh::to_vec(&(chain_id, wallet)).unwrap_or_default();
    domain_hash(NODE_REGISTRATION_DOMAIN, &payload)
}

/// A transaction whose stateless checks passed. Only [`SignedTransaction::verify`] makes one, so
/// holding one proves the signature was checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedTx {
    tx: SignedTransaction,
    hash: Hash32,
    sender: Address,
}

impl VerifiedTx {
    pub fn signed(&self) -> &SignedTransaction {
        &self.tx
    }
    pub fn tx(&self) -> &Transaction {
        &self.tx.tx
    }
    pub fn hash(&self) -> Hash32 {
        self.hash
    }
    pub fn sender(&self) -> Address {
        self.sender
    }
}

/// Borsh decoding with a size cap that refuses trailing bytes.
pub(crate) fn decode_strict<T: BorshDeserialize>(
    bytes: &[u8],
    max: usize,
) -> Result<T, DecodeError> {
    if bytes.len() > max {
        return Err(DecodeError::TooLarge {
            size: bytes.len(),
            max,
        });
    }
    borsh::from_slice(bytes).map_err(|e| DecodeError::Malformed(e.to_string()))
}
