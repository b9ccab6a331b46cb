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
use tidemark_core::scd2::{MergeCounts, MergePlan, Since};
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
    /// `batch`: what the MERGE inserted, updated and removed, counted as the
    /// merge step counts it.
    async fn apply(&mut self, batch: u64, changes: &[Change]) -> [u64; 3] {
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
        let out = write_parquet(&normalised_schema(&meta), &outcome.normalised).unwrap();
        std::fs::write(dir.join(format!("f{}.parquet", self.files)), out).unwrap();
        let times = changes.iter().map(|c| micros(c.3));
        let (min, max) = (times.clone().min().unwrap(), times.max().unwrap());
        let reach = self.reach.entry(batch.number()).or_insert((min, max));
        *reach = (reach.0.min(min), reach.1.max(max));
        let latest = self.reach.iter().map(|(&id, r)| (BatchId::new(id), r.1));
        let plan = MergePlan {
            retained_from: None,
            since: Some(Since::of(batch, self.reach[&batch.number()].0, latest)),
            target: Default::default(),
            database: "db",
            meta: &meta,
            batch_id: batch,
            snapshot: None,
        };
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
        let count = async |sql: &str, column: &str| {
            let r = self
                .engine
                .execute(sql)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            r.int(column).unwrap() as u64
        };
        let before = count(&plan.count_rows(), "row_count").await;
        let later_merged = self.reach.keys().any(|&id| id > batch.number());
        let removed = if plan.reaches_back() || later_merged {
            count(&plan.removals(dialect.as_ref()), "removed").await
        } else {
            0
        };
        let affected = count(&plan.merge(dialect.as_ref()), "Count").await;
        let after = count(&plan.count_rows(), "row_count").await;
        let c = MergeCounts::derive(affected, before, after, removed);
        [c.inserted, c.updated, c.removed]
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
    // A change after every version: counted without the pass for removals.
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
