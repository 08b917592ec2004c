//! `RegisterNode`: a wallet claims a node key (whose consent was checked statelessly); that
//! node's accepted proofs pay this wallet. Free, so it lapses if the node has no accepted proof
//! within `registration_ttl_ms` (`registrations`). A registration is valid only until its
//! `expires_ms`, which comes before that TTL could pass: once its node lapsed, nobody can replay
//! it (a wallet that has no account registers without leaving one: `execute`).

use crate::crypto::{Address, PublicKey};
use crate::ctx::Ctx;
use crate::error::TxError;
use crate::params::MAX_REGISTRATIONS_PER_BLOCK;
use crate::proof::next_data_seed;
use crate::receipt::Event;
use crate::state::NodeRecord;
use crate::storage::Storage;

pub(super) fn register_node<S: Storage>(
    ctx: &mut Ctx<'_, '_, S>,
    wallet: Address,
    node_key: PublicKey,
    expires_ms: u64,
) -> Result<(), TxError> {
    let node = node_key.address();
    let now = ctx.now_ms();
    let latest_ms = now.saturating_add(ctx.params().registration_ttl_ms);
    if expires_ms < now || expires_ms >= latest_ms {
        return Err(TxError::RegistrationOutOfTime {
            expires_ms,
            block_time_ms: now,
            latest_ms,
        });
    }
    if ctx.block.registrations >= MAX_REGISTRATIONS_PER_BLOCK {
        return Err(TxError::RegistrationsFull {
            max: MAX_REGISTRATIONS_PER_BLOCK,
        });
    }
    if ctx.node(&node)?.is_some() {
        return Err(TxError::NodeAlreadyRegistered(node));
    }
    ctx.block.registrations += 1;
    ctx.put_node(
        &node,
        &NodeRecord {
            wallet,
            public_key: node_key,
            registered_at_ms: now,
            last_proof_ms: now,
            next_batch: 0,
            proofs: 0,
            earned: Default::default(),
            data_seed: next_data_seed(&ctx.env.prev_root, &node),
            pending_proofs: Vec::new(),
            segment_head: None,
        },
    );
    let params = ctx.params().clone();
    crate::registrations::enqueue(ctx.ov, &params, node, now)?;
    ctx.events.push(Event::NodeRegistered { node, wallet });
    Ok(())
}
