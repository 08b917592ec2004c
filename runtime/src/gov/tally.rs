//! Voting power and the tally: pure arithmetic over what the state holds.

use borsh::{BorshDeserialize, BorshSerialize};

use crate::amount::{Amount, BASE_UNITS_PER_NEURO};
use crate::params::GovParams;
use crate::state::ValidatorRecord;

use super::VoteOption;

/// A voter's power: its bonded stake, plus, for a bootstrap validator, its genesis power
/// counted as that many NEURO of stake (1 NEURO of stake buys 1 power in consensus too; genesis
/// mints nothing, so at launch the validators that order blocks are the only voters, and earned
/// stake takes over as it is bonded). A validator jailed for double signing has none; one jailed
/// for downtime keeps its stake's say. Unbonding stake has none.
pub fn voting_power(record: &ValidatorRecord, stake: Amount) -> Amount {
    if record.jailed {
        return Amount::ZERO;
    }
    let genesis = u128::from(record.genesis_power).saturating_mul(BASE_UNITS_PER_NEURO);
    Amount(stake.0.saturating_add(genesis))
}

/// Power per option, and all the power there is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Tally {
    pub yes: Amount,
    pub no: Amount,
    pub abstain: Amount,
    pub veto: Amount,
    /// Every voter's power at the tally, voted or not.
    pub total_power: Amount,
}

/// What a tally decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    Rejected,
    NoQuorum,
    Vetoed,
}

impl Outcome {
    /// Whether the deposit is burned (too few voted, or vetoed).
    pub fn burns_deposit(self) -> bool {
        matches!(self, Outcome::NoQuorum | Outcome::Vetoed)
    }
}

impl Tally {
    pub fn add(&mut self, option: VoteOption, power: Amount) {
        let slot = match option {
            VoteOption::Yes => &mut self.yes,
            VoteOption::No => &mut self.no,
            VoteOption::Abstain => &mut self.abstain,
            VoteOption::Veto => &mut self.veto,
        };
        *slot = slot.saturating_add(power);
    }

    /// Power that voted, abstain included.
    pub fn voted(&self) -> u128 {
        [self.yes, self.no, self.abstain, self.veto]
            .iter()
            .fold(0u128, |s, a| s.saturating_add(a.0))
    }

    /// Cosmos SDK's order: quorum, then veto, then threshold. Shares compare exactly
    /// (`part × 10 000` against `whole × bps`, in 256-bit-safe order: amounts stay below 2^100).
    pub fn outcome(&self, rules: &GovParams) -> Outcome {
        let at_least = |part: u128, whole: u128, bps: u16| {
            part.saturating_mul(10_000) >= whole.saturating_mul(u128::from(bps))
        };
        let above = |part: u128, whole: u128, bps: u16| {
            part.saturating_mul(10_000) > whole.saturating_mul(u128::from(bps))
        };
        let voted = self.voted();
        if voted == 0 || !at_least(voted, self.total_power.0, rules.quorum_bps) {
            return Outcome::NoQuorum;
        }
        if above(self.veto.0, voted, rules.veto_threshold_bps) {
            return Outcome::Vetoed;
        }
        let deciding = voted.saturating_sub(self.abstain.0);
        if deciding > 0 && above(self.yes.0, deciding, rules.threshold_bps) {
            Outcome::Passed
        } else {
            Outcome::Rejected
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::GovParams;

    fn tally(yes: u64, no: u64, abstain: u64, veto: u64, total: u64) -> Tally {
        Tally {
            yes: Amount::neuro(yes),
            no: Amount::neuro(no),
            abstain: Amount::neuro(abstain),
            veto: Amount::neuro(veto),
            total_power: Amount::neuro(total),
        }
    }

    #[test]
    fn quorum_veto_and_threshold_decide_in_that_order() {
        let rules = GovParams::mainnet_defaults(); // 33.4%, 33.4%, 50%
        assert_eq!(tally(0, 0, 0, 0, 100).outcome(&rules), Outcome::NoQuorum);
        assert_eq!(tally(33, 0, 0, 0, 100).outcome(&rules), Outcome::NoQuorum);
        assert_eq!(tally(34, 0, 0, 0, 100).outcome(&rules), Outcome::Passed);
        assert_eq!(tally(60, 0, 0, 40, 100).outcome(&rules), Outcome::Vetoed);
        assert_eq!(tally(50, 50, 0, 0, 100).outcome(&rules), Outcome::Rejected);
        assert_eq!(tally(51, 49, 0, 0, 100).outcome(&rules), Outcome::Passed);
        // Abstain counts for quorum, not for the threshold.
        assert_eq!(tally(2, 1, 40, 0, 100).outcome(&rules), Outcome::Passed);
        assert_eq!(tally(0, 0, 40, 0, 100).outcome(&rules), Outcome::Rejected);
        assert!(Outcome::NoQuorum.burns_deposit() && Outcome::Vetoed.burns_deposit());
        assert!(!Outcome::Rejected.burns_deposit() && !Outcome::Passed.burns_deposit());
    }
}
