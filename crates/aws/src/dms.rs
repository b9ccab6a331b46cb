//! The replication port on DMS: one replication per kind of table (`cdc`:
//! full load and CDC; `snapshot`: full load only), either instance tasks or
//! DMS Serverless replication configs.
//!
//! - `cdc`: never started → start it (the full load runs; not ready until it
//!   finished); stopped → resume processing; running → ready once the full
//!   load is done; failed → `Tidemark.Replication` with DMS's reason.
//! - `snapshot`: every execution needs a fresh extract. A full load that
//!   started after the execution started is this run's: ready when it
//!   finished. Otherwise start a reload and report not ready; the state
//!   machine's Wait loop asks again (never a wait inside a Lambda).
//!
//! Tables in error come from the table statistics of each replication; the
//! CDC latency from CloudWatch (`CDCLatencyTarget`, when the function knows
//! the `cdc` replication's metric dimensions).
//!
//! A `reload` run asks the `cdc` replication for a fresh full load of its cdc
//! tables (`ReloadTables` / `ReloadReplicationTables`, `data-reload`) and
//! waits until each table's statistics show a full load that started and
//! ended after the execution started. Its snapshot tables need no call: the
//! `snapshot` replication takes a fresh extract every execution already.

use crate::error::{describe, is_code, kind};
use async_trait::async_trait;
use aws_sdk_databasemigration::Client;
use aws_sdk_databasemigration::config::http::HttpResponse;
use aws_sdk_databasemigration::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_databasemigration::types::{
    Filter, ReloadOptionValue, ReplicationTask, StartReplicationTaskTypeValue, TableStatistics,
    TableToReload,
};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use tidemark_core::config::TableMode;
use tidemark_core::error::{ErrorKind, ReplicationError};
use tidemark_core::events::{ReplicationStatus, StartReplicationEvent};
use tidemark_core::ports::{ReloadRequest, Replication};

/// How DMS runs for this source (Terraform's `replication.mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DmsMode {
    /// Replication tasks on a replication instance.
    Instance,
    /// DMS Serverless replication configs.
    Serverless,
}

/// One replication this adapter drives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DmsReplicationRef {
    /// `cdc` or `snapshot`.
    pub kind: String,
    pub arn: String,
}

pub struct DmsReplication {
    client: Client,
    mode: DmsMode,
    replications: Vec<DmsReplicationRef>,
    latency: Option<CdcLatency>,
    /// Seconds the state machine waits before asking again.
    pub wait_seconds: u64,
}

/// Where CloudWatch keeps the `cdc` replication's latency: its `AWS/DMS`
/// dimensions (instance: `ReplicationInstanceIdentifier` and
/// `ReplicationTaskIdentifier`; Serverless: `ReplicationConfigIdentifier`).
pub struct CdcLatency {
    pub client: aws_sdk_cloudwatch::Client,
    pub dimensions: BTreeMap<String, String>,
}

impl CdcLatency {
    /// The newest five-minute maximum of `CDCLatencyTarget` (seconds from the
    /// source's commit to the file in S3) in the last 30 minutes; `None` when
    /// DMS published none (no changes flowed).
    pub async fn read(&self, now: DateTime<Utc>) -> Result<Option<u64>, ReplicationError> {
        use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat, ScanBy};
        let dimensions = self
            .dimensions
            .iter()
            .map(|(name, value)| Dimension::builder().name(name).value(value).build())
            .collect();
        let query = MetricDataQuery::builder()
            .id("cdc_latency_target")
            .metric_stat(
                MetricStat::builder()
                    .metric(
                        Metric::builder()
                            .namespace("AWS/DMS")
                            .metric_name("CDCLatencyTarget")
                            .set_dimensions(Some(dimensions))
                            .build(),
                    )
                    .period(300)
                    .stat("Maximum")
                    .build(),
            )
            .return_data(true)
            .build();
        let at = |t: DateTime<Utc>| aws_smithy_types::DateTime::from_secs(t.timestamp());
        let out = self
            .client
            .get_metric_data()
            .metric_data_queries(query)
            .start_time(at(now - chrono::Duration::minutes(30)))
            // A minute past now: a datapoint stamped this very second is in.
            .end_time(at(now + chrono::Duration::minutes(1)))
            .scan_by(ScanBy::TimestampDescending)
            .send()
            .await
            .map_err(|e| replication_error("CloudWatch GetMetricData", e))?;
        Ok(out
            .metric_data_results()
            .iter()
            .flat_map(|r| r.values().first())
            .map(|v| v.max(0.0).round() as u64)
            .max())
    }
}

/// What DMS says about one replication, in one shape for both modes.
#[derive(Debug, Clone, Default)]
struct Observed {
    status: String,
    stop_reason: Option<String>,
    failure: Option<String>,
    never_started: bool,
    full_load_done: bool,
    /// When the last full load (or reload) started.
    full_load_started: Option<DateTime<Utc>>,
}

/// What to do with a replication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Nothing,
    Start,
    Resume,
    Reload,
    /// `tidemark pause --replication`: stop after the batch being landed.
    Stop,
}

/// A failed DMS call, by its kind: worth retrying, a replication or request
/// the configuration names wrongly (a person must act), or DMS refusing.
fn replication_error<E>(what: &str, e: SdkError<E, HttpResponse>) -> ReplicationError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match kind(&e) {
        ErrorKind::Transient => {
            ReplicationError::Transient(format!("DMS, {what}: {}", describe(&e)))
        }
        ErrorKind::NotFound | ErrorKind::InvalidInput => ReplicationError::Invalid(format!(
            "DMS, {what}: {} (check the replication ARNs in the function's environment)",
            describe(&e)
        )),
        ErrorKind::Concurrency | ErrorKind::Fatal => {
            ReplicationError::Unhealthy(format!("{what}: {}", describe(&e)))
        }
    }
}

/// DMS reloads tables of a running replication only (`InvalidResourceStateFault`
/// otherwise): say so, and what to do, rather than DMS's bare fault.
fn reload_error<E>(arn: &str, e: SdkError<E, HttpResponse>) -> ReplicationError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    if is_code(&e, &["InvalidResourceStateFault"]) {
        return ReplicationError::Unhealthy(format!(
            "{arn}: DMS reloads the tables of a running replication only ({}); nothing was reloaded. Let the cdc replication resume (a daily run resumes it), then run the reload again",
            describe(&e)
        ));
    }
    replication_error(arn, e)
}

fn to_utc(t: Option<&aws_smithy_types::DateTime>) -> Option<DateTime<Utc>> {
    let t = t?;
    DateTime::from_timestamp(t.secs(), t.subsec_nanos())
}

impl DmsReplication {
    /// The `cdc` replication's latency from CloudWatch, when it runs. It is
    /// for people reading the run: a failure to read it is said in
    /// `messages`, and never stops the pipeline.
    async fn cdc_latency(&self, cdc_running: bool, messages: &mut Vec<String>) -> Option<u64> {
        let seconds = match &self.latency {
            Some(latency) if cdc_running => match latency.read(Utc::now()).await {
                Ok(seconds) => seconds,
                Err(e) => {
                    tracing::warn!(error = %e, "the CDC latency could not be read");
                    messages.push(format!("CDC latency unknown ({e})"));
                    None
                }
            },
            _ => None,
        };
        if let Some(seconds) = seconds {
            messages.push(format!("CDC latency {seconds} s"));
        }
        seconds
    }

    pub fn new(client: Client, mode: DmsMode, replications: Vec<DmsReplicationRef>) -> Self {
        DmsReplication {
            client,
            mode,
            replications,
            latency: None,
            wait_seconds: 300,
        }
    }

    /// Also reports the `cdc` replication's latency from CloudWatch.
    pub fn with_latency(mut self, latency: CdcLatency) -> Self {
        self.latency = Some(latency);
        self
    }

    async fn describe(&self, arn: &str) -> Result<Observed, ReplicationError> {
        match self.mode {
            DmsMode::Instance => {
                let out = self
                    .client
                    .describe_replication_tasks()
                    .filters(
                        Filter::builder()
                            .name("replication-task-arn")
                            .values(arn)
                            .build()
                            .map_err(|e| ReplicationError::Invalid(e.to_string()))?,
                    )
                    .without_settings(true)
                    .send()
                    .await
                    .map_err(|e| replication_error(arn, e))?;
                let task = out.replication_tasks().first().ok_or_else(|| {
                    ReplicationError::Unhealthy(format!("no DMS replication task {arn}"))
                })?;
                Ok(observe_task(task))
            }
            DmsMode::Serverless => {
                let out = self
                    .client
                    .describe_replications()
                    .filters(
                        Filter::builder()
                            .name("replication-config-arn")
                            .values(arn)
                            .build()
                            .map_err(|e| ReplicationError::Invalid(e.to_string()))?,
                    )
                    .send()
                    .await
                    .map_err(|e| replication_error(arn, e))?;
                let r = out.replications().first().ok_or_else(|| {
                    ReplicationError::Unhealthy(format!("no DMS Serverless replication for {arn}"))
                })?;
                let stats = r.replication_stats();
                Ok(Observed {
                    status: r.status().unwrap_or("unknown").to_string(),
                    stop_reason: r.stop_reason().map(str::to_string),
                    failure: r.failure_messages().first().cloned(),
                    never_started: r.replication_last_stop_time().is_none()
                        && r.start_replication_type().is_none()
                        && matches!(r.status(), Some("created") | None),
                    full_load_done: stats.is_some_and(|s| {
                        s.full_load_progress_percent() >= 100
                            || (s.tables_loading() == 0
                                && s.tables_queued() == 0
                                && s.tables_loaded() > 0)
                    }),
                    full_load_started: to_utc(
                        stats.and_then(|s| s.full_load_start_date().or(s.start_date())),
                    ),
                })
            }
        }
    }

    async fn act(&self, arn: &str, action: Action) -> Result<(), ReplicationError> {
        match (self.mode, action) {
            (_, Action::Nothing) => Ok(()),
            (DmsMode::Instance, Action::Stop) => self
                .client
                .stop_replication_task()
                .replication_task_arn(arn)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| replication_error(arn, e)),
            (DmsMode::Serverless, Action::Stop) => self
                .client
                .stop_replication()
                .replication_config_arn(arn)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| replication_error(arn, e)),
            (DmsMode::Instance, _) => {
                let kind = match action {
                    Action::Start => StartReplicationTaskTypeValue::StartReplication,
                    Action::Resume => StartReplicationTaskTypeValue::ResumeProcessing,
                    _ => StartReplicationTaskTypeValue::ReloadTarget,
                };
                self.client
                    .start_replication_task()
                    .replication_task_arn(arn)
                    .start_replication_task_type(kind)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| replication_error(arn, e))
            }
            (DmsMode::Serverless, _) => {
                let kind = match action {
                    Action::Start => "start-replication",
                    Action::Resume => "resume-processing",
                    _ => "reload-target",
                };
                self.client
                    .start_replication()
                    .replication_config_arn(arn)
                    .start_replication_type(kind)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| replication_error(arn, e))
            }
        }
    }

    /// The `cdc` replication, which a reload of cdc tables asks; refused
    /// (nothing was changed) where there is none.
    fn cdc_arn(&self, tables: &[&str]) -> Result<&str, ReplicationError> {
        self.replications
            .iter()
            .find(|r| r.kind == "cdc")
            .map(|r| r.arn.as_str())
            .ok_or_else(|| {
                ReplicationError::Invalid(format!(
                    "mode reload: no cdc replication is configured to take a fresh full load of {}; nothing was changed",
                    tables.join(", ")
                ))
            })
    }

    /// Every page of the replication's table statistics. No `Filters`: DMS
    /// documents filter names for instance tasks only, and a reload names few
    /// tables.
    async fn table_statistics(&self, arn: &str) -> Result<Vec<TableStatistics>, ReplicationError> {
        let mut out = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let (stats, next): (Vec<TableStatistics>, Option<String>) = match self.mode {
                DmsMode::Instance => {
                    let r = self
                        .client
                        .describe_table_statistics()
                        .replication_task_arn(arn)
                        .set_marker(marker.clone())
                        .send()
                        .await
                        .map_err(|e| replication_error(arn, e))?;
                    (
                        r.table_statistics().to_vec(),
                        r.marker().map(str::to_string),
                    )
                }
                DmsMode::Serverless => {
                    let r = self
                        .client
                        .describe_replication_table_statistics()
                        .replication_config_arn(arn)
                        .set_marker(marker.clone())
                        .send()
                        .await
                        .map_err(|e| replication_error(arn, e))?;
                    (
                        r.replication_table_statistics().to_vec(),
                        r.marker().map(str::to_string),
                    )
                }
            };
            out.extend(stats);
            match next {
                Some(m) if !m.is_empty() => marker = Some(m),
                _ => break,
            }
        }
        Ok(out)
    }

    async fn tables_in_error(&self, arn: &str) -> Result<Vec<String>, ReplicationError> {
        Ok(self
            .table_statistics(arn)
            .await?
            .iter()
            .filter(|t| in_error(t.table_state().unwrap_or_default()))
            .map(|t| {
                format!(
                    "{}.{} ({})",
                    t.schema_name().unwrap_or_default(),
                    t.table_name().unwrap_or_default(),
                    t.table_state().unwrap_or_default()
                )
            })
            .collect())
    }
}

/// A table state DMS does not leave by itself.
fn in_error(state: &str) -> bool {
    let state = state.to_ascii_lowercase();
    state.contains("error") || state.contains("suspended")
}

/// The tables of a reload that the `cdc` replication loads.
fn cdc_tables(request: &ReloadRequest) -> Vec<&str> {
    request
        .tables
        .iter()
        .filter(|(_, mode)| *mode == TableMode::Cdc)
        .map(|(table, _)| table.as_str())
        .collect()
}

/// What the statistics say about one table's full load.
#[derive(Debug, Clone, Default)]
struct TableLoad {
    /// `TableState`: Table does not exist | Before load | Full load | Table
    /// completed | Table cancelled | Table error | Table is being reloaded.
    state: String,
    started: Option<DateTime<Utc>>,
    ended: Option<DateTime<Utc>>,
}

impl TableLoad {
    fn of(t: &TableStatistics) -> Self {
        TableLoad {
            state: t.table_state().unwrap_or_default().to_string(),
            started: to_utc(t.full_load_start_time()),
            ended: to_utc(t.full_load_end_time()),
        }
    }
}

/// Whether a table's fresh full load landed: a completed load that started
/// at or after `since` (an older load, or one started before the execution,
/// is not this run's) and ended after it started. A table the statistics do
/// not list yet is still loading (`None`); one DMS will not load without a
/// person (in error, suspended, or missing at the source) is an `Err`
/// naming its state, so the run fails instead of waiting out its bound.
/// `FullLoadReloaded` is not asked: a whole-task restart since `since` loads
/// the table afresh too.
fn reloaded(table: Option<&TableLoad>, since: DateTime<Utc>) -> Result<bool, Stuck> {
    let Some(t) = table else {
        return Ok(false);
    };
    if in_error(&t.state) || t.state.eq_ignore_ascii_case("Table does not exist") {
        return Err(Stuck(t.state.clone()));
    }
    Ok(t.state.eq_ignore_ascii_case("Table completed")
        && match (t.started, t.ended) {
            (Some(started), Some(ended)) => started >= since && ended >= started,
            _ => false,
        })
}

/// A table whose load needs a person: DMS's state for it.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("the table is {0:?}")]
struct Stuck(String);

/// A replication that needs a person, and why.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
struct Unhealthy(String);

fn observe_task(task: &ReplicationTask) -> Observed {
    let stats = task.replication_task_stats();
    Observed {
        status: task.status().unwrap_or("unknown").to_string(),
        stop_reason: task.stop_reason().map(str::to_string),
        failure: task.last_failure_message().map(str::to_string),
        never_started: task.status() == Some("ready")
            && task.replication_task_start_date().is_none(),
        full_load_done: stats.is_some_and(|s| {
            s.full_load_progress_percent() >= 100
                || (s.tables_loading() == 0 && s.tables_queued() == 0 && s.tables_loaded() > 0)
        }),
        full_load_started: to_utc(
            stats
                .and_then(|s| s.full_load_start_date().or(s.start_date()))
                .or(task.replication_task_start_date()),
        ),
    }
}

/// The decision for one replication: what to do, whether the pipeline may go
/// on, and a line for the status message.
fn decide(
    kind: &str,
    o: &Observed,
    execution_started: Option<DateTime<Utc>>,
) -> Result<(Action, bool, String), Unhealthy> {
    let status = o.status.as_str();
    let why = o
        .stop_reason
        .iter()
        .chain(o.failure.iter())
        .cloned()
        .collect::<Vec<_>>()
        .join("; ");
    let busy = matches!(
        status,
        "starting" | "creating" | "modifying" | "stopping" | "testing" | "moving" | "initializing"
    );
    if status == "failed" || status == "failed-move" {
        return Err(Unhealthy(format!("the {kind} replication failed: {why}")));
    }
    if status == "deleting" || status == "deleted" {
        return Err(Unhealthy(format!(
            "the {kind} replication is being deleted"
        )));
    }
    if busy {
        return Ok((Action::Nothing, false, format!("{kind}: {status}")));
    }
    let running = status == "running";
    if kind == "snapshot" {
        let this_run = match (o.full_load_started, execution_started) {
            (Some(load), Some(run)) => load >= run,
            _ => false,
        };
        return Ok(if !this_run {
            let action = if o.never_started {
                Action::Start
            } else {
                Action::Reload
            };
            (
                action,
                false,
                format!("{kind}: started a full extract for this run"),
            )
        } else if running || !o.full_load_done {
            (
                Action::Nothing,
                false,
                format!("{kind}: this run's extract is loading"),
            )
        } else {
            (
                Action::Nothing,
                true,
                format!("{kind}: this run's extract finished"),
            )
        });
    }
    Ok(if o.never_started {
        (
            Action::Start,
            false,
            format!("{kind}: started the full load"),
        )
    } else if running {
        if o.full_load_done {
            (Action::Nothing, true, format!("{kind}: running"))
        } else {
            (
                Action::Nothing,
                false,
                format!("{kind}: the full load is running"),
            )
        }
    } else {
        let reason = if why.is_empty() {
            String::new()
        } else {
            format!(" (it stopped: {why})")
        };
        (
            Action::Resume,
            o.full_load_done,
            format!("{kind}: resumed processing{reason}"),
        )
    })
}

#[async_trait]
impl Replication for DmsReplication {
    async fn start(
        &self,
        event: &StartReplicationEvent,
        tables: &[(String, TableMode)],
    ) -> Result<ReplicationStatus, ReplicationError> {
        let execution_started = event
            .started_at
            .as_deref()
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.with_timezone(&Utc));
        let mut ready = true;
        let mut states = Vec::new();
        let mut messages = Vec::new();
        let mut tables_in_error = Vec::new();
        let mut cdc_running = false;
        // A frequent run of cdc tables must not start the snapshot
        // replication's full extract (nor a run of snapshot tables the cdc one).
        let needed = |kind: &str| {
            tables.iter().any(|(_, mode)| match mode {
                TableMode::Cdc => kind == "cdc",
                TableMode::Snapshot => kind == "snapshot",
            })
        };
        for r in self.replications.iter().filter(|r| needed(&r.kind)) {
            let observed = self.describe(&r.arn).await?;
            cdc_running |= r.kind == "cdc" && observed.status == "running";
            let (action, ok, line) = decide(&r.kind, &observed, execution_started)
                .map_err(|e| ReplicationError::Unhealthy(e.0))?;
            self.act(&r.arn, action).await?;
            ready &= ok;
            states.push(format!("{}={}", r.kind, observed.status));
            messages.push(line);
            tables_in_error.extend(self.tables_in_error(&r.arn).await?);
        }
        let cdc_latency_seconds = self.cdc_latency(cdc_running, &mut messages).await;
        Ok(ReplicationStatus {
            state: states.join(","),
            ready,
            wait_seconds: if ready { 0 } else { self.wait_seconds },
            cdc_latency_seconds,
            lag_bytes: None,
            tables_in_error,
            message: messages.join("; "),
        })
    }

    async fn observe(&self) -> Result<ReplicationStatus, ReplicationError> {
        let mut states = Vec::new();
        let mut messages = Vec::new();
        let mut tables_in_error = Vec::new();
        let mut cdc_running = false;
        for r in &self.replications {
            let o = self.describe(&r.arn).await?;
            cdc_running |= r.kind == "cdc" && o.status == "running";
            states.push(format!("{}={}", r.kind, o.status));
            if let Some(why) = o.failure.or(o.stop_reason) {
                messages.push(format!("{}: {why}", r.kind));
            }
            tables_in_error.extend(self.tables_in_error(&r.arn).await?);
        }
        let cdc_latency_seconds = self.cdc_latency(cdc_running, &mut messages).await;
        Ok(ReplicationStatus {
            cdc_latency_seconds,
            tables_in_error,
            ..ReplicationStatus::ready(&states.join(","), messages.join("; "))
        })
    }

    /// Starts or resumes the `cdc` replication as a run would (the
    /// `snapshot` one starts with the next run).
    async fn resume(&self) -> Result<String, ReplicationError> {
        let mut said = Vec::new();
        for r in self.replications.iter().filter(|r| r.kind == "cdc") {
            let o = self.describe(&r.arn).await?;
            let (action, _, line) =
                decide(&r.kind, &o, None).map_err(|e| ReplicationError::Unhealthy(e.0))?;
            self.act(&r.arn, action).await?;
            said.push(line);
        }
        Ok(said.join("; "))
    }

    async fn stop(&self) -> Result<String, ReplicationError> {
        let mut stopped = Vec::new();
        for r in self.replications.iter().filter(|r| r.kind == "cdc") {
            let o = self.describe(&r.arn).await?;
            if o.status != "running" {
                stopped.push(format!("{} was {} already", r.kind, o.status));
                continue;
            }
            self.act(&r.arn, Action::Stop).await?;
            stopped.push(format!(
                "{} stopping (it lands its current batch first)",
                r.kind
            ));
        }
        Ok(stopped.join("; "))
    }

    /// A fresh full load of the request's cdc tables, by the `cdc`
    /// replication. Snapshot tables need nothing: the `snapshot` replication
    /// takes a fresh extract every execution (see [`decide`]), and
    /// [`Replication::start`] waits for it.
    async fn reload(&self, request: &ReloadRequest) -> Result<(), ReplicationError> {
        let tables = cdc_tables(request);
        if tables.is_empty() {
            return Ok(());
        }
        let arn = self.cdc_arn(&tables)?;
        let to_reload = tables
            .iter()
            .map(|table| {
                TableToReload::builder()
                    .schema_name(&request.schema)
                    .table_name(*table)
                    .build()
                    .map_err(|e| ReplicationError::Invalid(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        match self.mode {
            DmsMode::Instance => self
                .client
                .reload_tables()
                .replication_task_arn(arn)
                .set_tables_to_reload(Some(to_reload))
                .reload_option(ReloadOptionValue::DataReload)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| reload_error(arn, e)),
            DmsMode::Serverless => self
                .client
                .reload_replication_tables()
                .replication_config_arn(arn)
                .set_tables_to_reload(Some(to_reload))
                .reload_option(ReloadOptionValue::DataReload)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| reload_error(arn, e)),
        }
    }

    /// The request's cdc tables whose fresh full load has not landed (see
    /// [`reloaded`]), from the `cdc` replication's table statistics.
    async fn reloading(&self, request: &ReloadRequest) -> Result<Vec<String>, ReplicationError> {
        let tables = cdc_tables(request);
        if tables.is_empty() {
            return Ok(Vec::new());
        }
        let stats = self.table_statistics(self.cdc_arn(&tables)?).await?;
        let mut loading = Vec::new();
        for table in tables {
            let load = stats
                .iter()
                .find(|t| {
                    t.schema_name() == Some(request.schema.as_str())
                        && t.table_name() == Some(table)
                })
                .map(TableLoad::of);
            let landed = reloaded(load.as_ref(), request.since).map_err(|Stuck(state)| {
                ReplicationError::Unhealthy(format!(
                    "the fresh full load of {}.{table} cannot land: DMS reports the table as {state:?}; fix the table's replication, then run the reload again",
                    request.schema
                ))
            })?;
            if !landed {
                loading.push(table.to_string());
            }
        }
        Ok(loading)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Option<DateTime<Utc>> {
        Some(DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc))
    }

    #[test]
    fn cdc_starts_once_resumes_when_stopped_and_waits_for_the_full_load() {
        let never = Observed {
            status: "ready".into(),
            never_started: true,
            ..Default::default()
        };
        assert_eq!(decide("cdc", &never, None).unwrap().0, Action::Start);
        assert!(!decide("cdc", &never, None).unwrap().1);
        let loading = Observed {
            status: "running".into(),
            ..Default::default()
        };
        assert_eq!(decide("cdc", &loading, None).unwrap().0, Action::Nothing);
        assert!(!decide("cdc", &loading, None).unwrap().1);
        let running = Observed {
            full_load_done: true,
            ..loading
        };
        assert!(decide("cdc", &running, None).unwrap().1);
        let stopped = Observed {
            status: "stopped".into(),
            stop_reason: Some("Stop Reason USER_STOP".into()),
            full_load_done: true,
            ..Default::default()
        };
        let (action, ready, line) = decide("cdc", &stopped, None).unwrap();
        assert_eq!((action, ready), (Action::Resume, true));
        assert!(line.contains("USER_STOP"), "{line}");
        let failed = Observed {
            status: "failed".into(),
            failure: Some("Last Error ODBC connection lost".into()),
            ..Default::default()
        };
        assert!(
            decide("cdc", &failed, None)
                .unwrap_err()
                .0
                .contains("ODBC connection lost")
        );
    }

    #[test]
    fn a_reloaded_table_landed_once_a_load_started_since_the_execution_completed() {
        let since = at("2026-11-21T06:00:00Z").unwrap();
        let table = |state: &str, started: &str, ended: &str| TableLoad {
            state: state.into(),
            started: at(started),
            ended: at(ended),
        };
        assert_eq!(reloaded(None, since), Ok(false), "not listed yet");
        let old = table(
            "Table completed",
            "2026-11-01T06:00:00Z",
            "2026-11-01T07:00:00Z",
        );
        assert_eq!(reloaded(Some(&old), since), Ok(false));
        for state in ["Before load", "Full load", "Table is being reloaded"] {
            let loading = TableLoad {
                state: state.into(),
                ..old.clone()
            };
            assert_eq!(reloaded(Some(&loading), since), Ok(false), "{state}");
        }
        let loading = TableLoad {
            state: "Full load".into(),
            started: at("2026-11-21T06:00:05Z"),
            ended: None,
        };
        assert_eq!(reloaded(Some(&loading), since), Ok(false));
        let landed = table(
            "Table completed",
            "2026-11-21T06:00:05Z",
            "2026-11-21T06:20:00Z",
        );
        assert_eq!(reloaded(Some(&landed), since), Ok(true));
        let started_before = table(
            "Table completed",
            "2026-11-21T05:59:00Z",
            "2026-11-21T06:20:00Z",
        );
        assert_eq!(
            reloaded(Some(&started_before), since),
            Ok(false),
            "a load started before the execution is not this run's"
        );
        for state in ["Table error", "Table suspended", "Table does not exist"] {
            let stuck = TableLoad {
                state: state.into(),
                ..landed.clone()
            };
            assert_eq!(reloaded(Some(&stuck), since), Err(Stuck(state.to_string())));
        }
    }

    #[test]
    fn a_snapshot_reloads_once_per_execution_and_is_ready_when_that_load_finished() {
        let run = at("2026-11-21T06:00:00Z");
        let yesterday = Observed {
            status: "stopped".into(),
            full_load_done: true,
            full_load_started: at("2026-11-20T06:00:10Z"),
            ..Default::default()
        };
        assert_eq!(
            decide("snapshot", &yesterday, run).unwrap().0,
            Action::Reload
        );
        let loading = Observed {
            status: "running".into(),
            full_load_done: false,
            full_load_started: at("2026-11-21T06:00:10Z"),
            ..Default::default()
        };
        assert_eq!(
            decide("snapshot", &loading, run).unwrap(),
            (
                Action::Nothing,
                false,
                "snapshot: this run's extract is loading".into()
            )
        );
        let done = Observed {
            status: "stopped".into(),
            full_load_done: true,
            ..loading
        };
        assert!(decide("snapshot", &done, run).unwrap().1);
        let never = Observed {
            status: "ready".into(),
            never_started: true,
            ..Default::default()
        };
        assert_eq!(decide("snapshot", &never, run).unwrap().0, Action::Start);
    }
}
