//! The six pipeline steps. Each is one async function over [`Ports`]: the
//! Lambda binaries and the local interpreter call exactly these.

mod extract_metadata;
mod forget;
mod merge_history;
mod meter;
mod notify;
mod publish_catalog;
mod start_replication;
mod swap;
mod validate_landed;

pub use extract_metadata::extract_metadata;
pub use forget::{statements as forget_statements, tables_query as forget_tables_query};
pub use merge_history::merge_history;
pub use meter::metered;
pub use notify::notify;
pub use publish_catalog::publish_catalog;
pub use start_replication::start_replication;
pub use validate_landed::validate_landed;

use crate::error::{Error, ErrorName, StoreError};
use crate::layout::LakeLayout;
use crate::metadata::TableMetadata;
use crate::ports::{ObjectStore, Ports};
use crate::run_record::RunRecord;
use crate::scd2::{ExistingColumn, MergePlan};

/// The pipeline's steps: the one list the local dispatch is written from and
/// the function folders, the state machine's placeholders and the Terraform
/// `functions` map are checked against (`tests/steps.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Step {
    StartReplication,
    ExtractMetadata,
    ValidateLanded,
    MergeHistory,
    PublishCatalog,
    Notify,
}

impl Step {
    /// In the order a run calls them.
    pub const ALL: [Step; 6] = [
        Step::StartReplication,
        Step::ExtractMetadata,
        Step::ValidateLanded,
        Step::MergeHistory,
        Step::PublishCatalog,
        Step::Notify,
    ];

    /// The function's name: its folder (`functions/<name>`), its Lambda and
    /// the last part of its ARN.
    pub fn name(self) -> &'static str {
        match self {
            Step::StartReplication => "start-replication",
            Step::ExtractMetadata => "extract-metadata",
            Step::ValidateLanded => "validate-landed",
            Step::MergeHistory => "merge-history",
            Step::PublishCatalog => "publish-catalog",
            Step::Notify => "notify",
        }
    }

    /// The `${…}` the state machine definition names the function's ARN with.
    pub fn placeholder(self) -> &'static str {
        match self {
            Step::StartReplication => "StartReplicationFunctionArn",
            Step::ExtractMetadata => "ExtractMetadataFunctionArn",
            Step::ValidateLanded => "ValidateLandedFunctionArn",
            Step::MergeHistory => "MergeHistoryFunctionArn",
            Step::PublishCatalog => "PublishCatalogFunctionArn",
            Step::Notify => "NotifyFunctionArn",
        }
    }

    /// The function's memory in the Terraform module unless `var.functions`
    /// overrides it: what local usage estimates assume.
    pub fn default_memory_mb(self) -> u32 {
        match self {
            Step::ExtractMetadata => 512,
            Step::ValidateLanded => 2048,
            _ => 256,
        }
    }

    /// The `Tidemark.*` errors the step may fail with (documented in
    /// `docs/errors.md`; the state machine retries or catches no other).
    pub fn errors(self) -> &'static [ErrorName] {
        use ErrorName::*;
        match self {
            Step::StartReplication => &[InvalidInput, Replication, Timeout, Transient],
            Step::ExtractMetadata => &[InvalidInput, Transient],
            Step::ValidateLanded => &[
                Validation,
                SchemaDrift,
                InvalidInput,
                Concurrency,
                Merge,
                Transient,
            ],
            Step::MergeHistory => &[
                Merge,
                Validation,
                SchemaDrift,
                Concurrency,
                Timeout,
                InvalidInput,
                Transient,
            ],
            Step::PublishCatalog => &[Merge, SchemaDrift, InvalidInput, Concurrency, Transient],
            Step::Notify => &[InvalidInput, Transient],
        }
    }

    /// The step named `name` (a function name, or the ARN that ends with it).
    pub fn from_name(name: &str) -> Option<Step> {
        let name = name.rsplit(':').next().unwrap_or(name);
        Step::ALL.into_iter().find(|s| s.name() == name)
    }
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The run record at `key`: None when none was written (or it no longer parses).
pub async fn load_run_record(
    store: &dyn ObjectStore,
    key: &str,
) -> Result<Option<RunRecord>, Error> {
    match store.get(key).await {
        Ok((bytes, _)) => Ok(serde_json::from_slice(&bytes).ok()),
        Err(StoreError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Every table's record of one run, in key order.
pub async fn load_run_records(
    store: &dyn ObjectStore,
    database: &str,
    run_id: &str,
) -> Result<Vec<RunRecord>, Error> {
    let prefix = crate::layout::LakeLayout { database }.run_records_prefix(run_id);
    let mut records = Vec::new();
    for info in store.list(&prefix).await? {
        records.extend(load_run_record(store, &info.key).await?);
    }
    Ok(records)
}

pub(crate) async fn save_run_record(
    store: &dyn ObjectStore,
    key: &str,
    record: &RunRecord,
) -> Result<(), Error> {
    let body = bytes::Bytes::from(serde_json::to_vec_pretty(record).unwrap_or_default());
    store.put(key, body, None).await?;
    Ok(())
}

/// Writes a batch's validation report as JSON, Markdown and the HTML page a
/// person opens from the alert (self-contained: counts and samples); returns
/// the page's key.
pub(crate) async fn save_report(
    ports: &Ports,
    stem: &str,
    report: &crate::validate::BatchReport,
) -> Result<String, Error> {
    let json = serde_json::to_vec_pretty(report).unwrap_or_default();
    let html = format!("{stem}.html");
    for (key, body) in [
        (format!("{stem}.json"), json),
        (format!("{stem}.md"), report.to_markdown().into_bytes()),
        (html.clone(), report.to_html().into_bytes()),
    ] {
        ports.lake.put(&key, bytes::Bytes::from(body), None).await?;
    }
    Ok(html)
}

/// Removes every object under `prefix` of the lake.
pub(crate) async fn remove_under(ports: &Ports, prefix: &str) -> Result<(), StoreError> {
    for object in ports.lake.list(prefix).await? {
        ports.lake.delete(&object.key, &object.etag).await?;
    }
    Ok(())
}

pub(crate) fn layout(ports: &Ports) -> LakeLayout<'_> {
    LakeLayout {
        database: &ports.config.source.database,
    }
}

/// The stored metadata version a run works with.
pub(crate) async fn load_metadata(
    ports: &Ports,
    table: &str,
    version: u32,
) -> Result<TableMetadata, Error> {
    let key = layout(ports).metadata_key(table, version);
    let (bytes, _) = ports.lake.get(&key).await.map_err(|e| match e {
        StoreError::NotFound { .. } => Error::InvalidInput(format!(
            "metadata version {version} of {table} is not in the lake ({}); run extract-metadata first",
            ports.lake.uri(&key)
        )),
        other => other.into(),
    })?;
    let text = String::from_utf8_lossy(&bytes);
    Ok(TableMetadata::from_json(&ports.lake.uri(&key), &text)?)
}

/// Brings the history table (and the change log's table, on Athena) to the
/// metadata's schema: creates them, or adds new nullable columns. A breaking
/// difference fails with `Tidemark.SchemaDrift` before anything runs.
pub(crate) async fn sync_history_schema(ports: &Ports, plan: &MergePlan<'_>) -> Result<(), Error> {
    let table = plan.meta.name.as_str();
    let dialect = ports.engine.dialect();
    let merge_err = |source| Error::Merge {
        table: table.to_string(),
        source,
    };
    let listed = ports
        .engine
        .execute(&plan.columns_query(dialect.as_ref()))
        .await
        .map_err(merge_err)?;
    let statements = plan
        .schema_statements(dialect.as_ref(), &ExistingColumn::from_listing(&listed))
        .map_err(|reasons| Error::SchemaDrift {
            table: table.to_string(),
            details: format!(
                "{}. The history table was left unchanged; run with mode \"rebuild\" once the history may be recomputed.",
                reasons.join("; ")
            ),
        })?;
    if !statements.is_empty() {
        tracing::info!(
            table,
            statements = statements.len(),
            "history table created or given new columns"
        );
    }
    for statement in statements {
        tracing::debug!(table, sql = %statement.sql, "schema change");
        ports
            .engine
            .execute(&statement.sql)
            .await
            .map_err(merge_err)?;
    }
    Ok(())
}

/// The table's erasure log, oldest first.
pub(crate) async fn erasure_log(
    ports: &Ports,
    table: &str,
) -> Result<Vec<crate::erasure::Erasure>, Error> {
    let layout = layout(ports);
    let mut log = Vec::new();
    for object in ports.lake.list(&layout.erasure_prefix(table)).await? {
        let (bytes, _) = ports.lake.get(&object.key).await?;
        let entry = serde_json::from_slice(&bytes).map_err(|e| {
            Error::InvalidInput(format!(
                "the erasure log entry {} does not parse ({e}); it keeps forgotten keys out of the lake, so nothing is validated until it is repaired",
                ports.lake.uri(&object.key)
            ))
        })?;
        log.push(entry);
    }
    Ok(log)
}

/// The keys the table's erasure log forgot (`None`: it forgot none), to
/// leave out of everything read from landed files.
pub(crate) async fn erased_keys(
    ports: &Ports,
    table: &str,
) -> Result<Option<std::sync::Arc<crate::erasure::ErasedKeys>>, Error> {
    let log = erasure_log(ports, table).await?;
    if log.is_empty() {
        return Ok(None);
    }
    let key = ports.secrets.erasure_key().await?;
    let erased =
        crate::erasure::ErasedKeys::new(table, key, &log).map_err(|e| Error::InvalidInput(e.0))?;
    Ok(Some(std::sync::Arc::new(erased)))
}

/// Takes (or renews) `table`'s lease for run `run_id`: one writer per table.
pub(crate) async fn table_lease(
    ports: &Ports,
    table: &str,
    run_id: &str,
) -> Result<crate::lease::Lease, Error> {
    crate::lease::Lease::acquire(
        ports.lake.as_ref(),
        &layout(ports).lease_key(table),
        table,
        run_id,
        ports.config.pipeline.lease_seconds,
    )
    .await
}

pub(crate) fn table_config<'a>(
    ports: &'a Ports,
    table: &str,
) -> Result<&'a crate::config::TableConfig, Error> {
    ports.config.table(table).ok_or_else(|| {
        Error::InvalidInput(format!("table {table} is not configured in [[tables]]"))
    })
}
