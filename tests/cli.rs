//! The `neuroshard` binary end to end: genesis validation exit codes and messages.

use std::process::Command;

fn neuroshard(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_neuroshard"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run neuroshard")
}

#[test]
fn dev_genesis_validates() {
    let out = neuroshard(&["genesis", "validate", "genesis/dev.json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("neuroshard-dev-1"));
}

#[test]
fn a_premine_is_rejected_with_a_clear_message() {
    let dir = std::env::temp_dir().join(format!("neuroshard-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut g: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string("genesis/dev.json").unwrap()).unwrap();
    g["accounts"] = serde_json::json!([{"address": "0x00000000000000000000000000000000000000aa", "balance": "1000000"}]);
    let file = dir.join("premine.json");
    std::fs::write(&file, g.to_string()).unwrap();
    let out = neuroshard(&["genesis", "validate", file.to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("pre-mine rejected"), "{stderr}");
    assert!(
        stderr.contains("0x00000000000000000000000000000000000000aa"),
        "{stderr}"
    );

    let out = neuroshard(&[
        "genesis",
        "validate",
        dir.join("missing.json").to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read genesis file"));
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn genesis_root_is_deterministic_and_printed_by_dev_summary() {
    let a = neuroshard(&["genesis", "root", "genesis/dev.json"]);
    let b = neuroshard(&["genesis", "root", "genesis/dev.json"]);
    assert!(a.status.success());
    let root = String::from_utf8_lossy(&a.stdout).trim().to_owned();
    assert_eq!(root.len(), 64);
    assert_eq!(a.stdout, b.stdout);
    let summary = neuroshard(&["genesis", "summary"]);
    assert!(String::from_utf8_lossy(&summary.stdout).contains(&root));
}

#[cfg(feature = "training")]
#[test]
fn train_split_assemble_and_generate_end_to_end() {
    let dir = std::env::temp_dir().join(format!("neuroshard-cli-train-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let ckpt = dir.join("model.safetensors");
    let ckpt_s = ckpt.to_str().unwrap();
    let out = neuroshard(&[
        "train",
        "--preset",
        "tiny",
        "--steps",
        "5",
        "--seq-len",
        "16",
        "--batch-size",
        "4",
        "--checkpoint",
        ckpt_s,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("trained 5 batches"), "{stdout}");
    let trained_weights = stdout
        .lines()
        .find(|l| l.starts_with("work:"))
        .unwrap()
        .split_whitespace()
        .last()
        .unwrap()
        .to_owned();

    // Resume: the checkpoint is picked up and training continues.
    let again = neuroshard(&[
        "train",
        "--preset",
        "tiny",
        "--steps",
        "2",
        "--seq-len",
        "16",
        "--batch-size",
        "4",
        "--checkpoint",
        ckpt_s,
    ]);
    assert!(again.status.success());
    let resumed = String::from_utf8_lossy(&again.stdout);
    assert!(
        resumed.contains(&format!("model version {trained_weights} ->")),
        "did not resume from the checkpoint: {resumed}"
    );

    let shards = dir.join("shards");
    let split = neuroshard(&[
        "checkpoint",
        "split",
        ckpt_s,
        "--stages",
        "2",
        "--out",
        shards.to_str().unwrap(),
    ]);
    assert!(
        split.status.success(),
        "{}",
        String::from_utf8_lossy(&split.stderr)
    );
    let whole = dir.join("whole.safetensors");
    let assembled = neuroshard(&[
        "checkpoint",
        "assemble",
        shards.to_str().unwrap(),
        "--out",
        whole.to_str().unwrap(),
    ]);
    assert!(
        assembled.status.success(),
        "{}",
        String::from_utf8_lossy(&assembled.stderr)
    );
    assert!(
        std::fs::read(&whole).unwrap() == std::fs::read(&ckpt).unwrap(),
        "assembling the shards gives back the same file"
    );

    let gen = neuroshard(&[
        "generate",
        "--checkpoint",
        whole.to_str().unwrap(),
        "--prompt",
        "ab",
        "--max-tokens",
        "8",
    ]);
    assert!(
        gen.status.success(),
        "{}",
        String::from_utf8_lossy(&gen.stderr)
    );
    assert!(String::from_utf8_lossy(&gen.stdout).starts_with("ab"));

    let missing = neuroshard(&[
        "generate",
        "--checkpoint",
        dir.join("nope").to_str().unwrap(),
        "--prompt",
        "x",
    ]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("No such file"));
    std::fs::remove_dir_all(dir).ok();
}

/// A token is a secret: no command takes it as an argument (every user of the machine can read
/// argument lists), and a wrong one in NEUROSHARD_TOKEN is refused without being echoed.
#[test]
fn no_command_takes_a_token_as_an_argument() {
    let secret = "aa".repeat(32);
    for args in [
        vec!["wallet", "--token", secret.as_str(), "address"],
        vec!["--token", secret.as_str(), "--no-training"],
        vec!["infer", "--prompt", "hi", "--token", secret.as_str()],
    ] {
        let out = neuroshard(&args);
        assert!(!out.status.success(), "{args:?} was accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("unexpected argument"), "{args:?}: {err}");
    }
    let home = std::env::temp_dir().join(format!("ns-cli-token-{}", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_neuroshard"))
        .args(["wallet", "address"])
        .env("NEUROSHARD_HOME", &home)
        .env("NEUROSHARD_TOKEN", "")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let _ = std::fs::remove_dir_all(&home);
}

#[test]
fn a_passphrase_token_opens_one_wallet_per_chain_and_needs_the_chain_named() {
    let home = std::env::temp_dir().join(format!("ns-cli-pass-{}", std::process::id()));
    let address = |chain: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_neuroshard"));
        cmd.args(["wallet", "address"])
            .env("NEUROSHARD_HOME", &home)
            .env("NEUROSHARD_TOKEN", "correct horse battery staple")
            .env_remove("NEUROSHARD_CHAIN_ID");
        if let Some(c) = chain {
            cmd.args(["--chain-id", c]);
        }
        let out = cmd.output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).trim().to_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // No chain named and none pinned: refused with what to do, never a guess.
    let (ok, _, err) = address(None);
    assert!(!ok);
    assert!(err.contains("--chain-id"), "{err}");
    // The same passphrase: the same wallet on one chain, another on the next.
    let (ok_a, a, err) = address(Some("neuroshard-1"));
    assert!(ok_a, "{err}");
    let (_, again, _) = address(Some("neuroshard-1"));
    let (_, dev, _) = address(Some("neuroshard-dev-1"));
    assert!(a.starts_with("0x") && a.len() == 42, "{a}");
    assert_eq!(a, again);
    assert_ne!(a, dev);
    let _ = std::fs::remove_dir_all(&home);
}
