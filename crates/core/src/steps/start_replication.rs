use crate::error::Error;
use crate::events::{ReplicationStatus, StartReplicationEvent};
use crate::ports::Ports;

/// Starts or resumes the replication and reports its health. While a reload
/// runs, `ready` is false and the state machine waits and asks again.
pub async fn start_replication(
    ports: &Ports,
    event: StartReplicationEvent,
) -> Result<ReplicationStatus, Error> {
    let status = ports.replication.start(&event).await?;
    tracing::info!(state = %status.state, ready = status.ready, tables_in_error = ?status.tables_in_error, "replication");
    Ok(status)
}
