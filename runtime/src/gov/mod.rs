//! NeuroDAO: on-chain governance of protocol parameters, as Cosmos SDK's `x/gov` does it.
//!
//! 1. **Submit** (`TxBody::SubmitProposal`): a typed change to named genesis parameters
//!    ([`ParamChange`], checked at once: [`changes`]) and an initial deposit of at least a quarter
//!    of `gov.min_deposit`, held by the escrow account [`ESCROW`].
//! 2. **Deposit** (`TxBody::Deposit`): anyone tops the deposit up; at `min_deposit` the vote
//!    opens for `gov.voting_period_ms`. A proposal that finds no `min_deposit` within
//!    `gov.max_deposit_period_ms` expires and its deposits are burned.
//! 3. **Vote** (`TxBody::Vote`): yes, no, abstain or veto, once per voter. Voting power is bonded
//!    stake ([`voting_power`]), read when the vote closes, so stake moved after voting counts
//!    nowhere twice (unbonding outlasts any vote).
//! 4. **Tally** (at the first block past the vote, [`block`]): below `quorum_bps` of all power
//!    voting, or with veto above `veto_threshold_bps` of the votes, the deposit is burned;
//!    otherwise it is returned, and the proposal passed if yes is above `threshold_bps` of yes,
//!    no and veto. A pass applies at `height + timelock_blocks`: the change is checked again
//!    against the parameters then in force and written, or recorded as failed with the reason.
//!
//! What the FAQ rules out is refused by the runtime ([`changes::apply`]): no proposal sets the
//! model's size or restricts who may take part, and there is no action that mints or moves a
//! balance. Every changed value passes genesis validation, including the structural rules of
//! honest pay (`Params::validate`).
//!
//! Burned deposits are the one burn that is not the FAQ's 5% of a spend or fee: the whole
//! deposit is destroyed and counted in `Supply::burned`.

pub mod architecture;
pub(crate) mod block;
pub mod changes;
pub mod tally;

use borsh::{BorshDeserialize, BorshSerialize};

use crate::amount::Amount;
use crate::crypto::{domain_hash, Address};

pub use architecture::ArchitectureChange;
pub use changes::ParamChange;
pub use tally::{voting_power, Tally};

/// Most parameter changes in one proposal.
pub const MAX_CHANGES: usize = 16;
/// Longest title, in bytes.
pub const MAX_TITLE_BYTES: usize = 140;
/// Most proposals in their deposit period or vote at once. When all are taken, a new proposal
/// displaces the deposit-period proposal holding the smallest deposit if its own is larger (that
/// deposit is returned), so filling the slots with small deposits blocks nobody; filling them
/// with proposals in their vote costs `min_deposit` each, burned without quorum.
pub const MAX_OPEN_PROPOSALS: usize = 16;
/// Most distinct depositors of one proposal (each must refund).
pub const MAX_DEPOSITORS: usize = 32;

/// The account that holds deposits while proposals are open. Its address is a hash with no
/// public key behind it, so no signature can spend from it.
pub const ESCROW: Address = escrow_address();

const fn escrow_address() -> Address {
    // First 20 bytes of SHA-256("neuroshard-gov-escrow-v1"), computed by `escrow_is_a_domain_hash`.
    Address([
        0x59, 0xeb, 0x35, 0x57, 0x74, 0x0f, 0xd2, 0xca, 0x7a, 0x85, 0xc7, 0x79, 0xa6, 0xc0, 0xa0,
        0xd6, 0x7a, 0x78, 0xf3, 0xa2,
    ])
}

/// The escrow address as derived: `SHA-256("neuroshard-gov-escrow-v1" ‖ 0)`'s first 20 bytes.
pub fn derive_escrow() -> Address {
    let h = domain_hash(b"neuroshard-gov-escrow-v1", &[]);
    let mut a = [0u8; 20];
    a.copy_from_slice(&h[..20]);
    Address(a)
}

/// What a proposal does if it passes.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
#[borsh(use_discriminant = false)]
pub enum ProposalAction {
    /// Set named genesis parameters (`reward_per_batch`, `gov.quorum_bps`, …) to new values.
    SetParams(Vec<ParamChange>),
    /// Change NeuroLLM's architecture: a new model version that the next training round
    /// trains, from the weights the round before produced ([`architecture`]).
    Architecture(ArchitectureChange),
}

/// A voter's choice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
#[borsh(use_discriminant = false)]
pub enum VoteOption {
    Yes,
    No,
    Abstain,
    /// No, and burn the deposit if enough agree (`gov.veto_threshold_bps`).
    Veto,
}

impl VoteOption {
    pub fn name(self) -> &'static str {
        match self {
            VoteOption::Yes => "yes",
            VoteOption::No => "no",
            VoteOption::Abstain => "abstain",
            VoteOption::Veto => "veto",
        }
    }

    pub fn parse(s: &str) -> Option<VoteOption> {
        match s {
            "yes" => Some(VoteOption::Yes),
            "no" => Some(VoteOption::No),
            "abstain" => Some(VoteOption::Abstain),
            "veto" | "no_with_veto" => Some(VoteOption::Veto),
            _ => None,
        }
    }
}

/// Where a proposal stands.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
#[borsh(use_discriminant = false)]
pub enum ProposalStatus {
    /// Waiting for `min_deposit` until `deposit_end_ms`.
    DepositPeriod,
    /// Open for votes until `voting_end_ms`.
    Voting,
    /// Passed; applies at `activation_height`.
    Passed { activation_height: u64 },
    /// An architecture change whose height came at `height`: it applies when the next
    /// training round opens.
    NextRound { height: u64 },
    /// Yes did not reach the threshold; deposit returned.
    Rejected,
    /// Too few voted; deposit burned.
    NoQuorum,
    /// Veto above its threshold; deposit burned.
    Vetoed,
    /// Never found `min_deposit`; deposit burned.
    Expired,
    /// Pushed out of its deposit period by a proposal with a larger deposit when every slot
    /// was taken ([`MAX_OPEN_PROPOSALS`]); deposit returned.
    Displaced,
    /// Its change was written at `height`.
    Applied { height: u64 },
    /// Passed, but at `height` its change no longer held against the parameters then in force.
    Failed { height: u64, reason: String },
}

impl ProposalStatus {
    pub fn name(&self) -> &'static str {
        match self {
            ProposalStatus::DepositPeriod => "deposit",
            ProposalStatus::Voting => "voting",
            ProposalStatus::Passed { .. } => "passed",
            ProposalStatus::NextRound { .. } => "nextRound",
            ProposalStatus::Rejected => "rejected",
            ProposalStatus::NoQuorum => "noQuorum",
            ProposalStatus::Vetoed => "vetoed",
            ProposalStatus::Expired => "expired",
            ProposalStatus::Displaced => "displaced",
            ProposalStatus::Applied { .. } => "applied",
            ProposalStatus::Failed { .. } => "failed",
        }
    }
}

/// A proposal as the state records it.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Proposal {
    pub id: u64,
    pub proposer: Address,
    pub title: String,
    pub action: ProposalAction,
    pub submitted_height: u64,
    pub submitted_ms: u64,
    pub deposit_end_ms: u64,
    /// Set when the deposit reached `min_deposit`.
    pub voting_start_ms: Option<u64>,
    pub voting_end_ms: Option<u64>,
    /// Who deposited how much (at most [`MAX_DEPOSITORS`]), in order of first deposit.
    pub deposits: Vec<(Address, Amount)>,
    pub total_deposit: Amount,
    /// Votes cast so far.
    pub voters: u32,
    /// The final tally, once the vote closed.
    pub tally: Option<Tally>,
    pub status: ProposalStatus,
}

/// Proposal bookkeeping: the next id, the open proposals and the passed ones waiting for
/// their height.
#[derive(Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct GovState {
    pub next_id: u64,
    /// In their deposit period or vote, by id.
    pub open: Vec<u64>,
    /// Passed and waiting for their activation height, by id.
    pub queued: Vec<u64>,
    /// The architecture the next training round opens with, and the proposals that made it.
    pub next_architecture: Option<(Vec<u64>, crate::params::ModelParams)>,
}

/// NeuroLLM's architecture by round: each entry is the shape every round from `from_round` on
/// trains (until the next entry). Empty until NeuroDAO first changes it: genesis's shape.
#[derive(Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct ArchitectureHistory(pub Vec<(u64, crate::params::ModelParams)>);

impl ArchitectureHistory {
    /// The shape round `round` trains, given the genesis one.
    pub fn at(
        &self,
        round: u64,
        genesis: &crate::params::ModelParams,
    ) -> crate::params::ModelParams {
        self.0
            .iter()
            .rev()
            .find(|(from, _)| *from <= round)
            .map_or_else(|| genesis.clone(), |(_, m)| m.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escrow_is_a_domain_hash() {
        assert_eq!(ESCROW, derive_escrow(), "{}", derive_escrow());
    }
}
