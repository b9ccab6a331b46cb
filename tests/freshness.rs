//! Frequent runs on the local pipeline: a table with nothing new costs no
//! query and says so in its run record; every run that finishes a table
//! records how fresh it is.

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use tidemark_asl::Execution;
use tidemark_core::events::{ExecutionInput, Maintenance, TableStatus};
use tidemark_core::freshness::Freshness;
use tidemark_core::run_record::RunRecord;
use tidemark_local::LocalOptions;
use tidemark_local::pipeline::run_catching_up;
use tidemark_tests::{DEMO_TABLES, demo_copy, metadata_of, states_of};

struct Demo {
    dir: tempfile::TempDir,
}

impl Demo {
    /// The demo with every table able to succeed (orders quarantines its bad file).
    fn new() -> Demo {
        Demo::with(|c| c.replace("on_invalid = \"fail\"", "on_invalid = \"continue\""))
    }

    fn with(edit: impl FnOnce(String) -> String) -> Demo {
        let dir = tempfile::tempdir().unwrap();
        demo_copy(dir.path(), edit);
        Demo { dir }
    }

    fn lake(&self) -> PathBuf {
        self.dir.path().join("lake")
    }

    async fn run(&self, name: &str) -> Vec<Execution> {
        self.run_with(name, Value::Null).await
    }

    async fn run_with(&self, name: &str, input: Value) -> Vec<Execution> {
        let options = LocalOptions {
            config_path: self.dir.path().join("tidemark.toml"),
            lake: Some(self.lake()),
            ..Default::default()
        };
        run_catching_up(&options, name, &ExecutionInput(input), 0.0)
            .await
            .unwrap()
            .1
    }

    fn json(&self, key: &str) -> Value {
        let path = self.lake().join(key);
        serde_json::from_slice(&std::fs::read(&path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    fn record(&self, run: &str, table: &str) -> RunRecord {
        serde_json::from_value(self.json(&format!("runs/{run}/demo/{table}.json"))).unwrap()
    }

    fn freshness(&self, table: &str) -> Freshness {
        serde_json::from_value(self.json(&format!("state/demo/{table}/freshness.json"))).unwrap()
    }

    /// The alert a run sent, if it sent one.
    fn alert(&self, run: &str) -> Option<Value> {
        let path = self.lake().join(format!("alerts/{run}.json"));
        path.exists()
            .then(|| self.json(&format!("alerts/{run}.json")))
    }

    fn state_file(&self, table: &str, name: &str) -> PathBuf {
        self.lake().join(format!("state/demo/{table}/{name}"))
    }
}

fn edit_json(path: &Path, edit: impl FnOnce(&mut Value)) {
    let mut value: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    edit(&mut value);
    std::fs::write(path, value.to_string()).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_table_with_nothing_new_costs_no_query_and_its_freshness_is_recorded() {
    let demo = Demo::new();
    let days = demo.run("day").await;
    let last_day = days.last().unwrap().name.clone();
    for (table, _) in DEMO_TABLES {
        let fresh = demo.freshness(table);
        assert_eq!(
            fresh.checked_by.as_deref(),
            Some(last_day.as_str()),
            "{table}"
        );
        assert_eq!(fresh.published_version, Some(1), "{table}");
        assert!(
            fresh.merged_at.is_some() && fresh.merged_by.is_some(),
            "{table}"
        );
    }
    let merged_before: Vec<_> = DEMO_TABLES
        .iter()
        .map(|(t, _)| demo.freshness(t).merged_at)
        .collect();

    // Every day is delivered: nothing lands for the next run.
    let again = demo.run("again").await;
    assert_eq!(again.len(), 1);
    for (i, (table, _)) in DEMO_TABLES.iter().enumerate() {
        let r = demo.record("again", table);
        assert!(r.idle, "{table}: {r:?}");
        assert_eq!(r.status, Some(TableStatus::Succeeded));
        assert_eq!(r.files_landed, 0);
        let cost = r.cost.expect("the idle table is priced");
        assert!(cost.statements.is_empty(), "{table}: {:?}", cost.statements);
        assert_eq!(cost.athena_bytes_scanned, 0);
        let steps: Vec<&str> = cost.lambda.iter().map(|l| l.step.as_str()).collect();
        assert_eq!(steps, ["validate-landed"], "{table}");
        assert_eq!(
            states_of(&again[0], table),
            ["ValidateLanded", "AnythingToMerge", "TableIdle"],
            "{table}"
        );
        let fresh = demo.freshness(table);
        assert_eq!(fresh.checked_by.as_deref(), Some("again"));
        assert_eq!(
            fresh.merged_at, merged_before[i],
            "{table}: nothing was merged"
        );
    }

    // A lake from before freshness was recorded: the catalog may be behind,
    // so the table is published once, then idle again.
    std::fs::remove_file(demo.state_file("customers", "freshness.json")).unwrap();
    // A table whose maintenance is due is maintained even with nothing new.
    edit_json(&demo.state_file("products", "ledger.json"), |l| {
        l["maintained_at"] = "2020-01-01T00:00:00Z".into();
    });
    demo.run("catch-up").await;
    let customers = demo.record("catch-up", "customers");
    assert!(!customers.idle);
    assert_eq!(demo.freshness("customers").published_version, Some(1));
    let products = demo.record("catch-up", "products");
    assert!(!products.idle);
    assert_eq!(products.maintenance, Some(Maintenance::Done));
    assert!(demo.record("catch-up", "orders").idle);

    demo.run("quiet").await;
    for (table, _) in DEMO_TABLES {
        assert!(demo.record("quiet", table).idle, "{table}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn under_a_freshness_target_a_scheduled_run_alerts_only_once_a_table_is_stale() {
    // orders fails on the demo's last day (its malformed file, on_invalid = "fail").
    let demo = Demo::with(|c| format!("{c}\n[pipeline]\nfreshness_minutes = 30\n"));
    let days = demo.run("day").await;
    let last = &days.last().unwrap().name;
    assert_eq!(
        demo.record(last, "orders").status,
        Some(TableStatus::Failed)
    );
    // orders was up to date the day before, seconds ago: no alert.
    assert_eq!(
        demo.alert(last),
        None,
        "a failure within the target is not alerted"
    );

    // An hour later, still failing: now it alerts, naming how stale it is.
    let an_hour_ago = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    edit_json(&demo.state_file("orders", "freshness.json"), |f| {
        f["checked_at"] = an_hour_ago.clone().into();
    });
    demo.run("late").await;
    let alert = demo.alert("late").expect("a stale failing table alerts");
    let orders = &alert["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"] == "orders")
        .unwrap();
    let stale = orders["stale"].as_str().unwrap();
    assert!(
        stale.starts_with("last up to date 1 h 00 min ago (run day-")
            && stale.ends_with("freshness target 30 min"),
        "{stale}"
    );
    assert!(demo.freshness("orders").alerted_at.is_some());

    // The next run, minutes later: alerted already, so quiet.
    demo.run("later").await;
    assert_eq!(
        demo.record("later", "orders").status,
        Some(TableStatus::Failed)
    );
    assert_eq!(demo.alert("later"), None, "alerted once per target");

    // A person who starts a run is told about every failure.
    demo.run_with("manual", serde_json::json!({"tables": ["orders"]}))
        .await;
    assert!(demo.alert("manual").is_some());

    // The fix: orders is up to date again, and a later failure starts a new count.
    let path = demo.dir.path().join("metadata/orders.json");
    let mut meta: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    for c in meta["columns"].as_array_mut().unwrap() {
        if c["name"] == "status" {
            c["nullable"] = true.into();
        }
    }
    std::fs::write(&path, meta.to_string()).unwrap();
    demo.run("fixed").await;
    assert_eq!(
        demo.record("fixed", "orders").status,
        Some(TableStatus::Succeeded)
    );
    assert_eq!(
        demo.freshness("orders").checked_by.as_deref(),
        Some("fixed")
    );
}

/// Runs `tidemark <args>` on the demo's config and lake: (exit code, stdout, stderr).
fn tidemark(demo: &Demo, args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(tidemark_tests::tidemark_binary())
        .args(args)
        .arg("--config")
        .arg(demo.dir.path().join("tidemark.toml"))
        .arg("--lake")
        .arg(demo.lake())
        .env("TIDEMARK_LOG", "error")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn status_pause_and_resume_say_how_the_pipeline_stands_and_never_interrupt_a_run() {
    let demo = Demo::with(|c| format!("{c}\n[pipeline]\nfreshness_minutes = 30\n"));
    demo.run("day").await;

    let (code, json, _) = tidemark(&demo, &["status", "--json"]);
    assert_eq!(code, 0, "{json}");
    let status: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(status["replication"]["state"], "replay");
    let table = |name: &str| -> Value {
        status["tables"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["table"] == name)
            .unwrap()
            .clone()
    };
    // orders' last day failed: its file waits for the next run.
    assert_eq!(table("orders")["waiting_files"], 1);
    assert_eq!(table("customers")["waiting_files"], 0);
    assert_eq!(table("customers")["stale"], false);
    assert_eq!(table("customers")["freshness_minutes"], 30);
    assert!(table("products")["merged_at"].is_string());

    // An hour without a run: stale, and status exits 1 for a health check.
    let an_hour_ago = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    edit_json(&demo.state_file("customers", "freshness.json"), |f| {
        f["checked_at"] = an_hour_ago.clone().into();
    });
    let (code, text, _) = tidemark(&demo, &["status"]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("1 h 00 min ago (STALE, 30 min)"), "{text}");

    // Paused: nothing is stale, and the status says by whom and why.
    let (code, said, err) = tidemark(
        &demo,
        &["pause", "--by", "ana", "--reason", "source upgrade"],
    );
    assert_eq!(code, 0, "{said}{err}");
    let (code, _, err) = tidemark(&demo, &["pause", "--by", "bo"]);
    assert_eq!(code, 2);
    assert!(err.contains("paused already: by ana since"), "{err}");
    let (code, text, _) = tidemark(&demo, &["status"]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.starts_with("demo: PAUSED by ana since") && text.contains("\"source upgrade\""),
        "{text}"
    );

    // While paused, --follow merges nothing.
    let follow = std::process::Command::new(tidemark_tests::tidemark_binary())
        .args([
            "run",
            "--follow",
            "--every",
            "1s",
            "--time-scale",
            "0",
            "--config",
        ])
        .arg(demo.dir.path().join("tidemark.toml"))
        .arg("--lake")
        .arg(demo.lake())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(2500));
    std::process::Command::new("kill")
        .args(["-INT", &follow.id().to_string()])
        .status()
        .unwrap();
    let out = follow.wait_with_output().unwrap();
    assert!(out.status.success(), "{:?}", out.status);
    let lines = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(lines.lines().count() >= 2, "{lines}");
    assert!(
        lines
            .lines()
            .all(|l| l.contains(" paused by ana since ") && l.contains("landed only")),
        "{lines}"
    );
    let runs: Vec<_> = std::fs::read_dir(demo.lake().join("runs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(runs.iter().all(|r| r.starts_with("day-")), "{runs:?}");

    // Resume says what the next run catches up; a second resume, that it is not paused.
    let (code, said, _) = tidemark(&demo, &["resume"]);
    assert_eq!(code, 0);
    assert!(said.contains("resumed (it was paused by ana"), "{said}");
    assert!(
        said.contains("The next run merges 1 landed file(s) of 1 table(s)"),
        "{said}"
    );
    let (code, said, _) = tidemark(&demo, &["resume"]);
    assert_eq!(code, 0);
    assert!(said.contains("is not paused"), "{said}");

    // A pause while a run goes on lets it finish.
    let running = std::process::Command::new(tidemark_tests::tidemark_binary())
        .args(["run", "--name", "long", "--time-scale", "0", "--config"])
        .arg(demo.dir.path().join("tidemark.toml"))
        .arg("--lake")
        .arg(demo.lake())
        .env("TIDEMARK_TEST_DELAY", "validate-landed:1500")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(700));
    let (code, _, err) = tidemark(&demo, &["pause", "--by", "ana"]);
    assert_eq!(code, 0, "{err}");
    let out = running.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "orders fails again; the run is whole"
    );
    for (table, _) in DEMO_TABLES {
        assert!(demo.record("long", table).status.is_some(), "{table}");
    }
    assert_eq!(tidemark(&demo, &["resume"]).0, 0);

    // A replication that cannot be stopped: nothing is paused.
    let (code, _, err) = tidemark(&demo, &["pause", "--replication"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("could not be stopped, so nothing was paused"),
        "{err}"
    );
    assert!(!demo.lake().join("state/demo/paused.json").exists());
}

/// A landed copy of orders' first CDC file with one more column, as DMS
/// writes after an `ALTER TABLE orders ADD COLUMN colour text`.
fn land_orders_with_a_new_column(demo: &Demo) {
    use arrow::array::{ArrayRef, RecordBatch, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use parquet::arrow::ArrowWriter;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use std::sync::Arc;
    let landed = demo.lake().join("landing/public/orders");
    let file = std::fs::File::open(landed.join("20261102-120000000.parquet")).unwrap();
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let batches: Vec<RecordBatch> = reader.map(Result::unwrap).collect();
    let mut fields: Vec<Field> = batches[0]
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(Field::new("colour", DataType::Utf8, true));
    let schema = Arc::new(Schema::new(fields));
    let out = std::fs::File::create(landed.join("20261130-090000000.parquet")).unwrap();
    let mut writer = ArrowWriter::try_new(out, schema.clone(), None).unwrap();
    for batch in batches {
        let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
        columns.push(Arc::new(StringArray::from(vec![
            Some("red");
            batch.num_rows()
        ])));
        writer
            .write(&RecordBatch::try_new(schema.clone(), columns).unwrap())
            .unwrap();
    }
    writer.close().unwrap();
}

/// Two cadences in one pipeline: the frequent schedule's runs take the cdc
/// tables only and read their metadata at most every `metadata_every_minutes`;
/// a landed file whose columns say the source's schema changed defers the
/// table to the next run, which reads the metadata first and merges it.
#[tokio::test(flavor = "multi_thread")]
async fn a_frequent_run_takes_the_frequent_tables_and_reads_their_metadata_at_most_hourly() {
    let demo = Demo::new();
    let days = demo.run("day").await;
    let frequent = json!({"cadence": "frequent"});

    let run = demo.run_with("frequent-1", frequent.clone()).await;
    assert_eq!(run.len(), 1);
    let run = &run[0];
    assert!(
        states_of(run, "products").is_empty(),
        "a snapshot table waits for the daily run"
    );
    assert!(
        !demo
            .lake()
            .join("runs/frequent-1/demo/products.json")
            .exists()
    );
    for table in ["customers", "orders"] {
        assert!(demo.record("frequent-1", table).idle, "{table}");
        // Read by the daily run within the hour: not read again.
        let (version, read_at) = metadata_of(run, table);
        assert_eq!(version, 1);
        assert!(read_at.is_some(), "{table}");
    }
    // The daily run reads every table's metadata, every time.
    let last = days.last().unwrap();
    assert_eq!(metadata_of(last, "orders").1, None);

    // Past the hour, a frequent run reads it again.
    edit_json(&demo.state_file("customers", "metadata_read.json"), |r| {
        r["read_at"] = (chrono::Utc::now() - chrono::Duration::minutes(61))
            .to_rfc3339()
            .into();
    });
    let run = demo.run_with("frequent-2", frequent.clone()).await;
    assert_eq!(metadata_of(&run[0], "customers").1, None);
    assert!(metadata_of(&run[0], "orders").1.is_some());

    // The source adds a column; DMS lands a file with it before any run
    // reads the metadata. The frequent run defers orders, without an alert.
    let batches = || {
        demo.json("state/demo/orders/ledger.json")["batches"]
            .as_array()
            .unwrap()
            .len()
    };
    let before = batches();
    land_orders_with_a_new_column(&demo);
    let run = demo.run_with("frequent-3", frequent.clone()).await;
    assert_eq!(
        states_of(&run[0], "orders"),
        ["ValidateLanded", "AnythingToMerge", "TableDeferred"]
    );
    let deferred = demo.record("frequent-3", "orders");
    assert_eq!(deferred.status, Some(TableStatus::Skipped));
    let message = deferred.message.unwrap_or_default();
    for expected in [
        "20261130-090000000.parquet",
        "column colour",
        "next run reads the metadata",
    ] {
        assert!(message.contains(expected), "{expected:?}: {message}");
    }
    assert!(
        demo.alert("frequent-3").is_none(),
        "a deferral does not alert"
    );
    assert_eq!(batches(), before, "nothing was validated");

    // The metadata has the column now (here: its document); the next
    // frequent run reads it, stores version 2, and merges the file.
    let path = demo.dir.path().join("metadata/orders.json");
    edit_json(&path, |m| {
        m["columns"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "colour", "type": "string", "nullable": true}));
    });
    let run = demo.run_with("frequent-4", frequent).await;
    assert_eq!(metadata_of(&run[0], "orders"), (2, None));
    let merged = demo.record("frequent-4", "orders");
    assert_eq!(merged.status, Some(TableStatus::Succeeded), "{merged:?}");
    assert_eq!((merged.files_landed, merged.files_accepted), (1, 1));
}
