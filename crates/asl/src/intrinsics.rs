//! Intrinsic functions (`States.Format(…)` and friends), parsed at load time
//! and evaluated when a payload template (or a Fail state's `ErrorPath` /
//! `CausePath`) is processed.
//!
//! Arguments are string literals in single quotes (`\'`, `\\`, `\{`, `\}`
//! escape), numbers, `true`, `false`, `null`, paths (`$…` or `$$…`) and
//! nested calls. Unknown functions and syntax errors are load-time errors;
//! wrong argument counts and types are `States.IntrinsicFailure` at run time.

use crate::Refused;
use serde_json::{Map, Number, Value};

use super::TaskFailure;
use super::context::Context;
use super::path::{Path, describe_type};
use super::random::{SplitMix64, uuid_v4};

/// The functions this interpreter knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Func {
    Format,
    StringToJson,
    JsonToString,
    Array,
    ArrayPartition,
    ArrayContains,
    ArrayRange,
    ArrayGetItem,
    ArrayLength,
    ArrayUnique,
    Base64Encode,
    Base64Decode,
    JsonMerge,
    MathRandom,
    MathAdd,
    StringSplit,
    Uuid,
}

impl Func {
    fn from_name(name: &str) -> Result<Func, Refused> {
        Ok(match name {
            "States.Format" => Func::Format,
            "States.StringToJson" => Func::StringToJson,
            "States.JsonToString" => Func::JsonToString,
            "States.Array" => Func::Array,
            "States.ArrayPartition" => Func::ArrayPartition,
            "States.ArrayContains" => Func::ArrayContains,
            "States.ArrayRange" => Func::ArrayRange,
            "States.ArrayGetItem" => Func::ArrayGetItem,
            "States.ArrayLength" => Func::ArrayLength,
            "States.ArrayUnique" => Func::ArrayUnique,
            "States.Base64Encode" => Func::Base64Encode,
            "States.Base64Decode" => Func::Base64Decode,
            "States.JsonMerge" => Func::JsonMerge,
            "States.MathRandom" => Func::MathRandom,
            "States.MathAdd" => Func::MathAdd,
            "States.StringSplit" => Func::StringSplit,
            "States.UUID" => Func::Uuid,
            "States.Hash" => {
                return Err("`States.Hash` is not supported by the local interpreter".into());
            }
            other => return Err(format!("unknown intrinsic function `{other}`").into()),
        })
    }

    fn name(self) -> &'static str {
        match self {
            Func::Format => "States.Format",
            Func::StringToJson => "States.StringToJson",
            Func::JsonToString => "States.JsonToString",
            Func::Array => "States.Array",
            Func::ArrayPartition => "States.ArrayPartition",
            Func::ArrayContains => "States.ArrayContains",
            Func::ArrayRange => "States.ArrayRange",
            Func::ArrayGetItem => "States.ArrayGetItem",
            Func::ArrayLength => "States.ArrayLength",
            Func::ArrayUnique => "States.ArrayUnique",
            Func::Base64Encode => "States.Base64Encode",
            Func::Base64Decode => "States.Base64Decode",
            Func::JsonMerge => "States.JsonMerge",
            Func::MathRandom => "States.MathRandom",
            Func::MathAdd => "States.MathAdd",
            Func::StringSplit => "States.StringSplit",
            Func::Uuid => "States.UUID",
        }
    }
}

/// One argument of a call.
#[derive(Debug, Clone, PartialEq)]
enum Arg {
    /// A string literal, escapes kept (`States.Format` needs them to tell
    /// `\{` from `{`).
    Str(String),
    /// A number, boolean or null literal.
    Literal(Value),
    /// A path on the input or the context object.
    Path(Path),
    /// A nested call.
    Call(Box<Intrinsic>),
}

/// A parsed intrinsic function call.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Intrinsic {
    func: Func,
    args: Vec<Arg>,
    text: String,
}

impl Intrinsic {
    /// Whether `text` is meant as an intrinsic call (rather than a path).
    pub(crate) fn looks_like(text: &str) -> bool {
        text.trim_start().starts_with("States.")
    }

    /// Parses a whole call, e.g. `States.Format('{}', $.a)`.
    pub(crate) fn parse(text: &str) -> Result<Intrinsic, Refused> {
        let mut parser = Parser {
            chars: text.chars().collect(),
            pos: 0,
        };
        parser.skip_spaces();
        let call = parser.call().map_err(|why| {
            Refused::from(format!("invalid intrinsic function call `{text}`: {why}"))
        })?;
        parser.skip_spaces();
        if parser.pos != parser.chars.len() {
            return Err(format!(
                "invalid intrinsic function call `{text}`: unexpected text after the closing parenthesis"
            ).into());
        }
        Ok(call)
    }

    /// Evaluates the call; paths apply to `input` (`$`) or the context (`$$`).
    pub(crate) fn eval(&self, input: &Value, ctx: &Context<'_>) -> Result<Value, TaskFailure> {
        let mut values = Vec::with_capacity(self.args.len());
        for arg in &self.args {
            values.push(match arg {
                Arg::Str(raw) => Value::String(unescape(raw)),
                Arg::Literal(value) => value.clone(),
                Arg::Path(path) => {
                    ctx.select(path, input, &format!("an argument of {}", self.func.name()))?
                }
                Arg::Call(call) => call.eval(input, ctx)?,
            });
        }
        let raw_template = match self.args.first() {
            Some(Arg::Str(raw)) if self.func == Func::Format => Some(raw.as_str()),
            _ => None,
        };
        call(self.func, values, raw_template).map_err(|why| {
            TaskFailure::intrinsic(format!("Invalid arguments in {}: {why}", self.text))
        })
    }
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip_spaces(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn starts_with(&self, prefix: &str) -> bool {
        let mut chars = self.chars[self.pos..].iter();
        prefix.chars().all(|c| chars.next() == Some(&c))
    }

    fn call(&mut self) -> Result<Intrinsic, Refused> {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_')
        {
            self.pos += 1;
        }
        let name: String = self.chars[start..self.pos].iter().collect();
        let func = Func::from_name(&name)?;
        self.skip_spaces();
        if self.peek() != Some('(') {
            return Err(format!("expected `(` after `{name}`").into());
        }
        self.pos += 1;
        let mut args = Vec::new();
        self.skip_spaces();
        if self.peek() == Some(')') {
            self.pos += 1;
        } else {
            loop {
                self.skip_spaces();
                args.push(self.arg()?);
                self.skip_spaces();
                match self.peek() {
                    Some(',') => self.pos += 1,
                    Some(')') => {
                        self.pos += 1;
                        break;
                    }
                    Some(c) => return Err(format!("expected `,` or `)` but found `{c}`").into()),
                    None => return Err(format!("missing `)` to close `{name}(`").into()),
                }
            }
        }
        Ok(Intrinsic {
            func,
            args,
            text: self.chars[start..self.pos].iter().collect(),
        })
    }

    fn arg(&mut self) -> Result<Arg, Refused> {
        match self.peek() {
            Some('\'') => {
                self.pos += 1;
                let mut raw = String::new();
                loop {
                    match self.peek() {
                        None => return Err("unterminated string literal".into()),
                        Some('\\') => {
                            let escaped = self
                                .chars
                                .get(self.pos + 1)
                                .copied()
                                .ok_or("unterminated string literal")?;
                            raw.push('\\');
                            raw.push(escaped);
                            self.pos += 2;
                        }
                        Some('\'') => {
                            self.pos += 1;
                            return Ok(Arg::Str(raw));
                        }
                        Some(c) => {
                            raw.push(c);
                            self.pos += 1;
                        }
                    }
                }
            }
            Some('$') => {
                let start = self.pos;
                let mut depth = 0usize;
                let mut quote: Option<char> = None;
                while let Some(c) = self.peek() {
                    match (quote, c) {
                        (Some(_), '\\') => self.pos += 1,
                        (Some(q), c) if c == q => quote = None,
                        (Some(_), _) => {}
                        (None, '\'' | '"') if depth > 0 => quote = Some(c),
                        (None, '[') => depth += 1,
                        (None, ']') => depth = depth.saturating_sub(1),
                        (None, ',' | ')') if depth == 0 => break,
                        (None, _) => {}
                    }
                    self.pos += 1;
                }
                let text: String = self.chars[start..self.pos.min(self.chars.len())]
                    .iter()
                    .collect();
                Path::parse(text.trim()).map(Arg::Path)
            }
            Some(_) if self.starts_with("States.") => Ok(Arg::Call(Box::new(self.call()?))),
            Some(_) => {
                let start = self.pos;
                while self.peek().is_some_and(|c| c != ',' && c != ')') {
                    self.pos += 1;
                }
                let token: String = self.chars[start..self.pos].iter().collect();
                let token = token.trim();
                match token {
                    "true" => Ok(Arg::Literal(Value::Bool(true))),
                    "false" => Ok(Arg::Literal(Value::Bool(false))),
                    "null" => Ok(Arg::Literal(Value::Null)),
                    _ => match serde_json::from_str::<Value>(token) {
                        Ok(number @ Value::Number(_)) => Ok(Arg::Literal(number)),
                        _ => Err(format!(
                            "`{token}` is not a string literal ('…'), a number, a boolean, null, a path or a call"
                        ).into()),
                    },
                }
            }
            None => Err("missing argument".into()),
        }
    }
}

/// Resolves the escapes of a string literal: `\x` is `x`.
fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(escaped) = chars.next() {
                out.push(escaped);
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn expect_args(func: Func, args: &[Value], counts: &[usize]) -> Result<(), Refused> {
    if counts.contains(&args.len()) {
        return Ok(());
    }
    let expected: Vec<String> = counts.iter().map(usize::to_string).collect();
    Err(format!(
        "{} takes {} argument(s) but got {}",
        func.name(),
        expected.join(" or "),
        args.len()
    )
    .into())
}

fn string_arg(func: Func, args: &[Value], index: usize) -> Result<String, Refused> {
    match args.get(index) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(format!(
            "argument {} of {} must be a string, not {}",
            index + 1,
            func.name(),
            describe_type(other)
        )
        .into()),
        None => Err(format!("{} is missing argument {}", func.name(), index + 1).into()),
    }
}

fn array_arg(func: Func, args: &[Value], index: usize) -> Result<Vec<Value>, Refused> {
    match args.get(index) {
        Some(Value::Array(items)) => Ok(items.clone()),
        Some(other) => Err(format!(
            "argument {} of {} must be an array, not {}",
            index + 1,
            func.name(),
            describe_type(other)
        )
        .into()),
        None => Err(format!("{} is missing argument {}", func.name(), index + 1).into()),
    }
}

/// An integer argument (a number with no fractional part).
fn int_arg(func: Func, args: &[Value], index: usize) -> Result<i64, Refused> {
    let value = args.get(index).ok_or_else(|| {
        Refused::from(format!("{} is missing argument {}", func.name(), index + 1))
    })?;
    as_integer(value).ok_or_else(|| {
        Refused(format!(
            "argument {} of {} must be an integer, not {}",
            index + 1,
            func.name(),
            value
        ))
    })
}

fn as_integer(value: &Value) -> Option<i64> {
    let number = value.as_number()?;
    if let Some(i) = number.as_i64() {
        return Some(i);
    }
    let f = number.as_f64()?;
    (f.fract() == 0.0 && f.abs() < 9.0e15).then_some(f as i64)
}

/// JSON equality where numbers compare by value (`1 == 1.0`).
pub(crate) fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            numbers_cmp(x, y) == Some(std::cmp::Ordering::Equal)
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_equal(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => a == b,
    }
}

/// Compares two JSON numbers exactly when both are integers, as floats
/// otherwise.
pub(crate) fn numbers_cmp(a: &Number, b: &Number) -> Option<std::cmp::Ordering> {
    let int = |n: &Number| n.as_i64().map(i128::from).or(n.as_u64().map(i128::from));
    match (int(a), int(b)) {
        (Some(x), Some(y)) => Some(x.cmp(&y)),
        _ => a.as_f64()?.partial_cmp(&b.as_f64()?),
    }
}

fn call(func: Func, args: Vec<Value>, raw_template: Option<&str>) -> Result<Value, Refused> {
    match func {
        Func::Format => {
            let template = match raw_template {
                Some(raw) => raw.to_owned(),
                None => string_arg(func, &args, 0)?,
            };
            format(
                &template,
                raw_template.is_some(),
                args.get(1..).unwrap_or(&[]),
            )
        }
        Func::StringToJson => {
            expect_args(func, &args, &[1])?;
            let text = string_arg(func, &args, 0)?;
            serde_json::from_str(&text)
                .map_err(|e| Refused::from(format!("the string is not valid JSON: {e}")))
        }
        Func::JsonToString => {
            expect_args(func, &args, &[1])?;
            Ok(Value::String(args[0].to_string()))
        }
        Func::Array => Ok(Value::Array(args)),
        Func::ArrayPartition => {
            expect_args(func, &args, &[2])?;
            let items = array_arg(func, &args, 0)?;
            let size = int_arg(func, &args, 1)?;
            if size <= 0 {
                return Err(format!("the chunk size must be positive, not {size}").into());
            }
            let size = usize::try_from(size).map_err(|e| Refused::from(e.to_string()))?;
            Ok(Value::Array(
                items
                    .chunks(size)
                    .map(|chunk| Value::Array(chunk.to_vec()))
                    .collect(),
            ))
        }
        Func::ArrayContains => {
            expect_args(func, &args, &[2])?;
            let items = array_arg(func, &args, 0)?;
            Ok(Value::Bool(
                items.iter().any(|item| json_equal(item, &args[1])),
            ))
        }
        Func::ArrayRange => {
            expect_args(func, &args, &[3])?;
            let (first, last, step) = (
                int_arg(func, &args, 0)?,
                int_arg(func, &args, 1)?,
                int_arg(func, &args, 2)?,
            );
            if step == 0 {
                return Err("the step must not be 0".into());
            }
            let mut out = Vec::new();
            let mut current = first;
            while (step > 0 && current <= last) || (step < 0 && current >= last) {
                if out.len() == 1000 {
                    return Err("the range has more than 1000 elements".into());
                }
                out.push(Value::from(current));
                current = match current.checked_add(step) {
                    Some(next) => next,
                    None => break,
                };
            }
            Ok(Value::Array(out))
        }
        Func::ArrayGetItem => {
            expect_args(func, &args, &[2])?;
            let items = array_arg(func, &args, 0)?;
            let index = int_arg(func, &args, 1)?;
            usize::try_from(index)
                .ok()
                .and_then(|i| items.get(i).cloned())
                .ok_or_else(|| {
                    Refused::from(format!(
                        "index {index} is out of bounds (length {})",
                        items.len()
                    ))
                })
        }
        Func::ArrayLength => {
            expect_args(func, &args, &[1])?;
            Ok(Value::from(array_arg(func, &args, 0)?.len()))
        }
        Func::ArrayUnique => {
            expect_args(func, &args, &[1])?;
            let mut unique: Vec<Value> = Vec::new();
            for item in array_arg(func, &args, 0)? {
                if !unique.iter().any(|seen| json_equal(seen, &item)) {
                    unique.push(item);
                }
            }
            Ok(Value::Array(unique))
        }
        Func::Base64Encode => {
            expect_args(func, &args, &[1])?;
            Ok(Value::String(base64_encode(
                string_arg(func, &args, 0)?.as_bytes(),
            )))
        }
        Func::Base64Decode => {
            expect_args(func, &args, &[1])?;
            let bytes = base64_decode(&string_arg(func, &args, 0)?)?;
            String::from_utf8(bytes)
                .map(Value::String)
                .map_err(|_| Refused::from("the decoded bytes are not UTF-8 text".to_owned()))
        }
        Func::JsonMerge => {
            expect_args(func, &args, &[3])?;
            let (Value::Object(left), Value::Object(right)) = (&args[0], &args[1]) else {
                return Err("the first two arguments must be objects".into());
            };
            let Value::Bool(deep) = args[2] else {
                return Err("the third argument must be a boolean".into());
            };
            let mut merged = left.clone();
            merge(&mut merged, right, deep);
            Ok(Value::Object(merged))
        }
        Func::MathRandom => {
            expect_args(func, &args, &[2, 3])?;
            let start = int_arg(func, &args, 0)?;
            let end = int_arg(func, &args, 1)?;
            if start >= end {
                return Err(
                    format!("the start ({start}) must be less than the end ({end})").into(),
                );
            }
            let mut rng = match args.get(2) {
                Some(_) => SplitMix64::seeded(int_arg(func, &args, 2)? as u64),
                None => SplitMix64::from_entropy(),
            };
            let span = (i128::from(end) - i128::from(start)) as u128;
            let offset = u128::from(rng.next_u64()) % span;
            let value = i128::from(start) + offset as i128;
            i64::try_from(value)
                .map(Value::from)
                .map_err(|e| Refused::from(e.to_string()))
        }
        Func::MathAdd => {
            expect_args(func, &args, &[2])?;
            let operand = |index: usize| -> Result<i64, Refused> {
                match &args[index] {
                    Value::Number(n) => match n.as_i64() {
                        Some(i) => Ok(i),
                        None => n
                            .as_f64()
                            .filter(|f| f.abs() < 9.0e15)
                            .map(|f| f.round() as i64)
                            .ok_or_else(|| Refused::from(format!("{n} is out of range"))),
                    },
                    other => Err(format!(
                        "argument {} must be a number, not {}",
                        index + 1,
                        describe_type(other)
                    )
                    .into()),
                }
            };
            let (a, b) = (operand(0)?, operand(1)?);
            a.checked_add(b)
                .map(Value::from)
                .ok_or_else(|| Refused::from("the sum overflows".to_owned()))
        }
        Func::StringSplit => {
            expect_args(func, &args, &[2])?;
            let text = string_arg(func, &args, 0)?;
            let delimiters = string_arg(func, &args, 1)?;
            Ok(Value::Array(
                text.split(|c| delimiters.contains(c))
                    .filter(|part| !part.is_empty())
                    .map(|part| Value::String(part.to_owned()))
                    .collect(),
            ))
        }
        Func::Uuid => {
            expect_args(func, &args, &[0])?;
            Ok(Value::String(uuid_v4()))
        }
    }
}

/// `States.Format`: replaces each `{}` with the next argument. With
/// `escapes`, `\x` stands for a literal `x` (so `\{` and `\}` are braces).
fn format(template: &str, escapes: bool, args: &[Value]) -> Result<Value, Refused> {
    let mut out = String::new();
    let mut chars = template.chars().peekable();
    let mut next_arg = args.iter();
    let mut placeholders = 0;
    while let Some(c) = chars.next() {
        match c {
            '\\' if escapes => {
                if let Some(escaped) = chars.next() {
                    out.push(escaped);
                }
            }
            '{' if chars.peek() == Some(&'}') => {
                chars.next();
                placeholders += 1;
                match next_arg.next() {
                    Some(Value::String(s)) => out.push_str(s),
                    Some(value @ (Value::Number(_) | Value::Bool(_) | Value::Null)) => {
                        out.push_str(&value.to_string());
                    }
                    Some(other) => {
                        return Err(format!(
                            "States.Format cannot format {}: only strings, numbers, booleans and null",
                            describe_type(other)
                        ).into());
                    }
                    None => {}
                }
            }
            c => out.push(c),
        }
    }
    if placeholders != args.len() {
        return Err(format!(
            "the template has {placeholders} placeholder(s) but {} argument(s) were given",
            args.len()
        )
        .into());
    }
    Ok(Value::String(out))
}

fn merge(target: &mut Map<String, Value>, source: &Map<String, Value>, deep: bool) {
    for (key, value) in source {
        match (target.get_mut(key), value) {
            (Some(Value::Object(existing)), Value::Object(incoming)) if deep => {
                merge(existing, incoming, true);
            }
            _ => {
                target.insert(key.clone(), value.clone());
            }
        }
    }
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(BASE64[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn base64_decode(text: &str) -> Result<Vec<u8>, Refused> {
    let trimmed = text.trim_end_matches('=');
    if text.len() - trimmed.len() > 2 {
        return Err("invalid base64 padding".into());
    }
    let mut out = Vec::with_capacity(trimmed.len() * 3 / 4);
    let mut buffer = 0u32;
    let mut bits = 0;
    for c in trimmed.bytes() {
        let value = BASE64.iter().position(|&b| b == c).ok_or_else(|| {
            Refused::from(format!("`{}` is not a base64 character", char::from(c)))
        })?;
        buffer = (buffer << 6) | value as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    if trimmed.len() % 4 == 1 {
        return Err("invalid base64 length".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::context::ExecutionInfo;
    use super::*;
    use serde_json::json;

    fn eval(text: &str, input: Value) -> Result<Value, TaskFailure> {
        let info = ExecutionInfo {
            id: "arn:exec".into(),
            name: "exec-1".into(),
            input: json!({}),
            start_time: "2024-01-01T00:00:00.000Z".into(),
            role_arn: "arn:role".into(),
            machine_id: "arn:machine".into(),
            machine_name: "machine".into(),
        };
        let ctx = Context {
            execution: &info,
            state_name: "S",
            entered_time: "2024-01-01T00:00:00.000Z",
            retry_count: 0,
            map_item: None,
        };
        Intrinsic::parse(text).unwrap().eval(&input, &ctx)
    }

    fn failure(text: &str, input: Value) -> TaskFailure {
        eval(text, input).unwrap_err()
    }

    #[test]
    fn format_substitutes_arguments_and_honours_escapes() {
        assert_eq!(
            eval(
                r"States.Format('Hello, {}! You are {} ({}, {})', $.name, $.age, true, null)",
                json!({"name": "Ann", "age": 41})
            )
            .unwrap(),
            json!("Hello, Ann! You are 41 (true, null)")
        );
        assert_eq!(
            eval(r"States.Format('it\'s \{literal\} {}', 'x')", json!({})).unwrap(),
            json!("it's {literal} x")
        );
        assert_eq!(
            eval(
                "States.Format('{}-{}', $$.Execution.Name, $$.State.Name)",
                json!({})
            )
            .unwrap(),
            json!("exec-1-S")
        );
    }

    #[test]
    fn format_checks_placeholder_count_and_types() {
        let err = failure("States.Format('{} {}', 'a')", json!({}));
        assert_eq!(err.error, "States.IntrinsicFailure");
        assert!(
            err.cause.contains("2 placeholder(s) but 1 argument(s)"),
            "{}",
            err.cause
        );
        let err = failure("States.Format('{}', $.obj)", json!({"obj": {"a": 1}}));
        assert_eq!(err.error, "States.IntrinsicFailure");
    }

    #[test]
    fn json_conversions() {
        assert_eq!(
            eval("States.StringToJson($.s)", json!({"s": "{\"a\":[1,2]}"})).unwrap(),
            json!({"a": [1, 2]})
        );
        assert_eq!(
            eval("States.JsonToString($.o)", json!({"o": {"a": [1, "x"]}})).unwrap(),
            json!("{\"a\":[1,\"x\"]}")
        );
        assert_eq!(
            failure("States.StringToJson('{')", json!({})).error,
            "States.IntrinsicFailure"
        );
        assert_eq!(
            eval(
                "States.JsonMerge($.a, $.b, false)",
                json!({"a": {"x": 1, "n": {"p": 1}}, "b": {"y": 2, "n": {"q": 2}}})
            )
            .unwrap(),
            json!({"x": 1, "n": {"q": 2}, "y": 2})
        );
    }

    #[test]
    fn array_functions() {
        assert_eq!(
            eval(
                "States.Array('a', 1, $.x, States.Array())",
                json!({"x": [true]})
            )
            .unwrap(),
            json!(["a", 1, [true], []])
        );
        assert_eq!(
            eval("States.ArrayLength($.l)", json!({"l": [1, 2, 3]})).unwrap(),
            json!(3)
        );
        assert_eq!(
            eval("States.ArrayContains($.l, 2)", json!({"l": [1, 2.0, 3]})).unwrap(),
            json!(true)
        );
        assert_eq!(
            eval("States.ArrayContains($.l, 'z')", json!({"l": ["a"]})).unwrap(),
            json!(false)
        );
        assert_eq!(
            eval(
                "States.ArrayPartition($.l, 2)",
                json!({"l": [1, 2, 3, 4, 5]})
            )
            .unwrap(),
            json!([[1, 2], [3, 4], [5]])
        );
        assert_eq!(
            eval("States.ArrayRange(1, 9, 2)", json!({})).unwrap(),
            json!([1, 3, 5, 7, 9])
        );
        assert_eq!(
            eval("States.ArrayRange(3, 1, -1)", json!({})).unwrap(),
            json!([3, 2, 1])
        );
        assert_eq!(
            eval("States.ArrayGetItem($.l, 1)", json!({"l": ["a", "b"]})).unwrap(),
            json!("b")
        );
        assert_eq!(
            eval("States.ArrayUnique($.l)", json!({"l": [1, 2, 1, "a", "a"]})).unwrap(),
            json!([1, 2, "a"])
        );
        assert_eq!(
            failure("States.ArrayLength($.s)", json!({"s": "abc"})).error,
            "States.IntrinsicFailure"
        );
        assert_eq!(
            failure("States.ArrayLength($.l, 1)", json!({"l": []})).error,
            "States.IntrinsicFailure"
        );
    }

    #[test]
    fn math_functions() {
        assert_eq!(
            eval("States.MathAdd($.n, -3)", json!({"n": 10})).unwrap(),
            json!(7)
        );
        assert_eq!(
            failure("States.MathAdd('1', 2)", json!({})).error,
            "States.IntrinsicFailure"
        );
        let seeded_a = eval("States.MathRandom(1, 100, 42)", json!({})).unwrap();
        let seeded_b = eval("States.MathRandom(1, 100, 42)", json!({})).unwrap();
        assert_eq!(seeded_a, seeded_b);
        let n = seeded_a.as_i64().unwrap();
        assert!((1..100).contains(&n));
    }

    #[test]
    fn string_functions() {
        assert_eq!(
            eval(
                "States.StringSplit($.s, '.+,=')",
                json!({"s": "This.is+a,test=string"})
            )
            .unwrap(),
            json!(["This", "is", "a", "test", "string"])
        );
        assert_eq!(
            eval("States.Base64Encode('Data to encode')", json!({})).unwrap(),
            json!("RGF0YSB0byBlbmNvZGU=")
        );
        assert_eq!(
            eval("States.Base64Decode('RGF0YSB0byBlbmNvZGU=')", json!({})).unwrap(),
            json!("Data to encode")
        );
        for text in ["", "a", "ab", "abc", "abcd"] {
            assert_eq!(
                base64_decode(&base64_encode(text.as_bytes())).unwrap(),
                text.as_bytes()
            );
        }
        let uuid = eval("States.UUID()", json!({})).unwrap();
        assert_eq!(uuid.as_str().unwrap().len(), 36);
    }

    #[test]
    fn nested_calls_and_paths_with_commas() {
        assert_eq!(
            eval(
                "States.Format('{} items', States.ArrayLength(States.StringToJson($['a,b'])))",
                json!({"a,b": "[1,2]"})
            )
            .unwrap(),
            json!("2 items")
        );
    }

    #[test]
    fn missing_path_arguments_are_runtime_errors() {
        assert_eq!(
            failure("States.ArrayLength($.nope)", json!({})).error,
            "States.Runtime"
        );
    }

    #[test]
    fn rejects_bad_syntax_at_parse_time() {
        for bad in [
            "States.Nope()",
            "States.Format('a'",
            "States.Format('a') extra",
            "States.Format(bareword)",
            "States.Format('unterminated)",
            "States.Hash('a', 'SHA-1')",
            "States.Format('{}', $.a[)",
        ] {
            assert!(Intrinsic::parse(bad).is_err(), "{bad} should be rejected");
        }
    }
}
