//! Running a [`StateMachine`]: state transitions, input/output processing,
//! Retry and Catch, Map and Parallel concurrency, waits and timeouts.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use serde_json::{Map, Value, json};
use tokio::sync::Semaphore;

use super::context::{Context, ExecutionInfo, truncate};
use super::definition::{
    Amount, Dynamic, Graph, Kind, LAMBDA_INVOKE, MapSpec, State, StateMachine, WaitFor,
};
use super::errors;
use super::path::describe_type;
use super::random::SplitMix64;
use super::{Execution, ExecutionStatus, HistoryEvent, TaskFailure, TaskInvoker};

/// The longest sleep or timeout the interpreter asks for (Step Functions'
/// own maximum of 99999999 seconds).
const MAX_DURATION: Duration = Duration::from_secs(99_999_999);

/// Where the interpreter sleeps (tests substitute a recording clock).
pub(crate) trait Sleeper: Send + Sync {
    /// Sleeps for `duration`.
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()>;
}

/// Sleeps with tokio.
struct TokioSleeper;

impl Sleeper for TokioSleeper {
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// Runs state machines, calling a [`TaskInvoker`] for their tasks.
///
/// One interpreter can run any number of executions, concurrently too.
pub struct Interpreter {
    invoker: Arc<dyn TaskInvoker>,
    time_scale: f64,
    sleeper: Arc<dyn Sleeper>,
    observer: Option<Observer>,
}

/// Sees each history event as it is recorded, with the execution's ARN
/// (`$$.Execution.Id`): what a running execution's history holds so far.
pub type Observer = Arc<dyn Fn(&str, &HistoryEvent) + Send + Sync>;

impl Interpreter {
    /// An interpreter that calls `invoker` for Task states and waits in real
    /// time.
    pub fn new(invoker: Arc<dyn TaskInvoker>) -> Self {
        Self {
            invoker,
            time_scale: 1.0,
            sleeper: Arc::new(TokioSleeper),
            observer: None,
        }
    }

    /// Multiplies every Wait, Retry interval and timeout by `scale` (`0.5`
    /// waits half as long). `0.0` (or a negative or NaN scale) means no
    /// sleeping at all; timeouts then keep their real, unscaled length.
    pub fn with_time_scale(mut self, scale: f64) -> Self {
        self.time_scale = if scale > 0.0 { scale } else { 0.0 };
        self
    }

    /// Calls `observer` with each history event as it is recorded.
    pub fn with_observer(mut self, observer: Observer) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Replaces the clock Waits and Retries sleep on.
    #[cfg(test)]
    pub(crate) fn with_sleeper(mut self, sleeper: Arc<dyn Sleeper>) -> Self {
        self.sleeper = sleeper;
        self
    }

    /// Runs `machine` to completion on `input`.
    ///
    /// The execution is named `execution_name` (`$$.Execution.Name`). It
    /// never panics on bad data: failures, the interpreter's own included
    /// (`States.Runtime`…), end up in [`Execution::status`].
    pub async fn execute(
        &self,
        machine: &StateMachine,
        execution_name: &str,
        input: Value,
    ) -> Execution {
        let run = Run {
            interpreter: self,
            info: ExecutionInfo {
                id: format!(
                    "arn:aws:states:local:000000000000:execution:{}:{execution_name}",
                    machine.name
                ),
                name: execution_name.to_owned(),
                input: input.clone(),
                start_time: now(),
                role_arn: "arn:aws:iam::000000000000:role/StateMachineRole".to_owned(),
                machine_id: format!(
                    "arn:aws:states:local:000000000000:stateMachine:{}",
                    machine.name
                ),
                machine_name: machine.name.clone(),
            },
            events: Mutex::new(Vec::new()),
        };
        tracing::info!(execution = execution_name, machine = %machine.name, "execution started");
        run.event("", "ExecutionStarted", Some(input.to_string()));
        let graph_run = run.graph(&machine.graph, input);
        let result = match machine.timeout_seconds {
            Some(seconds) => match tokio::time::timeout(self.timeout(seconds), graph_run).await {
                Ok(result) => result,
                Err(_) => Err(TaskFailure::new(
                    errors::TIMEOUT,
                    format!("The execution timed out after {seconds} seconds"),
                )),
            },
            None => graph_run.await,
        };
        let (status, output) = match result {
            Ok(output) => {
                tracing::info!(execution = execution_name, "execution succeeded");
                run.event("", "ExecutionSucceeded", Some(output.to_string()));
                (ExecutionStatus::Succeeded, Some(output))
            }
            Err(failure) => {
                tracing::warn!(
                    execution = execution_name,
                    error = %failure.error,
                    cause = %failure.cause,
                    "execution failed"
                );
                run.event("", "ExecutionFailed", Some(failure.to_string()));
                (
                    ExecutionStatus::Failed {
                        error: failure.error,
                        cause: failure.cause,
                    },
                    None,
                )
            }
        };
        let events = run.events.into_inner().unwrap_or_else(|e| e.into_inner());
        Execution {
            name: execution_name.to_owned(),
            status,
            output,
            events,
        }
    }

    /// `seconds` scaled, for sleeping; zero when the scale is zero.
    fn scaled(&self, seconds: f64) -> Duration {
        let scaled = seconds * self.time_scale;
        if scaled.is_nan() || scaled <= 0.0 {
            return Duration::ZERO;
        }
        Duration::try_from_secs_f64(scaled)
            .unwrap_or(MAX_DURATION)
            .min(MAX_DURATION)
    }

    /// `seconds` scaled, for a timeout: unscaled when the scale is zero (a
    /// zero timeout would fail everything).
    fn timeout(&self, seconds: u64) -> Duration {
        if self.time_scale > 0.0 {
            self.scaled(seconds as f64)
        } else {
            Duration::from_secs(seconds).min(MAX_DURATION)
        }
    }

    async fn sleep(&self, seconds: f64) {
        let duration = self.scaled(seconds);
        if !duration.is_zero() {
            self.sleeper.sleep(duration).await;
        }
    }
}

/// One execution in progress.
struct Run<'i> {
    interpreter: &'i Interpreter,
    info: ExecutionInfo,
    events: Mutex<Vec<HistoryEvent>>,
}

/// Where to go after a state: `None` ends the current scope.
type Step<'g> = (Option<&'g str>, Value);

impl Run<'_> {
    fn event(&self, state: &str, kind: &str, detail: Option<String>) {
        let event = HistoryEvent {
            state: state.to_owned(),
            kind: kind.to_owned(),
            detail,
        };
        if let Some(observer) = &self.interpreter.observer {
            observer(&self.info.id, &event);
        }
        let mut events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        events.push(event);
    }

    fn context<'a>(
        &'a self,
        state: &'a State,
        entered_time: &'a str,
        retry_count: u32,
    ) -> Context<'a> {
        Context {
            execution: &self.info,
            state_name: &state.name,
            entered_time,
            retry_count,
            map_item: None,
        }
    }

    /// Runs a graph from its `StartAt` until a state ends it.
    fn graph<'a>(
        &'a self,
        graph: &'a Graph,
        input: Value,
    ) -> BoxFuture<'a, Result<Value, TaskFailure>> {
        Box::pin(async move {
            let mut name = graph.start_at.as_str();
            let mut input = input;
            loop {
                // Validated at load time, so always present.
                let Some(state) = graph.states.get(name) else {
                    return Err(TaskFailure::runtime(format!("no state named `{name}`")));
                };
                // Let other executions and iterations run, even through long
                // chains of states that never wait.
                tokio::task::yield_now().await;
                match self.state(state, input).await? {
                    (Some(next), output) => {
                        name = next;
                        input = output;
                    }
                    (None, output) => return Ok(output),
                }
            }
        })
    }

    /// Runs one state, recording it in the history.
    async fn state<'a>(&'a self, state: &'a State, input: Value) -> Result<Step<'a>, TaskFailure> {
        let entered_time = now();
        tracing::debug!(execution = %self.info.name, state = %state.name, "entered state");
        let entered = input.to_string();
        if let Err(failure) = within_limit(state, "input", &entered) {
            self.failed(state, &failure);
            return Err(failure);
        }
        self.event(&state.name, "Entered", Some(entered));
        let result = match &state.kind {
            Kind::Task { .. } | Kind::Map(_) | Kind::Parallel { .. } => {
                self.with_retry(state, &entered_time, input).await
            }
            _ => {
                let result = self.simple(state, &entered_time, input).await;
                if let Err(failure) = &result {
                    self.failed(state, failure);
                }
                result
            }
        };
        if let Ok((_, output)) = &result {
            let exited = output.to_string();
            if let Err(failure) = within_limit(state, "output", &exited) {
                self.failed(state, &failure);
                return Err(failure);
            }
            self.event(&state.name, "Exited", Some(exited));
        }
        result
    }

    /// Records that `state` raised `failure`.
    fn failed(&self, state: &State, failure: &TaskFailure) {
        tracing::warn!(
            execution = %self.info.name,
            state = %state.name,
            error = %failure.error,
            cause = %failure.cause,
            "state failed"
        );
        let kind = match state.kind {
            Kind::Task { .. } => "TaskFailed",
            Kind::Map(_) => "MapFailed",
            Kind::Parallel { .. } => "ParallelFailed",
            _ => "Failed",
        };
        self.event(&state.name, kind, Some(failure.to_string()));
    }

    /// Pass, Choice, Wait, Succeed and Fail: no Retry nor Catch.
    async fn simple<'a>(
        &'a self,
        state: &'a State,
        entered_time: &str,
        input: Value,
    ) -> Result<Step<'a>, TaskFailure> {
        let ctx = self.context(state, entered_time, 0);
        match &state.kind {
            Kind::Pass { result } => {
                let result = match result {
                    Some(result) => result.clone(),
                    None => {
                        let effective = input_path(state, &input, &ctx)?;
                        match &state.parameters {
                            Some(template) => template.eval(&effective, &ctx)?,
                            None => effective,
                        }
                    }
                };
                Ok((state.next(), finish(state, input, result, &ctx)?))
            }
            Kind::Choice { choices, default } => {
                let effective = input_path(state, &input, &ctx)?;
                let mut chosen = None;
                for (rule, next) in choices {
                    if rule.eval(&effective, &ctx)? {
                        chosen = Some(next.as_str());
                        break;
                    }
                }
                let Some(next) = chosen.or(default.as_deref()) else {
                    return Err(TaskFailure::new(
                        errors::NO_CHOICE_MATCHED,
                        format!(
                            "No choice rule of state '{}' matched the input and it has no Default",
                            state.name
                        ),
                    ));
                };
                Ok((Some(next), output_path(state, effective, &ctx)?))
            }
            Kind::Wait(wait) => {
                let effective = input_path(state, &input, &ctx)?;
                let seconds = wait_seconds(wait, &effective, &ctx)?;
                self.interpreter.sleep(seconds).await;
                Ok((state.next(), output_path(state, effective, &ctx)?))
            }
            Kind::Succeed => {
                let effective = input_path(state, &input, &ctx)?;
                Ok((None, output_path(state, effective, &ctx)?))
            }
            Kind::Fail { error, cause } => Err(TaskFailure::new(
                fail_field(error.as_ref(), "ErrorPath", &input, &ctx)?,
                fail_field(cause.as_ref(), "CausePath", &input, &ctx)?,
            )),
            Kind::Task { .. } | Kind::Map(_) | Kind::Parallel { .. } => {
                Err(TaskFailure::runtime("internal error: not a simple state"))
            }
        }
    }

    /// Task, Map and Parallel: attempts, then retriers, then catchers.
    async fn with_retry<'a>(
        &'a self,
        state: &'a State,
        entered_time: &str,
        input: Value,
    ) -> Result<Step<'a>, TaskFailure> {
        let mut attempts = vec![0u32; state.retry.len()];
        let mut retry_count = 0u32;
        loop {
            let ctx = self.context(state, entered_time, retry_count);
            let failure = match self.attempt(state, &input, &ctx).await {
                Ok(output) => return Ok((state.next(), output)),
                Err(failure) => failure,
            };
            self.failed(state, &failure);
            // As on AWS, States.Runtime and States.DataLimitExceeded are
            // never retried nor caught.
            if is_terminal(&failure.error) {
                return Err(failure);
            }
            if let Some(index) = state
                .retry
                .iter()
                .position(|retrier| error_matches(&retrier.error_equals, &failure.error))
            {
                let retrier = &state.retry[index];
                if attempts[index] < retrier.max_attempts {
                    let mut delay = retrier.delay_seconds(attempts[index]);
                    if retrier.full_jitter {
                        delay *= SplitMix64::from_entropy().next_f64();
                    }
                    attempts[index] += 1;
                    retry_count += 1;
                    self.event(
                        &state.name,
                        "Retry",
                        Some(format!(
                            "{} (retrier {index}, attempt {} of {}) after {delay}s",
                            failure.error, attempts[index], retrier.max_attempts
                        )),
                    );
                    self.interpreter.sleep(delay).await;
                    continue;
                }
            }
            let Some(catcher) = state
                .catch
                .iter()
                .find(|catcher| error_matches(&catcher.error_equals, &failure.error))
            else {
                return Err(failure);
            };
            let error_output = json!({"Error": failure.error, "Cause": failure.cause});
            let output = match &catcher.result_path {
                Some(path) => path
                    .set(input, error_output)
                    .map_err(TaskFailure::runtime)?,
                None => input,
            };
            self.event(
                &state.name,
                "Caught",
                Some(format!("{} -> {}", failure.error, catcher.next)),
            );
            return Ok((Some(catcher.next.as_str()), output));
        }
    }

    /// One attempt of a Task, Map or Parallel state, input to output.
    async fn attempt(
        &self,
        state: &State,
        raw_input: &Value,
        ctx: &Context<'_>,
    ) -> Result<Value, TaskFailure> {
        let effective = input_path(state, raw_input, ctx)?;
        let result = match &state.kind {
            Kind::Task { resource, timeout } => {
                let timeout = match timeout {
                    None => None,
                    Some(amount) => Some(self.interpreter.timeout(amount_value(
                        amount,
                        &effective,
                        ctx,
                        "TimeoutSecondsPath",
                    )?)),
                };
                let parameters = parameters(state, effective, ctx)?;
                self.task(resource, parameters, timeout).await?
            }
            Kind::Map(spec) => self.map(state, spec, &effective, ctx).await?,
            Kind::Parallel { branches } => {
                let branch_input = parameters(state, effective, ctx)?;
                let mut pending: FuturesUnordered<_> = branches
                    .iter()
                    .enumerate()
                    .map(|(index, branch)| {
                        let input = branch_input.clone();
                        async move {
                            self.graph(branch, input)
                                .await
                                .map(|output| (index, output))
                        }
                    })
                    .collect();
                let mut outputs = vec![Value::Null; branches.len()];
                while let Some(result) = pending.next().await {
                    let (index, output) = result?;
                    outputs[index] = output;
                }
                Value::Array(outputs)
            }
            _ => {
                return Err(TaskFailure::runtime(
                    "internal error: not a retriable state",
                ));
            }
        };
        finish(state, raw_input.clone(), result, ctx)
    }

    /// Calls the invoker for a Task state.
    async fn task(
        &self,
        resource: &str,
        parameters: Value,
        timeout: Option<Duration>,
    ) -> Result<Value, TaskFailure> {
        if resource != LAMBDA_INVOKE {
            return self.invoke(resource, parameters, timeout).await;
        }
        let Value::Object(mut parameters) = parameters else {
            return Err(TaskFailure::runtime(format!(
                "The Parameters of {LAMBDA_INVOKE} must be an object, not {}",
                describe_type(&parameters)
            )));
        };
        let function = match parameters.get("FunctionName") {
            Some(Value::String(name)) => name.clone(),
            other => {
                return Err(TaskFailure::runtime(format!(
                    "The FunctionName of {LAMBDA_INVOKE} must be a string, not {}",
                    other.map_or("nothing", describe_type)
                )));
            }
        };
        let payload = parameters
            .remove("Payload")
            .unwrap_or_else(|| Value::Object(Map::new()));
        let result = self.invoke(&function, payload, timeout).await?;
        Ok(json!({"ExecutedVersion": "$LATEST", "Payload": result, "StatusCode": 200}))
    }

    async fn invoke(
        &self,
        resource: &str,
        parameters: Value,
        timeout: Option<Duration>,
    ) -> Result<Value, TaskFailure> {
        let call = self.interpreter.invoker.invoke(resource, parameters);
        match timeout {
            None => call.await,
            Some(limit) => match tokio::time::timeout(limit, call).await {
                Ok(result) => result,
                Err(_) => Err(TaskFailure::new(
                    errors::TIMEOUT,
                    format!("The task `{resource}` timed out"),
                )),
            },
        }
    }

    /// Runs a Map state's iterations; the result is their outputs in item
    /// order.
    async fn map(
        &self,
        state: &State,
        spec: &MapSpec,
        effective: &Value,
        ctx: &Context<'_>,
    ) -> Result<Value, TaskFailure> {
        let items = match ctx.select(&spec.items_path, effective, "ItemsPath")? {
            Value::Array(items) => items,
            other => {
                return Err(TaskFailure::runtime(format!(
                    "ItemsPath '{}' must select an array, not {}",
                    spec.items_path.text(),
                    describe_type(&other)
                )));
            }
        };
        let limit = amount_value(&spec.max_concurrency, effective, ctx, "MaxConcurrencyPath")?;
        let semaphore = (limit > 0).then(|| {
            Semaphore::new(
                usize::try_from(limit)
                    .map_or(Semaphore::MAX_PERMITS, |l| l.min(Semaphore::MAX_PERMITS)),
            )
        });
        let mut pending: FuturesUnordered<_> = items
            .iter()
            .enumerate()
            .map(|(index, item)| {
                let semaphore = semaphore.as_ref();
                async move {
                    let _permit = match semaphore {
                        Some(semaphore) => Some(semaphore.acquire().await.map_err(|_| {
                            TaskFailure::runtime("internal error: Map semaphore closed")
                        })?),
                        None => None,
                    };
                    let item_ctx = Context {
                        map_item: Some((index, item)),
                        ..*ctx
                    };
                    let item_input = match &spec.item_selector {
                        Some(selector) => selector.eval(effective, &item_ctx)?,
                        None => item.clone(),
                    };
                    self.event(&state.name, "MapIterationStarted", Some(index.to_string()));
                    let result = self.graph(&spec.processor, item_input).await;
                    let kind = match result {
                        Ok(_) => "MapIterationSucceeded",
                        Err(_) => "MapIterationFailed",
                    };
                    self.event(&state.name, kind, Some(index.to_string()));
                    result.map(|output| (index, output))
                }
            })
            .collect();
        let mut outputs = vec![Value::Null; items.len()];
        while let Some(result) = pending.next().await {
            // The first failure fails the Map; dropping `pending` cancels the
            // iterations still running.
            let (index, output) = result?;
            outputs[index] = output;
        }
        Ok(Value::Array(outputs))
    }
}

/// Errors that end the execution whatever its Retry and Catch say.
fn is_terminal(error: &str) -> bool {
    error == errors::RUNTIME || error == errors::DATA_LIMIT_EXCEEDED
}

/// Step Functions' quota on a state's input and output (`json`, as sent).
fn within_limit(state: &State, what: &str, json: &str) -> Result<(), TaskFailure> {
    if json.len() <= super::MAX_PAYLOAD_BYTES {
        return Ok(());
    }
    Err(TaskFailure::new(
        errors::DATA_LIMIT_EXCEEDED,
        format!(
            "The {what} of state '{}' is {} bytes, over the {} bytes a state may carry",
            state.name,
            json.len(),
            super::MAX_PAYLOAD_BYTES
        ),
    ))
}

/// Whether an `ErrorEquals` list matches `error`.
fn error_matches(error_equals: &[String], error: &str) -> bool {
    error_equals.iter().any(|name| match name.as_str() {
        errors::ALL => !is_terminal(error),
        errors::TASK_FAILED => {
            error != errors::RUNTIME
                && error != errors::TIMEOUT
                && error != errors::HEARTBEAT_TIMEOUT
        }
        name => name == error,
    })
}

/// `InputPath`: the effective input.
fn input_path(state: &State, input: &Value, ctx: &Context<'_>) -> Result<Value, TaskFailure> {
    match &state.input_path {
        None => Ok(Value::Object(Map::new())),
        Some(path) if path.is_root() => Ok(input.clone()),
        Some(path) => ctx.select(path, input, "InputPath"),
    }
}

/// `Parameters` applied to the effective input.
fn parameters(state: &State, effective: Value, ctx: &Context<'_>) -> Result<Value, TaskFailure> {
    match &state.parameters {
        Some(template) => template.eval(&effective, ctx),
        None => Ok(effective),
    }
}

/// `OutputPath`.
fn output_path(state: &State, value: Value, ctx: &Context<'_>) -> Result<Value, TaskFailure> {
    match &state.output_path {
        None => Ok(Value::Object(Map::new())),
        Some(path) if path.is_root() => Ok(value),
        Some(path) => ctx.select(path, &value, "OutputPath"),
    }
}

/// `ResultSelector`, `ResultPath` and `OutputPath`: from a state's result to
/// its output.
fn finish(
    state: &State,
    raw_input: Value,
    result: Value,
    ctx: &Context<'_>,
) -> Result<Value, TaskFailure> {
    let result = match &state.result_selector {
        Some(selector) => selector.eval(&result, ctx)?,
        None => result,
    };
    let combined = match &state.result_path {
        None => raw_input,
        Some(path) => path
            .set(raw_input, result)
            .map_err(|why| TaskFailure::runtime(format!("{why} (in state '{}')", state.name)))?,
    };
    output_path(state, combined, ctx)
}

/// A literal amount, or the non-negative integer its path selects.
fn amount_value(
    amount: &Amount,
    input: &Value,
    ctx: &Context<'_>,
    field: &str,
) -> Result<u64, TaskFailure> {
    match amount {
        Amount::Literal(value) => Ok(*value),
        Amount::Path(path) => {
            let value = ctx.select(path, input, field)?;
            value.as_u64().ok_or_else(|| {
                TaskFailure::runtime(format!(
                    "{field} '{}' must select a non-negative integer, not {}",
                    path.text(),
                    truncate(&value.to_string())
                ))
            })
        }
    }
}

/// How many (unscaled) seconds a Wait state waits from now.
fn wait_seconds(wait: &WaitFor, input: &Value, ctx: &Context<'_>) -> Result<f64, TaskFailure> {
    let until = |timestamp: chrono::DateTime<chrono::FixedOffset>| {
        let millis =
            (timestamp.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_milliseconds();
        (millis.max(0) as f64) / 1000.0
    };
    match wait {
        WaitFor::Seconds(seconds) => Ok(*seconds as f64),
        WaitFor::SecondsPath(path) => {
            let value = ctx.select(path, input, "SecondsPath")?;
            value.as_u64().map(|s| s as f64).ok_or_else(|| {
                TaskFailure::runtime(format!(
                    "SecondsPath '{}' must select a non-negative integer, not {}",
                    path.text(),
                    truncate(&value.to_string())
                ))
            })
        }
        WaitFor::Timestamp(timestamp) => Ok(until(*timestamp)),
        WaitFor::TimestampPath(path) => {
            let value = ctx.select(path, input, "TimestampPath")?;
            value
                .as_str()
                .and_then(super::choice::parse_timestamp)
                .map(until)
                .ok_or_else(|| {
                    TaskFailure::runtime(format!(
                        "TimestampPath '{}' must select an RFC 3339 timestamp, not {}",
                        path.text(),
                        truncate(&value.to_string())
                    ))
                })
        }
    }
}

/// A Fail state's error or cause.
fn fail_field(
    field: Option<&Dynamic>,
    name: &str,
    input: &Value,
    ctx: &Context<'_>,
) -> Result<String, TaskFailure> {
    let value = match field {
        None => return Ok(String::new()),
        Some(Dynamic::Literal(text)) => return Ok(text.clone()),
        Some(Dynamic::Path(path)) => ctx.select(path, input, name)?,
        Some(Dynamic::Intrinsic(call)) => call.eval(input, ctx)?,
    };
    match value {
        Value::String(text) => Ok(text),
        other => Err(TaskFailure::runtime(format!(
            "{name} must select a string, not {}",
            describe_type(&other)
        ))),
    }
}

/// The current time as Step Functions writes it.
fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
