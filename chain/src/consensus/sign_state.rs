//! Double-sign protection inside the signer, after CometBFT's "last sign state".
//!
//! The last vote this validator signed is kept in a small file, written and synced before the
//! signature leaves the signer. Asked later to sign another vote for the same height, round and
//! kind (say, after a crash that Malachite's write-ahead log did not fully record), the signer
//! hands back the vote it signed before; asked to sign below it, it refuses. So a restarted
//! validator never equivocates, whatever consensus asks of it.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use borsh::{BorshDeserialize, BorshSerialize};
use neuroshard_runtime::{Hash32, Signature};

/// What the signer does with a vote it is asked to sign.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Nothing signed at or above this height, round and kind: sign it.
    Sign,
    /// The same height, round and kind was signed for this value: repeat that signature.
    Repeat(Option<Hash32>, Signature),
    /// Below what was last signed: refuse.
    Refuse,
}

/// Where a vote sits in the order of signing: height, round, prevote before precommit.
pub type Step = (u64, i64, bool);

#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
struct LastVote {
    step: Step,
    value: Option<Hash32>,
    signature: Signature,
}

#[derive(Debug, thiserror::Error)]
pub enum SignStateError {
    #[error("cannot read or write the sign state {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the sign state {0} is corrupt; restore it, or remove it only if this key has not signed on any other machine")]
    Corrupt(PathBuf),
}

/// The last vote signed, on disk and in memory.
pub struct SignState {
    path: PathBuf,
    last: Mutex<Option<LastVote>>,
}

impl SignState {
    /// Opens the sign state at `path`; a missing file means nothing was signed yet.
    pub fn open(path: &Path) -> Result<SignState, SignStateError> {
        let last = match fs::read(path) {
            Ok(bytes) => Some(
                borsh::from_slice::<LastVote>(&bytes)
                    .map_err(|_| SignStateError::Corrupt(path.to_owned()))?,
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(source) => {
                return Err(SignStateError::Io {
                    path: path.to_owned(),
                    source,
                })
            }
        };
        Ok(SignState {
            path: path.to_owned(),
            last: Mutex::new(last),
        })
    }

    /// Decides about a vote at `step` for `value` and, when it is to be signed, signs it with
    /// `sign` and records it on disk before returning. `None` if it must not be signed (below the
    /// last signed step, or the record could not be written).
    pub fn sign(
        &self,
        step: Step,
        value: Option<Hash32>,
        sign: impl FnOnce(Option<Hash32>) -> Signature,
    ) -> Option<(Option<Hash32>, Signature)> {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        match decide(last.as_ref(), step) {
            Decision::Refuse => {
                tracing::warn!(?step, "refusing to sign a vote below the last one signed");
                None
            }
            Decision::Repeat(value, signature) => Some((value, signature)),
            Decision::Sign => {
                let record = LastVote {
                    step,
                    value,
                    signature: sign(value),
                };
                if let Err(e) = self.write(&record) {
                    tracing::error!("not signing: {e}");
                    return None;
                }
                let out = (record.value, record.signature);
                *last = Some(record);
                Some(out)
            }
        }
    }

    fn write(&self, record: &LastVote) -> Result<(), SignStateError> {
        let io = |source| SignStateError::Io {
            path: self.path.clone(),
            source,
        };
        let tmp = self.path.with_extension("tmp");
        let bytes = borsh::to_vec(record).map_err(io)?;
        let mut file = fs::File::create(&tmp).map_err(io)?;
        file.write_all(&bytes).map_err(io)?;
        file.sync_all().map_err(io)?;
        fs::rename(&tmp, &self.path).map_err(io)?;
        if let Some(dir) = self.path.parent() {
            fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
        }
        Ok(())
    }
}

fn decide(last: Option<&LastVote>, step: Step) -> Decision {
    match last {
        None => Decision::Sign,
        Some(l) if step > l.step => Decision::Sign,
        Some(l) if step == l.step => Decision::Repeat(l.value, l.signature),
        Some(_) => Decision::Refuse,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("sign-state-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    fn sig(b: u8) -> Signature {
        Signature([b; 64])
    }

    #[test]
    fn a_restarted_signer_repeats_its_vote_and_never_signs_another_or_an_older_one() {
        let d = dir("restart");
        let path = d.join("sign_state");
        let s = SignState::open(&path).unwrap();
        let a = Some([1; 32]);
        assert_eq!(s.sign((5, 0, false), a, |_| sig(1)), Some((a, sig(1))));
        assert_eq!(s.sign((5, 0, true), a, |_| sig(2)), Some((a, sig(2))));
        drop(s);
        // After a crash: asked to precommit nil at the same step, it repeats the signed vote.
        let s = SignState::open(&path).unwrap();
        let again = s.sign((5, 0, true), None, |_| panic!("must not sign"));
        assert_eq!(again, Some((a, sig(2))));
        // Asked for the prevote before it: refused, nothing signed.
        assert_eq!(
            s.sign((5, 0, false), None, |_| panic!("must not sign")),
            None
        );
        assert_eq!(
            s.sign((4, 9, true), None, |_| panic!("must not sign")),
            None
        );
        // Later steps sign as usual.
        assert_eq!(
            s.sign((5, 1, false), None, |_| sig(3)),
            Some((None, sig(3)))
        );
        assert_eq!(s.sign((6, 0, false), a, |_| sig(4)), Some((a, sig(4))));
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn a_corrupt_sign_state_is_refused_not_reset() {
        let d = dir("corrupt");
        let path = d.join("sign_state");
        fs::write(&path, b"not a vote").unwrap();
        assert!(matches!(
            SignState::open(&path),
            Err(SignStateError::Corrupt(_))
        ));
        assert_eq!(fs::read(&path).unwrap(), b"not a vote");
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn nothing_is_signed_when_the_record_cannot_be_written() {
        let d = dir("unwritable");
        let s = SignState::open(&d.join("missing-dir").join("sign_state")).unwrap();
        assert_eq!(s.sign((1, 0, false), None, |_| sig(1)), None);
        let _ = fs::remove_dir_all(&d);
    }
}
