//! Delivering one verified transaction: authenticate against state, charge the fee and use the
//! nonce, then run the body in a fork that joins the block only on success.

use crate::amount::Amount;
use crate::crypto::Address;
use crate::ctx::{BlockScratch, Ctx, Env};
use crate::error::TxError;
use crate::handlers;
use crate::overlay::Overlay;
use crate::receipt::{Event, Receipt};
use crate::storage::Storage;
use crate::tx::VerifiedTx;

/// Applies `tx`. `Err` means the transaction is invalid here (wrong chain, nonce, unpayable fee)
/// and must not be in a block: nothing was written. `Ok` receipts always charged the fee and used
/// the nonce; their `result` says whether the body took effect.
pub(crate) fn deliver<S: Storage>(
    ov: &mut Overlay<'_, S>,
    env: &Env<'_>,
    block: &mut BlockScratch,
    tx: &VerifiedTx,
) -> Result<Receipt, TxError> {
    let t = tx.tx();
    let sender = tx.sender();
    if t.chain_id != env.chain_id {
        return Err(TxError::WrongChainId {
            expected: env.chain_id.to_owned(),
            got: t.chain_id.clone(),
        });
    }
    let mut ctx = Ctx {
        ov,
        env,
        block,
        events: Vec::new(),
    };
    let mut account = ctx.account(&sender)?;
    if t.nonce < account.nonce {
        return Err(TxError::NonceReplayed {
            expected: account.nonce,
            got: t.nonce,
        });
    }
    if t.nonce > account.nonce {
        return Err(TxError::NonceFromFuture {
            expected: account.nonce,
            got: t.nonce,
        });
    }
    let min_fee = if t.body.is_fee_exempt() {
        Amount::ZERO
    } else {
        env.params.min_fee
    };
    if t.fee < min_fee {
        return Err(TxError::FeeTooLow {
            min: min_fee,
            got: t.fee,
        });
    }
    account.balance = account
        .balance
        .checked_sub(t.fee)
        .ok_or(TxError::InsufficientFunds {
            needed: t.fee,
            available: account.balance,
        })?;
    account.nonce = account.nonce.checked_add(1).ok_or(TxError::Overflow)?;

    // From here on the transaction is in the block: check_and_execute in a fork.
    ctx.ov.begin_fork();
    ctx.put_account(&sender, &account);
    let proposer = env.header.proposer;
    let fee_result = pay_fee(&mut ctx, sender, proposer, t.fee);
    if let Err(e) = fee_result {
        ctx.ov.discard_fork();
        return Err(e);
    }
    ctx.ov.commit_fork();
    let fee_events = std::mem::take(&mut ctx.events);

    ctx.ov.begin_fork();
    let result = handlers::execute(&mut ctx, tx);
    let mut events = fee_events;
    match &result {
        Ok(()) => {
            ctx.ov.commit_fork();
            events.append(&mut ctx.events);
        }
        Err(TxError::Storage(e)) => {
            ctx.ov.discard_fork();
            return Err(TxError::Storage(e.clone()));
        }
        Err(_) => ctx.ov.discard_fork(),
    }
    Ok(Receipt {
        tx_hash: tx.hash(),
        sender,
        fee: t.fee,
        result,
        events,
    })
}

fn pay_fee<S: Storage>(
    ctx: &mut Ctx<'_, '_, S>,
    payer: Address,
    proposer: Address,
    fee: Amount,
) -> Result<(), TxError> {
    if fee.is_zero() {
        return Ok(());
    }
    let (burned, to_proposer) = ctx.burn_share(fee)?;
    ctx.credit(&proposer, to_proposer)?;
    ctx.events.push(Event::FeePaid {
        payer,
        proposer,
        to_proposer,
        burned,
    });
    Ok(())
}
