//! Registrations that lapse: `RegisterNode` is free (a new wallet has nothing to pay with), so
//! a node record that never earns anything must not stay forever. Each registration joins a FIFO
//! queue; `registration_ttl_ms` later, if its node has no accepted proof, the node record is
//! removed. At most `MAX_REGISTRATIONS_PER_BLOCK` registrations enter per block, so at most that
//! many per block of the last `registration_ttl_ms` are alive without a proof, and each block
//! removes at most twice that many (the queue catches up after a gap in blocks).
//!
//! The wallet's account stays (its nonce is what makes every transaction it signed unreplayable);
//! a node whose registration lapsed registers again, as a new node.

use crate::error::StorageError;
use crate::overlay::Overlay;
use crate::params::{Params, MAX_REGISTRATIONS_PER_BLOCK};
use crate::state::{keys, NodeRecord, QueueBounds, RegistrationEntry};
use crate::storage::Storage;

/// Queues the registration of `node` at block time `now_ms`.
pub(crate) fn enqueue<S: Storage>(
    ov: &mut Overlay<'_, S>,
    params: &Params,
    node: crate::crypto::Address,
    now_ms: u64,
) -> Result<(), StorageError> {
    debug_assert!(params.registration_ttl_ms > 0);
    let mut q: QueueBounds = ov.get(keys::REGISTRATION_QUEUE)?.unwrap_or_default();
    ov.put(
        keys::registration(q.tail),
        &RegistrationEntry {
            node,
            registered_at_ms: now_ms,
            expires_ms: now_ms.saturating_add(params.registration_ttl_ms),
        },
    );
    q.tail = q.tail.saturating_add(1);
    ov.put(keys::REGISTRATION_QUEUE.to_vec(), &q);
    Ok(())
}

/// Removes the nodes whose registration lapsed by `now_ms` without an accepted proof.
pub(crate) fn expire_due<S: Storage>(
    ov: &mut Overlay<'_, S>,
    now_ms: u64,
) -> Result<(), StorageError> {
    let mut q: QueueBounds = ov.get(keys::REGISTRATION_QUEUE)?.unwrap_or_default();
    let start = q.head;
    let most = u64::from(MAX_REGISTRATIONS_PER_BLOCK) * 2;
    while q.head < q.tail && q.head - start < most {
        let key = keys::registration(q.head);
        let Some(entry): Option<RegistrationEntry> = ov.get(&key)? else {
            return Err(StorageError::Corrupt {
                key: crate::overlay::show_key(&key),
                reason: "registration queue entry is missing".into(),
            });
        };
        if entry.expires_ms > now_ms {
            break;
        }
        ov.delete(key);
        q.head += 1;
        let node_key = keys::node(&entry.node);
        if let Some(node) = ov.get::<NodeRecord>(&node_key)? {
            let never_proved = node.proofs == 0 && node.pending_proofs.is_empty();
            if never_proved && node.registered_at_ms == entry.registered_at_ms {
                ov.delete(node_key);
            }
        }
    }
    if q.head != start {
        ov.put(keys::REGISTRATION_QUEUE.to_vec(), &q);
    }
    Ok(())
}
