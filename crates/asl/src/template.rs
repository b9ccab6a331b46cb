//! Payload templates: `Parameters`, `ResultSelector` and `ItemSelector`.
//!
//! A template is any JSON value. In its objects (however deeply nested,
//! arrays included), a key ending in `.$` takes a value computed at run time:
//! its string is a path on the input (`$…`), a path on the context object
//! (`$$…`) or an intrinsic function call; the output key drops the `.$`.

use crate::Refused;
use std::collections::HashSet;

use serde_json::{Map, Value};

use super::TaskFailure;
use super::context::Context;
use super::intrinsics::Intrinsic;
use super::path::Path;

/// A compiled payload template.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Template {
    /// A value with nothing dynamic in it.
    Literal(Value),
    /// An object with at least one dynamic field somewhere.
    Object(Vec<(String, Field)>),
    /// An array with at least one dynamic field somewhere.
    Array(Vec<Template>),
}

/// One field of an object template.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Field {
    /// A plain key: its value is itself a template.
    Static(Template),
    /// A `key.$` with a path.
    Path(Path),
    /// A `key.$` with an intrinsic function call.
    Intrinsic(Intrinsic),
}

impl Template {
    /// Compiles a template; the error names the offending key.
    pub(crate) fn compile(value: &Value) -> Result<Template, Refused> {
        match value {
            Value::Object(map) => {
                let mut fields = Vec::with_capacity(map.len());
                let mut seen = HashSet::new();
                let mut dynamic = false;
                for (key, value) in map {
                    let (name, field) = match key.strip_suffix(".$") {
                        Some(name) => {
                            let Value::String(text) = value else {
                                return Err(format!(
                                    "the value of `{key}` must be a string (a path or an intrinsic function call)"
                                ).into());
                            };
                            let field = if Intrinsic::looks_like(text) {
                                Field::Intrinsic(
                                    Intrinsic::parse(text).map_err(|e| format!("`{key}`: {e}"))?,
                                )
                            } else {
                                Field::Path(Path::parse(text).map_err(|e| format!("`{key}`: {e}"))?)
                            };
                            dynamic = true;
                            (name.to_owned(), field)
                        }
                        None => {
                            let template =
                                Template::compile(value).map_err(|e| format!("`{key}`: {e}"))?;
                            dynamic |= !matches!(template, Template::Literal(_));
                            (key.clone(), Field::Static(template))
                        }
                    };
                    if !seen.insert(name.clone()) {
                        return Err(format!(
                            "`{name}` and `{name}.$` cannot both be present in one object"
                        )
                        .into());
                    }
                    fields.push((name, field));
                }
                Ok(if dynamic {
                    Template::Object(fields)
                } else {
                    Template::Literal(value.clone())
                })
            }
            Value::Array(items) => {
                let items = items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| Template::compile(item).map_err(|e| format!("[{i}]: {e}")))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(
                    if items
                        .iter()
                        .all(|item| matches!(item, Template::Literal(_)))
                    {
                        Template::Literal(value.clone())
                    } else {
                        Template::Array(items)
                    },
                )
            }
            other => Ok(Template::Literal(other.clone())),
        }
    }

    /// Instantiates the template; `$` paths apply to `input`.
    pub(crate) fn eval(&self, input: &Value, ctx: &Context<'_>) -> Result<Value, TaskFailure> {
        match self {
            Template::Literal(value) => Ok(value.clone()),
            Template::Array(items) => items
                .iter()
                .map(|item| item.eval(input, ctx))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            Template::Object(fields) => {
                let mut out = Map::with_capacity(fields.len());
                for (name, field) in fields {
                    let value = match field {
                        Field::Static(template) => template.eval(input, ctx)?,
                        Field::Path(path) => {
                            ctx.select(path, input, &format!("the field '{name}.$'"))?
                        }
                        Field::Intrinsic(call) => call.eval(input, ctx)?,
                    };
                    out.insert(name.clone(), value);
                }
                Ok(Value::Object(out))
            }
        }
    }

    /// The statically known keys of an object template (with `.$` removed).
    pub(crate) fn keys(&self) -> Vec<String> {
        match self {
            Template::Object(fields) => fields.iter().map(|(name, _)| name.clone()).collect(),
            Template::Literal(Value::Object(map)) => map.keys().cloned().collect(),
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::context::ExecutionInfo;
    use super::*;
    use serde_json::json;

    fn info() -> ExecutionInfo {
        ExecutionInfo {
            id: "arn:exec".into(),
            name: "exec-1".into(),
            input: json!({"original": true}),
            start_time: "2024-01-01T00:00:00.000Z".into(),
            role_arn: "arn:role".into(),
            machine_id: "arn:machine".into(),
            machine_name: "machine".into(),
        }
    }

    #[test]
    fn instantiates_nested_paths_context_and_intrinsics() {
        let info = info();
        let item = json!("the item");
        let ctx = Context {
            execution: &info,
            state_name: "S",
            entered_time: "t",
            retry_count: 2,
            map_item: Some((3, &item)),
        };
        let template = Template::compile(&json!({
            "static": {"n": 1},
            "a.$": "$.x",
            "nested": {"b.$": "$.y[0]", "list": [{"c.$": "$$.Execution.Input"}, 7]},
            "name.$": "$$.Execution.Name",
            "retries.$": "$$.State.RetryCount",
            "index.$": "$$.Map.Item.Index",
            "value.$": "$$.Map.Item.Value",
            "greeting.$": "States.Format('hi {}', $.x)",
        }))
        .unwrap();
        assert_eq!(
            template
                .eval(&json!({"x": "X", "y": [true]}), &ctx)
                .unwrap(),
            json!({
                "static": {"n": 1},
                "a": "X",
                "nested": {"b": true, "list": [{"c": {"original": true}}, 7]},
                "name": "exec-1",
                "retries": 2,
                "index": 3,
                "value": "the item",
                "greeting": "hi X",
            })
        );
    }

    #[test]
    fn missing_paths_are_runtime_errors() {
        let info = info();
        let ctx = Context {
            execution: &info,
            state_name: "S",
            entered_time: "t",
            retry_count: 0,
            map_item: None,
        };
        let template = Template::compile(&json!({"a.$": "$.missing"})).unwrap();
        let err = template.eval(&json!({}), &ctx).unwrap_err();
        assert_eq!(err.error, "States.Runtime");
        assert!(err.cause.contains("'$.missing'"), "{}", err.cause);
        // `$$.Map.Item` only exists in a Map's ItemSelector.
        let template = Template::compile(&json!({"i.$": "$$.Map.Item.Index"})).unwrap();
        assert_eq!(
            template.eval(&json!({}), &ctx).unwrap_err().error,
            "States.Runtime"
        );
    }

    #[test]
    fn static_templates_are_literals() {
        let value = json!({"a": [1, {"b": "$.not-a-path"}]});
        assert_eq!(Template::compile(&value).unwrap(), Template::Literal(value));
    }

    #[test]
    fn rejects_bad_templates() {
        for bad in [
            json!({"a.$": 1}),
            json!({"a.$": "no-dollar"}),
            json!({"a.$": "States.Nope()"}),
            json!({"a": "x", "a.$": "$"}),
            json!({"outer": [{"a.$": "$.."}]}),
        ] {
            assert!(Template::compile(&bad).is_err(), "{bad} should be rejected");
        }
    }
}
