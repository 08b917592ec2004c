//! `Transfer`: move NEURO between accounts. A transfer is not a spend: nothing is burned but the fee.

use crate::amount::Amount;
use crate::crypto::Address;
use crate::ctx::Ctx;
use crate::error::TxError;
use crate::receipt::Event;
use crate::storage::Storage;

pub(super) fn transfer<S: Storage>(
    ctx: &mut Ctx<'_, '_, S>,
    from: Address,
    to: Address,
    amount: Amount,
) -> Result<(), TxError> {
    if super::gov::is_escrow(&to) {
        return Err(crate::error::GovError::PaysEscrow.into());
    }
    ctx.debit(&from, amount)?;
    ctx.credit(&to, amount)?;
    ctx.events.push(Event::Transfer { from, to, amount });
    Ok(())
}
