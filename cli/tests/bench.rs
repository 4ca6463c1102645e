//! `hubctl bench` on a tiny corpus: the tables are printed and the scratch data is removed
//! unless `--keep`.

mod common;

use common::{hubctl, json};
use predicates::prelude::*;

#[test]
fn bench_prints_tables_and_cleans_up() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    hubctl()
        .args([
            "bench",
            "--size",
            "4MiB",
            "--merge-entries",
            "2000",
            "--dir",
        ])
        .arg(dir.path())
        .assert()
        .success()
        .stdout(predicate::str::contains("\n.fl\n"))
        .stdout(predicate::str::contains("\n.flist\n"))
        .stdout(predicate::str::contains("verify:"))
        .stdout(predicate::str::contains("merge:"))
        .stdout(predicate::str::contains("gzip -dc floor:"))
        .stderr(predicate::str::contains("preparing"));
    assert!(!dir.path().join("hubctl-bench").exists());

    let out = hubctl()
        .args([
            "bench",
            "--json",
            "--keep",
            "--size",
            "4MiB",
            "--merge-entries",
            "2000",
        ])
        .arg("--dir")
        .arg(dir.path())
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let report = json(&out);
    let steps: Vec<&str> = report["results"]
        .as_array()
        .map(|r| r.iter().filter_map(|m| m["step"].as_str()).collect())
        .unwrap_or_default();
    for step in ["dir", "tar.gz", "verify", "gzip -dc", "merge"] {
        assert!(steps.contains(&step), "{step} missing from {steps:?}");
    }
    assert!(
        report["corpus"]["bytes"]
            .as_u64()
            .is_some_and(|b| b >= 4 << 20)
    );
    assert!(
        dir.path().join("hubctl-bench").is_dir(),
        "--keep keeps the scratch data"
    );

    // Two merge steps (one per format), measured by a child process unless asked otherwise.
    let merges = |report: &serde_json::Value| {
        report["results"]
            .as_array()
            .map(|r| r.iter().filter(|m| m["step"] == "merge").count())
            .unwrap_or_default()
    };
    assert_eq!(merges(&report), 2);
    let out = hubctl()
        .args(["bench", "--json", "--merge-in-process", "--size", "4MiB"])
        .args(["--merge-entries", "2000", "--dir"])
        .arg(dir.path())
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_eq!(merges(&json(&out)), 2);
    hubctl()
        .args(["bench", "--merge-only", "--merge-in-process"])
        .assert()
        .failure()
        .code(2);
}
