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
    let rerun = rerun_command(
        ports.config.alerts.rerun_command.as_deref(),
        &event,
        &failed,
    );
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

/// The command that reruns the failed tables: the configured one, or
/// `tidemark rerun` of this state machine with the execution's mode and dates.
fn rerun_command(configured: Option<&str>, event: &NotifyEvent, failed: &[String]) -> String {
    let tables = failed.join(",");
    if let Some(command) = configured {
        return format!("{command} --tables {tables}");
    }
    let mut command = String::from("tidemark rerun");
    if let Some(arn) = &event.state_machine {
        command.push_str(&format!(" --state-machine {arn}"));
    }
    command.push_str(&format!(
        " --tables {tables} --mode {}",
        event.request.mode.as_str()
    ));
    if let (Some(from), Some(to)) = (event.request.from, event.request.to) {
        command.push_str(&format!(" --from {from} --to {to}"));
    }
    command
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{RunMode, RunRequest};

    #[test]
    fn the_rerun_command_repeats_the_request_for_the_failed_tables_on_this_state_machine() {
        let mut event = NotifyEvent {
            run_id: "r".into(),
            request: RunRequest {
                mode: RunMode::Reprocess,
                from: chrono::NaiveDate::from_ymd_opt(2026, 11, 1),
                to: chrono::NaiveDate::from_ymd_opt(2026, 11, 20),
                ..RunRequest::default()
            },
            replication: None,
            results: Vec::new(),
            state_machine: Some("arn:aws:states:eu-west-2:1:stateMachine:p".into()),
        };
        let failed = ["orders".to_string(), "customers".to_string()];
        assert_eq!(
            rerun_command(None, &event, &failed),
            "tidemark rerun --state-machine arn:aws:states:eu-west-2:1:stateMachine:p --tables orders,customers --mode reprocess --from 2026-11-01 --to 2026-11-20"
        );
        event.request = RunRequest::default();
        assert_eq!(
            rerun_command(Some("tidemark run --config x.toml"), &event, &failed[..1]),
            "tidemark run --config x.toml --tables orders"
        );
    }
}
