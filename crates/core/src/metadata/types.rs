//! Column types as Arrow type names (`int64`, `decimal128(38,0)`, `timestamp(us)`, ...).

use crate::error::Invalid;
use arrow::datatypes::{DataType, TimeUnit};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// A column's type, parsed from its Arrow name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    Bool,
    Int8,
    Int16,
    Int32,
    Int64,
    UInt8,
    UInt16,
    UInt32,
    UInt64,
    Float32,
    Float64,
    Decimal128 { precision: u8, scale: i8 },
    String,
    LargeString,
    Binary,
    Date32,
    Timestamp(TimeUnit),
}

impl ColumnType {
    /// The Arrow type values are held in once validated.
    pub fn arrow(self) -> DataType {
        match self {
            ColumnType::Bool => DataType::Boolean,
            ColumnType::Int8 => DataType::Int8,
            ColumnType::Int16 => DataType::Int16,
            ColumnType::Int32 => DataType::Int32,
            ColumnType::Int64 => DataType::Int64,
            ColumnType::UInt8 => DataType::UInt8,
            ColumnType::UInt16 => DataType::UInt16,
            ColumnType::UInt32 => DataType::UInt32,
            ColumnType::UInt64 => DataType::UInt64,
            ColumnType::Float32 => DataType::Float32,
            ColumnType::Float64 => DataType::Float64,
            ColumnType::Decimal128 { precision, scale } => DataType::Decimal128(precision, scale),
            ColumnType::String | ColumnType::LargeString => DataType::Utf8,
            ColumnType::Binary => DataType::Binary,
            ColumnType::Date32 => DataType::Date32,
            // History keeps microseconds: Athena/Iceberg's timestamp(6).
            ColumnType::Timestamp(_) => DataType::Timestamp(TimeUnit::Microsecond, None),
        }
    }
}

impl FromStr for ColumnType {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Invalid> {
        let t = s.trim();
        let simple = match t {
            "bool" | "boolean" => Some(ColumnType::Bool),
            "int8" => Some(ColumnType::Int8),
            "int16" => Some(ColumnType::Int16),
            "int32" => Some(ColumnType::Int32),
            "int64" => Some(ColumnType::Int64),
            "uint8" => Some(ColumnType::UInt8),
            "uint16" => Some(ColumnType::UInt16),
            "uint32" => Some(ColumnType::UInt32),
            "uint64" => Some(ColumnType::UInt64),
            "float32" => Some(ColumnType::Float32),
            "float64" => Some(ColumnType::Float64),
            "string" | "utf8" => Some(ColumnType::String),
            "large_string" | "large_utf8" => Some(ColumnType::LargeString),
            "binary" | "large_binary" => Some(ColumnType::Binary),
            "date32" => Some(ColumnType::Date32),
            _ => None,
        };
        if let Some(ty) = simple {
            return Ok(ty);
        }
        let args = |prefix: &str| {
            t.strip_prefix(prefix)
                .and_then(|r| r.strip_prefix('('))
                .and_then(|r| r.strip_suffix(')'))
        };
        if let Some(unit) = args("timestamp") {
            let unit = match unit.trim() {
                "s" => TimeUnit::Second,
                "ms" => TimeUnit::Millisecond,
                "us" => TimeUnit::Microsecond,
                "ns" => TimeUnit::Nanosecond,
                other => {
                    return Err(format!(
                        "timestamp unit {other:?} in {s:?} is not s, ms, us or ns"
                    )
                    .into());
                }
            };
            return Ok(ColumnType::Timestamp(unit));
        }
        if let Some(ps) = args("decimal128") {
            let parsed = ps.split_once(',').and_then(|(p, s)| {
                Some((p.trim().parse::<u8>().ok()?, s.trim().parse::<i8>().ok()?))
            });
            return match parsed {
                Some((precision @ 1..=38, scale)) if scale >= 0 && scale as u8 <= precision => {
                    Ok(ColumnType::Decimal128 { precision, scale })
                }
                _ => {
                    Err(format!("{s:?} needs decimal128(precision 1-38, scale 0-precision)").into())
                }
            };
        }
        Err(format!(
            "unknown column type {s:?} (expected an Arrow type name such as int64, string, decimal128(38,0), timestamp(us), date32, bool)"
        ).into())
    }
}

impl fmt::Display for ColumnType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ColumnType::Bool => f.write_str("bool"),
            ColumnType::Int8 => f.write_str("int8"),
            ColumnType::Int16 => f.write_str("int16"),
            ColumnType::Int32 => f.write_str("int32"),
            ColumnType::Int64 => f.write_str("int64"),
            ColumnType::UInt8 => f.write_str("uint8"),
            ColumnType::UInt16 => f.write_str("uint16"),
            ColumnType::UInt32 => f.write_str("uint32"),
            ColumnType::UInt64 => f.write_str("uint64"),
            ColumnType::Float32 => f.write_str("float32"),
            ColumnType::Float64 => f.write_str("float64"),
            ColumnType::Decimal128 { precision, scale } => {
                write!(f, "decimal128({precision},{scale})")
            }
            ColumnType::String => f.write_str("string"),
            ColumnType::LargeString => f.write_str("large_string"),
            ColumnType::Binary => f.write_str("binary"),
            ColumnType::Date32 => f.write_str("date32"),
            ColumnType::Timestamp(u) => {
                let unit = match u {
                    TimeUnit::Second => "s",
                    TimeUnit::Millisecond => "ms",
                    TimeUnit::Microsecond => "us",
                    TimeUnit::Nanosecond => "ns",
                };
                write!(f, "timestamp({unit})")
            }
        }
    }
}

impl Serialize for ColumnType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ColumnType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Translates a mojap-metadata `datetime_format` (Python strftime codes) into
/// chrono's: the same codes, except that Python's `%f` is always six digits
/// of microseconds where chrono's `%f` counts nanoseconds.
pub fn chrono_format(python: &str) -> String {
    let mut out = String::with_capacity(python.len() + 2);
    let mut chars = python.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('f') => out.push_str("%6f"),
            Some(next) => {
                out.push('%');
                out.push(next);
            }
            None => out.push('%'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_arrow_names() {
        for name in [
            "bool",
            "int8",
            "int64",
            "uint32",
            "float64",
            "decimal128(38,0)",
            "decimal128(12,2)",
            "string",
            "binary",
            "date32",
            "timestamp(s)",
            "timestamp(ms)",
            "timestamp(us)",
            "timestamp(ns)",
        ] {
            let t: ColumnType = name.parse().unwrap();
            assert_eq!(t.to_string(), name);
        }
        assert_eq!(
            "decimal128( 10 , 2 )".parse::<ColumnType>().unwrap(),
            ColumnType::Decimal128 {
                precision: 10,
                scale: 2
            }
        );
    }

    #[test]
    fn rejects_unknown_and_out_of_range() {
        for bad in [
            "int128",
            "decimal128(39,0)",
            "decimal128(5,6)",
            "timestamp(m)",
            "decimal128",
            "",
        ] {
            assert!(bad.parse::<ColumnType>().is_err(), "{bad}");
        }
    }
}
