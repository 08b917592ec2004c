//! Typed errors. Every way an input can be wrong has its own variant, so that a node, the RPC and
//! the wallet can say exactly why something was refused.

use crate::amount::Amount;
use crate::crypto::Address;

/// A key, address or signature that is not acceptable.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("the wallet token is empty")]
    EmptyToken,
    #[error("the wallet token could not be stretched into a key")]
    TokenDerivation,
    #[error("not a key token: expected 64 hex digits")]
    NotAKeyToken,
    #[error("not a valid secp256k1 secret key (must be 1..n-1)")]
    InvalidSecretKey,
    #[error("not a valid SEC1-compressed secp256k1 public key")]
    InvalidPublicKey,
    #[error("not an address: expected 0x followed by 40 hex digits")]
    InvalidAddress,
    #[error("signature does not verify")]
    BadSignature,
    #[error("signature is not in low-S form (malleated)")]
    NonCanonicalSignature,
    #[error("not a valid beacon key: expected 96 hex digits of a compressed BLS12-381 G1 point")]
    InvalidBeaconKey,
}

/// Bytes that are not a well-formed encoding.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("{size} bytes is more than the {max}-byte limit")]
    TooLarge { size: usize, max: usize },
    #[error("malformed encoding: {0}")]
    Malformed(String),
}

/// The state store failed or holds something that does not decode.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StorageError {
    #[error("storage backend: {0}")]
    Backend(String),
    #[error("corrupt state at key {key}: {reason}")]
    Corrupt { key: String, reason: String },
    #[error("state merkle tree: {0}")]
    Tree(String),
}

/// Why a NeuroDAO proposal, deposit or vote was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GovError {
    #[error("a proposal must change something")]
    EmptyProposal,
    #[error("a proposal changes at most {max} parameters")]
    TooManyChanges { max: usize },
    #[error("parameter {0:?} is changed twice")]
    DuplicateChange(String),
    #[error("no parameter is named {0:?} (names as in genesis/README.md, e.g. reward_per_batch or gov.quorum_bps)")]
    UnknownParam(String),
    #[error("{name:?} cannot be changed by a vote: {why}")]
    NotGovernable { name: String, why: &'static str },
    #[error("bad value for {name:?}: {reason}")]
    BadValue { name: String, reason: String },
    #[error("the change breaks a rule genesis enforces: {0}")]
    BreaksRule(String),
    #[error("a title has at most {max} bytes")]
    TitleTooLong { max: usize },
    #[error("a deposit of {got} is below the {min} a proposal must start with")]
    DepositTooSmall { min: Amount, got: Amount },
    #[error("{max} proposals are already open; wait for one to close")]
    TooManyOpenProposals { max: usize },
    #[error("a proposal takes deposits from at most {max} accounts")]
    TooManyDepositors { max: usize },
    #[error("no proposal {0}")]
    UnknownProposal(u64),
    #[error("proposal {0} is not in its deposit period")]
    NotInDepositPeriod(u64),
    #[error("proposal {0} is not open for votes")]
    NotVoting(u64),
    #[error("{0} has no voting power (bonded stake of a validator that is not jailed)")]
    NoVotingPower(Address),
    #[error("{voter} already voted on proposal {id}; a vote is counted once")]
    AlreadyVoted { id: u64, voter: Address },
    #[error("the governance escrow holds deposits and cannot be paid")]
    PaysEscrow,
    #[error("internal: {0}")]
    Internal(String),
}

/// Why a transaction was refused (before or during execution).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TxError {
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error("wrong chain id: this chain is {expected:?}, the transaction is for {got:?}")]
    WrongChainId { expected: String, got: String },
    #[error("nonce {got} was already used (next nonce is {expected}): replay")]
    NonceReplayed { expected: u64, got: u64 },
    #[error("nonce {got} is ahead of the account's next nonce {expected}")]
    NonceFromFuture { expected: u64, got: u64 },
    #[error("fee {got} is below the minimum {min}")]
    FeeTooLow { min: Amount, got: Amount },
    #[error("insufficient funds: needs {needed}, has {available}")]
    InsufficientFunds { needed: Amount, available: Amount },
    #[error("amount must be greater than zero")]
    ZeroAmount,
    #[error("amount arithmetic overflows")]
    Overflow,
    #[error("stake would be {resulting}, below the {min} minimum (unstake everything or keep at least the minimum)")]
    StakeBelowMinimum { min: Amount, resulting: Amount },
    #[error("cannot unstake {requested}: only {staked} is staked")]
    InsufficientStake { staked: Amount, requested: Amount },
    #[error("at most {max} unbonding entries at a time")]
    TooManyUnbondingEntries { max: u32 },
    #[error("no unbonded stake has matured yet")]
    NothingToWithdraw,
    #[error("the validator set is full ({max} validators)")]
    ValidatorSetFull { max: u32 },
    #[error("validator {0} is jailed for misbehaviour")]
    ValidatorJailed(Address),
    #[error("validator {0} is not jailed for downtime")]
    NotJailedForDowntime(Address),
    #[error("jailed for downtime until block time {until_ms} ms")]
    StillJailedForDowntime { until_ms: u64 },
    #[error("node {0} is not registered to any wallet")]
    UnknownNode(Address),
    #[error("the proof names node {0} as its data server, but no such node is registered")]
    UnknownDataServer(Address),
    #[error("node {0} is already registered")]
    NodeAlreadyRegistered(Address),
    #[error("this block already registered {max} nodes (the most one block takes): try the next")]
    RegistrationsFull { max: u32 },
    #[error("registration valid until block time {expires_ms} ms, in a block at {block_time_ms} ms: it must expire at or after the block and before {latest_ms} ms (one registration TTL later)")]
    RegistrationOutOfTime {
        expires_ms: u64,
        block_time_ms: u64,
        latest_ms: u64,
    },
    #[error("a node key must differ from its wallet key")]
    NodeKeyIsWallet,
    #[error("{0} is not a validator")]
    UnknownValidator(Address),
    #[error("validator {0} already has a beacon key (it is set once)")]
    BeaconKeyAlreadySet(Address),
    #[error("the beacon key's possession signature does not verify for this chain and signer")]
    BadBeaconPossession,
    #[error("layer range {start}..{end} is not within the model's {layers} layers")]
    InvalidLayerRange { start: u32, end: u32, layers: u32 },
    #[error("proof claims no work")]
    EmptyProof,
    #[error("proof claims {claimed} batches, but one segment holds at most {max} (the genesis inner steps)")]
    SegmentTooLong { claimed: u64, max: u64 },
    #[error("{what} cannot be checked, so it is not paid: {why}")]
    UncheckableClaim { what: String, why: &'static str },
    #[error("proof came {elapsed_ms} ms after the node's previous one; the minimum interval is {min_ms} ms")]
    ProofTooSoon { elapsed_ms: u64, min_ms: u64 },
    #[error("claimed {claimed} {metric}, but at most {max} are physically possible in the time since the node's previous proof")]
    RateLimited {
        metric: String,
        claimed: u64,
        max: u64,
    },
    #[error("proof timestamp {timestamp_ms} is too far from block time {block_time_ms}")]
    ProofTimestampOutOfRange {
        timestamp_ms: u64,
        block_time_ms: u64,
    },
    #[error(
        "the proof starts from inner state {got}, which does not end the node's segment chain \
         in this round (its end is {head}): start from the round's model (the zero state) or \
         from that end"
    )]
    BrokenSegmentChain { got: String, head: String },
    #[error("batches from {first_batch} were already claimed (next unclaimed batch is {next_unclaimed})")]
    DuplicateBatches {
        first_batch: u64,
        next_unclaimed: u64,
    },
    #[error("proof is for round {got} with model {got_model}, but round {current} with model {current_model} is open")]
    StaleModel {
        current: u64,
        got: u64,
        current_model: String,
        got_model: String,
    },
    #[error("proof's data seed {got} is not the node's assigned seed {expected}")]
    WrongDataSeed { expected: String, got: String },
    #[error(
        "the proof trained on corpus {got}, not the network's pinned corpus {pinned}: \
         it did not do the network's work (refused, not fraud)"
    )]
    WrongCorpus { pinned: String, got: String },
    #[error("no accepted proof with transaction hash {0}")]
    UnknownProof(String),
    #[error("proof {0} is already settled (paid, voided or verified)")]
    ProofSettled(String),
    #[error("validator {0} already gave its verdict on this proof")]
    DuplicateVerdict(Address),
    #[error("round {got} is not the open round {current}")]
    WrongRound { current: u64, got: u64 },
    #[error("round {round} opened at {opened_ms} ms and may close from {earliest_ms} ms")]
    RoundTooYoung {
        round: u64,
        opened_ms: u64,
        earliest_ms: u64,
    },
    #[error("round {round} took training proofs until {deadline_ms} ms: it is closing")]
    RoundClosing { round: u64, deadline_ms: u64 },
    #[error("validator {0} already attested this round")]
    DuplicateAttestation(Address),
    #[error("the round result's included proofs are not acceptable: {0}")]
    BadInclusion(String),
    #[error("evidence is invalid: {0}")]
    InvalidEvidence(String),
    #[error("this evidence was already used")]
    DuplicateEvidence,
    #[error("the offender holds nothing that can be slashed")]
    NothingToSlash,
    #[error("no block is in progress")]
    NoBlockInProgress,
    #[error(transparent)]
    Gov(#[from] GovError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// A genesis file that must not start a chain.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GenesisError {
    #[error("genesis is not valid JSON for this schema: {0}")]
    Json(String),
    #[error("pre-mine rejected: genesis gives account {address} a balance of {balance} NEURO; genesis mints nothing")]
    PreMine { address: String, balance: String },
    #[error("genesis `accounts` must be empty (it lists {0}); all NEURO is earned through Proof of Neural Work")]
    AccountsNotEmpty(usize),
    #[error("genesis `total_minted` must be \"0\", found {0:?}")]
    TotalMintedNotZero(String),
    #[error("genesis `chain_id` must be 1-64 characters of [a-z0-9-]")]
    BadChainId,
    #[error("genesis `genesis_time` is not an RFC 3339 UTC time: {0}")]
    BadTime(String),
    #[error("genesis names no validators")]
    NoValidators,
    #[error("validator {0} is listed twice")]
    DuplicateValidator(String),
    #[error("validator {0} has zero voting power")]
    ZeroPower(String),
    #[error("genesis parameter `{name}` is invalid: {reason}")]
    InvalidParam { name: &'static str, reason: String },
}

/// A block-level call that does not fit the chain's state (wrong order, height or time).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    #[error("the ledger has no genesis state yet")]
    NotInitialized,
    #[error("the ledger already holds a chain ({0}); refusing to apply another genesis")]
    AlreadyInitialized(String),
    #[error("{call} called {when}")]
    WrongPhase {
        call: &'static str,
        when: &'static str,
    },
    #[error("block height {got} does not follow the last committed height {last}")]
    HeightNotNext { last: u64, got: u64 },
    #[error("block time {got} ms is before the previous block's {previous} ms")]
    TimeWentBack { previous: u64, got: u64 },
    #[error("block {height} lacks its proposer {proposer}'s valid beacon signature")]
    BadBeacon { height: u64, proposer: Address },
    #[error(transparent)]
    Genesis(#[from] GenesisError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}
