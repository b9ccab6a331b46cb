//! A local, in-process interpreter for AWS Step Functions state machines.
//!
//! The production workflow is an Amazon States Language (ASL) definition that
//! runs on AWS Step Functions. Locally, tidemark runs the *same* definition
//! with this interpreter: [`StateMachine::from_json`] parses and validates the
//! definition, and [`Interpreter::execute`] runs it, calling a [`TaskInvoker`]
//! for every `Task` state (locally, the invoker runs the Lambda handlers
//! in-process).
//!
//! # What is supported
//!
//! Only the `JSONPath` query language (the default). Everything below follows
//! the behaviour of AWS Step Functions (standard workflows) as documented.
//!
//! * **Top level**: `StartAt`, `States`, `Comment`, `Version`,
//!   `QueryLanguage` (only `"JSONPath"`), `TimeoutSeconds` (the execution
//!   fails with `States.Timeout` when it runs out).
//! * **States**: `Task`, `Pass`, `Choice`, `Wait`, `Succeed`, `Fail`, `Map`
//!   (inline mode: `ItemProcessor` or the legacy `Iterator`) and `Parallel`.
//! * **Input and output processing**, in AWS order: `InputPath` →
//!   `Parameters` (Map: `ItemSelector`, or the legacy `Parameters`, per item) →
//!   the state's work → `ResultSelector` → `ResultPath` → `OutputPath`.
//!   `"InputPath": null` / `"OutputPath": null` give `{}`;
//!   `"ResultPath": null` discards the result and keeps the raw input.
//!   `ResultPath` creates the nested objects it writes into.
//! * **Payload templates** (`Parameters`, `ResultSelector`, `ItemSelector`):
//!   keys ending in `.$` take a path on the effective input (`$…`), a path on
//!   the context object (`$$…`) or an intrinsic function call; nested objects
//!   and arrays are processed recursively.
//! * **JSONPath**: `$`, `.name`, `['name']`, `["name"]`, `[n]` (negative
//!   indexes count from the end), `[*]`, `.*` and slices `[a:b]`. Paths with a
//!   wildcard or a slice select the array of all their matches (possibly
//!   empty); other paths select one value and fail with `States.Runtime` when
//!   nothing matches. Recursive descent (`..`) and filters (`[?()]`) are
//!   rejected at load time.
//! * **Context object**: `$$.Execution.{Id,Name,Input,StartTime,RoleArn,RedriveCount}`,
//!   `$$.State.{Name,EnteredTime,RetryCount}`, `$$.StateMachine.{Id,Name}` and,
//!   in a Map's `ItemSelector`, `$$.Map.Item.{Index,Value}`.
//! * **Intrinsic functions**: `States.Format`, `States.StringToJson`,
//!   `States.JsonToString`, `States.Array`, `States.ArrayPartition`,
//!   `States.ArrayContains`, `States.ArrayRange`, `States.ArrayGetItem`,
//!   `States.ArrayLength`, `States.ArrayUnique`, `States.Base64Encode`,
//!   `States.Base64Decode`, `States.JsonMerge` (shallow), `States.MathRandom`,
//!   `States.MathAdd`, `States.StringSplit` and `States.UUID`. Wrong argument
//!   counts or types fail with `States.IntrinsicFailure`.
//! * **Choice rules**: every `String*`, `Numeric*`, `Boolean*` and
//!   `Timestamp*` comparison (and their `…Path` forms), `StringMatches`,
//!   `IsNull`, `IsPresent`, `IsString`, `IsNumeric`, `IsBoolean`,
//!   `IsTimestamp`, `And`, `Or`, `Not`, `Default`; no match and no `Default`
//!   fails with `States.NoChoiceMatched`.
//! * **Retry and Catch** on `Task`, `Map` and `Parallel`: `ErrorEquals`,
//!   `IntervalSeconds`, `MaxAttempts`, `BackoffRate`, `MaxDelaySeconds`,
//!   `JitterStrategy`; catchers place `{"Error", "Cause"}` at their
//!   `ResultPath` on the state's raw input. `States.ALL` matches every error
//!   but `States.Runtime`, which (as on AWS) is never retried nor caught and
//!   always fails the execution. `States.TaskFailed` matches every error but
//!   the timeouts.
//! * **Tasks**: `Resource`, `TimeoutSeconds`/`TimeoutSecondsPath` (the task
//!   fails with `States.Timeout`). The optimised Lambda integration
//!   `arn:aws:states:::lambda:invoke` calls the invoker with `FunctionName`
//!   and `Payload` and wraps the result as AWS does; any other resource is
//!   invoked with the effective input and its result is used as is.
//!   `HeartbeatSeconds` is accepted and ignored (there are no callbacks).
//!
//! Waits and retry intervals really sleep (with tokio), multiplied by the
//! interpreter's time scale ([`Interpreter::with_time_scale`]).
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use tidemark_asl::{ExecutionStatus, Interpreter, StateMachine, TaskFailure, TaskInvoker, Value};
//!
//! struct Double;
//!
//! #[async_trait::async_trait]
//! impl TaskInvoker for Double {
//!     async fn invoke(&self, _function: &str, payload: Value) -> Result<Value, TaskFailure> {
//!         Ok(serde_json::json!(payload["n"].as_i64().unwrap_or(0) * 2))
//!     }
//! }
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let machine = StateMachine::from_json(r#"{
//!   "StartAt": "Double",
//!   "States": {"Double": {
//!     "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
//!     "Parameters": {"FunctionName": "double", "Payload.$": "$"},
//!     "ResultSelector": {"n.$": "$.Payload"}, "End": true}}
//! }"#)
//! .unwrap();
//! let execution = Interpreter::new(Arc::new(Double))
//!     .execute(&machine, "run-1", serde_json::json!({"n": 21}))
//!     .await;
//! assert_eq!(execution.status, ExecutionStatus::Succeeded);
//! assert_eq!(execution.output, Some(serde_json::json!({"n": 42})));
//! # });
//! ```
//!
//! # What is rejected at load time
//!
//! Invalid JSON, duplicate keys, unknown fields, unknown state types, `Next`,
//! `Default` or `StartAt` naming no state, states with neither `Next` nor
//! `"End": true`, unreachable states, duplicate state names (anywhere in the
//! machine, as AWS requires), malformed paths, templates, intrinsic calls and
//! choice rules, the `JSONata` query language, and features this interpreter
//! does not implement (distributed Map, `ItemReader`, `ResultWriter`,
//! `ToleratedFailure*`, `Assign`, `Credentials`, …). Every
//! [`DefinitionError`] names the state and the field at fault.

mod choice;
mod context;
mod definition;
mod interpreter;
mod intrinsics;
mod json;
mod path;
mod random;
mod template;

use std::fmt;

pub use definition::{DefinitionError, StateMachine};
pub use interpreter::{Interpreter, Observer};
pub use serde_json::Value;

/// The error names the interpreter raises itself, as AWS spells them.
pub mod errors {
    /// Every error but [`RUNTIME`] (retriers and catchers only).
    pub const ALL: &str = "States.ALL";
    /// Every error but the timeouts (retriers and catchers only).
    pub const TASK_FAILED: &str = "States.TaskFailed";
    /// A path matched nothing, a result could not be placed, … Never retried
    /// nor caught: it always fails the execution.
    pub const RUNTIME: &str = "States.Runtime";
    /// A Task (or the whole execution) ran longer than its `TimeoutSeconds`.
    pub const TIMEOUT: &str = "States.Timeout";
    /// A heartbeat timeout (never raised locally, but excluded from
    /// `States.TaskFailed` like on AWS).
    pub const HEARTBEAT_TIMEOUT: &str = "States.HeartbeatTimeout";
    /// A Choice state matched no rule and has no `Default`.
    pub const NO_CHOICE_MATCHED: &str = "States.NoChoiceMatched";
    /// An intrinsic function got the wrong number or type of arguments.
    pub const INTRINSIC_FAILURE: &str = "States.IntrinsicFailure";
    /// A state's input or output is larger than [`super::MAX_PAYLOAD_BYTES`].
    /// Like [`RUNTIME`], never retried nor caught.
    pub const DATA_LIMIT_EXCEEDED: &str = "States.DataLimitExceeded";
}

/// The largest input or output a state may have, in bytes of JSON (UTF-8):
/// Step Functions' 256 KiB quota.
pub const MAX_PAYLOAD_BYTES: usize = 256 * 1024;

/// A task failure as Step Functions sees it: an error name (e.g.
/// `"Tidemark.Transient"`) and a cause.
///
/// The interpreter uses the same pair for the errors it raises itself
/// (see [`errors`]).
#[derive(Debug, Clone, PartialEq)]
pub struct TaskFailure {
    /// The error name, matched against `ErrorEquals` by retriers and catchers.
    pub error: String,
    /// A human-readable cause.
    pub cause: String,
}

impl TaskFailure {
    /// A failure with this error name and cause.
    pub fn new(error: impl Into<String>, cause: impl Into<String>) -> Self {
        Self {
            error: error.into(),
            cause: cause.into(),
        }
    }

    /// A `States.Runtime` failure.
    pub(crate) fn runtime(cause: impl Into<String>) -> Self {
        Self::new(errors::RUNTIME, cause)
    }

    /// A `States.IntrinsicFailure` failure.
    pub(crate) fn intrinsic(cause: impl Into<String>) -> Self {
        Self::new(errors::INTRINSIC_FAILURE, cause)
    }
}

impl fmt::Display for TaskFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.error, self.cause)
    }
}

impl std::error::Error for TaskFailure {}

/// What a `Task` state calls.
#[async_trait::async_trait]
pub trait TaskInvoker: Send + Sync {
    /// Runs one task.
    ///
    /// For the optimised Lambda integration (`arn:aws:states:::lambda:invoke`)
    /// `resource` is the `FunctionName` and `parameters` the `Payload`; for any
    /// other resource, `resource` is the Task's `Resource` field and
    /// `parameters` the effective input after `InputPath` and `Parameters`.
    async fn invoke(&self, resource: &str, parameters: Value) -> Result<Value, TaskFailure>;
}

/// The outcome of one execution.
#[derive(Debug, Clone)]
pub struct Execution {
    /// The execution name given to [`Interpreter::execute`].
    pub name: String,
    /// Whether it succeeded.
    pub status: ExecutionStatus,
    /// The execution's output when it succeeded.
    pub output: Option<Value>,
    /// What happened, in order (concurrent Map iterations and Parallel
    /// branches interleave).
    pub events: Vec<HistoryEvent>,
}

/// How an execution ended.
#[derive(Debug, Clone, PartialEq)]
pub enum ExecutionStatus {
    /// It reached a `Succeed` state or a state with `"End": true`.
    Succeeded,
    /// An error was not caught, or a `Fail` state was reached.
    Failed {
        /// The error name.
        error: String,
        /// The cause.
        cause: String,
    },
}

/// One entry of an execution's history.
///
/// `kind` is one of:
///
/// * `"ExecutionStarted"`, `"ExecutionSucceeded"`, `"ExecutionFailed"` (with
///   an empty `state`);
/// * `"Entered"` and `"Exited"` (detail: the state's input, resp. output, as
///   compact JSON);
/// * `"TaskFailed"`, `"MapFailed"`, `"ParallelFailed"`, `"Failed"` (any other
///   state) when a state raises an error (detail: `"<error>: <cause>"`),
///   before retriers and catchers are looked at;
/// * `"Retry"` (detail: which error, which attempt, after what delay);
/// * `"Caught"` (detail: which error, and the catcher's `Next`);
/// * `"MapIterationStarted"`, `"MapIterationSucceeded"`, `"MapIterationFailed"`
///   (state: the Map state; detail: the item index).
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEvent {
    /// The state's name (empty for execution-level events).
    pub state: String,
    /// What happened (see above).
    pub kind: String,
    /// Details, if any.
    pub detail: Option<String>,
}

/// Why a path, an intrinsic call, a payload template or a choice rule was
/// refused at load time (naming the text), or failed on a value at run time.
/// Callers wrap it with the state and the field, or make it the cause of a
/// `States.*` runtime error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct Refused(pub(crate) String);

impl From<String> for Refused {
    fn from(message: String) -> Refused {
        Refused(message)
    }
}

impl From<&str> for Refused {
    fn from(message: &str) -> Refused {
        Refused(message.to_string())
    }
}

impl From<Refused> for String {
    fn from(refused: Refused) -> String {
        refused.0
    }
}

#[cfg(test)]
mod tests;
