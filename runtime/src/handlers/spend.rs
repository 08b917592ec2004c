//! `Spend`: pay a provider for inference or data. `burn_bps` (5%) of the amount is burned, the
//! rest goes to the provider.

use crate::amount::Amount;
use crate::crypto::Address;
use crate::ctx::Ctx;
use crate::error::TxError;
use crate::receipt::Event;
use crate::storage::Storage;
use crate::tx::SpendPurpose;

pub(super) fn spend<S: Storage>(
    ctx: &mut Ctx<'_, '_, S>,
    from: Address,
    to: Address,
    amount: Amount,
    purpose: SpendPurpose,
) -> Result<(), TxError> {
    if super::gov::is_escrow(&to) {
        return Err(crate::error::GovError::PaysEscrow.into());
    }
    ctx.debit(&from, amount)?;
    let (burned, rest) = ctx.burn_share(amount)?;
    ctx.credit(&to, rest)?;
    ctx.events.push(Event::Spent {
        from,
        to,
        amount,
        burned,
        purpose,
    });
    Ok(())
}
