//! A small chain harness over the in-memory store: deterministic keys, a block clock, and helpers
//! to earn NEURO the only way there is (proofs).
#![allow(dead_code)]

use neuroshard_runtime::beacon::{BeaconSecret, BeaconSig};
use neuroshard_runtime::evidence::SignedProof;
use neuroshard_runtime::proof::{Proof, Role, WorkMetrics};
use neuroshard_runtime::tx::node_registration_digest;
use neuroshard_runtime::*;

pub const CHAIN: &str = "neuroshard-dev-1";

pub fn key(n: u8) -> SecretKey {
    let mut bytes = [0u8; 32];
    bytes[31] = n;
    bytes[0] = 0x42;
    SecretKey::from_bytes(&bytes).unwrap()
}

pub fn neuro(s: &str) -> Amount {
    s.parse().unwrap()
}

/// The dev genesis with 1 NEURO per batch, so that tests earn quickly. Every proof is drawn
/// for re-execution (so each is paid in full once verified: see `Chain::verify_drawn`), and a
/// matured reward leaves the bond a second later.
pub fn test_genesis() -> Genesis {
    let mut g = Genesis::dev();
    g.params.reward_per_batch = Amount::neuro(1);
    g.params.diminishing_tier = Amount::neuro(1_000_000);
    g.params.training.verify_sample_bps = 10_000;
    g.params.bond_period_ms = 1_000;
    // Rounds stay open (taking training proofs) until a test moves past their deadline.
    g.params.round_length_ms = 30 * 24 * 3_600_000;
    g
}

pub struct Chain {
    pub ledger: Ledger<MemoryStorage>,
    pub time_ms: u64,
    pub proposer: Address,
    pub next_batch: std::collections::HashMap<Address, u64>,
    /// Proofs accepted through `prove`, oldest first.
    pub proofs: Vec<Hash32>,
    /// Keys of the validators that `verify_drawn` signs for (the dev validator by default).
    pub validators: Vec<SecretKey>,
    /// Whether blocks come from their draw proposer with its beacon signature (`proposer_of`).
    pub beacons: bool,
}

impl Chain {
    pub fn new() -> Chain {
        Self::with_genesis(test_genesis())
    }

    /// A chain on `genesis` with every proof drawn for re-execution (so a proof is paid in full
    /// once the harness's validators verify it) and a one-second bond period.
    pub fn with_genesis(mut genesis: Genesis) -> Chain {
        genesis.params.training.verify_sample_bps = 10_000;
        genesis.params.bond_period_ms = 1_000;
        let mut c = Self::with_exact_genesis(genesis);
        // Every proof is drawn anyway: blocks come from a non-validator that keeps the fees.
        c.beacons = false;
        c
    }

    pub fn with_exact_genesis(genesis: Genesis) -> Chain {
        let time_ms = genesis.genesis_time_ms().unwrap();
        Chain {
            ledger: Ledger::init_chain(MemoryStorage::new(), &genesis).unwrap(),
            time_ms,
            proposer: key(250).address(),
            next_batch: Default::default(),
            proofs: Vec::new(),
            validators: vec![SecretKey::from_hex_token(genesis::DEV_VALIDATOR_TOKEN).unwrap()],
            beacons: true,
        }
    }

    /// A chain on `genesis` with `n` validators of power 10 (keys 201, 202, …), whose blocks
    /// come from their first proposer with its beacon signature.
    pub fn with_validators(mut genesis: Genesis, n: u8) -> Chain {
        let keys: Vec<SecretKey> = (201..201 + n).map(key).collect();
        genesis.validators = keys
            .iter()
            .map(|k| neuroshard_runtime::genesis::GenesisValidator::for_key("", k, 10))
            .collect();
        let mut c = Chain::with_exact_genesis(genesis);
        c.validators = keys;
        c
    }

    /// The proposer and beacon signature of block `height`: its first proposer's, when blocks
    /// carry beacons and that validator's key is at hand, else `proposer` without one (which
    /// spoils the draw window: every proof is drawn).
    pub fn proposer_of(&self, height: u64) -> (Address, Option<BeaconSig>) {
        let first = self.ledger.draw_proposer(height).unwrap();
        let key = self
            .validators
            .iter()
            .find(|k| self.beacons && Some(k.address()) == first);
        match key {
            Some(k) => (
                k.address(),
                Some(BeaconSecret::derive(k).sign_height(CHAIN, height, &k.address())),
            ),
            None => (self.proposer, None),
        }
    }

    /// The `expires_ms` for a registration sent now.
    pub fn registration_expiry(&self) -> u64 {
        neuroshard_runtime::tx::registration_expiry(&self.params(), self.time_ms)
    }

    pub fn params(&self) -> Params {
        self.ledger.params().clone()
    }

    pub fn nonce(&self, who: &SecretKey) -> u64 {
        self.ledger.account(&who.address()).unwrap().nonce
    }

    pub fn balance(&self, who: &Address) -> Amount {
        self.ledger.account(who).unwrap().balance
    }

    /// Signs `body` from `who` with the next nonce and the minimum fee (none if exempt).
    pub fn sign(&self, who: &SecretKey, body: TxBody) -> SignedTransaction {
        let fee = if body.is_fee_exempt() {
            Amount::ZERO
        } else {
            self.params().min_fee
        };
        Transaction {
            chain_id: CHAIN.into(),
            nonce: self.nonce(who),
            fee,
            body,
        }
        .sign(who)
    }

    /// `who`'s `SetBeaconKey` transaction (its derived key), at its next nonce.
    pub fn beacon_key_tx(&self, who: &SecretKey) -> SignedTransaction {
        let beacon = BeaconSecret::derive(who);
        self.sign(
            who,
            TxBody::SetBeaconKey {
                key: beacon.public_key(),
                possession: beacon.possession(CHAIN, &who.address()),
            },
        )
    }

    /// Applies one block `advance_ms` after the previous one.
    pub fn block(
        &mut self,
        advance_ms: u64,
        txs: &[SignedTransaction],
    ) -> (Vec<Result<Receipt, TxError>>, Vec<ValidatorUpdate>) {
        self.time_ms += advance_ms;
        let height = self.ledger.height() + 1;
        let (proposer, beacon) = self.proposer_of(height);
        let header = BlockHeader {
            height,
            time_ms: self.time_ms,
            proposer,
            beacon,
        };
        self.ledger.begin_block(header).unwrap();
        let receipts = txs
            .iter()
            .map(|tx| {
                let verified = tx.clone().verify()?;
                self.ledger.deliver_tx(&verified)
            })
            .collect();
        let updates = self.ledger.end_block().unwrap();
        self.ledger.commit().unwrap();
        (receipts, updates)
    }

    /// Applies one transaction in its own block (1 s later) and returns its receipt.
    pub fn apply(&mut self, tx: SignedTransaction) -> Result<Receipt, TxError> {
        self.block(1_000, &[tx]).0.remove(0)
    }

    /// Applies one transaction that must succeed.
    pub fn ok(&mut self, tx: SignedTransaction) -> Receipt {
        let receipt = self.apply(tx).expect("transaction is valid");
        assert_eq!(receipt.result, Ok(()), "transaction failed");
        receipt
    }

    /// Registers `node` to `wallet`.
    pub fn register(&mut self, wallet: &SecretKey, node: &SecretKey) {
        let sig = node.sign_digest(&node_registration_digest(CHAIN, &wallet.address()));
        let tx = self.sign(
            wallet,
            TxBody::RegisterNode {
                node_key: node.public_key(),
                node_signature: sig,
                expires_ms: self.registration_expiry(),
            },
        );
        self.ok(tx);
    }

    pub fn proof(&self, node: &SecretKey, metrics: WorkMetrics) -> Proof {
        let training = self.ledger.training().unwrap();
        let data_seed = self
            .ledger
            .node(&node.address())
            .unwrap()
            .map(|n| n.data_seed)
            .unwrap_or_default();
        Proof {
            role: Role::Driver,
            layer_start: 0,
            layer_end: self.params().model.layers,
            round: training.round,
            model_version: training.model_version,
            data_seed,
            data_shard: self.params().training.corpus,
            pseudo_gradient: [3; 32],
            start_state: [0; 32],
            end_state: [0; 32],
            first_batch: *self.next_batch.get(&node.address()).unwrap_or(&0),
            metrics,
            data_server: None,
            timestamp_ms: self.time_ms,
        }
    }

    /// Submits a proof of `batches` batches, `wait_ms` of block time after the previous block.
    pub fn prove(
        &mut self,
        node: &SecretKey,
        batches: u64,
        wait_ms: u64,
    ) -> Result<Receipt, TxError> {
        self.time_ms += wait_ms - 1_000;
        let proof = self.proof(
            node,
            WorkMetrics {
                batches,
                ..Default::default()
            },
        );
        let tx = self.sign(node, TxBody::SubmitProof(proof));
        let hash = tx.hash();
        let receipt = self.apply(tx);
        if matches!(&receipt, Ok(r) if r.result.is_ok()) {
            *self.next_batch.entry(node.address()).or_default() += batches;
            self.proofs.push(hash);
        }
        receipt
    }

    /// Submits one proof of `batches` from each of `nodes` in one block, 10 s after the last:
    /// their transaction hashes and receipts (each node's next batch moves on if accepted).
    pub fn claims_in_one_block(
        &mut self,
        nodes: &[SecretKey],
        batches: u64,
    ) -> (Vec<Hash32>, Vec<Result<Receipt, TxError>>) {
        self.time_ms += 9_000;
        let txs: Vec<SignedTransaction> = nodes
            .iter()
            .map(|n| {
                let p = self.proof(
                    n,
                    WorkMetrics {
                        batches,
                        ..Default::default()
                    },
                );
                self.sign(n, TxBody::SubmitProof(p))
            })
            .collect();
        let ids = txs.iter().map(|t| t.hash()).collect();
        let (receipts, _) = self.block(1_000, &txs);
        for (n, r) in nodes.iter().zip(&receipts) {
            if matches!(r, Ok(r) if r.result.is_ok()) {
                *self.next_batch.entry(n.address()).or_default() += batches;
            }
        }
        (ids, receipts)
    }

    /// The replayers of every drawn proof still waiting for a verdict re-execute it and find
    /// it valid (one block of verdicts, after one for the draw), as validator nodes do: the
    /// others never see it.
    pub fn verify_drawn(&mut self) {
        self.block(1_000, &[]);
        let mut txs = Vec::new();
        let mut nonces: std::collections::HashMap<Address, u64> = Default::default();
        let drawn: Vec<(Hash32, state::ProofRecord)> = self
            .ledger
            .store()
            .scan_prefix(state::keys::PROOF_PREFIX)
            .map(|(k, v)| {
                let id: Hash32 = k[state::keys::PROOF_PREFIX.len()..].try_into().unwrap();
                (id, borsh::from_slice(v).unwrap())
            })
            .collect();
        for (id, p) in &drawn {
            if p.sampled != Some(true) || p.status != state::ProofStatus::Pending {
                continue;
            }
            for v in &self.validators {
                if !p.replayers.contains(&v.address())
                    || p.verdicts.iter().any(|x| x.validator == v.address())
                {
                    continue;
                }
                let n = nonces
                    .entry(v.address())
                    .or_insert_with(|| self.ledger.account(&v.address()).unwrap().nonce);
                txs.push(
                    Transaction {
                        chain_id: CHAIN.into(),
                        nonce: *n,
                        fee: Amount::ZERO,
                        body: TxBody::Verdict {
                            proof: *id,
                            valid: true,
                        },
                    }
                    .sign(v),
                );
                *n += 1;
            }
        }
        if !txs.is_empty() {
            self.block(1_000, &txs);
        }
    }

    /// Gives `wallet` at least `amount` by registering a fresh node and proving work.
    pub fn earn(&mut self, wallet: &SecretKey, amount: Amount) {
        let node = SecretKey::from_entropy(neuroshard_runtime::crypto::domain_hash(
            b"test-node",
            &[
                wallet.address().0.as_slice(),
                &self.ledger.height().to_le_bytes(),
            ]
            .concat(),
        ));
        self.register(wallet, &node);
        let per_proof = 500u64; // batches: one whole segment (10 s of block time allows 1 000)
        let held = |c: &Chain| {
            let a = c.ledger.account(&wallet.address()).unwrap();
            a.balance.saturating_add(a.pending)
        };
        while held(self) < amount {
            let r = self.prove(&node, per_proof, 10_000).unwrap();
            assert_eq!(r.result, Ok(()));
        }
        self.mature();
    }

    /// The harness's validators verify every drawn proof that waits for a verdict
    /// ([`Chain::verify_drawn`]), then an empty block one challenge window later (every pending
    /// reward is minted into its wallet's bond), then one a bond period later (bonds are
    /// released). `mature_unverified` skips the verdicts.
    pub fn mature(&mut self) {
        self.verify_drawn();
        self.mature_unverified();
    }

    pub fn mature_unverified(&mut self) {
        let window = self.params().challenge_window_ms;
        self.block(window, &[]);
        let bond = self.params().bond_period_ms;
        self.block(bond, &[]);
    }

    /// The dev validator's verdict on `proof` (valid or not), applied in a block of its own.
    pub fn dev_verdict(&mut self, proof: Hash32, valid: bool) -> Receipt {
        let validator = SecretKey::from_hex_token(genesis::DEV_VALIDATOR_TOKEN).unwrap();
        self.apply(self.sign(&validator, TxBody::Verdict { proof, valid }))
            .unwrap()
    }

    pub fn pending(&self, who: &Address) -> Amount {
        self.ledger.account(who).unwrap().pending
    }

    /// Sum of everything every account holds, read straight from the store.
    pub fn total_holdings(&self) -> u128 {
        self.ledger
            .store()
            .scan_prefix(neuroshard_runtime::state::keys::ACCOUNT_PREFIX)
            .map(|(_, v)| {
                let acct: neuroshard_runtime::state::Account = borsh::from_slice(v).unwrap();
                acct.holdings().0
            })
            .sum()
    }

    pub fn assert_supply_invariant(&self) {
        let s = self.ledger.supply().unwrap();
        let pending: u128 = self
            .ledger
            .store()
            .scan_prefix(neuroshard_runtime::state::keys::ACCOUNT_PREFIX)
            .map(|(_, v)| {
                let acct: neuroshard_runtime::state::Account = borsh::from_slice(v).unwrap();
                acct.pending.0
            })
            .sum();
        assert_eq!(pending, s.pending.0, "pending rewards != supply.pending");
        assert_eq!(
            self.total_holdings(),
            s.minted.0 - s.burned.0 - s.slashed.0,
            "holdings != minted - burned - slashed ({s:?})"
        );
    }
}

pub fn signed_proof(tx: &SignedTransaction) -> SignedProof {
    SignedProof::from_signed(tx).unwrap()
}
