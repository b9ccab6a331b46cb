//! The SCD2 merge on a real DuckDB: whole history tables compared after
//! batches applied in different splits and orders.

use arrow::array::{ArrayRef, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use std::collections::BTreeMap;
use std::sync::Arc;
use tidemark_core::batch_id::BatchId;
use tidemark_core::dms::ControlColumns;
use tidemark_core::metadata::TableMetadata;
use tidemark_core::ports::{QueryEngine, SqlValue};
use tidemark_core::scd2::{MergePlan, Since};
use tidemark_core::validate::{FileCheck, normalised_schema, write_parquet};
use tidemark_local::duckdb::DuckDbEngine;

fn meta() -> TableMetadata {
    TableMetadata::from_json(
        "t.json",
        r#"{"name":"t","primary_key":["id"],"columns":[
            {"name":"id","type":"int64","nullable":false},{"name":"v","type":"string"}]}"#,
    )
    .unwrap()
}

/// The merge of `batch` into `db.t`.
fn plan(meta: &TableMetadata, batch: u64, since: Since) -> MergePlan<'_> {
    MergePlan {
        row_hash: Default::default(),
        retained_from: None,
        since: Some(since),
        target: Default::default(),
        database: "db",
        meta,
        batch_id: BatchId::new(batch),
        snapshot: None,
    }
}

/// One change: (id, value, op, time "HH:MM", scn).
type Change = (i64, &'static str, &'static str, &'static str, u32);

struct Lake {
    dir: tempfile::TempDir,
    engine: DuckDbEngine,
    files: usize,
    /// Each batch applied so far: its earliest and latest change (µs), as
    /// the ledger records them.
    reach: BTreeMap<u64, (i64, i64)>,
}

/// A change's time, "HH:MM" on 2026-11-01, in µs since the epoch.
fn micros(time: &str) -> i64 {
    let t = chrono::NaiveTime::parse_from_str(time, "%H:%M").unwrap();
    chrono::NaiveDate::from_ymd_opt(2026, 11, 1)
        .unwrap()
        .and_time(t)
        .and_utc()
        .timestamp_micros()
}

impl Lake {
    fn new() -> Lake {
        let dir = tempfile::tempdir().unwrap();
        let engine = DuckDbEngine::open(&dir.path().join("w.duckdb"), dir.path()).unwrap();
        Lake {
            dir,
            engine,
            files: 0,
            reach: BTreeMap::new(),
        }
    }

    /// Validates `changes` as one landed CDC file and merges them as
    /// `batch`: what the merge inserted, updated and removed, counted as the
    /// merge step counts it.
    async fn apply(&mut self, batch: u64, changes: &[Change]) -> [u64; 3] {
        let since = self.land(batch, changes).await;
        let meta = meta();
        let plan = plan(&meta, batch, since);
        let dialect = self.engine.dialect();
        let (_, counts) = plan
            .merge(dialect.as_ref())
            .apply(&self.engine)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let c = counts.expect("DuckDB stages the merge");
        [c.inserted, c.updated, c.removed]
    }

    /// Validates `changes` as one landed CDC file of `batch` into the change
    /// log, creates the tables on the first, and returns how far back the
    /// batch reaches, as the ledger records it.
    async fn land(&mut self, batch: u64, changes: &[Change]) -> Since {
        let batch = BatchId::new(batch);
        self.files += 1;
        let col = |f: &dyn Fn(&Change) -> String| -> ArrayRef {
            Arc::new(StringArray::from(changes.iter().map(f).collect::<Vec<_>>()))
        };
        let fields = ["op", "extraction_timestamp", "scn", "id", "v"]
            .map(|n| Field::new(n, DataType::Utf8, true));
        let schema = Arc::new(Schema::new(fields.to_vec()));
        let landed = RecordBatch::try_new(
            schema.clone(),
            vec![
                col(&|c| c.2.to_string()),
                col(&|c| format!("2026-11-01 {}:00.000000", c.3)),
                col(&|c| format!("{:020}", c.4)),
                col(&|c| c.0.to_string()),
                col(&|c| c.1.to_string()),
            ],
        )
        .unwrap();
        let bytes = write_parquet(&schema, &[landed]).unwrap();
        let meta = meta();
        let name = format!("20261101-{:09}.parquet", self.files);
        let control = ControlColumns::default();
        let outcome = FileCheck {
            file: &name,
            name: &name,
            meta: &meta,
            control: &control,
            batch_id: batch,
        }
        .run(bytes.into());
        assert!(outcome.accepted(), "{:?}", outcome.findings);
        let dir = self.dir.path().join(format!("validated/db/t/{batch}"));
        std::fs::create_dir_all(&dir).unwrap();
        let out = write_parquet(
            &normalised_schema(&meta, Default::default()),
            &outcome.normalised,
        )
        .unwrap();
        std::fs::write(dir.join(format!("f{}.parquet", self.files)), out).unwrap();
        let times = changes.iter().map(|c| micros(c.3));
        let (min, max) = (times.clone().min().unwrap(), times.max().unwrap());
        let reach = self.reach.entry(batch.number()).or_insert((min, max));
        *reach = (reach.0.min(min), reach.1.max(max));
        let latest = self.reach.iter().map(|(&id, r)| (BatchId::new(id), r.1));
        let since = Since::of(batch, self.reach[&batch.number()].0, latest);
        let plan = plan(&meta, batch.number(), since.clone());
        let dialect = self.engine.dialect();
        let listed = self
            .engine
            .execute(&plan.columns_query(dialect.as_ref()))
            .await
            .unwrap();
        if listed.rows.is_empty() {
            for statement in plan.schema_statements(dialect.as_ref(), &[]).unwrap() {
                self.engine.execute(&statement.sql).await.unwrap();
            }
        }
        since
    }

    /// Closes the warehouse as a killed process leaves it (an open
    /// transaction never committed) and opens it again.
    fn reopen(&mut self) {
        let path = self.engine.path().to_path_buf();
        let elsewhere = self.dir.path().join("elsewhere.duckdb");
        self.engine = DuckDbEngine::open(&elsewhere, self.dir.path()).unwrap();
        self.engine = DuckDbEngine::open(&path, self.dir.path()).unwrap();
    }

    /// The history without batch_id (which records provenance, not state).
    async fn history(&self) -> Vec<String> {
        let r = self
            .engine
            .execute(
                "SELECT id, v, op, strftime(valid_from, '%H:%M') AS f, strftime(valid_to, '%H:%M') AS t, is_current, is_deleted \
                 FROM db.t ORDER BY id, valid_from, change_seq",
            )
            .await
            .unwrap();
        r.rows
            .iter()
            .map(|row| {
                row.iter()
                    .map(|v| match v {
                        SqlValue::Text(t) => t.clone(),
                        SqlValue::Int(i) => i.to_string(),
                        SqlValue::Bool(b) => if *b { "T" } else { "F" }.to_string(),
                        SqlValue::Null => "-".into(),
                        other => format!("{other:?}"),
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect()
    }
}

#[tokio::test]
async fn a_late_change_lands_between_a_version_and_a_dropped_no_op() {
    // Batch ids are numbers: the millionth batch comes after the 999,999th
    // although its written form (b1000000) sorts before b999999.
    for [first, second, third] in [[1, 2, 3], [999_999, 1_000_000, 1_000_001]] {
        late_change_between_a_version_and_a_dropped_no_op(first, second, third).await;
    }
}

async fn late_change_between_a_version_and_a_dropped_no_op(first: u64, second: u64, third: u64) {
    let mut lake = Lake::new();
    let r = lake
        .apply(
            first,
            &[(1, "A", "I", "10:00", 1), (1, "A", "U", "12:00", 3)],
        )
        .await;
    assert_eq!(lake.history().await, ["1 A I 10:00 23:59 T F"]);
    assert_eq!(r, [1, 0, 0], "{r:?}");
    let r = lake.apply(second, &[(1, "B", "U", "11:00", 2)]).await;
    assert_eq!(
        lake.history().await,
        [
            "1 A I 10:00 11:00 F F",
            "1 B U 11:00 12:00 F F",
            "1 A U 12:00 23:59 T F"
        ]
    );
    assert_eq!(r, [2, 1, 0], "{r:?}");
    // Back to A within the same second as B: the version at 12:00 becomes a no-op and is removed.
    let r = lake.apply(third, &[(1, "A", "U", "11:00", 9)]).await;
    assert_eq!(
        lake.history().await,
        [
            "1 A I 10:00 11:00 F F",
            "1 B U 11:00 11:00 F F",
            "1 A U 11:00 23:59 T F"
        ]
    );
    assert_eq!(r, [1, 1, 1], "{r:?}");
    // A change after every version: nothing to remove.
    let r = lake.apply(third + 1, &[(1, "C", "U", "13:00", 10)]).await;
    assert_eq!(
        lake.history().await,
        [
            "1 A I 10:00 11:00 F F",
            "1 B U 11:00 11:00 F F",
            "1 A U 11:00 13:00 F F",
            "1 C U 13:00 23:59 T F"
        ]
    );
    assert_eq!(r, [1, 1, 0], "{r:?}");
}

#[tokio::test]
async fn any_order_and_any_repetition_of_batches_gives_the_same_history() {
    let b1: &[Change] = &[
        (1, "A", "I", "10:00", 1),
        (2, "X", "I", "10:00", 2),
        (1, "A", "U", "12:00", 5),
    ];
    let b2: &[Change] = &[(1, "B", "U", "11:00", 3), (2, "X", "D", "11:00", 4)];
    let b3: &[Change] = &[
        (2, "Y", "I", "13:00", 6),
        (2, "Y", "U", "13:00", 7),
        (1, "C", "U", "13:00", 8),
    ];
    let expected = [
        "1 A I 10:00 11:00 F F",
        "1 B U 11:00 12:00 F F",
        "1 A U 12:00 13:00 F F",
        "1 C U 13:00 23:59 T F",
        "2 X I 10:00 11:00 F F",
        "2 X D 11:00 13:00 F T",
        "2 Y I 13:00 23:59 T F",
    ];
    for order in [[b1, b2, b3], [b3, b2, b1], [b2, b1, b3]] {
        let mut lake = Lake::new();
        for (i, b) in order.iter().enumerate() {
            lake.apply(i as u64 + 1, b).await;
        }
        assert_eq!(lake.history().await, expected);
        lake.apply(4, b2).await;
        assert_eq!(
            lake.history().await,
            expected,
            "reapplying a batch changed history"
        );
    }
    let mut lake = Lake::new();
    let all: Vec<Change> = [b1, b2, b3].concat();
    lake.apply(1, &all).await;
    assert_eq!(lake.history().await, expected);
}

#[tokio::test]
async fn a_merge_killed_between_its_steps_changes_nothing_and_runs_again() {
    let mut lake = Lake::new();
    lake.apply(
        1,
        &[
            (1, "A", "I", "10:00", 1),
            (1, "B", "U", "12:00", 3),
            (2, "X", "I", "10:00", 2),
        ],
    )
    .await;
    let before = lake.history().await;
    // A late change that makes the version at 12:00 a no-op, a change that
    // ends key 2's version, and a new key: each step has rows to change.
    let late = [
        (1, "B", "U", "11:00", 2),
        (2, "Y", "U", "11:00", 4),
        (3, "N", "I", "11:00", 5),
    ];
    let since = lake.land(2, &late).await;
    let meta = meta();
    let merge = plan(&meta, 2, since).merge(lake.engine.dialect().as_ref());
    let steps = merge.all();
    lake.engine.execute("BEGIN TRANSACTION").await.unwrap();
    // Staged, rows deleted and updated; killed before the INSERT.
    for step in &steps[..3] {
        lake.engine.execute(step).await.unwrap();
    }
    assert_ne!(lake.history().await, before);
    lake.reopen();
    assert_eq!(lake.history().await, before);

    // Run again, the merge does all of it, from a warehouse without its
    // temporary table.
    let (_, counts) = merge.apply(&lake.engine).await.unwrap();
    let c = counts.unwrap();
    assert_eq!([c.inserted, c.updated, c.removed], [3, 2, 1], "{c:?}");
    assert_eq!(
        lake.history().await,
        [
            "1 A I 10:00 11:00 F F",
            "1 B U 11:00 23:59 T F",
            "2 X I 10:00 11:00 F F",
            "2 Y U 11:00 23:59 T F",
            "3 N I 11:00 23:59 T F",
        ]
    );
}
