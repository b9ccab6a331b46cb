use super::{layout, load_metadata, table_config};
use crate::config::OnInvalid;
use crate::dms::{ByteSource, ControlColumns};
use crate::error::{Error, StoreError};
use crate::events::{RunMode, ValidateEvent, ValidateOutput};
use crate::layout::{LakeLayout, base_name, landing_prefix};
use crate::ledger::{Batch, BatchStatus, ConsumedFile, StoredLedger};
use crate::metadata::Drift;
use crate::metadata::TableMetadata;
use crate::ports::{ObjectInfo, ObjectStore, Ports};
use crate::run_record::RunRecord;
use crate::validate::{
    BatchReport, ByteSink, CheckError, CheckOptions, FileCheck, FileOutcome, FileReport, OpCounts,
    PART_BYTES,
};
use bytes::Bytes;
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
    batch_id: String,
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
}

/// Checks one landed file, streaming it from the landing store and its
/// normalised form into the batch's validated prefix. An accepted file's
/// upload is completed; a quarantined file's is abandoned and the landed
/// original is copied to quarantine, byte for byte.
async fn check_file(
    ports: &Ports,
    layout: &LakeLayout<'_>,
    file: &ObjectInfo,
    context: &Arc<Context>,
) -> Result<Checked, Error> {
    let name = base_name(&file.key).to_string();
    let validated_key = layout.validated_key(&context.table, &context.batch_id, &name);
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
            batch_id: &c.batch_id,
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
    let copied_to = if outcome.accepted() {
        upload.finish().await?;
        ports.lake.uri(&validated_key)
    } else {
        upload.abort().await?;
        let key = layout.quarantine_key(&context.table, &context.batch_id, &name);
        copy_object(ports.landing.as_ref(), file, ports.lake.as_ref(), &key).await?;
        ports.lake.uri(&key)
    };
    Ok(Checked {
        file: file.clone(),
        outcome,
        copied_to,
    })
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

/// Checks the table's newly landed files against its metadata. Good files are
/// normalised into the batch's validated prefix; bad ones are copied to
/// quarantine with a report (JSON, Markdown, HTML). The landed originals are
/// never touched.
pub async fn validate_landed(ports: &Ports, event: ValidateEvent) -> Result<ValidateOutput, Error> {
    let started_at = chrono::Utc::now().to_rfc3339();
    let work = &event.work;
    let table = work.table.as_str();
    let config = table_config(ports, table)?;
    if let Drift::Breaking { reasons } = &work.drift {
        return Err(Error::SchemaDrift {
            table: table.to_string(),
            details: format!(
                "{}. Nothing was merged; run with mode \"rebuild\" once the history may be recomputed.",
                reasons.join("; ")
            ),
        });
    }
    if work.run_mode != RunMode::Incremental {
        return Err(Error::InvalidInput(format!(
            "mode {:?} is not supported by this version of validate-landed; use incremental",
            work.run_mode
        )));
    }
    let layout = layout(ports);
    let meta = Arc::new(load_metadata(ports, table, work.metadata_version).await?);
    let mut ledger = StoredLedger::load(ports.lake.as_ref(), &layout.ledger_key(table)).await?;
    let mut batches: Vec<String> = ledger
        .ledger
        .batches
        .iter()
        .filter(|b| b.status == BatchStatus::Validated)
        .map(|b| b.id.clone())
        .collect();

    let landed = ports
        .landing
        .list(&landing_prefix(&ports.config.source.schema, table))
        .await?;
    let new_files = ledger.ledger.unconsumed(&landed);
    let mut output = ValidateOutput {
        table: table.to_string(),
        batches: Vec::new(),
        files_landed: new_files.len() as u64,
        files_accepted: 0,
        files_quarantined: 0,
        ops: OpCounts::default(),
        report: None,
        started_at,
    };
    let mut record = RunRecord {
        run_id: event.run_id.clone(),
        database: ports.config.source.database.clone(),
        table: table.to_string(),
        files_landed: output.files_landed,
        ..Default::default()
    };
    if new_files.is_empty() {
        tracing::info!(table, pending = batches.len(), "no new files");
        output.batches = batches;
        record.batches = output.batches.clone();
        record
            .save(
                ports.lake.as_ref(),
                &layout.run_record_key(&event.run_id, table),
            )
            .await?;
        return Ok(output);
    }

    let batch_id = ledger.ledger.next_batch_id(&new_files);
    let context = Arc::new(Context {
        table: table.to_string(),
        batch_id: batch_id.clone(),
        meta: meta.clone(),
        control: ports.config.source.control_columns.clone(),
        options: CheckOptions {
            allow_unexpected: config.allow_unexpected,
            csv_null_value: ports.config.source.csv_null_value.clone(),
        },
    });
    // Several files at once, in landing order; each streams in bounded memory.
    let checks: Vec<_> = new_files
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
        batch_id: batch_id.clone(),
        metadata_version: work.metadata_version,
        files: Vec::new(),
    };
    let mut consumed = Vec::new();
    let mut max_valid_from: Option<i64> = None;
    for checked in checked {
        let Checked {
            file,
            outcome,
            copied_to,
        } = checked?;
        if outcome.accepted() {
            if let Some((_, hi)) = outcome.valid_from_range {
                max_valid_from = Some(max_valid_from.map_or(hi, |m| m.max(hi)));
            }
            output.files_accepted += 1;
            output.ops.add(&outcome.ops);
        } else {
            output.files_quarantined += 1;
            tracing::warn!(table, file = %file.key, findings = outcome.findings.total, "quarantined");
        }
        consumed.push(ConsumedFile {
            key: file.key.clone(),
            etag: file.etag.clone(),
            size: file.size,
            accepted: outcome.accepted(),
        });
        report.files.push(FileReport {
            file: ports.landing.uri(&file.key),
            accepted: outcome.accepted(),
            rows: outcome.rows,
            ops: outcome.ops,
            findings: outcome.findings,
            copied_to: Some(copied_to),
            ignored_columns: outcome.ignored_columns,
        });
    }

    let stem = layout.report_stem(table, &batch_id);
    let report_json = serde_json::to_vec_pretty(&report).unwrap_or_default();
    ports
        .lake
        .put(&format!("{stem}.json"), Bytes::from(report_json), None)
        .await?;
    ports
        .lake
        .put(
            &format!("{stem}.md"),
            Bytes::from(report.to_markdown()),
            None,
        )
        .await?;
    // The page a person opens from the alert: self-contained, counts and samples.
    let html_key = format!("{stem}.html");
    ports
        .lake
        .put(&html_key, Bytes::from(report.to_html()), None)
        .await?;
    let report_uri = ports.lake.uri(&html_key);

    let failed = output.files_quarantined > 0 && config.on_invalid == OnInvalid::Fail;
    ledger.ledger.record(Batch {
        id: batch_id.clone(),
        status: if failed {
            BatchStatus::Failed
        } else {
            BatchStatus::Validated
        },
        run_id: event.run_id.clone(),
        metadata_version: work.metadata_version,
        files: consumed,
        ops: output.ops,
        max_valid_from,
        validated_at: chrono::Utc::now().to_rfc3339(),
        merged_at: None,
    });
    ledger.save(ports.lake.as_ref()).await?;
    if !failed {
        batches.push(batch_id.clone());
    }
    output.batches = batches;
    output.report = Some(report_uri.clone());
    record.batches = output.batches.clone();
    record.files_accepted = output.files_accepted;
    record.files_quarantined = output.files_quarantined;
    record.ops = output.ops;
    record.report = Some(report_uri.clone());
    record
        .save(
            ports.lake.as_ref(),
            &layout.run_record_key(&event.run_id, table),
        )
        .await?;

    if failed {
        let first = report
            .quarantined()
            .flat_map(|f| f.findings.sample.first())
            .next();
        return Err(Error::Validation(format!(
            "{table}: {} of {} landed file(s) quarantined in batch {batch_id}; nothing of this batch was merged (on_invalid = \"fail\").{}\nreport: {report_uri}",
            output.files_quarantined,
            output.files_landed,
            first
                .map(|f| format!(" First finding: {f}."))
                .unwrap_or_default(),
        )));
    }
    tracing::info!(table, batch = %batch_id, accepted = output.files_accepted, quarantined = output.files_quarantined, "validated");
    Ok(output)
}
