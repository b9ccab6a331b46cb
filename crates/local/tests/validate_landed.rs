//! The validate-landed step on the folder stores: files streamed from the
//! landing folder, normalised into the batch's validated prefix or copied to
//! quarantine, reports written, and the table's `on_invalid` policy applied.

use bytes::Bytes;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tidemark_core::config::TableMode;
use tidemark_core::dms::{FileFormat, LandedReader, ReadOptions};
use tidemark_core::error::ErrorName;
use tidemark_core::events::{RunMode, TableWork, ValidateEvent};
use tidemark_core::metadata::Drift;
use tidemark_core::steps::validate_landed;
use tidemark_local::{LocalBackend, LocalOptions};

fn corpus(case: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../core/tests/fixtures/validation")
        .join(case);
    std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap() != "expected.txt")
        .unwrap()
}

/// The landed files of both tables: (corpus case, name it lands under).
const LANDED: [(&str, &str); 4] = [
    ("good_parquet_cdc", "20261101-100000000.parquet"),
    ("bad_enum", "20261101-110000000.parquet"),
    ("quirk_csv_gzip", "20261101-120000000.csv.gz"),
    ("good_unexpected_allowed", "20261101-130000000.parquet"),
];

fn setup(root: &Path) -> LocalBackend {
    std::fs::create_dir_all(root.join("metadata")).unwrap();
    let meta = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../core/tests/fixtures/validation/accounts.json"),
    )
    .unwrap();
    let config = root.join("tidemark.toml");
    std::fs::write(
        &config,
        r#"
[source]
database = "shop"

[[tables]]
name = "accounts"
mode = "cdc"
on_invalid = "continue"
allow_unexpected = true

[[tables]]
name = "strict"
mode = "cdc"

[local]
metadata_dir = "metadata"
"#,
    )
    .unwrap();
    for table in ["accounts", "strict"] {
        let dir = root.join("landing/public").join(table);
        std::fs::create_dir_all(&dir).unwrap();
        for (case, name) in LANDED {
            std::fs::copy(corpus(case), dir.join(name)).unwrap();
        }
        let versions = root.join("lake/metadata/shop").join(table);
        std::fs::create_dir_all(&versions).unwrap();
        std::fs::write(
            versions.join("v0001.json"),
            meta.replace("\"accounts\"", &format!("{table:?}")),
        )
        .unwrap();
    }
    LocalBackend::open(&LocalOptions {
        config_path: config,
        lake: Some(root.join("lake")),
        landing: Some(root.join("landing")),
        ..Default::default()
    })
    .unwrap()
}

fn event(table: &str) -> ValidateEvent {
    ValidateEvent {
        run_id: "run-1".into(),
        work: TableWork {
            table: table.into(),
            table_mode: TableMode::Cdc,
            run_mode: RunMode::Incremental,
            metadata_version: 1,
            drift: Drift::None,
            from: None,
            to: None,
            forget: None,
            source_storage: None,
            metadata_read_at: None,
        },
    }
}

/// Every file under `dir`, hidden ones included, relative to it.
fn files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn continue_merges_the_good_files_and_quarantines_the_bad_one_byte_for_byte() {
    let root = tempfile::tempdir().unwrap();
    let backend = setup(root.path());
    let out = validate_landed(&backend.ports, event("accounts"))
        .await
        .unwrap();
    assert_eq!(
        (out.files_landed, out.files_accepted, out.files_quarantined),
        (4, 3, 1)
    );
    assert_eq!(out.batches, [tidemark_core::batch_id::BatchId::FIRST]);
    assert_eq!(
        (out.ops.inserts, out.ops.updates, out.ops.deletes),
        (6, 3, 3)
    );

    let lake = root.path().join("lake");
    assert_eq!(
        files(&lake.join("validated/shop/accounts")),
        [
            "b000001/20261101-100000000.parquet",
            "b000001/20261101-120000000.parquet",
            "b000001/20261101-130000000.parquet"
        ],
        "only the accepted files, and no temporary file left behind"
    );
    // Read back with the same reader validation uses.
    let validated =
        std::fs::read(lake.join("validated/shop/accounts/b000001/20261101-130000000.parquet"))
            .unwrap();
    let reader = LandedReader::open(
        "validated.parquet",
        FileFormat::Parquet,
        Arc::new(Bytes::from(validated)),
        &ReadOptions::default(),
    )
    .unwrap();
    let columns: Vec<String> = reader
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert!(!columns.contains(&"colour".to_string()), "{columns:?}");
    assert_eq!(columns.last().map(String::as_str), Some("batch_id"));
    let all: Vec<usize> = (0..columns.len()).collect();
    let rows: usize = reader
        .batches(&all)
        .unwrap()
        .map(|b| b.unwrap().num_rows())
        .sum();
    assert_eq!(rows, 4);
    let ledger: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(lake.join("state/shop/accounts/ledger.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        ledger["batches"][0].get("distinct_keys"),
        None,
        "CDC files, and several: a key may repeat"
    );

    let landed = root
        .path()
        .join("landing/public/accounts/20261101-110000000.parquet");
    let quarantined = lake.join("quarantine/shop/accounts/b000001/20261101-110000000.parquet");
    assert_eq!(
        std::fs::read(&quarantined).unwrap(),
        std::fs::read(corpus("bad_enum")).unwrap()
    );
    assert_eq!(
        std::fs::read(&landed).unwrap(),
        std::fs::read(corpus("bad_enum")).unwrap()
    );

    let report = out.report.unwrap();
    assert!(
        report.ends_with("reports/shop/accounts/b000001.html"),
        "{report}"
    );
    let html = std::fs::read_to_string(&report).unwrap();
    for expected in [
        "20261101-110000000.parquet",
        "quarantined",
        "<td>enum</td><td>code</td>",
        "<code>Z</code>",
        "ignored columns: colour",
    ] {
        assert!(html.contains(expected), "no {expected:?} in {html}");
    }
    assert!(!html.contains("<script"), "self-contained and inert");
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(lake.join("reports/shop/accounts/b000001.json")).unwrap(),
    )
    .unwrap();
    let bad = json["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["accepted"] == false)
        .unwrap();
    assert_eq!(bad["findings"]["counts"][0]["rule"], "enum");
    assert_eq!(bad["findings"]["sample"][0]["row"], 2);
    assert!(
        std::fs::read_to_string(lake.join("reports/shop/accounts/b000001.md"))
            .unwrap()
            .contains("| 2 | code | `Z` | enum |")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn fail_stops_the_table_with_the_first_finding_and_the_report() {
    let root = tempfile::tempdir().unwrap();
    let backend = setup(root.path());
    let err = validate_landed(&backend.ports, event("strict"))
        .await
        .unwrap_err();
    assert_eq!(err.name(), ErrorName::Validation);
    let message = err.to_string();
    for expected in [
        "2 of 4 landed file(s) quarantined in batch b000001",
        "on_invalid = \"fail\"",
        "First finding: public/strict/20261101-110000000.parquet row 2 column code: [enum]",
        "reports/shop/strict/b000001.html",
    ] {
        assert!(message.contains(expected), "no {expected:?} in {message}");
    }
    // Nothing of the batch is offered to the merge; a rerun checks the same files again.
    let again = validate_landed(&backend.ports, event("strict"))
        .await
        .unwrap_err();
    assert!(again.to_string().contains("batch b000001"), "{again}");
}

/// A table's change-seq kind is decided by the first values its history
/// sees (integers of varying width here), written zero-padded so the merge's
/// text order is their order, and fixed in the ledger: a configuration that
/// says otherwise later is refused, naming the rebuild that would apply it.
#[tokio::test(flavor = "multi_thread")]
async fn the_change_seq_kind_is_decided_by_the_first_values_then_fixed() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    let landed = root.join("landing/public/accounts");
    std::fs::create_dir_all(&landed).unwrap();
    std::fs::copy(
        corpus("good_change_seq_integer"),
        landed.join("20261101-100000000.parquet"),
    )
    .unwrap();
    let versions = root.join("lake/metadata/shop/accounts");
    std::fs::create_dir_all(&versions).unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../core/tests/fixtures/validation/accounts.json"),
        versions.join("v0001.json"),
    )
    .unwrap();
    let open = |kind: &str| {
        let config = root.join("tidemark.toml");
        std::fs::write(
            &config,
            format!(
                "[source]\ndatabase = \"shop\"\n\n[source.control_columns]\nchange_seq_kind = \"{kind}\"\n\n[[tables]]\nname = \"accounts\"\nmode = \"cdc\"\n"
            ),
        )
        .unwrap();
        LocalBackend::open(&LocalOptions {
            config_path: config,
            lake: Some(root.join("lake")),
            landing: Some(root.join("landing")),
            ..Default::default()
        })
        .unwrap()
    };

    let backend = open("auto");
    let out = validate_landed(&backend.ports, event("accounts"))
        .await
        .unwrap();
    assert_eq!(out.files_accepted, 1);
    let ledger: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("lake/state/shop/accounts/ledger.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(ledger["batches"][0]["change_seq_kind"], "integer");
    let validated = root.join("lake/validated/shop/accounts/b000001/20261101-100000000.parquet");
    let reader = LandedReader::open(
        "validated",
        FileFormat::Parquet,
        Arc::new(Bytes::from(std::fs::read(validated).unwrap())),
        &ReadOptions::default(),
    )
    .unwrap();
    let index = reader
        .schema()
        .fields()
        .iter()
        .position(|f| f.name() == "change_seq")
        .unwrap();
    let batch = reader.batches(&[index]).unwrap().next().unwrap().unwrap();
    let seqs: Vec<String> = (0..batch.num_rows())
        .map(|i| {
            arrow::array::AsArray::as_string::<i32>(batch.column(0))
                .value(i)
                .to_string()
        })
        .collect();
    assert_eq!(seqs[0], format!("{:0>40}", 9));
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    drop(backend);

    // The configuration now says lsn: the next batch is refused, nothing changes.
    std::fs::copy(
        corpus("good_change_seq_integer"),
        landed.join("20261102-100000000.parquet"),
    )
    .unwrap();
    let before = files(&root.join("lake"));
    let backend = open("lsn");
    let err = validate_landed(&backend.ports, event("accounts"))
        .await
        .unwrap_err();
    assert_eq!(err.name(), ErrorName::InvalidInput);
    let message = err.to_string();
    assert!(
        message.contains("orders changes as integer") && message.contains("mode rebuild"),
        "{message}"
    );
    assert_eq!(files(&root.join("lake")), before);
}
