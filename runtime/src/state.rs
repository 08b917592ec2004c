//! What the chain's state holds, and under which keys.
//!
//! Every record is borsh-encoded under a key in the `s/` namespace; all of them are leaves of the
//! state's Merkle tree, so the state root commits to every account, node, validator and counter.

use borsh::{BorshDeserialize, BorshSerialize};

use crate::amount::Amount;
use crate::beacon::BeaconKey;
use crate::crypto::{Address, Hash32, PublicKey};
use crate::round::RoundResult;

/// State keys.
pub mod keys {
    use super::*;

    pub const ACCOUNT_PREFIX: &[u8] = b"s/acct/";
    pub const NODE_PREFIX: &[u8] = b"s/node/";
    pub const VALIDATOR_PREFIX: &[u8] = b"s/val/";
    pub const EVIDENCE_PREFIX: &[u8] = b"s/evid/";
    pub const VALIDATOR_INDEX: &[u8] = b"s/validators";
    pub const SUPPLY: &[u8] = b"s/supply";
    pub const CHAIN: &[u8] = b"s/chain";
    pub const PARAMS: &[u8] = b"s/params";
    pub const TRAINING: &[u8] = b"s/training";
    pub const PROOF_PREFIX: &[u8] = b"s/proof/";
    pub const ROUND_PREFIX: &[u8] = b"s/round/";
    pub const ROUND_PROOF_PREFIX: &[u8] = b"s/rproof/";
    pub const ROUND_TRAINED_PREFIX: &[u8] = b"s/rtrain/";
    pub const ROUND_RESULT_PREFIX: &[u8] = b"s/rresult/";
    pub const MATURITY_PREFIX: &[u8] = b"s/mature/";
    pub const BOND_RELEASE_PREFIX: &[u8] = b"s/bondrel/";
    /// The validator set of the open draw window ([`super::DrawSet`]).
    pub const DRAW_SET: &[u8] = b"s/drawset";
    /// The network's diminishing-returns curve ([`super::RewardCurve`]).
    pub const REWARD_CURVE: &[u8] = b"s/curve";
    /// Bounds of the registration expiry queue ([`super::QueueBounds`]).
    pub const REGISTRATION_QUEUE: &[u8] = b"s/regq";
    pub const REGISTRATION_PREFIX: &[u8] = b"s/rege/";
    /// The parameters genesis set, as they were: what a restart's genesis file is checked
    /// against once NeuroDAO has changed [`PARAMS`].
    pub const GENESIS_PARAMS: &[u8] = b"s/params0";
    /// NeuroDAO's bookkeeping ([`crate::gov::GovState`]).
    pub const GOV: &[u8] = b"s/gov";
    pub const PROPOSAL_PREFIX: &[u8] = b"s/gprop/";
    pub const VOTE_PREFIX: &[u8] = b"s/gvote/";
    /// Which round trained which architecture ([`crate::gov::ArchitectureHistory`]).
    pub const ARCHITECTURES: &[u8] = b"s/arch";

    fn join(prefix: &[u8], id: &[u8]) -> Vec<u8> {
        [prefix, id].concat()
    }
    pub fn account(a: &Address) -> Vec<u8> {
        join(ACCOUNT_PREFIX, &a.0)
    }
    pub fn node(a: &Address) -> Vec<u8> {
        join(NODE_PREFIX, &a.0)
    }
    pub fn validator(a: &Address) -> Vec<u8> {
        join(VALIDATOR_PREFIX, &a.0)
    }
    pub fn evidence(id: &Hash32) -> Vec<u8> {
        join(EVIDENCE_PREFIX, id)
    }
    /// An accepted proof, by its transaction hash.
    pub fn proof(tx_hash: &Hash32) -> Vec<u8> {
        join(PROOF_PREFIX, tx_hash)
    }
    pub fn round(round: u64) -> Vec<u8> {
        join(ROUND_PREFIX, &round.to_be_bytes())
    }
    /// The `index`-th proof accepted in `round`.
    pub fn round_proof(round: u64, index: u64) -> Vec<u8> {
        [
            ROUND_PROOF_PREFIX,
            &round.to_be_bytes(),
            &index.to_be_bytes(),
        ]
        .concat()
    }
    /// The `index`-th training proof (one that claims batches) accepted in `round`: what a
    /// round result's bitmap bit `index` stands for.
    pub fn round_trained(round: u64, index: u64) -> Vec<u8> {
        [
            ROUND_TRAINED_PREFIX,
            &round.to_be_bytes(),
            &index.to_be_bytes(),
        ]
        .concat()
    }
    /// A result attested for `round`, by its hash.
    pub fn round_result(round: u64, hash: &Hash32) -> Vec<u8> {
        [ROUND_RESULT_PREFIX, &round.to_be_bytes(), hash].concat()
    }
    /// Entry `index` of the maturity queue.
    pub fn maturity(index: u64) -> Vec<u8> {
        join(MATURITY_PREFIX, &index.to_be_bytes())
    }
    /// Entry `index` of the bond release queue.
    pub fn bond_release(index: u64) -> Vec<u8> {
        join(BOND_RELEASE_PREFIX, &index.to_be_bytes())
    }
    /// Proposal `id` ([`crate::gov::Proposal`]).
    pub fn proposal(id: u64) -> Vec<u8> {
        join(PROPOSAL_PREFIX, &id.to_be_bytes())
    }
    /// `voter`'s vote on proposal `id`.
    pub fn vote(id: u64, voter: &Address) -> Vec<u8> {
        [VOTE_PREFIX, &id.to_be_bytes(), &voter.0].concat()
    }
    /// Entry `index` of the registration expiry queue.
    pub fn registration(index: u64) -> Vec<u8> {
        join(REGISTRATION_PREFIX, &index.to_be_bytes())
    }
}

/// A pending unbonding: stake that stops counting and can be withdrawn at `matures_at_ms`.
#[derive(Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Unbonding {
    pub amount: Amount,
    pub matures_at_ms: u64,
}

/// A wallet (or node) account.
#[derive(Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Account {
    pub balance: Amount,
    /// The nonce its next transaction must carry.
    pub nonce: u64,
    /// Bonded stake.
    pub stake: Amount,
    pub unbonding: Vec<Unbonding>,
    /// Rewards of accepted proofs still in their challenge window: not minted, not spendable,
    /// not stakeable. Minted into `bond` when each proof matures; voided by proven fraud.
    pub pending: Amount,
    /// Matured rewards held as collateral for the wallet's next claims: minted, not spendable,
    /// released to `balance` `bond_period_ms` after each payment, and forfeited whole when fraud
    /// by any of the wallet's nodes is proven (see `rewards::cover`).
    pub bond: Amount,
    /// The part of `bond` that claims still waiting for their draw or verdict have at stake.
    pub bond_reserved: Amount,
    /// Bumped at each forfeiture, so that releases and reservations from before it lapse.
    pub bond_epoch: u64,
}

impl Account {
    pub fn unbonding_total(&self) -> Amount {
        Amount(
            self.unbonding
                .iter()
                .fold(0u128, |sum, u| sum.saturating_add(u.amount.0)),
        )
    }

    /// Everything the account holds: balance, stake, unbonding stake and bond.
    pub fn holdings(&self) -> Amount {
        Amount(
            self.balance
                .0
                .saturating_add(self.stake.0)
                .saturating_add(self.unbonding_total().0)
                .saturating_add(self.bond.0),
        )
    }

    /// Bond not at stake for a claim in flight.
    pub fn free_bond(&self) -> Amount {
        self.bond.saturating_sub(self.bond_reserved)
    }
}

/// A node key registered to a wallet, and its proof history.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct NodeRecord {
    pub wallet: Address,
    pub public_key: PublicKey,
    pub registered_at_ms: u64,
    /// Block time of its last accepted proof (registration time before the first).
    pub last_proof_ms: u64,
    /// Lowest batch id it may still claim.
    pub next_batch: u64,
    pub proofs: u64,
    /// Total minted for its proofs (matured rewards).
    pub earned: Amount,
    /// The seed its next proof's batches are drawn from: `SHA-256(state root before the block
    /// that accepted its previous proof (or registration) ‖ node address)`. Nobody, the node
    /// included, knows it before that block is committed.
    pub data_seed: Hash32,
    /// Its accepted proofs whose challenge window is still open (transaction hashes).
    pub pending_proofs: Vec<Hash32>,
    /// The end of its segment chain: the only non-zero start state its next training proof
    /// may name ([`crate::proof::Proof::start_state`]).
    pub segment_head: Option<SegmentHead>,
}

/// The last segment of a node's chain in a round.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct SegmentHead {
    pub round: u64,
    /// Its end state's blob hash.
    pub state: Hash32,
    /// The proof that ended there.
    pub proof: Hash32,
}

/// A member (or former member) of the validator set.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct ValidatorRecord {
    pub public_key: PublicKey,
    /// Voting power now in force.
    pub power: u64,
    /// Power granted by genesis (bootstrap validators hold no stake).
    pub genesis_power: u64,
    pub jailed: bool,
    /// Its beacon key (from genesis or `SetBeaconKey`, set once): what its beacon signatures
    /// are checked against ([`crate::draw`]). Without one, its first-proposer heights spoil
    /// their draw window.
    pub beacon_key: Option<BeaconKey>,
    /// Its round-0 proposer heights in the current downtime window, and how many of them it
    /// missed ([`crate::liveness`]).
    pub liveness: Liveness,
    /// Jailed for downtime (no voting power) until it sends `Unjail`, which it may from this
    /// block time on. Unlike `jailed` (misbehaviour), this ends.
    pub down_until_ms: Option<u64>,
}

/// A validator's round-0 proposals in the current downtime window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Liveness {
    /// Heights whose round-0 proposer it was.
    pub expected: u32,
    /// Of those, heights whose block someone else proposed.
    pub missed: u32,
}

/// The addresses of every validator record, sorted (the store has no iteration).
#[derive(Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct ValidatorIndex(pub Vec<Address>);

/// Supply counters. What accounts hold always equals `minted - burned - slashed`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Supply {
    /// Ever minted by accepted proofs.
    pub minted: Amount,
    /// Destroyed by the 5% burn on spends and fees.
    pub burned: Amount,
    /// Destroyed by slashing (the reporter's share is moved, not destroyed).
    pub slashed: Amount,
    /// Rewards of accepted proofs in their challenge window (not yet minted; Σ `Account::pending`).
    pub pending: Amount,
    /// Pending rewards cancelled by proven fraud (never minted).
    pub voided: Amount,
    /// Pending rewards of proofs that were not drawn for re-execution beyond what their
    /// wallet's bond covered (never minted: nobody checked them; see `rewards::cover`).
    pub unchecked: Amount,
}

impl Supply {
    /// Minted minus everything destroyed. The FAQ's `minted - burned`, where "burned" covers
    /// every destruction; the two causes are counted apart here.
    pub fn circulating(&self) -> Amount {
        self.minted
            .saturating_sub(self.burned)
            .saturating_sub(self.slashed)
    }
}

/// Chain identity and the last block applied.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct ChainInfo {
    pub chain_id: String,
    pub genesis_time_ms: u64,
    pub height: u64,
    pub time_ms: u64,
    pub proposer: Address,
}

/// Where an accepted proof's reward stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
#[borsh(use_discriminant = false)]
pub enum ProofStatus {
    /// In its challenge window; the reward is pending.
    Pending,
    /// Two thirds of validator power re-executed it and agreed; still waits for its window.
    Verified,
    /// Matured: the reward was minted to the wallet.
    Paid,
    /// Two thirds of validator power found that re-execution does not reproduce it: fraud.
    Voided,
}

/// One validator's verdict on a proof it re-executed.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct VerdictRecord {
    pub validator: Address,
    pub valid: bool,
    /// The validator's voting power when it voted.
    pub power: u64,
}

/// The node that served a training proof's samples, and its wallet (paid the data reward).
#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct DataServer {
    pub node: Address,
    pub wallet: Address,
}

/// An accepted Proof of Neural Work and what became of it.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct ProofRecord {
    pub node: Address,
    pub wallet: Address,
    pub round: u64,
    pub height: u64,
    pub accepted_ms: u64,
    pub matures_at_ms: u64,
    /// Reward before diminishing returns.
    pub gross: Amount,
    /// The part of `gross` that is the data reward of the samples its batches were served
    /// (`samples × reward_per_sample`): that share of whatever the proof is paid goes to
    /// `data_server`'s wallet.
    pub data_gross: Amount,
    /// Who served its samples ([`crate::proof::Proof::data_server`]), with the wallet it was
    /// registered to when the proof was accepted; `None` if it claims no samples.
    pub data_server: Option<DataServer>,
    /// The reward after diminishing returns (what is left of it after any penalty): what the
    /// proof is worth in expectation, and what is pending.
    pub reward: Amount,
    /// What it pays if it is not drawn: the part of `reward` its wallet's bond covered.
    pub covered: Amount,
    /// Bond it put at stake (reserved until its draw, or its verdict if drawn).
    pub collateral: Amount,
    /// The wallet's bond epoch when `collateral` was reserved.
    pub bond_epoch: u64,
    /// Minted for it when it matured (`covered` if undrawn, `rewards::drawn_pay` if drawn and
    /// verified); zero before.
    pub paid: Amount,
    /// Block time it was paid (0 before): fraud proven before `paid_ms + bond_period_ms` still
    /// takes the wallet's bond.
    pub paid_ms: u64,
    pub first_batch: u64,
    pub batches: u64,
    /// Uptime claimed (a liveness proof: no batches; its `pseudo_gradient` is the answer).
    pub uptime_secs: u64,
    pub layer_start: u32,
    pub layer_end: u32,
    pub model_version: Hash32,
    pub data_seed: Hash32,
    /// The corpus the proof says it trained on (its pin: the BLAKE3 hash of its manifest).
    pub data_shard: Hash32,
    /// The pseudo-gradient blob's BLAKE3 (see [`crate::proof::Proof::pseudo_gradient`]).
    pub pseudo_gradient: Hash32,
    /// The inner state it started from ([`crate::proof::NO_STATE`]: the round's model, fresh
    /// moments) and ended at (see [`crate::proof::Proof::start_state`]).
    pub start_state: Hash32,
    pub end_state: Hash32,
    /// The same node's proof whose end state this one started from: its predecessor in the
    /// segment chain. A round result leaves out every proof whose predecessor it leaves out.
    pub previous_segment: Option<Hash32>,
    pub status: ProofStatus,
    pub verdicts: Vec<VerdictRecord>,
    /// Drawn for re-execution? Decided when the first draw window opened after its block
    /// closes ([`crate::draw`]). A sampled proof is paid only once more than a third of
    /// validator power has verified it (so at least one honest validator reproduced it).
    pub sampled: Option<bool>,
    /// Drawn because its draw window was spoiled (every proof in it drawn), not by the seed:
    /// verified, it pays its reward unscaled (`maturity::payout`), so that spoiling a window
    /// never pays more for honest work than the draw's expectation.
    pub drawn_in_full: bool,
    /// A newcomer claim (its bond covered less than half its reward): drawn with the chance
    /// the newcomer budget allows, pays nothing undrawn ([`crate::lottery`]).
    pub newcomer: bool,
    /// A newcomer claim's chance of being drawn, a fraction of 2^64 (0 before its draw and for
    /// other claims): drawn by the seed and verified, it pays `reward / p`.
    pub lottery_p: u64,
    /// The validators a drawn proof's re-execution falls to ([`crate::draw::replayers`]): the
    /// fewest, in an order the draw's seed picks, that hold more than a third of the draw set's
    /// power. Others re-execute it only if it is disputed or still undecided long after its
    /// draw (`ARCHITECTURE.md`, "Shared replay"). Empty before the draw and for undrawn proofs.
    pub replayers: Vec<Address>,
}

impl ProofRecord {
    /// Batches a validator runs to re-execute it: its training batches, or the forward batches
    /// of its liveness answer ([`crate::proof::liveness_batches`]; counted whole, though each
    /// is about a third of a training batch). 0: nothing minted, never drawn.
    pub fn replay_batches(&self) -> u64 {
        self.batches
            .saturating_add(crate::proof::liveness_batches(self.uptime_secs))
    }

    /// A verdict of "invalid" is on record and the proof is neither voided nor verified: the
    /// reward waits for the dispute to end.
    pub fn disputed(&self) -> bool {
        self.status == ProofStatus::Pending && self.verdicts.iter().any(|v| !v.valid)
    }

    /// A validator called it invalid and the others may still decide: it is disputed, or it
    /// was paid less than a bond period before `now_ms` (fraud proven then still takes its
    /// wallet's bond). Validators re-execute contested proofs.
    pub fn contested(&self, now_ms: u64, bond_period_ms: u64) -> bool {
        self.disputed()
            || (self.status == ProofStatus::Paid
                && now_ms < self.paid_ms.saturating_add(bond_period_ms)
                && self.verdicts.iter().any(|v| !v.valid))
    }
}

/// A FIFO queue's entries `head..tail`.
#[derive(Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct QueueBounds {
    pub head: u64,
    pub tail: u64,
}

/// A registration to check for a first proof at `expires_ms`.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct RegistrationEntry {
    pub node: Address,
    /// The registration's block time: a later registration of the same node is not this one.
    pub registered_at_ms: u64,
    pub expires_ms: u64,
}

/// Diminishing returns, network-wide (see `rewards`): every proof accepted in `window` pays its
/// gross reward times `multiplier_wad`, which the gross the network was paid for in the window
/// before set. One rate for everyone in a window, so splitting work across wallets or nodes
/// changes nothing.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct RewardCurve {
    /// The window (`rewards::window_of`) the fields below belong to.
    pub window: u64,
    /// Gross reward the proofs paid in it so far stand for: each counts `gross × paid / reward`
    /// (`rewards::paid_gross`), so a claim nobody pays (fabricated on an empty bond, voided)
    /// counts nothing and cannot lower everyone's next rate.
    pub gross: Amount,
    /// What one unit of gross pays in it, in 10^18 fixed point (at most 10^18).
    pub multiplier_wad: u128,
}

impl Default for RewardCurve {
    fn default() -> Self {
        RewardCurve {
            window: 0,
            gross: Amount::ZERO,
            multiplier_wad: crate::rewards::WAD,
        }
    }
}

/// The training round now open, and the maturity queue's bounds.
#[derive(Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct TrainingState {
    pub round: u64,
    /// Hash of the weights this round trains from.
    pub model_version: Hash32,
    /// Hash of the outer optimizer's momentum this round's step starts from
    /// ([`crate::round::NO_MOMENTUM`] before the first step).
    pub momentum: Hash32,
    pub opened_ms: u64,
    /// Maturity queue: entries `head..tail` are waiting, oldest first.
    pub queue_head: u64,
    pub queue_tail: u64,
    /// Next queue entry whose sampling is still to be drawn.
    pub sample_head: u64,
    /// Bond release queue: entries `head..tail` are waiting, oldest first.
    pub release_head: u64,
    pub release_tail: u64,
    /// The draw window now open ([`crate::draw`]).
    pub draw: DrawWindow,
    /// Newcomer replay work the draw may still spend, in 2^-64 units of one expected replayed
    /// batch: a bucket of `newcomer_replay_batches_per_hour` refilled over each hour of block
    /// time ([`crate::lottery`]).
    pub newcomer_budget: u128,
    /// Block time of the bucket's last refill.
    pub newcomer_refill_ms: u64,
}

/// The beacon contributions collected for the next draw (see [`crate::draw`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct DrawWindow {
    /// Proofs accepted at or before this height are drawn when the window closes; the window
    /// takes contributions from the blocks after it.
    pub after: u64,
    /// The contributions so far, chained: `H(seed ‖ output)` per contributing block.
    pub seed: Hash32,
    /// Distinct contributors so far, in order.
    pub contributors: Vec<Address>,
    /// Their summed power in the window's validator set ([`DrawSet`]).
    pub power: u64,
    /// A block of the window was not proposed by its first proposer with a valid beacon
    /// signature: every proof the window draws is drawn.
    pub spoiled: bool,
}

/// The validator set a draw window was opened with: who is each height's first proposer, with
/// which power and beacon key. Fixed for the window, so nobody can steer those by staking or
/// registering keys once the window's proofs are committed.
#[derive(Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct DrawSet(pub Vec<DrawMember>);

#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct DrawMember {
    pub address: Address,
    pub power: u64,
    pub beacon_key: Option<BeaconKey>,
}

/// A matured reward's release from its wallet's bond. Every bond period has the same length
/// and block time never goes back, so the queue is ordered by `at_ms`.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct BondRelease {
    pub wallet: Address,
    pub amount: Amount,
    /// The wallet's bond epoch when it was bonded: a forfeiture since voids the release.
    pub epoch: u64,
    pub at_ms: u64,
}

/// A proof waiting for its challenge window to end. Windows are all the same length and block
/// time never goes back, so the queue is ordered by `matures_at_ms`.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct MaturityEntry {
    pub proof: Hash32,
    pub matures_at_ms: u64,
}

/// How a round ended: the result that more than two thirds of validator power attested.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct RoundClose {
    pub result: RoundResult,
    pub result_hash: Hash32,
    pub closed_ms: u64,
    pub closed_height: u64,
    /// Power that attested `result` when it was adopted, and the total power then.
    pub attested_power: u64,
    pub total_power: u64,
}

/// A validator's attestation of a round result.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct RoundAttestation {
    pub validator: Address,
    /// The validator's voting power when it attested.
    pub power: u64,
    /// [`RoundResult::hash`] of what it attested (the result is under `keys::round_result`).
    pub result: Hash32,
}

/// One training round, as the ledger records it.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct RoundRecord {
    pub round: u64,
    pub model_version: Hash32,
    pub opened_ms: u64,
    pub opened_height: u64,
    /// The momentum this round's outer step starts from.
    pub momentum: Hash32,
    /// Proofs accepted in the round (listed under `keys::round_proof`).
    pub proofs: u64,
    /// Training proofs accepted in the round (listed under `keys::round_trained`); frozen at the
    /// deadline.
    pub trained: u64,
    /// Attestations so far, in order (at most one per validator).
    pub attestations: Vec<RoundAttestation>,
    pub close: Option<RoundClose>,
}

impl RoundRecord {
    /// A round that opens at `opened_ms` (block `opened_height`) training `model_version`.
    pub fn opened(
        round: u64,
        model_version: Hash32,
        momentum: Hash32,
        opened_ms: u64,
        opened_height: u64,
    ) -> RoundRecord {
        RoundRecord {
            round,
            model_version,
            opened_ms,
            opened_height,
            momentum,
            proofs: 0,
            trained: 0,
            attestations: Vec::new(),
            close: None,
        }
    }
}
