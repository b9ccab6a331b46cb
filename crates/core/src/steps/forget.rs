//! Mode `forget`: a data subject's keys removed from one table, under its
//! lease, in stages a rerun of a killed erasure picks up (docs/erasure.md).

use super::{layout, load_metadata, swap, table_lease};
use crate::erasure::{ErasedKeys, Erasure, ForgetKey, key_predicate, resolve_keys};
use crate::error::{EngineError, Error, StoreError};
use crate::events::{ErasureOutput, MergeEvent, MergeOutput};
use crate::layout::{base_name, change_log_prefix, landing_prefix};
use crate::ledger::StoredLedger;
use crate::metadata::TableMetadata;
use crate::ports::{Condition, ObjectStore, Ports};
use crate::scd2::{previous_table_name, quote_ident, staged_table_name, string_literal};
use crate::validate::BatchReport;
use bytes::Bytes;
use std::collections::BTreeMap;

/// The stages of an erasure, in order.
const HISTORY: &str = "history";
const CHANGE_LOG: &str = "change_log";
const QUARANTINE: &str = "quarantine";
const LANDED: &str = "landed";

/// Runs the erasure the work item asks for. The log entry is written first:
/// from then on every validation leaves the keys out, so a run that
/// overlaps this one cannot bring them back. An invocation near its end
/// hands back between files (`done: false`); the next goes on from the
/// entry's cursor.
pub(super) async fn forget(
    ports: &Ports,
    event: &MergeEvent,
    progress: &mut MergeOutput,
) -> Result<(), Error> {
    let table = event.work.table.as_str();
    let request = event.work.forget.as_ref().ok_or_else(|| {
        Error::InvalidInput(format!(
            "mode forget of {table}: the work item names no keys"
        ))
    })?;
    let meta = load_metadata(ports, table, event.work.metadata_version).await?;
    let keys = resolve_keys(&meta, &request.keys)
        .map_err(|e| Error::InvalidInput(format!("\"keys\" of {table}: {e}")))?;
    let lease = table_lease(ports, table, &event.run_id).await?;
    let result = erase(ports, event, &meta, &keys, &request.requested_by).await;
    let Some(entry) = lease.release_after(ports.lake.as_ref(), result).await? else {
        tracing::info!(table, "the erasure goes on in the next invocation");
        progress.done = false;
        return Ok(());
    };
    tracing::info!(table, keys = keys.len(), removed = ?entry.removed, "forgotten");
    progress.erasure = Some(ErasureOutput {
        keys: keys.len() as u64,
        removed: entry.removed,
        log: ports
            .lake
            .uri(&layout(ports).erasure_key(table, &event.run_id)),
        unreadable: entry.unreadable,
    });
    progress.done = true;
    Ok(())
}

async fn erase(
    ports: &Ports,
    event: &MergeEvent,
    meta: &TableMetadata,
    keys: &[ForgetKey],
    requested_by: &str,
) -> Result<Option<Erasure>, Error> {
    let table = meta.name.as_str();
    let layout = layout(ports);
    let mut ledger = StoredLedger::load(ports.lake.as_ref(), &layout.ledger_key(table)).await?;
    swap::finish(ports, table, &mut ledger).await?;
    let key = ports.secrets.erasure_key().await?;
    let log = super::erasure_log(ports, table).await?;
    // Refuses a log hashed with another key before anything is removed.
    ErasedKeys::new(table, key.clone(), &log).map_err(|e| Error::InvalidInput(e.0))?;
    let entry_key = layout.erasure_key(table, &event.run_id);
    let mut entry = match log.into_iter().find(|e| e.run_id == event.run_id) {
        Some(entry) => entry,
        None => {
            let entry = Erasure {
                run_id: event.run_id.clone(),
                table: table.to_string(),
                requested_by: requested_by.to_string(),
                requested_at: chrono::Utc::now().to_rfc3339(),
                key_columns: meta.primary_key.clone(),
                key_hashes: keys.iter().map(|k| key.hash(table, &k.text)).collect(),
                key_fingerprint: key.fingerprint(),
                removed: BTreeMap::new(),
                done: Vec::new(),
                cursor: None,
                unreadable: Vec::new(),
                completed_at: None,
            };
            save(
                ports.lake.as_ref(),
                &entry_key,
                &entry,
                Some(Condition::Absent),
            )
            .await?;
            entry
        }
    };
    let erased = ErasedKeys::of(table, key, keys);
    let options = crate::dms::ReadOptions {
        csv_null_value: ports.config.source.csv_null_value.clone(),
    };
    for stage in [HISTORY, CHANGE_LOG, QUARANTINE, LANDED] {
        if entry.done.iter().any(|d| d == stage) {
            continue;
        }
        let files = match stage {
            HISTORY => {
                for (name, rows) in erase_history(ports, meta, keys).await? {
                    entry.removed.insert(name, rows);
                }
                None
            }
            CHANGE_LOG => {
                let database = &ports.config.source.database;
                let mut objects = Vec::new();
                for g in 0..=ledger.ledger.generation + 1 {
                    objects.extend(
                        ports
                            .lake
                            .list(&change_log_prefix(database, table, g))
                            .await?,
                    );
                }
                Some((ports.lake.as_ref(), objects, None))
            }
            QUARANTINE => {
                let objects = ports.lake.list(&layout.quarantine_prefix(table)).await?;
                Some((ports.lake.as_ref(), objects, Some(&options)))
            }
            LANDED if ports.config.erasure.rewrite_landed => {
                let prefix = landing_prefix(&ports.config.source.schema, table);
                let objects = ports.landing.list(&prefix).await?;
                Some((ports.landing.as_ref(), objects, Some(&options)))
            }
            _ => None,
        };
        if let Some((store, mut objects, raw)) = files {
            entry.removed.entry(stage.to_string()).or_default();
            objects.sort_by(|a, b| a.key.cmp(&b.key));
            for object in objects {
                if entry.cursor.as_ref().is_some_and(|c| object.key <= *c) {
                    continue;
                }
                let rewritten = rewrite_file(store, &object.key, meta, &erased, raw).await?;
                match rewritten {
                    Rewrite::Unchanged => {}
                    Rewrite::Unreadable => entry.unreadable.push(store.uri(&object.key)),
                    Rewrite::Done { rows, old, new } => {
                        *entry.removed.entry(stage.to_string()).or_default() += rows.len() as u64;
                        match stage {
                            QUARANTINE => scrub_reports(ports, table, &object.key, &rows).await?,
                            // The ledger names consumed files by ETag: a rewritten
                            // file is the same file, not a new one to validate again.
                            LANDED if ledger.ledger.replace_etag(&object.key, &old, &new) => {
                                ledger.save(ports.lake.as_ref()).await?
                            }
                            _ => {}
                        }
                    }
                }
                entry.cursor = Some(object.key);
                if out_of_time(ports) {
                    // The next invocation goes on after this file.
                    save(ports.lake.as_ref(), &entry_key, &entry, None).await?;
                    return Ok(None);
                }
            }
        }
        entry.cursor = None;
        entry.done.push(stage.to_string());
        save(ports.lake.as_ref(), &entry_key, &entry, None).await?;
    }
    if entry.completed_at.is_none() {
        entry.completed_at = Some(chrono::Utc::now().to_rfc3339());
        save(ports.lake.as_ref(), &entry_key, &entry, None).await?;
    }
    Ok(Some(entry))
}

/// What an invocation keeps for itself after its last file: saving the
/// entry and answering the state machine.
const MARGIN: std::time::Duration = std::time::Duration::from_secs(60);

/// Whether the invocation must hand back now (never locally: no deadline).
fn out_of_time(ports: &Ports) -> bool {
    ports.deadline.remaining().is_some_and(|left| left < MARGIN)
}

/// Leaves out of a batch's change-log files the keys forgotten after it
/// was validated (by an erasure that overlapped the run that validated it),
/// before it is merged.
pub(super) async fn forget_in_batch(
    ports: &Ports,
    meta: &TableMetadata,
    generation: u32,
    batch: &crate::ledger::Batch,
) -> Result<(), Error> {
    let table = meta.name.as_str();
    let log = super::erasure_log(ports, table).await?;
    let validated_at = chrono::DateTime::parse_from_rfc3339(&batch.validated_at).ok();
    let later = |e: &Erasure| match (
        chrono::DateTime::parse_from_rfc3339(&e.requested_at).ok(),
        validated_at,
    ) {
        (Some(requested), Some(validated)) => requested >= validated,
        _ => true,
    };
    if !log.iter().any(later) {
        return Ok(());
    }
    let key = ports.secrets.erasure_key().await?;
    let erased = ErasedKeys::new(table, key, &log).map_err(|e| Error::InvalidInput(e.0))?;
    let prefix = format!(
        "{}{}/",
        change_log_prefix(&ports.config.source.database, table, generation),
        batch.id
    );
    let mut rows = 0;
    for object in ports.lake.list(&prefix).await? {
        if let Rewrite::Done { rows: removed, .. } =
            rewrite_file(ports.lake.as_ref(), &object.key, meta, &erased, None).await?
        {
            rows += removed.len();
        }
    }
    if rows > 0 {
        tracing::info!(table, batch = %batch.id, rows, "left out rows forgotten while the batch was validated");
    }
    Ok(())
}

async fn save(
    store: &dyn ObjectStore,
    key: &str,
    entry: &Erasure,
    condition: Option<Condition>,
) -> Result<(), Error> {
    let body = Bytes::from(serde_json::to_vec_pretty(entry).unwrap_or_default());
    match store.put(key, body, condition).await {
        // A retried first call: the entry is there already.
        Ok(_) | Err(StoreError::PreconditionFailed { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Deletes the keys' rows from the history table, the history a rebuild
/// replaced (`__previous`) and a rebuild's staged table, where they exist,
/// then rewrites each table the deletes touched (the table's maintenance),
/// so the rows are gone from its files and not only hidden.
async fn erase_history(
    ports: &Ports,
    meta: &TableMetadata,
    keys: &[ForgetKey],
) -> Result<Vec<(String, u64)>, Error> {
    let table = meta.name.as_str();
    let database = ports.config.source.database.as_str();
    let engine_err = |source: EngineError| Error::Merge {
        table: table.to_string(),
        source,
    };
    let names = [
        table.to_string(),
        previous_table_name(table),
        staged_table_name(table),
    ];
    let listed = ports
        .engine
        .execute(&tables_query(database, &names))
        .await
        .map_err(engine_err)?;
    let dialect = ports.engine.dialect();
    let mut removed = Vec::new();
    for name in names {
        let exists = listed
            .rows
            .iter()
            .any(|r| matches!(r.first(), Some(crate::ports::SqlValue::Text(t)) if *t == name));
        if !exists {
            continue;
        }
        let [count, delete] = statements(database, &name, meta, keys);
        let rows = ports
            .engine
            .execute(&count)
            .await
            .map_err(engine_err)?
            .int("row_count")
            .unwrap_or_default()
            .max(0) as u64;
        if rows > 0 {
            ports.engine.execute(&delete).await.map_err(engine_err)?;
            for statement in
                crate::scd2::maintenance(dialect.as_ref(), database, &name, &meta.primary_key, None)
            {
                match ports.engine.execute(&statement.sql).await {
                    // An OPTIMIZE that outlives the invocation goes on by itself.
                    Ok(_) | Err(EngineError::StillRunning { .. }) => {}
                    Err(e) => return Err(engine_err(e)),
                }
            }
        }
        removed.push((name, rows));
    }
    Ok(removed)
}

/// Which of `names` exist in `database` (from the columns' listing, which
/// the merge reads too).
pub fn tables_query(database: &str, names: &[String]) -> String {
    format!(
        "SELECT DISTINCT table_name FROM information_schema.columns WHERE table_schema = {} AND table_name IN ({})",
        string_literal(database),
        names
            .iter()
            .map(|n| string_literal(n))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// The count of the keys' rows in a history table, and their delete.
pub fn statements(
    database: &str,
    table: &str,
    meta: &TableMetadata,
    keys: &[ForgetKey],
) -> [String; 2] {
    let name = format!("{}.{}", quote_ident(database), quote_ident(table));
    let predicate = key_predicate(meta, keys);
    [
        format!("SELECT count(*) AS row_count FROM {name} WHERE {predicate}"),
        format!("DELETE FROM {name} WHERE {predicate}"),
    ]
}

/// What rewriting one file did.
enum Rewrite {
    /// It holds none of the keys' rows.
    Unchanged,
    /// It could not be read to be checked: a person must look at it.
    Unreadable,
    /// Rewritten without the rows at these numbers (from 1); its ETags.
    Done {
        rows: Vec<u64>,
        old: String,
        new: String,
    },
}

/// Rewrites the file at `key` without the keys' rows, if it holds any: a
/// normalised Parquet file (`raw: None`), or a file in a landed format. The
/// write is conditional on the file being as it was read.
async fn rewrite_file(
    store: &dyn ObjectStore,
    key: &str,
    meta: &TableMetadata,
    erased: &ErasedKeys,
    raw: Option<&crate::dms::ReadOptions>,
) -> Result<Rewrite, Error> {
    let (bytes, etag) = match store.get(key).await {
        Ok(got) => got,
        Err(StoreError::NotFound { .. }) => return Ok(Rewrite::Unchanged),
        Err(e) => return Err(e.into()),
    };
    let rewritten = match raw {
        None => crate::erasure::rewrite_normalised(meta, erased, bytes),
        Some(options) => {
            crate::erasure::rewrite_landed(key, base_name(key), meta, erased, bytes, options)
        }
    };
    match rewritten {
        Ok(None) => Ok(Rewrite::Unchanged),
        Ok(Some(file)) => {
            let new = store
                .put(key, file.bytes, Some(Condition::Matches(etag.clone())))
                .await?;
            Ok(Rewrite::Done {
                rows: file.removed_rows,
                old: etag,
                new,
            })
        }
        Err(e) => {
            tracing::warn!(file = %key, error = %e, "cannot read the file to forget keys in it; look at it by hand");
            Ok(Rewrite::Unreadable)
        }
    }
}

/// Takes the values of the removed rows' findings out of the table's
/// validation reports (a finding's value may be a forgotten key's), and
/// writes their Markdown and HTML forms again.
async fn scrub_reports(
    ports: &Ports,
    table: &str,
    quarantined: &str,
    rows: &[u64],
) -> Result<(), Error> {
    let layout = layout(ports);
    // quarantine/<db>/<table>/<batch>/<landed name>
    let Some(batch) = quarantined
        .strip_prefix(&layout.quarantine_prefix(table))
        .and_then(|rest| rest.split('/').next())
        .and_then(|b| b.parse().ok())
    else {
        return Ok(());
    };
    let stem = layout.report_stem(table, batch);
    let (bytes, _) = match ports.lake.get(&format!("{stem}.json")).await {
        Ok(got) => got,
        Err(StoreError::NotFound { .. }) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let Ok(mut report) = serde_json::from_slice::<BatchReport>(&bytes) else {
        return Ok(());
    };
    if report.forget_rows(base_name(quarantined), rows) {
        super::save_report(ports, &stem, &report).await?;
    }
    Ok(())
}
