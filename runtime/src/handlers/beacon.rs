//! `SetBeaconKey`: a validator that joined by staking registers the BLS key its beacon
//! signatures are checked against (genesis validators have theirs from genesis); it has voting
//! power only from then on. Set once: a
//! validator able to switch keys would have a choice of beacon values. It counts from the next
//! draw window on, whose validator snapshot is taken after it (`crate::draw`).

use crate::beacon::{BeaconKey, BeaconSig};
use crate::crypto::Address;
use crate::ctx::Ctx;
use crate::error::TxError;
use crate::state::keys;
use crate::storage::Storage;

pub(super) fn set_beacon_key<S: Storage>(
    ctx: &mut Ctx<'_, '_, S>,
    who: Address,
    key: &BeaconKey,
    possession: &BeaconSig,
) -> Result<(), TxError> {
    let mut record = ctx.validator(&who)?.ok_or(TxError::UnknownValidator(who))?;
    if record.beacon_key.is_some() {
        return Err(TxError::BeaconKeyAlreadySet(who));
    }
    if !key.verify_possession(possession, ctx.env.chain_id, &who) {
        return Err(TxError::BadBeaconPossession);
    }
    record.beacon_key = Some(*key);
    ctx.ov.put(keys::validator(&who), &record);
    // Its voting power (which needs the key) is recomputed at the end of the block.
    ctx.block.touched.insert(who);
    Ok(())
}
