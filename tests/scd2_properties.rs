//! Property tests of the SCD2 contract: the merge on a real DuckDB against
//! the in-memory model (`support/scd2.rs`), over random change streams that
//! collide on purpose — few keys, few instants and change-seqs, deletes and
//! re-inserts, no-op updates, duplicate deliveries, late batches.
//!
//! Cases: 256 change streams (CDC), 32 long ones (30 to 90 changes in many
//! small batches, some late; 32 more with a retention cutoff) and 128
//! extract sequences (snapshot) per run,
//! each checked for equality with the model and for idempotence (`make
//! soak` runs 10,000 of each). The
//! shrunk failures proptest finds are kept in `proptest-regressions/` and
//! replayed first; the ones worth naming are also tests below.

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, FileFailurePersistence, TestRunner};
use tidemark_core::batch_id::BatchId;
use tidemark_core::dms::ChangeSeqKind;
use tidemark_core::metadata::RowHashFormat;
use tidemark_core::ports::QueryEngine;
use tidemark_tests::scd2::{Change, HistoryRow, Lake, Model, extract};

const CDC_CASES: u32 = 256;
const SNAPSHOT_CASES: u32 = 128;
const LONG_CASES: u32 = 32;

/// A stream of changes as DMS delivers it, split into batches.
#[derive(Debug, Clone)]
struct CdcCase {
    /// Batches in the order they are merged; a change may appear twice.
    batches: Vec<Vec<Change>>,
    /// Which batch is merged a second time at the end.
    again: usize,
    /// What the change-seqs are (the merge must order each kind right).
    kind: ChangeSeqKind,
    /// How `row_hash` is stored until the rebuild (which stores the newest).
    row_hash: RowHashFormat,
}

impl CdcCase {
    fn changes(&self) -> Vec<Change> {
        self.batches.iter().flatten().cloned().collect()
    }
}

fn change() -> impl Strategy<Value = Change> {
    (
        1..=3i64,
        0..5i64,
        0..3u32,
        prop::sample::select(vec!['I', 'U', 'U', 'D']),
        prop::option::weighted(0.85, prop::sample::select(vec!["a", "b"])),
    )
        .prop_map(|(key, minute, seq, op, value)| Change {
            key,
            at: 1_793_491_200 + minute * 60,
            seq,
            op,
            value: value.map(str::to_string),
        })
}

fn row_hash_format() -> impl Strategy<Value = RowHashFormat> {
    prop::sample::select(vec![
        RowHashFormat::Hex,
        RowHashFormat::Bigint,
        RowHashFormat::Typed,
    ])
}

fn cdc_case() -> impl Strategy<Value = CdcCase> {
    (
        prop::collection::vec(change(), 1..24),
        prop::collection::vec(any::<prop::sample::Index>(), 0..4),
        prop::collection::vec(any::<u32>(), 32),
        prop::collection::vec(prop::bool::weighted(0.3), 32),
        any::<prop::sample::Index>(),
        prop::sample::select(vec![
            ChangeSeqKind::Text,
            ChangeSeqKind::Integer,
            ChangeSeqKind::Lsn,
        ]),
        row_hash_format(),
    )
        .prop_map(|(raw, duplicates, order, cuts, again, kind, row_hash)| {
            // One change per (key, valid_from, change_seq): DMS never sends
            // two different changes at one position.
            let mut seen = std::collections::BTreeSet::new();
            let mut changes: Vec<Change> = raw
                .into_iter()
                .filter(|c| seen.insert((c.key, c.at, c.seq)))
                .collect();
            let copies: Vec<Change> = duplicates
                .iter()
                .map(|i| changes[i.index(changes.len())].clone())
                .collect();
            changes.extend(copies);
            // Delivery order and batch boundaries are arbitrary.
            let mut keyed: Vec<(u32, Change)> = changes
                .into_iter()
                .enumerate()
                .map(|(i, c)| (order[i % order.len()], c))
                .collect();
            keyed.sort_by_key(|(k, _)| *k);
            let mut batches: Vec<Vec<Change>> = vec![Vec::new()];
            for (i, (_, c)) in keyed.into_iter().enumerate() {
                if cuts[i % cuts.len()] && !batches.last().is_some_and(Vec::is_empty) {
                    batches.push(Vec::new());
                }
                batches.last_mut().expect("one batch at least").push(c);
            }
            let again = again.index(batches.len());
            CdcCase {
                batches,
                again,
                kind,
                row_hash,
            }
        })
}

/// proptest's configuration: `cases` per run (`PROPTEST_CASES` overrides
/// it: `make soak` runs 10,000), shrunk failures kept in
/// `tests/proptest-regressions/scd2_properties.txt` and replayed first.
fn config(cases: u32) -> Config {
    Config {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(cases),
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/proptest-regressions/scd2_properties.txt"
        )))),
        ..Config::default()
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

/// Merges the case's batches in order, then one of them again, then rebuilds
/// the table from all of them; checks the history against the model after
/// all batches, after the repeat and after the rebuild.
async fn check_cdc(case: &CdcCase) -> Result<(), TestCaseError> {
    let mut lake = Lake::new(false);
    lake.seq_kind = case.kind;
    lake.row_hash = case.row_hash;
    let mut ids = Vec::new();
    for batch in &case.batches {
        let id = lake.land(batch);
        lake.merge(id, 0, 0.5).await.expect("CDC has no guard");
        ids.push(id);
    }
    let mut model = Model::of(case.kind);
    model.apply_changes(&case.changes());
    let expected = model.history();
    let actual = lake.history().await;
    prop_assert_eq!(&actual, &expected, "history differs from the model");
    lake.merge(ids[case.again], 0, 0.5)
        .await
        .expect("CDC has no guard");
    prop_assert_eq!(
        lake.history().await,
        expected.clone(),
        "merging batch {} again changed history",
        ids[case.again]
    );
    // A rebuild from every change at once, into the next generation, swapped
    // in: the history the batches gave one by one.
    lake.rebuild(&case.changes()).await;
    prop_assert_eq!(
        lake.history().await,
        expected,
        "the rebuild differs from the day-by-day history"
    );
    Ok(())
}

#[test]
fn cdc_history_equals_the_model_for_any_split_order_and_repeat() {
    let rt = runtime();
    let mut runner = TestRunner::new(config(CDC_CASES));
    runner
        .run(&cdc_case(), |case| rt.block_on(check_cdc(&case)))
        .unwrap_or_else(|e| panic!("{e}"));
}

/// A table that lived long: many small batches delivered mostly in time
/// order, some changes late by a few batches. The merge of each batch reads
/// only what it can reach (`Since`: the batches holding changes as late as
/// its earliest one, and history rows that end from then on); whatever it
/// leaves out must never matter.
fn long_case() -> impl Strategy<Value = CdcCase> {
    (
        prop::collection::vec(
            (
                1..=3i64,
                0..40i64,
                0..2u32,
                prop::sample::select(vec!['I', 'U', 'U', 'U', 'D']),
                prop::option::weighted(0.9, prop::sample::select(vec!["a", "b", "c"])),
            ),
            30..90,
        ),
        prop::collection::vec(prop::option::weighted(0.15, 1..6usize), 90),
        prop::collection::vec(1..4usize, 90),
        any::<prop::sample::Index>(),
    )
        .prop_map(|(raw, lateness, sizes, again)| {
            let mut seen = std::collections::BTreeSet::new();
            let mut changes: Vec<Change> = raw
                .into_iter()
                .filter(|(key, minute, seq, ..)| seen.insert((*key, *minute, *seq)))
                .map(|(key, minute, seq, op, value)| Change {
                    key,
                    at: 1_793_491_200 + minute * 60,
                    seq,
                    op,
                    value: value.map(str::to_string),
                })
                .collect();
            changes.sort_by_key(|c| (c.at, c.seq));
            // Delivery position: in time order, but some changes late by a
            // few places.
            let mut placed: Vec<(usize, usize, Change)> = changes
                .into_iter()
                .enumerate()
                .map(|(i, c)| (i + lateness[i].unwrap_or(0) * 3, i, c))
                .collect();
            placed.sort_by_key(|(position, i, _)| (*position, *i));
            let mut batches = Vec::new();
            let mut rest: Vec<Change> = placed.into_iter().map(|(_, _, c)| c).collect();
            let mut n = 0;
            while !rest.is_empty() {
                let take = sizes[n % sizes.len()].min(rest.len());
                batches.push(rest.drain(..take).collect());
                n += 1;
            }
            let again = again.index(batches.len());
            CdcCase {
                batches,
                again,
                // Varying widths over long histories.
                kind: ChangeSeqKind::Integer,
                row_hash: RowHashFormat::default(),
            }
        })
}

#[test]
fn long_histories_of_many_small_batches_equal_the_model() {
    let rt = runtime();
    let mut runner = TestRunner::new(config(LONG_CASES));
    runner
        .run(&long_case(), |case| rt.block_on(check_cdc(&case)))
        .unwrap_or_else(|e| panic!("{e}"));
}

/// Retention: with maintenance after every merge, a long history with late
/// changes keeps exactly the model's versions that end at or after the
/// cutoff, and no merge writes an expired version back from the change log
/// (late data re-reads the log from its own instant on).
async fn check_retention(case: &CdcCase, cutoff_minute: i64) -> Result<(), TestCaseError> {
    let cutoff = 1_793_491_200 + cutoff_minute * 60;
    let mut lake = Lake::new(false);
    lake.retained_from = Some(cutoff * 1_000_000);
    let dialect = tidemark_core::scd2::DuckDb {
        lake_root: lake.root().display().to_string(),
    };
    lake.ensure_table(&dialect).await;
    for batch in &case.batches {
        let before: std::collections::BTreeSet<(i64, i64, String)> = lake
            .history()
            .await
            .into_iter()
            .map(|r| (r.key, r.valid_from, r.change_seq))
            .collect();
        let id = lake.land(batch);
        lake.merge(id, 0, 0.5).await.expect("CDC has no guard");
        for r in lake
            .history()
            .await
            .into_iter()
            .filter(|r| r.valid_to < cutoff)
        {
            prop_assert!(
                before.contains(&(r.key, r.valid_from, r.change_seq.clone())),
                "batch {} wrote back an expired version: {:?}",
                id,
                r
            );
        }
        lake.maintain().await;
    }
    let mut model = Model::default();
    model.apply_changes(&case.changes());
    let expected: Vec<HistoryRow> = model
        .history()
        .into_iter()
        .filter(|r| r.valid_to >= cutoff)
        .collect();
    prop_assert_eq!(
        lake.history().await,
        expected,
        "history differs from the retained model"
    );
    Ok(())
}

#[test]
fn retention_keeps_the_models_recent_versions_and_never_resurrects_expired_ones() {
    let rt = runtime();
    let mut runner = TestRunner::new(config(LONG_CASES));
    runner
        .run(&(long_case(), 5..35i64), |(case, cutoff)| {
            rt.block_on(check_retention(&case, cutoff))
        })
        .unwrap_or_else(|e| panic!("{e}"));
}

/// A sequence of full extracts of a snapshot table, one minute apart.
#[derive(Debug, Clone)]
struct SnapshotCase {
    extracts: Vec<Vec<(i64, Option<String>)>>,
    max_delete_fraction: f64,
    row_hash: RowHashFormat,
    /// Merges read each extract's diff against the one before it where
    /// they can (`row_hash` as a `bigint`).
    diffs: bool,
    /// The ledger knows how far each batch reaches: an extract then merges
    /// from its diff alone, else through the staged timeline.
    reach_known: bool,
}

fn snapshot_case() -> impl Strategy<Value = SnapshotCase> {
    let row = (
        1..=4i64,
        prop::option::weighted(0.85, prop::sample::select(vec!["a", "b"])),
    );
    (
        prop::collection::vec(prop::collection::vec(row, 1..5), 1..5),
        prop::sample::select(vec![0.25, 0.5, 1.0]),
        row_hash_format(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(extracts, max_delete_fraction, row_hash, diffs, reach_known)| SnapshotCase {
                // A full extract has each key once.
                extracts: extracts
                    .into_iter()
                    .map(|rows| {
                        let mut seen = std::collections::BTreeSet::new();
                        rows.into_iter()
                            .filter(|(k, _)| seen.insert(*k))
                            .map(|(k, v)| (k, v.map(str::to_string)))
                            .collect()
                    })
                    .collect(),
                max_delete_fraction,
                row_hash,
                diffs,
                reach_known,
            },
        )
}

async fn check_snapshot(case: &SnapshotCase) -> Result<(), TestCaseError> {
    let mut lake = Lake::new(true);
    lake.row_hash = case.row_hash;
    lake.diffs = case.diffs;
    lake.reach_unknown = !case.reach_known;
    lake.ensure_table(lake.engine.dialect().as_ref()).await;
    let mut model = Model::default();
    let mut last: Option<(BatchId, i64)> = None;
    for (i, rows) in case.extracts.iter().enumerate() {
        let at = 1_793_491_200 + 60 * i as i64;
        let before = lake.history().await;
        let id = lake.land(&extract(at, rows));
        let merged = lake.merge(id, at, case.max_delete_fraction).await;
        let modelled = model.apply_extract(at, rows, case.max_delete_fraction);
        prop_assert_eq!(
            merged.as_ref().err(),
            modelled.as_ref().err(),
            "the delete guard disagrees with the model on extract {}",
            i
        );
        if merged.is_err() {
            // The table fails and nothing of it merges past this extract;
            // every rerun refuses it again. The earlier batches stay as they
            // were, even merged again with the refused file in the change log.
            prop_assert_eq!(
                &lake.history().await,
                &before,
                "a refused extract changed history"
            );
            prop_assert!(lake.merge(id, at, case.max_delete_fraction).await.is_err());
            prop_assert_eq!(
                lake.history().await,
                before,
                "a refused rerun changed history"
            );
            break;
        }
        prop_assert_eq!(lake.history().await, model.history(), "after extract {}", i);
        last = Some((id, at));
    }
    if let Some((id, at)) = last {
        let expected = lake.history().await;
        lake.merge(id, at, case.max_delete_fraction)
            .await
            .map_err(|e| TestCaseError::fail(format!("the guard refused a repeat: {e:?}")))?;
        prop_assert_eq!(
            lake.history().await,
            expected,
            "merging {} again changed history",
            id
        );
    }
    Ok(())
}

#[test]
fn snapshot_history_equals_the_model_with_deletes_and_the_guard() {
    let rt = runtime();
    let mut runner = TestRunner::new(config(SNAPSHOT_CASES));
    runner
        .run(&snapshot_case(), |case| rt.block_on(check_snapshot(&case)))
        .unwrap_or_else(|e| panic!("{e}"));
}

/// Shorthand for a change in the named cases: key, minute, seq, op, value.
/// Each extract is merged from its diff against the one before it, whose
/// rows the current ones are; merged again, the current rows are its own,
/// so the merge joins the extract instead, and changes nothing. Where the
/// ledger knows that no batch reaches back, the diff is all a merge reads;
/// where it cannot tell, the diff feeds the staged timeline.
#[tokio::test(flavor = "multi_thread")]
async fn snapshot_diffs_are_read_only_where_the_current_rows_are_the_last_extracts() {
    for reach_known in [true, false] {
        diffs_read_where_the_current_rows_are_the_last_extracts(reach_known).await;
    }
}

async fn diffs_read_where_the_current_rows_are_the_last_extracts(reach_known: bool) {
    let mut lake = Lake::new(true);
    lake.row_hash = RowHashFormat::Typed;
    lake.diffs = true;
    lake.reach_unknown = !reach_known;
    let mut model = Model::default();
    let v = |s: &str| Some(s.to_string());
    let extracts = [
        vec![(1, v("a")), (2, v("b")), (3, None)],
        vec![(1, v("b")), (2, v("b")), (4, v("a"))],
        vec![(4, v("b")), (1, v("b"))],
    ];
    let mut last = None;
    for (i, rows) in extracts.iter().enumerate() {
        let at = 1_793_491_200 + 60 * i as i64;
        let id = lake.land(&extract(at, rows));
        lake.merge(id, at, 1.0).await.unwrap();
        model.apply_extract(at, rows, 1.0).unwrap();
        assert_eq!(lake.history().await, model.history(), "after extract {i}");
        last = Some((id, at));
    }
    let read = || lake.diffs_read.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(
        read(),
        2,
        "the first load has no diff; the later two read theirs"
    );
    assert_eq!(
        lake.diffs_alone.load(std::sync::atomic::Ordering::Relaxed),
        usize::from(reach_known),
        "read alone where nothing reaches back and the batch claims distinct keys (every other one does)"
    );
    let (id, at) = last.unwrap();
    lake.merge(id, at, 1.0).await.unwrap();
    assert_eq!(lake.history().await, model.history(), "merged again");
    assert_eq!(
        read(),
        2,
        "merged again, the current rows are not the base's"
    );
}

fn c(key: i64, minute: i64, seq: u32, op: char, value: Option<&str>) -> Change {
    Change {
        key,
        at: 1_793_491_200 + minute * 60,
        seq,
        op,
        value: value.map(str::to_string),
    }
}

fn rows(history: &[HistoryRow]) -> Vec<String> {
    history
        .iter()
        .map(|r| {
            format!(
                "{} {} {}@{}+{} ->{} {}{}",
                r.key,
                r.value.as_deref().unwrap_or("-"),
                r.op,
                (r.valid_from - 1_793_491_200) / 60,
                r.change_seq,
                if r.is_current {
                    "open".to_string()
                } else {
                    ((r.valid_to - 1_793_491_200) / 60).to_string()
                },
                if r.is_current { "current" } else { "closed" },
                if r.is_deleted { " deleted" } else { "" },
            )
        })
        .collect()
}

#[tokio::test]
async fn a_repeated_delete_and_a_delete_first_are_kept_once() {
    let mut lake = Lake::new(false);
    let b1 = lake.land(&[c(1, 0, 0, 'D', Some("a")), c(1, 1, 0, 'D', Some("a"))]);
    lake.merge(b1, 0, 0.5).await.unwrap();
    let b2 = lake.land(&[c(1, 2, 0, 'I', Some("a")), c(1, 0, 0, 'D', Some("a"))]);
    lake.merge(b2, 0, 0.5).await.unwrap();
    assert_eq!(
        rows(&lake.history().await),
        [
            "1 a D@0+000000 ->2 closed deleted",
            "1 a I@2+000000 ->open current"
        ]
    );
}

#[tokio::test]
async fn equal_timestamps_are_ordered_by_change_seq_across_batches() {
    let mut lake = Lake::new(false);
    let b1 = lake.land(&[c(1, 0, 2, 'U', Some("b"))]);
    lake.merge(b1, 0, 0.5).await.unwrap();
    let b2 = lake.land(&[c(1, 0, 1, 'I', Some("a")), c(1, 0, 3, 'U', Some("a"))]);
    lake.merge(b2, 0, 0.5).await.unwrap();
    assert_eq!(
        rows(&lake.history().await),
        [
            "1 a I@0+000001 ->0 closed",
            "1 b U@0+000002 ->0 closed",
            "1 a U@0+000003 ->open current"
        ]
    );
}

#[tokio::test]
async fn the_guard_refuses_an_extract_that_deletes_too_much_and_changes_nothing() {
    let mut lake = Lake::new(true);
    let start = 1_793_491_200;
    let a = Some("a".to_string());
    let all: Vec<(i64, Option<String>)> = (1..=4).map(|k| (k, a.clone())).collect();
    let b1 = lake.land(&extract(start, &all));
    lake.merge(b1, start, 0.5).await.unwrap();
    let before = lake.history().await;
    let b2 = lake.land(&extract(start + 60, &[(1, a)]));
    assert_eq!(lake.merge(b2, start + 60, 0.5).await.err(), Some((3, 4)));
    assert_eq!(lake.history().await, before);
    // A fraction that allows it deletes the three missing keys.
    lake.merge(b2, start + 60, 0.75).await.unwrap();
    let deleted = lake
        .history()
        .await
        .into_iter()
        .filter(|r| r.is_current && r.is_deleted)
        .count();
    assert_eq!(deleted, 3);
}

/// Cases of the CDC property whose Athena MERGE is transpiled to DuckDB.
const TRANSPILED_CASES: usize = 24;

/// A sample of the property's cases, merged twice: with the DuckDB rendering,
/// and with the Athena rendering transpiled by sqlglot (read `athena`, write
/// `duckdb`) over a `t_changes` view standing in for the external table (its
/// `batch_number` partition key included); batch 1, into the empty table,
/// with the Athena rendering of its INSERT. Both histories must equal the
/// model. (The Iceberg DDL is Athena-only, so both
/// lakes create the table with the DuckDB rendering.)
#[tokio::test]
async fn the_athena_merge_transpiled_to_duckdb_gives_the_same_history() {
    use tidemark_core::scd2::{Athena, MergePlan};
    let mut runner = TestRunner::deterministic();
    let cases: Vec<CdcCase> = (0..TRANSPILED_CASES)
        .map(|_| cdc_case().new_tree(&mut runner).unwrap().current())
        .collect();
    let most = cases.iter().map(|c| c.batches.len()).max().unwrap_or(0);
    let meta = tidemark_tests::scd2::metadata();
    let athena = Athena {
        lake_uri: "s3://tidemark-lake".into(),
        ..Default::default()
    };
    let batch_ids: Vec<BatchId> = (1..=most as u64).map(BatchId::new).collect();
    let merges: Vec<String> = batch_ids
        .iter()
        .map(|id| {
            let plan = MergePlan {
                row_hash: Default::default(),
                retained_from: None,
                // Half the merges name their batches' partitions (`IN`),
                // half read every batch up to theirs (`BETWEEN`); the first
                // batch, alone, is inserted into the empty table.
                since: (id.number() % 2 == 0 || *id == BatchId::FIRST).then(|| {
                    tidemark_core::scd2::Since {
                        at: 0,
                        batches: (1..=id.number()).map(BatchId::new).collect(),
                    }
                }),
                target: Default::default(),
                database: "db",
                meta: &meta,
                batch_id: *id,
                snapshot: None,
            };
            // Batch 1 goes into the empty table.
            plan.first_load(&athena, 0)
                .unwrap_or_else(|| plan.merge(&athena).single().expect("Athena runs one MERGE"))
        })
        .collect();
    let transpiled: Vec<String> = serde_json::from_value(tidemark_tests::run_python(
        "athena_sql.py",
        &["transpile"],
        &serde_json::json!(merges),
    ))
    .expect("a list of statements");

    for case in &cases {
        let mut native = Lake::new(false);
        let mut via_athena = Lake::new(false);
        native.seq_kind = case.kind;
        via_athena.seq_kind = case.kind;
        let duckdb = via_athena.engine.dialect();
        via_athena.ensure_table(duckdb.as_ref()).await;
        for batch in &case.batches {
            let id = native.land(batch);
            native.merge(id, 0, 0.5).await.unwrap();
            let same = via_athena.land(batch);
            assert_eq!(id, same);
            via_athena
                .execute(&format!(
                    // The partition key projection gives each batch's folder.
                    "CREATE OR REPLACE VIEW db.t_changes AS SELECT *, {} AS batch_number FROM {}",
                    BatchId::sql_number("batch_id"),
                    duckdb.change_log("db", &meta, 0)
                ))
                .await;
            let i = batch_ids.iter().position(|b| *b == id).unwrap();
            via_athena.execute(&transpiled[i]).await;
        }
        let mut model = Model::of(case.kind);
        model.apply_changes(&case.changes());
        let expected = model.history();
        assert_eq!(native.history().await, expected, "{case:?}");
        assert_eq!(via_athena.history().await, expected, "{case:?}");
    }
}

/// Found by the snapshot property: the guard refused extract 2, whose file
/// stays in the change log; merging extract 1 again then read extract 2's
/// row for key 2. The merge now reads the log only up to its own batch.
#[tokio::test]
async fn a_refused_extract_never_leaks_into_a_rerun_of_an_earlier_batch() {
    let mut lake = Lake::new(true);
    let start = 1_793_491_200;
    let b1 = lake.land(&extract(start, &[(2, None), (4, None), (3, None)]));
    lake.merge(b1, start, 0.25).await.unwrap();
    let before = lake.history().await;
    let b2 = lake.land(&extract(start + 60, &[(2, Some("a".into()))]));
    assert_eq!(lake.merge(b2, start + 60, 0.25).await.err(), Some((2, 3)));
    lake.merge(b1, start, 0.25).await.unwrap();
    assert_eq!(lake.history().await, before);
}
