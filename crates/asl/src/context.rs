//! The context object (`$$`) and the evaluation of paths against it.

use serde_json::{Map, Value, json};

use super::TaskFailure;
use super::path::{Path, Root};

/// What is fixed for a whole execution.
#[derive(Debug)]
pub(crate) struct ExecutionInfo {
    /// `$$.Execution.Id`.
    pub(crate) id: String,
    /// `$$.Execution.Name`.
    pub(crate) name: String,
    /// `$$.Execution.Input`.
    pub(crate) input: Value,
    /// `$$.Execution.StartTime`.
    pub(crate) start_time: String,
    /// `$$.Execution.RoleArn`.
    pub(crate) role_arn: String,
    /// `$$.StateMachine.Id`.
    pub(crate) machine_id: String,
    /// `$$.StateMachine.Name`.
    pub(crate) machine_name: String,
}

/// The context object as one state (attempt) sees it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Context<'a> {
    pub(crate) execution: &'a ExecutionInfo,
    /// `$$.State.Name`.
    pub(crate) state_name: &'a str,
    /// `$$.State.EnteredTime`.
    pub(crate) entered_time: &'a str,
    /// `$$.State.RetryCount`.
    pub(crate) retry_count: u32,
    /// `$$.Map.Item.Index` and `$$.Map.Item.Value` (only in a Map's
    /// `ItemSelector`).
    pub(crate) map_item: Option<(usize, &'a Value)>,
}

impl Context<'_> {
    /// The context object as JSON.
    pub(crate) fn to_value(self) -> Value {
        let execution = self.execution;
        let mut context = json!({
            "Execution": {
                "Id": execution.id,
                "Input": execution.input,
                "Name": execution.name,
                "RoleArn": execution.role_arn,
                "StartTime": execution.start_time,
                "RedriveCount": 0,
            },
            "State": {
                "EnteredTime": self.entered_time,
                "Name": self.state_name,
                "RetryCount": self.retry_count,
            },
            "StateMachine": {
                "Id": execution.machine_id,
                "Name": execution.machine_name,
            },
        });
        if let (Some((index, value)), Value::Object(map)) = (self.map_item, &mut context) {
            let mut item = Map::new();
            item.insert("Index".into(), json!(index));
            item.insert("Value".into(), value.clone());
            map.insert("Map".into(), json!({ "Item": item }));
        }
        context
    }

    /// What `path` selects: in `input` for `$` paths, in the context object
    /// for `$$` paths. `None` when a definite path matches nothing.
    pub(crate) fn lookup(&self, path: &Path, input: &Value) -> Option<Value> {
        match path.root() {
            Root::Input => path.find(input),
            Root::Context => path.find(&self.to_value()),
        }
    }

    /// Like [`Context::lookup`], but a path that matches nothing is a
    /// `States.Runtime` error; `what` says which field the path is in.
    pub(crate) fn select(
        &self,
        path: &Path,
        input: &Value,
        what: &str,
    ) -> Result<Value, TaskFailure> {
        self.lookup(path, input).ok_or_else(|| {
            let document = match path.root() {
                Root::Input => format!("the input '{}'", truncate(&input.to_string())),
                Root::Context => "the context object".to_owned(),
            };
            TaskFailure::runtime(format!(
                "Invalid path '{}' in {what}: the path could not be found in {document}",
                path.text()
            ))
        })
    }
}

/// Cuts long JSON texts in error messages.
pub(crate) fn truncate(text: &str) -> String {
    const MAX: usize = 512;
    if text.len() <= MAX {
        return text.to_owned();
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}
