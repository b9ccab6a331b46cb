//! End-to-end tests of the interpreter: small definitions run against a
//! recording [`TaskInvoker`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use serde_json::json;

use super::interpreter::Sleeper;
use super::*;

// ---------------------------------------------------------------------------
// Test doubles
// ---------------------------------------------------------------------------

type Respond = dyn Fn(&str, &Value, usize) -> Result<Value, TaskFailure> + Send + Sync;

/// Records every call, answers with `respond(resource, parameters, n)` where
/// `n` counts the earlier calls to the same resource, optionally after a
/// (real) delay, and tracks how many calls run at once.
struct TestInvoker {
    calls: Mutex<Vec<(String, Value)>>,
    per_resource: Mutex<HashMap<String, usize>>,
    respond: Box<Respond>,
    delay: Box<dyn Fn(&Value) -> Duration + Send + Sync>,
    running: AtomicUsize,
    peak: AtomicUsize,
}

impl TestInvoker {
    fn new(
        respond: impl Fn(&str, &Value, usize) -> Result<Value, TaskFailure> + Send + Sync + 'static,
    ) -> Self {
        TestInvoker {
            calls: Mutex::new(Vec::new()),
            per_resource: Mutex::new(HashMap::new()),
            respond: Box::new(respond),
            delay: Box::new(|_| Duration::ZERO),
            running: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
        }
    }

    /// Returns its parameters.
    fn echo() -> Self {
        Self::new(|_, parameters, _| Ok(parameters.clone()))
    }

    /// Fails the first `failures` calls of each resource with `error`, then
    /// returns `result`.
    fn failing(failures: usize, error: &str, result: Value) -> Self {
        let error = error.to_owned();
        Self::new(move |_, _, n| {
            if n < failures {
                Err(TaskFailure::new(
                    error.clone(),
                    format!("failure #{}", n + 1),
                ))
            } else {
                Ok(result.clone())
            }
        })
    }

    /// Fails every call with the errors of `errors`, in turn, then succeeds
    /// with `{"ok": true}`.
    fn errors(errors: &[&str]) -> Self {
        let errors: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        Self::new(move |_, _, n| match errors.get(n) {
            Some(error) => Err(TaskFailure::new(error.clone(), format!("cause of {error}"))),
            None => Ok(json!({"ok": true})),
        })
    }

    fn with_delay(mut self, delay: impl Fn(&Value) -> Duration + Send + Sync + 'static) -> Self {
        self.delay = Box::new(delay);
        self
    }

    fn calls(&self) -> Vec<(String, Value)> {
        self.calls.lock().unwrap().clone()
    }

    fn call_count(&self) -> usize {
        self.calls.lock().unwrap().len()
    }

    fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }
}

/// Decrements the running-call counter even when the call is cancelled.
struct Running<'a>(&'a AtomicUsize);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[async_trait::async_trait]
impl TaskInvoker for TestInvoker {
    async fn invoke(&self, resource: &str, parameters: Value) -> Result<Value, TaskFailure> {
        self.calls
            .lock()
            .unwrap()
            .push((resource.to_owned(), parameters.clone()));
        let n = {
            let mut counts = self.per_resource.lock().unwrap();
            let count = counts.entry(resource.to_owned()).or_insert(0);
            *count += 1;
            *count - 1
        };
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        let _running = Running(&self.running);
        self.peak.fetch_max(now, Ordering::SeqCst);
        let delay = (self.delay)(&parameters);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        (self.respond)(resource, &parameters, n)
    }
}

/// A clock that records the sleeps asked for and returns at once.
#[derive(Default)]
struct RecordingSleeper {
    sleeps: Mutex<Vec<Duration>>,
}

impl RecordingSleeper {
    fn seconds(&self) -> Vec<f64> {
        self.sleeps
            .lock()
            .unwrap()
            .iter()
            .map(|d| (d.as_secs_f64() * 1e6).round() / 1e6)
            .collect()
    }
}

impl Sleeper for RecordingSleeper {
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        self.sleeps.lock().unwrap().push(duration);
        Box::pin(async {})
    }
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

fn machine(definition: Value) -> StateMachine {
    match StateMachine::from_json(&definition.to_string()) {
        Ok(machine) => machine,
        Err(e) => panic!("definition rejected: {e}"),
    }
}

fn load_error(definition: Value) -> DefinitionError {
    match StateMachine::from_json(&definition.to_string()) {
        Ok(_) => panic!("definition accepted: {definition}"),
        Err(e) => e,
    }
}

/// Runs with no sleeping.
async fn run(definition: Value, invoker: &Arc<TestInvoker>, input: Value) -> Execution {
    Interpreter::new(invoker.clone())
        .with_time_scale(0.0)
        .execute(&machine(definition), "exec-1", input)
        .await
}

/// Runs on a recording clock with time scale `scale`.
async fn run_recorded(
    definition: Value,
    invoker: &Arc<TestInvoker>,
    input: Value,
    scale: f64,
) -> (Execution, Arc<RecordingSleeper>) {
    let sleeper = Arc::new(RecordingSleeper::default());
    let execution = Interpreter::new(invoker.clone())
        .with_time_scale(scale)
        .with_sleeper(sleeper.clone())
        .execute(&machine(definition), "exec-1", input)
        .await;
    (execution, sleeper)
}

fn succeeded(execution: &Execution) -> Value {
    match &execution.status {
        ExecutionStatus::Succeeded => execution.output.clone().unwrap(),
        ExecutionStatus::Failed { error, cause } => {
            panic!(
                "execution failed: {error}: {cause}\n{:#?}",
                execution.events
            )
        }
    }
}

fn failed(execution: &Execution) -> (String, String) {
    match &execution.status {
        ExecutionStatus::Failed { error, cause } => {
            assert_eq!(execution.output, None);
            (error.clone(), cause.clone())
        }
        ExecutionStatus::Succeeded => panic!("execution succeeded: {:?}", execution.output),
    }
}

fn kinds(execution: &Execution, kind: &str) -> usize {
    execution.events.iter().filter(|e| e.kind == kind).count()
}

/// A one-Task machine; `extra` fields are merged into the Task.
fn task_machine(extra: Value) -> Value {
    let mut task = json!({"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:1:function:work", "End": true});
    if let (Value::Object(task), Value::Object(extra)) = (&mut task, extra) {
        task.extend(extra);
    }
    json!({"StartAt": "Work", "States": {"Work": task}})
}

// ---------------------------------------------------------------------------
// Pass, Succeed, Fail
// ---------------------------------------------------------------------------

#[tokio::test]
async fn pass_without_fields_passes_its_input_through() {
    let invoker = Arc::new(TestInvoker::echo());
    let def = json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}});
    let execution = run(def, &invoker, json!({"a": [1, 2]})).await;
    assert_eq!(succeeded(&execution), json!({"a": [1, 2]}));
    assert_eq!(execution.name, "exec-1");
}

#[tokio::test]
async fn pass_result_is_placed_at_result_path() {
    let invoker = Arc::new(TestInvoker::echo());
    let def = json!({"StartAt": "P", "States": {
        "P": {"Type": "Pass", "Result": {"x": 1}, "ResultPath": "$.result.data", "Next": "Q"},
        "Q": {"Type": "Pass", "Result": "replaced", "End": true, "ResultPath": "$.other"}
    }});
    let execution = run(def, &invoker, json!({"keep": true})).await;
    assert_eq!(
        succeeded(&execution),
        json!({"keep": true, "result": {"data": {"x": 1}}, "other": "replaced"})
    );
}

#[tokio::test]
async fn pass_parameters_build_the_result() {
    let invoker = Arc::new(TestInvoker::echo());
    let def = json!({"StartAt": "P", "States": {"P": {
        "Type": "Pass",
        "InputPath": "$.inner",
        "Parameters": {"name.$": "$.name", "fixed": [1, {"deep.$": "$.n"}], "state.$": "$$.State.Name"},
        "End": true
    }}});
    let execution = run(def, &invoker, json!({"inner": {"name": "ann", "n": 3}})).await;
    assert_eq!(
        succeeded(&execution),
        json!({"name": "ann", "fixed": [1, {"deep": 3}], "state": "P"})
    );
}

#[tokio::test]
async fn succeed_applies_input_and_output_paths() {
    let invoker = Arc::new(TestInvoker::echo());
    let def = json!({"StartAt": "S", "States": {"S": {
        "Type": "Succeed", "InputPath": "$.a", "OutputPath": "$.b"
    }}});
    let execution = run(def, &invoker, json!({"a": {"b": {"c": 1}}, "z": 0})).await;
    assert_eq!(succeeded(&execution), json!({"c": 1}));
}

#[tokio::test]
async fn fail_state_fails_the_execution_with_its_error_and_cause() {
    let invoker = Arc::new(TestInvoker::echo());
    let def = json!({"StartAt": "F", "States": {"F": {
        "Type": "Fail", "Error": "Tidemark.Bad", "Cause": "it went wrong"
    }}});
    let execution = run(def, &invoker, json!({})).await;
    assert_eq!(
        failed(&execution),
        ("Tidemark.Bad".to_owned(), "it went wrong".to_owned())
    );
    assert_eq!(kinds(&execution, "ExecutionFailed"), 1);
}

#[tokio::test]
async fn fail_state_error_path_and_intrinsic_cause_path() {
    let invoker = Arc::new(TestInvoker::echo());
    let def = json!({"StartAt": "F", "States": {"F": {
        "Type": "Fail",
        "ErrorPath": "$.error.name",
        "CausePath": "States.Format('table {} failed', $.table)"
    }}});
    let execution = run(
        def,
        &invoker,
        json!({"error": {"name": "E.X"}, "table": "t1"}),
    )
    .await;
    assert_eq!(
        failed(&execution),
        ("E.X".to_owned(), "table t1 failed".to_owned())
    );
    // A non-string error is a runtime error.
    let def = json!({"StartAt": "F", "States": {"F": {"Type": "Fail", "ErrorPath": "$.n"}}});
    let execution = run(def, &invoker, json!({"n": 1})).await;
    assert_eq!(failed(&execution).0, "States.Runtime");
}

// ---------------------------------------------------------------------------
// Input and output processing
// ---------------------------------------------------------------------------

#[tokio::test]
async fn input_path_selects_the_effective_input() {
    let invoker = Arc::new(TestInvoker::echo());
    let execution = run(
        task_machine(json!({"InputPath": "$.job", "ResultPath": "$.echo"})),
        &invoker,
        json!({"job": {"id": 7}, "other": 1}),
    )
    .await;
    assert_eq!(invoker.calls()[0].1, json!({"id": 7}));
    // ResultPath applies to the raw input, not the effective one.
    assert_eq!(
        succeeded(&execution),
        json!({"job": {"id": 7}, "other": 1, "echo": {"id": 7}})
    );
}

#[tokio::test]
async fn null_input_path_gives_an_empty_object() {
    let invoker = Arc::new(TestInvoker::echo());
    let execution = run(
        task_machine(json!({"InputPath": null})),
        &invoker,
        json!({"a": 1}),
    )
    .await;
    assert_eq!(invoker.calls()[0].1, json!({}));
    assert_eq!(succeeded(&execution), json!({}));
}

#[tokio::test]
async fn parameters_are_the_task_input() {
    let invoker = Arc::new(TestInvoker::echo());
    let execution = run(
        task_machine(json!({"Parameters": {
            "table.$": "$.table",
            "static": "s",
            "nested": {"ids.$": "$.rows[*].id", "first.$": "$.rows[0]"},
            "execution.$": "$$.Execution.Name"
        }})),
        &invoker,
        json!({"table": "t", "rows": [{"id": 1}, {"id": 2}]}),
    )
    .await;
    let expected = json!({
        "table": "t",
        "static": "s",
        "nested": {"ids": [1, 2], "first": {"id": 1}},
        "execution": "exec-1"
    });
    assert_eq!(invoker.calls()[0].1, expected);
    assert_eq!(succeeded(&execution), expected);
}

#[tokio::test]
async fn result_selector_reshapes_the_result() {
    let invoker = Arc::new(TestInvoker::new(|_, _, _| {
        Ok(json!({"body": {"rows": 12, "noise": "x"}, "status": 200}))
    }));
    let execution = run(
        task_machine(json!({
            "ResultSelector": {"rows.$": "$.body.rows", "ok": true},
            "ResultPath": "$.stats"
        })),
        &invoker,
        json!({"in": 1}),
    )
    .await;
    assert_eq!(
        succeeded(&execution),
        json!({"in": 1, "stats": {"rows": 12, "ok": true}})
    );
}

#[tokio::test]
async fn result_path_creates_nested_fields_and_replaces_by_default() {
    let invoker = Arc::new(TestInvoker::new(|_, _, _| Ok(json!("R"))));
    let execution = run(
        task_machine(json!({"ResultPath": "$.a.b.c"})),
        &invoker,
        json!({"a": {"x": 1}}),
    )
    .await;
    assert_eq!(
        succeeded(&execution),
        json!({"a": {"x": 1, "b": {"c": "R"}}})
    );

    let execution = run(task_machine(json!({})), &invoker, json!({"a": 1})).await;
    assert_eq!(succeeded(&execution), json!("R"));
}

#[tokio::test]
async fn null_result_path_discards_the_result() {
    let invoker = Arc::new(TestInvoker::new(|_, _, _| Ok(json!({"big": "result"}))));
    let execution = run(
        task_machine(json!({"ResultPath": null})),
        &invoker,
        json!({"keep": "me"}),
    )
    .await;
    assert_eq!(succeeded(&execution), json!({"keep": "me"}));
    assert_eq!(invoker.call_count(), 1);
}

#[tokio::test]
async fn output_path_selects_the_output_and_null_empties_it() {
    let invoker = Arc::new(TestInvoker::new(|_, _, _| Ok(json!({"v": 5}))));
    let execution = run(
        task_machine(json!({"ResultPath": "$.r", "OutputPath": "$.r.v"})),
        &invoker,
        json!({}),
    )
    .await;
    assert_eq!(succeeded(&execution), json!(5));

    let execution = run(
        task_machine(json!({"OutputPath": null})),
        &invoker,
        json!({}),
    )
    .await;
    assert_eq!(succeeded(&execution), json!({}));
}

#[tokio::test]
async fn processing_happens_in_aws_order() {
    let invoker = Arc::new(TestInvoker::new(|_, parameters, _| {
        Ok(json!({"doubled": parameters["n"].as_i64().unwrap() * 2, "junk": 0}))
    }));
    let execution = run(
        task_machine(json!({
            "InputPath": "$.input",
            "Parameters": {"n.$": "$.value"},
            "ResultSelector": {"d.$": "$.doubled"},
            "ResultPath": "$.input.result",
            "OutputPath": "$.input"
        })),
        &invoker,
        json!({"input": {"value": 21}, "dropped": true}),
    )
    .await;
    assert_eq!(invoker.calls()[0].1, json!({"n": 21}));
    assert_eq!(
        succeeded(&execution),
        json!({"value": 21, "result": {"d": 42}})
    );
}

#[tokio::test]
async fn a_missing_path_is_an_uncatchable_runtime_error() {
    let invoker = Arc::new(TestInvoker::echo());
    let def = json!({"StartAt": "Work", "States": {
        "Work": {
            "Type": "Task", "Resource": "r", "InputPath": "$.missing", "End": true,
            "Retry": [{"ErrorEquals": ["States.ALL"]}],
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}]
        },
        "Caught": {"Type": "Succeed"}
    }});
    let execution = run(def, &invoker, json!({"present": 1})).await;
    let (error, cause) = failed(&execution);
    assert_eq!(error, "States.Runtime");
    assert!(cause.contains("'$.missing'"), "{cause}");
    assert_eq!(invoker.call_count(), 0);
    assert_eq!(kinds(&execution, "Retry"), 0);
}

#[tokio::test]
async fn result_path_into_a_non_object_is_a_runtime_error() {
    let invoker = Arc::new(TestInvoker::echo());
    let execution = run(
        task_machine(json!({"ResultPath": "$.result"})),
        &invoker,
        json!("a string input"),
    )
    .await;
    assert_eq!(failed(&execution).0, "States.Runtime");
}

// ---------------------------------------------------------------------------
// Tasks
// ---------------------------------------------------------------------------

#[tokio::test]
async fn lambda_invoke_calls_the_function_with_its_payload_and_wraps_the_result() {
    let invoker = Arc::new(TestInvoker::new(|_, payload, _| {
        Ok(json!({"seen": payload.clone()}))
    }));
    let def = json!({"StartAt": "Invoke", "States": {"Invoke": {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": "tidemark-ingest", "Payload.$": "$"},
        "ResultPath": "$.lambda",
        "End": true
    }}});
    let execution = run(def, &invoker, json!({"table": "t"})).await;
    assert_eq!(
        invoker.calls(),
        vec![("tidemark-ingest".to_owned(), json!({"table": "t"}))]
    );
    let output = succeeded(&execution);
    assert_eq!(
        output,
        json!({"table": "t", "lambda": {
            "ExecutedVersion": "$LATEST",
            "Payload": {"seen": {"table": "t"}},
            "StatusCode": 200
        }})
    );
    let keys: Vec<&String> = output["lambda"].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["ExecutedVersion", "Payload", "StatusCode"]);
}

#[tokio::test]
async fn lambda_invoke_with_the_usual_payload_selector() {
    let invoker = Arc::new(TestInvoker::new(|_, _, _| Ok(json!({"rows": 3}))));
    let def = json!({"StartAt": "Invoke", "States": {"Invoke": {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName.$": "$.fn", "Payload": {"t.$": "$.t"}},
        "ResultSelector": {"result.$": "$.Payload"},
        "OutputPath": "$.result",
        "End": true
    }}});
    let execution = run(def, &invoker, json!({"fn": "f1", "t": 9})).await;
    assert_eq!(invoker.calls(), vec![("f1".to_owned(), json!({"t": 9}))]);
    assert_eq!(succeeded(&execution), json!({"rows": 3}));
}

#[tokio::test]
async fn lambda_invoke_failures_keep_their_error_and_cause() {
    let invoker = Arc::new(TestInvoker::failing(1, "Tidemark.Permanent", json!(null)));
    let def = json!({"StartAt": "Invoke", "States": {"Invoke": {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": "f", "Payload.$": "$"},
        "End": true
    }}});
    let execution = run(def, &invoker, json!({})).await;
    assert_eq!(
        failed(&execution),
        ("Tidemark.Permanent".to_owned(), "failure #1".to_owned())
    );
    assert_eq!(kinds(&execution, "TaskFailed"), 1);
}

#[tokio::test]
async fn other_resources_get_the_effective_input_and_their_result_as_is() {
    let invoker = Arc::new(TestInvoker::new(|resource, _, _| {
        Ok(json!({"from": resource}))
    }));
    let def = json!({"StartAt": "A", "States": {
        "A": {"Type": "Task", "Resource": "arn:aws:lambda:eu-west-1:1:function:a", "Next": "B"},
        "B": {"Type": "Task", "Resource": "local:b", "End": true, "ResultPath": "$.b"}
    }});
    let execution = run(def, &invoker, json!({"x": 1})).await;
    assert_eq!(
        invoker.calls(),
        vec![
            (
                "arn:aws:lambda:eu-west-1:1:function:a".to_owned(),
                json!({"x": 1})
            ),
            (
                "local:b".to_owned(),
                json!({"from": "arn:aws:lambda:eu-west-1:1:function:a"})
            ),
        ]
    );
    assert_eq!(
        succeeded(&execution),
        json!({"from": "arn:aws:lambda:eu-west-1:1:function:a", "b": {"from": "local:b"}})
    );
}

#[tokio::test]
async fn task_timeout_fails_with_states_timeout() {
    let invoker = Arc::new(TestInvoker::echo().with_delay(|_| Duration::from_secs(30)));
    let started = Instant::now();
    let execution = Interpreter::new(invoker.clone())
        .with_time_scale(0.001)
        .execute(
            &machine(task_machine(json!({"TimeoutSeconds": 2}))),
            "t",
            json!({}),
        )
        .await;
    assert_eq!(failed(&execution).0, "States.Timeout");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn timeouts_are_not_task_failed_but_can_be_caught_by_name() {
    let invoker = Arc::new(TestInvoker::echo().with_delay(|_| Duration::from_secs(30)));
    let def = json!({"StartAt": "Work", "States": {
        "Work": {
            "Type": "Task", "Resource": "r", "TimeoutSecondsPath": "$.timeout", "End": true,
            "Retry": [{"ErrorEquals": ["States.TaskFailed"], "MaxAttempts": 5}],
            "Catch": [
                {"ErrorEquals": ["States.TaskFailed"], "Next": "Wrong"},
                {"ErrorEquals": ["States.Timeout"], "Next": "TimedOut", "ResultPath": "$.error"}
            ]
        },
        "Wrong": {"Type": "Fail", "Error": "Wrong"},
        "TimedOut": {"Type": "Succeed"}
    }});
    let execution = Interpreter::new(invoker.clone())
        .with_time_scale(0.001)
        .execute(&machine(def), "t", json!({"timeout": 1}))
        .await;
    let output = succeeded(&execution);
    assert_eq!(output["error"]["Error"], json!("States.Timeout"));
    assert_eq!(invoker.call_count(), 1);
}

// ---------------------------------------------------------------------------
// Retry
// ---------------------------------------------------------------------------

#[tokio::test]
async fn retry_until_success_with_exponential_backoff() {
    let invoker = Arc::new(TestInvoker::failing(
        3,
        "Tidemark.Transient",
        json!({"done": 1}),
    ));
    let (execution, clock) = run_recorded(
        task_machine(json!({"Retry": [{
            "ErrorEquals": ["Tidemark.Transient"], "IntervalSeconds": 2, "BackoffRate": 3, "MaxAttempts": 3
        }]})),
        &invoker,
        json!({}),
        1.0,
    )
    .await;
    assert_eq!(succeeded(&execution), json!({"done": 1}));
    assert_eq!(invoker.call_count(), 4);
    assert_eq!(clock.seconds(), vec![2.0, 6.0, 18.0]);
    assert_eq!(kinds(&execution, "Retry"), 3);
    assert_eq!(kinds(&execution, "TaskFailed"), 3);
}

#[tokio::test]
async fn retry_defaults_are_one_second_three_attempts_rate_two() {
    let invoker = Arc::new(TestInvoker::failing(10, "Boom", json!(null)));
    let (execution, clock) = run_recorded(
        task_machine(json!({"Retry": [{"ErrorEquals": ["Boom"]}]})),
        &invoker,
        json!({}),
        1.0,
    )
    .await;
    assert_eq!(
        failed(&execution),
        ("Boom".to_owned(), "failure #4".to_owned())
    );
    assert_eq!(invoker.call_count(), 4);
    assert_eq!(clock.seconds(), vec![1.0, 2.0, 4.0]);
}

#[tokio::test]
async fn retry_intervals_are_scaled() {
    let invoker = Arc::new(TestInvoker::failing(3, "Boom", json!("ok")));
    let (execution, clock) = run_recorded(
        task_machine(json!({"Retry": [{"ErrorEquals": ["Boom"], "IntervalSeconds": 10}]})),
        &invoker,
        json!({}),
        0.01,
    )
    .await;
    assert_eq!(succeeded(&execution), json!("ok"));
    assert_eq!(clock.seconds(), vec![0.1, 0.2, 0.4]);
}

#[tokio::test]
async fn retry_with_zero_time_scale_does_not_sleep() {
    let invoker = Arc::new(TestInvoker::failing(3, "Boom", json!("ok")));
    let (execution, clock) = run_recorded(
        task_machine(json!({"Retry": [{"ErrorEquals": ["Boom"], "IntervalSeconds": 1000}]})),
        &invoker,
        json!({}),
        0.0,
    )
    .await;
    assert_eq!(succeeded(&execution), json!("ok"));
    assert!(clock.seconds().is_empty());

    // And on the real clock it finishes at once.
    let started = Instant::now();
    let invoker = Arc::new(TestInvoker::failing(3, "Boom", json!("ok")));
    let execution = run(
        task_machine(json!({"Retry": [{"ErrorEquals": ["Boom"], "IntervalSeconds": 1000}]})),
        &invoker,
        json!({}),
    )
    .await;
    assert_eq!(succeeded(&execution), json!("ok"));
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn retry_really_sleeps_the_scaled_backoff_on_the_real_clock() {
    let invoker = Arc::new(TestInvoker::failing(3, "Boom", json!("ok")));
    let started = Instant::now();
    let execution = Interpreter::new(invoker.clone())
        .with_time_scale(0.01)
        .execute(
            &machine(task_machine(json!({"Retry": [{"ErrorEquals": ["Boom"]}]}))),
            "t",
            json!({}),
        )
        .await;
    assert_eq!(succeeded(&execution), json!("ok"));
    // (1 + 2 + 4) seconds × 0.01.
    assert!(
        started.elapsed() >= Duration::from_millis(70),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn max_delay_caps_the_backoff_and_full_jitter_stays_below_it() {
    let invoker = Arc::new(TestInvoker::failing(3, "Boom", json!("ok")));
    let (_, clock) = run_recorded(
        task_machine(json!({"Retry": [{
            "ErrorEquals": ["Boom"], "IntervalSeconds": 10, "BackoffRate": 10, "MaxDelaySeconds": 50
        }]})),
        &invoker,
        json!({}),
        1.0,
    )
    .await;
    assert_eq!(clock.seconds(), vec![10.0, 50.0, 50.0]);

    let invoker = Arc::new(TestInvoker::failing(3, "Boom", json!("ok")));
    let (execution, clock) = run_recorded(
        task_machine(json!({"Retry": [{
            "ErrorEquals": ["Boom"], "IntervalSeconds": 4, "JitterStrategy": "FULL"
        }]})),
        &invoker,
        json!({}),
        1.0,
    )
    .await;
    assert_eq!(succeeded(&execution), json!("ok"));
    let sleeps = clock.seconds();
    assert!(sleeps.len() <= 3);
    for (sleep, max) in sleeps.iter().zip([4.0, 8.0, 16.0]) {
        assert!(*sleep <= max, "{sleeps:?}");
    }
}

#[tokio::test]
async fn max_attempts_zero_never_retries() {
    let invoker = Arc::new(TestInvoker::failing(1, "Boom", json!("ok")));
    let execution = run(
        task_machine(json!({"Retry": [
            {"ErrorEquals": ["Boom"], "MaxAttempts": 0},
            {"ErrorEquals": ["States.ALL"], "MaxAttempts": 5}
        ]})),
        &invoker,
        json!({}),
    )
    .await;
    // The first matching retrier decides, even when it is exhausted.
    assert_eq!(failed(&execution).0, "Boom");
    assert_eq!(invoker.call_count(), 1);
}

#[tokio::test]
async fn each_retrier_counts_its_own_attempts() {
    let def = task_machine(json!({"Retry": [
        {"ErrorEquals": ["A"], "MaxAttempts": 1},
        {"ErrorEquals": ["B"], "MaxAttempts": 2}
    ]}));
    let invoker = Arc::new(TestInvoker::errors(&["B", "A", "B"]));
    let execution = run(def.clone(), &invoker, json!({})).await;
    assert_eq!(succeeded(&execution), json!({"ok": true}));
    assert_eq!(invoker.call_count(), 4);

    let invoker = Arc::new(TestInvoker::errors(&["A", "B", "A"]));
    let execution = run(def.clone(), &invoker, json!({})).await;
    assert_eq!(failed(&execution).0, "A");
    assert_eq!(invoker.call_count(), 3);

    let invoker = Arc::new(TestInvoker::errors(&["C"]));
    let execution = run(def, &invoker, json!({})).await;
    assert_eq!(failed(&execution).0, "C");
    assert_eq!(invoker.call_count(), 1);
}

#[tokio::test]
async fn retry_count_is_in_the_context_object() {
    let invoker = Arc::new(TestInvoker::failing(2, "Boom", json!("ok")));
    let execution = run(
        task_machine(json!({
            "Parameters": {"attempt.$": "$$.State.RetryCount"},
            "Retry": [{"ErrorEquals": ["Boom"]}]
        })),
        &invoker,
        json!({}),
    )
    .await;
    assert_eq!(succeeded(&execution), json!("ok"));
    let attempts: Vec<Value> = invoker
        .calls()
        .into_iter()
        .map(|(_, p)| p["attempt"].clone())
        .collect();
    assert_eq!(attempts, vec![json!(0), json!(1), json!(2)]);
}

#[tokio::test]
async fn task_failed_and_all_match_custom_errors() {
    for wildcard in ["States.TaskFailed", "States.ALL"] {
        let invoker = Arc::new(TestInvoker::failing(2, "Anything.Custom", json!("ok")));
        let execution = run(
            task_machine(json!({"Retry": [{"ErrorEquals": [wildcard]}]})),
            &invoker,
            json!({}),
        )
        .await;
        assert_eq!(succeeded(&execution), json!("ok"), "{wildcard}");
        assert_eq!(invoker.call_count(), 3);
    }
}

// ---------------------------------------------------------------------------
// Catch
// ---------------------------------------------------------------------------

/// A Task with `catch`, and the handler states its catchers name (only
/// those: unreachable states are rejected).
fn catch_machine(catch: Value) -> Value {
    let mut def = json!({"StartAt": "Work", "States": {
        "Work": {"Type": "Task", "Resource": "r", "InputPath": "$.job", "Catch": catch, "Next": "Done"},
        "Done": {"Type": "Pass", "Result": "not caught", "End": true}
    }});
    let handlers = [
        ("Handler", json!({"Type": "Pass", "End": true})),
        (
            "Other",
            json!({"Type": "Pass", "Result": "other handler", "End": true}),
        ),
    ];
    for (name, state) in handlers {
        if catch
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["Next"] == json!(name))
        {
            def["States"][name] = state;
        }
    }
    def
}

#[tokio::test]
async fn catch_places_the_error_at_result_path_on_the_raw_input() {
    let invoker = Arc::new(TestInvoker::failing(1, "Tidemark.Bad", json!(null)));
    let execution = run(
        catch_machine(
            json!([{"ErrorEquals": ["Tidemark.Bad"], "Next": "Handler", "ResultPath": "$.error"}]),
        ),
        &invoker,
        json!({"job": {"id": 1}, "other": 2}),
    )
    .await;
    assert_eq!(
        succeeded(&execution),
        json!({"job": {"id": 1}, "other": 2, "error": {"Error": "Tidemark.Bad", "Cause": "failure #1"}})
    );
    assert_eq!(kinds(&execution, "Caught"), 1);
}

#[tokio::test]
async fn catch_without_result_path_replaces_the_input() {
    let invoker = Arc::new(TestInvoker::failing(1, "Tidemark.Bad", json!(null)));
    let execution = run(
        catch_machine(json!([{"ErrorEquals": ["Tidemark.Bad"], "Next": "Handler"}])),
        &invoker,
        json!({"job": {}}),
    )
    .await;
    assert_eq!(
        succeeded(&execution),
        json!({"Error": "Tidemark.Bad", "Cause": "failure #1"})
    );
}

#[tokio::test]
async fn catch_with_null_result_path_keeps_the_input() {
    let invoker = Arc::new(TestInvoker::failing(1, "Tidemark.Bad", json!(null)));
    let execution = run(
        catch_machine(
            json!([{"ErrorEquals": ["Tidemark.Bad"], "Next": "Handler", "ResultPath": null}]),
        ),
        &invoker,
        json!({"job": {}, "x": 1}),
    )
    .await;
    assert_eq!(succeeded(&execution), json!({"job": {}, "x": 1}));
}

#[tokio::test]
async fn catch_falls_through_to_the_first_matching_catcher() {
    let invoker = Arc::new(TestInvoker::failing(1, "Second", json!(null)));
    let execution = run(
        catch_machine(json!([
            {"ErrorEquals": ["First"], "Next": "Handler"},
            {"ErrorEquals": ["Nope", "Second"], "Next": "Other"},
            {"ErrorEquals": ["States.ALL"], "Next": "Handler"}
        ])),
        &invoker,
        json!({"job": {}}),
    )
    .await;
    assert_eq!(succeeded(&execution), json!("other handler"));
}

#[tokio::test]
async fn catch_all_catches_anything() {
    let invoker = Arc::new(TestInvoker::failing(1, "Whatever.Error", json!(null)));
    let execution = run(
        catch_machine(json!([
            {"ErrorEquals": ["First"], "Next": "Other"},
            {"ErrorEquals": ["States.ALL"], "Next": "Handler", "ResultPath": "$.e"}
        ])),
        &invoker,
        json!({"job": {}}),
    )
    .await;
    assert_eq!(succeeded(&execution)["e"]["Error"], json!("Whatever.Error"));
}

#[tokio::test]
async fn uncaught_errors_fail_the_execution() {
    let invoker = Arc::new(TestInvoker::failing(1, "Unlisted", json!(null)));
    let execution = run(
        catch_machine(json!([{"ErrorEquals": ["First"], "Next": "Handler"}])),
        &invoker,
        json!({"job": {}}),
    )
    .await;
    assert_eq!(
        failed(&execution),
        ("Unlisted".to_owned(), "failure #1".to_owned())
    );
}

#[tokio::test]
async fn retries_run_before_catchers() {
    let invoker = Arc::new(TestInvoker::failing(10, "Boom", json!(null)));
    let def = json!({"StartAt": "Work", "States": {
        "Work": {
            "Type": "Task", "Resource": "r", "End": true,
            "Retry": [{"ErrorEquals": ["Boom"], "MaxAttempts": 2}],
            "Catch": [{"ErrorEquals": ["Boom"], "Next": "Handler", "ResultPath": "$.error"}]
        },
        "Handler": {"Type": "Pass", "End": true}
    }});
    let execution = run(def, &invoker, json!({})).await;
    assert_eq!(
        succeeded(&execution),
        json!({"error": {"Error": "Boom", "Cause": "failure #3"}})
    );
    assert_eq!(invoker.call_count(), 3);
}

// ---------------------------------------------------------------------------
// Choice
// ---------------------------------------------------------------------------

/// Runs a Choice with one rule; "yes" when it matches, "no" otherwise.
async fn choose(rule: Value, input: Value) -> Result<&'static str, (String, String)> {
    let mut rule = rule;
    rule["Next"] = json!("Yes");
    let def = json!({"StartAt": "C", "States": {
        "C": {"Type": "Choice", "Choices": [rule], "Default": "No"},
        "Yes": {"Type": "Pass", "Result": "yes", "End": true},
        "No": {"Type": "Pass", "Result": "no", "End": true}
    }});
    let invoker = Arc::new(TestInvoker::echo());
    let execution = run(def, &invoker, input).await;
    match execution.status {
        ExecutionStatus::Succeeded => match execution.output {
            Some(Value::String(s)) if s == "yes" => Ok("yes"),
            _ => Ok("no"),
        },
        ExecutionStatus::Failed { error, cause } => Err((error, cause)),
    }
}

async fn check(cases: Vec<(Value, Value, &'static str)>) {
    for (rule, input, expected) in cases {
        assert_eq!(
            choose(rule.clone(), input.clone()).await,
            Ok(expected),
            "rule {rule} on {input}"
        );
    }
}

#[tokio::test]
async fn choice_string_comparisons() {
    check(vec![
        (
            json!({"Variable": "$.s", "StringEquals": "abc"}),
            json!({"s": "abc"}),
            "yes",
        ),
        (
            json!({"Variable": "$.s", "StringEquals": "abc"}),
            json!({"s": "abd"}),
            "no",
        ),
        (
            json!({"Variable": "$.s", "StringEquals": "1"}),
            json!({"s": 1}),
            "no",
        ),
        (
            json!({"Variable": "$.s", "StringLessThan": "b"}),
            json!({"s": "a"}),
            "yes",
        ),
        (
            json!({"Variable": "$.s", "StringLessThan": "b"}),
            json!({"s": "b"}),
            "no",
        ),
        (
            json!({"Variable": "$.s", "StringGreaterThan": "b"}),
            json!({"s": "c"}),
            "yes",
        ),
        (
            json!({"Variable": "$.s", "StringLessThanEquals": "b"}),
            json!({"s": "b"}),
            "yes",
        ),
        (
            json!({"Variable": "$.s", "StringGreaterThanEquals": "b"}),
            json!({"s": "a"}),
            "no",
        ),
        (
            json!({"Variable": "$.s", "StringEqualsPath": "$.t"}),
            json!({"s": "x", "t": "x"}),
            "yes",
        ),
        (
            json!({"Variable": "$.s", "StringLessThanPath": "$.t"}),
            json!({"s": "x", "t": "y"}),
            "yes",
        ),
        (
            json!({"Variable": "$.s", "StringGreaterThanEqualsPath": "$.t"}),
            json!({"s": "x", "t": "y"}),
            "no",
        ),
        (
            json!({"Variable": "$.f", "StringMatches": "data/*.parquet"}),
            json!({"f": "data/2024/a.parquet"}),
            "yes",
        ),
        (
            json!({"Variable": "$.f", "StringMatches": "data/*.parquet"}),
            json!({"f": "data/a.csv"}),
            "no",
        ),
        (
            json!({"Variable": "$.f", "StringMatches": "a\\*b"}),
            json!({"f": "a*b"}),
            "yes",
        ),
    ])
    .await;
}

#[tokio::test]
async fn choice_numeric_boolean_and_timestamp_comparisons() {
    check(vec![
        (
            json!({"Variable": "$.n", "NumericEquals": 3}),
            json!({"n": 3.0}),
            "yes",
        ),
        (
            json!({"Variable": "$.n", "NumericEquals": 3}),
            json!({"n": "3"}),
            "no",
        ),
        (
            json!({"Variable": "$.n", "NumericLessThan": 3}),
            json!({"n": 2.5}),
            "yes",
        ),
        (
            json!({"Variable": "$.n", "NumericGreaterThan": 3}),
            json!({"n": 3}),
            "no",
        ),
        (
            json!({"Variable": "$.n", "NumericLessThanEquals": 3}),
            json!({"n": 3}),
            "yes",
        ),
        (
            json!({"Variable": "$.n", "NumericGreaterThanEquals": -1}),
            json!({"n": -1}),
            "yes",
        ),
        (
            json!({"Variable": "$.n", "NumericEqualsPath": "$.m"}),
            json!({"n": 5, "m": 5}),
            "yes",
        ),
        (
            json!({"Variable": "$.n", "NumericLessThanPath": "$.m"}),
            json!({"n": 5, "m": 4}),
            "no",
        ),
        (
            json!({"Variable": "$.n", "NumericGreaterThanPath": "$.m"}),
            json!({"n": 5, "m": 4}),
            "yes",
        ),
        (
            json!({"Variable": "$.b", "BooleanEquals": true}),
            json!({"b": true}),
            "yes",
        ),
        (
            json!({"Variable": "$.b", "BooleanEquals": true}),
            json!({"b": "true"}),
            "no",
        ),
        (
            json!({"Variable": "$.b", "BooleanEqualsPath": "$.c"}),
            json!({"b": false, "c": false}),
            "yes",
        ),
        (
            json!({"Variable": "$.t", "TimestampEquals": "2024-01-01T00:00:00Z"}),
            json!({"t": "2024-01-01T01:00:00+01:00"}),
            "yes",
        ),
        (
            json!({"Variable": "$.t", "TimestampLessThan": "2024-01-01T00:00:00Z"}),
            json!({"t": "2023-12-31T23:59:59Z"}),
            "yes",
        ),
        (
            json!({"Variable": "$.t", "TimestampGreaterThan": "2024-01-01T00:00:00Z"}),
            json!({"t": "2023-12-31T23:59:59Z"}),
            "no",
        ),
        (
            json!({"Variable": "$.t", "TimestampGreaterThanEqualsPath": "$.u"}),
            json!({"t": "2024-06-01T00:00:00Z", "u": "2024-06-01T00:00:00Z"}),
            "yes",
        ),
        (
            json!({"Variable": "$.t", "TimestampLessThan": "2024-01-01T00:00:00Z"}),
            json!({"t": "not a timestamp"}),
            "no",
        ),
    ])
    .await;
}

#[tokio::test]
async fn choice_type_tests() {
    check(vec![
        (
            json!({"Variable": "$.v", "IsNull": true}),
            json!({"v": null}),
            "yes",
        ),
        (
            json!({"Variable": "$.v", "IsNull": true}),
            json!({"v": 0}),
            "no",
        ),
        (
            json!({"Variable": "$.v", "IsPresent": true}),
            json!({"v": null}),
            "yes",
        ),
        (
            json!({"Variable": "$.v", "IsPresent": true}),
            json!({}),
            "no",
        ),
        (
            json!({"Variable": "$.v", "IsPresent": false}),
            json!({}),
            "yes",
        ),
        (
            json!({"Variable": "$.v", "IsString": true}),
            json!({"v": "s"}),
            "yes",
        ),
        (
            json!({"Variable": "$.v", "IsString": false}),
            json!({"v": 1}),
            "yes",
        ),
        (
            json!({"Variable": "$.v", "IsNumeric": true}),
            json!({"v": 1.5}),
            "yes",
        ),
        (
            json!({"Variable": "$.v", "IsBoolean": true}),
            json!({"v": false}),
            "yes",
        ),
        (
            json!({"Variable": "$.v", "IsBoolean": true}),
            json!({"v": "false"}),
            "no",
        ),
        (
            json!({"Variable": "$.v", "IsTimestamp": true}),
            json!({"v": "2024-02-29T12:00:00Z"}),
            "yes",
        ),
        (
            json!({"Variable": "$.v", "IsTimestamp": true}),
            json!({"v": "2024-02-30"}),
            "no",
        ),
    ])
    .await;
}

#[tokio::test]
async fn choice_and_or_not() {
    let and = json!({"And": [
        {"Variable": "$.n", "NumericGreaterThan": 0},
        {"Variable": "$.n", "NumericLessThan": 10}
    ]});
    let or = json!({"Or": [
        {"Variable": "$.s", "StringEquals": "a"},
        {"Not": {"Variable": "$.n", "NumericEquals": 1}}
    ]});
    let nested = json!({"Not": {"Or": [
        {"Variable": "$.missing", "IsPresent": true},
        {"And": [{"Variable": "$.s", "StringEquals": "z"}]}
    ]}});
    check(vec![
        (and.clone(), json!({"n": 5}), "yes"),
        (and.clone(), json!({"n": 10}), "no"),
        (and, json!({"n": 0}), "no"),
        (or.clone(), json!({"s": "a", "n": 1}), "yes"),
        (or.clone(), json!({"s": "b", "n": 2}), "yes"),
        (or, json!({"s": "b", "n": 1}), "no"),
        (nested.clone(), json!({"s": "y"}), "yes"),
        (nested, json!({"s": "z"}), "no"),
    ])
    .await;
}

#[tokio::test]
async fn choice_uses_the_first_matching_rule_and_output_path() {
    let def = json!({"StartAt": "C", "States": {
        "C": {
            "Type": "Choice",
            "InputPath": "$.in",
            "OutputPath": "$.payload",
            "Choices": [
                {"Variable": "$.n", "NumericGreaterThan": 10, "Next": "Big"},
                {"Variable": "$.n", "NumericGreaterThan": 0, "Next": "Small"},
                {"Variable": "$.n", "NumericGreaterThan": 5, "Next": "Big"}
            ]
        },
        "Big": {"Type": "Pass", "Result": "big", "ResultPath": "$.size", "End": true},
        "Small": {"Type": "Pass", "Result": "small", "ResultPath": "$.size", "End": true}
    }});
    let invoker = Arc::new(TestInvoker::echo());
    let execution = run(def, &invoker, json!({"in": {"n": 7, "payload": {"p": 1}}})).await;
    assert_eq!(succeeded(&execution), json!({"p": 1, "size": "small"}));
}

#[tokio::test]
async fn choice_without_match_or_default_fails() {
    let def = json!({"StartAt": "C", "States": {
        "C": {"Type": "Choice", "Choices": [{"Variable": "$.n", "NumericEquals": 1, "Next": "One"}]},
        "One": {"Type": "Succeed"}
    }});
    let invoker = Arc::new(TestInvoker::echo());
    let execution = run(def, &invoker, json!({"n": 2})).await;
    assert_eq!(failed(&execution).0, "States.NoChoiceMatched");
}

#[tokio::test]
async fn choice_on_a_missing_variable_is_a_runtime_error() {
    let (error, cause) = choose(
        json!({"Variable": "$.nope", "StringEquals": "x"}),
        json!({}),
    )
    .await
    .unwrap_err();
    assert_eq!(error, "States.Runtime");
    assert!(cause.contains("$.nope"), "{cause}");
    let (error, _) = choose(
        json!({"Variable": "$.s", "StringEqualsPath": "$.nope"}),
        json!({"s": "x"}),
    )
    .await
    .unwrap_err();
    assert_eq!(error, "States.Runtime");
}

// ---------------------------------------------------------------------------
// Wait
// ---------------------------------------------------------------------------

fn wait_machine(wait: Value) -> Value {
    let mut state = json!({"Type": "Wait", "Next": "Done"});
    if let (Value::Object(state), Value::Object(wait)) = (&mut state, wait) {
        state.extend(wait);
    }
    json!({"StartAt": "W", "States": {"W": state, "Done": {"Type": "Succeed"}}})
}

#[tokio::test]
async fn wait_seconds_sleeps_scaled_and_passes_input_through() {
    let invoker = Arc::new(TestInvoker::echo());
    let (execution, clock) = run_recorded(
        wait_machine(json!({"Seconds": 10})),
        &invoker,
        json!({"a": 1}),
        0.5,
    )
    .await;
    assert_eq!(succeeded(&execution), json!({"a": 1}));
    assert_eq!(clock.seconds(), vec![5.0]);

    let (execution, clock) = run_recorded(
        wait_machine(json!({"SecondsPath": "$.delay", "OutputPath": "$.delay"})),
        &invoker,
        json!({"delay": 3}),
        1.0,
    )
    .await;
    assert_eq!(succeeded(&execution), json!(3));
    assert_eq!(clock.seconds(), vec![3.0]);
}

#[tokio::test]
async fn wait_until_timestamps() {
    let invoker = Arc::new(TestInvoker::echo());
    let (execution, clock) = run_recorded(
        wait_machine(json!({"TimestampPath": "$.until"})),
        &invoker,
        json!({"until": "2001-01-01T00:00:00Z"}),
        1.0,
    )
    .await;
    succeeded(&execution);
    assert!(clock.seconds().is_empty(), "a past timestamp does not wait");

    let soon = (chrono::Utc::now() + chrono::Duration::seconds(100))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let (execution, clock) = run_recorded(
        wait_machine(json!({"Timestamp": soon})),
        &invoker,
        json!({}),
        0.1,
    )
    .await;
    succeeded(&execution);
    let slept = clock.seconds();
    assert_eq!(slept.len(), 1);
    assert!((9.0..=10.0).contains(&slept[0]), "{slept:?}");
}

#[tokio::test]
async fn wait_with_zero_scale_does_not_sleep_and_bad_paths_fail() {
    let invoker = Arc::new(TestInvoker::echo());
    let (execution, clock) = run_recorded(
        wait_machine(json!({"Seconds": 99})),
        &invoker,
        json!({}),
        0.0,
    )
    .await;
    succeeded(&execution);
    assert!(clock.seconds().is_empty());

    let (execution, _) = run_recorded(
        wait_machine(json!({"SecondsPath": "$.d"})),
        &invoker,
        json!({"d": "soon"}),
        1.0,
    )
    .await;
    assert_eq!(failed(&execution).0, "States.Runtime");
}

// ---------------------------------------------------------------------------
// Map
// ---------------------------------------------------------------------------

#[tokio::test]
async fn map_outputs_are_in_item_order_with_item_selector_context() {
    // Later items finish first.
    let invoker = Arc::new(
        TestInvoker::new(|_, p, _| Ok(json!(format!("{}:{}", p["index"], p["value"]["name"]))))
            .with_delay(|p| Duration::from_millis(40 - 10 * p["index"].as_u64().unwrap_or(0))),
    );
    let def = json!({"StartAt": "M", "States": {"M": {
        "Type": "Map",
        "ItemsPath": "$.tables",
        "ItemSelector": {
            "index.$": "$$.Map.Item.Index",
            "value.$": "$$.Map.Item.Value",
            "bucket.$": "$.bucket"
        },
        "ItemProcessor": {
            "ProcessorConfig": {"Mode": "INLINE"},
            "StartAt": "Work",
            "States": {"Work": {"Type": "Task", "Resource": "r", "End": true}}
        },
        "ResultPath": "$.results",
        "End": true
    }}});
    let execution = run(
        def,
        &invoker,
        json!({"bucket": "b", "tables": [{"name": "a"}, {"name": "b"}, {"name": "c"}, {"name": "d"}]}),
    )
    .await;
    assert_eq!(
        succeeded(&execution)["results"],
        json!(["0:\"a\"", "1:\"b\"", "2:\"c\"", "3:\"d\""])
    );
    let mut received: Vec<Value> = invoker.calls().into_iter().map(|(_, p)| p).collect();
    received.sort_by_key(|p| p["index"].as_u64());
    assert_eq!(
        received[2],
        json!({"index": 2, "value": {"name": "c"}, "bucket": "b"})
    );
    assert_eq!(kinds(&execution, "MapIterationSucceeded"), 4);
}

#[tokio::test]
async fn map_max_concurrency_is_honoured() {
    let def = |max: u64| {
        json!({"StartAt": "M", "States": {"M": {
            "Type": "Map",
            "MaxConcurrency": max,
            "ItemProcessor": {"StartAt": "Work", "States": {"Work": {"Type": "Task", "Resource": "r", "End": true}}},
            "End": true
        }}})
    };
    let items: Vec<Value> = (0..10).map(|i| json!(i)).collect();
    for (max, expected_peak) in [(1, 1), (3, 3), (0, 10)] {
        let invoker = Arc::new(TestInvoker::echo().with_delay(|_| Duration::from_millis(20)));
        let execution = run(def(max), &invoker, json!(items)).await;
        assert_eq!(succeeded(&execution), json!(items));
        assert_eq!(invoker.call_count(), 10);
        assert_eq!(invoker.peak(), expected_peak, "MaxConcurrency {max}");
    }
}

#[tokio::test]
async fn map_max_concurrency_path() {
    let invoker = Arc::new(TestInvoker::echo().with_delay(|_| Duration::from_millis(10)));
    let def = json!({"StartAt": "M", "States": {"M": {
        "Type": "Map",
        "ItemsPath": "$.items",
        "MaxConcurrencyPath": "$.max",
        "ItemProcessor": {"StartAt": "Work", "States": {"Work": {"Type": "Task", "Resource": "r", "End": true}}},
        "End": true
    }}});
    let execution = run(def, &invoker, json!({"max": 2, "items": [1, 2, 3, 4, 5]})).await;
    assert_eq!(succeeded(&execution), json!([1, 2, 3, 4, 5]));
    assert_eq!(invoker.peak(), 2);
}

fn failing_item_map(retry: Value, catch: Value) -> Value {
    let mut def = json!({"StartAt": "M", "States": {
        "M": {
            "Type": "Map",
            "MaxConcurrency": 1,
            "ItemProcessor": {"StartAt": "Work", "States": {
                "Work": {"Type": "Task", "Resource": "r", "End": true}
            }},
            "Retry": retry,
            "Catch": catch,
            "End": true
        }
    }});
    if def["States"]["M"]["Catch"] != json!([]) {
        def["States"]["Handler"] = json!({"Type": "Pass", "End": true});
    }
    def
}

#[tokio::test]
async fn a_failing_item_fails_the_map() {
    let invoker = Arc::new(TestInvoker::new(|_, p, _| {
        if *p == json!(2) {
            Err(TaskFailure::new("Tidemark.BadItem", "item 2"))
        } else {
            Ok(p.clone())
        }
    }));
    let execution = run(
        failing_item_map(json!([]), json!([])),
        &invoker,
        json!([1, 2, 3]),
    )
    .await;
    assert_eq!(
        failed(&execution),
        ("Tidemark.BadItem".to_owned(), "item 2".to_owned())
    );
    // With MaxConcurrency 1 the third item never starts.
    assert_eq!(invoker.call_count(), 2);
    assert_eq!(kinds(&execution, "MapFailed"), 1);
    assert_eq!(kinds(&execution, "MapIterationFailed"), 1);
}

#[tokio::test]
async fn a_failing_item_is_caught_by_the_maps_catch() {
    let invoker = Arc::new(TestInvoker::new(|_, p, _| {
        if *p == json!(2) {
            Err(TaskFailure::new("Tidemark.BadItem", "item 2"))
        } else {
            Ok(p.clone())
        }
    }));
    let execution = run(
        failing_item_map(
            json!([]),
            json!([{"ErrorEquals": ["Tidemark.BadItem"], "Next": "Handler", "ResultPath": "$.error"}]),
        ),
        &invoker,
        json!({"items": "are the input"}),
    )
    .await;
    // Not an array: ItemsPath `$` selects an object, a runtime error.
    assert_eq!(failed(&execution).0, "States.Runtime");

    let def = json!({"StartAt": "M", "States": {
        "M": {
            "Type": "Map",
            "ItemsPath": "$.items",
            "Iterator": {"StartAt": "Check", "States": {
                "Check": {"Type": "Choice", "Choices": [{"Variable": "$", "NumericEquals": 2, "Next": "Bad"}], "Default": "Good"},
                "Bad": {"Type": "Fail", "Error": "Tidemark.BadItem", "Cause": "two"},
                "Good": {"Type": "Succeed"}
            }},
            "Catch": [{"ErrorEquals": ["Tidemark.BadItem"], "Next": "Handler", "ResultPath": "$.error"}],
            "End": true
        },
        "Handler": {"Type": "Pass", "End": true}
    }});
    let execution = run(def, &invoker, json!({"items": [1, 2, 3]})).await;
    assert_eq!(
        succeeded(&execution),
        json!({"items": [1, 2, 3], "error": {"Error": "Tidemark.BadItem", "Cause": "two"}})
    );
}

#[tokio::test]
async fn a_maps_retry_reruns_every_item() {
    let invoker = Arc::new(TestInvoker::new(|_, p, n| {
        if *p == json!("flaky") && n == 1 {
            Err(TaskFailure::new("Tidemark.Transient", "once"))
        } else {
            Ok(json!(n))
        }
    }));
    let execution = run(
        failing_item_map(json!([{"ErrorEquals": ["Tidemark.Transient"]}]), json!([])),
        &invoker,
        json!(["ok", "flaky"]),
    )
    .await;
    // Calls: "ok" (n=0), "flaky" (n=1, fails), then the retry: "ok" (2), "flaky" (3).
    assert_eq!(succeeded(&execution), json!([2, 3]));
    assert_eq!(invoker.call_count(), 4);
}

#[tokio::test]
async fn legacy_map_parameters_result_selector_and_projection() {
    let invoker = Arc::new(TestInvoker::new(|_, p, _| {
        Ok(json!({"rows": p["n"], "table": p["t"]}))
    }));
    let def = json!({"StartAt": "M", "States": {"M": {
        "Type": "Map",
        "InputPath": "$.job",
        "ItemsPath": "$.tables",
        "Parameters": {"t.$": "$$.Map.Item.Value.name", "n.$": "$$.Map.Item.Value.n"},
        "Iterator": {"StartAt": "Work", "States": {"Work": {"Type": "Task", "Resource": "r", "End": true}}},
        "ResultSelector": {"rows.$": "$[*].rows", "count.$": "States.ArrayLength($)"},
        "ResultPath": "$.summary",
        "OutputPath": "$.summary",
        "End": true
    }}});
    let execution = run(
        def,
        &invoker,
        json!({"job": {"tables": [{"name": "a", "n": 1}, {"name": "b", "n": 2}]}}),
    )
    .await;
    assert_eq!(succeeded(&execution), json!({"rows": [1, 2], "count": 2}));
}

#[tokio::test]
async fn map_over_an_empty_array_outputs_an_empty_array() {
    let invoker = Arc::new(TestInvoker::echo());
    let execution = run(failing_item_map(json!([]), json!([])), &invoker, json!([])).await;
    assert_eq!(succeeded(&execution), json!([]));
    assert_eq!(invoker.call_count(), 0);
}

// ---------------------------------------------------------------------------
// Parallel
// ---------------------------------------------------------------------------

#[tokio::test]
async fn parallel_branches_run_concurrently_and_output_in_branch_order() {
    let invoker = Arc::new(
        TestInvoker::new(|resource, p, _| Ok(json!({resource: p["x"]})))
            .with_delay(|p| Duration::from_millis(if p["slow"] == json!(true) { 40 } else { 5 })),
    );
    let branch = |resource: &str, slow: bool| {
        json!({"StartAt": resource, "States": {resource: {
            "Type": "Task", "Resource": resource,
            "Parameters": {"x.$": "$.x", "slow": slow},
            "End": true
        }}})
    };
    let def = json!({"StartAt": "P", "States": {"P": {
        "Type": "Parallel",
        "Branches": [branch("first", true), branch("second", false)],
        "ResultPath": "$.branches",
        "End": true
    }}});
    let execution = run(def, &invoker, json!({"x": 1})).await;
    assert_eq!(
        succeeded(&execution),
        json!({"x": 1, "branches": [{"first": 1}, {"second": 1}]})
    );
    assert_eq!(invoker.peak(), 2);
}

#[tokio::test]
async fn a_failing_branch_fails_the_parallel_and_can_be_caught() {
    let invoker = Arc::new(TestInvoker::echo());
    let def = json!({"StartAt": "P", "States": {
        "P": {
            "Type": "Parallel",
            "Branches": [
                {"StartAt": "Ok", "States": {"Ok": {"Type": "Pass", "End": true}}},
                {"StartAt": "Bad", "States": {"Bad": {"Type": "Fail", "Error": "Branch.Failed", "Cause": "b"}}}
            ],
            "Catch": [{"ErrorEquals": ["Branch.Failed"], "Next": "Handler", "ResultPath": "$.err"}],
            "End": true
        },
        "Handler": {"Type": "Pass", "End": true}
    }});
    let execution = run(def, &invoker, json!({"in": 1})).await;
    assert_eq!(
        succeeded(&execution),
        json!({"in": 1, "err": {"Error": "Branch.Failed", "Cause": "b"}})
    );
    assert_eq!(kinds(&execution, "ParallelFailed"), 1);
}

// ---------------------------------------------------------------------------
// Intrinsics and the context object
// ---------------------------------------------------------------------------

#[tokio::test]
async fn intrinsics_in_parameters() {
    let invoker = Arc::new(TestInvoker::echo());
    let def = json!({"StartAt": "P", "States": {"P": {
        "Type": "Pass",
        "Parameters": {
            "key.$": "States.Format('{}/{}.parquet', $.prefix, $.part)",
            "config.$": "States.StringToJson($.raw)",
            "text.$": "States.JsonToString($.obj)",
            "count.$": "States.ArrayLength($.list)",
            "has.$": "States.ArrayContains($.list, 'b')",
            "next.$": "States.MathAdd($.part, 1)",
            "parts.$": "States.StringSplit($.csv, ',')",
            "pair.$": "States.Array($.part, 'x')",
            "id.$": "States.UUID()"
        },
        "End": true
    }}});
    let execution = run(
        def,
        &invoker,
        json!({"prefix": "s3://b", "part": 4, "raw": "{\"k\":[1]}", "obj": {"a": 1}, "list": ["a", "b"], "csv": "x,y"}),
    )
    .await;
    let mut output = succeeded(&execution);
    let id = output["id"].take();
    assert_eq!(id.as_str().map(str::len), Some(36));
    assert_eq!(
        output,
        json!({
            "key": "s3://b/4.parquet",
            "config": {"k": [1]},
            "text": "{\"a\":1}",
            "count": 2,
            "has": true,
            "next": 5,
            "parts": ["x", "y"],
            "pair": [4, "x"],
            "id": null
        })
    );
}

#[tokio::test]
async fn intrinsic_failures_can_be_caught() {
    let invoker = Arc::new(TestInvoker::echo());
    let def = json!({"StartAt": "Work", "States": {
        "Work": {
            "Type": "Task", "Resource": "r",
            "Parameters": {"n.$": "States.ArrayLength($.notAnArray)"},
            "Catch": [{"ErrorEquals": ["States.IntrinsicFailure"], "Next": "Handler", "ResultPath": "$.e"}],
            "End": true
        },
        "Handler": {"Type": "Pass", "End": true}
    }});
    let execution = run(def, &invoker, json!({"notAnArray": "x"})).await;
    assert_eq!(
        succeeded(&execution)["e"]["Error"],
        json!("States.IntrinsicFailure")
    );
    assert_eq!(invoker.call_count(), 0);
}

#[tokio::test]
async fn context_object_fields() {
    let invoker = Arc::new(TestInvoker::echo());
    let def = json!({"StartAt": "First", "States": {
        "First": {"Type": "Pass", "Result": {"changed": true}, "Next": "Ctx"},
        "Ctx": {"Type": "Pass", "Parameters": {
            "name.$": "$$.Execution.Name",
            "id.$": "$$.Execution.Id",
            "input.$": "$$.Execution.Input",
            "start.$": "$$.Execution.StartTime",
            "role.$": "$$.Execution.RoleArn",
            "redrives.$": "$$.Execution.RedriveCount",
            "machine_name.$": "$$.StateMachine.Name",
            "state.$": "$$.State.Name",
            "entered.$": "$$.State.EnteredTime",
            "retries.$": "$$.State.RetryCount",
            "machine.$": "$$.StateMachine.Id"
        }, "End": true}
    }});
    let machine = machine(def).with_name("tidemark-pipeline");
    let execution = Interpreter::new(invoker)
        .execute(&machine, "run-42", json!({"original": 1}))
        .await;
    let output = succeeded(&execution);
    assert_eq!(output["name"], json!("run-42"));
    assert_eq!(
        output["id"],
        json!("arn:aws:states:local:000000000000:execution:tidemark-pipeline:run-42")
    );
    assert_eq!(output["input"], json!({"original": 1}));
    assert_eq!(
        output["role"],
        json!("arn:aws:iam::000000000000:role/StateMachineRole")
    );
    assert_eq!(output["redrives"], json!(0));
    assert_eq!(output["machine_name"], json!("tidemark-pipeline"));
    assert_eq!(output["state"], json!("Ctx"));
    assert_eq!(output["retries"], json!(0));
    assert_eq!(
        output["machine"],
        json!("arn:aws:states:local:000000000000:stateMachine:tidemark-pipeline")
    );
    for field in ["start", "entered"] {
        let text = output[field].as_str().unwrap();
        assert!(chrono::DateTime::parse_from_rfc3339(text).is_ok(), "{text}");
        assert!(text.ends_with('Z'), "{text}");
    }
}

// ---------------------------------------------------------------------------
// Execution-level behaviour
// ---------------------------------------------------------------------------

#[tokio::test]
async fn history_records_entered_and_exited_states_in_order() {
    let invoker = Arc::new(TestInvoker::echo());
    let def = json!({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Result": 1, "Next": "B"},
        "B": {"Type": "Succeed"}
    }});
    let execution = run(def, &invoker, json!({})).await;
    let events: Vec<(String, String, Option<String>)> = execution
        .events
        .into_iter()
        .map(|e| (e.state, e.kind, e.detail))
        .collect();
    let s = |v: &str| Some(v.to_owned());
    assert_eq!(
        events,
        vec![
            (String::new(), "ExecutionStarted".to_owned(), s("{}")),
            ("A".to_owned(), "Entered".to_owned(), s("{}")),
            ("A".to_owned(), "Exited".to_owned(), s("1")),
            ("B".to_owned(), "Entered".to_owned(), s("1")),
            ("B".to_owned(), "Exited".to_owned(), s("1")),
            (String::new(), "ExecutionSucceeded".to_owned(), s("1")),
        ]
    );
}

#[tokio::test]
async fn execution_timeout_fails_with_states_timeout() {
    let invoker = Arc::new(TestInvoker::echo().with_delay(|_| Duration::from_secs(30)));
    let mut def = task_machine(json!({}));
    def["TimeoutSeconds"] = json!(1);
    let execution = Interpreter::new(invoker)
        .with_time_scale(0.001)
        .execute(&machine(def), "t", json!({}))
        .await;
    assert_eq!(failed(&execution).0, "States.Timeout");
}

#[tokio::test]
async fn executions_can_run_concurrently_on_one_interpreter() {
    let invoker = Arc::new(TestInvoker::echo().with_delay(|_| Duration::from_millis(20)));
    let interpreter = Arc::new(Interpreter::new(invoker.clone()));
    let machine = Arc::new(machine(task_machine(json!({}))));
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let (interpreter, machine) = (interpreter.clone(), machine.clone());
            tokio::spawn(async move {
                interpreter
                    .execute(&machine, &format!("e{i}"), json!(i))
                    .await
            })
        })
        .collect();
    for (i, handle) in handles.into_iter().enumerate() {
        let execution = handle.await.unwrap();
        assert_eq!(execution.name, format!("e{i}"));
        assert_eq!(succeeded(&execution), json!(i));
    }
    assert_eq!(invoker.peak(), 4);
}

// ---------------------------------------------------------------------------
// Load-time validation
// ---------------------------------------------------------------------------

fn assert_error(error: &DefinitionError, state: &str, field: Option<&str>, needle: &str) {
    let message = error.to_string();
    assert_eq!(error.state(), Some(state), "{message}");
    if let Some(field) = field {
        assert_eq!(error.field(), Some(field), "{message}");
        assert!(message.contains(field), "{message}");
    }
    assert!(message.contains(state), "{message}");
    assert!(
        message.contains(needle),
        "{message} should contain {needle}"
    );
}

#[test]
fn rejects_unknown_fields_naming_state_and_field() {
    let error = load_error(json!({"StartAt": "Work", "States": {
        "Work": {"Type": "Task", "Resource": "r", "End": true, "ResultPth": "$.x"}
    }}));
    assert!(matches!(error, DefinitionError::UnknownField { .. }));
    assert_error(&error, "Work", Some("ResultPth"), "unknown field");

    let error = load_error(json!({"StartAt": "Work", "States": {
        "Work": {"Type": "Task", "Resource": "r", "End": true,
                 "Retry": [{"ErrorEquals": ["X"], "MaxAttempt": 2}]}
    }}));
    assert_error(&error, "Work", Some("Retry[0].MaxAttempt"), "unknown field");

    let error = load_error(json!({"StartAt": "C", "States": {
        "C": {"Type": "Choice", "Choices": [{"Variable": "$.a", "StringEquals": "x", "Nxt": "C", "Next": "C"}]}
    }}));
    assert_error(&error, "C", Some("Choices[0].Nxt"), "unknown field");

    let error =
        load_error(json!({"StartAt": "A", "Sates": {}, "States": {"A": {"Type": "Succeed"}}}));
    assert_eq!(
        error.to_string(),
        "state machine, field `Sates`: unknown field"
    );

    // A field of another state type.
    let error = load_error(
        json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true, "Resource": "r"}}}),
    );
    assert_error(&error, "P", Some("Resource"), "unknown field");
}

#[test]
fn rejects_unknown_state_types() {
    let error = load_error(json!({"StartAt": "A", "States": {"A": {"Type": "Taks", "End": true}}}));
    assert!(matches!(error, DefinitionError::UnknownStateType { .. }));
    assert_error(&error, "A", Some("Type"), "Taks");
}

#[test]
fn rejects_transitions_to_missing_states() {
    let error = load_error(json!({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Next": "Nowhere"}
    }}));
    assert!(matches!(error, DefinitionError::MissingTarget { .. }));
    assert_error(&error, "A", Some("Next"), "Nowhere");

    let error = load_error(json!({"StartAt": "C", "States": {
        "C": {"Type": "Choice", "Choices": [{"Variable": "$.a", "IsNull": true, "Next": "D"}], "Default": "Gone"},
        "D": {"Type": "Succeed"}
    }}));
    assert_error(&error, "C", Some("Default"), "Gone");

    let error = load_error(json!({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "r", "End": true,
              "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Missing"}]}
    }}));
    assert_error(&error, "T", Some("Catch[0].Next"), "Missing");

    let error = load_error(json!({"StartAt": "Nope", "States": {"A": {"Type": "Succeed"}}}));
    assert_eq!(error.state(), Some(""));
    assert!(error.to_string().contains("Nope"));

    // Inside a Map, transitions stay in the Map's scope.
    let error = load_error(json!({"StartAt": "M", "States": {
        "M": {"Type": "Map", "ItemProcessor": {"StartAt": "Inner", "States": {
            "Inner": {"Type": "Pass", "Next": "Outer"}
        }}, "Next": "Outer"},
        "Outer": {"Type": "Succeed"}
    }}));
    assert_error(&error, "Inner", Some("Next"), "Outer");
}

#[test]
fn rejects_states_without_next_or_end() {
    let error = load_error(json!({"StartAt": "A", "States": {"A": {"Type": "Pass"}}}));
    assert_error(&error, "A", Some("Next"), "neither");
    let error = load_error(
        json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "A", "End": true}}}),
    );
    assert_error(&error, "A", Some("End"), "both");
}

#[test]
fn rejects_unreachable_and_duplicate_states() {
    let error = load_error(json!({"StartAt": "A", "States": {
        "A": {"Type": "Succeed"},
        "Orphan": {"Type": "Succeed"}
    }}));
    assert!(matches!(error, DefinitionError::Unreachable { .. }));
    assert_error(&error, "Orphan", None, "not reachable");

    let error = StateMachine::from_json(
        r#"{"StartAt": "A", "States": {"A": {"Type": "Succeed"}, "A": {"Type": "Pass", "End": true}}}"#,
    )
    .unwrap_err();
    assert!(matches!(error, DefinitionError::Json(_)));
    assert!(error.to_string().contains("duplicate key `A`"), "{error}");

    let error = load_error(json!({"StartAt": "A", "States": {
        "A": {"Type": "Parallel", "End": true, "Branches": [
            {"StartAt": "A", "States": {"A": {"Type": "Succeed"}}}
        ]}
    }}));
    assert!(matches!(error, DefinitionError::DuplicateState { .. }));
    assert_error(&error, "A", None, "same name");
}

#[test]
fn rejects_jsonata_and_unsupported_features() {
    let error = load_error(
        json!({"QueryLanguage": "JSONata", "StartAt": "A", "States": {"A": {"Type": "Succeed"}}}),
    );
    assert!(error.to_string().contains("JSONata"), "{error}");
    let error = load_error(
        json!({"StartAt": "A", "States": {"A": {"Type": "Succeed", "QueryLanguage": "JSONata"}}}),
    );
    assert_error(&error, "A", Some("QueryLanguage"), "JSONata");
    machine(
        json!({"QueryLanguage": "JSONPath", "Version": "1.0", "TimeoutSeconds": 60, "Comment": "c",
                   "StartAt": "A", "States": {"A": {"Type": "Succeed", "Comment": "fine"}}}),
    );

    let map = |extra: Value| {
        let mut state = json!({"Type": "Map", "End": true,
            "ItemProcessor": {"StartAt": "I", "States": {"I": {"Type": "Succeed"}}}});
        if let (Value::Object(state), Value::Object(extra)) = (&mut state, extra) {
            state.extend(extra);
        }
        json!({"StartAt": "M", "States": {"M": state}})
    };
    let error = load_error(map(json!({"ToleratedFailurePercentage": 5})));
    assert!(matches!(error, DefinitionError::Unsupported { .. }));
    assert_error(
        &error,
        "M",
        Some("ToleratedFailurePercentage"),
        "not supported",
    );

    let error = load_error(
        json!({"StartAt": "M", "States": {"M": {"Type": "Map", "End": true,
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED"}, "StartAt": "I", "States": {"I": {"Type": "Succeed"}}}}}}),
    );
    assert_error(
        &error,
        "M",
        Some("ItemProcessor.ProcessorConfig.Mode"),
        "not supported",
    );

    let error = load_error(task_machine(json!({"Assign": {"x": 1}})));
    assert_error(&error, "Work", Some("Assign"), "not supported");
}

#[test]
fn rejects_misplaced_states_all() {
    let error = load_error(task_machine(json!({"Retry": [
        {"ErrorEquals": ["States.ALL"]},
        {"ErrorEquals": ["X"]}
    ]})));
    assert_error(&error, "Work", Some("Retry[0].ErrorEquals"), "last");
    let error = load_error(task_machine(json!({"Catch": [
        {"ErrorEquals": ["States.ALL", "X"], "Next": "Work"}
    ]})));
    assert_error(&error, "Work", Some("Catch[0].ErrorEquals"), "alone");
}

#[test]
fn rejects_malformed_paths_templates_rules_and_values() {
    let cases = [
        (task_machine(json!({"InputPath": "$..x"})), "InputPath"),
        (task_machine(json!({"ResultPath": "$.a[*]"})), "ResultPath"),
        (
            task_machine(json!({"ResultPath": "$$.Execution"})),
            "ResultPath",
        ),
        (
            task_machine(json!({"Parameters": {"a.$": "States.Frobnicate($)"}})),
            "Parameters",
        ),
        (
            task_machine(json!({"Parameters": {"a.$": 5}})),
            "Parameters",
        ),
        (
            task_machine(json!({"ResultSelector": {"a.$": "oops"}})),
            "ResultSelector",
        ),
        (task_machine(json!({"TimeoutSeconds": 0})), "TimeoutSeconds"),
        (
            task_machine(json!({"Retry": [{"ErrorEquals": ["X"], "BackoffRate": 0.5}]})),
            "Retry[0].BackoffRate",
        ),
        (
            task_machine(json!({"Retry": [{"ErrorEquals": []}]})),
            "Retry[0].ErrorEquals",
        ),
        (
            task_machine(json!({"Retry": [{"ErrorEquals": ["X"], "JitterStrategy": "SOME"}]})),
            "Retry[0].JitterStrategy",
        ),
    ];
    for (def, field) in cases {
        let error = load_error(def);
        assert_error(&error, "Work", Some(field), "");
    }

    let choice = |rule: Value| {
        json!({"StartAt": "C", "States": {
            "C": {"Type": "Choice", "Choices": [rule], "Default": "D"},
            "D": {"Type": "Succeed"}
        }})
    };
    for (rule, field) in [
        (
            json!({"Variable": "$.a", "StringEquals": 1, "Next": "D"}),
            "Choices[0].StringEquals",
        ),
        (
            json!({"Variable": "$.a", "TimestampEquals": "yesterday", "Next": "D"}),
            "Choices[0].TimestampEquals",
        ),
        (json!({"Variable": "$.a", "Next": "D"}), "Choices[0]"),
        (
            json!({"Variable": "$.a", "IsNull": true, "IsString": true, "Next": "D"}),
            "Choices[0]",
        ),
        (
            json!({"StringEquals": "x", "Next": "D"}),
            "Choices[0].Variable",
        ),
        (
            json!({"Variable": "$.a", "StringEquals": "x"}),
            "Choices[0].Next",
        ),
        (
            json!({"And": [{"Variable": "$.a", "IsNull": true, "Next": "D"}], "Next": "D"}),
            "Choices[0].And[0].Next",
        ),
        (
            json!({"Not": {"Variable": "$.a", "Frobs": 1}, "Next": "D"}),
            "Choices[0].Not.Frobs",
        ),
    ] {
        let error = load_error(choice(rule.clone()));
        assert_error(&error, "C", Some(field), "");
    }

    let error = load_error(
        json!({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 1, "SecondsPath": "$.s", "End": true}}}),
    );
    assert_error(&error, "W", Some("SecondsPath"), "cannot both");
    let error = load_error(json!({"StartAt": "W", "States": {"W": {"Type": "Wait", "End": true}}}));
    assert_error(&error, "W", None, "Seconds");
}

#[test]
fn lambda_invoke_needs_a_function_name() {
    let error = load_error(json!({"StartAt": "L", "States": {"L": {
        "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"Payload.$": "$"}, "End": true
    }}}));
    assert_error(&error, "L", Some("Parameters.FunctionName"), "FunctionName");
    let error = load_error(json!({"StartAt": "L", "States": {"L": {
        "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": "f", "Paylaod.$": "$"}, "End": true
    }}}));
    assert_error(&error, "L", Some("Parameters.Paylaod"), "unknown field");
}

#[test]
fn rejects_invalid_json() {
    let error = StateMachine::from_json("{\"StartAt\": ").unwrap_err();
    assert!(matches!(error, DefinitionError::Json(_)));
    assert_eq!(error.state(), None);
    assert!(matches!(
        StateMachine::from_json("[1]").unwrap_err(),
        DefinitionError::Json(_)
    ));
}

#[test]
fn accepts_a_production_like_definition() {
    let machine = machine(json!({
        "Comment": "ingest",
        "StartAt": "ListTables",
        "TimeoutSeconds": 3600,
        "States": {
            "ListTables": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": "tidemark-list", "Payload.$": "$"},
                "ResultSelector": {"tables.$": "$.Payload.tables"},
                "ResultPath": "$.list",
                "Retry": [
                    {"ErrorEquals": ["Tidemark.Transient", "Lambda.TooManyRequestsException"], "IntervalSeconds": 2, "MaxAttempts": 6, "BackoffRate": 2, "MaxDelaySeconds": 60, "JitterStrategy": "FULL"},
                    {"ErrorEquals": ["States.ALL"], "MaxAttempts": 0}
                ],
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Notify", "ResultPath": "$.error"}],
                "Next": "Any?"
            },
            "Any?": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.list.tables[0]", "IsPresent": true, "Next": "PerTable"}],
                "Default": "Done"
            },
            "PerTable": {
                "Type": "Map",
                "ItemsPath": "$.list.tables",
                "MaxConcurrency": 4,
                "ItemSelector": {"table.$": "$$.Map.Item.Value", "run.$": "$$.Execution.Name"},
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "INLINE"},
                    "StartAt": "Ingest",
                    "States": {"Ingest": {
                        "Type": "Task",
                        "Resource": "arn:aws:states:::lambda:invoke",
                        "Parameters": {"FunctionName": "tidemark-ingest", "Payload.$": "$"},
                        "OutputPath": "$.Payload",
                        "TimeoutSeconds": 900,
                        "HeartbeatSeconds": 60,
                        "End": true
                    }}
                },
                "ResultPath": "$.ingested",
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Notify", "ResultPath": "$.error"}],
                "Next": "Done"
            },
            "Notify": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": "tidemark-notify", "Payload.$": "$"},
                "Next": "Failed"
            },
            "Failed": {"Type": "Fail", "Error": "Tidemark.IngestFailed", "CausePath": "$.Payload.message"},
            "Done": {"Type": "Succeed"}
        }
    }))
    .with_name("tidemark");
    assert_eq!(machine.start_at(), "ListTables");
    assert_eq!(machine.comment(), Some("ingest"));
    assert_eq!(machine.name(), "tidemark");
}

#[tokio::test]
async fn runs_a_production_like_flow_end_to_end() {
    let invoker = Arc::new(TestInvoker::new(|function, payload, n| match function {
        "list" if n == 0 => Err(TaskFailure::new("Tidemark.Transient", "throttled")),
        "list" => Ok(json!({"tables": ["a", "b", "c"]})),
        "ingest" => Ok(json!({"table": payload["table"], "rows": 10})),
        other => Err(TaskFailure::new("Unexpected", other.to_owned())),
    }));
    let def = json!({
        "StartAt": "List",
        "States": {
            "List": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": "list", "Payload.$": "$"},
                "ResultSelector": {"tables.$": "$.Payload.tables"},
                "ResultPath": "$.list",
                "Retry": [{"ErrorEquals": ["Tidemark.Transient"]}],
                "Next": "PerTable"
            },
            "PerTable": {
                "Type": "Map",
                "ItemsPath": "$.list.tables",
                "MaxConcurrency": 2,
                "ItemSelector": {"table.$": "$$.Map.Item.Value"},
                "ItemProcessor": {"StartAt": "Ingest", "States": {"Ingest": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::lambda:invoke",
                    "Parameters": {"FunctionName": "ingest", "Payload.$": "$"},
                    "OutputPath": "$.Payload",
                    "End": true
                }}},
                "ResultSelector": {"rows.$": "$[*].rows", "tables.$": "$[*].table"},
                "ResultPath": "$.ingested",
                "OutputPath": "$.ingested",
                "End": true
            }
        }
    });
    let execution = run(def, &invoker, json!({"day": "2024-01-01"})).await;
    assert_eq!(
        succeeded(&execution),
        json!({"rows": [10, 10, 10], "tables": ["a", "b", "c"]})
    );
    assert_eq!(invoker.call_count(), 5);
    assert_eq!(kinds(&execution, "Retry"), 1);
}

// ---------------------------------------------------------------------------
// Payload quota
// ---------------------------------------------------------------------------

/// A string field that makes a JSON object exactly `bytes` long.
fn payload_of(bytes: usize) -> Value {
    let padding = bytes - r#"{"p":""}"#.len();
    json!({ "p": "x".repeat(padding) })
}

#[tokio::test]
async fn a_state_may_carry_256_kib_and_not_a_byte_more_and_no_catcher_hides_it() {
    let at_limit = payload_of(MAX_PAYLOAD_BYTES);
    assert_eq!(at_limit.to_string().len(), MAX_PAYLOAD_BYTES);
    let invoker = Arc::new(TestInvoker::echo());
    let catch_all = task_machine(json!({
        "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}],
        "Retry": [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 3}],
        "End": null,
        "Next": "Done"
    }));
    let mut definition = catch_all.clone();
    definition["States"]["Work"]
        .as_object_mut()
        .unwrap()
        .remove("End");
    definition["States"]["Caught"] = json!({"Type": "Pass", "End": true});
    definition["States"]["Done"] = json!({"Type": "Pass", "End": true});
    assert_eq!(
        succeeded(&run(definition.clone(), &invoker, at_limit.clone()).await),
        at_limit
    );

    // One byte over, as the execution's input: the first state refuses it.
    let execution = run(
        definition.clone(),
        &invoker,
        payload_of(MAX_PAYLOAD_BYTES + 1),
    )
    .await;
    let (error, cause) = failed(&execution);
    assert_eq!(error, errors::DATA_LIMIT_EXCEEDED);
    assert!(
        cause.contains("input of state 'Work' is 262145 bytes"),
        "{cause}"
    );

    // A task whose result grows the state past the quota: not retried, not caught.
    let growing = Arc::new(TestInvoker::new(|_, _, _| {
        Ok(payload_of(MAX_PAYLOAD_BYTES + 10))
    }));
    let execution = run(definition, &growing, json!({})).await;
    let (error, cause) = failed(&execution);
    assert_eq!(error, errors::DATA_LIMIT_EXCEEDED);
    assert!(cause.contains("output of state 'Work'"), "{cause}");
    assert_eq!(growing.calls.lock().unwrap().len(), 1, "retried");
    assert_eq!(kinds(&execution, "Caught"), 0);
}
