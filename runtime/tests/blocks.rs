//! Block life cycle, state root and storage: determinism, reopening, corruption, wrong genesis.

mod common;

use common::*;
use neuroshard_runtime::*;

fn transfers(c: &Chain, from: &SecretKey, n: u64) -> Vec<SignedTransaction> {
    let nonce = c.nonce(from);
    (0..n)
        .map(|i| {
            Transaction {
                chain_id: CHAIN.into(),
                nonce: nonce + i,
                fee: c.params().min_fee,
                body: TxBody::Transfer {
                    to: key(100 + i as u8).address(),
                    amount: Amount(1 + i as u128),
                },
            }
            .sign(from)
        })
        .collect()
}

#[test]
fn the_same_blocks_give_the_same_state_root_everywhere() {
    let mut a = Chain::new();
    let mut b = Chain::new();
    assert_eq!(a.ledger.state_root(), b.ledger.state_root());
    let alice = key(1);
    a.earn(&alice, Amount::neuro(1));
    b.earn(&alice, Amount::neuro(1));
    assert_eq!(a.ledger.state_root(), b.ledger.state_root());
    let txs = transfers(&a, &alice, 20);
    a.block(1_000, &txs);
    b.block(1_000, &txs);
    assert_eq!(a.ledger.state_root(), b.ledger.state_root());
    // A different order of the same transactions is a different history.
    let mut c = Chain::new();
    c.earn(&alice, Amount::neuro(1));
    let mut reordered = txs.clone();
    reordered.swap(0, 1);
    let (receipts, _) = c.block(1_000, &reordered);
    assert!(matches!(receipts[0], Err(TxError::NonceFromFuture { .. })));
    assert_ne!(c.ledger.state_root(), a.ledger.state_root());
}

#[test]
fn every_block_changes_the_root_and_reopening_restores_it() {
    let mut c = Chain::new();
    let genesis_root = c.ledger.state_root();
    c.block(1_000, &[]);
    let root1 = c.ledger.state_root();
    assert_ne!(root1, genesis_root, "height and time are in the state");
    let alice = key(1);
    c.earn(&alice, Amount::neuro(1));
    let height = c.ledger.height();
    let root = c.ledger.state_root();
    let account = c.ledger.account(&alice.address()).unwrap();
    let store = std::mem::replace(
        &mut c.ledger,
        Ledger::init_chain(MemoryStorage::new(), &test_genesis()).unwrap(),
    )
    .into_store();
    let reopened = Ledger::open(store).unwrap();
    assert_eq!(reopened.height(), height);
    assert_eq!(reopened.state_root(), root);
    assert_eq!(reopened.account(&alice.address()).unwrap(), account);
}

#[test]
fn an_uncommitted_block_leaves_storage_untouched() {
    let mut c = Chain::new();
    let alice = key(1);
    c.earn(&alice, Amount::neuro(1));
    let root = c.ledger.state_root();
    let height = c.ledger.height();
    let header = BlockHeader {
        height: height + 1,
        time_ms: c.time_ms + 1_000,
        proposer: c.proposer,
        beacon: None,
    };
    c.ledger.begin_block(header).unwrap();
    let tx = transfers(&c, &alice, 1).remove(0).verify().unwrap();
    assert_eq!(c.ledger.deliver_tx(&tx).unwrap().result, Ok(()));
    // Crash before commit: reopen what storage holds.
    let store = std::mem::replace(
        &mut c.ledger,
        Ledger::init_chain(MemoryStorage::new(), &test_genesis()).unwrap(),
    )
    .into_store();
    let reopened = Ledger::open(store).unwrap();
    assert_eq!((reopened.height(), reopened.state_root()), (height, root));
    assert_eq!(
        reopened.account(&key(100).address()).unwrap().balance,
        Amount::ZERO
    );
}

#[test]
fn block_calls_out_of_order_are_refused() {
    let mut c = Chain::new();
    let h = |height, time_ms| BlockHeader {
        height,
        time_ms,
        proposer: Address::default(),
        beacon: None,
    };
    let t = c.time_ms;
    assert!(matches!(
        c.ledger.commit(),
        Err(BlockError::WrongPhase { .. })
    ));
    assert!(matches!(
        c.ledger.end_block(),
        Err(BlockError::WrongPhase { .. })
    ));
    assert_eq!(
        c.ledger.begin_block(h(2, t)),
        Err(BlockError::HeightNotNext { last: 0, got: 2 })
    );
    assert_eq!(
        c.ledger.begin_block(h(1, t - 1)),
        Err(BlockError::TimeWentBack {
            previous: t,
            got: t - 1
        })
    );
    c.ledger.begin_block(h(1, t)).unwrap();
    assert!(matches!(
        c.ledger.begin_block(h(1, t)),
        Err(BlockError::WrongPhase { .. })
    ));
    assert!(matches!(
        c.ledger.commit(),
        Err(BlockError::WrongPhase { .. })
    ));
    c.ledger.end_block().unwrap();
    let tx = transfers(&c, &key(1), 1).remove(0).verify().unwrap();
    assert_eq!(c.ledger.deliver_tx(&tx), Err(TxError::NoBlockInProgress));
    c.ledger.commit().unwrap();
    assert_eq!(c.ledger.height(), 1);
}

#[test]
fn genesis_mismatch_and_empty_stores_are_refused() {
    assert!(matches!(
        Ledger::open(MemoryStorage::new()),
        Err(BlockError::NotInitialized)
    ));
    let c = Chain::new();
    let store = c.ledger.into_store();
    let again = Ledger::init_chain(store.clone(), &test_genesis());
    assert!(matches!(again, Err(BlockError::AlreadyInitialized(ref id)) if id == CHAIN));
    let mut other = test_genesis();
    other.chain_id = "another-chain".into();
    assert!(matches!(
        Ledger::open_or_init(store.clone(), &other),
        Err(BlockError::AlreadyInitialized(_))
    ));
    Ledger::open_or_init(store, &test_genesis()).unwrap();
}

#[test]
fn corrupt_state_gives_typed_errors_not_panics() {
    let mut c = Chain::new();
    let alice = key(1);
    c.earn(&alice, Amount::neuro(1));
    let mut store = std::mem::replace(
        &mut c.ledger,
        Ledger::init_chain(MemoryStorage::new(), &test_genesis()).unwrap(),
    )
    .into_store();
    let mut key_bytes = neuroshard_runtime::state::keys::ACCOUNT_PREFIX.to_vec();
    key_bytes.extend(alice.address().0);
    store.put_raw(&key_bytes, b"garbage");
    let ledger = Ledger::open(store.clone()).unwrap();
    assert!(matches!(
        ledger.account(&alice.address()),
        Err(StorageError::Corrupt { .. })
    ));
    store.put_raw(neuroshard_runtime::state::keys::CHAIN, b"\x01");
    assert!(matches!(
        Ledger::open(store),
        Err(BlockError::Storage(StorageError::Corrupt { .. }))
    ));
}
