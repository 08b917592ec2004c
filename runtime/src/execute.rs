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
use crate::tx::{TxBody, VerifiedTx};

/// Applies `tx`. `Err` means the transaction is invalid here (wrong chain, nonce, unpayable fee)
/// and must not be in a block: nothing was written. `Ok` receipts charged the fee and used the
/// nonce; their `result` says whether the body took effect. A registration is the exception: it
/// is in a block only if it takes effect, and one from a wallet with no account uses no nonce
/// ([`register_all_or_nothing`]).
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
    if matches!(t.body, TxBody::RegisterNode { .. }) {
        let existed = ctx.account_exists(&sender)?;
        return register_all_or_nothing(&mut ctx, tx, existed.then_some(account));
    }

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

/// A registration is all or nothing. One that cannot take effect is invalid (never in a block,
/// no nonce used), so replaying a registration is refused, never recorded: while its node is
/// registered the handler refuses it (`NodeAlreadyRegistered`), and by the time the node could
/// lapse the registration has expired. And a wallet with no account registers a node without
/// getting one: registrations are free, so a record (even just a nonce) per fresh wallet would
/// let anyone grow every validator's state forever. Its nonce stays 0 (it paid no fee: it has
/// nothing to pay with). `account` is the sender's account after this transaction's nonce and
/// fee, if it had one.
fn register_all_or_nothing<S: Storage>(
    ctx: &mut Ctx<'_, '_, S>,
    tx: &VerifiedTx,
    account: Option<crate::state::Account>,
) -> Result<Receipt, TxError> {
    let (sender, fee) = (tx.sender(), tx.tx().fee);
    ctx.ov.begin_fork();
    let mut outcome = Ok(());
    if let Some(account) = &account {
        ctx.put_account(&sender, account);
        outcome = pay_fee(ctx, sender, ctx.env.header.proposer, fee);
    }
    let outcome = outcome.and_then(|()| handlers::execute(ctx, tx));
    match outcome {
        Ok(()) => {
            ctx.ov.commit_fork();
            Ok(Receipt {
                tx_hash: tx.hash(),
                sender,
                fee: if account.is_some() { fee } else { Amount::ZERO },
                result: Ok(()),
                events: std::mem::take(&mut ctx.events),
            })
        }
        Err(e) => {
            ctx.ov.discard_fork();
            ctx.events.clear();
            Err(e)
        }
    }
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
