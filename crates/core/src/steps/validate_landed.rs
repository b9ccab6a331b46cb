use super::{layout, load_metadata, swap, table_config};
use crate::batch_id::BatchId;
use crate::config::{OnInvalid, TableMode};
use crate::dms::{
    ByteSource, ChangeSeqKind, ControlColumns, FileName, LandedReader, ReadOptions, landing_date,
    parse_file_name,
};
use crate::error::{Error, StoreError};
use crate::events::{RunMode, SourceStorage, TableWork, ValidateEvent, ValidateOutput};
use crate::freshness::Freshness;
use crate::layout::{
    LakeLayout, base_name, batch_log_prefix, landing_prefix, snapshot_diff_prefix,
};
use crate::ledger::{
    Batch, BatchStatus, ConsumedFile, DiffRecord, Ledger, ReloadMark, StoredLedger,
};
use crate::metadata::Drift;
use crate::metadata::{Column, RowHashFormat, TableMetadata};
use crate::ports::{ObjectInfo, ObjectStore, Ports};
use crate::run_record::RunRecord;
use crate::validate::{
    BatchReport, ByteSink, CheckError, CheckOptions, FileCheck, FileOutcome, FileReport, OpCounts,
    PART_BYTES, PendingBase, RowsDigest, SnapshotBase, SnapshotDiff, diff_key, normalised_schema,
};
use bytes::Bytes;
use chrono::NaiveDate;
use futures::StreamExt;
use std::sync::Arc;
use tokio::runtime::Handle;
use tokio::sync::mpsc;

/// Files checked at once. Each holds a bounded amount of memory (see
/// `crate::validate`), so this bounds the step's memory too.
const CONCURRENCY: usize = 4;

/// What every file of the batch is checked with.
struct Context {
    table: String,
    batch_id: BatchId,
    generation: u32,
    meta: Arc<TableMetadata>,
    control: ControlColumns,
    options: CheckOptions,
}

/// A landed object read a range at a time, from a blocking thread.
struct StoreSource {
    store: Arc<dyn ObjectStore>,
    key: String,
    size: u64,
    runtime: Handle,
}

impl ByteSource for StoreSource {
    fn len(&self) -> u64 {
        self.size
    }
    fn read_at(&self, offset: u64, len: usize) -> Result<Bytes, StoreError> {
        self.runtime
            .block_on(self.store.get_range(&self.key, offset..offset + len as u64))
    }
}

/// Parts of the normalised file, passed from the checking thread to the
/// upload (bounded: the checker waits while a part is being uploaded).
struct ChannelSink {
    key: String,
    parts: mpsc::Sender<Bytes>,
}

impl ByteSink for ChannelSink {
    fn write(&mut self, part: Bytes) -> Result<(), StoreError> {
        self.parts.blocking_send(part).map_err(|_| StoreError::Io {
            key: self.key.clone(),
            message: "the upload of the normalised file stopped".into(),
        })
    }
}

/// One landed file checked and copied to where it belongs.
struct Checked {
    file: ObjectInfo,
    outcome: FileOutcome,
    copied_to: String,
    /// The rows (from 1) of forgotten keys left out of its quarantined copy.
    forgotten_rows: Vec<u64>,
}

/// Checks one landed file, streaming it from the landing store and its
/// normalised form into the batch's validated prefix. An accepted file's
/// upload is completed; a quarantined file's is abandoned and the landed
/// original is copied to quarantine, byte for byte unless it holds rows of
/// forgotten keys.
async fn check_file(
    ports: &Ports,
    layout: &LakeLayout<'_>,
    file: &ObjectInfo,
    context: &Arc<Context>,
) -> Result<Checked, Error> {
    let name = base_name(&file.key).to_string();
    let validated_key =
        layout.validated_key(&context.table, context.generation, context.batch_id, &name);
    let mut upload = ports.lake.put_parts(&validated_key).await?;
    let (parts, mut received) = mpsc::channel::<Bytes>(1);
    let source = Arc::new(StoreSource {
        store: ports.landing.clone(),
        key: file.key.clone(),
        size: file.size,
        runtime: Handle::current(),
    });
    let key = file.key.clone();
    let task_context = context.clone();
    let check = tokio::task::spawn_blocking(move || {
        let c = &task_context;
        let mut sink = ChannelSink {
            key: key.clone(),
            parts,
        };
        FileCheck {
            file: &key,
            name: base_name(&key),
            meta: &c.meta,
            control: &c.control,
            batch_id: c.batch_id,
        }
        .check(&c.options, source, Some(&mut sink))
    });
    let mut upload_failed = None;
    while let Some(part) = received.recv().await {
        if let Err(e) = upload.write_part(part).await {
            upload_failed = Some(e);
            received.close();
        }
    }
    let result = match (check.await, upload_failed) {
        (_, Some(e)) => Err(Error::from(e)),
        (Err(e), None) => Err(Error::Validation(format!(
            "{}: the check stopped: {e}",
            file.key
        ))),
        (Ok(Err(e)), None) => Err(check_error(e)),
        (Ok(Ok(outcome)), None) => Ok(outcome),
    };
    let outcome = match result {
        Ok(outcome) => outcome,
        Err(e) => {
            let _ = upload.abort().await;
            return Err(e);
        }
    };
    let mut forgotten_rows = Vec::new();
    let copied_to = if outcome.accepted() {
        upload.finish().await?;
        ports.lake.uri(&validated_key)
    } else {
        upload.abort().await?;
        let key = layout.quarantine_key(&context.table, context.batch_id, &name);
        match context.options.erased.as_deref() {
            Some(erased) if !erased.is_empty() => {
                forgotten_rows = quarantine_without(ports, file, &key, context, erased).await?;
            }
            _ => copy_object(ports.landing.as_ref(), file, ports.lake.as_ref(), &key).await?,
        }
        ports.lake.uri(&key)
    };
    Ok(Checked {
        file: file.clone(),
        outcome,
        copied_to,
        forgotten_rows,
    })
}

/// Copies a landed file to quarantine without the rows of forgotten keys
/// (read whole: a rewrite needs the file); returns the rows it left out. A
/// file that cannot be read to be rewritten is copied as it is, and the
/// warning names it (a forget's quarantine stage reports it the same way).
async fn quarantine_without(
    ports: &Ports,
    file: &ObjectInfo,
    key: &str,
    context: &Context,
    erased: &crate::erasure::ErasedKeys,
) -> Result<Vec<u64>, Error> {
    let (bytes, _) = ports.landing.get(&file.key).await?;
    let options = crate::dms::ReadOptions::for_table(
        &context.options.csv_null_value,
        &context.control,
        &context.meta,
    );
    let (body, rows) = match crate::erasure::rewrite_landed(
        &file.key,
        base_name(&file.key),
        &context.meta,
        erased,
        bytes.clone(),
        &options,
    ) {
        Ok(Some(rewritten)) => (rewritten.bytes, rewritten.removed_rows),
        Ok(None) => (bytes, Vec::new()),
        Err(e) => {
            tracing::warn!(file = %file.key, error = %e, "cannot read the quarantined file to leave forgotten keys out of its copy; look at it by hand");
            (bytes, Vec::new())
        }
    };
    ports.lake.put(key, body, None).await?;
    Ok(rows)
}

fn check_error(e: CheckError) -> Error {
    match e {
        CheckError::Source { source, .. } | CheckError::Sink { source, .. } => source.into(),
        CheckError::Encode { .. } => Error::Validation(e.to_string()),
    }
}

/// Copies an object between stores a part at a time (landing and lake may be
/// different buckets).
async fn copy_object(
    from: &dyn ObjectStore,
    file: &ObjectInfo,
    to: &dyn ObjectStore,
    key: &str,
) -> Result<(), StoreError> {
    let mut upload = to.put_parts(key).await?;
    let mut offset = 0;
    while offset < file.size {
        let end = file.size.min(offset + PART_BYTES as u64);
        let part = match from.get_range(&file.key, offset..end).await {
            Ok(p) => p,
            Err(e) => {
                let _ = upload.abort().await;
                return Err(e);
            }
        };
        if let Err(e) = upload.write_part(part).await {
            let _ = upload.abort().await;
            return Err(e);
        }
        offset = end;
    }
    upload.finish().await.map(|_| ())
}

/// Checks a table's landed files against its metadata, in batches: good
/// files are normalised into the batch's folder of the change log; bad ones
/// are copied to quarantine with a report (JSON, Markdown, HTML). The landed
/// originals are never touched. Which files, by run mode:
///
/// - `incremental`: the files no batch of the live generation consumed;
/// - `reprocess`: of the landing dates `from`..`to`, those and the files
///   whose latest batch quarantined them (after a fix of the metadata or the
///   file); a file that passes now is merged, in change order, once;
/// - `rebuild`: every landed file, into the next generation, for a merge into
///   a staged table that is then swapped in;
/// - `reload`: as `rebuild`, less what had landed before the fresh full load
///   was asked for (the new load supersedes it, now and in later generations).
pub async fn validate_landed(ports: &Ports, event: ValidateEvent) -> Result<ValidateOutput, Error> {
    let started_at = chrono::Utc::now().to_rfc3339();
    let work = &event.work;
    let table = work.table.as_str();
    let config = table_config(ports, table)?;
    let rebuild = work.run_mode.rebuilds();
    if let Drift::Breaking { reasons } = &work.drift
        && !rebuild
    {
        return Err(Error::SchemaDrift {
            table: table.to_string(),
            details: format!(
                "{}. Nothing was merged; run with mode \"rebuild\" once the history may be recomputed.",
                reasons.join("; ")
            ),
        });
    }
    if let Some(storage) = &work.source_storage {
        // Recorded first: the failure below is alerted once, and the next
        // run (a reload, or a plain run after a VACUUM FULL) goes on.
        let recorded = SourceStorage {
            id: storage.id.clone(),
            changed_from: None,
        };
        ports
            .lake
            .put(
                &layout(ports).source_storage_key(table),
                Bytes::from(serde_json::to_vec(&recorded).unwrap_or_default()),
                None,
            )
            .await?;
        if let Some(before) = &storage.changed_from
            && !rebuild
        {
            return Err(Error::SchemaDrift {
                table: table.to_string(),
                details: format!(
                    "{table} was emptied, re-created or rewritten at the source since the last run \
                     (its storage {before} is now {}): a TRUNCATE, a DROP and CREATE, a VACUUM FULL \
                     or a CLUSTER, none of which DMS lands as changes. Nothing was merged. After a \
                     TRUNCATE or a re-creation history holds rows the source no longer has: run with \
                     mode \"reload\" for {table}. After a VACUUM FULL or a CLUSTER nothing is missing: \
                     the next run merges as usual.",
                    storage.id
                ),
            });
        }
    }
    if rebuild && !ports.catalog.swaps_history() {
        return Err(Error::InvalidInput(format!(
            "mode {} of {table} is not available on this backend yet: its catalog cannot swap a rebuilt history in. Nothing was changed.",
            work.run_mode.as_str()
        )));
    }
    swap::finish_pending(ports, table, &event.run_id).await?;
    let layout = layout(ports);
    if work.run_mode == RunMode::Forget {
        // Nothing to validate: merge-history does the erasure.
        let ledger = StoredLedger::load(ports.lake.as_ref(), &layout.ledger_key(table)).await?;
        return Ok(ValidateOutput::nothing(
            table,
            ledger.ledger.generation,
            started_at,
        ));
    }
    let meta = Arc::new(load_metadata(ports, table, work.metadata_version).await?);
    let mut ledger = StoredLedger::load(ports.lake.as_ref(), &layout.ledger_key(table)).await?;
    let generation = ledger.ledger.generation + u32::from(rebuild);
    if rebuild
        && ledger
            .ledger
            .abandon_other_versions(generation, work.metadata_version)
    {
        tracing::info!(
            table,
            generation,
            "an earlier attempt of this rebuild used other metadata: starting it again"
        );
        ledger.save(ports.lake.as_ref()).await?;
    }
    if work.run_mode == RunMode::Reload {
        let mark = reload_mark(ports, &layout, table, &event.run_id).await?;
        if ledger
            .ledger
            .supersede(&mark, generation, work.metadata_version)
        {
            ledger.save(ports.lake.as_ref()).await?;
        }
    }
    let landed = ports
        .landing
        .list(&landing_prefix(&ports.config.source.schema, table))
        .await?;
    if rebuild && landed.is_empty() {
        return Err(Error::InvalidInput(format!(
            "{table} has no landed files to rebuild its history from ({}); the history was left as it is",
            ports
                .landing
                .uri(&landing_prefix(&ports.config.source.schema, table))
        )));
    }
    if work.run_mode == RunMode::Rebuild {
        refuse_lost_files(&ledger.ledger, &landed, table)?;
    }
    let groups = to_validate(&ledger.ledger, &landed, work, config.mode, generation);
    if let Some(read_at) = &work.metadata_read_at
        && let Some(change) = schema_changed(ports, &meta, &groups).await?
    {
        super::extract_metadata::read_again(ports, table).await?;
        let reason = format!(
            "{change}: the source's schema changed since its metadata was read ({read_at}, version {}). Nothing was validated; the next run reads the metadata first",
            work.metadata_version
        );
        tracing::info!(table, reason, "deferred");
        return Ok(ValidateOutput {
            deferred: Some(reason),
            ..ValidateOutput::nothing(table, generation, started_at)
        });
    }
    if groups.iter().all(|g| g.is_empty()) && idle(ports, work, &ledger.ledger).await? {
        return finish_idle(ports, &event, generation, started_at).await;
    }
    let mut output = ValidateOutput::nothing(table, generation, started_at);
    let mut refused = None;
    for files in groups.iter().filter(|g| !g.is_empty()) {
        let outcome = validate_batch(ports, &event, &meta, generation, &mut ledger, files).await?;
        output.files_landed += files.len() as u64;
        output.files_accepted += outcome.accepted;
        output.files_quarantined += outcome.quarantined;
        output.ops.add(&outcome.ops);
        output.report = Some(outcome.report);
        if outcome.refused.is_some() {
            refused = outcome.refused;
            break;
        }
    }
    output.batches = ledger.ledger.pending(generation);
    save_record(
        ports,
        &event,
        RunRecord {
            files_landed: output.files_landed,
            files_accepted: output.files_accepted,
            files_quarantined: output.files_quarantined,
            ops: output.ops,
            batches: output.batches.clone(),
            report: output.report.clone(),
            ..Default::default()
        },
    )
    .await?;
    if let Some(message) = refused {
        return Err(Error::Validation(message));
    }
    tracing::info!(
        table,
        mode = work.run_mode.as_str(),
        generation,
        batches = output.batches.len(),
        accepted = output.files_accepted,
        quarantined = output.files_quarantined,
        "validated"
    );
    Ok(output)
}

/// The first of `files` whose columns (control columns aside) are not the
/// metadata's, said as a person would: a column added, dropped or renamed
/// at the source. Reads each file's schema only (a retyped column is the
/// DDL log's, or the hourly read's, to find).
async fn schema_changed(
    ports: &Ports,
    meta: &Arc<TableMetadata>,
    files: &[Vec<&ObjectInfo>],
) -> Result<Option<String>, Error> {
    let control = &ports.config.source.control_columns;
    for file in files.iter().flatten() {
        // A file that cannot be read is validation's to report.
        let columns = read_landed(ports, meta, file, |reader| {
            let fields = reader.schema().fields().iter();
            Some(
                fields
                    .map(|f| f.name().to_ascii_lowercase())
                    .collect::<Vec<_>>(),
            )
        })
        .await;
        let Some(columns) = columns else { continue };
        let uri = ports.landing.uri(&file.key);
        let in_meta = |c: &str| meta.columns.iter().any(|m| m.name.eq_ignore_ascii_case(c));
        if let Some(added) = columns
            .iter()
            .find(|c| !control.is_control(c) && !in_meta(c))
        {
            return Ok(Some(format!(
                "{uri} has a column {added} the metadata lacks"
            )));
        }
        let in_file = |m: &&Column| columns.contains(&m.name.to_ascii_lowercase());
        if let Some(dropped) = meta.columns.iter().find(|m| !in_file(m)) {
            return Ok(Some(format!("{uri} lacks the column {}", dropped.name)));
        }
    }
    Ok(None)
}

/// What `read` finds in a landed file, off the async runtime; `None` when
/// the file cannot be opened (validation reports that).
async fn read_landed<T: Send + 'static>(
    ports: &Ports,
    meta: &TableMetadata,
    file: &ObjectInfo,
    read: impl FnOnce(LandedReader) -> Option<T> + Send + 'static,
) -> Option<T> {
    let FileName { format, .. } = parse_file_name(base_name(&file.key))?;
    let source = Arc::new(StoreSource {
        store: ports.landing.clone(),
        key: file.key.clone(),
        size: file.size,
        runtime: Handle::current(),
    });
    let options = ReadOptions::for_table(
        &ports.config.source.csv_null_value,
        &ports.config.source.control_columns,
        meta,
    );
    let key = file.key.clone();
    tokio::task::spawn_blocking(move || {
        read(LandedReader::open(&key, format, source, &options).ok()?)
    })
    .await
    .ok()
    .flatten()
}

/// Whether a table with nothing to validate needs nothing else either: an
/// incremental run, no batch pending, no swap to finish, no maintenance due,
/// and the catalog publishes its metadata version already.
async fn idle(ports: &Ports, work: &TableWork, ledger: &Ledger) -> Result<bool, Error> {
    if work.run_mode != RunMode::Incremental
        || !ledger.pending(ledger.generation).is_empty()
        || ledger.swap.is_some()
        || ledger.maintenance_due(chrono::Utc::now(), ports.config.maintenance.every_days)
    {
        return Ok(false);
    }
    let key = layout(ports).freshness_key(&work.table);
    let fresh = Freshness::load(ports.lake.as_ref(), &key).await?;
    Ok(fresh.published_version == Some(work.metadata_version))
}

/// Finishes an idle table here, with its run record and freshness: merge-history
/// and publish-catalog are not called for it, so it costs no query.
async fn finish_idle(
    ports: &Ports,
    event: &ValidateEvent,
    generation: u32,
    started_at: String,
) -> Result<ValidateOutput, Error> {
    let table = event.work.table.as_str();
    save_record(
        ports,
        event,
        RunRecord {
            status: Some(crate::events::TableStatus::Succeeded),
            idle: true,
            ..Default::default()
        },
    )
    .await?;
    Freshness::record(
        ports.lake.as_ref(),
        &layout(ports).freshness_key(table),
        &event.run_id,
        chrono::Utc::now(),
        None,
        None,
    )
    .await?;
    tracing::info!(table, "nothing landed; nothing to merge");
    Ok(ValidateOutput {
        idle: true,
        ..ValidateOutput::nothing(table, generation, started_at)
    })
}

/// Saves `record` as the table's run record of this run, naming the run,
/// the database and the table.
async fn save_record(ports: &Ports, event: &ValidateEvent, record: RunRecord) -> Result<(), Error> {
    let table = &event.work.table;
    let record = RunRecord {
        run_id: event.run_id.clone(),
        database: ports.config.source.database.clone(),
        table: table.clone(),
        ..record
    };
    let key = layout(ports).run_record_key(&event.run_id, table);
    super::save_run_record(ports.lake.as_ref(), &key, &record).await
}

/// What start-replication recorded as landed before this run's reload.
async fn reload_mark(
    ports: &Ports,
    layout: &LakeLayout<'_>,
    table: &str,
    run_id: &str,
) -> Result<ReloadMark, Error> {
    let key = layout.reload_mark_key(table, run_id);
    let bytes = match ports.lake.get(&key).await {
        Ok((bytes, _)) => bytes,
        Err(StoreError::NotFound { .. }) => {
            return Err(Error::InvalidInput(format!(
                "{table}: this run ({run_id}) did not ask for a fresh full load ({} is missing); start mode reload as a new execution. Nothing was changed.",
                ports.lake.uri(&key)
            )));
        }
        Err(e) => return Err(e.into()),
    };
    serde_json::from_slice(&bytes)
        .map_err(|e| Error::InvalidInput(format!("{} is corrupt: {e}", ports.lake.uri(&key))))
}

/// A rebuild recomputes history from what is landed now. When a file the
/// live history was merged from is no longer landed as it was (DMS reloads a
/// table into the same `LOAD…` keys), that would lose its versions: refuse.
fn refuse_lost_files(ledger: &Ledger, landed: &[ObjectInfo], table: &str) -> Result<(), Error> {
    let lost: Vec<&str> = ledger
        .batches_of(ledger.generation)
        .filter(|b| b.status == BatchStatus::Merged)
        .flat_map(|b| b.files.iter().filter(|f| f.accepted))
        .filter(|f| !landed.iter().any(|o| o.key == f.key && o.etag == f.etag))
        .map(|f| f.key.as_str())
        .collect();
    match lost.first() {
        None => Ok(()),
        Some(first) => Err(Error::InvalidInput(format!(
            "{table}: {} landed file version(s) its history was merged from are no longer in the landing area as they were (e.g. {first}, rewritten by a later full load); a rebuild from the files landed now would lose their versions, so nothing was changed. Mode reload recomputes the history from a fresh full load instead, accepting that.",
            lost.len()
        ))),
    }
}

/// The landed files a run validates, one group per batch, in landing order.
fn to_validate<'a>(
    ledger: &Ledger,
    landed: &'a [ObjectInfo],
    work: &TableWork,
    table_mode: TableMode,
    generation: u32,
) -> Vec<Vec<&'a ObjectInfo>> {
    let unconsumed = ledger.unconsumed(landed, generation);
    match work.run_mode {
        RunMode::Incremental => vec![unconsumed],
        RunMode::Forget => Vec::new(),
        RunMode::Reprocess => {
            let (Some(from), Some(to)) = (work.from, work.to) else {
                return Vec::new();
            };
            let in_range = |d: NaiveDate| from <= d && d <= to;
            // Never consumed: it landed by today at the latest.
            let today = chrono::Utc::now().date_naive();
            let mut files: Vec<&ObjectInfo> = unconsumed
                .into_iter()
                .filter(|o| in_range(landing_date(&o.key).unwrap_or(today)))
                .collect();
            // Disjoint from the unconsumed: each of these a batch consumed.
            files.extend(
                ledger
                    .quarantined(landed, generation)
                    .into_iter()
                    .filter(|(o, validated)| {
                        landing_date(&o.key).or(*validated).is_some_and(in_range)
                    })
                    .map(|(o, _)| o),
            );
            // Landing order: the listing's, by key.
            files.sort_by(|a, b| a.key.cmp(&b.key));
            vec![files]
        }
        RunMode::Rebuild | RunMode::Reload => match table_mode {
            // One batch: a CDC history does not depend on how changes were split.
            TableMode::Cdc => vec![unconsumed],
            // An extract deletes what it lacks, so each keeps the batch of the
            // live generation it was last consumed by (a reprocess batch, for a
            // file first quarantined), in order; what no batch consumed yet is
            // one more.
            TableMode::Snapshot => {
                let merged: Vec<&Batch> = ledger
                    .batches_of(ledger.generation)
                    .filter(|b| matches!(b.status, BatchStatus::Validated | BatchStatus::Merged))
                    .collect();
                let mut groups = vec![Vec::new(); merged.len() + 1];
                for o in unconsumed {
                    let batch = merged
                        .iter()
                        .rposition(|b| b.files.iter().any(|f| f.key == o.key && f.etag == o.etag))
                        .unwrap_or(merged.len());
                    groups[batch].push(o);
                }
                groups
            }
        },
    }
}

/// The change-seq kind a batch of `generation` is validated under: the one
/// its history is ordered by, or — for a generation's first values — the
/// configured one, else the one the first landed values show (`Auto` while
/// there are none). A configured kind that differs from the history's is
/// refused: only a rebuild recomputes a history under another kind.
async fn change_seq_kind(
    ports: &Ports,
    meta: &TableMetadata,
    ledger: &Ledger,
    generation: u32,
    files: &[&ObjectInfo],
) -> Result<ChangeSeqKind, Error> {
    let control = &ports.config.source.control_columns;
    let configured = control.change_seq_kind;
    if let Some(fixed) = ledger.change_seq_kind(generation) {
        if configured != ChangeSeqKind::Auto && configured != fixed {
            return Err(Error::InvalidInput(format!(
                "[source.control_columns] change_seq_kind = {:?}, but this table's history orders changes as {} (fixed by its first batch); nothing was validated. Run mode rebuild to recompute the history under {}, or set change_seq_kind back",
                configured.as_str(),
                fixed.as_str(),
                configured.as_str()
            )));
        }
        return Ok(fixed);
    }
    if configured != ChangeSeqKind::Auto {
        return Ok(configured);
    }
    let Some(column) = control.change_seq.clone() else {
        return Ok(ChangeSeqKind::Auto);
    };
    for file in files {
        let column = column.clone();
        // A file that cannot be read is the check's to report: it decides nothing.
        let detected = read_landed(ports, meta, file, move |reader| {
            let index = reader
                .schema()
                .fields()
                .iter()
                .position(|f| f.name().eq_ignore_ascii_case(&column))?;
            reader
                .batches(&[index])
                .ok()?
                .map_while(Result::ok)
                .find(|b| b.num_rows() > 0)
                .and_then(|b| ChangeSeqKind::detect(b.column(0).as_ref()))
        })
        .await;
        if let Some(kind) = detected {
            tracing::info!(file = %file.key, kind = kind.as_str(), "change_seq kind decided");
            return Ok(kind);
        }
    }
    Ok(ChangeSeqKind::Auto)
}

/// What validating one batch did.
struct BatchOutcome {
    accepted: u64,
    quarantined: u64,
    ops: OpCounts,
    report: String,
    /// Why the batch was refused (`on_invalid = "fail"`), if it was.
    refused: Option<String>,
}

/// The extract a snapshot batch is compared with while it is validated
/// ([`crate::validate::SnapshotDiff`]): the latest batch of the generation
/// validated or merged, if it was one extract with each key once under the
/// same metadata. Its normalised files are read beside the check, which
/// waits for them at its first batch; if they cannot be read, there is no
/// diff and the merge joins the whole extract, as without.
fn snapshot_base(
    ports: &Ports,
    ledger: &Ledger,
    meta: &Arc<TableMetadata>,
    generation: u32,
    metadata_version: u32,
) -> Option<(BatchId, PendingBase)> {
    let row_hash = ledger.row_hash_format(generation);
    diff_key(meta, row_hash)?;
    let base = ledger
        .batches_of(generation)
        .filter(|b| matches!(b.status, BatchStatus::Validated | BatchStatus::Merged))
        .max_by_key(|b| b.id)?;
    if !base.distinct_keys || base.metadata_version != metadata_version {
        return None;
    }
    let folder = batch_log_prefix(
        &ports.config.source.database,
        &meta.name,
        generation,
        base.id,
    );
    let pending = PendingBase::default();
    let setter = pending.setter();
    let (id, meta, lake) = (base.id, meta.clone(), ports.lake.clone());
    tokio::spawn(async move {
        let read = async {
            let mut files = Vec::new();
            for object in lake.list(&folder).await? {
                files.push(lake.get(&object.key).await?.0);
            }
            Ok::<_, StoreError>(files)
        };
        match read.await {
            Ok(files) => {
                let built = tokio::task::spawn_blocking(move || {
                    setter.set(SnapshotBase::from_parquet(&meta, row_hash, files))
                });
                let _ = built.await;
            }
            Err(e) => {
                tracing::warn!(table = %meta.name, base = %id, error = %e, "cannot read the last extract; the merge joins the whole extract");
            }
        }
    });
    Some((id, pending))
}

/// Writes a snapshot batch's diff where its merge reads it; what the
/// ledger records of it.
async fn save_snapshot_diff(
    ports: &Ports,
    meta: &TableMetadata,
    generation: u32,
    batch_id: BatchId,
    base: BatchId,
    row_hash: RowHashFormat,
    diff: SnapshotDiff,
) -> Result<DiffRecord, Error> {
    let [changed, gone] = diff
        .encode(&normalised_schema(meta, row_hash))
        .map_err(|e| {
            Error::Validation(format!(
                "{}: cannot write the snapshot diff: {e}",
                meta.name
            ))
        })?;
    let prefix = snapshot_diff_prefix(
        &ports.config.source.database,
        &meta.name,
        generation,
        batch_id,
    );
    ports
        .lake
        .put(&format!("{prefix}changed.parquet"), changed.into(), None)
        .await?;
    ports
        .lake
        .put(&format!("{prefix}gone.parquet"), gone.into(), None)
        .await?;
    tracing::debug!(table = %meta.name, batch = %batch_id, %base, changed = diff.changed_rows(), gone = diff.gone.len(), "snapshot diff");
    Ok(DiffRecord {
        base,
        current: diff.base,
        changed: diff.changed_rows(),
        gone: diff.gone.len() as u64,
    })
}

/// Validates `files` as one new batch of `generation` and records it in the ledger.
async fn validate_batch(
    ports: &Ports,
    event: &ValidateEvent,
    meta: &Arc<TableMetadata>,
    generation: u32,
    ledger: &mut StoredLedger,
    files: &[&ObjectInfo],
) -> Result<BatchOutcome, Error> {
    let work = &event.work;
    let table = work.table.as_str();
    let config = table_config(ports, table)?;
    let layout = layout(ports);
    let batch_id = ledger.ledger.next_batch_id(files, generation);
    let change_seq_kind = change_seq_kind(ports, meta, &ledger.ledger, generation, files).await?;
    let row_hash = ledger.ledger.row_hash_format(generation);
    let base = match (config.mode, files) {
        (TableMode::Snapshot, [_]) => snapshot_base(
            ports,
            &ledger.ledger,
            meta,
            generation,
            work.metadata_version,
        ),
        _ => None,
    };
    let context = Arc::new(Context {
        table: table.to_string(),
        batch_id,
        generation,
        meta: meta.clone(),
        control: ports.config.source.control_columns.clone(),
        options: CheckOptions {
            allow_unexpected: config.allow_unexpected,
            csv_null_value: ports.config.source.csv_null_value.clone(),
            erased: super::erased_keys(ports, table).await?,
            change_seq_kind,
            row_hash,
            lob_max_bytes: config.lob_max_bytes(&ports.config.source),
            snapshot_base: base.as_ref().map(|(_, b)| b.clone()),
        },
    });
    // Several files at once, in landing order; each streams in bounded memory.
    let checks: Vec<_> = files
        .iter()
        .map(|f| check_file(ports, &layout, f, &context))
        .collect();
    let checked: Vec<Result<Checked, Error>> = futures::stream::iter(checks)
        .buffered(CONCURRENCY)
        .collect()
        .await;

    let mut report = BatchReport {
        database: ports.config.source.database.clone(),
        table: table.to_string(),
        batch_id,
        metadata_version: work.metadata_version,
        files: Vec::new(),
        rows_forgotten: 0,
    };
    let mut outcome = BatchOutcome {
        accepted: 0,
        quarantined: 0,
        ops: OpCounts::default(),
        report: String::new(),
        refused: None,
    };
    let mut consumed = Vec::new();
    let mut valid_from: Option<(i64, i64)> = None;
    let mut digest = RowsDigest::default();
    let mut distinct_keys = false;
    let mut snapshot_diff = None;
    for checked in checked {
        let Checked {
            file,
            outcome: mut file_outcome,
            copied_to,
            forgotten_rows,
        } = checked?;
        if file_outcome.accepted() {
            digest = digest.combine(file_outcome.digest);
            distinct_keys = outcome.accepted == 0 && file_outcome.distinct_keys;
            snapshot_diff = file_outcome.snapshot_diff.take();
            if let Some((lo, hi)) = file_outcome.valid_from_range {
                valid_from = Some(valid_from.map_or((lo, hi), |(l, h)| (l.min(lo), h.max(hi))));
            }
            outcome.accepted += 1;
            outcome.ops.add(&file_outcome.ops);
        } else {
            outcome.quarantined += 1;
            tracing::warn!(table, file = %file.key, findings = file_outcome.findings.total, "quarantined");
        }
        consumed.push(ConsumedFile {
            key: file.key.clone(),
            etag: file.etag.clone(),
            size: file.size,
            accepted: file_outcome.accepted(),
        });
        report.files.push(FileReport {
            file: ports.landing.uri(&file.key),
            accepted: file_outcome.accepted(),
            rows: file_outcome.rows,
            ops: file_outcome.ops,
            findings: file_outcome.findings,
            copied_to: Some(copied_to),
            ignored_columns: file_outcome.ignored_columns,
        });
        report.forget_rows(base_name(&file.key), &forgotten_rows);
    }

    if let Some(erased) = &context.options.erased {
        report.rows_forgotten = erased.removed();
        if report.rows_forgotten > 0 {
            tracing::info!(table, batch = %batch_id, rows = report.rows_forgotten, "left out rows of forgotten keys");
        }
    }
    let html_key = super::save_report(ports, &layout.report_stem(table, batch_id), &report).await?;
    outcome.report = ports.lake.uri(&html_key);

    let failed = outcome.quarantined > 0 && config.on_invalid == OnInvalid::Fail;
    let snapshot_diff = match (base, snapshot_diff) {
        (Some((base, _)), Some(diff)) if !failed && distinct_keys => {
            Some(save_snapshot_diff(ports, meta, generation, batch_id, base, row_hash, diff).await?)
        }
        _ => None,
    };
    ledger.ledger.record(Batch {
        id: batch_id,
        status: if failed {
            BatchStatus::Failed
        } else {
            BatchStatus::Validated
        },
        run_id: event.run_id.clone(),
        mode: work.run_mode,
        generation,
        metadata_version: work.metadata_version,
        files: consumed,
        ops: outcome.ops,
        min_valid_from: valid_from.map(|(lo, _)| lo),
        max_valid_from: valid_from.map(|(_, hi)| hi),
        rows: Some(digest),
        validated_at: chrono::Utc::now().to_rfc3339(),
        merged_at: None,
        change_seq_kind: Some(change_seq_kind),
        row_hash: Some(context.options.row_hash),
        erasures: Some(
            context
                .options
                .erased
                .as_ref()
                .map(|e| e.runs())
                .unwrap_or_default(),
        ),
        distinct_keys,
        snapshot_diff,
    });
    ledger.save(ports.lake.as_ref()).await?;
    if failed {
        let first = report
            .quarantined()
            .flat_map(|f| f.findings.sample.first())
            .next();
        outcome.refused = Some(format!(
            "{table}: {} of {} landed file(s) quarantined in batch {batch_id}; nothing of this batch was merged (on_invalid = \"fail\").{}\nreport: {}",
            outcome.quarantined,
            files.len(),
            first
                .map(|f| format!(" First finding: {f}."))
                .unwrap_or_default(),
            outcome.report,
        ));
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::OpCounts;

    fn object(key: &str) -> ObjectInfo {
        ObjectInfo {
            key: key.into(),
            size: 1,
            etag: "e".into(),
        }
    }

    fn batch(id: &str, mode: RunMode, files: &[(&str, bool)]) -> Batch {
        Batch {
            id: id.parse().unwrap(),
            status: BatchStatus::Merged,
            run_id: "r".into(),
            mode,
            generation: 0,
            metadata_version: 1,
            files: files
                .iter()
                .map(|(key, accepted)| ConsumedFile {
                    key: key.to_string(),
                    etag: "e".into(),
                    size: 1,
                    accepted: *accepted,
                })
                .collect(),
            ops: OpCounts::default(),
            min_valid_from: None,
            max_valid_from: None,
            rows: None,
            validated_at: "2026-11-03T10:00:00Z".into(),
            merged_at: None,
            change_seq_kind: None,
            row_hash: None,
            erasures: None,
            distinct_keys: false,
            snapshot_diff: None,
        }
    }

    fn work(run_mode: RunMode, range: Option<(u32, u32)>) -> TableWork {
        let day = |d| NaiveDate::from_ymd_opt(2026, 11, d);
        TableWork {
            table: "t".into(),
            table_mode: TableMode::Snapshot,
            run_mode,
            metadata_version: 1,
            drift: Drift::None,
            from: range.and_then(|(f, _)| day(f)),
            to: range.and_then(|(_, t)| day(t)),
            forget: None,
            source_storage: None,
            metadata_read_at: None,
        }
    }

    fn keys(groups: Vec<Vec<&ObjectInfo>>) -> Vec<Vec<&str>> {
        groups
            .into_iter()
            .map(|g| g.into_iter().map(|o| o.key.as_str()).collect())
            .collect()
    }

    /// Extract 2 was quarantined, then accepted by a reprocess batch after
    /// extract 3; extract 4 landed since. Day by day, extract 2 was merged by
    /// the reprocess: a rebuild merges it there too, once.
    #[test]
    fn a_snapshot_rebuild_keeps_each_extract_in_the_batch_that_last_consumed_it() {
        let landed = [
            object("t/20261101-000000000.parquet"),
            object("t/20261102-000000000.parquet"),
            object("t/20261103-000000000.parquet"),
            object("t/20261104-000000000.parquet"),
        ];
        let ledger = Ledger {
            batches: vec![
                batch(
                    "b000001",
                    RunMode::Incremental,
                    &[("t/20261101-000000000.parquet", true)],
                ),
                batch(
                    "b000002",
                    RunMode::Incremental,
                    &[("t/20261102-000000000.parquet", false)],
                ),
                batch(
                    "b000003",
                    RunMode::Incremental,
                    &[("t/20261103-000000000.parquet", true)],
                ),
                batch(
                    "b000004",
                    RunMode::Reprocess,
                    &[("t/20261102-000000000.parquet", true)],
                ),
            ],
            ..Ledger::default()
        };
        let groups = to_validate(
            &ledger,
            &landed,
            &work(RunMode::Rebuild, None),
            TableMode::Snapshot,
            1,
        );
        assert_eq!(
            keys(groups),
            [
                vec!["t/20261101-000000000.parquet"],
                vec![],
                vec!["t/20261103-000000000.parquet"],
                vec!["t/20261102-000000000.parquet"],
                vec!["t/20261104-000000000.parquet"],
            ]
        );
    }

    #[test]
    fn reprocess_takes_the_quarantined_and_never_consumed_files_of_its_dates_in_landing_order() {
        let landed = [
            object("t/20261101-000000000.parquet"),
            object("t/20261102-000000000.parquet"),
            object("t/20261103-000000000.parquet"),
            object("t/LOAD00000001.parquet"),
        ];
        let ledger = Ledger {
            batches: vec![
                batch(
                    "b000001",
                    RunMode::Incremental,
                    &[("t/20261101-000000000.parquet", false)],
                ),
                batch(
                    "b000002",
                    RunMode::Incremental,
                    &[
                        ("t/20261103-000000000.parquet", false),
                        ("t/LOAD00000001.parquet", false),
                    ],
                ),
            ],
            ..Ledger::default()
        };
        let groups = to_validate(
            &ledger,
            &landed,
            &work(RunMode::Reprocess, Some((2, 3))),
            TableMode::Cdc,
            0,
        );
        // 11-01 is out of range; the LOAD file's date is its batch's (11-03).
        assert_eq!(
            keys(groups),
            [vec![
                "t/20261102-000000000.parquet",
                "t/20261103-000000000.parquet",
                "t/LOAD00000001.parquet"
            ]]
        );
    }
}
