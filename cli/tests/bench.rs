//! `hubctl bench` on a tiny corpus: the tables are printed and the scratch data is removed
//! unless `--keep`.

mod common;

use common::{hubctl, json};
use predicates::prelude::*;

/// The JSON report of a tiny `hubctl bench --json` run in `dir` with `extra` arguments.
fn bench_json(dir: &std::path::Path, extra: &[&str]) -> serde_json::Value {
    let out = hubctl()
        .args([
            "bench",
            "--json",
            "--size",
            "4MiB",
            "--merge-entries",
            "2000",
        ])
        .args(extra)
        .arg("--dir")
        .arg(dir)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    json(&out)
}

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

    let report = bench_json(dir.path(), &["--keep"]);
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
    assert_eq!(merges(&bench_json(dir.path(), &["--merge-in-process"])), 2);
    hubctl()
        .args(["bench", "--merge-only", "--merge-in-process"])
        .assert()
        .failure()
        .code(2);
}
