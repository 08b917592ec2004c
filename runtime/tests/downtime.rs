//! Downtime (`neuroshard_runtime::liveness`): a validator that misses most of its round-0
//! proposals in a window loses its voting power until it unjails, and nobody else is touched.

mod common;

use common::*;
use neuroshard_runtime::liveness::MIN_MISSED;
use neuroshard_runtime::*;

const WINDOW: u64 = 40;
const JAIL_MS: u64 = 5_000;

fn genesis() -> Genesis {
    let mut g = test_genesis();
    g.params.downtime_window_blocks = WINDOW;
    g.params.downtime_jail_ms = JAIL_MS;
    g
}

fn power(c: &Chain, who: &SecretKey) -> u64 {
    c.ledger.validator(&who.address()).unwrap().unwrap().power
}

/// Empty blocks (1 s apart) up to the next multiple of the window; every validator update.
fn to_window_end(c: &mut Chain) -> Vec<ValidatorUpdate> {
    let mut updates = Vec::new();
    loop {
        updates.extend(c.block(1_000, &[]).1);
        if c.ledger.height().is_multiple_of(WINDOW) {
            return updates;
        }
    }
}

#[test]
fn an_offline_validator_is_jailed_for_downtime_and_unjails_after_its_time() {
    let mut c = Chain::with_validators(genesis(), 4);
    let keys = c.validators.clone();
    let offline = keys[3].clone();
    // Offline: whenever it is a height's round-0 proposer, another node proposes that block (a
    // later round's proposer, here a non-validator).
    c.validators.retain(|k| k.address() != offline.address());
    let updates = to_window_end(&mut c);
    let record = c.ledger.validator(&offline.address()).unwrap().unwrap();
    let jailed_at = c.time_ms;
    assert_eq!(record.down_until_ms, Some(jailed_at + JAIL_MS));
    assert!(!record.jailed, "downtime is not misbehaviour");
    assert_eq!(record.power, 0);
    assert_eq!(
        updates,
        vec![ValidatorUpdate {
            public_key: offline.public_key(),
            power: 0
        }],
        "consensus drops it, and only it"
    );
    for k in &keys[..3] {
        assert_eq!(power(&c, k), 10, "a validator that proposed is untouched");
    }
    // Back online before its time: refused (and a failing fee-exempt transaction never enters
    // a block, so trying costs nothing and fills nothing).
    let early = c.sign(&offline, TxBody::Unjail).verify().unwrap();
    let checked = c.ledger.check_tx(&early, jailed_at + JAIL_MS - 1);
    assert!(
        matches!(checked, Err(TxError::StillJailedForDowntime { until_ms }) if until_ms == jailed_at + JAIL_MS),
        "{checked:?}"
    );
    // Out of the set, it is nobody's round-0 proposer: the next window counts nothing for it.
    to_window_end(&mut c);
    let record = c.ledger.validator(&offline.address()).unwrap().unwrap();
    assert_eq!(record.liveness, Default::default());
    assert!(c.time_ms >= jailed_at + JAIL_MS);
    // After it: its power comes back at the end of the block.
    let (receipts, updates) = c.block(0, &[c.sign(&offline, TxBody::Unjail)]);
    assert_eq!(receipts[0].as_ref().unwrap().result, Ok(()));
    assert_eq!(
        updates,
        vec![ValidatorUpdate {
            public_key: offline.public_key(),
            power: 10
        }]
    );
    assert_eq!(
        c.ledger
            .validator(&offline.address())
            .unwrap()
            .unwrap()
            .down_until_ms,
        None
    );
    // Unjail is only for the jailed: a second one, or one from a live validator, is refused.
    let again = c.sign(&offline, TxBody::Unjail).verify().unwrap();
    assert_eq!(
        c.ledger.check_tx(&again, c.time_ms).map(|_| ()),
        Err(TxError::NotJailedForDowntime(offline.address()))
    );
    // Online again, it proposes its heights and stays in through the next windows.
    c.validators = keys.clone();
    to_window_end(&mut c);
    to_window_end(&mut c);
    assert_eq!(power(&c, &offline), 10);
}

#[test]
fn a_validator_that_misses_some_but_not_most_of_its_proposals_stays() {
    let mut c = Chain::with_validators(genesis(), 4);
    let flaky = c.validators[0].clone();
    let keys = c.validators.clone();
    // It misses its heights during the first third of each window only.
    for _ in 0..3 {
        while c.ledger.height() % WINDOW < WINDOW / 3 {
            c.validators.retain(|k| k.address() != flaky.address());
            c.block(1_000, &[]);
        }
        c.validators = keys.clone();
        let before = c.ledger.validator(&flaky.address()).unwrap().unwrap();
        to_window_end(&mut c);
        assert!(before.liveness.missed >= 1, "{:?}", before.liveness);
        assert_eq!(power(&c, &flaky), 10);
    }
}

#[test]
fn the_last_active_validator_is_never_jailed() {
    // One validator, whose every block another node proposes: jailing it would stop the chain.
    let mut c = Chain::with_validators(genesis(), 1);
    let only = c.validators[0].clone();
    c.validators.clear();
    to_window_end(&mut c);
    to_window_end(&mut c);
    let record = c.ledger.validator(&only.address()).unwrap().unwrap();
    assert_eq!((record.power, record.down_until_ms), (10, None));

    // Two: the one that is offline goes, the one left is never jailed, even if it misses too.
    let mut c = Chain::with_validators(genesis(), 2);
    c.validators.clear();
    to_window_end(&mut c);
    let powers: Vec<u64> = (201..203).map(|n| power(&c, &key(n))).collect();
    assert!(powers.contains(&0) && powers.contains(&10), "{powers:?}");
}

#[test]
fn a_window_with_few_heights_for_a_validator_does_not_jail_it() {
    // Windows so short that they hold fewer heights than MIN_MISSED: missing all of them is an
    // unlucky stretch, not downtime.
    let mut g = genesis();
    g.params.downtime_window_blocks = u64::from(MIN_MISSED) - 1;
    let mut c = Chain::with_validators(g, 4);
    let quiet = c.validators[1].clone();
    c.validators.retain(|k| k.address() != quiet.address());
    let mut missed = 0;
    for _ in 0..40 {
        c.block(1_000, &[]);
        missed += c
            .ledger
            .validator(&quiet.address())
            .unwrap()
            .unwrap()
            .liveness
            .missed;
    }
    assert!(missed > 0, "it was a round-0 proposer at some heights");
    assert_eq!(power(&c, &quiet), 10);
}
