//! Parsing and validation of state machine definitions.
//!
//! Everything that can be checked without running the machine is checked
//! here, so that a bad definition fails when it is loaded rather than halfway
//! through an execution: unknown fields and state types, transitions to
//! missing states, unreachable states, malformed paths, payload templates,
//! intrinsic calls and choice rules, and misplaced `States.ALL`.

use std::collections::{HashMap, HashSet, VecDeque};

use chrono::{DateTime, FixedOffset};
use serde_json::{Map, Value};

use super::choice::{Rule, parse_timestamp};
use super::intrinsics::Intrinsic;
use super::json::parse_strict;
use super::path::Path;
use super::template::Template;

/// The optimised Lambda integration.
pub(crate) const LAMBDA_INVOKE: &str = "arn:aws:states:::lambda:invoke";

/// Why a definition was rejected. Every variant names the state (empty for
/// the top level of the definition) and, where it applies, the field.
#[derive(Debug, thiserror::Error)]
pub enum DefinitionError {
    /// The text is not JSON (or not a JSON object, or has duplicate keys).
    #[error("the state machine definition is not valid: {0}")]
    Json(String),
    /// A field this state type does not have.
    #[error("{}: unknown field", at(.state, .field))]
    UnknownField {
        /// The state's name.
        state: String,
        /// The field, e.g. `Retry[0].Foo`.
        field: String,
    },
    /// A real ASL field the local interpreter does not implement.
    #[error("{}: not supported by the local interpreter: {reason}", at(.state, .field))]
    Unsupported {
        /// The state's name.
        state: String,
        /// The field.
        field: String,
        /// What is not supported.
        reason: String,
    },
    /// A required field is absent.
    #[error("{}: missing required field", at(.state, .field))]
    MissingField {
        /// The state's name.
        state: String,
        /// The field.
        field: String,
    },
    /// A field has a wrong value.
    #[error("{}: {message}", at(.state, .field))]
    InvalidField {
        /// The state's name.
        state: String,
        /// The field.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// `Type` names no state type.
    #[error("{}: unknown state type `{state_type}`", at(.state, "Type"))]
    UnknownStateType {
        /// The state's name.
        state: String,
        /// The `Type` found.
        state_type: String,
    },
    /// A transition (`Next`, `Default`, `StartAt`, a catcher's `Next`) to a
    /// state that does not exist (in the same scope).
    #[error("{}: there is no state named `{target}` (in this scope)", at(.state, .field))]
    MissingTarget {
        /// The state's name.
        state: String,
        /// The field holding the transition.
        field: String,
        /// The missing state's name.
        target: String,
    },
    /// No transition leads to the state.
    #[error("{}: the state is not reachable from StartAt", at(.state, ""))]
    Unreachable {
        /// The state's name.
        state: String,
    },
    /// Two states have the same name.
    #[error(
        "{}: another state has the same name (state names must be unique in the whole state machine)",
        at(.state, "")
    )]
    DuplicateState {
        /// The state's name.
        state: String,
    },
}

impl DefinitionError {
    /// The state at fault (empty for the definition's top level), if any.
    pub fn state(&self) -> Option<&str> {
        match self {
            DefinitionError::Json(_) => None,
            DefinitionError::UnknownField { state, .. }
            | DefinitionError::Unsupported { state, .. }
            | DefinitionError::MissingField { state, .. }
            | DefinitionError::InvalidField { state, .. }
            | DefinitionError::UnknownStateType { state, .. }
            | DefinitionError::MissingTarget { state, .. }
            | DefinitionError::Unreachable { state }
            | DefinitionError::DuplicateState { state } => Some(state),
        }
    }

    /// The field at fault, if any.
    pub fn field(&self) -> Option<&str> {
        match self {
            DefinitionError::UnknownField { field, .. }
            | DefinitionError::Unsupported { field, .. }
            | DefinitionError::MissingField { field, .. }
            | DefinitionError::InvalidField { field, .. }
            | DefinitionError::MissingTarget { field, .. } => Some(field),
            DefinitionError::UnknownStateType { .. } => Some("Type"),
            _ => None,
        }
    }
}

/// "state `X`, field `F`" for messages.
fn at(state: &str, field: &str) -> String {
    match (state.is_empty(), field.is_empty()) {
        (true, true) => "state machine".to_owned(),
        (true, false) => format!("state machine, field `{field}`"),
        (false, true) => format!("state `{state}`"),
        (false, false) => format!("state `{state}`, field `{field}`"),
    }
}

/// A parsed and validated state machine definition.
#[derive(Debug)]
pub struct StateMachine {
    pub(crate) graph: Graph,
    pub(crate) timeout_seconds: Option<u64>,
    pub(crate) name: String,
    comment: Option<String>,
}

impl StateMachine {
    /// Parses and validates an ASL definition (JSON text).
    pub fn from_json(text: &str) -> Result<Self, DefinitionError> {
        let value = parse_strict(text).map_err(|e| DefinitionError::Json(e.to_string()))?;
        Self::from_value(&value)
    }

    /// Validates a definition parsed by [`StateMachine::from_json`].
    fn from_value(value: &Value) -> Result<Self, DefinitionError> {
        let Value::Object(map) = value else {
            return Err(DefinitionError::Json(
                "the definition must be a JSON object".into(),
            ));
        };
        let top = Obj::new("", "", map);
        top.check_fields(
            &[
                "StartAt",
                "States",
                "Comment",
                "TimeoutSeconds",
                "Version",
                "QueryLanguage",
            ],
            &[],
        )?;
        top.query_language()?;
        let comment = top.string("Comment")?.map(str::to_owned);
        top.string("Version")?;
        let timeout_seconds = top.positive("TimeoutSeconds")?;
        let mut loader = Loader::default();
        let graph = loader.graph(&top)?;
        Ok(StateMachine {
            graph,
            timeout_seconds,
            name: "StateMachine".to_owned(),
            comment,
        })
    }

    /// Sets the name used in `$$.StateMachine.Name`, `$$.StateMachine.Id` and
    /// `$$.Execution.Id` (default: `StateMachine`).
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The state machine's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The definition's top-level `Comment`.
    pub fn comment(&self) -> Option<&str> {
        self.comment.as_deref()
    }

    /// The top-level `StartAt` state.
    pub fn start_at(&self) -> &str {
        &self.graph.start_at
    }
}

/// A set of states with a start: the machine itself, a Parallel branch or a
/// Map's item processor.
#[derive(Debug)]
pub(crate) struct Graph {
    pub(crate) start_at: String,
    pub(crate) states: HashMap<String, State>,
}

/// One state. The input/output fields a state type does not have keep their
/// neutral defaults (`$`, no template).
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) name: String,
    /// `None` for `"InputPath": null`.
    pub(crate) input_path: Option<Path>,
    /// `None` for `"OutputPath": null`.
    pub(crate) output_path: Option<Path>,
    /// `Parameters` (not for Map, whose legacy `Parameters` is its item
    /// selector).
    pub(crate) parameters: Option<Template>,
    pub(crate) result_selector: Option<Template>,
    /// `None` for `"ResultPath": null`.
    pub(crate) result_path: Option<Path>,
    pub(crate) retry: Vec<Retrier>,
    pub(crate) catch: Vec<Catcher>,
    pub(crate) transition: Transition,
    pub(crate) kind: Kind,
}

impl State {
    /// The state to go to after success (`None` when the state ends its
    /// scope, or decides itself, like Choice).
    pub(crate) fn next(&self) -> Option<&str> {
        match &self.transition {
            Transition::Next(next) => Some(next),
            Transition::End | Transition::Decided => None,
        }
    }

    /// Every transition of the state: (field, target).
    fn targets(&self) -> Vec<(String, &str)> {
        let mut targets = Vec::new();
        if let Transition::Next(next) = &self.transition {
            targets.push(("Next".to_owned(), next.as_str()));
        }
        if let Kind::Choice { choices, default } = &self.kind {
            for (i, (_, next)) in choices.iter().enumerate() {
                targets.push((format!("Choices[{i}].Next"), next.as_str()));
            }
            if let Some(default) = default {
                targets.push(("Default".to_owned(), default.as_str()));
            }
        }
        for (i, catcher) in self.catch.iter().enumerate() {
            targets.push((format!("Catch[{i}].Next"), catcher.next.as_str()));
        }
        targets
    }
}

/// Where a state goes after success.
#[derive(Debug)]
pub(crate) enum Transition {
    Next(String),
    End,
    /// Choice, Succeed and Fail: no `Next`/`End` field.
    Decided,
}

/// A number of seconds (or items) given literally or by a reference path.
#[derive(Debug)]
pub(crate) enum Amount {
    Literal(u64),
    Path(Path),
}

/// A Fail state's `Error`/`Cause`.
#[derive(Debug)]
pub(crate) enum Dynamic {
    Literal(String),
    Path(Path),
    Intrinsic(Intrinsic),
}

/// How long a Wait state waits.
#[derive(Debug)]
pub(crate) enum WaitFor {
    Seconds(u64),
    SecondsPath(Path),
    Timestamp(DateTime<FixedOffset>),
    TimestampPath(Path),
}

/// What a state does, by type.
#[derive(Debug)]
pub(crate) enum Kind {
    Pass {
        result: Option<Value>,
    },
    Task {
        resource: String,
        timeout: Option<Amount>,
    },
    Choice {
        choices: Vec<(Rule, String)>,
        default: Option<String>,
    },
    Wait(WaitFor),
    Succeed,
    Fail {
        error: Option<Dynamic>,
        cause: Option<Dynamic>,
    },
    Map(Box<MapSpec>),
    Parallel {
        branches: Vec<Graph>,
    },
}

/// A Map state's specifics.
#[derive(Debug)]
pub(crate) struct MapSpec {
    pub(crate) items_path: Path,
    pub(crate) item_selector: Option<Template>,
    pub(crate) processor: Graph,
    /// 0 means unbounded.
    pub(crate) max_concurrency: Amount,
}

/// One element of `Retry`.
#[derive(Debug)]
pub(crate) struct Retrier {
    pub(crate) error_equals: Vec<String>,
    pub(crate) interval_seconds: f64,
    pub(crate) max_attempts: u32,
    pub(crate) backoff_rate: f64,
    pub(crate) max_delay_seconds: Option<f64>,
    pub(crate) full_jitter: bool,
}

impl Retrier {
    /// The delay before retry number `attempt` (0-based), before jitter.
    pub(crate) fn delay_seconds(&self, attempt: u32) -> f64 {
        let delay = self.interval_seconds * self.backoff_rate.powf(f64::from(attempt));
        match self.max_delay_seconds {
            Some(max) => delay.min(max),
            None => delay,
        }
    }
}

/// One element of `Catch`.
#[derive(Debug)]
pub(crate) struct Catcher {
    pub(crate) error_equals: Vec<String>,
    pub(crate) next: String,
    /// `None` for `"ResultPath": null`.
    pub(crate) result_path: Option<Path>,
}

/// Which fields each state type has (besides `Type` and `Comment`).
fn allowed_fields(state_type: &str) -> Option<&'static [&'static str]> {
    Some(match state_type {
        "Pass" => &[
            "Next",
            "End",
            "InputPath",
            "OutputPath",
            "Parameters",
            "ResultPath",
            "Result",
        ],
        "Task" => &[
            "Next",
            "End",
            "InputPath",
            "OutputPath",
            "Parameters",
            "ResultSelector",
            "ResultPath",
            "Retry",
            "Catch",
            "Resource",
            "TimeoutSeconds",
            "TimeoutSecondsPath",
            "HeartbeatSeconds",
            "HeartbeatSecondsPath",
        ],
        "Choice" => &["Choices", "Default", "InputPath", "OutputPath"],
        "Wait" => &[
            "Next",
            "End",
            "InputPath",
            "OutputPath",
            "Seconds",
            "SecondsPath",
            "Timestamp",
            "TimestampPath",
        ],
        "Succeed" => &["InputPath", "OutputPath"],
        "Fail" => &["Error", "ErrorPath", "Cause", "CausePath"],
        "Map" => &[
            "Next",
            "End",
            "InputPath",
            "OutputPath",
            "ItemsPath",
            "ItemSelector",
            "Parameters",
            "ItemProcessor",
            "Iterator",
            "MaxConcurrency",
            "MaxConcurrencyPath",
            "ResultSelector",
            "ResultPath",
            "Retry",
            "Catch",
        ],
        "Parallel" => &[
            "Next",
            "End",
            "InputPath",
            "OutputPath",
            "Parameters",
            "ResultSelector",
            "ResultPath",
            "Retry",
            "Catch",
            "Branches",
        ],
        _ => return None,
    })
}

const JSONATA: &str = "it belongs to the JSONata query language; only JSONPath is supported";
const DISTRIBUTED: &str = "distributed Map features are not supported; only inline Map is";

/// Real ASL fields this interpreter does not implement, with the reason.
const UNSUPPORTED: &[(&str, &str)] = &[
    ("Assign", "workflow variables (`Assign`) are not supported"),
    ("Arguments", JSONATA),
    ("Output", JSONATA),
    ("Items", JSONATA),
    (
        "Credentials",
        "cross-account task `Credentials` are not supported",
    ),
    ("ItemReader", DISTRIBUTED),
    ("ItemBatcher", DISTRIBUTED),
    ("ResultWriter", DISTRIBUTED),
    ("Label", DISTRIBUTED),
    ("ToleratedFailurePercentage", DISTRIBUTED),
    ("ToleratedFailurePercentagePath", DISTRIBUTED),
    ("ToleratedFailureCount", DISTRIBUTED),
    ("ToleratedFailureCountPath", DISTRIBUTED),
];

/// The fields of the optimised Lambda integration's `Parameters`.
const LAMBDA_PARAMETERS: &[&str] = &[
    "FunctionName",
    "Payload",
    "InvocationType",
    "Qualifier",
    "ClientContext",
    "LogType",
];

/// Field access on one JSON object of the definition, with errors naming
/// the state and the field (prefixed, e.g. `Retry[0].`).
struct Obj<'a> {
    state: &'a str,
    prefix: String,
    map: &'a Map<String, Value>,
}

impl<'a> Obj<'a> {
    fn new(state: &'a str, prefix: &str, map: &'a Map<String, Value>) -> Self {
        Obj {
            state,
            prefix: prefix.to_owned(),
            map,
        }
    }

    fn field(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// An optional field holding an array of objects (`Retry`, `Catch`), each
    /// as a nested `Obj` whose fields are named `Field[i].…`; absent means empty.
    fn object_array(&self, name: &str, what: &str) -> Result<Vec<Obj<'a>>, DefinitionError> {
        let Some(value) = self.get(name) else {
            return Ok(Vec::new());
        };
        let Value::Array(items) = value else {
            return Err(self.invalid(name, format!("must be an array of {what}s")));
        };
        items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::Object(map) => Ok(Obj::new(self.state, &format!("{name}[{i}]."), map)),
                _ => Err(self.invalid(
                    &format!("{name}[{i}]"),
                    format!("a {what} must be an object"),
                )),
            })
            .collect()
    }

    fn invalid(&self, name: &str, message: impl Into<String>) -> DefinitionError {
        DefinitionError::InvalidField {
            state: self.state.to_owned(),
            field: self.field(name),
            message: message.into(),
        }
    }

    fn missing(&self, name: &str) -> DefinitionError {
        DefinitionError::MissingField {
            state: self.state.to_owned(),
            field: self.field(name),
        }
    }

    /// Rejects every field not in `allowed` (`Comment` is always allowed).
    fn check_fields(&self, allowed: &[&str], extra: &[&str]) -> Result<(), DefinitionError> {
        for key in self.map.keys() {
            let key = key.as_str();
            if key == "Comment" || allowed.contains(&key) || extra.contains(&key) {
                continue;
            }
            if let Some((_, reason)) = UNSUPPORTED.iter().find(|(name, _)| *name == key) {
                return Err(DefinitionError::Unsupported {
                    state: self.state.to_owned(),
                    field: self.field(key),
                    reason: (*reason).to_owned(),
                });
            }
            return Err(DefinitionError::UnknownField {
                state: self.state.to_owned(),
                field: self.field(key),
            });
        }
        if let Some(comment) = self.map.get("Comment")
            && !comment.is_string()
        {
            return Err(self.invalid("Comment", "must be a string"));
        }
        Ok(())
    }

    fn get(&self, name: &str) -> Option<&'a Value> {
        self.map.get(name)
    }

    fn has(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }

    fn string(&self, name: &str) -> Result<Option<&'a str>, DefinitionError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(self.invalid(name, "must be a string")),
        }
    }

    fn required_string(&self, name: &str) -> Result<&'a str, DefinitionError> {
        self.string(name)?.ok_or_else(|| self.missing(name))
    }

    /// A non-negative integer.
    fn unsigned(&self, name: &str) -> Result<Option<u64>, DefinitionError> {
        match self.get(name) {
            None => Ok(None),
            Some(value) => value
                .as_u64()
                .map(Some)
                .ok_or_else(|| self.invalid(name, "must be a non-negative integer")),
        }
    }

    /// A positive integer.
    fn positive(&self, name: &str) -> Result<Option<u64>, DefinitionError> {
        match self.get(name) {
            None => Ok(None),
            Some(value) => value
                .as_u64()
                .filter(|n| *n > 0)
                .map(Some)
                .ok_or_else(|| self.invalid(name, "must be a positive integer")),
        }
    }

    fn number(&self, name: &str) -> Result<Option<f64>, DefinitionError> {
        match self.get(name) {
            None => Ok(None),
            Some(value) => value
                .as_f64()
                .map(Some)
                .ok_or_else(|| self.invalid(name, "must be a number")),
        }
    }

    /// A path field; `reference` requires a reference path on the input.
    fn path(&self, name: &str, reference: bool) -> Result<Option<Path>, DefinitionError> {
        let Some(text) = self.string(name)? else {
            return Ok(None);
        };
        let path = Path::parse(text).map_err(|e| self.invalid(name, e))?;
        if reference && !path.is_reference() {
            return Err(self.invalid(
                name,
                format!(
                    "`{text}` must be a reference path (`$` followed by field names and indexes only)"
                ),
            ));
        }
        Ok(Some(path))
    }

    /// `InputPath`, `OutputPath`, `ResultPath`: absent means `$`, `null`
    /// means `None`.
    fn nullable_path(&self, name: &str, reference: bool) -> Result<Option<Path>, DefinitionError> {
        match self.get(name) {
            None => Path::parse("$")
                .map(Some)
                .map_err(|e| self.invalid(name, e)),
            Some(Value::Null) => Ok(None),
            Some(_) => self.path(name, reference),
        }
    }

    fn template(&self, name: &str) -> Result<Option<Template>, DefinitionError> {
        match self.get(name) {
            None => Ok(None),
            Some(value) => Template::compile(value)
                .map(Some)
                .map_err(|e| self.invalid(name, e)),
        }
    }

    /// At most one of `names` may be present.
    fn exclusive(&self, names: &[&str]) -> Result<(), DefinitionError> {
        let present: Vec<&str> = names.iter().copied().filter(|n| self.has(n)).collect();
        if present.len() > 1 {
            return Err(self.invalid(
                present[1],
                format!(
                    "`{}` and `{}` cannot both be present",
                    present[0], present[1]
                ),
            ));
        }
        Ok(())
    }

    fn query_language(&self) -> Result<(), DefinitionError> {
        match self.string("QueryLanguage")? {
            None | Some("JSONPath") => Ok(()),
            Some("JSONata") => Err(self.invalid(
                "QueryLanguage",
                "the JSONata query language is not supported; use JSONPath",
            )),
            Some(other) => Err(self.invalid(
                "QueryLanguage",
                format!("unknown query language `{other}`; only JSONPath is supported"),
            )),
        }
    }
}

/// Loads states, remembering every state name seen (they must be unique in
/// the whole machine).
#[derive(Default)]
struct Loader {
    names: HashSet<String>,
}

impl Loader {
    /// Parses `StartAt` and `States` of `obj` and validates the transitions.
    fn graph(&mut self, obj: &Obj<'_>) -> Result<Graph, DefinitionError> {
        let start_at = obj.required_string("StartAt")?;
        let states_map = match obj.get("States") {
            None => return Err(obj.missing("States")),
            Some(Value::Object(map)) if !map.is_empty() => map,
            Some(_) => {
                return Err(obj.invalid("States", "must be an object with at least one state"));
            }
        };
        let mut states = HashMap::with_capacity(states_map.len());
        for (name, value) in states_map {
            if name.is_empty() {
                return Err(obj.invalid("States", "a state name must not be empty"));
            }
            if !self.names.insert(name.clone()) {
                return Err(DefinitionError::DuplicateState {
                    state: name.clone(),
                });
            }
            states.insert(name.clone(), self.state(name, value)?);
        }
        if !states.contains_key(start_at) {
            return Err(DefinitionError::MissingTarget {
                state: obj.state.to_owned(),
                field: obj.field("StartAt"),
                target: start_at.to_owned(),
            });
        }
        // Definition order, for deterministic errors.
        for name in states_map.keys() {
            let state = &states[name];
            for (field, target) in state.targets() {
                if !states.contains_key(target) {
                    return Err(DefinitionError::MissingTarget {
                        state: name.clone(),
                        field,
                        target: target.to_owned(),
                    });
                }
            }
        }
        let mut reached: HashSet<&str> = HashSet::from([start_at]);
        let mut queue = VecDeque::from([start_at]);
        while let Some(name) = queue.pop_front() {
            for (_, target) in states[name].targets() {
                if reached.insert(target) {
                    queue.push_back(target);
                }
            }
        }
        if let Some(name) = states_map.keys().find(|n| !reached.contains(n.as_str())) {
            return Err(DefinitionError::Unreachable {
                state: name.clone(),
            });
        }
        Ok(Graph {
            start_at: start_at.to_owned(),
            states,
        })
    }

    /// A nested graph (Parallel branch, Map processor) at `prefix` in state
    /// `owner`.
    fn nested_graph(
        &mut self,
        owner: &str,
        prefix: &str,
        value: &Value,
        extra: &[&str],
    ) -> Result<Graph, DefinitionError> {
        let field = prefix.trim_end_matches('.');
        let Value::Object(map) = value else {
            return Err(DefinitionError::InvalidField {
                state: owner.to_owned(),
                field: field.to_owned(),
                message: "must be an object with StartAt and States".into(),
            });
        };
        let obj = Obj::new(owner, prefix, map);
        obj.check_fields(&["StartAt", "States"], extra)?;
        self.graph(&obj)
    }

    fn state(&mut self, name: &str, value: &Value) -> Result<State, DefinitionError> {
        let Value::Object(map) = value else {
            return Err(DefinitionError::InvalidField {
                state: name.to_owned(),
                field: String::new(),
                message: "a state must be a JSON object".into(),
            });
        };
        let obj = Obj::new(name, "", map);
        let state_type = obj.required_string("Type")?;
        let Some(allowed) = allowed_fields(state_type) else {
            return Err(DefinitionError::UnknownStateType {
                state: name.to_owned(),
                state_type: state_type.to_owned(),
            });
        };
        obj.check_fields(allowed, &["Type", "QueryLanguage"])?;
        obj.query_language()?;

        let transition = match state_type {
            "Choice" | "Succeed" | "Fail" => Transition::Decided,
            _ => {
                let next = obj.string("Next")?;
                let end = match obj.get("End") {
                    None => false,
                    Some(Value::Bool(end)) => *end,
                    Some(_) => return Err(obj.invalid("End", "must be a boolean")),
                };
                match (next, end) {
                    (Some(next), false) => Transition::Next(next.to_owned()),
                    (None, true) => Transition::End,
                    (Some(_), true) => {
                        return Err(obj.invalid(
                            "End",
                            "a state cannot have both `Next` and `\"End\": true`",
                        ));
                    }
                    (None, false) => {
                        return Err(
                            obj.invalid("Next", "the state has neither `Next` nor `\"End\": true`")
                        );
                    }
                }
            }
        };

        let mut state = State {
            name: name.to_owned(),
            input_path: obj.nullable_path("InputPath", false)?,
            output_path: obj.nullable_path("OutputPath", false)?,
            parameters: None,
            result_selector: obj.template("ResultSelector")?,
            result_path: obj.nullable_path("ResultPath", true)?,
            retry: self.retriers(&obj)?,
            catch: self.catchers(&obj)?,
            transition,
            kind: Kind::Succeed,
        };
        if state_type != "Map" {
            state.parameters = obj.template("Parameters")?;
        }
        state.kind = match state_type {
            "Pass" => Kind::Pass {
                result: obj.get("Result").cloned(),
            },
            "Task" => self.task(&obj, &state)?,
            "Choice" => self.choice(&obj)?,
            "Wait" => Kind::Wait(self.wait(&obj)?),
            "Succeed" => Kind::Succeed,
            "Fail" => self.fail(&obj)?,
            "Map" => Kind::Map(Box::new(self.map(&obj)?)),
            "Parallel" => self.parallel(&obj)?,
            other => {
                return Err(DefinitionError::UnknownStateType {
                    state: name.to_owned(),
                    state_type: other.to_owned(),
                });
            }
        };
        Ok(state)
    }

    fn task(&mut self, obj: &Obj<'_>, state: &State) -> Result<Kind, DefinitionError> {
        let resource = obj.required_string("Resource")?;
        if resource.is_empty() {
            return Err(obj.invalid("Resource", "must not be empty"));
        }
        if resource == LAMBDA_INVOKE {
            let Some(parameters) = &state.parameters else {
                return Err(obj.invalid(
                    "Parameters",
                    format!("`{LAMBDA_INVOKE}` needs Parameters with a FunctionName"),
                ));
            };
            let keys = parameters.keys();
            if !keys.iter().any(|k| k == "FunctionName") {
                return Err(obj.invalid(
                    "Parameters.FunctionName",
                    format!("`{LAMBDA_INVOKE}` needs a FunctionName (or FunctionName.$)"),
                ));
            }
            if let Some(unknown) = keys
                .iter()
                .find(|k| !LAMBDA_PARAMETERS.contains(&k.as_str()))
            {
                return Err(DefinitionError::UnknownField {
                    state: obj.state.to_owned(),
                    field: format!("Parameters.{unknown}"),
                });
            }
        }
        obj.exclusive(&["TimeoutSeconds", "TimeoutSecondsPath"])?;
        obj.exclusive(&["HeartbeatSeconds", "HeartbeatSecondsPath"])?;
        let timeout = match (
            obj.positive("TimeoutSeconds")?,
            obj.path("TimeoutSecondsPath", true)?,
        ) {
            (Some(seconds), _) => Some(Amount::Literal(seconds)),
            (None, Some(path)) => Some(Amount::Path(path)),
            (None, None) => None,
        };
        let heartbeat = obj.positive("HeartbeatSeconds")?;
        obj.path("HeartbeatSecondsPath", true)?;
        if let (Some(heartbeat), Some(Amount::Literal(timeout))) = (heartbeat, &timeout)
            && heartbeat >= *timeout
        {
            return Err(obj.invalid("HeartbeatSeconds", "must be smaller than TimeoutSeconds"));
        }
        Ok(Kind::Task {
            resource: resource.to_owned(),
            timeout,
        })
    }

    fn choice(&mut self, obj: &Obj<'_>) -> Result<Kind, DefinitionError> {
        let items = match obj.get("Choices") {
            None => return Err(obj.missing("Choices")),
            Some(Value::Array(items)) if !items.is_empty() => items,
            Some(_) => {
                return Err(obj.invalid("Choices", "must be a non-empty array of choice rules"));
            }
        };
        let mut choices = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let at = format!("Choices[{i}]");
            let rule = Rule::parse(item, &at, true).map_err(|(field, message)| {
                DefinitionError::InvalidField {
                    state: obj.state.to_owned(),
                    field,
                    message,
                }
            })?;
            let next = match item.get("Next") {
                Some(Value::String(next)) => next.clone(),
                _ => return Err(obj.invalid(&format!("{at}.Next"), "must be a state name")),
            };
            choices.push((rule, next));
        }
        Ok(Kind::Choice {
            choices,
            default: obj.string("Default")?.map(str::to_owned),
        })
    }

    fn wait(&mut self, obj: &Obj<'_>) -> Result<WaitFor, DefinitionError> {
        let fields = ["Seconds", "SecondsPath", "Timestamp", "TimestampPath"];
        obj.exclusive(&fields)?;
        if let Some(seconds) = obj.unsigned("Seconds")? {
            return Ok(WaitFor::Seconds(seconds));
        }
        if let Some(path) = obj.path("SecondsPath", true)? {
            return Ok(WaitFor::SecondsPath(path));
        }
        if let Some(text) = obj.string("Timestamp")? {
            return parse_timestamp(text)
                .map(WaitFor::Timestamp)
                .ok_or_else(|| {
                    obj.invalid(
                        "Timestamp",
                        format!(
                            "`{text}` is not an RFC 3339 timestamp (e.g. 2024-01-31T12:00:00Z)"
                        ),
                    )
                });
        }
        if let Some(path) = obj.path("TimestampPath", true)? {
            return Ok(WaitFor::TimestampPath(path));
        }
        Err(obj.invalid(
            "Seconds",
            "a Wait state needs one of Seconds, SecondsPath, Timestamp or TimestampPath",
        ))
    }

    fn fail(&mut self, obj: &Obj<'_>) -> Result<Kind, DefinitionError> {
        obj.exclusive(&["Error", "ErrorPath"])?;
        obj.exclusive(&["Cause", "CausePath"])?;
        let dynamic = |literal: &str, path: &str| -> Result<Option<Dynamic>, DefinitionError> {
            if let Some(text) = obj.string(literal)? {
                return Ok(Some(Dynamic::Literal(text.to_owned())));
            }
            let Some(text) = obj.string(path)? else {
                return Ok(None);
            };
            if Intrinsic::looks_like(text) {
                return Intrinsic::parse(text)
                    .map(|call| Some(Dynamic::Intrinsic(call)))
                    .map_err(|e| obj.invalid(path, e));
            }
            let parsed = Path::parse(text).map_err(|e| obj.invalid(path, e))?;
            Ok(Some(Dynamic::Path(parsed)))
        };
        Ok(Kind::Fail {
            error: dynamic("Error", "ErrorPath")?,
            cause: dynamic("Cause", "CausePath")?,
        })
    }

    fn map(&mut self, obj: &Obj<'_>) -> Result<MapSpec, DefinitionError> {
        obj.exclusive(&["ItemSelector", "Parameters"])?;
        obj.exclusive(&["ItemProcessor", "Iterator"])?;
        obj.exclusive(&["MaxConcurrency", "MaxConcurrencyPath"])?;
        let items_path = match obj.path("ItemsPath", false)? {
            Some(path) if !path.is_definite() => {
                return Err(obj.invalid("ItemsPath", "must be a reference path (no wildcards)"));
            }
            Some(path) => path,
            None => Path::parse("$").map_err(|e| obj.invalid("ItemsPath", e))?,
        };
        let item_selector = match obj.template("ItemSelector")? {
            Some(template) => Some(template),
            None => obj.template("Parameters")?,
        };
        let processor = if let Some(value) = obj.get("ItemProcessor") {
            if let Value::Object(processor) = value
                && let Some(config) = processor.get("ProcessorConfig")
            {
                self.processor_config(obj.state, config)?;
            }
            self.nested_graph(obj.state, "ItemProcessor.", value, &["ProcessorConfig"])?
        } else if let Some(value) = obj.get("Iterator") {
            self.nested_graph(obj.state, "Iterator.", value, &[])?
        } else {
            return Err(obj.missing("ItemProcessor"));
        };
        let max_concurrency = match obj.path("MaxConcurrencyPath", true)? {
            Some(path) => Amount::Path(path),
            None => Amount::Literal(obj.unsigned("MaxConcurrency")?.unwrap_or(0)),
        };
        Ok(MapSpec {
            items_path,
            item_selector,
            processor,
            max_concurrency,
        })
    }

    fn processor_config(&mut self, state: &str, config: &Value) -> Result<(), DefinitionError> {
        let Value::Object(map) = config else {
            return Err(DefinitionError::InvalidField {
                state: state.to_owned(),
                field: "ItemProcessor.ProcessorConfig".into(),
                message: "must be an object".into(),
            });
        };
        let obj = Obj::new(state, "ItemProcessor.ProcessorConfig.", map);
        obj.check_fields(&["Mode"], &["ExecutionType"])?;
        match obj.string("Mode")? {
            None | Some("INLINE") => {}
            Some("DISTRIBUTED") => {
                return Err(DefinitionError::Unsupported {
                    state: state.to_owned(),
                    field: obj.field("Mode"),
                    reason: DISTRIBUTED.into(),
                });
            }
            Some(other) => {
                return Err(obj.invalid(
                    "Mode",
                    format!("must be INLINE or DISTRIBUTED, not `{other}`"),
                ));
            }
        }
        if obj.has("ExecutionType") {
            return Err(DefinitionError::Unsupported {
                state: state.to_owned(),
                field: obj.field("ExecutionType"),
                reason: DISTRIBUTED.into(),
            });
        }
        Ok(())
    }

    fn parallel(&mut self, obj: &Obj<'_>) -> Result<Kind, DefinitionError> {
        let items = match obj.get("Branches") {
            None => return Err(obj.missing("Branches")),
            Some(Value::Array(items)) if !items.is_empty() => items,
            Some(_) => return Err(obj.invalid("Branches", "must be a non-empty array")),
        };
        let branches = items
            .iter()
            .enumerate()
            .map(|(i, item)| self.nested_graph(obj.state, &format!("Branches[{i}]."), item, &[]))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Kind::Parallel { branches })
    }

    fn retriers(&mut self, obj: &Obj<'_>) -> Result<Vec<Retrier>, DefinitionError> {
        let items = obj.object_array("Retry", "retrier")?;
        let mut retriers = Vec::with_capacity(items.len());
        let last = items.len().saturating_sub(1);
        for (i, r) in items.into_iter().enumerate() {
            r.check_fields(
                &[
                    "ErrorEquals",
                    "IntervalSeconds",
                    "MaxAttempts",
                    "BackoffRate",
                    "MaxDelaySeconds",
                    "JitterStrategy",
                ],
                &[],
            )?;
            let error_equals = error_equals(&r, i == last, "retrier")?;
            let max_attempts = r.unsigned("MaxAttempts")?.unwrap_or(3);
            let max_attempts = u32::try_from(max_attempts)
                .ok()
                .filter(|n| *n <= 99_999_999)
                .ok_or_else(|| r.invalid("MaxAttempts", "must be at most 99999999"))?;
            let backoff_rate = r.number("BackoffRate")?.unwrap_or(2.0);
            if backoff_rate < 1.0 {
                return Err(r.invalid("BackoffRate", "must be at least 1.0"));
            }
            let full_jitter = match r.string("JitterStrategy")? {
                None | Some("NONE") => false,
                Some("FULL") => true,
                Some(other) => {
                    return Err(r.invalid(
                        "JitterStrategy",
                        format!("must be FULL or NONE, not `{other}`"),
                    ));
                }
            };
            retriers.push(Retrier {
                error_equals,
                interval_seconds: r.positive("IntervalSeconds")?.unwrap_or(1) as f64,
                max_attempts,
                backoff_rate,
                max_delay_seconds: r.positive("MaxDelaySeconds")?.map(|s| s as f64),
                full_jitter,
            });
        }
        Ok(retriers)
    }

    fn catchers(&mut self, obj: &Obj<'_>) -> Result<Vec<Catcher>, DefinitionError> {
        let items = obj.object_array("Catch", "catcher")?;
        let mut catchers = Vec::with_capacity(items.len());
        let last = items.len().saturating_sub(1);
        for (i, c) in items.into_iter().enumerate() {
            c.check_fields(&["ErrorEquals", "Next", "ResultPath"], &[])?;
            catchers.push(Catcher {
                error_equals: error_equals(&c, i == last, "catcher")?,
                next: c.required_string("Next")?.to_owned(),
                result_path: c.nullable_path("ResultPath", true)?,
            });
        }
        Ok(catchers)
    }
}

/// A retrier's or catcher's `ErrorEquals`; `States.ALL` must be alone and in
/// the last one.
fn error_equals(obj: &Obj<'_>, is_last: bool, what: &str) -> Result<Vec<String>, DefinitionError> {
    let items = match obj.get("ErrorEquals") {
        None => return Err(obj.missing("ErrorEquals")),
        Some(Value::Array(items)) if !items.is_empty() => items,
        Some(_) => {
            return Err(obj.invalid("ErrorEquals", "must be a non-empty array of error names"));
        }
    };
    let names = items
        .iter()
        .map(|item| item.as_str().map(str::to_owned))
        .collect::<Option<Vec<String>>>()
        .ok_or_else(|| obj.invalid("ErrorEquals", "error names must be strings"))?;
    if names.iter().any(|n| n == super::errors::ALL) {
        if names.len() > 1 {
            return Err(obj.invalid("ErrorEquals", "States.ALL must appear alone"));
        }
        if !is_last {
            return Err(obj.invalid(
                "ErrorEquals",
                format!("States.ALL must be in the last {what}"),
            ));
        }
    }
    Ok(names)
}
