use super::{layout, load_metadata, swap, sync_history_schema};
use crate::error::Error;
use crate::events::{PublishEvent, TableResult, TableStatus};
use crate::freshness::Freshness;
use crate::ports::{CatalogColumn, CatalogEntry, Ports, view_digest};
use crate::scd2::{HistoryColumn, HistoryTarget, MergePlan};

/// Descriptions of the control columns, for the catalog.
const CONTROL_DESCRIPTIONS: [(&str, &str); 8] = [
    (
        "valid_from",
        "Commit time of this change at the source (full load: load time).",
    ),
    ("change_seq", "Orders changes that share one valid_from."),
    (
        "valid_to",
        "valid_from of the key's next change; 9999-12-31 23:59:59.999999 while current.",
    ),
    (
        "is_current",
        "True when no later change exists for the key.",
    ),
    ("is_deleted", "True when this row records a delete."),
    (
        "op",
        "I insert, U update, D delete, L full load or snapshot.",
    ),
    ("batch_id", "The batch that wrote this row."),
    ("row_hash", "Hash of the business columns."),
];

/// Creates or updates the history table and its `_current` view in the
/// catalog, with descriptions from metadata, and records the run's figures.
pub async fn publish_catalog(ports: &Ports, event: PublishEvent) -> Result<TableResult, Error> {
    let table = event.work.table.as_str();
    let database = ports.config.source.database.as_str();
    let ledger = swap::finish_pending(ports, table, &event.run_id).await?;
    let meta = load_metadata(ports, table, event.work.metadata_version).await?;
    let plan = MergePlan {
        retained_from: None,
        since: None,
        target: HistoryTarget {
            generation: ledger.generation,
            staged: false,
        },
        row_hash: ledger.row_hash_format(ledger.generation),
        database,
        meta: &meta,
        batch_id: crate::batch_id::BatchId::FIRST,
        snapshot: None,
    };
    let dialect = ports.engine.dialect();
    let ddl_err = |source| Error::Merge {
        table: table.to_string(),
        source,
    };
    if !event.merge.as_ref().is_some_and(|m| m.schema_synced) {
        sync_history_schema(ports, &plan).await?;
    }
    let create_view = plan.current_view();
    let mut columns: Vec<CatalogColumn> = plan
        .history_columns(dialect.as_ref())
        .into_iter()
        .map(|HistoryColumn { name, engine_type }| {
            let description = meta
                .column(&name)
                .map(|c| c.description.clone())
                .or_else(|| {
                    CONTROL_DESCRIPTIONS
                        .iter()
                        .find(|(n, _)| *n == name)
                        .map(|(_, d)| d.to_string())
                })
                .unwrap_or_default();
            CatalogColumn {
                name,
                column_type: engine_type,
                description,
            }
        })
        .collect();
    columns.shrink_to_fit();
    let entry = CatalogEntry {
        database: database.to_string(),
        table: table.to_string(),
        current_view: format!("{table}_current"),
        description: meta.description.clone(),
        primary_key: meta.primary_key.clone(),
        columns,
        metadata_version: event.work.metadata_version,
        view_digest: view_digest(&create_view),
    };
    // The view as the last publish created it is left alone: on Athena each
    // `CREATE OR REPLACE VIEW` is a query and a new Glue version of the view.
    if ports.catalog.view_digest(&entry).await?.as_ref() != Some(&entry.view_digest) {
        ports.engine.execute(&create_view).await.map_err(ddl_err)?;
    }
    ports.catalog.publish(&entry).await?;

    let key = layout(ports).run_record_key(&event.run_id, table);
    let mut record = super::load_run_record(ports.lake.as_ref(), &key)
        .await?
        .unwrap_or_default();
    record.run_id = event.run_id.clone();
    record.database = database.to_string();
    record.table = table.to_string();
    record.status = Some(TableStatus::Succeeded);
    if let Some(m) = &event.merge {
        record.versions_inserted = m.versions_inserted;
        record.versions_updated = m.versions_updated;
        record.versions_removed = m.versions_removed;
        record.rows_before = m.rows_before;
        record.rows_after = m.rows_after;
        record.bytes_scanned = m.bytes_scanned;
        record.unchanged = m.unchanged.clone();
        record.diffed = m.diffed.clone();
        record.maintenance = m.maintenance.clone();
        record.erasure = m.erasure.clone();
        record.engine_ms = m.engine_ms;
    }
    if let Ok(started) = chrono::DateTime::parse_from_rfc3339(&event.validation.started_at) {
        record.duration_ms = Some(
            (chrono::Utc::now() - started.with_timezone(&chrono::Utc))
                .num_milliseconds()
                .max(0) as u64,
        );
    }
    super::save_run_record(ports.lake.as_ref(), &key, &record).await?;
    let merged = event
        .merge
        .as_ref()
        .is_some_and(|m| m.merged.len() > m.unchanged.len())
        .then_some(event.validation.ops);
    Freshness::record(
        ports.lake.as_ref(),
        &layout(ports).freshness_key(table),
        &event.run_id,
        chrono::Utc::now(),
        merged,
        Some(event.work.metadata_version),
    )
    .await?;
    Ok(TableResult {
        table: table.to_string(),
        status: TableStatus::Succeeded,
        error: None,
        cause: None,
    })
}
