use super::layout;
use crate::alert::{Alert, AlertTable, cause_message};
use crate::error::Error;
use crate::events::{NotifyEvent, NotifyOutput, TableStatus};
use crate::ports::Ports;
use crate::run_record::RunRecord;

/// Sends one alert for a run with failed tables (or a summary on success, if
/// configured), and records each failure in the table's run record.
pub async fn notify(ports: &Ports, event: NotifyEvent) -> Result<NotifyOutput, Error> {
    let layout = layout(ports);
    let database = ports.config.source.database.clone();
    let mut tables = Vec::with_capacity(event.results.len());
    for result in &event.results {
        let key = layout.run_record_key(&event.run_id, &result.table);
        let mut record = RunRecord::load(ports.lake.as_ref(), &key).await?;
        let message = result.cause.as_deref().map(cause_message);
        if result.status == TableStatus::Failed {
            let r = record.get_or_insert_with(|| RunRecord {
                run_id: event.run_id.clone(),
                database: database.clone(),
                table: result.table.clone(),
                ..Default::default()
            });
            r.status = Some(TableStatus::Failed);
            r.error = result.error.clone();
            r.message = message.clone();
            r.save(ports.lake.as_ref(), &key).await?;
        }
        tables.push(AlertTable {
            table: result.table.clone(),
            status: result.status,
            error: result.error.clone(),
            message,
            record,
        });
    }
    let failed: Vec<String> = tables
        .iter()
        .filter(|t| t.status == TableStatus::Failed)
        .map(|t| t.table.clone())
        .collect();
    let command = ports
        .config
        .alerts
        .rerun_command
        .as_deref()
        .unwrap_or("tidemark rerun --mode incremental");
    let rerun = format!("{command} --tables {}", failed.join(","));
    let alert = Alert {
        run_id: event.run_id.clone(),
        database,
        failed: !failed.is_empty(),
        request: event.request.clone(),
        replication: event.replication.clone(),
        rerun,
        tables,
    };
    let send = alert.failed || ports.config.alerts.on_success;
    let delivered_to = if send {
        ports.notifier.send(&alert).await?
    } else {
        Vec::new()
    };
    Ok(NotifyOutput {
        failed_tables: failed.len() as u32,
        succeeded_tables: (event.results.len() - failed.len()) as u32,
        alert_sent: send,
        delivered_to,
    })
}
