//! Reruns on AWS: a manual execution of the pipeline's state machine
//! (`tidemark rerun`), and the recent executions (`tidemark runs`).
//!
//! An execution's name is derived from its input, the day and an attempt
//! number, so submitting the same rerun twice cannot start two runs: Step
//! Functions refuses the second name, and the command points at the first.
//! A forget's name is random instead: names show in the console, in
//! CloudTrail and in alerts, and a hash of a few integer keys is easily
//! reversed. Submitted twice, a forget runs twice, which removes nothing more.

use crate::error::{describe, is_code, kind};
use aws_sdk_sfn::Client;
use aws_sdk_sfn::config::http::HttpResponse;
use aws_sdk_sfn::error::{ProvideErrorMetadata, SdkError};
use chrono::NaiveDate;
use tidemark_core::error::{ErrorKind, Invalid};
use tidemark_core::events::{RunPlan, RunRequest};
use xxhash_rust::xxh3::xxh3_64;

/// What `tidemark rerun` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submitted {
    pub execution_arn: String,
    /// False when an execution of that name existed already (a double submit).
    pub started: bool,
    pub console_url: String,
}

/// One execution, as `tidemark runs` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSummary {
    pub name: String,
    pub status: String,
    pub started: String,
    pub stopped: Option<String>,
    pub execution_arn: String,
}

/// The execution name of `request` submitted on `day`: `rerun-<day>-<hash>-<attempt>`,
/// where the hash covers the request's canonical JSON; for a forget,
/// `forget-<day>-<random>`.
pub fn execution_name(request: &RunRequest, day: NaiveDate, attempt: u32) -> String {
    if request.mode == Some(tidemark_core::events::RunMode::Forget) {
        return format!(
            "forget-{}-{}",
            day.format("%Y%m%d"),
            uuid::Uuid::new_v4().simple()
        );
    }
    let input = serde_json::to_string(request).unwrap_or_default();
    format!(
        "rerun-{}-{:016x}-{attempt}",
        day.format("%Y%m%d"),
        xxh3_64(input.as_bytes())
    )
}

/// The Step Functions console page of an execution.
pub fn console_url(execution_arn: &str) -> String {
    let region = execution_arn.split(':').nth(3).unwrap_or("us-east-1");
    format!(
        "https://{region}.console.aws.amazon.com/states/home?region={region}#/v2/executions/details/{execution_arn}"
    )
}

/// `arn:…:stateMachine:<name>` → `arn:…:execution:<name>:<execution>`. An
/// alias or version ARN (`…:stateMachine:<name>:live`) starts executions of
/// the same state machine, named the same way.
fn execution_arn(state_machine_arn: &str, name: &str) -> String {
    let (prefix, machine) = state_machine_arn
        .split_once(":stateMachine:")
        .unwrap_or((state_machine_arn, ""));
    let machine = machine.split(':').next().unwrap_or(machine);
    format!("{prefix}:execution:{machine}:{name}")
}

/// Why a rerun did not start, or its executions could not be listed.
#[derive(Debug, thiserror::Error)]
pub enum RerunError {
    /// The request breaks a rule of the run plan: nothing was started.
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// Step Functions refused or failed the call.
    #[error("{operation} on {state_machine}: {message}")]
    StepFunctions {
        operation: &'static str,
        state_machine: String,
        message: String,
        kind: ErrorKind,
    },
}

pub struct Reruns {
    client: Client,
    state_machine_arn: String,
}

impl Reruns {
    fn failed<E>(&self, operation: &'static str, e: &SdkError<E, HttpResponse>) -> RerunError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        RerunError::StepFunctions {
            operation,
            state_machine: self.state_machine_arn.clone(),
            message: describe(e),
            kind: kind(e),
        }
    }

    pub fn new(client: Client, state_machine_arn: String) -> Self {
        Reruns {
            client,
            state_machine_arn,
        }
    }

    /// Starts the execution named [`execution_name`], unless it exists.
    /// The request must pass the plan's rules that need no configuration
    /// (the first step checks the table names against it).
    pub async fn submit(&self, request: &RunRequest, name: &str) -> Result<Submitted, RerunError> {
        let input = request.to_input();
        RunPlan::build(&input, None, chrono::Utc::now().date_naive())?;
        let input = input.to_json();
        match self
            .client
            .start_execution()
            .state_machine_arn(&self.state_machine_arn)
            .name(name)
            .input(input)
            .send()
            .await
        {
            Ok(out) => Ok(Submitted {
                console_url: console_url(out.execution_arn()),
                execution_arn: out.execution_arn().to_string(),
                started: true,
            }),
            Err(e) if is_code(&e, &["ExecutionAlreadyExists"]) => {
                let arn = execution_arn(&self.state_machine_arn, name);
                Ok(Submitted {
                    console_url: console_url(&arn),
                    execution_arn: arn,
                    started: false,
                })
            }
            Err(e) => Err(self.failed("StartExecution", &e)),
        }
    }

    /// The most recent executions, newest first.
    pub async fn recent(&self, limit: i32) -> Result<Vec<RunSummary>, RerunError> {
        let out = self
            .client
            .list_executions()
            .state_machine_arn(&self.state_machine_arn)
            .max_results(limit.clamp(1, 1000))
            .send()
            .await
            .map_err(|e| self.failed("ListExecutions", &e))?;
        let time = |t: &aws_smithy_types::DateTime| {
            chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos())
                .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
                .unwrap_or_default()
        };
        let mut runs: Vec<RunSummary> = out
            .executions()
            .iter()
            .map(|e| RunSummary {
                name: e.name().to_string(),
                status: e.status().as_str().to_string(),
                started: time(e.start_date()),
                stopped: e.stop_date().map(time),
                execution_arn: e.execution_arn().to_string(),
            })
            .collect();
        runs.sort_by(|a, b| b.started.cmp(&a.started));
        Ok(runs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tidemark_core::events::{RunMode, TableSelection};

    #[test]
    fn names_depend_on_the_request_the_day_and_the_attempt_only() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 21).unwrap();
        let a = RunRequest {
            tables: Some(TableSelection::Named(vec!["orders".into()])),
            ..RunRequest::default()
        };
        let name = execution_name(&a, day, 1);
        assert_eq!(name, execution_name(&a.clone(), day, 1));
        assert!(
            name.starts_with("rerun-20261121-") && name.ends_with("-1"),
            "{name}"
        );
        assert!(name.len() <= 80 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
        assert_ne!(name, execution_name(&a, day, 2));
        assert_ne!(name, execution_name(&a, day.succ_opt().unwrap(), 1));
        let b = RunRequest {
            mode: Some(RunMode::Rebuild),
            ..a.clone()
        };
        assert_ne!(name, execution_name(&b, day, 1));
    }

    #[test]
    fn a_forgets_name_reveals_nothing_of_its_keys() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 21).unwrap();
        let forget = RunRequest {
            tables: Some(TableSelection::Named(vec!["customers".into()])),
            mode: Some(RunMode::Forget),
            keys: Some(vec![serde_json::json!(42)]),
            requested_by: Some("DPO".into()),
            ..RunRequest::default()
        };
        let name = execution_name(&forget, day, 1);
        assert!(name.starts_with("forget-20261121-"), "{name}");
        assert!(name.len() <= 80 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
        // Not derived from the request: the same request is named anew.
        assert_ne!(name, execution_name(&forget, day, 1));
    }

    #[test]
    fn console_links_and_execution_arns_follow_the_state_machine() {
        let sm = "arn:aws:states:eu-west-2:123456789012:stateMachine:tidemark-dev-shop";
        assert_eq!(
            execution_arn(sm, "n"),
            "arn:aws:states:eu-west-2:123456789012:execution:tidemark-dev-shop:n"
        );
        assert_eq!(
            execution_arn(&format!("{sm}:live"), "n"),
            execution_arn(sm, "n"),
            "executions started through the alias"
        );
        assert!(console_url(&execution_arn(sm, "n")).starts_with(
            "https://eu-west-2.console.aws.amazon.com/states/home?region=eu-west-2#/v2/executions/details/arn:aws:states:eu-west-2:"
        ));
    }
}
