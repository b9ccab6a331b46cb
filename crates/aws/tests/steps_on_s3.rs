//! The pipeline's steps on the S3 adapter and on the folder store give the
//! same results: the demo's landed files validated on S3 (ministack) and on
//! a folder, with the same outputs, the same validated files byte for byte,
//! the same quarantine and reports.

mod support;

use bytes::Bytes;
use std::collections::BTreeMap;
use std::sync::Arc;
use support::Emulator;
use support::demo::{day_files, days, workspace};
use tidemark_aws::backend::s3_client;
use tidemark_aws::s3::{S3Location, S3Store};
use tidemark_core::events::{ExtractMetadataEvent, RunPlan, ValidateEvent, ValidateOutput};
use tidemark_core::ports::{ObjectStore, Ports};
use tidemark_core::steps::{extract_metadata, validate_landed};
use tidemark_local::{LocalBackend, LocalOptions};

/// The demo's landing area after its four days: each key's newest file.
fn landed() -> BTreeMap<String, Vec<u8>> {
    days().iter().flat_map(|day| day_files(day)).collect()
}

/// Runs extract-metadata, then validate-landed for every table. Paths and
/// URIs into the lake read `<lake>/` whatever the store.
async fn validate(ports: &Ports) -> Vec<Result<ValidateOutput, String>> {
    let root = ports.lake.uri("");
    let work = extract_metadata(
        ports,
        ExtractMetadataEvent {
            run_id: None,
            plan: RunPlan::scheduled(
                ports
                    .config
                    .table_names()
                    .into_iter()
                    .map(String::from)
                    .collect(),
            ),
        },
    )
    .await
    .unwrap();
    let mut out = Vec::new();
    for w in work.tables {
        let result = validate_landed(
            ports,
            ValidateEvent {
                run_id: "run-1".into(),
                work: w,
            },
        )
        .await;
        out.push(match result {
            Ok(mut o) => {
                o.started_at.clear();
                o.report = o.report.map(|r| r.replace(&root, "<lake>/"));
                Ok(o)
            }
            Err(e) => Err(format!("{}: {e}", e.name()).replace(&root, "<lake>/")),
        });
    }
    out
}

/// Every object of the lake with its bytes; in text objects (reports, run
/// records) the roots of the lake and of the landing area read `<lake>/` and
/// `<landing>/`. Ledgers are left empty: they record the landed files' ETags,
/// which differ between the stores; so are the times metadata was read.
async fn contents(store: &dyn ObjectStore, landing: &str) -> BTreeMap<String, Bytes> {
    let root = store.uri("");
    let mut out = BTreeMap::new();
    for o in store.list("").await.unwrap() {
        let bytes = store.get(&o.key).await.unwrap().0;
        let bytes = if o.key.ends_with("ledger.json") {
            Bytes::new()
        } else if o.key.ends_with("metadata_read.json") {
            // When the metadata was read differs; what was read may not.
            let mut read: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            read["read_at"] = serde_json::Value::Null;
            Bytes::from(read.to_string())
        } else if [".json", ".md", ".html"].iter().any(|e| o.key.ends_with(e)) {
            Bytes::from(
                String::from_utf8(bytes.to_vec())
                    .unwrap()
                    .replace(&root, "<lake>/")
                    .replace(landing, "<landing>/"),
            )
        } else {
            bytes
        };
        out.insert(o.key, bytes);
    }
    out
}

#[tokio::test]
async fn validation_on_s3_matches_the_folder_store_file_for_file() {
    let files = landed();
    let dir = tempfile::tempdir().unwrap();
    let landing_dir = dir.path().join("landing");
    for (key, bytes) in &files {
        let path = landing_dir.join(key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    let options = |lake: &str| LocalOptions {
        config_path: workspace().join("examples/demo/tidemark.toml"),
        lake: Some(dir.path().join(lake)),
        landing: Some(landing_dir.clone()),
        ..Default::default()
    };
    let local = LocalBackend::open(&options("lake-folder")).unwrap();
    let on_folder = validate(&local.ports).await;
    drop(local);

    let emulator = Emulator::start("s3");
    let sdk = emulator.sdk().await;
    let s3 = s3_client(&sdk);
    for bucket in ["tidemark-landing", "tidemark-lake"] {
        s3.create_bucket().bucket(bucket).send().await.unwrap();
    }
    let landing = S3Store::new(
        s3.clone(),
        S3Location::parse("s3://tidemark-landing/dms/").unwrap(),
    );
    for (key, bytes) in &files {
        landing
            .put(key, Bytes::from(bytes.clone()), None)
            .await
            .unwrap();
    }
    let lake: Arc<dyn ObjectStore> = Arc::new(S3Store::new(
        s3,
        S3Location::parse("s3://tidemark-lake").unwrap(),
    ));
    let mut backend = LocalBackend::open(&options("unused")).unwrap();
    backend.ports.landing = Arc::new(landing);
    backend.ports.lake = lake.clone();
    let on_s3 = validate(&backend.ports).await;

    assert_eq!(on_s3, on_folder, "the steps' outputs");
    let failed: Vec<&String> = on_s3.iter().filter_map(|r| r.as_ref().err()).collect();
    assert_eq!(failed.len(), 1, "{on_s3:?}");
    assert!(
        failed[0].starts_with("Tidemark.Validation: orders: 1 of 5 landed file(s) quarantined")
            && failed[0].contains("report: <lake>/reports/demo/orders/b000001.html"),
        "the malformed day-4 orders file: {}",
        failed[0]
    );
    let folder = tidemark_local::fs_store::FsStore::new(dir.path().join("lake-folder")).unwrap();
    let folder_landing = tidemark_local::fs_store::FsStore::new(&landing_dir)
        .unwrap()
        .uri("");
    let (mut folder, s3) = (
        contents(&folder, &folder_landing).await,
        contents(lake.as_ref(), "s3://tidemark-landing/dms/").await,
    );
    // The local engine keeps its database (and the lock it opens it under)
    // in the lake folder.
    folder.remove("warehouse.duckdb");
    folder.remove("warehouse.duckdb.open-lock");
    assert_eq!(
        folder.keys().collect::<Vec<_>>(),
        s3.keys().collect::<Vec<_>>(),
        "the same objects in the lake"
    );
    let differ: Vec<&String> = folder.keys().filter(|k| folder[*k] != s3[*k]).collect();
    assert!(differ.is_empty(), "not byte for byte the same: {differ:?}");
}
