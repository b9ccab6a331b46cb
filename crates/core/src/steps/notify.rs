use super::layout;
use super::meter::load_usage;
use crate::alert::{Alert, AlertTable, cause_message};
use crate::cost::{Cost, RUN_LEVEL, RunCost, StepUsage, Transitions};
use crate::error::{Error, ErrorName};
use crate::events::{NotifyEvent, NotifyOutput, RunMode, TableStatus};
use crate::freshness::{Freshness, human_age};
use crate::pause::Pause;
use crate::ports::Ports;
use crate::run_record::RunRecord;
use std::collections::BTreeMap;

/// Sends one alert for a run with failed tables (or a summary on success, if
/// configured), and records each failure in the table's run record.
pub async fn notify(ports: &Ports, event: NotifyEvent) -> Result<NotifyOutput, Error> {
    let layout = layout(ports);
    let database = ports.config.source.database.clone();
    let mut usage = load_usage(ports.lake.as_ref(), &database, &event.run_id).await?;
    let transitions = match &event.execution {
        Some(execution) => ports
            .metering
            .transitions(execution)
            .await
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "state transitions not counted");
                Transitions::default()
            }),
        None => Transitions::default(),
    };
    let prices = &ports.config.cost;
    let mut costs = Vec::with_capacity(event.results.len());
    let mut tables = Vec::with_capacity(event.results.len());
    for result in &event.results {
        let key = layout.run_record_key(&event.run_id, &result.table);
        let mut record = super::load_run_record(ports.lake.as_ref(), &key).await?;
        let message = result.cause.as_deref().map(cause_message);
        let cost = usage.remove(&result.table).map(|u| {
            let transitions = transitions.tables.get(&result.table).copied();
            Cost::price(&u, transitions.unwrap_or(0), prices)
        });
        if result.status != TableStatus::Succeeded || cost.is_some() {
            let r = record.get_or_insert_with(|| RunRecord {
                run_id: event.run_id.clone(),
                database: database.clone(),
                table: result.table.clone(),
                ..Default::default()
            });
            if result.status != TableStatus::Succeeded {
                r.status = Some(result.status);
                r.error = result.error.clone();
                r.message = message.clone();
            }
            if let Some(cost) = cost {
                costs.push((result.table.clone(), cost.clone()));
                r.cost = Some(cost);
            }
            super::save_run_record(ports.lake.as_ref(), &key, r).await?;
        }
        tables.push(AlertTable {
            table: result.table.clone(),
            status: result.status,
            error: result.error.clone(),
            message,
            record,
            stale: None,
        });
    }
    let due = alerts_due(ports, &event, &mut tables).await?;
    let failed: Vec<(&str, Option<&str>)> = tables
        .iter()
        .filter(|t| t.status == TableStatus::Failed)
        .map(|t| (t.table.as_str(), t.error.as_deref()))
        .collect();
    let rerun = rerun_commands(
        ports.config.alerts.rerun_command.as_deref(),
        &event,
        &failed,
    );
    let failed = failed.len();
    let succeeded: Vec<&str> = tables
        .iter()
        .filter(|t| t.status == TableStatus::Succeeded)
        .map(|t| t.table.as_str())
        .collect();
    let run_cost = run_cost(
        ports,
        &event.run_id,
        &costs,
        &succeeded,
        &usage,
        &transitions,
    )
    .await?;
    let alert = Alert {
        run_id: event.run_id.clone(),
        database,
        failed: failed > 0,
        input: event.input.redacted(),
        replication: event.replication.clone(),
        rerun,
        tables,
        cost: Some(run_cost),
    };
    // A failed maintenance alerts even when every table's data succeeded.
    let maintenance_failed = alert
        .tables
        .iter()
        .any(|t| t.maintenance_failure().is_some());
    // An erasure is always confirmed.
    let erased = alert.tables.iter().any(|t| t.erasure().is_some());
    let send = !due.is_empty() || maintenance_failed || erased || ports.config.alerts.on_success;
    let delivered_to = if send {
        ports.notifier.send(&alert).await?
    } else {
        if failed > 0 {
            tracing::info!(
                failed,
                "no alert: every failed table is within its freshness target"
            );
        }
        Vec::new()
    };
    if send {
        let now = chrono::Utc::now();
        for table in &due.throttled {
            Freshness::record_alert(ports.lake.as_ref(), &layout.freshness_key(table), now).await?;
        }
    }
    Ok(NotifyOutput {
        failed_tables: failed as u32,
        succeeded_tables: (event.results.len() - failed) as u32,
        alert_sent: send,
        delivered_to,
    })
}

/// What a run alerts about: every failed table of a manual run (a person
/// waits for it) and of a scheduled run for tables with no freshness target;
/// for a table with a target, a scheduled run alerts only when
/// [`Freshness::alert_due`] says so — failed or skipped, the table is past
/// its target — so a frequent schedule that recovers by itself stays quiet.
struct AlertsDue {
    tables: usize,
    /// The tables alerted under their freshness target: their alert is recorded.
    throttled: Vec<String>,
}

impl AlertsDue {
    fn is_empty(&self) -> bool {
        self.tables == 0
    }
}

/// Decides [`AlertsDue`] and marks the stale tables in the alert. A setup
/// failure (`(pipeline)`) stands for every table of the plan.
async fn alerts_due(
    ports: &Ports,
    event: &NotifyEvent,
    tables: &mut [AlertTable],
) -> Result<AlertsDue, Error> {
    let scheduled = event.plan.as_ref().is_some_and(|p| p.scheduled);
    let config = &ports.config;
    let layout = layout(ports);
    // Paused, the schedule is off: nothing is stale.
    let paused = Pause::load(ports.lake.as_ref(), &layout.pause_key())
        .await?
        .is_some();
    let now = chrono::Utc::now();
    let mut due = AlertsDue {
        tables: 0,
        throttled: Vec::new(),
    };
    for t in tables
        .iter_mut()
        .filter(|t| t.status != TableStatus::Succeeded)
    {
        let setup = t.table == PIPELINE;
        let covered: Vec<&str> = if setup {
            match &event.plan {
                Some(plan) => plan.tables.iter().map(String::as_str).collect(),
                None => config.table_names(),
            }
        } else {
            vec![t.table.as_str()]
        };
        let targets: Vec<(&str, u32)> = covered
            .into_iter()
            .filter_map(|table| Some((table, config.freshness_minutes(table)?)))
            .collect();
        if !scheduled || targets.is_empty() {
            due.tables += usize::from(t.status == TableStatus::Failed);
            continue;
        }
        let mut stale = Vec::new();
        for (table, minutes) in targets.into_iter().filter(|_| !paused) {
            let fresh = Freshness::load(ports.lake.as_ref(), &layout.freshness_key(table)).await?;
            if fresh.alert_due(now, minutes) {
                let line = stale_line(&fresh, now, minutes);
                stale.push(if setup {
                    format!("{table} {line}")
                } else {
                    line
                });
                due.throttled.push(table.to_string());
            }
        }
        if !stale.is_empty() {
            due.tables += 1;
            t.stale = Some(stale.join("; "));
        }
    }
    Ok(due)
}

/// `last up to date 47 min ago (run r-12), freshness target 30 min`.
fn stale_line(fresh: &Freshness, now: chrono::DateTime<chrono::Utc>, minutes: u32) -> String {
    let target = human_age(chrono::Duration::minutes(minutes.into()));
    match (fresh.age(now), &fresh.checked_by) {
        (Some(age), Some(run)) => format!(
            "last up to date {} ago (run {run}), freshness target {target}",
            human_age(age)
        ),
        _ => format!("no run has brought it up to date yet, freshness target {target}"),
    }
}

/// The run's total (its tables' and its own steps', the remaining usage under
/// [`RUN_LEVEL`] and the transitions outside any table), saved beside the
/// run records; and each table's figures as CloudWatch metrics.
async fn run_cost(
    ports: &Ports,
    run_id: &str,
    tables: &[(String, Cost)],
    succeeded: &[&str],
    usage: &BTreeMap<String, Vec<StepUsage>>,
    transitions: &Transitions,
) -> Result<RunCost, Error> {
    let database = &ports.config.source.database;
    let outside_tables = transitions
        .total
        .saturating_sub(transitions.tables.values().sum::<u64>());
    let rest: Vec<StepUsage> = usage.values().flatten().cloned().collect();
    let run_level = Cost::price(&rest, outside_tables, &ports.config.cost);
    let total = RunCost::of(tables, &run_level);
    let key = layout(ports).run_cost_key(run_id);
    let body = bytes::Bytes::from(serde_json::to_vec_pretty(&total).unwrap_or_default());
    ports.lake.put(&key, body, None).await?;
    let now = chrono::Utc::now().timestamp_millis();
    let mut documents: Vec<serde_json::Value> = tables
        .iter()
        .map(|(table, cost)| {
            cost.emf(
                database,
                table,
                Some(succeeded.contains(&table.as_str())),
                now,
            )
        })
        .collect();
    documents.push(run_level.emf(database, RUN_LEVEL, None, now));
    if let Err(e) = ports.metering.publish(&documents).await {
        tracing::warn!(error = %e, "cost metrics not published");
    }
    Ok(total)
}

/// The commands that rerun the failed tables, one line per mode: the
/// execution's own mode, except that a table that failed with a breaking
/// schema drift needs a rebuild. The base is the configured command (the
/// local pipeline's `tidemark run ...`) or `tidemark rerun` of this state
/// machine. A failure before any table ran (`(pipeline)`) reruns the whole
/// execution.
fn rerun_commands(
    configured: Option<&str>,
    event: &NotifyEvent,
    failed: &[(&str, Option<&str>)],
) -> String {
    let base = match (configured, &event.state_machine) {
        (Some(command), _) => command.to_string(),
        (None, Some(arn)) => format!("tidemark rerun --state-machine {arn}"),
        (None, None) => "tidemark rerun".to_string(),
    };
    let Some(plan) = &event.plan else {
        // No plan: the input was refused, or the alert comes from outside an
        // execution's own steps (an EventBridge rule).
        let refused = failed
            .iter()
            .any(|(_, e)| *e == Some(ErrorName::InvalidInput.as_str()));
        return if refused {
            format!("{base} (with the execution input corrected as the error says)")
        } else {
            base
        };
    };
    let mut groups: Vec<(RunMode, Vec<String>)> = Vec::new();
    for (table, error) in failed {
        let mode = if *error == Some(ErrorName::SchemaDrift.as_str()) {
            RunMode::Rebuild
        } else {
            plan.mode
        };
        match groups.iter_mut().find(|(m, _)| *m == mode) {
            Some((_, tables)) => tables.push(table.to_string()),
            None => groups.push((mode, vec![table.to_string()])),
        }
    }
    let lines: Vec<String> = groups
        .into_iter()
        .map(|(mode, tables)| {
            let whole_run = tables.iter().any(|t| t == PIPELINE);
            let mut command = base.clone();
            if !whole_run {
                command.push_str(&format!(" --tables {}", tables.join(",")));
            } else if mode.rebuilds() {
                command.push_str(&format!(" --tables {}", plan.tables.join(",")));
            }
            if mode != RunMode::Incremental {
                command.push_str(&format!(" --mode {}", mode.as_str()));
            }
            if let (RunMode::Reprocess, Some(from), Some(to)) = (mode, plan.from, plan.to) {
                command.push_str(&format!(" --from {from} --to {to}"));
            }
            if mode == RunMode::Forget {
                // The keys are not repeated in an alert.
                command.push_str(" with the same keys (repeating an erasure is safe)");
            }
            command
        })
        .collect();
    lines.join("\n")
}

/// The table name a failure before the Map state (no table ran) is recorded under.
pub const PIPELINE: &str = "(pipeline)";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{ExecutionInput, RunPlan};

    fn event(input: serde_json::Value) -> NotifyEvent {
        let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
        let input = ExecutionInput(input);
        NotifyEvent {
            run_id: "r".into(),
            plan: Some(RunPlan::build(&input, Some(&["customers", "orders"]), today).unwrap()),
            input,
            replication: None,
            results: Vec::new(),
            state_machine: Some("arn:aws:states:eu-west-2:1:stateMachine:p".into()),
            execution: None,
        }
    }

    #[test]
    fn the_rerun_command_repeats_the_plan_for_the_failed_tables_on_this_state_machine() {
        let event = event(
            serde_json::json!({"mode": "reprocess", "from": "2026-11-01", "to": "2026-11-20"}),
        );
        let failed = [("orders", Some("Tidemark.Validation")), ("customers", None)];
        assert_eq!(
            rerun_commands(None, &event, &failed),
            "tidemark rerun --state-machine arn:aws:states:eu-west-2:1:stateMachine:p --tables orders,customers --mode reprocess --from 2026-11-01 --to 2026-11-20"
        );
    }

    #[test]
    fn a_breaking_drift_is_rerun_as_a_rebuild_and_the_rest_as_they_ran() {
        let event = event(serde_json::json!({}));
        let failed = [
            ("orders", Some("Tidemark.SchemaDrift")),
            ("customers", Some("Tidemark.Merge")),
        ];
        assert_eq!(
            rerun_commands(Some("tidemark run --config x.toml"), &event, &failed),
            "tidemark run --config x.toml --tables orders --mode rebuild\ntidemark run --config x.toml --tables customers"
        );
    }

    #[test]
    fn a_failure_before_any_table_reruns_the_whole_execution() {
        let mut event = event(serde_json::json!({}));
        let failed = [(PIPELINE, Some("Tidemark.Replication"))];
        assert_eq!(
            rerun_commands(None, &event, &failed),
            "tidemark rerun --state-machine arn:aws:states:eu-west-2:1:stateMachine:p"
        );
        event.plan = None;
        assert!(
            rerun_commands(None, &event, &[(PIPELINE, Some("Tidemark.InvalidInput"))])
                .ends_with("(with the execution input corrected as the error says)")
        );
    }

    /// What the EventBridge rules of `infra/modules/pipeline/alerting.tf` send.
    #[test]
    fn an_alert_from_outside_the_execution_needs_no_plan() {
        let event: NotifyEvent = serde_json::from_str(
            r#"{"run_id": "dms-1", "input": {}, "results": [{"table": "(replication)", "status": "failed", "error": "Tidemark.Replication", "cause": "DMS reported X: y"}]}"#,
        )
        .unwrap();
        assert_eq!(event.plan, None);
        let failed = [("(replication)", Some("Tidemark.Replication"))];
        assert_eq!(rerun_commands(None, &event, &failed), "tidemark rerun");
    }
}
