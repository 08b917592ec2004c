//! NeuroShard's Malachite context: the types Tendermint agrees on.
//!
//! * The decided **value** is a block hash ([`BlockHash`]); the block itself travels as proposal
//!   parts and through value sync, and the application looks it up by hash when it is decided.
//! * **Votes** are the runtime's [`neuroshard_runtime::evidence::Vote`]: the bytes a validator
//!   signs for consensus are exactly the bytes a `ReportFraud` transaction checks, so two
//!   conflicting votes seen on the wire are slashing evidence as they are.
//! * Validators are secp256k1 keys (the runtime's keys), addressed by the runtime's 20-byte
//!   address; proposers rotate by weighted round robin over the height and round.

use std::fmt;
use std::sync::Arc;

use malachitebft_app_channel::app::types::core::{
    self as mc, NilOrVal, Round, SignedExtension, VoteType, VotingPower,
};
use neuroshard_runtime::evidence::{Vote as RuntimeVote, VoteKind};
use neuroshard_runtime::{Address, Hash32, PublicKey};

use super::signing::K256;

/// A block height.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Height(pub u64);

impl fmt::Display for Height {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl mc::Height for Height {
    const ZERO: Self = Height(0);
    const INITIAL: Self = Height(1);

    fn increment_by(&self, n: u64) -> Self {
        Height(self.0.saturating_add(n))
    }
    fn decrement_by(&self, n: u64) -> Option<Self> {
        self.0.checked_sub(n).map(Height)
    }
    fn as_u64(&self) -> u64 {
        self.0
    }
}

/// A validator's address (the runtime's address of its consensus key).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ValidatorAddress(pub Address);

impl fmt::Display for ValidatorAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl mc::Address for ValidatorAddress {}

/// The value consensus decides: the hash of a block.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BlockHash(pub Hash32);

impl fmt::Display for BlockHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", &hex::encode(self.0)[..16])
    }
}

impl fmt::Debug for BlockHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlockHash({})", hex::encode(self.0))
    }
}

impl mc::Value for BlockHash {
    type Id = BlockHash;
    fn id(&self) -> BlockHash {
        *self
    }
}

/// A proposal: "at this height and round, decide this block hash".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proposal {
    pub height: Height,
    pub round: Round,
    pub value: BlockHash,
    pub pol_round: Round,
    pub proposer: ValidatorAddress,
}

impl mc::Proposal<NeuroContext> for Proposal {
    fn height(&self) -> Height {
        self.height
    }
    fn round(&self) -> Round {
        self.round
    }
    fn value(&self) -> &BlockHash {
        &self.value
    }
    fn take_value(self) -> BlockHash {
        self.value
    }
    fn pol_round(&self) -> Round {
        self.pol_round
    }
    fn validator_address(&self) -> &ValidatorAddress {
        &self.proposer
    }
}

/// The pieces a proposer streams a block in: who proposes what, the block bytes in chunks, and
/// the proposer's signature over the block hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProposalPart {
    Init {
        height: Height,
        round: Round,
        pol_round: Round,
        proposer: ValidatorAddress,
    },
    Data(bytes::Bytes),
    Fin {
        signature: neuroshard_runtime::Signature,
    },
}

impl mc::ProposalPart<NeuroContext> for ProposalPart {
    fn is_first(&self) -> bool {
        matches!(self, ProposalPart::Init { .. })
    }
    fn is_last(&self) -> bool {
        matches!(self, ProposalPart::Fin { .. })
    }
}

/// A prevote or precommit.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Vote {
    pub kind: VoteType,
    pub height: Height,
    pub round: Round,
    pub value: NilOrVal<BlockHash>,
    pub validator: ValidatorAddress,
}

impl Vote {
    /// The vote in the runtime's format: what is signed, and what slashing evidence carries.
    pub fn to_runtime(&self, chain_id: &str) -> RuntimeVote {
        RuntimeVote {
            chain_id: chain_id.to_owned(),
            height: self.height.0,
            round: self.round.as_u32().unwrap_or(u32::MAX),
            kind: match self.kind {
                VoteType::Prevote => VoteKind::Prevote,
                VoteType::Precommit => VoteKind::Precommit,
            },
            block_hash: match self.value {
                NilOrVal::Nil => None,
                NilOrVal::Val(h) => Some(h.0),
            },
        }
    }
}

impl mc::Vote<NeuroContext> for Vote {
    fn height(&self) -> Height {
        self.height
    }
    fn round(&self) -> Round {
        self.round
    }
    fn value(&self) -> &NilOrVal<BlockHash> {
        &self.value
    }
    fn take_value(self) -> NilOrVal<BlockHash> {
        self.value
    }
    fn vote_type(&self) -> VoteType {
        self.kind
    }
    fn validator_address(&self) -> &ValidatorAddress {
        &self.validator
    }
    // NeuroShard uses no vote extensions.
    fn extension(&self) -> Option<&SignedExtension<NeuroContext>> {
        None
    }
    fn take_extension(&mut self) -> Option<SignedExtension<NeuroContext>> {
        None
    }
    fn extend(self, _extension: SignedExtension<NeuroContext>) -> Self {
        self
    }
}

/// A validator: consensus key and voting power.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Validator {
    pub address: ValidatorAddress,
    pub public_key: PublicKey,
    pub power: VotingPower,
}

impl Validator {
    pub fn new(public_key: PublicKey, power: VotingPower) -> Validator {
        Validator {
            address: ValidatorAddress(public_key.address()),
            public_key,
            power,
        }
    }
}

impl mc::Validator<NeuroContext> for Validator {
    fn address(&self) -> &ValidatorAddress {
        &self.address
    }
    fn public_key(&self) -> &PublicKey {
        &self.public_key
    }
    fn voting_power(&self) -> VotingPower {
        self.power
    }
}

/// The validators of one height, sorted by address, zero-power entries removed.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ValidatorSet {
    pub validators: Arc<Vec<Validator>>,
}

impl ValidatorSet {
    pub fn new(validators: impl IntoIterator<Item = Validator>) -> ValidatorSet {
        let mut v: Vec<Validator> = validators.into_iter().filter(|v| v.power > 0).collect();
        v.sort_by_key(|v| v.address);
        v.dedup_by_key(|v| v.address);
        ValidatorSet {
            validators: Arc::new(v),
        }
    }

    pub fn get(&self, address: &ValidatorAddress) -> Option<&Validator> {
        self.validators
            .binary_search_by_key(address, |v| v.address)
            .ok()
            .map(|i| &self.validators[i])
    }
}

impl mc::ValidatorSet<NeuroContext> for ValidatorSet {
    fn count(&self) -> usize {
        self.validators.len()
    }
    fn total_voting_power(&self) -> VotingPower {
        self.validators.iter().map(|v| v.power).sum()
    }
    fn get_by_address(&self, address: &ValidatorAddress) -> Option<&Validator> {
        self.get(address)
    }
    fn get_by_index(&self, index: usize) -> Option<&Validator> {
        self.validators.get(index)
    }
}

/// The context: which chain, for vote signing bytes.
#[derive(Clone, Debug)]
pub struct NeuroContext {
    pub chain_id: Arc<str>,
}

impl NeuroContext {
    pub fn new(chain_id: &str) -> NeuroContext {
        NeuroContext {
            chain_id: chain_id.into(),
        }
    }
}

/// The proposer of round `round` at `height`: round 0's proposer is drawn in proportion to voting
/// power from a hash of the height (so over many heights each validator proposes its share), and
/// each later round moves to the next validator, so a crashed proposer costs one round, never
/// several in a row.
pub fn proposer_index(set: &ValidatorSet, height: Height, round: Round) -> usize {
    let count = set.validators.len();
    let powers: Vec<_> = set
        .validators
        .iter()
        .map(|v| (v.address.0, v.power))
        .collect();
    let Some(first) = neuroshard_runtime::beacon::first_proposer(&powers, height.0) else {
        return 0;
    };
    let round = round.as_u32().unwrap_or(0) as usize;
    (first + round % count) % count
}

impl mc::Context for NeuroContext {
    type Address = ValidatorAddress;
    type Height = Height;
    type ProposalPart = ProposalPart;
    type Proposal = Proposal;
    type Validator = Validator;
    type ValidatorSet = ValidatorSet;
    type Value = BlockHash;
    type Vote = Vote;
    type Extension = bytes::Bytes;
    type SigningScheme = K256;
    type Timeouts = mc::LinearTimeouts;

    fn select_proposer<'a>(
        &self,
        validator_set: &'a ValidatorSet,
        height: Height,
        round: Round,
    ) -> &'a Validator {
        // Malachite never asks with an empty set (it cannot start a height without one).
        &validator_set.validators[proposer_index(validator_set, height, round)]
    }

    fn new_proposal(
        &self,
        height: Height,
        round: Round,
        value: BlockHash,
        pol_round: Round,
        address: ValidatorAddress,
    ) -> Proposal {
        Proposal {
            height,
            round,
            value,
            pol_round,
            proposer: address,
        }
    }

    fn new_prevote(
        &self,
        height: Height,
        round: Round,
        value_id: NilOrVal<BlockHash>,
        address: ValidatorAddress,
    ) -> Vote {
        Vote {
            kind: VoteType::Prevote,
            height,
            round,
            value: value_id,
            validator: address,
        }
    }

    fn new_precommit(
        &self,
        height: Height,
        round: Round,
        value_id: NilOrVal<BlockHash>,
        address: ValidatorAddress,
    ) -> Vote {
        Vote {
            kind: VoteType::Precommit,
            height,
            round,
            value: value_id,
            validator: address,
        }
    }
}
