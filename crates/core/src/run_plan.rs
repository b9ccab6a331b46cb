//! What an execution does: its raw input, checked once — in the first step —
//! against every rule, into a typed [`RunPlan`] that every later step receives.
//!
//! The input (`docs/reruns.md` describes it for console users):
//!
//! ```json
//! {"tables": ["orders"] | "*", "mode": "incremental|reprocess|rebuild|reload|forget",
//!  "from": "2026-11-01", "to": "2026-11-20", "attempt": 1,
//!  "keys": [42, {"id": 7, "region": "eu"}], "requested_by": "DPO ticket 118"}
//! ```
//!
//! The daily schedule sends `{}`: every table, incremental, as a scheduled
//! run. A frequent schedule sends `{"cadence": "frequent"}`: the tables whose
//! cadence is frequent (by default the `cdc` ones), as a scheduled run.

use crate::config::Cadence;
use crate::error::Invalid;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt::Write;

/// What an execution does to each of its tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum RunMode {
    /// Consume what landed since the last run.
    #[default]
    Incremental,
    /// Validate again the files of `from`..`to` that were quarantined or never
    /// consumed (after a fix), and merge what is now accepted.
    Reprocess,
    /// Recompute the table's history from every landed file and swap it in.
    Rebuild,
    /// Ask the replication for a fresh full load of the tables, then rebuild them.
    Reload,
    /// Remove a data subject's keys from one table's history and files, and
    /// record it in the erasure log (docs/erasure.md).
    Forget,
}

impl RunMode {
    pub const ALL: [RunMode; 5] = [
        RunMode::Incremental,
        RunMode::Reprocess,
        RunMode::Rebuild,
        RunMode::Reload,
        RunMode::Forget,
    ];

    /// The name executions and `--mode` use.
    pub fn as_str(self) -> &'static str {
        match self {
            RunMode::Incremental => "incremental",
            RunMode::Reprocess => "reprocess",
            RunMode::Rebuild => "rebuild",
            RunMode::Reload => "reload",
            RunMode::Forget => "forget",
        }
    }

    pub fn parse(name: &str) -> Option<RunMode> {
        RunMode::ALL.into_iter().find(|m| m.as_str() == name)
    }

    /// Whether the mode recomputes history from every landed file.
    pub fn rebuilds(self) -> bool {
        matches!(self, RunMode::Rebuild | RunMode::Reload)
    }
}

/// Which tables an execution names: a list, or `"*"` for every configured one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TableSelection {
    Named(Vec<String>),
    /// Always `"*"`.
    All(String),
}

impl TableSelection {
    pub fn all() -> TableSelection {
        TableSelection::All("*".into())
    }
}

/// An execution's input as a person (or `tidemark run|rerun`) writes it. Its
/// rules are applied by [`RunPlan::build`], which reads the JSON form, so a
/// console execution and a command meet the same rules.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tables: Option<TableSelection>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<RunMode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    /// `forget`: the keys to forget, and who asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys: Option<Vec<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_by: Option<String>,
}

impl RunRequest {
    /// The execution input this request is sent as.
    pub fn to_input(&self) -> ExecutionInput {
        ExecutionInput(serde_json::to_value(self).unwrap_or_default())
    }
}

/// The execution input exactly as it arrived (`$` of the execution), before
/// any rule: only [`RunPlan::build`] reads it; the alert echoes it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ExecutionInput(pub Value);

impl ExecutionInput {
    /// The input as an alert may show it: a `forget`'s keys are counted, not shown.
    pub fn redacted(&self) -> ExecutionInput {
        let mut value = self.0.clone();
        if let Some(keys) = value.get_mut("keys") {
            let n = keys.as_array().map_or(0, Vec::len);
            *keys = Value::String(format!("({n} key(s), not shown)"));
        }
        ExecutionInput(value)
    }

    /// Compact JSON, for an alert.
    pub fn to_json(&self) -> String {
        match &self.0 {
            Value::Null => "{}".into(),
            v => v.to_string(),
        }
    }
}

/// What an execution does, with every rule checked. Built once, from the
/// execution input, by the first step; later steps never see the raw input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunPlan {
    pub mode: RunMode,
    /// The tables to process, in configuration order.
    pub tables: Vec<String>,
    /// Inclusive landing dates, for `reprocess`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<NaiveDate>,
    /// Raised by a person to run the same rerun again on one day.
    pub attempt: u32,
    /// Started by the schedule (an empty input, or only a cadence): a table
    /// another execution holds is skipped and picked up by the next run, not failed.
    pub scheduled: bool,
    /// The frequent schedule's run: `tables` are the frequent ones, and a
    /// table's metadata is read at the source at most every `[pipeline]
    /// metadata_every_minutes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cadence: Option<Cadence>,
    /// `forget`: what to forget (its one table is `tables`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forget: Option<ForgetRequest>,
}

/// The keys a `forget` removes, as the input gave them (checked against
/// the table's primary key once its metadata is read), and who asked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForgetRequest {
    pub keys: Vec<Value>,
    pub requested_by: String,
}

const FIELDS: [&str; 8] = [
    "tables",
    "mode",
    "from",
    "to",
    "attempt",
    "keys",
    "requested_by",
    "cadence",
];

impl RunPlan {
    /// Applies every rule to `input`. `configured` are the pipeline's table
    /// names (`None` where the configuration is not at hand, e.g. `tidemark
    /// rerun`: names are then only checked as identifiers); `today` bounds
    /// the date range. A message names the field and the accepted values.
    pub fn build(
        input: &ExecutionInput,
        configured: Option<&[&str]>,
        today: NaiveDate,
    ) -> Result<RunPlan, Invalid> {
        let empty = Map::new();
        let fields = match &input.0 {
            Value::Null => &empty,
            Value::Object(map) => map,
            other => {
                return Err(format!(
                    "the execution input must be a JSON object such as {{\"mode\": \"incremental\"}}, not {other}"
                ).into());
            }
        };
        for name in fields.keys() {
            if !FIELDS.contains(&name.as_str()) {
                return Err(format!(
                    "unknown field {name:?} in the execution input{}; the fields are {}",
                    did_you_mean(name, FIELDS),
                    FIELDS.join(", ")
                )
                .into());
            }
        }
        let cadence = match fields.get("cadence") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if fields.len() == 1 => Some(match s.as_str() {
                "frequent" => Cadence::Frequent,
                "daily" => Cadence::Daily,
                _ => {
                    return Err(format!(
                        "\"cadence\": {s:?} is not a cadence; the cadences are frequent and daily"
                    )
                    .into());
                }
            }),
            Some(Value::String(_)) => {
                return Err(
                    "\"cadence\" is a schedule's whole input ({\"cadence\": \"frequent\"}): leave out the other fields, or leave out \"cadence\" for a manual run"
                        .into(),
                );
            }
            Some(other) => {
                return Err(
                    format!("\"cadence\" must be \"frequent\" or \"daily\", not {other}").into(),
                );
            }
        };
        let mode = match fields.get("mode") {
            None | Some(Value::Null) => RunMode::Incremental,
            Some(Value::String(s)) => RunMode::parse(s).ok_or_else(|| {
                format!(
                    "\"mode\": {s:?} is not a mode{}; the modes are {}",
                    did_you_mean(s, RunMode::ALL.map(RunMode::as_str)),
                    modes()
                )
            })?,
            Some(other) => {
                return Err(format!("\"mode\" must be one of {}, not {other}", modes()).into());
            }
        };
        let tables = match fields.get("tables") {
            Some(Value::Array(items)) if mode == RunMode::Forget && items.len() != 1 => {
                return Err(
                    "mode forget acts on one table: name it, e.g. \"tables\": [\"customers\"]"
                        .into(),
                );
            }
            None | Some(Value::Null) | Some(Value::String(_)) if mode == RunMode::Forget => {
                return Err(
                    "mode forget acts on one table: name it, e.g. \"tables\": [\"customers\"]"
                        .into(),
                );
            }
            None | Some(Value::Null) if mode.rebuilds() => {
                return Err(format!(
                    "mode {} recomputes history from every landed file: name the tables, e.g. \"tables\": [\"orders\"], or \"tables\": \"*\" for every table",
                    mode.as_str()
                ).into());
            }
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s == "*" => None,
            Some(Value::Array(items)) if items.is_empty() => {
                return Err(
                    "\"tables\" names no table: leave it out (or \"*\") to run every table".into(),
                );
            }
            Some(Value::Array(items)) => {
                let mut names = Vec::with_capacity(items.len());
                for item in items {
                    let Value::String(name) = item else {
                        return Err(format!("\"tables\" must hold table names, not {item}").into());
                    };
                    check_table(name, configured)?;
                    if !names.contains(name) {
                        names.push(name.clone());
                    }
                }
                Some(names)
            }
            Some(other) => {
                return Err(format!(
                    "\"tables\" must be a list of table names or \"*\", not {other}"
                )
                .into());
            }
        };
        let tables = match (tables, configured) {
            // Configuration order, whatever order the input named them in.
            (Some(named), Some(configured)) => configured
                .iter()
                .filter(|c| named.iter().any(|n| n == *c))
                .map(|c| c.to_string())
                .collect(),
            (Some(named), None) => named,
            (None, configured) => configured
                .unwrap_or_default()
                .iter()
                .map(|c| c.to_string())
                .collect(),
        };
        let date = |field: &str| -> Result<Option<NaiveDate>, Invalid> {
            match fields.get(field) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
                    .map(Some)
                    .map_err(|_| format!("\"{field}\": {s:?} is not a date (YYYY-MM-DD)").into()),
                Some(other) => Err(format!(
                    "\"{field}\" must be a date such as \"2026-11-01\", not {other}"
                )
                .into()),
            }
        };
        let (from, to) = (date("from")?, date("to")?);
        match (mode, from, to) {
            (RunMode::Reprocess, Some(from), Some(to)) => {
                if from > to {
                    return Err(format!("\"from\" ({from}) is after \"to\" ({to})").into());
                }
                if to > today {
                    return Err(format!(
                        "\"to\" ({to}) is in the future (today is {today}): nothing has landed then"
                    )
                    .into());
                }
            }
            (RunMode::Reprocess, _, _) => {
                return Err(
                    "mode reprocess needs \"from\" and \"to\": the landing dates (YYYY-MM-DD) whose files to validate again"
                        .into(),
                );
            }
            (_, None, None) => {}
            (mode, _, _) => {
                return Err(format!(
                    "\"from\" and \"to\" apply to mode reprocess only, not {}: leave them out",
                    mode.as_str()
                )
                .into());
            }
        }
        let attempt = match fields.get("attempt") {
            None | Some(Value::Null) => 1,
            Some(v) => v
                .as_u64()
                .filter(|n| (1..=u32::MAX as u64).contains(n))
                .ok_or_else(|| format!("\"attempt\" must be a whole number from 1, not {v}"))?
                as u32,
        };
        let forget = forget_request(mode, fields)?;
        Ok(RunPlan {
            mode,
            tables,
            from,
            to,
            attempt,
            scheduled: fields.is_empty() || cadence.is_some(),
            cadence: cadence.filter(|c| *c == Cadence::Frequent),
            forget,
        })
    }

    /// What the schedule's `{}` gives: every one of `tables`, incrementally.
    pub fn scheduled(tables: Vec<String>) -> RunPlan {
        RunPlan {
            mode: RunMode::Incremental,
            tables,
            from: None,
            to: None,
            attempt: 1,
            scheduled: true,
            cadence: None,
            forget: None,
        }
    }
}

/// `keys` and `requested_by`: required by mode forget, refused by the others.
fn forget_request(
    mode: RunMode,
    fields: &Map<String, Value>,
) -> Result<Option<ForgetRequest>, Invalid> {
    let (keys, requested_by) = (fields.get("keys"), fields.get("requested_by"));
    if mode != RunMode::Forget {
        return match keys.or(requested_by) {
            Some(_) => Err(format!(
                "\"keys\" and \"requested_by\" apply to mode forget only, not {}: leave them out",
                mode.as_str()
            )
            .into()),
            None => Ok(None),
        };
    }
    let keys = match keys {
        Some(Value::Array(keys)) if keys.is_empty() => {
            return Err("\"keys\" is empty: name at least one key to forget".into());
        }
        Some(Value::Array(keys)) if keys.len() > crate::erasure::MAX_KEYS => {
            return Err(format!(
                "\"keys\" names {} keys; one execution forgets at most {}: split the request",
                keys.len(),
                crate::erasure::MAX_KEYS
            )
            .into());
        }
        Some(Value::Array(keys)) => {
            let scalar =
                |v: &Value| matches!(v, Value::String(_) | Value::Number(_) | Value::Bool(_));
            // Named by position, never by value: the message reaches alerts.
            if let Some(n) = keys.iter().position(|k| match k {
                Value::Object(columns) => columns.is_empty() || !columns.values().all(scalar),
                other => !scalar(other),
            }) {
                return Err(format!(
                    "\"keys\": key {} is neither a value (42, \"ab-1\") nor an object of the key columns' values ({{\"id\": 42, \"region\": \"eu\"}})",
                    n + 1
                )
                .into());
            }
            keys.clone()
        }
        None | Some(Value::Null) => {
            return Err(
                "mode forget needs \"keys\": the primary-key values to forget, e.g. \"keys\": [42]"
                    .into(),
            );
        }
        Some(_) => {
            return Err("\"keys\" must be a list of keys".into());
        }
    };
    let requested_by = match requested_by {
        Some(Value::String(who)) if !who.trim().is_empty() && who.chars().count() <= 200 => {
            who.trim().to_string()
        }
        _ => {
            return Err(
                "mode forget needs \"requested_by\": who asked (a person or a ticket, at most 200 characters), for the erasure log"
                    .into(),
            );
        }
    };
    Ok(Some(ForgetRequest { keys, requested_by }))
}

fn modes() -> String {
    RunMode::ALL.map(RunMode::as_str).join(", ")
}

fn check_table(name: &str, configured: Option<&[&str]>) -> Result<(), Invalid> {
    crate::metadata::check_identifier(name).map_err(|e| format!("\"tables\": {e}"))?;
    match configured {
        Some(configured) if !configured.contains(&name) => Err(format!(
            "\"tables\": {name:?} is not a configured table{}; the tables are {}",
            did_you_mean(name, configured.iter().copied()),
            configured.join(", ")
        )
        .into()),
        _ => Ok(()),
    }
}

/// `; did you mean "x"?` for the accepted value nearest to `given`, if any is near.
fn did_you_mean<'a>(given: &str, accepted: impl IntoIterator<Item = &'a str>) -> String {
    let nearest = accepted
        .into_iter()
        .map(|a| (edit_distance(given, a), a))
        .min();
    match nearest {
        Some((d, a)) if d <= (given.chars().count() / 3).max(2) => {
            let mut s = String::new();
            let _ = write!(s, " (did you mean {a:?}?)");
            s
        }
        _ => String::new(),
    }
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const TABLES: [&str; 3] = ["customers", "orders", "products"];

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 20).unwrap()
    }

    fn build(input: Value) -> Result<RunPlan, Invalid> {
        RunPlan::build(&ExecutionInput(input), Some(&TABLES), today())
    }

    #[test]
    fn the_schedule_sends_nothing_and_gets_every_table_incrementally() {
        let plan = build(json!({})).unwrap();
        assert_eq!(plan, RunPlan::scheduled(TABLES.map(String::from).to_vec()));
        assert_eq!(build(Value::Null).unwrap(), plan);
        let manual = build(json!({"mode": "incremental"})).unwrap();
        assert!(!manual.scheduled);
    }

    #[test]
    fn a_cadence_is_a_schedules_whole_input() {
        let frequent = build(json!({"cadence": "frequent"})).unwrap();
        assert!(frequent.scheduled);
        assert_eq!(frequent.cadence, Some(Cadence::Frequent));
        // Which tables are frequent is the configuration's: start-replication narrows them.
        assert_eq!(frequent.tables, TABLES);
        assert_eq!(
            build(json!({"cadence": "daily"})).unwrap(),
            build(json!({})).unwrap()
        );
        for (input, expected) in [
            (
                json!({"cadence": "hourly"}),
                "\"cadence\": \"hourly\" is not a cadence; the cadences are frequent and daily",
            ),
            (
                json!({"cadence": 15}),
                "\"cadence\" must be \"frequent\" or \"daily\", not 15",
            ),
            (
                json!({"cadence": "frequent", "tables": ["orders"]}),
                "\"cadence\" is a schedule's whole input",
            ),
        ] {
            let e = build(input).unwrap_err().0;
            assert!(e.starts_with(expected), "{e}");
        }
    }

    #[test]
    fn named_tables_keep_configuration_order_and_star_means_all() {
        let plan =
            build(json!({"tables": ["products", "customers", "products"], "mode": "rebuild"}))
                .unwrap();
        assert_eq!(plan.tables, ["customers", "products"]);
        let all = build(json!({"tables": "*", "mode": "rebuild"})).unwrap();
        assert_eq!(all.tables, TABLES);
    }

    #[test]
    fn reprocess_takes_a_range_of_landing_dates() {
        let plan = build(json!({"mode": "reprocess", "tables": ["orders"], "from": "2026-11-02", "to": "2026-11-04"}))
            .unwrap();
        assert_eq!(plan.from, NaiveDate::from_ymd_opt(2026, 11, 2));
        assert_eq!(plan.to, NaiveDate::from_ymd_opt(2026, 11, 4));
        assert_eq!(plan.attempt, 1);
    }

    /// Every bad input is refused with a message that names the field and what is accepted.
    #[test]
    fn bad_input_names_the_field_and_the_accepted_values() {
        let cases = [
            (json!([1]), "must be a JSON object"),
            (
                json!({"tabels": ["orders"]}),
                "unknown field \"tabels\" in the execution input (did you mean \"tables\"?); the fields are tables, mode, from, to, attempt, keys, requested_by, cadence",
            ),
            (
                json!({"mode": "rebuilt", "tables": "*"}),
                "\"mode\": \"rebuilt\" is not a mode (did you mean \"rebuild\"?); the modes are incremental, reprocess, rebuild, reload, forget",
            ),
            (
                json!({"mode": 3}),
                "\"mode\" must be one of incremental, reprocess, rebuild, reload, forget, not 3",
            ),
            (
                json!({"tables": ["ordres"]}),
                "\"tables\": \"ordres\" is not a configured table (did you mean \"orders\"?); the tables are customers, orders, products",
            ),
            (
                json!({"tables": ["invoices"]}),
                "\"tables\": \"invoices\" is not a configured table; the tables are",
            ),
            (json!({"tables": ["Orders; drop"]}), "\"tables\":"),
            (json!({"tables": []}), "\"tables\" names no table"),
            (
                json!({"tables": "orders"}),
                "\"tables\" must be a list of table names or \"*\"",
            ),
            (
                json!({"mode": "rebuild"}),
                "mode rebuild recomputes history from every landed file: name the tables",
            ),
            (json!({"mode": "reload"}), "mode reload recomputes history"),
            (
                json!({"mode": "reprocess", "tables": ["orders"]}),
                "mode reprocess needs \"from\" and \"to\"",
            ),
            (
                json!({"mode": "reprocess", "from": "2026-11-04", "to": "2026-11-02"}),
                "\"from\" (2026-11-04) is after \"to\" (2026-11-02)",
            ),
            (
                json!({"mode": "reprocess", "from": "2026-11-04", "to": "2026-12-02"}),
                "\"to\" (2026-12-02) is in the future (today is 2026-11-20)",
            ),
            (
                json!({"mode": "reprocess", "from": "4 Nov", "to": "2026-11-02"}),
                "\"from\": \"4 Nov\" is not a date (YYYY-MM-DD)",
            ),
            (
                json!({"from": "2026-11-01", "to": "2026-11-02"}),
                "\"from\" and \"to\" apply to mode reprocess only, not incremental",
            ),
            (
                json!({"attempt": 0}),
                "\"attempt\" must be a whole number from 1, not 0",
            ),
            (
                json!({"mode": "forget", "keys": [1], "requested_by": "dpo"}),
                "mode forget acts on one table",
            ),
            (
                json!({"mode": "forget", "tables": ["orders", "customers"], "keys": [1], "requested_by": "dpo"}),
                "mode forget acts on one table",
            ),
            (
                json!({"mode": "forget", "tables": ["invoices"], "keys": [1], "requested_by": "dpo"}),
                "\"tables\": \"invoices\" is not a configured table",
            ),
            (
                json!({"mode": "forget", "tables": ["orders"], "keys": [], "requested_by": "dpo"}),
                "\"keys\" is empty",
            ),
            (
                json!({"mode": "forget", "tables": ["orders"], "requested_by": "dpo"}),
                "mode forget needs \"keys\"",
            ),
            (
                json!({"mode": "forget", "tables": ["orders"], "keys": [[1]], "requested_by": "dpo"}),
                "\"keys\": key 1 is neither a value",
            ),
            (
                json!({"mode": "forget", "tables": ["orders"], "keys": [1]}),
                "mode forget needs \"requested_by\"",
            ),
            (
                json!({"keys": [1]}),
                "\"keys\" and \"requested_by\" apply to mode forget only, not incremental",
            ),
        ];
        for (input, expected) in cases {
            let message = build(input.clone()).expect_err(&input.to_string());
            assert!(
                message.0.contains(expected),
                "{input}: {message:?} does not say {expected:?}"
            );
        }
    }

    #[test]
    fn forget_takes_one_table_its_keys_and_who_asked() {
        let plan = build(json!({"mode": "forget", "tables": ["customers"], "keys": [42, {"id": "x"}], "requested_by": " DPO ticket 118 "}))
            .unwrap();
        assert_eq!(plan.tables, ["customers"]);
        assert_eq!(
            plan.forget,
            Some(ForgetRequest {
                keys: vec![json!(42), json!({"id": "x"})],
                requested_by: "DPO ticket 118".into()
            })
        );
        let too_many = vec![json!(1); crate::erasure::MAX_KEYS + 1];
        let e = build(json!({"mode": "forget", "tables": ["customers"], "keys": too_many, "requested_by": "dpo"}))
            .unwrap_err();
        assert!(e.0.contains("at most 1000"), "{e:?}");
    }

    #[test]
    fn without_the_configuration_names_are_checked_as_identifiers_only() {
        let input = RunRequest {
            tables: Some(TableSelection::Named(vec!["anything".into()])),
            mode: Some(RunMode::Rebuild),
            ..RunRequest::default()
        }
        .to_input();
        assert_eq!(
            input.to_json(),
            r#"{"tables":["anything"],"mode":"rebuild"}"#
        );
        let plan = RunPlan::build(&input, None, today()).unwrap();
        assert_eq!(plan.tables, ["anything"]);
    }

    #[test]
    fn edit_distance_counts_single_character_edits() {
        assert_eq!(edit_distance("orders", "orders"), 0);
        assert_eq!(edit_distance("ordres", "orders"), 2);
        assert_eq!(edit_distance("order", "orders"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
    }
}
