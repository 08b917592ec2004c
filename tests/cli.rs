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
    let summary = neuroshard(&[]);
    assert!(String::from_utf8_lossy(&summary.stdout).contains(&root));
}
