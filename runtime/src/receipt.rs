//! What applying a transaction did: its result and the events the explorer indexes.

use borsh::{BorshDeserialize, BorshSerialize};

use crate::amount::Amount;
use crate::crypto::{Address, Hash32};
use crate::error::TxError;
use crate::tx::SpendPurpose;

/// One effect of a transaction on balances, stakes or the registry.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
#[borsh(use_discriminant = false)]
pub enum Event {
    FeePaid {
        payer: Address,
        proposer: Address,
        to_proposer: Amount,
        burned: Amount,
    },
    Transfer {
        from: Address,
        to: Address,
        amount: Amount,
    },
    Spent {
        from: Address,
        to: Address,
        amount: Amount,
        burned: Amount,
        purpose: SpendPurpose,
    },
    NodeRegistered {
        node: Address,
        wallet: Address,
    },
    /// A proof was accepted: `amount` (`gross` before diminishing returns) is pending for
    /// `wallet` and is minted at `matures_at_ms` unless fraud is proven first.
    ProofAccepted {
        wallet: Address,
        node: Address,
        gross: Amount,
        amount: Amount,
        first_batch: u64,
        batches: u64,
        matures_at_ms: u64,
    },
    /// A validator's verdict on an accepted proof.
    VerdictGiven {
        validator: Address,
        proof: Hash32,
        valid: bool,
    },
    /// Two thirds of validator power reproduced the proof's work.
    ProofVerified {
        proof: Hash32,
    },
    /// Two thirds of validator power could not reproduce the proof's work: its pending reward
    /// (`voided`, never minted) is cancelled, `taken` is taken from the wallet's holdings and
    /// `voided_pending` from its other pending rewards; `to_reporters` goes to the validators who
    /// found it, `destroyed` is gone.
    FraudProven {
        proof: Hash32,
        node: Address,
        wallet: Address,
        voided: Amount,
        voided_pending: Amount,
        taken: Amount,
        to_reporters: Amount,
        destroyed: Amount,
    },
    /// A validator's verdict was overruled by two thirds of validator power: `taken` destroyed.
    VerdictOverruled {
        validator: Address,
        proof: Hash32,
        taken: Amount,
    },
    /// A validator attested a result for a round.
    RoundAttested {
        round: u64,
        validator: Address,
        result: Hash32,
    },
    /// A validator attested a result other than the one adopted: `taken` destroyed.
    AttestationOverruled {
        round: u64,
        validator: Address,
        taken: Amount,
    },
    /// A round closed; the next one trains from `next_model`.
    RoundClosed {
        round: u64,
        aggregate: Hash32,
        next_model: Hash32,
        proofs: u64,
        eval_loss_micro: u64,
    },
    Staked {
        account: Address,
        amount: Amount,
    },
    UnbondingStarted {
        account: Address,
        amount: Amount,
        matures_at_ms: u64,
    },
    Withdrawn {
        account: Address,
        amount: Amount,
    },
    /// `taken` left the offender: `to_reporter` went to the reporter, `destroyed` is gone.
    Slashed {
        offender: Address,
        reporter: Address,
        taken: Amount,
        to_reporter: Amount,
        destroyed: Amount,
        offence: Hash32,
    },
    ValidatorJailed {
        validator: Address,
    },
    /// A validator jailed for downtime is back (`Unjail`).
    ValidatorUnjailed {
        validator: Address,
    },
    /// NeuroDAO: proposal `id` was submitted.
    ProposalSubmitted {
        id: u64,
        proposer: Address,
    },
    /// NeuroDAO: `amount` went into escrow for proposal `id`.
    Deposited {
        id: u64,
        depositor: Address,
        amount: Amount,
    },
    /// NeuroDAO: `voter` voted on proposal `id`.
    Voted {
        id: u64,
        voter: Address,
        option: crate::gov::VoteOption,
    },
}

impl Event {
    /// Every account this event touches (for per-account history).
    pub fn accounts(&self) -> Vec<Address> {
        match self {
            Event::FeePaid {
                payer, proposer, ..
            } => vec![*payer, *proposer],
            Event::Transfer { from, to, .. } | Event::Spent { from, to, .. } => vec![*from, *to],
            Event::NodeRegistered { node, wallet }
            | Event::ProofAccepted { wallet, node, .. }
            | Event::FraudProven { wallet, node, .. } => vec![*wallet, *node],
            Event::VerdictGiven { validator, .. }
            | Event::VerdictOverruled { validator, .. }
            | Event::RoundAttested { validator, .. }
            | Event::AttestationOverruled { validator, .. } => vec![*validator],
            Event::ProofVerified { .. } | Event::RoundClosed { .. } => Vec::new(),
            Event::Staked { account, .. }
            | Event::UnbondingStarted { account, .. }
            | Event::Withdrawn { account, .. } => vec![*account],
            Event::Slashed {
                offender, reporter, ..
            } => vec![*offender, *reporter],
            Event::ValidatorJailed { validator } | Event::ValidatorUnjailed { validator } => {
                vec![*validator]
            }
            Event::ProposalSubmitted { proposer, .. } => vec![*proposer],
            Event::Deposited { depositor, .. } => vec![*depositor],
            Event::Voted { voter, .. } => vec![*voter],
        }
    }
}

/// The outcome of a transaction included in a block.
///
/// A transaction that passed authentication (signature, chain id, nonce, fee) always pays its fee
/// and uses its nonce; `result` says whether its body took effect. A failed body changes nothing
/// else.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    pub tx_hash: Hash32,
    pub sender: Address,
    pub fee: Amount,
    pub result: Result<(), TxError>,
    pub events: Vec<Event>,
}
