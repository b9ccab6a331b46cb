//! Choice rules: parsing (with validation) and evaluation.
//!
//! A rule is either a comparison (`Variable` plus exactly one operator) or a
//! boolean combination (`And`, `Or`, `Not`). Comparisons on a value of the
//! wrong type are false, like on AWS; a `Variable` (or `…Path` operand) that
//! matches nothing is a `States.Runtime` error, except for `IsPresent`.

use crate::Refused;
use std::cmp::Ordering;

use chrono::{DateTime, FixedOffset};
use serde_json::{Map, Value};

use super::TaskFailure;
use super::context::Context;
use super::intrinsics::numbers_cmp;
use super::path::Path;

/// Which operand type a comparison works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    String,
    Numeric,
    Boolean,
    Timestamp,
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Equals,
    LessThan,
    GreaterThan,
    LessThanEquals,
    GreaterThanEquals,
}

impl Op {
    fn holds(self, ordering: Ordering) -> bool {
        match self {
            Op::Equals => ordering == Ordering::Equal,
            Op::LessThan => ordering == Ordering::Less,
            Op::GreaterThan => ordering == Ordering::Greater,
            Op::LessThanEquals => ordering != Ordering::Greater,
            Op::GreaterThanEquals => ordering != Ordering::Less,
        }
    }
}

/// A type test. The variants keep ASL's operator names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(clippy::enum_variant_names)]
pub(crate) enum Test {
    Null,
    Present,
    String,
    Numeric,
    Boolean,
    Timestamp,
}

/// The right-hand side of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Operand {
    Literal(Value),
    Path(Path),
}

/// What a comparison checks.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Check {
    Compare(Kind, Op, Operand),
    Matches(String),
    Test(Test, bool),
}

/// A parsed choice rule.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Rule {
    And(Vec<Rule>),
    Or(Vec<Rule>),
    Not(Box<Rule>),
    Compare { variable: Path, check: Check },
}

/// Every comparison operator name: (name, kind, op, takes a path).
const COMPARISONS: &[(&str, Kind, Op, bool)] = {
    use Kind::*;
    use Op::*;
    &[
        ("StringEquals", String, Equals, false),
        ("StringEqualsPath", String, Equals, true),
        ("StringLessThan", String, LessThan, false),
        ("StringLessThanPath", String, LessThan, true),
        ("StringGreaterThan", String, GreaterThan, false),
        ("StringGreaterThanPath", String, GreaterThan, true),
        ("StringLessThanEquals", String, LessThanEquals, false),
        ("StringLessThanEqualsPath", String, LessThanEquals, true),
        ("StringGreaterThanEquals", String, GreaterThanEquals, false),
        (
            "StringGreaterThanEqualsPath",
            String,
            GreaterThanEquals,
            true,
        ),
        ("NumericEquals", Numeric, Equals, false),
        ("NumericEqualsPath", Numeric, Equals, true),
        ("NumericLessThan", Numeric, LessThan, false),
        ("NumericLessThanPath", Numeric, LessThan, true),
        ("NumericGreaterThan", Numeric, GreaterThan, false),
        ("NumericGreaterThanPath", Numeric, GreaterThan, true),
        ("NumericLessThanEquals", Numeric, LessThanEquals, false),
        ("NumericLessThanEqualsPath", Numeric, LessThanEquals, true),
        (
            "NumericGreaterThanEquals",
            Numeric,
            GreaterThanEquals,
            false,
        ),
        (
            "NumericGreaterThanEqualsPath",
            Numeric,
            GreaterThanEquals,
            true,
        ),
        ("BooleanEquals", Boolean, Equals, false),
        ("BooleanEqualsPath", Boolean, Equals, true),
        ("TimestampEquals", Timestamp, Equals, false),
        ("TimestampEqualsPath", Timestamp, Equals, true),
        ("TimestampLessThan", Timestamp, LessThan, false),
        ("TimestampLessThanPath", Timestamp, LessThan, true),
        ("TimestampGreaterThan", Timestamp, GreaterThan, false),
        ("TimestampGreaterThanPath", Timestamp, GreaterThan, true),
        ("TimestampLessThanEquals", Timestamp, LessThanEquals, false),
        (
            "TimestampLessThanEqualsPath",
            Timestamp,
            LessThanEquals,
            true,
        ),
        (
            "TimestampGreaterThanEquals",
            Timestamp,
            GreaterThanEquals,
            false,
        ),
        (
            "TimestampGreaterThanEqualsPath",
            Timestamp,
            GreaterThanEquals,
            true,
        ),
    ]
};

const TESTS: &[(&str, Test)] = &[
    ("IsNull", Test::Null),
    ("IsPresent", Test::Present),
    ("IsString", Test::String),
    ("IsNumeric", Test::Numeric),
    ("IsBoolean", Test::Boolean),
    ("IsTimestamp", Test::Timestamp),
];

/// Parses an RFC 3339 timestamp, as Step Functions requires them.
pub(crate) fn parse_timestamp(text: &str) -> Option<DateTime<FixedOffset>> {
    DateTime::parse_from_rfc3339(text).ok()
}

impl Rule {
    /// Parses one rule. `top_level` rules carry a `Next` (which the caller
    /// reads); nested ones must not. `at` is where the rule is, for messages
    /// (e.g. `Choices[0].And[1]`). Errors are `(field, message)`.
    pub(crate) fn parse(
        value: &Value,
        at: &str,
        top_level: bool,
    ) -> Result<Rule, (String, String)> {
        let Value::Object(map) = value else {
            return Err((at.to_owned(), "a choice rule must be an object".into()));
        };
        let field = |name: &str| format!("{at}.{name}");
        let mut operators: Vec<&str> = Vec::new();
        for key in map.keys() {
            let known = matches!(key.as_str(), "And" | "Or" | "Not")
                || COMPARISONS.iter().any(|(name, ..)| name == key)
                || TESTS.iter().any(|(name, _)| name == key)
                || key == "StringMatches";
            if known {
                operators.push(key);
                continue;
            }
            match key.as_str() {
                "Variable" | "Comment" => {}
                "Next" if top_level => {}
                "Next" => {
                    return Err((
                        field("Next"),
                        "a rule nested in And, Or or Not cannot have a Next".into(),
                    ));
                }
                "Condition" => {
                    return Err((
                        field("Condition"),
                        "`Condition` is JSONata; only JSONPath is supported".into(),
                    ));
                }
                _ => return Err((field(key), "unknown field in a choice rule".into())),
            }
        }
        if top_level && !map.contains_key("Next") {
            return Err((field("Next"), "a choice rule must have a Next".into()));
        }
        let [operator] = operators.as_slice() else {
            return Err((
                at.to_owned(),
                if operators.is_empty() {
                    "a choice rule needs one comparison operator, And, Or or Not".into()
                } else {
                    format!(
                        "a choice rule must have exactly one operator, not {}",
                        operators.join(", ")
                    )
                },
            ));
        };
        let operator = *operator;
        let operand = &map[operator];
        match operator {
            "And" | "Or" => {
                no_variable(map, at)?;
                let Value::Array(items) = operand else {
                    return Err((field(operator), "must be an array of rules".into()));
                };
                if items.is_empty() {
                    return Err((field(operator), "must not be empty".into()));
                }
                let rules = items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| Rule::parse(item, &format!("{at}.{operator}[{i}]"), false))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(if operator == "And" {
                    Rule::And(rules)
                } else {
                    Rule::Or(rules)
                })
            }
            "Not" => {
                no_variable(map, at)?;
                Ok(Rule::Not(Box::new(Rule::parse(
                    operand,
                    &format!("{at}.Not"),
                    false,
                )?)))
            }
            _ => {
                let variable = match map.get("Variable") {
                    Some(Value::String(text)) => {
                        Path::parse(text).map_err(|e| (field("Variable"), e.0))?
                    }
                    Some(_) => return Err((field("Variable"), "must be a path string".into())),
                    None => {
                        return Err((field("Variable"), "a comparison needs a Variable".into()));
                    }
                };
                let check = parse_check(operator, operand).map_err(|e| (field(operator), e.0))?;
                Ok(Rule::Compare { variable, check })
            }
        }
    }

    /// Whether the rule holds for `input`.
    pub(crate) fn eval(&self, input: &Value, ctx: &Context<'_>) -> Result<bool, TaskFailure> {
        match self {
            Rule::And(rules) => {
                for rule in rules {
                    if !rule.eval(input, ctx)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            Rule::Or(rules) => {
                for rule in rules {
                    if rule.eval(input, ctx)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            Rule::Not(rule) => Ok(!rule.eval(input, ctx)?),
            Rule::Compare { variable, check } => {
                let value = ctx.lookup(variable, input);
                if let Check::Test(Test::Present, expected) = check {
                    return Ok(value.is_some() == *expected);
                }
                let Some(value) = value else {
                    return Err(TaskFailure::runtime(format!(
                        "Invalid path '{}': The choice state's condition path references an invalid value.",
                        variable.text()
                    )));
                };
                match check {
                    Check::Test(test, expected) => Ok(type_test(*test, &value) == *expected),
                    Check::Matches(pattern) => Ok(value
                        .as_str()
                        .is_some_and(|text| string_matches(text, pattern))),
                    Check::Compare(kind, op, operand) => {
                        let operand = match operand {
                            Operand::Literal(literal) => literal.clone(),
                            Operand::Path(path) => ctx.lookup(path, input).ok_or_else(|| {
                                TaskFailure::runtime(format!(
                                    "Invalid path '{}': The choice state's condition path references an invalid value.",
                                    path.text()
                                ))
                            })?,
                        };
                        Ok(compare(*kind, &value, &operand).is_some_and(|o| op.holds(o)))
                    }
                }
            }
        }
    }
}

fn no_variable(map: &Map<String, Value>, at: &str) -> Result<(), (String, String)> {
    if map.contains_key("Variable") {
        return Err((
            format!("{at}.Variable"),
            "And, Or and Not rules take no Variable".into(),
        ));
    }
    Ok(())
}

fn parse_check(operator: &str, operand: &Value) -> Result<Check, Refused> {
    if operator == "StringMatches" {
        return match operand {
            Value::String(pattern) => Ok(Check::Matches(pattern.clone())),
            _ => Err("must be a string pattern".into()),
        };
    }
    if let Some((_, test)) = TESTS.iter().find(|(name, _)| *name == operator) {
        return match operand {
            Value::Bool(expected) => Ok(Check::Test(*test, *expected)),
            _ => Err("must be true or false".into()),
        };
    }
    let Some(&(_, kind, op, is_path)) = COMPARISONS.iter().find(|(name, ..)| *name == operator)
    else {
        return Err("unknown operator".into());
    };
    if is_path {
        return match operand {
            Value::String(text) => {
                Path::parse(text).map(|p| Check::Compare(kind, op, Operand::Path(p)))
            }
            _ => Err("must be a path string".into()),
        };
    }
    let valid = match kind {
        Kind::String => operand.is_string(),
        Kind::Numeric => operand.is_number(),
        Kind::Boolean => operand.is_boolean(),
        Kind::Timestamp => operand
            .as_str()
            .is_some_and(|t| parse_timestamp(t).is_some()),
    };
    if !valid {
        let expected = match kind {
            Kind::String => "a string",
            Kind::Numeric => "a number",
            Kind::Boolean => "a boolean",
            Kind::Timestamp => "an RFC 3339 timestamp string (e.g. 2024-01-31T12:00:00Z)",
        };
        return Err(format!("must be {expected}").into());
    }
    Ok(Check::Compare(kind, op, Operand::Literal(operand.clone())))
}

fn type_test(test: Test, value: &Value) -> bool {
    match test {
        Test::Null => value.is_null(),
        Test::Present => true,
        Test::String => value.is_string(),
        Test::Numeric => value.is_number(),
        Test::Boolean => value.is_boolean(),
        Test::Timestamp => value.as_str().is_some_and(|t| parse_timestamp(t).is_some()),
    }
}

/// How `value` compares to `operand`, `None` when either has the wrong type.
fn compare(kind: Kind, value: &Value, operand: &Value) -> Option<Ordering> {
    match kind {
        Kind::String => Some(value.as_str()?.cmp(operand.as_str()?)),
        Kind::Numeric => numbers_cmp(value.as_number()?, operand.as_number()?),
        Kind::Boolean => {
            let (a, b) = (value.as_bool()?, operand.as_bool()?);
            Some(a.cmp(&b))
        }
        Kind::Timestamp => {
            let a = parse_timestamp(value.as_str()?)?;
            let b = parse_timestamp(operand.as_str()?)?;
            Some(a.cmp(&b))
        }
    }
}

/// `StringMatches`: `*` matches any run of characters; `\*` and `\\` are a
/// literal star and backslash.
fn string_matches(text: &str, pattern: &str) -> bool {
    enum Token {
        Char(char),
        Star,
    }
    let mut tokens = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => tokens.push(Token::Char(chars.next().unwrap_or('\\'))),
            '*' => tokens.push(Token::Star),
            c => tokens.push(Token::Char(c)),
        }
    }
    let text: Vec<char> = text.chars().collect();
    // Classic greedy wildcard matching with backtracking to the last star.
    let (mut t, mut p) = (0, 0);
    let mut last_star: Option<(usize, usize)> = None;
    while t < text.len() {
        match tokens.get(p) {
            Some(Token::Char(c)) if *c == text[t] => {
                t += 1;
                p += 1;
            }
            Some(Token::Star) => {
                last_star = Some((p, t));
                p += 1;
            }
            _ => match last_star {
                Some((star, matched)) => {
                    p = star + 1;
                    t = matched + 1;
                    last_star = Some((star, matched + 1));
                }
                None => return false,
            },
        }
    }
    tokens[p..].iter().all(|token| matches!(token, Token::Star))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_matches_wildcards_and_escapes() {
        assert!(string_matches("log-2024.txt", "log-*.txt"));
        assert!(string_matches("anything", "*"));
        assert!(string_matches("", "*"));
        assert!(string_matches("abc", "a*b*c"));
        assert!(string_matches("a*c", r"a\*c"));
        assert!(!string_matches("abc", r"a\*c"));
        assert!(!string_matches("log-2024.csv", "log-*.txt"));
        assert!(!string_matches("xabc", "abc"));
        assert!(string_matches("aaab", "*ab"));
    }
}
