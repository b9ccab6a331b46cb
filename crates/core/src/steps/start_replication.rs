use crate::error::Error;
use crate::events::{RunMode, RunPlan, StartReplicationEvent, StartReplicationOutput};
use crate::ports::Ports;

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
    if plan.mode == RunMode::Reload && event.previous.is_none() {
        ports.replication.reload(&plan.tables).await?;
    }
    let status = ports.replication.start(&event).await?;
    tracing::info!(state = %status.state, ready = status.ready, waited_seconds, tables_in_error = ?status.tables_in_error, "replication");
    Ok(StartReplicationOutput {
        plan,
        status,
        waited_seconds,
        calls,
    })
}

fn plan(ports: &Ports, event: &StartReplicationEvent) -> Result<RunPlan, Error> {
    let today = event
        .started_at
        .as_deref()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.date_naive())
        .unwrap_or_else(|| chrono::Utc::now().date_naive());
    let plan = RunPlan::build(&event.input, Some(&ports.config.table_names()), today)
        .map_err(Error::InvalidInput)?;
    tracing::info!(
        mode = plan.mode.as_str(),
        tables = plan.tables.len(),
        scheduled = plan.scheduled,
        "run plan"
    );
    Ok(plan)
}
