//! Conformance of `tidemark-asl` with Step Functions, as far as
//! `statemachines/daily-pipeline.asl.json` relies on it: small state
//! machines, one or a few ASL features each, run with the same inputs on the
//! interpreter and on the AWS-API emulator's Step Functions (ministack), must
//! end the same way — the same status, the same output (as JSON values) and,
//! for failures, the same error name and cause.
//!
//! The Task states call three Lambda functions that exist twice, with the
//! same behaviour: in the emulator as `provided.al2023` functions whose
//! `bootstrap` is a small Python script speaking the Lambda runtime API
//! ([`BOOTSTRAP`]), and on the interpreter's side as a [`TaskInvoker`]
//! ([`Functions`]):
//!
//! - `conf-echo` returns its payload;
//! - `conf-fail` fails with the error name `payload.error` and the message
//!   `payload.message`;
//! - `conf-flaky` fails with `Test.Transient` while `payload.attempt` (the
//!   state's `$$.State.RetryCount`) is below `payload.failures`, then returns
//!   `{"attempts": attempt + 1}`.
//!
//! A failed Lambda's cause is its error payload as JSON text; the two sides
//! space it differently, so causes are compared as JSON values when they
//! parse as JSON (in outputs too, under `Cause`/`cause` keys). The causes of
//! the `States.*` errors the service raises itself are its own prose, not
//! the same on both sides, so for those only the error name is compared.
//! `$$.StateMachine.Id` has the region `local` on the interpreter's side:
//! it is compared as if it were the emulator's `us-east-1`.
//!
//! Where ministack and AWS disagree, the case names the difference in
//! [`Case::emulator_differs`] and skips only that comparison: the
//! interpreter must then fail with the error AWS documents, and the emulator
//! must still differ (else the note is stale).
//! Waits and Retry intervals run at 1/100 of their length on both sides
//! (ministack's `SFN_WAIT_SCALE`, [`Interpreter::with_time_scale`]).

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::Emulator;
use tidemark_asl::{ExecutionStatus, Interpreter, StateMachine, TaskFailure, TaskInvoker};

const TIME_SCALE: &str = "0.01";

/// The three functions, as the emulator runs them (see the module docs).
const BOOTSTRAP: &str = r#"
import json, os, urllib.request

API = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation/"
NAME = os.environ["AWS_LAMBDA_FUNCTION_NAME"]


class Failure(Exception):
    def __init__(self, error, message):
        self.error, self.message = error, message


def handle(event):
    if NAME == "conf-echo":
        return event
    if NAME == "conf-fail":
        raise Failure(event["error"], event.get("message", ""))
    if NAME == "conf-flaky":
        if event["attempt"] < event["failures"]:
            raise Failure("Test.Transient", "attempt %d failed" % event["attempt"])
        return {"attempts": event["attempt"] + 1}
    raise Failure("Test.UnknownFunction", NAME)


def post(url, body, headers=None):
    data = json.dumps(body, separators=(",", ":")).encode()
    request = urllib.request.Request(url, data=data, headers=headers or {}, method="POST")
    urllib.request.urlopen(request).read()


while True:
    with urllib.request.urlopen(API + "next") as response:
        request_id = response.headers["Lambda-Runtime-Aws-Request-Id"]
        event = json.loads(response.read() or b"null")
    try:
        result = handle(event)
    except Failure as failure:
        post(API + request_id + "/error",
             {"errorType": failure.error, "errorMessage": failure.message},
             {"Lambda-Runtime-Function-Error-Type": failure.error})
        continue
    post(API + request_id + "/response", result)
"#;

const FUNCTIONS: [&str; 3] = ["conf-echo", "conf-fail", "conf-flaky"];

/// The three functions, as the interpreter runs them.
struct Functions;

fn lambda_failure(error: &str, message: &str) -> TaskFailure {
    TaskFailure::new(
        error,
        json!({"errorType": error, "errorMessage": message}).to_string(),
    )
}

#[async_trait::async_trait]
impl TaskInvoker for Functions {
    async fn invoke(&self, function: &str, payload: Value) -> Result<Value, TaskFailure> {
        match function {
            "conf-echo" => Ok(payload),
            "conf-fail" => Err(lambda_failure(
                payload["error"].as_str().unwrap_or_default(),
                payload["message"].as_str().unwrap_or_default(),
            )),
            "conf-flaky" => {
                let attempt = payload["attempt"].as_u64().unwrap_or_default();
                if attempt < payload["failures"].as_u64().unwrap_or_default() {
                    Err(lambda_failure(
                        "Test.Transient",
                        &format!("attempt {attempt} failed"),
                    ))
                } else {
                    Ok(json!({"attempts": attempt + 1}))
                }
            }
            other => Err(lambda_failure("Test.UnknownFunction", other)),
        }
    }
}

/// How an execution ended, on either side.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Succeeded(Value),
    Failed { error: String, cause: Value },
}

/// One state machine and the inputs it runs on.
struct Case {
    name: &'static str,
    definition: Value,
    inputs: Vec<Value>,
    /// Known ministack differences from AWS: the input (by index), the
    /// error AWS fails the execution with, and why.
    emulator_differs: Vec<(usize, &'static str, &'static str)>,
}

impl Case {
    fn new(name: &'static str, definition: Value, inputs: Vec<Value>) -> Case {
        Case {
            name,
            definition,
            inputs,
            emulator_differs: Vec::new(),
        }
    }
}

/// The Lambda integration as the pipeline uses it: a payload template, the
/// result's `Payload` kept by `ResultSelector`, placed at `result_path`.
fn lambda(function: &str, payload: Value, result_path: Value, extra: Value) -> Value {
    let mut state = json!({
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": function, "Payload": payload},
        "ResultSelector": {"Payload.$": "$.Payload"},
        "ResultPath": result_path,
    });
    for (key, value) in extra.as_object().unwrap() {
        state[key] = value.clone();
    }
    state
}

fn cases() -> Vec<Case> {
    let mut cases = Vec::new();

    // Pass with Parameters ($, $$.Execution.Name, nulls, nested objects), a
    // Task with Parameters / ResultSelector / ResultPath, Pass with InputPath
    // and ResultPath, Pass with Result, Succeed.
    cases.push(Case::new(
        "task_input_output",
        json!({
            "StartAt": "Prepare",
            "States": {
                "Prepare": {"Type": "Pass", "Parameters": {
                    "input.$": "$", "run_id.$": "$$.Execution.Name",
                    "plan": null, "start": {"Payload": null}
                }, "Next": "Start"},
                "Start": lambda("conf-echo", json!({
                    "input.$": "$.input", "run_id.$": "$.run_id",
                    "previous.$": "$.start.Payload",
                    "plan": {"tables": ["orders", "customers"], "scheduled": true},
                    "status": {"ready": true}
                }), json!("$.start"), json!({"Next": "KeepPlan"})),
                "KeepPlan": {"Type": "Pass", "InputPath": "$.start.Payload.plan",
                    "ResultPath": "$.plan", "Next": "Constant"},
                "Constant": {"Type": "Pass", "Result": {"Payload": null, "n": [1, 2.5, "x"]},
                    "ResultPath": "$.merge", "Next": "Done"},
                "Done": {"Type": "Succeed"}
            }
        }),
        vec![
            json!({}),
            json!({"tables": ["orders"], "mode": "reprocess", "from": "2024-01-01"}),
        ],
    ));

    // Retry: ErrorEquals, IntervalSeconds, BackoffRate, MaxAttempts, the
    // first matching retrier deciding, $$.State.RetryCount per attempt;
    // Catch with ResultPath once the retries are spent.
    cases.push(Case::new(
        "retry_then_catch",
        json!({
            "StartAt": "Flaky",
            "States": {
                "Flaky": lambda("conf-flaky", json!({
                    "attempt.$": "$$.State.RetryCount", "failures.$": "$.failures"
                }), json!("$.result"), json!({
                    "Retry": [
                        {"ErrorEquals": ["Test.Other"], "MaxAttempts": 5},
                        {"ErrorEquals": ["Test.Transient", "Lambda.ServiceException"],
                         "IntervalSeconds": 1, "BackoffRate": 2, "MaxAttempts": 3}
                    ],
                    "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error",
                               "Next": "Caught"}],
                    "Next": "Done"
                })),
                "Caught": {"Type": "Pass", "Parameters": {
                    "failures.$": "$.failures", "error.$": "$.error.Error",
                    "cause.$": "$.error.Cause"
                }, "End": true},
                "Done": {"Type": "Succeed"}
            }
        }),
        vec![
            json!({"failures": 0}),
            json!({"failures": 3}),
            json!({"failures": 4}),
        ],
    ));

    // Catch: the first matching catcher wins, States.ALL catches the rest,
    // ResultPath on the state's input; uncaught, the Lambda's error and
    // cause fail the execution.
    cases.push(Case::new(
        "catch",
        json!({
            "StartAt": "Fail",
            "States": {
                "Fail": lambda("conf-fail", json!({
                    "error.$": "$.error", "message": "it broke"
                }), json!("$.result"), json!({
                    "Catch": [
                        {"ErrorEquals": ["Test.Concurrency"], "ResultPath": "$.error",
                         "Next": "Held"},
                        {"ErrorEquals": ["Test.Uncaught"], "ResultPath": "$.ignored",
                         "Next": "Never"},
                        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.failure",
                         "Next": "Failed"}
                    ],
                    "Next": "Never"
                })),
                "Held": {"Type": "Pass", "Parameters": {
                    "status": "skipped", "error.$": "$.error.Error", "cause.$": "$.error.Cause"
                }, "End": true},
                "Failed": {"Type": "Pass", "End": true},
                "Never": {"Type": "Fail", "Error": "Test.Unreachable"}
            }
        }),
        vec![
            json!({"error": "Test.Concurrency"}),
            json!({"error": "Test.Validation", "keep": [1, 2]}),
        ],
    ));
    cases.push(Case::new(
        "uncaught_task_failure",
        json!({
            "StartAt": "Fail",
            "States": {
                "Fail": lambda("conf-fail", json!({"error.$": "$.error", "message.$": "$.message"}),
                    json!("$.result"), json!({
                        "Retry": [{"ErrorEquals": ["Test.Transient"], "MaxAttempts": 2,
                                   "IntervalSeconds": 1}],
                        "End": true
                    }))
            }
        }),
        vec![
            json!({"error": "Tidemark.Validation", "message": "orders: 3 malformed rows"}),
            json!({"error": "Test.Transient", "message": "still down"}),
        ],
    ));

    // Choice: BooleanEquals, NumericGreaterThan, IsPresent, StringEquals,
    // And / Not, Default; Fail with Error and Cause; Succeed.
    let mut choice = Case::new(
        "choice_and_fail",
        json!({
            "StartAt": "Route",
            "States": {
                "Route": {"Type": "Choice", "Choices": [
                    {"Variable": "$.status.ready", "BooleanEquals": true, "Next": "Ready"},
                    {"Variable": "$.failed_tables", "NumericGreaterThan": 0, "Next": "Failed"},
                    {"And": [
                        {"Variable": "$.mode", "IsPresent": true},
                        {"Not": {"Variable": "$.mode", "StringEquals": "incremental"}}
                    ], "Next": "Manual"}
                ], "Default": "Scheduled"},
                "Ready": {"Type": "Pass", "Result": "ready", "ResultPath": "$.route", "End": true},
                "Manual": {"Type": "Pass", "Result": "manual", "ResultPath": "$.route", "End": true},
                "Scheduled": {"Type": "Succeed"},
                "Failed": {"Type": "Fail", "Error": "Tidemark.TablesFailed",
                    "Cause": "At least one table failed."}
            }
        }),
        vec![
            json!({"status": {"ready": true}, "failed_tables": 2}),
            json!({"status": {"ready": false}, "failed_tables": 2}),
            json!({"status": {"ready": false}, "failed_tables": 0, "mode": "rebuild"}),
            json!({"status": {"ready": false}, "failed_tables": 0, "mode": "incremental"}),
            json!({"status": {"ready": false}, "failed_tables": 0}),
            json!({"status": {"ready": false}, "failed_tables": 0.5}),
            json!({"status": {"ready": "yes"}, "failed_tables": -1}),
            json!({"failed_tables": 1}),
        ],
    );
    choice.emulator_differs.push((
        7,
        "States.Runtime",
        "on AWS a comparison whose Variable matches nothing fails the execution ('Invalid path \
         ...: The choice state's condition path references an invalid value'; IsPresent is the \
         guard); ministack takes it as a rule that does not match",
    ));
    cases.push(choice);
    cases.push(Case::new(
        "no_choice_matched",
        json!({
            "StartAt": "Route",
            "States": {
                "Route": {"Type": "Choice", "Choices": [
                    {"Variable": "$.n", "NumericGreaterThan": 0, "Next": "Done"}
                ]},
                "Done": {"Type": "Succeed"}
            }
        }),
        vec![json!({"n": 1}), json!({"n": 0})],
    ));

    // Wait with SecondsPath in a loop (as WaitForReplication), the counter
    // kept by States.MathAdd, left by NumericGreaterThanEqualsPath.
    cases.push(Case::new(
        "wait_loop",
        json!({
            "StartAt": "Init",
            "States": {
                "Init": {"Type": "Pass", "Parameters": {
                    "count": 0, "times.$": "$.times", "status": {"wait_seconds.$": "$.wait"}
                }, "Next": "Check"},
                "Check": {"Type": "Choice", "Choices": [
                    {"Variable": "$.count", "NumericGreaterThanEqualsPath": "$.times",
                     "Next": "Done"}
                ], "Default": "Wait"},
                "Wait": {"Type": "Wait", "SecondsPath": "$.status.wait_seconds", "Next": "Count"},
                "Count": {"Type": "Pass", "Parameters": {
                    "count.$": "States.MathAdd($.count, 1)", "times.$": "$.times",
                    "status.$": "$.status"
                }, "Next": "Check"},
                "Done": {"Type": "Pass", "End": true}
            }
        }),
        vec![
            json!({"times": 0, "wait": 5}),
            json!({"times": 3, "wait": 2}),
        ],
    ));

    // Map as ProcessTables: ItemsPath, ItemSelector with $, $$.Execution.Name
    // and $$.Map.Item.Value, MaxConcurrency, an INLINE ItemProcessor whose
    // iterations catch their own failures; results at ResultPath in item
    // order; then Pass with $$.StateMachine.Id and a Choice on the results.
    cases.push(Case::new(
        "map_tables",
        json!({
            "StartAt": "ProcessTables",
            "States": {
                "ProcessTables": {
                    "Type": "Map",
                    "ItemsPath": "$.metadata.tables",
                    "ItemSelector": {
                        "run_id.$": "$$.Execution.Name",
                        "scheduled.$": "$.scheduled",
                        "work.$": "$$.Map.Item.Value",
                        "index.$": "$$.Map.Item.Index"
                    },
                    "MaxConcurrency": 2,
                    "ItemProcessor": {
                        "ProcessorConfig": {"Mode": "INLINE"},
                        "StartAt": "Validate",
                        "States": {
                            "Validate": lambda("conf-fail", json!({"error.$": "$.work.error"}),
                                json!("$.validation"), json!({
                                    "Catch": [{"ErrorEquals": ["States.ALL"],
                                               "ResultPath": "$.error", "Next": "Route"}],
                                    "Next": "Never"
                                })),
                            "Route": {"Type": "Choice", "Choices": [
                                {"Variable": "$.work.error", "StringEquals": "Test.Ok",
                                 "Next": "Publish"}
                            ], "Default": "TableFailed"},
                            "Publish": lambda("conf-echo", json!({
                                "table.$": "$.work.table", "status": "published",
                                "run_id.$": "$.run_id", "index.$": "$.index"
                            }), json!("$"), json!({
                                "ResultSelector": {
                                    "table.$": "$.Payload.table", "status.$": "$.Payload.status",
                                    "run_id.$": "$.Payload.run_id", "index.$": "$.Payload.index"
                                },
                                "End": true
                            })),
                            "TableFailed": {"Type": "Pass", "Parameters": {
                                "table.$": "$.work.table", "status": "failed",
                                "error.$": "$.error.Error", "cause.$": "$.error.Cause"
                            }, "End": true},
                            "Never": {"Type": "Fail", "Error": "Test.Unreachable"}
                        }
                    },
                    "ResultPath": "$.results",
                    "Next": "Summarise"
                },
                "Summarise": {"Type": "Pass", "Parameters": {
                    "results.$": "$.results",
                    "statuses.$": "$.results[*].status",
                    "state_machine.$": "$$.StateMachine.Id"
                }, "Next": "Done"},
                "Done": {"Type": "Succeed"}
            }
        }),
        vec![
            json!({"scheduled": true, "metadata": {"tables": []}}),
            json!({"scheduled": false, "metadata": {"tables": [
                {"table": "orders", "error": "Test.Ok"},
                {"table": "customers", "error": "Tidemark.Validation"},
                {"table": "items", "error": "Test.Ok"},
                {"table": "payments", "error": "Tidemark.Concurrency"},
                {"table": "refunds", "error": "Test.Ok"}
            ]}}),
        ],
    ));

    // Pass with an intrinsic (States.Array, as CollectSetupFailure), nested
    // templates, $$.StateMachine.Id.
    cases.push(Case::new(
        "intrinsics",
        json!({
            "StartAt": "SetupFailed",
            "States": {
                "SetupFailed": {"Type": "Pass", "Parameters": {
                    "run_id.$": "$$.Execution.Name",
                    "failure": {"table": "(pipeline)", "status": "failed",
                                "error.$": "$.error.Error", "cause.$": "$.error.Cause"}
                }, "Next": "Collect"},
                "Collect": {"Type": "Pass", "Parameters": {
                    "run_id.$": "$.run_id",
                    "results.$": "States.Array($.failure)",
                    "pair.$": "States.Array($.failure.table, 1, $.run_id)",
                    "sum.$": "States.MathAdd(2, 3)",
                    "text.$": "States.Format('run {} failed: {}', $.run_id, $.failure.error)",
                    "state_machine.$": "$$.StateMachine.Id"
                }, "End": true}
            }
        }),
        vec![json!({"error": {"Error": "Tidemark.Config", "Cause": "no tables"}})],
    ));

    // States.Runtime (a Parameters path matching nothing) is never caught,
    // not even by States.ALL.
    let mut runtime = Case::new(
        "runtime_error_is_not_caught",
        json!({
            "StartAt": "Task",
            "States": {
                "Task": lambda("conf-echo", json!({"missing.$": "$.nowhere"}), json!("$.result"),
                    json!({
                        "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error",
                                   "Next": "Caught"}],
                        "End": true
                    })),
                "Caught": {"Type": "Pass", "End": true}
            }
        }),
        vec![json!({"somewhere": 1})],
    );
    runtime.emulator_differs.push((
        0,
        "States.Runtime",
        "AWS: 'A retry or catch on States.ALL won't catch States.Runtime errors' \
         (Step Functions error handling); ministack resolves a path that matches nothing",
    ));
    cases.push(runtime);

    cases
}

/// Compares causes as JSON when they are JSON text (ministack re-serialises
/// a Lambda's error payload with spaces).
fn as_json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

/// `Cause`/`cause` strings in an output, parsed; the interpreter's
/// `local` region in ARNs, made the emulator's.
fn normalise(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(key, value)| match (key.as_str(), value) {
                    ("Cause" | "cause", Value::String(text)) => {
                        let parsed = as_json(&text);
                        (key, parsed)
                    }
                    (_, value) => (key, normalise(value)),
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(normalise).collect()),
        Value::String(text) => {
            Value::String(text.replace("arn:aws:states:local:", "arn:aws:states:us-east-1:"))
        }
        other => other,
    }
}

fn create_function(endpoint: &str, name: &str, zip: &[u8]) {
    let body = json!({
        "FunctionName": name,
        "Runtime": "provided.al2023",
        "Handler": "bootstrap",
        "Role": "arn:aws:iam::000000000000:role/conformance",
        "Timeout": 30,
        "Code": {"ZipFile": aws_smithy_types::base64::encode(zip)},
    });
    support::create_function(endpoint, &body);
}

/// Runs one execution on the emulator to its end.
async fn on_emulator(
    sfn: &aws_sdk_sfn::Client,
    machine: &str,
    name: &str,
    input: &Value,
) -> Outcome {
    use aws_sdk_sfn::types::ExecutionStatus as Status;
    let execution = sfn
        .start_execution()
        .state_machine_arn(machine)
        .name(name)
        .input(input.to_string())
        .send()
        .await
        .unwrap()
        .execution_arn;
    let started = Instant::now();
    loop {
        let out = sfn
            .describe_execution()
            .execution_arn(&execution)
            .send()
            .await
            .unwrap();
        match out.status {
            Status::Running => {}
            Status::Succeeded => {
                return Outcome::Succeeded(as_json(out.output.as_deref().unwrap_or("null")));
            }
            _ => {
                return Outcome::Failed {
                    error: out.error.unwrap_or_default(),
                    cause: as_json(out.cause.as_deref().unwrap_or_default()),
                };
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{name} still runs on the emulator after 60 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn on_interpreter(machine: &StateMachine, name: &str, input: &Value) -> Outcome {
    let interpreter =
        Interpreter::new(Arc::new(Functions)).with_time_scale(TIME_SCALE.parse().unwrap());
    let execution = interpreter.execute(machine, name, input.clone()).await;
    match execution.status {
        ExecutionStatus::Succeeded => Outcome::Succeeded(execution.output.unwrap()),
        ExecutionStatus::Failed { error, cause } => Outcome::Failed {
            error,
            cause: as_json(&cause),
        },
    }
}

/// The same outcome: for the service's own `States.*` errors, the same name.
fn same(emulator: &Outcome, interpreter: &Outcome) -> bool {
    match (emulator, interpreter) {
        (Outcome::Failed { error: a, .. }, Outcome::Failed { error: b, .. })
            if a.starts_with("States.") =>
        {
            a == b
        }
        _ => emulator == interpreter,
    }
}

fn normalise_outcome(outcome: Outcome) -> Outcome {
    match outcome {
        Outcome::Succeeded(output) => Outcome::Succeeded(normalise(output)),
        failed => failed,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_interpreter_and_step_functions_agree_on_the_features_the_pipeline_uses() {
    let emulator = Emulator::start_with("lambda,states", &[("SFN_WAIT_SCALE", TIME_SCALE)]);
    let sdk = emulator.sdk().await;
    let sfn = aws_sdk_sfn::Client::new(&sdk);
    let dir = tempfile::tempdir().unwrap();
    let script = format!("#!{}\n{BOOTSTRAP}", support::python().display());
    let zip = support::bootstrap_zip(dir.path(), &script);
    for function in FUNCTIONS {
        create_function(&emulator.endpoint, function, &zip);
    }

    let cases = cases();
    let mut runs = Vec::new();
    for case in &cases {
        let machine = StateMachine::from_json(&case.definition.to_string())
            .unwrap_or_else(|e| {
                panic!("{}: the interpreter refuses the definition: {e}", case.name)
            })
            .with_name(case.name);
        let arn = sfn
            .create_state_machine()
            .name(case.name)
            .definition(case.definition.to_string())
            .role_arn("arn:aws:iam::000000000000:role/conformance")
            .send()
            .await
            .unwrap_or_else(|e| panic!("{}: the emulator refuses the definition: {e:?}", case.name))
            .state_machine_arn;
        let machine = Arc::new(machine);
        for (index, input) in case.inputs.iter().enumerate() {
            let name = format!("{}-{index}", case.name);
            let (sfn, arn, machine, input) =
                (sfn.clone(), arn.clone(), machine.clone(), input.clone());
            runs.push(tokio::spawn(async move {
                let emulator = on_emulator(&sfn, &arn, &name, &input).await;
                let interpreter = on_interpreter(&machine, &name, &input).await;
                (index, emulator, interpreter)
            }));
        }
    }

    let started = Instant::now();
    let mut report = Vec::new();
    let mut results = Vec::new();
    for run in runs {
        results.push(run.await.unwrap());
    }
    let mut results = results.into_iter();
    for case in &cases {
        for _ in &case.inputs {
            let (index, emulator, interpreter) = results.next().unwrap();
            let (emulator, interpreter) =
                (normalise_outcome(emulator), normalise_outcome(interpreter));
            let input = &case.inputs[index];
            let differs = case.emulator_differs.iter().find(|(i, ..)| *i == index);
            match differs {
                Some((_, aws_error, why)) => {
                    if !matches!(&interpreter, Outcome::Failed { error, .. } if error == aws_error)
                    {
                        report.push(format!(
                            "{} #{index} {input}: AWS fails with {aws_error}, the interpreter \
                             gives {interpreter:?}",
                            case.name
                        ));
                    }
                    if same(&emulator, &interpreter) {
                        report.push(format!(
                            "{} #{index} {input}: the emulator no longer differs ({why}): \
                             drop the note",
                            case.name
                        ));
                    }
                }
                None => {
                    if !same(&emulator, &interpreter) {
                        report.push(format!(
                            "{} #{index} {input}:\n  emulator:    {emulator:?}\n  interpreter: {interpreter:?}",
                            case.name
                        ));
                    }
                }
            }
        }
    }
    assert!(
        report.is_empty(),
        "{} disagreement(s):\n{}\n(after {:?})",
        report.len(),
        report.join("\n"),
        started.elapsed()
    );
}
