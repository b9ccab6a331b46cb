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
/// overlaps this one cannot bring them back.
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
    let entry = lease.release_after(ports.lake.as_ref(), result).await?;
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
) -> Result<Erasure, Error> {
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
    let generations = 0..=ledger.ledger.generation + 1;
    for stage in [HISTORY, CHANGE_LOG, QUARANTINE, LANDED] {
        if entry.done.iter().any(|d| d == stage) {
            continue;
        }
        match stage {
            HISTORY => {
                for (name, rows) in erase_history(ports, meta, keys).await? {
                    entry.removed.insert(name, rows);
                }
            }
            CHANGE_LOG => {
                let mut rows = 0;
                for g in generations.clone() {
                    let prefix = change_log_prefix(&ports.config.source.database, table, g);
                    rows += rewrite_files(ports.lake.as_ref(), &prefix, meta, &erased, None)
                        .await?
                        .rows;
                }
                entry.removed.insert(CHANGE_LOG.into(), rows);
            }
            QUARANTINE => {
                let prefix = layout.quarantine_prefix(table);
                let rewritten =
                    rewrite_files(ports.lake.as_ref(), &prefix, meta, &erased, Some(&options))
                        .await?;
                scrub_reports(ports, table, &rewritten.rows_by_file).await?;
                entry.removed.insert(QUARANTINE.into(), rewritten.rows);
                entry.unreadable.extend(rewritten.unreadable);
            }
            LANDED if ports.config.erasure.rewrite_landed => {
                let prefix = landing_prefix(&ports.config.source.schema, table);
                let rewritten = rewrite_files(
                    ports.landing.as_ref(),
                    &prefix,
                    meta,
                    &erased,
                    Some(&options),
                )
                .await?;
                // The ledger names consumed files by ETag: a rewritten file
                // is the same file, not a new one to validate again.
                if ledger.ledger.replace_etags(&rewritten.new_etags) {
                    ledger.save(ports.lake.as_ref()).await?;
                }
                entry.removed.insert(LANDED.into(), rewritten.rows);
                entry.unreadable.extend(rewritten.unreadable);
            }
            _ => {}
        }
        entry.done.push(stage.to_string());
        save(ports.lake.as_ref(), &entry_key, &entry, None).await?;
    }
    if entry.completed_at.is_none() {
        entry.completed_at = Some(chrono::Utc::now().to_rfc3339());
        save(ports.lake.as_ref(), &entry_key, &entry, None).await?;
    }
    Ok(entry)
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
    let rewritten = rewrite_files(ports.lake.as_ref(), &prefix, meta, &erased, None).await?;
    if rewritten.rows > 0 {
        tracing::info!(table, batch = %batch.id, rows = rewritten.rows, "left out rows forgotten while the batch was validated");
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

/// What rewriting a folder's files did.
#[derive(Default)]
struct Rewritten {
    rows: u64,
    /// Rows removed, by file key, with their row numbers (from 1).
    rows_by_file: BTreeMap<String, Vec<u64>>,
    /// Old ETag → new, of each rewritten file.
    new_etags: Vec<(String, String, String)>,
    unreadable: Vec<String>,
}

/// Rewrites every file under `prefix` that holds rows of the keys, without
/// them: normalised Parquet (`raw: None`), or files in a landed format.
/// Each write is conditional on the file being as it was read.
async fn rewrite_files(
    store: &dyn ObjectStore,
    prefix: &str,
    meta: &TableMetadata,
    erased: &ErasedKeys,
    raw: Option<&crate::dms::ReadOptions>,
) -> Result<Rewritten, Error> {
    let mut out = Rewritten::default();
    for object in store.list(prefix).await? {
        let (bytes, etag) = match store.get(&object.key).await {
            Ok(got) => got,
            Err(StoreError::NotFound { .. }) => continue,
            Err(e) => return Err(e.into()),
        };
        let rewritten = match raw {
            None => crate::erasure::rewrite_normalised(meta, erased, bytes),
            Some(options) => crate::erasure::rewrite_landed(
                &object.key,
                base_name(&object.key),
                meta,
                erased,
                bytes,
                options,
            ),
        };
        match rewritten {
            Ok(None) => {}
            Ok(Some(file)) => {
                let new_etag = store
                    .put(
                        &object.key,
                        file.bytes,
                        Some(Condition::Matches(etag.clone())),
                    )
                    .await?;
                out.rows += file.removed_rows.len() as u64;
                out.new_etags.push((object.key.clone(), etag, new_etag));
                out.rows_by_file.insert(object.key, file.removed_rows);
            }
            Err(e) => {
                tracing::warn!(file = %object.key, error = %e, "cannot read the file to forget keys in it; look at it by hand");
                out.unreadable.push(store.uri(&object.key));
            }
        }
    }
    Ok(out)
}

/// Takes the values of the removed rows' findings out of the table's
/// validation reports (a finding's value may be a forgotten key's), and
/// writes their Markdown and HTML forms again.
async fn scrub_reports(
    ports: &Ports,
    table: &str,
    rows_by_file: &BTreeMap<String, Vec<u64>>,
) -> Result<(), Error> {
    if rows_by_file.is_empty() {
        return Ok(());
    }
    let layout = layout(ports);
    for (quarantined, rows) in rows_by_file {
        // quarantine/<db>/<table>/<batch>/<landed name>
        let Some(batch) = quarantined
            .strip_prefix(&layout.quarantine_prefix(table))
            .and_then(|rest| rest.split('/').next())
            .and_then(|b| b.parse().ok())
        else {
            continue;
        };
        let stem = layout.report_stem(table, batch);
        let key = format!("{stem}.json");
        let (bytes, _) = match ports.lake.get(&key).await {
            Ok(got) => got,
            Err(StoreError::NotFound { .. }) => continue,
            Err(e) => return Err(e.into()),
        };
        let Ok(mut report) = serde_json::from_slice::<BatchReport>(&bytes) else {
            continue;
        };
        if !report.forget_rows(base_name(quarantined), rows) {
            continue;
        }
        super::save_report(ports, &stem, &report).await?;
    }
    Ok(())
}
