//! Protocol parameters. All of them live in genesis (`params`), are stored in state and so are
//! covered by the state root. Rates are integers: amounts in base units, shares in basis points,
//! learning rates in parts per million. See `genesis/README.md` for each one's meaning.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::amount::Amount;
use crate::crypto::Hash32;
use crate::error::GenesisError;

/// Registrations one block takes. They are free (a new wallet holds nothing to pay with), so
/// the cap bounds what fresh keys can add to blocks and state per block; a registration past it
/// fails, and a failing fee-exempt transaction never enters a block, so it waits for the next.
pub const MAX_REGISTRATIONS_PER_BLOCK: u32 = 16;

/// Tokens of the byte-level tokenizer every model version reads: 256 bytes and BOS, EOS, PAD.
/// A model's embedding has exactly this many rows (`model.vocab`).
pub const TOKENIZER_VOCAB: u32 = 259;

/// Economic, consensus-facing and training parameters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    // --- Rewards (FAQ: "How do I earn NEURO?") ---
    /// Minted per training batch, split across the layers a batch crosses.
    pub reward_per_batch: Amount,
    /// Minted per minute of uptime (paid per second, rounded down).
    pub reward_per_uptime_minute: Amount,
    /// Minted per data sample served.
    pub reward_per_sample: Amount,
    /// Diminishing returns: length of a reward window; a window's rate comes from the network's
    /// gross of the window before (`rewards::curve_at`).
    pub diminishing_window_ms: u64,
    /// Diminishing returns: size of each tier of the network's gross reward within a window.
    pub diminishing_tier: Amount,
    /// Diminishing returns: each tier pays this share of the one before it.
    pub diminishing_factor_bps: u16,

    // --- Proof rate limits (measured against block time) ---
    /// How often a node is expected to prove (the node's cadence).
    pub proof_interval_ms: u64,
    /// A node's proofs must be at least this far apart in block time.
    pub min_proof_interval_ms: u64,
    /// Claims are measured over at most this much time since the previous proof.
    pub max_claim_window_ms: u64,
    /// A proof's own timestamp may differ from block time by at most this much.
    pub max_proof_clock_drift_ms: u64,
    /// A registered node that has no accepted proof this long after registering is removed
    /// (`registrations`): free registrations cannot grow the state without bound.
    pub registration_ttl_ms: u64,
    /// Ceiling on one node's training compute, in FLOP/s. The batches a proof may claim per
    /// second follow from it and the model ([`Params::max_batches_per_sec`]).
    pub max_node_flops: u64,
    pub max_inference_tokens_per_sec: u64,
    /// Samples served a proof may claim per second (its own batches' samples, served by the
    /// node it names); at least `max_batches_per_sec × batch_size`.
    pub max_samples_per_sec: u64,

    // --- Spending and fees ---
    /// Share of every spend and fee that is burned (FAQ: 5%).
    pub burn_bps: u16,
    /// Minimum fee of fee-paying transactions (proof registration and proofs pay none).
    pub min_fee: Amount,

    // --- Staking and slashing ---
    pub min_validator_stake: Amount,
    /// Most voting power one validator holds, whatever its stake (1 NEURO of stake = 1 power):
    /// a large holder's extra stake buys no more say over blocks, verdicts and rounds.
    pub max_validator_power: u64,
    pub max_validators: u32,
    pub unbonding_period_ms: u64,
    pub max_unbonding_entries: u32,
    /// Share of a validator's stake (bonded and unbonding) slashed for double signing.
    pub slash_double_sign_bps: u16,
    /// Share of a validator's stake slashed for proven fraud.
    pub slash_fraud_bps: u16,
    /// Downtime: heights per window over which each validator's missed round-0 proposals are
    /// counted (windows end at multiples of it; see `crate::liveness`).
    pub downtime_window_blocks: u64,
    /// Downtime: a validator that missed more than this share of its round-0 proposals in a
    /// window (and at least `liveness::MIN_MISSED` of them) is jailed for downtime.
    pub downtime_max_missed_bps: u16,
    /// Downtime: how long a validator jailed for downtime stays out before it may `Unjail`.
    pub downtime_jail_ms: u64,
    /// Flat penalty for proven fraud by a node, taken from its wallet's balance then stake.
    pub fraud_penalty: Amount,
    /// Share of any slash paid to whoever reported it; the rest is destroyed.
    pub reporter_share_bps: u16,
    /// A matured reward stays in the wallet's **bond** this long before it is released to its
    /// balance: the bond is the collateral of its next claims, and fraud proven inside this
    /// window (after payment too) takes the whole bond back. See `rewards::cover`.
    pub bond_period_ms: u64,

    // --- Proof verification (challenge window and verdicts) ---
    /// A proof's reward is pending (held, unspendable, unminted) this long after the proof is
    /// accepted; it is minted only if no fraud was proven by then.
    pub challenge_window_ms: u64,
    /// Taken from a validator whose verdict on a proof is overruled by a two-thirds majority.
    pub false_verdict_penalty: Amount,
    /// A training round lasts at least this long before validators may close it.
    pub round_length_ms: u64,

    // --- NeuroLLM and training ---
    pub model: ModelParams,
    pub training: TrainingParams,

    // --- NeuroDAO (`crate::gov`) ---
    /// Proposals, deposits, votes and the tally. Absent from a genesis file: the mainnet
    /// defaults.
    #[serde(default = "GovParams::mainnet_defaults")]
    pub gov: GovParams,
}

/// NeuroDAO's rules, as Cosmos SDK's `x/gov` has them: a proposal needs `min_deposit` within
/// `max_deposit_period_ms` to go to a vote, the vote lasts `voting_period_ms` of block time,
/// and a change that passed applies `timelock_blocks` heights later. Voting power is bonded stake
/// (`crate::gov::voting_power`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
#[serde(deny_unknown_fields)]
pub struct GovParams {
    /// Deposit a proposal needs before its vote opens. At submission it must carry at least a
    /// quarter of it.
    pub min_deposit: Amount,
    /// How long a proposal may wait for `min_deposit`; one that never finds it is spam or
    /// unwanted, and its deposits are burned.
    pub max_deposit_period_ms: u64,
    /// How long a vote lasts, in block time.
    pub voting_period_ms: u64,
    /// Share of all voting power that must vote (abstain counts) for a tally to count; below
    /// it the deposit is burned.
    pub quorum_bps: u16,
    /// Share of the yes, no and veto power that must say yes for a proposal to pass.
    pub threshold_bps: u16,
    /// Share of the power that voted at which `veto` rejects the proposal and burns its deposit.
    pub veto_threshold_bps: u16,
    /// Heights between the tally that passed a change and the height it applies at.
    pub timelock_blocks: u64,
}

impl GovParams {
    /// Cosmos Hub's rules (33.4% quorum, 50% threshold, 33.4% veto), a 7-day vote, and a day
    /// of 5 s blocks between a pass and its effect.
    pub fn mainnet_defaults() -> GovParams {
        GovParams {
            min_deposit: Amount::neuro(100),
            max_deposit_period_ms: 14 * 86_400_000,
            voting_period_ms: 7 * 86_400_000,
            quorum_bps: 3_340,
            threshold_bps: 5_000,
            veto_threshold_bps: 3_340,
            timelock_blocks: 17_280,
        }
    }
}

/// The genesis version of NeuroLLM's shape.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelParams {
    pub version: u32,
    pub hidden: u32,
    pub layers: u32,
    pub heads: u32,
    pub kv_heads: u32,
    pub ffn: u32,
    pub vocab: u32,
    pub context: u32,
    pub rope_theta: u32,
    pub tied_embeddings: bool,
}

/// DiLoCo and aggregation settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingParams {
    pub inner_steps: u32,
    pub inner_lr_ppm: u32,
    pub weight_decay_ppm: u32,
    pub warmup_steps: u32,
    pub outer_lr_ppm: u32,
    pub outer_momentum_ppm: u32,
    pub aggregation: Aggregation,
    pub trim_bps: u16,
    /// Share of proofs (and so of claimed batches) each validator re-executes.
    pub verify_sample_bps: u16,
    /// Batches of newcomer claims (bond covering less than half the reward) re-executed per
    /// hour of block time, in expectation, however many are claimed: each window draws its
    /// newcomer claims with chance `min(verify_sample_bps, budget / their batches)`
    /// ([`crate::lottery`]).
    pub newcomer_replay_batches_per_hour: u32,
    /// Sequences per training batch.
    pub batch_size: u32,
    /// Tokens per sequence (at most `model.context`).
    pub seq_len: u32,
    /// Seed of the genesis weights (round 0 starts from `NeuroLlm::new(model, init_seed)` on CPU).
    pub init_seed: u64,
    /// Hash of the genesis weights: round 0's model version.
    #[serde(with = "hex32")]
    pub genesis_model: Hash32,
    /// The training corpus, pinned by content: the BLAKE3 hash of its manifest (each shard's
    /// BLAKE3 hash and length, in order; the last shard, when there are two or more, is the
    /// held-out shard), which is also the name of the blob peers serve the manifest as, so a
    /// node without the corpus fetches it from peers and checks it against this. A proof that
    /// trained on any other corpus is refused as invalid (`TxError::WrongCorpus`), never judged
    /// fraud, and a node whose corpus differs does not train. `neuroshard genesis corpus`
    /// prints a corpus's hash.
    #[serde(with = "hex32")]
    pub corpus: Hash32,
}

/// `Hash32` as 64 hex digits in JSON.
mod hex32 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(h: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(h))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let text = String::deserialize(d)?;
        let mut out = [0u8; 32];
        hex::decode_to_slice(&text, &mut out).map_err(|_| {
            serde::de::Error::custom(format!("{text:?} is not 64 hex digits (a SHA-256 hash)"))
        })?;
        Ok(out)
    }
}

/// Byzantine-robust aggregation rule for pseudo-gradients.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize,
)]
#[serde(rename_all = "snake_case")]
#[borsh(use_discriminant = false)]
pub enum Aggregation {
    Mean,
    TrimmedMean,
    Krum,
    CoordinateMedian,
}

impl Params {
    /// The public network's defaults: the FAQ's numbers, and the earlier prototype's where the FAQ
    /// is silent.
    pub fn mainnet_defaults() -> Params {
        Params {
            reward_per_batch: Amount(500_000_000_000_000), // 0.0005
            reward_per_uptime_minute: Amount(100_000_000_000_000), // 0.0001
            reward_per_sample: Amount(10_000_000_000_000), // 0.00001
            diminishing_window_ms: 86_400_000,
            // Full rate while the network claims under 10^6 NEURO a day (about 23,000 nodes
            // at the FAQ's 43 NEURO/day); what it mints per day stays under twice that.
            diminishing_tier: Amount::neuro(1_000_000),
            diminishing_factor_bps: 5_000,
            proof_interval_ms: 60_000,
            min_proof_interval_ms: 30_000,
            max_claim_window_ms: 120_000,
            registration_ttl_ms: 3_600_000,
            max_proof_clock_drift_ms: 60_000,
            // About one data-centre GPU at its dense bf16 peak; the bootstrap model's 1.86
            // TFLOP per batch allows 537 batches/s, beside 0.01-0.1 on a laptop CPU.
            max_node_flops: 1_000_000_000_000_000,
            max_inference_tokens_per_sec: 5_000,
            max_samples_per_sec: 10_000,
            burn_bps: 500,
            min_fee: Amount(100_000_000_000_000), // 0.0001
            min_validator_stake: Amount::neuro(100),
            max_validator_power: 1_000,
            max_validators: 100,
            unbonding_period_ms: 14 * 86_400_000,
            max_unbonding_entries: 7,
            slash_double_sign_bps: 500,
            slash_fraud_bps: 1_000,
            // About 14 hours at 5 s blocks, as Cosmos SDK chains count (10,000 blocks); jailed
            // above half missed, out for 10 minutes, as the Cosmos Hub.
            downtime_window_blocks: 10_000,
            downtime_max_missed_bps: 5_000,
            downtime_jail_ms: 600_000,
            fraud_penalty: Amount::neuro(10),
            reporter_share_bps: 5_000,
            bond_period_ms: 86_400_000,
            challenge_window_ms: 600_000,
            false_verdict_penalty: Amount::neuro(20),
            round_length_ms: 3_600_000,
            model: ModelParams {
                version: 1,
                hidden: 768,
                layers: 12,
                heads: 12,
                kv_heads: 4,
                ffn: 2_048,
                vocab: TOKENIZER_VOCAB,
                context: 2_048,
                rope_theta: 10_000,
                tied_embeddings: true,
            },
            training: TrainingParams {
                inner_steps: 500,
                inner_lr_ppm: 100,
                weight_decay_ppm: 100_000,
                warmup_steps: 1_000,
                outer_lr_ppm: 700_000,
                outer_momentum_ppm: 900_000,
                aggregation: Aggregation::TrimmedMean,
                trim_bps: 1_000,
                verify_sample_bps: 500,
                // One whole segment per hour: minutes of a GPU validator's time.
                newcomer_replay_batches_per_hour: 500,
                batch_size: 8,
                seq_len: 512,
                init_seed: 0,
                genesis_model: [0; 32],
                // No public corpus is chosen yet: a launch genesis pins its own.
                corpus: [0; 32],
            },
            gov: GovParams::mainnet_defaults(),
        }
    }

    /// Checks every parameter's range; the first bad one is named in the error.
    pub fn validate(&self) -> Result<(), GenesisError> {
        fn bad(name: &'static str, reason: impl Into<String>) -> GenesisError {
            GenesisError::InvalidParam {
                name,
                reason: reason.into(),
            }
        }
        let bps = [
            ("diminishing_factor_bps", self.diminishing_factor_bps),
            ("burn_bps", self.burn_bps),
            ("slash_double_sign_bps", self.slash_double_sign_bps),
            ("slash_fraud_bps", self.slash_fraud_bps),
            ("downtime_max_missed_bps", self.downtime_max_missed_bps),
            ("reporter_share_bps", self.reporter_share_bps),
            ("gov.quorum_bps", self.gov.quorum_bps),
            ("gov.threshold_bps", self.gov.threshold_bps),
            ("gov.veto_threshold_bps", self.gov.veto_threshold_bps),
            ("training.trim_bps", self.training.trim_bps),
            (
                "training.verify_sample_bps",
                self.training.verify_sample_bps,
            ),
        ];
        for (name, value) in bps {
            if value > 10_000 {
                return Err(bad(name, format!("{value} basis points is more than 100%")));
            }
        }
        if self.diminishing_factor_bps == 10_000 {
            return Err(bad(
                "diminishing_factor_bps",
                "must be below 100% for returns to diminish",
            ));
        }
        if self.training.trim_bps >= 5_000 {
            return Err(bad(
                "training.trim_bps",
                "must trim less than half from each side",
            ));
        }
        let nonzero_ms = [
            ("diminishing_window_ms", self.diminishing_window_ms),
            ("proof_interval_ms", self.proof_interval_ms),
            ("min_proof_interval_ms", self.min_proof_interval_ms),
            ("max_claim_window_ms", self.max_claim_window_ms),
            ("unbonding_period_ms", self.unbonding_period_ms),
            ("challenge_window_ms", self.challenge_window_ms),
            ("bond_period_ms", self.bond_period_ms),
            ("round_length_ms", self.round_length_ms),
            ("gov.max_deposit_period_ms", self.gov.max_deposit_period_ms),
            ("gov.voting_period_ms", self.gov.voting_period_ms),
        ];
        for (name, value) in nonzero_ms {
            if value == 0 {
                return Err(bad(name, "must be greater than zero"));
            }
        }
        if self.downtime_window_blocks == 0 {
            return Err(bad("downtime_window_blocks", "must be at least 1"));
        }
        if self.min_proof_interval_ms > self.proof_interval_ms {
            return Err(bad(
                "min_proof_interval_ms",
                "must not exceed proof_interval_ms",
            ));
        }
        if self.registration_ttl_ms < self.proof_interval_ms.saturating_mul(2) {
            return Err(bad(
                "registration_ttl_ms",
                "must be at least twice proof_interval_ms: a new node needs time for its first proof",
            ));
        }
        if self.max_claim_window_ms < self.proof_interval_ms {
            return Err(bad(
                "max_claim_window_ms",
                "must be at least proof_interval_ms",
            ));
        }
        if self.diminishing_tier.is_zero() {
            return Err(bad("diminishing_tier", "must be greater than zero"));
        }
        if self.min_validator_stake.is_zero() {
            return Err(bad("min_validator_stake", "must be greater than zero"));
        }
        if self.max_validator_power == 0 {
            return Err(bad("max_validator_power", "must be at least 1"));
        }
        if self.max_validators == 0 {
            return Err(bad("max_validators", "must be at least 1"));
        }
        if self.max_unbonding_entries == 0 || self.max_unbonding_entries > 64 {
            return Err(bad("max_unbonding_entries", "must be 1..=64"));
        }
        let m = &self.model;
        if m.layers == 0 || m.hidden == 0 || m.heads == 0 || m.kv_heads == 0 || m.ffn == 0 {
            return Err(bad("model", "every dimension must be greater than zero"));
        }
        if m.kv_heads > m.heads || !m.heads.is_multiple_of(m.kv_heads) {
            return Err(bad(
                "model.kv_heads",
                "must divide heads (grouped-query attention)",
            ));
        }
        if !m.hidden.is_multiple_of(m.heads) || !(m.hidden / m.heads).is_multiple_of(2) {
            return Err(bad(
                "model.hidden",
                "must split into heads of even size (RoPE)",
            ));
        }
        if m.vocab != TOKENIZER_VOCAB {
            return Err(bad(
                "model.vocab",
                format!(
                    "{} embedding rows for the byte-level tokenizer's {TOKENIZER_VOCAB} tokens",
                    m.vocab
                ),
            ));
        }
        if m.context == 0 {
            return Err(bad("model.context", "must be at least 1"));
        }
        if self.training.batch_size == 0
            || self.training.seq_len == 0
            || self.training.seq_len > m.context
        {
            return Err(bad(
                "training.seq_len",
                "batch size and sequence length must be at least 1, sequences at most the context",
            ));
        }
        if self.training.inner_steps == 0 {
            return Err(bad("training.inner_steps", "must be at least 1"));
        }
        if self.training.verify_sample_bps == 0 {
            return Err(bad(
                "training.verify_sample_bps",
                "must be above 0: a chain that re-executes no proof can pay for none",
            ));
        }
        if self.training.newcomer_replay_batches_per_hour == 0 {
            return Err(bad(
                "training.newcomer_replay_batches_per_hour",
                "must be at least 1: a newcomer is paid only for checked work",
            ));
        }
        if self.max_batches_per_sec() == 0 {
            return Err(bad(
                "max_node_flops",
                format!(
                    "below one batch per second of this model ({} FLOP per batch)",
                    self.flops_per_batch()
                ),
            ));
        }
        // A minute of uptime is shown by one forward batch, about a third of a training batch's
        // compute (`proof::liveness_batches`): paid more, a machine would earn more answering
        // for many identities than training.
        if self.reward_per_uptime_minute.0.saturating_mul(3) > self.reward_per_batch.0 {
            return Err(bad(
                "reward_per_uptime_minute",
                "above a third of reward_per_batch: a liveness answer (one forward batch a minute) \
                 would pay more per unit of compute than training",
            ));
        }
        let samples_at_full_rate = self
            .max_batches_per_sec()
            .saturating_mul(u64::from(self.training.batch_size));
        if self.max_samples_per_sec < samples_at_full_rate {
            return Err(bad(
                "max_samples_per_sec",
                format!(
                    "below the {samples_at_full_rate} samples per second of a node training at \
                     the batch limit: an honest trainer's served samples would be refused"
                ),
            ));
        }
        self.validate_gov()?;
        self.validate_honest_pay()
    }

    fn validate_gov(&self) -> Result<(), GenesisError> {
        let g = &self.gov;
        let bad = |name, reason: &str| GenesisError::InvalidParam {
            name,
            reason: reason.into(),
        };
        if g.min_deposit.is_zero() {
            return Err(bad(
                "gov.min_deposit",
                "must be greater than zero: proposals would be free to spam",
            ));
        }
        if g.quorum_bps == 0 {
            return Err(bad(
                "gov.quorum_bps",
                "must be above 0: a vote nobody cast would decide",
            ));
        }
        if g.threshold_bps < 5_000 {
            return Err(bad(
                "gov.threshold_bps",
                "must be at least 50%: a minority would decide",
            ));
        }
        if g.veto_threshold_bps == 0 {
            return Err(bad(
                "gov.veto_threshold_bps",
                "must be above 0: every proposal would be vetoed",
            ));
        }
        if g.timelock_blocks == 0 {
            return Err(bad(
                "gov.timelock_blocks",
                "must be at least 1: a passed change applies after the height that tallied it",
            ));
        }
        // Governance must stay able to change itself: no vote may make the next one endless,
        // unreachable or never applied.
        const NINETY_DAYS_MS: u64 = 90 * 86_400_000;
        if g.voting_period_ms > NINETY_DAYS_MS || g.max_deposit_period_ms > NINETY_DAYS_MS {
            return Err(bad(
                "gov.voting_period_ms",
                "votes and deposit periods last at most 90 days",
            ));
        }
        if g.quorum_bps > 6_667 {
            return Err(bad(
                "gov.quorum_bps",
                "at most two thirds: a third of the power staying away must not block every vote",
            ));
        }
        if g.timelock_blocks > 1_000_000 {
            return Err(bad(
                "gov.timelock_blocks",
                "at most 1 000 000 heights (about two months of 5 s blocks)",
            ));
        }
        Ok(())
    }

    /// The structural rules of honest pay (`rewards::cover`): a fabricated claim must have a
    /// negative expected profit. The draw must check some proofs and a caught fraud must cost
    /// something beyond the claim's pay (its collateral is held until its draw or verdict
    /// whatever the bond period). Played, not assumed: [`crate::rewards::fabricated_claim_profit`]
    /// over small, typical and the largest claims, against empty and full bonds.
    fn validate_honest_pay(&self) -> Result<(), GenesisError> {
        let bad = |name, reason: String| GenesisError::InvalidParam { name, reason };
        if self.fraud_penalty.is_zero() {
            return Err(bad(
                "fraud_penalty",
                "must be greater than zero: a caught fabricated claim would cost nothing beyond \
                 its bond"
                    .into(),
            ));
        }
        let largest = self
            .reward_per_batch
            .0
            .saturating_mul(u128::from(self.max_batches_per_sec()))
            .saturating_mul(u128::from(self.max_claim_window_ms / 1_000).max(1));
        for reward in [1, self.reward_per_batch.0, largest] {
            for bond in [0, reward, largest.saturating_mul(10)] {
                let profit = crate::rewards::fabricated_claim_profit(
                    self.training.verify_sample_bps,
                    Amount(reward),
                    Amount(bond),
                    self.fraud_penalty,
                );
                if profit >= 0 {
                    return Err(bad(
                        "training.verify_sample_bps",
                        format!(
                            "a fabricated claim of {} base units against a bond of {bond} would \
                             expect a profit of {profit} base units",
                            reward
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Training FLOP of one batch: forward and backward, `6 × parameters × tokens`.
    pub fn flops_per_batch(&self) -> u128 {
        6 * u128::from(self.model.parameter_count())
            * u128::from(self.training.batch_size)
            * u128::from(self.training.seq_len)
    }

    /// Batches one node may claim per second of block time: its FLOP ceiling over the model's
    /// FLOP per batch (rounded down).
    pub fn max_batches_per_sec(&self) -> u64 {
        let per_batch = self.flops_per_batch().max(1);
        u64::try_from(u128::from(self.max_node_flops) / per_batch).unwrap_or(u64::MAX)
    }
}

impl ModelParams {
    /// NeuroLLM's parameter count at this shape: the embedding (and an untied head), per layer
    /// the attention projections (grouped-query keys and values), the SwiGLU FFN and two RMSNorm
    /// gains, and the final norm.
    pub fn parameter_count(&self) -> u64 {
        let (h, f, v) = (
            u64::from(self.hidden),
            u64::from(self.ffn),
            u64::from(self.vocab),
        );
        let kv = h / u64::from(self.heads.max(1)) * u64::from(self.kv_heads);
        let layer = 2 * h * h + 2 * h * kv + 3 * h * f + 2 * h;
        let head = if self.tied_embeddings { 0 } else { v * h };
        v * h + head + u64::from(self.layers) * layer + h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faq_numbers_are_the_defaults() {
        let p = Params::mainnet_defaults();
        assert_eq!(p.reward_per_batch, "0.0005".parse().unwrap());
        assert_eq!(p.reward_per_uptime_minute, "0.0001".parse().unwrap());
        assert_eq!(p.reward_per_sample, "0.00001".parse().unwrap());
        assert_eq!(p.burn_bps, 500);
        assert_eq!(p.min_validator_stake, Amount::neuro(100));
        assert_eq!(p.training.inner_steps, 500);
        assert_eq!(p.training.outer_lr_ppm, 700_000);
        assert_eq!(p.training.outer_momentum_ppm, 900_000);
        p.validate().unwrap();
    }

    #[test]
    fn the_model_fits_its_tokenizer_and_its_rate_follows_its_flops() {
        let p = Params::mainnet_defaults();
        assert_eq!(p.model.vocab, TOKENIZER_VOCAB);
        // 768 x 12 with 259 embedding rows: 75.7M parameters (303 MB of f32).
        assert_eq!(p.model.parameter_count(), 75_715_584);
        assert_eq!(p.flops_per_batch(), 6 * 75_715_584 * 8 * 512);
        assert_eq!(p.max_batches_per_sec(), 537);
        let mut wide = p.clone();
        wide.model.vocab = 32_000;
        assert!(matches!(
            wide.validate(),
            Err(GenesisError::InvalidParam {
                name: "model.vocab",
                ..
            })
        ));
        let mut unchecked = p.clone();
        unchecked.training.verify_sample_bps = 0;
        assert!(unchecked.validate().is_err());
        let mut slow = p;
        slow.max_node_flops = 1_000;
        assert!(slow.validate().is_err());
    }

    #[test]
    fn out_of_range_parameters_are_named() {
        let mut p = Params::mainnet_defaults();
        p.burn_bps = 10_001;
        assert!(matches!(
            p.validate(),
            Err(GenesisError::InvalidParam {
                name: "burn_bps",
                ..
            })
        ));
        let mut p = Params::mainnet_defaults();
        p.model.kv_heads = 5;
        assert!(matches!(
            p.validate(),
            Err(GenesisError::InvalidParam {
                name: "model.kv_heads",
                ..
            })
        ));
        let mut p = Params::mainnet_defaults();
        p.min_proof_interval_ms = p.proof_interval_ms + 1;
        assert!(p.validate().is_err());
    }
}
