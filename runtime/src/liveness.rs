//! Downtime: a validator that stops proposing loses its voting power for a while, as Cosmos SDK
//! chains jail validators that miss blocks.
//!
//! What is counted is each height's *round-0 proposer* ([`crate::beacon::first_proposer`] over
//! the validator set in force for that height, the rule consensus uses). A height whose block
//! someone else proposed (in a later round) is missed by it. Proposals rather than commit
//! signatures, because the ledger sees every block's proposer, and a missing round-0 proposer is
//! what costs the network a consensus round and spoils a draw window (every proof of it is then
//! re-executed, `crate::draw`); which commit signatures past two thirds a block carries is up to
//! its proposer.
//!
//! At every height that is a multiple of `downtime_window_blocks`, each validator that missed
//! more than `downtime_max_missed_bps` of its heights in the window, and at least
//! [`MIN_MISSED`], is jailed for downtime (`ValidatorRecord::down_until_ms`): no voting power
//! until it sends `Unjail`, which it may once `downtime_jail_ms` has passed (its node sends it
//! by itself). Every counter then starts again. A live validator whose proposals sometimes lose
//! to a later round is jailed only if it loses most of them, and the last active validator is
//! never jailed (the chain would stop). Nothing is slashed: the validator only loses its say
//! until it is back.

use std::collections::BTreeSet;

use crate::beacon::first_proposer;
use crate::crypto::Address;
use crate::ctx::BlockHeader;
use crate::error::StorageError;
use crate::overlay::Overlay;
use crate::params::Params;
use crate::state::{keys, ValidatorIndex, ValidatorRecord};
use crate::storage::Storage;

/// Fewest missed heights in a window that jail: a validator with a few heights in a window is
/// not jailed for one unlucky round.
pub const MIN_MISSED: u32 = 3;

/// The round-0 proposer of the next block, from the validator set in force (read before any of
/// its transactions).
pub(crate) fn expected_proposer<S: Storage>(
    ov: &mut Overlay<'_, S>,
    height: u64,
) -> Result<Option<Address>, StorageError> {
    let set = crate::draw::snapshot(ov)?;
    let powers: Vec<_> = set.0.iter().map(|m| (m.address, m.power)).collect();
    Ok(first_proposer(&powers, height).map(|i| powers[i].0))
}

/// Counts block `header` for its round-0 proposer `expected`, and at a window's last height
/// jails the validators that missed too many (adding them to `touched`, whose power the block's
/// end recomputes). Called at the end of every block.
pub(crate) fn on_block<S: Storage>(
    ov: &mut Overlay<'_, S>,
    params: &Params,
    header: &BlockHeader,
    expected: Option<Address>,
    touched: &mut BTreeSet<Address>,
) -> Result<(), StorageError> {
    if let Some(expected) = expected {
        if let Some(mut record) = ov.get::<ValidatorRecord>(&keys::validator(&expected))? {
            record.liveness.expected = record.liveness.expected.saturating_add(1);
            if header.proposer != expected {
                record.liveness.missed = record.liveness.missed.saturating_add(1);
            }
            ov.put(keys::validator(&expected), &record);
        }
    }
    if !header.height.is_multiple_of(params.downtime_window_blocks) {
        return Ok(());
    }
    let index: ValidatorIndex = ov.get(keys::VALIDATOR_INDEX)?.unwrap_or_default();
    let mut records = Vec::with_capacity(index.0.len());
    for address in index.0 {
        if let Some(record) = ov.get::<ValidatorRecord>(&keys::validator(&address))? {
            records.push((address, record));
        }
    }
    let mut active: u64 = records
        .iter()
        .map(|(_, r)| r.power)
        .fold(0, u64::saturating_add);
    for (address, mut record) in records {
        let window = std::mem::take(&mut record.liveness);
        let down = window.missed >= MIN_MISSED
            && u128::from(window.missed) * 10_000
                > u128::from(window.expected) * u128::from(params.downtime_max_missed_bps)
            && record.power > 0
            && active > record.power;
        if down {
            active -= record.power;
            record.down_until_ms = Some(header.time_ms.saturating_add(params.downtime_jail_ms));
            touched.insert(address);
        }
        if down || window != Default::default() {
            ov.put(keys::validator(&address), &record);
        }
    }
    Ok(())
}
