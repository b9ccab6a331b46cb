use super::layout;
use crate::config::TableMode;
use crate::error::{Error, StoreError};
use crate::events::{
    ReplicationStatus, RunMode, RunPlan, StartReplicationEvent, StartReplicationOutput,
};
use crate::layout::landing_prefix;
use crate::ledger::ReloadMark;
use crate::pause::Pause;
use crate::ports::{Condition, Ports, ReloadRequest};
use chrono::{DateTime, Utc};

/// The first step. Its first call turns the execution input into the run
/// plan (bad input fails the execution here, before anything is read, as
/// `Tidemark.InvalidInput`). Then it starts or resumes the replication and
/// reports its health: while a reload runs, `ready` is false and the state
/// machine waits and calls again, for at most `[pipeline]
/// replication_wait_seconds`.
pub async fn start_replication(
    ports: &Ports,
    event: StartReplicationEvent,
) -> Result<StartReplicationOutput, Error> {
    let (plan, waited_seconds, calls) = match &event.previous {
        Some(previous) => (
            previous.plan.clone(),
            previous.waited_seconds + previous.status.wait_seconds,
            previous.calls + 1,
        ),
        None => (plan(ports, &event)?, 0, 1),
    };
    let bound = ports.config.pipeline.replication_wait_seconds;
    if waited_seconds > bound {
        return Err(Error::Timeout {
            step: "start-replication (waiting for the replication to be ready)",
            table: None,
            waited_seconds,
            attempts: calls - 1,
            setting: "replication_wait_seconds",
            bound,
        });
    }
    let paused = Pause::load(ports.lake.as_ref(), &layout(ports).pause_key())
        .await?
        .filter(|p| p.replication);
    if let (Some(pause), RunMode::Reload) = (&paused, plan.mode) {
        return Err(Error::InvalidInput(format!(
            "mode reload needs the replication, which is paused {}; nothing was changed. Run `tidemark resume --replication` first",
            pause.describe()
        )));
    }
    let reload = (plan.mode == RunMode::Reload).then(|| reload_request(ports, &plan, &event));
    if let Some(request) = &reload
        && event.previous.is_none()
    {
        mark_reload(ports, &event.run_id, request).await?;
        ports.replication.reload(request).await?;
    }
    if plan.mode == RunMode::Forget {
        // An erasure acts on what the lake holds: it neither needs nor waits
        // for the replication (an unhealthy one must not delay it).
        return Ok(StartReplicationOutput {
            plan,
            status: ReplicationStatus::ready(
                "not needed",
                "mode forget: the replication is left as it is".into(),
            ),
            waited_seconds,
            calls,
        });
    }
    if let Some(pause) = paused {
        // Starting it would undo the pause: the run merges what landed before it.
        return Ok(StartReplicationOutput {
            plan,
            status: ReplicationStatus::ready(
                "paused",
                format!(
                    "the replication is paused {}; not started",
                    pause.describe()
                ),
            ),
            waited_seconds,
            calls,
        });
    }
    let mut status = ports
        .replication
        .start(&event, &table_modes(ports, &plan))
        .await?;
    if let Some(request) = &reload {
        let loading = ports.replication.reloading(request).await?;
        if !loading.is_empty() {
            status.ready = false;
            status.wait_seconds = status.wait_seconds.max(60);
            status.message = format!(
                "waiting for the fresh full load of {}; {}",
                loading.join(", "),
                status.message
            );
        }
    }
    tracing::info!(state = %status.state, ready = status.ready, waited_seconds, tables_in_error = ?status.tables_in_error, "replication");
    Ok(StartReplicationOutput {
        plan,
        status,
        waited_seconds,
        calls,
    })
}

/// When the execution started (now, when the event does not say).
fn started_at(event: &StartReplicationEvent) -> DateTime<Utc> {
    event
        .started_at
        .as_deref()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(Utc::now)
}

fn reload_request(ports: &Ports, plan: &RunPlan, event: &StartReplicationEvent) -> ReloadRequest {
    ReloadRequest {
        schema: ports.config.source.schema.clone(),
        tables: table_modes(ports, plan),
        since: started_at(event),
    }
}

/// The plan's tables, each with its mode.
fn table_modes(ports: &Ports, plan: &RunPlan) -> Vec<(String, TableMode)> {
    plan.tables
        .iter()
        .filter_map(|t| ports.config.table(t))
        .map(|t| (t.name.clone(), t.mode))
        .collect()
}

/// Records, per table, what had landed before the fresh full load is asked
/// for: validate-landed supersedes those files with the new load. A retried
/// first call keeps the first mark: what it lists is what landed before.
async fn mark_reload(ports: &Ports, run_id: &str, request: &ReloadRequest) -> Result<(), Error> {
    let layout = layout(ports);
    for table in request.names() {
        let key = layout.reload_mark_key(table, run_id);
        let mark = ReloadMark {
            run_id: run_id.to_string(),
            requested_at: Utc::now().to_rfc3339(),
            files: ports
                .landing
                .list(&landing_prefix(&request.schema, table))
                .await?,
        };
        let body = serde_json::to_vec(&mark).unwrap_or_default();
        match ports
            .lake
            .put(&key, body.into(), Some(Condition::Absent))
            .await
        {
            Ok(_) | Err(StoreError::PreconditionFailed { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

fn plan(ports: &Ports, event: &StartReplicationEvent) -> Result<RunPlan, Error> {
    let today = started_at(event).date_naive();
    let mut plan = RunPlan::build(&event.input, Some(&ports.config.table_names()), today)
        .map_err(|e| Error::InvalidInput(e.0))?;
    if let Some(cadence) = plan.cadence {
        plan.tables.retain(|t| {
            ports
                .config
                .table(t)
                .is_some_and(|c| c.cadence() == cadence)
        });
    }
    tracing::info!(
        mode = plan.mode.as_str(),
        tables = plan.tables.len(),
        scheduled = plan.scheduled,
        cadence = plan.cadence.map(|c| c.as_str()),
        "run plan"
    );
    Ok(plan)
}
