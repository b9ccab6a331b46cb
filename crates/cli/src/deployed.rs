//! A deployed pipeline, found from its state machine's ARN alone, for
//! `tidemark status|pause|resume --state-machine`: the definition names
//! the start-replication function, whose environment says where the lake,
//! the landing area, the configuration and the replication are (the same
//! variables the function reads); its EventBridge Scheduler schedules are
//! the ones whose target is the state machine (or its alias): the daily
//! one, and the frequent one when there is one.

use anyhow::{Context, anyhow, bail};
use aws_sdk_scheduler::types::ScheduleState;
use serde_json::Value;
use std::collections::HashMap;
use tidemark_aws::error::describe;
use tidemark_aws::{AwsBackend, AwsEnv, PortSet};
use tidemark_core::ports::Ports;
use tidemark_core::status::Schedule;

pub struct Deployed {
    pub machine: String,
    pub ports: Ports,
    scheduler: aws_sdk_scheduler::Client,
    cloudwatch: aws_sdk_cloudwatch::Client,
    sts: aws_sdk_sts::Client,
}

/// What an AWS error means to the person at the terminal: the operation,
/// the resource and the service's words; for a refusal, the permission.
fn failed<E, R>(
    action: &str,
    resource: &str,
    e: aws_sdk_sfn::error::SdkError<E, R>,
) -> anyhow::Error
where
    E: aws_sdk_sfn::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    let text = describe(&e);
    if text.contains("AccessDenied") || text.contains("UnauthorizedOperation") {
        anyhow!("not allowed to {action} on {resource}: {text}. The operator's role needs {action}")
    } else {
        anyhow!("{action} on {resource}: {text}")
    }
}

impl Deployed {
    pub async fn discover(machine: &str) -> anyhow::Result<Deployed> {
        crate::rerun::check_arn(machine)?;
        let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        let described = aws_sdk_sfn::Client::new(&sdk)
            .describe_state_machine()
            .state_machine_arn(machine)
            .send()
            .await
            .map_err(|e| failed("states:DescribeStateMachine", machine, e))?;
        let definition: Value = serde_json::from_str(described.definition())
            .context("the state machine's definition is not JSON")?;
        let Some(function) = definition
            .pointer("/States/StartReplication/Parameters/FunctionName")
            .and_then(Value::as_str)
        else {
            bail!(
                "{machine} is not a tidemark pipeline: its definition has no StartReplication task"
            );
        };
        let configuration = aws_sdk_lambda::Client::new(&sdk)
            .get_function_configuration()
            .function_name(function)
            .send()
            .await
            .map_err(|e| failed("lambda:GetFunctionConfiguration", function, e))?;
        let vars: HashMap<String, String> = configuration
            .environment()
            .and_then(|e| e.variables())
            .cloned()
            .unwrap_or_default();
        type Ports = tidemark_aws::lambda::StartReplication;
        let env = AwsEnv::read(Ports::NEEDS, |name| vars.get(name).cloned())
            .with_context(|| format!("the environment of {function}"))?;
        let backend = AwsBackend::build::<Ports>(&env, &sdk).await?;
        Ok(Deployed {
            machine: machine.to_string(),
            ports: backend.ports,
            scheduler: aws_sdk_scheduler::Client::new(&sdk),
            cloudwatch: aws_sdk_cloudwatch::Client::new(&sdk),
            sts: aws_sdk_sts::Client::new(&sdk),
        })
    }

    /// Who is calling, for the pause record: the caller's ARN, else `fallback`.
    pub async fn caller(&self, fallback: &str) -> String {
        match self.sts.get_caller_identity().send().await {
            Ok(me) => me.arn().unwrap_or(fallback).to_string(),
            Err(_) => fallback.to_string(),
        }
    }

    /// The schedules that start this state machine (or its alias): the
    /// daily one, and the frequent one when there is one. Each read whole:
    /// (group, name, schedule).
    async fn find_schedules(
        &self,
    ) -> anyhow::Result<
        Vec<(
            String,
            String,
            aws_sdk_scheduler::operation::get_schedule::GetScheduleOutput,
        )>,
    > {
        let mut found = Vec::new();
        let mut pages = self.scheduler.list_schedules().into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| failed("scheduler:ListSchedules", "*", e))?;
            for s in page.schedules() {
                let target = s.target().map(|t| t.arn()).unwrap_or_default();
                if target == self.machine || target.starts_with(&format!("{}:", self.machine)) {
                    let group = s.group_name().unwrap_or("default").to_string();
                    let name = s.name().unwrap_or_default().to_string();
                    let whole = self
                        .scheduler
                        .get_schedule()
                        .group_name(&group)
                        .name(&name)
                        .send()
                        .await
                        .map_err(|e| failed("scheduler:GetSchedule", &name, e))?;
                    found.push((group, name, whole));
                }
            }
        }
        if found.is_empty() {
            bail!(
                "no EventBridge Scheduler schedule starts {}: was the pipeline deployed with its schedule?",
                self.machine
            );
        }
        Ok(found)
    }

    pub async fn schedules(&self) -> anyhow::Result<Vec<Schedule>> {
        Ok(self
            .find_schedules()
            .await?
            .into_iter()
            .map(|(_, name, s)| Schedule {
                name,
                expression: s.schedule_expression().unwrap_or_default().to_string(),
                enabled: s.state() != Some(&ScheduleState::Disabled),
            })
            .collect())
    }

    /// Enables or disables every schedule of the pipeline, keeping every
    /// other setting (the API replaces the whole schedule). Returns whether
    /// any changed. All change or none: on a refusal, those already
    /// changed are set back.
    pub async fn set_schedule(&self, enabled: bool) -> anyhow::Result<bool> {
        let state = |enabled| {
            if enabled {
                ScheduleState::Enabled
            } else {
                ScheduleState::Disabled
            }
        };
        let mut changed: Vec<(String, String, _)> = Vec::new();
        for (group, name, s) in self.find_schedules().await? {
            if s.state() == Some(&state(enabled)) {
                continue;
            }
            if let Err(e) = self.update_state(&group, &name, &s, state(enabled)).await {
                for (group, name, s) in &changed {
                    if let Err(undo) = self.update_state(group, name, s, state(!enabled)).await {
                        eprintln!("{name} could not be set back: {undo}");
                    }
                }
                return Err(e);
            }
            changed.push((group, name, s));
        }
        Ok(!changed.is_empty())
    }

    async fn update_state(
        &self,
        group: &str,
        name: &str,
        s: &aws_sdk_scheduler::operation::get_schedule::GetScheduleOutput,
        state: ScheduleState,
    ) -> anyhow::Result<()> {
        self.scheduler
            .update_schedule()
            .group_name(group)
            .name(name)
            .set_description(s.description().map(str::to_string))
            .set_schedule_expression(s.schedule_expression().map(str::to_string))
            .set_schedule_expression_timezone(s.schedule_expression_timezone().map(str::to_string))
            .set_start_date(s.start_date().cloned())
            .set_end_date(s.end_date().cloned())
            .set_kms_key_arn(s.kms_key_arn().map(str::to_string))
            .set_flexible_time_window(s.flexible_time_window().cloned())
            .set_target(s.target().cloned())
            .set_action_after_completion(s.action_after_completion().cloned())
            .state(state)
            .send()
            .await
            .map_err(|e| failed("scheduler:UpdateSchedule", name, e))?;
        Ok(())
    }

    /// Turns the actions of the tables' freshness alarms on or off
    /// (Terraform's `<pipeline>-<table>-stale`, on notify's `Merged`
    /// metric): a paused pipeline merges nothing and must not page anyone
    /// for it. Returns how many alarms there are.
    pub async fn set_freshness_alarms(&self, enabled: bool) -> anyhow::Result<usize> {
        use aws_sdk_cloudwatch::types::Dimension;
        let config = &self.ports.config;
        let mut names = Vec::new();
        for table in config.table_names() {
            let dimension =
                |name: &str, value: &str| Dimension::builder().name(name).value(value).build();
            let out = self
                .cloudwatch
                .describe_alarms_for_metric()
                .namespace("Tidemark")
                .metric_name("Merged")
                .dimensions(dimension("Database", &config.source.database))
                .dimensions(dimension("Table", table))
                .send()
                .await
                .map_err(|e| failed("cloudwatch:DescribeAlarmsForMetric", table, e))?;
            names.extend(
                out.metric_alarms()
                    .iter()
                    .filter_map(|a| a.alarm_name().map(str::to_string)),
            );
        }
        names.sort();
        names.dedup();
        for chunk in names.chunks(100) {
            let result = if enabled {
                self.cloudwatch
                    .enable_alarm_actions()
                    .set_alarm_names(Some(chunk.to_vec()))
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| failed("cloudwatch:EnableAlarmActions", &chunk[0], e))
            } else {
                self.cloudwatch
                    .disable_alarm_actions()
                    .set_alarm_names(Some(chunk.to_vec()))
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| failed("cloudwatch:DisableAlarmActions", &chunk[0], e))
            };
            result?;
        }
        Ok(names.len())
    }
}
