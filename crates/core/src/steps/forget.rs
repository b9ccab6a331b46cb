//! Mode `forget`: a data subject's keys removed from one table, under its
//! lease, in stages a rerun of a killed erasure picks up (docs/erasure.md).

use super::{layout, load_metadata, swap, table_lease};
use crate::erasure::{ErasedKeys, Erasure, ForgetKey, key_predicate, resolve_keys};
use crate::error::{EngineError, Error, StoreError};
use crate::events::{ErasureOutput, MergeEvent, MergeOutput};
use crate::layout::{
    base_name, batch_log_prefix, change_log_prefix, landing_prefix, snapshot_diffs_prefix,
};
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
    // An earlier erasure that did not complete may have deleted rows whose
    // table it did not rewrite: this one rewrites the tables either way.
    let unfinished = log
        .iter()
        .any(|e| e.run_id != event.run_id && e.completed_at.is_none());
    let entry_key = layout.erasure_key(table, &event.run_id);
    let mut log = log;
    for earlier in log.iter_mut().filter(|e| e.rewriting.is_some()) {
        finish_rewrite(ports, &mut ledger, earlier).await?;
    }
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
                rewriting: None,
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
    let options = crate::dms::ReadOptions::for_table(
        &ports.config.source.csv_null_value,
        &ports.config.source.control_columns,
        meta,
    );
    for stage in [HISTORY, CHANGE_LOG, QUARANTINE, LANDED] {
        if entry.done.iter().any(|d| d == stage) {
            continue;
        }
        let files = match stage {
            HISTORY => {
                erase_history(ports, meta, keys, unfinished, &mut entry, &entry_key).await?;
                None
            }
            CHANGE_LOG => {
                let database = &ports.config.source.database;
                let mut objects = Vec::new();
                for g in 0..=ledger.ledger.generation + 1 {
                    // Snapshot diffs hold rows too: removed, not rewritten (a
                    // merge without its diff joins the whole extract).
                    super::remove_under(ports, &snapshot_diffs_prefix(database, table, g)).await?;
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
                let journal = (stage == LANDED).then_some((entry_key.as_str(), &mut entry));
                let rewritten =
                    rewrite_file(store, &object.key, meta, &erased, raw, journal, ports).await?;
                match rewritten {
                    Rewrite::Unchanged => {}
                    Rewrite::Unreadable => entry.unreadable.push(store.uri(&object.key)),
                    Rewrite::Done { rows, old, new } => {
                        *entry.removed.entry(stage.to_string()).or_default() += rows.len() as u64;
                        match stage {
                            QUARANTINE => scrub_reports(ports, table, &object.key, &rows).await?,
                            // The ledger names consumed files by ETag: a rewritten
                            // file is the same file, not a new one to validate again.
                            LANDED => {
                                if ledger.ledger.replace_etag(&object.key, &old, &new) {
                                    ledger.save(ports.lake.as_ref()).await?;
                                }
                                entry.rewriting = None;
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

/// Brings the ledger up to date with the landed file an attempt of `entry`
/// was rewriting when it was killed (the file's ETag changed, or the write
/// never happened), and saves the entry without it.
async fn finish_rewrite(
    ports: &Ports,
    ledger: &mut StoredLedger,
    entry: &mut Erasure,
) -> Result<(), Error> {
    let Some((key, old)) = entry.rewriting.take() else {
        return Ok(());
    };
    let listed = ports.landing.list(&key).await?;
    let now = listed.iter().find(|o| o.key == key).map(|o| &o.etag);
    if now.is_some_and(|new| ledger.ledger.replace_etag(&key, &old, new)) {
        ledger.save(ports.lake.as_ref()).await?;
    }
    let entry_key = layout(ports).erasure_key(&entry.table, &entry.run_id);
    save(ports.lake.as_ref(), &entry_key, entry, None).await
}

/// What an invocation keeps for itself after its last file: saving the
/// entry and answering the state machine.
const MARGIN: std::time::Duration = std::time::Duration::from_secs(60);

/// Whether the invocation must hand back now (never locally: no deadline).
fn out_of_time(ports: &Ports) -> bool {
    ports.deadline.remaining().is_some_and(|left| left < MARGIN)
}

/// Leaves the keys of erasures that overlapped a batch's validation (the
/// log entries its validation did not apply) out of the batch's change-log
/// files and quarantined copies, before it is merged. Whether any did (the
/// batch's snapshot diff, which holds its rows too, no longer applies).
pub(super) async fn forget_in_batch(
    ports: &Ports,
    meta: &TableMetadata,
    generation: u32,
    batch: &crate::ledger::Batch,
) -> Result<bool, Error> {
    let table = meta.name.as_str();
    let log = super::erasure_log(ports, table).await?;
    let applied = |e: &Erasure| {
        batch
            .erasures
            .as_ref()
            .is_some_and(|runs| runs.contains(&e.run_id))
    };
    let overlapped: Vec<Erasure> = log.into_iter().filter(|e| !applied(e)).collect();
    if overlapped.is_empty() {
        return Ok(false);
    }
    let key = ports.secrets.erasure_key().await?;
    let erased = ErasedKeys::new(table, key, &overlapped).map_err(|e| Error::InvalidInput(e.0))?;
    let options = crate::dms::ReadOptions::for_table(
        &ports.config.source.csv_null_value,
        &ports.config.source.control_columns,
        meta,
    );
    let validated = batch_log_prefix(&ports.config.source.database, table, generation, batch.id);
    let quarantined = format!("{}{}/", layout(ports).quarantine_prefix(table), batch.id);
    let mut rows = 0;
    for (prefix, raw) in [(validated, None), (quarantined, Some(&options))] {
        for object in ports.lake.list(&prefix).await? {
            let rewritten = rewrite_file(
                ports.lake.as_ref(),
                &object.key,
                meta,
                &erased,
                raw,
                None,
                ports,
            )
            .await?;
            if let Rewrite::Done { rows: removed, .. } = rewritten {
                rows += removed.len();
                if raw.is_some() {
                    scrub_reports(ports, table, &object.key, &removed).await?;
                }
            }
        }
    }
    if rows > 0 {
        tracing::info!(table, batch = %batch.id, rows, "left out rows forgotten while the batch was validated");
    }
    Ok(true)
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
/// so the rows are gone from its files and not only hidden. Each table's
/// count is saved in the entry before its delete: an attempt killed after
/// the delete leaves nothing to count, and the next still rewrites it (as
/// it does every table after an `unfinished` erasure).
async fn erase_history(
    ports: &Ports,
    meta: &TableMetadata,
    keys: &[ForgetKey],
    unfinished: bool,
    entry: &mut Erasure,
    entry_key: &str,
) -> Result<(), Error> {
    let table = meta.name.as_str();
    let database = ports.config.source.database.as_str();
    // The statements name the keys: an error keeps their text out.
    let engine_err = |source: EngineError| Error::Merge {
        table: table.to_string(),
        source: source.without_statement(),
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
        let earlier = entry.removed.get(&name).copied().unwrap_or(0);
        if rows > 0 {
            entry.removed.insert(name.clone(), rows.max(earlier));
            save(ports.lake.as_ref(), entry_key, entry, None).await?;
            ports.engine.execute(&delete).await.map_err(engine_err)?;
        }
        if rows > 0 || earlier > 0 || unfinished {
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
        entry.removed.insert(name, rows.max(earlier));
    }
    Ok(())
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
/// write is conditional on the file being as it was read. With a
/// `journal` (a landed file's erasure entry), the entry is saved naming the
/// file before it is written.
async fn rewrite_file(
    store: &dyn ObjectStore,
    key: &str,
    meta: &TableMetadata,
    erased: &ErasedKeys,
    raw: Option<&crate::dms::ReadOptions>,
    journal: Option<(&str, &mut Erasure)>,
    ports: &Ports,
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
            if let Some((entry_key, entry)) = journal {
                entry.rewriting = Some((key.to_string(), etag.clone()));
                save(ports.lake.as_ref(), entry_key, entry, None).await?;
            }
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
