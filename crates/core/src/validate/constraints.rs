//! One column's metadata compiled into what checking needs: how to read a
//! landed value as the column's type (without a silent loss), and the
//! constraints every value must meet.

use super::Rule;
use crate::error::Invalid;
use crate::metadata::{Column, ColumnType, chrono_format};
use arrow::array::{Array, ArrayRef, AsArray, Date32Array, StringArray, TimestampMicrosecondArray};
use arrow::compute::{CastOptions, can_cast_types, cast_with_options};
use arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type,
    Int64Type, TimeUnit, TimestampMicrosecondType, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use chrono::{DateTime, NaiveDate, NaiveDateTime};
use regex::Regex;
use serde_json::Value;
use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

/// Reports a finding for row `i` of the batch; the message is built only if kept.
pub(crate) type Emit<'a> = dyn FnMut(usize, Rule, &dyn Fn() -> String) + 'a;

/// A column's type and constraints, ready to check record batches.
#[derive(Debug)]
pub struct ColumnRules {
    ty: ColumnType,
    target: DataType,
    enum_set: Option<(EnumSet, String)>,
    pattern: Option<Regex>,
    minimum: Option<(Bound, String)>,
    maximum: Option<(Bound, String)>,
    min_length: Option<u64>,
    max_length: Option<u64>,
    /// In chrono's codes.
    datetime_format: Option<String>,
}

#[derive(Debug)]
enum EnumSet {
    Text(HashSet<String, BuildHasherDefault<Fnv>>),
    /// Integers, decimals (unscaled), dates (days) and timestamps (microseconds).
    Int(HashSet<i128, BuildHasherDefault<Fnv>>),
    Bool(Vec<bool>),
}

/// FNV-1a: enum values are short and few, and not chosen by an adversary,
/// so a simple hash beats the default one by a wide margin.
#[derive(Debug)]
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3);
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Bound {
    /// In the column's integer domain (decimals: unscaled).
    Int(i128),
    Float(f64),
}

impl ColumnRules {
    /// Compiles a column's constraints; errors name what is wrong with the metadata.
    pub fn compile(column: &Column) -> Result<ColumnRules, Invalid> {
        let c = &column.constraints;
        let ty = column.column_type;
        let mut rules = ColumnRules {
            ty,
            target: ty.arrow(),
            enum_set: None,
            pattern: None,
            minimum: None,
            maximum: None,
            min_length: c.min_length,
            max_length: c.max_length,
            datetime_format: c.datetime_format.as_deref().map(chrono_format),
        };
        if let Some(pattern) = &c.pattern {
            rules.pattern = Some(Regex::new(pattern).map_err(|e| {
                format!("pattern {pattern:?} is not a valid regular expression: {e}")
            })?);
        }
        if let Some(values) = &c.enum_values {
            rules.enum_set = Some((rules.compile_enum(values)?, shown_enum(values)));
        }
        if let Some(n) = &c.minimum {
            rules.minimum = Some((rules.bound(n, true), n.to_string()));
        }
        if let Some(n) = &c.maximum {
            rules.maximum = Some((rules.bound(n, false), n.to_string()));
        }
        Ok(rules)
    }

    fn compile_enum(&self, values: &[Value]) -> Result<EnumSet, Invalid> {
        let texts = values
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                Value::Number(n) => Ok(n.to_string()),
                Value::Bool(b) => Ok(b.to_string()),
                other => {
                    Err(format!("enum value {other} is not a string, number or boolean").into())
                }
            })
            .collect::<Result<Vec<String>, Invalid>>()?;
        if matches!(self.ty, ColumnType::String | ColumnType::LargeString) {
            return Ok(EnumSet::Text(texts.into_iter().collect()));
        }
        // Read each value exactly as a landed text value would be.
        let source: ArrayRef = Arc::new(StringArray::from(texts.clone()));
        let typed = self.cast(&source).map_err(|e| format!("enum: {e}"))?;
        let mut bad = None;
        for (i, text) in texts.iter().enumerate() {
            if typed.is_null(i) {
                bad = Some(text.clone());
            }
        }
        self.lossless(&source, &typed, &mut |i, _, _| bad = Some(texts[i].clone()));
        if let Some(text) = bad {
            return Err(format!("enum value {text:?} is not a valid {}", self.ty).into());
        }
        if self.ty == ColumnType::Bool {
            let b = typed.as_boolean();
            return Ok(EnumSet::Bool((0..b.len()).map(|i| b.value(i)).collect()));
        }
        let mut set = HashSet::default();
        for_each_int(typed.as_ref(), |_, v| {
            set.insert(v);
        });
        Ok(EnumSet::Int(set))
    }

    /// A numeric bound in the column's domain: integer columns round a
    /// fractional minimum up and a fractional maximum down.
    fn bound(&self, n: &serde_json::Number, lower: bool) -> Bound {
        let scale = match self.ty {
            ColumnType::Float32 | ColumnType::Float64 => {
                return Bound::Float(n.as_f64().unwrap_or(f64::NAN));
            }
            ColumnType::Decimal128 { scale, .. } => scale as u32,
            _ => 0,
        };
        let factor = 10i128.pow(scale);
        if let Some(i) = n.as_i64().map(i128::from).or(n.as_u64().map(i128::from)) {
            return Bound::Int(i.saturating_mul(factor));
        }
        let x = n.as_f64().unwrap_or(0.0) * factor as f64;
        let near = x.round();
        let v = if (x - near).abs() < 1e-6 {
            near
        } else if lower {
            x.ceil()
        } else {
            x.floor()
        };
        Bound::Int(v as i128)
    }

    /// Whether values of type `from` can be read as this column's type at all.
    pub(crate) fn can_read(&self, from: &DataType) -> bool {
        (self.datetime_format.is_some() && is_text(from)) || can_cast_types(from, &self.target)
    }

    /// The values as the column's type; a value that cannot be read becomes null.
    pub(crate) fn cast(&self, source: &ArrayRef) -> Result<ArrayRef, Invalid> {
        if let Some(format) = &self.datetime_format
            && is_text(source.data_type())
        {
            let text = cast_with_options(source, &DataType::Utf8, &CastOptions::default())
                .map_err(|e| e.to_string())?;
            let text = text.as_string::<i32>();
            return Ok(match self.target {
                DataType::Date32 => Arc::new(
                    text.iter()
                        .map(|s| s.and_then(|s| parse_date(s, format)))
                        .collect::<Date32Array>(),
                ),
                _ => Arc::new(
                    text.iter()
                        .map(|s| s.and_then(|s| parse_datetime(s, format)))
                        .collect::<TimestampMicrosecondArray>(),
                ),
            });
        }
        let safe = CastOptions {
            safe: true,
            ..Default::default()
        };
        cast_with_options(source, &self.target, &safe).map_err(|e| Invalid(e.to_string()))
    }

    /// Values that were read, but only by rounding or truncating them.
    pub(crate) fn lossless(&self, source: &ArrayRef, cast: &ArrayRef, emit: &mut Emit<'_>) {
        let whole_number = || "is not a whole number: reading it would truncate it".to_string();
        match (source.data_type(), &self.target) {
            (DataType::Utf8 | DataType::LargeUtf8, DataType::Decimal128(_, scale)) => {
                let text = cast_with_options(source, &DataType::Utf8, &CastOptions::default());
                let Ok(text) = text else { return };
                let text = text.as_string::<i32>();
                for i in 0..text.len() {
                    if cast.is_valid(i) && excess_fraction(text.value(i), *scale) {
                        emit(i, Rule::Type, &|| {
                            format!(
                                "has more than {scale} decimal places: reading it would round it"
                            )
                        });
                    }
                }
            }
            (DataType::Decimal128(_, from), DataType::Decimal128(_, to)) if from > to => {
                let unit = 10i128.pow((*from - *to) as u32);
                let values = source.as_primitive::<Decimal128Type>();
                for i in 0..values.len() {
                    if values.is_valid(i) && values.value(i) % unit != 0 {
                        emit(i, Rule::Type, &|| {
                            format!("has more than {to} decimal places: reading it would round it")
                        });
                    }
                }
            }
            (DataType::Decimal128(_, from), to) if *from > 0 && to.is_integer() => {
                let unit = 10i128.pow(*from as u32);
                let values = source.as_primitive::<Decimal128Type>();
                for i in 0..values.len() {
                    if values.is_valid(i) && values.value(i) % unit != 0 {
                        emit(i, Rule::Type, &whole_number);
                    }
                }
            }
            (DataType::Float32 | DataType::Float64, to) if to.is_integer() => {
                let values = cast_with_options(source, &DataType::Float64, &CastOptions::default());
                let Ok(values) = values else { return };
                let values = values.as_primitive::<Float64Type>();
                for i in 0..values.len() {
                    if cast.is_valid(i) && values.value(i).fract() != 0.0 {
                        emit(i, Rule::Type, &whole_number);
                    }
                }
            }
            _ => {}
        }
    }

    /// Checks the constraints on values already read as the column's type.
    /// Nulls pass: `nullable` governs them.
    pub(crate) fn check(&self, typed: &ArrayRef, emit: &mut Emit<'_>) {
        if let Some((set, shown)) = &self.enum_set {
            let message = || format!("is not one of {shown}");
            match set {
                EnumSet::Text(set) => for_each_str(typed.as_ref(), |i, s| {
                    if !set.contains(s) {
                        emit(i, Rule::Enum, &message);
                    }
                }),
                EnumSet::Int(set) => for_each_int(typed.as_ref(), |i, v| {
                    if !set.contains(&v) {
                        emit(i, Rule::Enum, &message);
                    }
                }),
                EnumSet::Bool(allowed) => {
                    let b = typed.as_boolean();
                    for i in 0..b.len() {
                        if b.is_valid(i) && !allowed.contains(&b.value(i)) {
                            emit(i, Rule::Enum, &message);
                        }
                    }
                }
            }
        }
        if let Some(regex) = &self.pattern {
            let message = || format!("does not match the pattern {}", regex.as_str());
            for_each_str(typed.as_ref(), |i, s| {
                if !regex.is_match(s) {
                    emit(i, Rule::Pattern, &message);
                }
            });
        }
        for (bound, rule) in [
            (&self.minimum, Rule::Minimum),
            (&self.maximum, Rule::Maximum),
        ] {
            let Some((bound, shown)) = bound else {
                continue;
            };
            let below = rule == Rule::Minimum;
            let message = || {
                if below {
                    format!("is below the minimum {shown}")
                } else {
                    format!("is above the maximum {shown}")
                }
            };
            match *bound {
                Bound::Int(b) => for_each_int(typed.as_ref(), |i, v| {
                    if (below && v < b) || (!below && v > b) {
                        emit(i, rule, &message);
                    }
                }),
                Bound::Float(b) => for_each_float(typed.as_ref(), |i, v| {
                    if (below && v < b) || (!below && v > b) {
                        emit(i, rule, &message);
                    }
                }),
            }
        }
        if self.min_length.is_some() || self.max_length.is_some() {
            let (lo, hi) = (
                self.min_length.unwrap_or(0),
                self.max_length.unwrap_or(u64::MAX),
            );
            let unit = if self.ty == ColumnType::Binary {
                "bytes"
            } else {
                "characters"
            };
            let mut check = |i: usize, len: u64| {
                if len < lo {
                    emit(i, Rule::MinLength, &|| {
                        format!("has {len} {unit}, fewer than minLength {lo}")
                    });
                } else if len > hi {
                    emit(i, Rule::MaxLength, &|| {
                        format!("has {len} {unit}, more than maxLength {hi}")
                    });
                }
            };
            if self.ty == ColumnType::Binary {
                let b = typed.as_binary::<i32>();
                for i in 0..b.len() {
                    if b.is_valid(i) {
                        check(i, b.value(i).len() as u64);
                    }
                }
            } else {
                for_each_str(typed.as_ref(), |i, s| {
                    // Bytes bound characters from above: count only when it matters.
                    let bytes = s.len() as u64;
                    if bytes < lo || bytes > hi {
                        check(i, s.chars().count() as u64);
                    }
                });
            }
        }
    }
}

fn is_text(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

/// `{"a", "b", ...}` for messages, cut after ten values.
fn shown_enum(values: &[Value]) -> String {
    let mut shown: Vec<String> = values.iter().take(10).map(|v| v.to_string()).collect();
    if values.len() > 10 {
        shown.push(format!("... ({} values)", values.len()));
    }
    format!("[{}]", shown.join(", "))
}

/// Whether a decimal text has non-zero digits beyond `scale` (taking an exponent into account).
fn excess_fraction(text: &str, scale: i8) -> bool {
    let text = text.trim();
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(at) => (&text[..at], text[at + 1..].parse::<i64>().unwrap_or(0)),
        None => (text, 0),
    };
    let (int, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let fraction = fraction.trim_end_matches('0');
    // Digits after the point; trailing zeros of a whole number count as negative.
    let digits = if fraction.is_empty() {
        -((int.len() - int.trim_end_matches('0').len()) as i64)
    } else {
        fraction.len() as i64
    };
    digits - exponent > scale as i64
}

/// Microseconds since the epoch: a value with an offset (`%z`) in UTC, a
/// value without as written, a date alone at midnight.
fn parse_datetime(s: &str, format: &str) -> Option<i64> {
    if let Ok(t) = DateTime::parse_from_str(s, format) {
        return Some(t.timestamp_micros());
    }
    if let Ok(t) = NaiveDateTime::parse_from_str(s, format) {
        return Some(t.and_utc().timestamp_micros());
    }
    NaiveDate::parse_from_str(s, format)
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp_micros())
}

fn parse_date(s: &str, format: &str) -> Option<i32> {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1)?;
    NaiveDate::parse_from_str(s, format)
        .ok()
        .map(|d| (d - epoch).num_days() as i32)
}

fn for_each_str(array: &dyn Array, mut f: impl FnMut(usize, &str)) {
    if let Some(a) = array.as_string_opt::<i32>() {
        for i in 0..a.len() {
            if a.is_valid(i) {
                f(i, a.value(i));
            }
        }
    }
}

/// Every valid value of an integer-like array as an `i128`.
fn for_each_int(array: &dyn Array, mut f: impl FnMut(usize, i128)) {
    macro_rules! each {
        ($t:ty) => {{
            let a = array.as_primitive::<$t>();
            for i in 0..a.len() {
                if a.is_valid(i) {
                    f(i, a.value(i) as i128);
                }
            }
        }};
    }
    match array.data_type() {
        DataType::Int8 => each!(Int8Type),
        DataType::Int16 => each!(Int16Type),
        DataType::Int32 => each!(Int32Type),
        DataType::Int64 => each!(Int64Type),
        DataType::UInt8 => each!(UInt8Type),
        DataType::UInt16 => each!(UInt16Type),
        DataType::UInt32 => each!(UInt32Type),
        DataType::UInt64 => each!(UInt64Type),
        DataType::Decimal128(_, _) => each!(Decimal128Type),
        DataType::Date32 => each!(Date32Type),
        DataType::Timestamp(TimeUnit::Microsecond, _) => each!(TimestampMicrosecondType),
        _ => {}
    }
}

fn for_each_float(array: &dyn Array, mut f: impl FnMut(usize, f64)) {
    macro_rules! each {
        ($t:ty) => {{
            let a = array.as_primitive::<$t>();
            for i in 0..a.len() {
                if a.is_valid(i) {
                    f(i, a.value(i) as f64);
                }
            }
        }};
    }
    match array.data_type() {
        DataType::Float32 => each!(Float32Type),
        DataType::Float64 => each!(Float64Type),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excess_fraction_ignores_trailing_zeros_and_follows_exponents() {
        for (text, scale, excess) in [
            ("1.5", 2, false),
            ("1.50", 2, false),
            ("1.500", 2, false),
            ("1.505", 2, true),
            ("-0.001", 2, true),
            ("15", 0, false),
            ("1.5", 0, true),
            ("1.55e1", 1, false),
            ("1.555e1", 1, true),
            ("15e-1", 0, true),
            ("110e-2", 0, true),
            ("100e-2", 0, false),
            ("0", 0, false),
            (" 2.25 ", 2, false),
        ] {
            assert_eq!(
                excess_fraction(text, scale),
                excess,
                "{text} at scale {scale}"
            );
        }
    }

    #[test]
    fn python_formats_read_microseconds_dates_and_offsets() {
        let f = chrono_format("%Y-%m-%d %H:%M:%S.%f");
        assert_eq!(
            parse_datetime("1970-01-01 00:00:01.000002", &f),
            Some(1_000_002)
        );
        assert_eq!(
            parse_datetime("01/01/1970", &chrono_format("%d/%m/%Y")),
            Some(0)
        );
        assert_eq!(
            parse_datetime(
                "1970-01-01T01:00:00+01:00",
                &chrono_format("%Y-%m-%dT%H:%M:%S%z")
            ),
            Some(0)
        );
        assert_eq!(parse_date("02/01/1970", "%d/%m/%Y"), Some(1));
        assert_eq!(parse_date("1970-13-01", "%Y-%m-%d"), None);
    }
}
