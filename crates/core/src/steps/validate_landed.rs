use super::{layout, load_metadata, table_config};
use crate::config::OnInvalid;
use crate::dms::ControlColumns;
use crate::error::Error;
use crate::events::{RunMode, ValidateEvent, ValidateOutput};
use crate::layout::{base_name, landing_prefix};
use crate::ledger::{Batch, BatchStatus, ConsumedFile, StoredLedger};
use crate::metadata::Drift;
use crate::metadata::TableMetadata;
use crate::ports::{ObjectInfo, Ports};
use crate::run_record::RunRecord;
use crate::validate::{
    BatchReport, FileCheck, FileOutcome, FileReport, OpCounts, normalised_schema, write_parquet,
};
use bytes::Bytes;
use std::sync::Arc;

/// A landed file and what checking it gave (with its bytes, for quarantine).
type Checked = (ObjectInfo, Result<(FileOutcome, Bytes), Error>);

/// Files checked at once.
const CONCURRENCY: usize = 4;

/// Reads one landed file and checks it on a blocking thread.
async fn check_file(
    ports: &Ports,
    file: ObjectInfo,
    meta: Arc<TableMetadata>,
    control: ControlColumns,
    batch_id: String,
) -> Checked {
    let checked = async {
        let (bytes, _) = ports.landing.get(&file.key).await?;
        let key = file.key.clone();
        tokio::task::spawn_blocking(move || {
            let check = FileCheck {
                file: &key,
                name: base_name(&key),
                meta: &meta,
                control: &control,
                batch_id: &batch_id,
            };
            (check.run(bytes.clone()), bytes)
        })
        .await
        .map_err(|e| Error::Validation(format!("{}: validation task failed: {e}", file.key)))
    };
    let result = checked.await;
    (file, result)
}

/// Checks the table's newly landed files against its metadata. Good files are
/// normalised into the batch's validated prefix; bad ones are copied to
/// quarantine with a report. The landed originals are never touched.
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
    let control = &ports.config.source.control_columns;
    let mut outcomes: Vec<Checked> = Vec::with_capacity(new_files.len());
    for chunk in new_files.chunks(CONCURRENCY) {
        let checks = chunk.iter().map(|f| {
            check_file(
                ports,
                (*f).clone(),
                meta.clone(),
                control.clone(),
                batch_id.clone(),
            )
        });
        outcomes.extend(futures::future::join_all(checks).await);
    }

    let mut report = BatchReport {
        database: ports.config.source.database.clone(),
        table: table.to_string(),
        batch_id: batch_id.clone(),
        metadata_version: work.metadata_version,
        files: Vec::new(),
    };
    let mut consumed = Vec::new();
    let mut max_valid_from: Option<i64> = None;
    let schema = normalised_schema(&meta);
    for (file, outcome) in outcomes {
        let (outcome, bytes) = outcome?;
        let name = base_name(&file.key);
        let copied_to = if outcome.accepted() {
            if let Some((_, hi)) = outcome.valid_from_range {
                max_valid_from = Some(max_valid_from.map_or(hi, |m| m.max(hi)));
            }
            if outcome.rows == 0 {
                None
            } else {
                let parquet = write_parquet(&schema, &outcome.normalised).map_err(|e| {
                    Error::Validation(format!(
                        "{}: cannot write the normalised file: {e}",
                        file.key
                    ))
                })?;
                let key = layout.validated_key(table, &batch_id, name);
                ports.lake.put(&key, Bytes::from(parquet), None).await?;
                Some(ports.lake.uri(&key))
            }
        } else {
            let key = layout.quarantine_key(table, &batch_id, name);
            ports.lake.put(&key, bytes, None).await?;
            Some(ports.lake.uri(&key))
        };
        if outcome.accepted() {
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
            copied_to,
        });
    }

    let stem = layout.report_stem(table, &batch_id);
    let report_json = serde_json::to_vec_pretty(&report).unwrap_or_default();
    ports
        .lake
        .put(&format!("{stem}.json"), Bytes::from(report_json), None)
        .await?;
    let md_key = format!("{stem}.md");
    ports
        .lake
        .put(&md_key, Bytes::from(report.to_markdown()), None)
        .await?;
    let report_uri = ports.lake.uri(&md_key);

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
