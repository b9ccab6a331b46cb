//! The `tidemark` binary as a person runs it: the README's commands.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn tidemark(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tidemark"))
        .args(args)
        .current_dir(workspace())
        .output()
        .expect("run tidemark")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn run_prints_each_day_exits_non_zero_on_the_bad_file_then_history_shows_a_key() {
    let lake = tempfile::tempdir().unwrap();
    let lake_arg = lake.path().to_str().unwrap();
    let config = "examples/demo/tidemark.toml";
    let out = tidemark(&[
        "run",
        "--config",
        config,
        "--lake",
        lake_arg,
        "--time-scale",
        "0",
        "--name",
        "t",
    ]);
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(1), "{shown}");
    for expected in [
        "t-2026-11-01",
        "orders           ok         files 2 landed / 2 accepted / 0 quarantined   rows I 2 U 1 D 0 L 3   versions +5 ~0 -0   history rows 5",
        "customers        ok         files 1 landed / 1 accepted / 0 quarantined   rows I 0 U 1 D 0 L 0   versions +1 ~1 -0   history rows 7",
        "orders           FAILED     files 1 landed / 0 accepted / 1 quarantined",
        "row 2 column status: [not_null]",
        "rerun: tidemark run --config examples/demo/tidemark.toml",
        "select * from demo.customers_current",
    ] {
        assert!(shown.contains(expected), "missing {expected:?} in\n{shown}");
    }

    let out = tidemark(&[
        "history",
        "orders",
        "--key",
        "order_id=101",
        "--config",
        config,
        "--lake",
        lake_arg,
    ]);
    let shown = text(&out);
    assert!(out.status.success(), "{shown}");
    let rows: Vec<&str> = shown.lines().filter(|l| l.starts_with("101 ")).collect();
    assert_eq!(rows.len(), 3, "{shown}");
    assert!(
        rows[0].contains("paid") && rows[1].contains("packed") && rows[2].contains("shipped"),
        "{shown}"
    );
}

#[test]
fn validate_is_a_linter() {
    let replay = "examples/demo/replay/2026-11-04/public";
    let good = format!("{replay}/customers/20261104-070000000.parquet");
    let out = tidemark(&[
        "validate",
        &good,
        "--metadata",
        "examples/demo/metadata/customers.json",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let bad = format!("{replay}/orders/20261104-110000000.parquet");
    let out = tidemark(&[
        "validate",
        &bad,
        "--metadata",
        "examples/demo/metadata/orders.json",
    ]);
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(1), "{shown}");
    assert!(
        shown.contains("1 × not_null in status") && shown.contains("row 2 column status"),
        "{shown}"
    );
}

#[test]
fn sql_prints_the_merge_for_each_engine() {
    for engine in ["duckdb", "athena"] {
        let out = tidemark(&[
            "sql",
            "--table",
            "orders",
            "--engine",
            engine,
            "--config",
            "examples/demo/tidemark.toml",
        ]);
        let shown = text(&out);
        assert!(out.status.success(), "{shown}");
        // Athena's is one MERGE; DuckDB's the same versions, staged, and
        // the history changed from them in three steps.
        let (merges, staged) = match engine {
            "athena" => (1, 0),
            _ => (0, 1),
        };
        assert_eq!(shown.matches("MERGE INTO").count(), merges, "{shown}");
        assert_eq!(
            shown
                .matches("CREATE TEMPORARY TABLE \"merge_source\"")
                .count(),
            staged,
            "{shown}"
        );
        assert_eq!(
            shown.matches("UPDATE \"demo\".\"orders\"").count(),
            staged,
            "{shown}"
        );
        assert!(shown.contains("INSERT INTO \"demo\".\"orders\""), "{shown}");
    }
}

#[test]
fn validate_lints_the_corpus_good_files_pass_bad_files_fail() {
    let corpus = workspace().join("crates/core/tests/fixtures/validation");
    let metadata = corpus.join("accounts.json");
    let files = |prefix: &str| -> Vec<String> {
        let mut files: Vec<String> = std::fs::read_dir(&corpus)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                let name = p.file_name().unwrap().to_string_lossy();
                // Cases with options of their own are checked with those flags below.
                p.is_dir()
                    && name.starts_with(prefix)
                    && !name.contains("null_value")
                    && !name.contains("allowed")
                    && !name.contains("change_seq")
                    && !name.contains("truncated")
            })
            .flat_map(|dir| std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()))
            .filter(|p| p.file_name().unwrap() != "expected.txt")
            .map(|p| p.display().to_string())
            .collect();
        files.sort();
        files
    };
    let run = |files: &[String], extra: &[&str]| {
        let mut args = vec!["validate", "--metadata", metadata.to_str().unwrap()];
        args.extend(extra);
        args.extend(files.iter().map(String::as_str));
        tidemark(&args)
    };

    let good: Vec<String> = [files("good_"), files("quirk_")].concat();
    assert!(good.len() >= 8, "{good:?}");
    let out = run(&good, &[]);
    assert!(out.status.success(), "{}", text(&out));
    let passed = text(&out).lines().filter(|l| l.starts_with("ok ")).count();
    assert_eq!(passed, good.len(), "{}", text(&out));

    let bad = files("bad_");
    let out = run(&bad, &[]);
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(1), "{shown}");
    assert_eq!(shown.matches("FAIL  ").count(), bad.len(), "{shown}");
    for rule in [
        "duplicate_primary_key",
        "enum",
        "pattern",
        "max_length",
        "readable",
        "empty_file",
    ] {
        assert!(
            shown.contains(&format!("× {rule}")),
            "no {rule} in\n{shown}"
        );
    }

    // The options the pipeline reads from tidemark.toml, as flags.
    let case = |name: &str| {
        let dir = corpus.join(name);
        std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path().display().to_string())
            .find(|p| !p.ends_with("expected.txt"))
            .unwrap()
    };
    let unexpected = case("good_unexpected_allowed");
    assert_eq!(
        run(std::slice::from_ref(&unexpected), &[]).status.code(),
        Some(1)
    );
    let out = run(&[unexpected], &["--allow-unexpected"]);
    assert!(
        out.status.success() && text(&out).contains("ignored column(s) colour"),
        "{}",
        text(&out)
    );
    let null_value = case("quirk_csv_null_value");
    assert_eq!(
        run(std::slice::from_ref(&null_value), &[]).status.code(),
        Some(1)
    );
    assert!(
        run(&[null_value], &["--csv-null-value", "NULL"])
            .status
            .success()
    );
    let lsn = ["--change-seq-kind", "lsn"];
    let not_lsn = case("bad_change_seq");
    assert!(run(std::slice::from_ref(&not_lsn), &[]).status.success());
    let out = run(&[not_lsn], &lsn);
    assert!(
        out.status.code() == Some(1) && text(&out).contains("× change_seq"),
        "{}",
        text(&out)
    );
    let cut = [case("bad_truncated")];
    assert!(run(&cut, &[]).status.success(), "64 KB by default");
    let out = run(&cut, &["--lob-max-kb", "1"]);
    assert!(
        out.status.code() == Some(1) && text(&out).contains("× truncated"),
        "{}",
        text(&out)
    );
    let integers = [case("good_change_seq_integer")];
    assert!(
        run(&integers, &["--change-seq-kind", "integer"])
            .status
            .success()
    );
    assert_eq!(run(&integers, &lsn).status.code(), Some(1));

    let out = run(&files("bad_enum"), &["--json"]);
    let line: serde_json::Value = serde_json::from_str(text(&out).lines().next().unwrap()).unwrap();
    assert_eq!(line["accepted"], false);
    assert_eq!(line["findings"]["counts"][0]["rule"], "enum");
    assert_eq!(line["findings"]["sample"][0]["row"], 2);
}

/// The demo copied into `dir`, with orders' `on_invalid` set to `continue`
/// (so its malformed file does not fail every run).
fn demo_copy(dir: &Path) -> PathBuf {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_dir() {
                copy(&entry.path(), &to.join(entry.file_name()));
            } else {
                std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
            }
        }
    }
    let demo = workspace().join("examples/demo");
    copy(&demo.join("metadata"), &dir.join("metadata"));
    copy(&demo.join("replay"), &dir.join("replay"));
    let config = std::fs::read_to_string(demo.join("tidemark.toml"))
        .unwrap()
        .replace("on_invalid = \"fail\"", "on_invalid = \"continue\"");
    let path = dir.join("tidemark.toml");
    std::fs::write(&path, config).unwrap();
    path
}

#[test]
fn a_breaking_drift_alerts_with_a_rebuild_command_that_makes_the_table_healthy() {
    let dir = tempfile::tempdir().unwrap();
    let config = demo_copy(dir.path());
    let lake = dir.path().join("lake");
    let run = |extra: &[&str]| {
        let mut args = vec![
            "run",
            "--config",
            config.to_str().unwrap(),
            "--lake",
            lake.to_str().unwrap(),
            "--time-scale",
            "0",
        ];
        args.extend_from_slice(extra);
        tidemark(&args)
    };
    let out = run(&[]);
    assert!(out.status.success(), "{}", text(&out));

    // The source widened orders.amount: history cannot absorb a new type.
    let meta_path = dir.path().join("metadata/orders.json");
    let meta = std::fs::read_to_string(&meta_path)
        .unwrap()
        .replace("decimal128(12,2)", "decimal128(14,2)");
    std::fs::write(&meta_path, meta).unwrap();
    let out = run(&["--name", "drift"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let alert: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(lake.join("alerts/drift.json")).unwrap())
            .unwrap();
    assert!(
        alert.to_string().contains("Tidemark.SchemaDrift"),
        "{alert:#}"
    );
    let rerun = alert["rerun"].as_str().unwrap();
    assert!(rerun.ends_with("--tables orders --mode rebuild"), "{rerun}");

    // The alert's command, as a person would paste it.
    let mut words = rerun.split_whitespace();
    assert_eq!(words.next(), Some("tidemark"));
    let mut args: Vec<&str> = words.collect();
    args.extend(["--time-scale", "0"]);
    let out = tidemark(&args);
    assert!(out.status.success(), "{rerun}: {}", text(&out));
    assert!(text(&out).contains("orders           ok"), "{}", text(&out));

    // Healthy: the next daily run succeeds, and the history kept every version.
    let out = run(&[]);
    assert!(out.status.success(), "{}", text(&out));
    let out = tidemark(&[
        "history",
        "orders",
        "--key",
        "order_id=101",
        "--config",
        config.to_str().unwrap(),
        "--lake",
        lake.to_str().unwrap(),
    ]);
    let shown = text(&out);
    assert!(out.status.success(), "{shown}");
    assert_eq!(
        shown.lines().filter(|l| l.starts_with("101 ")).count(),
        3,
        "{shown}"
    );
}

/// Two `tidemark run` processes on one lake: the second waits for the
/// warehouse the first holds, and together they make the history one would.
#[test]
fn two_runs_on_one_lake_take_turns_and_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let config = demo_copy(dir.path());
    let run = |lake: &Path| {
        Command::new(env!("CARGO_BIN_EXE_tidemark"))
            .args(["run", "--config", config.to_str().unwrap()])
            .args(["--lake", lake.to_str().unwrap(), "--time-scale", "0"])
            .current_dir(workspace())
            .output()
            .expect("run tidemark")
    };
    let shared = dir.path().join("shared");
    let (first, second) = std::thread::scope(|s| {
        let first = s.spawn(|| run(&shared));
        let second = s.spawn(|| run(&shared));
        (first.join().unwrap(), second.join().unwrap())
    });
    assert!(first.status.success(), "{}", text(&first));
    assert!(second.status.success(), "{}", text(&second));

    let alone = dir.path().join("alone");
    assert!(run(&alone).status.success());
    let history = |lake: &Path, table: &str, key: &str| {
        let out = tidemark(&[
            "history",
            table,
            "--key",
            key,
            "--config",
            config.to_str().unwrap(),
            "--lake",
            lake.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{}", text(&out));
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    for (table, key) in [
        ("customers", "customer_id=1"),
        ("orders", "order_id=101"),
        ("products", "product_id=1"),
    ] {
        assert_eq!(
            history(&shared, table, key),
            history(&alone, table, key),
            "{table}"
        );
    }
}
