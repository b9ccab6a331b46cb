//! Which constraints apply to which column types, checked when metadata is
//! loaded so a mistake in a document is reported once, naming the column,
//! rather than as a finding on every row.

use super::{Column, ColumnType, chrono_format};
use crate::error::Invalid;

impl Column {
    /// Checks that each constraint suits the column's type and is well formed.
    pub(crate) fn check_constraints(&self) -> Result<(), Invalid> {
        let c = &self.constraints;
        let ty = self.column_type;
        let is_string = matches!(ty, ColumnType::String | ColumnType::LargeString);
        let is_numeric = ty.is_numeric();
        if let Some(values) = &c.enum_values {
            if matches!(
                ty,
                ColumnType::Float32 | ColumnType::Float64 | ColumnType::Binary
            ) {
                return Err(format!("enum is not supported on {ty} columns").into());
            }
            if values.is_empty() {
                return Err("enum is empty: no value could pass".into());
            }
        }
        if c.pattern.is_some() && !is_string {
            return Err(format!("pattern applies to string columns, not {ty}").into());
        }
        if (c.minimum.is_some() || c.maximum.is_some()) && !is_numeric {
            return Err(format!("minimum and maximum apply to numeric columns, not {ty}").into());
        }
        if let (Some(lo), Some(hi)) = (&c.minimum, &c.maximum)
            && lo.as_f64() > hi.as_f64()
        {
            return Err(format!("minimum {lo} is above maximum {hi}").into());
        }
        if (c.min_length.is_some() || c.max_length.is_some())
            && !(is_string || ty == ColumnType::Binary)
        {
            return Err(format!(
                "minLength and maxLength apply to string and binary columns, not {ty}"
            )
            .into());
        }
        if let (Some(lo), Some(hi)) = (c.min_length, c.max_length)
            && lo > hi
        {
            return Err(format!("minLength {lo} is above maxLength {hi}").into());
        }
        if let Some(format) = &c.datetime_format {
            if !matches!(ty, ColumnType::Timestamp(_) | ColumnType::Date32) {
                return Err(format!(
                    "datetime_format applies to timestamp and date32 columns, not {ty}"
                )
                .into());
            }
            check_format(format)?;
        }
        // Enum values and the pattern are compiled exactly as validation will use them.
        crate::validate::ColumnRules::compile(self).map(|_| ())
    }
}

impl ColumnType {
    /// Integers, floats and decimals: the types `minimum` and `maximum` apply to.
    pub fn is_numeric(self) -> bool {
        self.is_integer()
            || matches!(
                self,
                ColumnType::Float32 | ColumnType::Float64 | ColumnType::Decimal128 { .. }
            )
    }

    /// Signed and unsigned integers of any width.
    pub fn is_integer(self) -> bool {
        matches!(
            self,
            ColumnType::Int8
                | ColumnType::Int16
                | ColumnType::Int32
                | ColumnType::Int64
                | ColumnType::UInt8
                | ColumnType::UInt16
                | ColumnType::UInt32
                | ColumnType::UInt64
        )
    }
}

fn check_format(format: &str) -> Result<(), Invalid> {
    use chrono::format::{Item, StrftimeItems};
    if format.is_empty() {
        return Err("datetime_format is empty".into());
    }
    let translated = chrono_format(format);
    if StrftimeItems::new(&translated).any(|i| matches!(i, Item::Error)) {
        return Err(format!("datetime_format {format:?} is not a valid strftime format").into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::TableMetadata;
    use super::*;

    fn column(spec: &str) -> Result<TableMetadata, String> {
        TableMetadata::from_json(
            "m.json",
            &format!(
                r#"{{"name":"t","primary_key":["id"],"columns":[
                    {{"name":"id","type":"int64","nullable":false}},{spec}]}}"#
            ),
        )
        .map_err(|e| e.to_string())
    }

    #[test]
    fn reads_every_constraint_and_keeps_unknown_fields() {
        let m = column(
            r#"{"name":"code","type":"string","enum":["A","B"],"pattern":"^[A-Z]$",
                "minLength":1,"maxLength":2,"sensitive":true},
               {"name":"qty","type":"int32","minimum":0,"maximum":10.5},
               {"name":"born","type":"date32","datetime_format":"%d/%m/%Y"}"#,
        )
        .unwrap();
        let code = m.column("code").unwrap();
        assert_eq!(code.constraints.enum_values.as_ref().unwrap().len(), 2);
        assert_eq!(code.constraints.pattern.as_deref(), Some("^[A-Z]$"));
        assert_eq!(
            (code.constraints.min_length, code.constraints.max_length),
            (Some(1), Some(2))
        );
        assert_eq!(code.extra["sensitive"], true);
        assert!(!code.extra.contains_key("enum"));
        let qty = m.column("qty").unwrap();
        assert_eq!(
            qty.constraints.maximum.as_ref().unwrap().as_f64(),
            Some(10.5)
        );
        let again = TableMetadata::from_json("again", &m.to_json()).unwrap();
        assert_eq!(again, m);
        assert!(m.to_json().contains("\"minLength\": 1"));
    }

    #[test]
    fn rejects_constraints_that_do_not_fit_the_type() {
        for (spec, expected) in [
            (
                r#"{"name":"v","type":"int64","pattern":"x"}"#,
                "pattern applies to string columns",
            ),
            (
                r#"{"name":"v","type":"string","minimum":1}"#,
                "minimum and maximum apply to numeric",
            ),
            (
                r#"{"name":"v","type":"int64","maxLength":1}"#,
                "minLength and maxLength apply",
            ),
            (
                r#"{"name":"v","type":"string","datetime_format":"%Y"}"#,
                "datetime_format applies",
            ),
            (
                r#"{"name":"v","type":"float64","enum":[1.5]}"#,
                "enum is not supported",
            ),
            (r#"{"name":"v","type":"string","enum":[]}"#, "enum is empty"),
            (
                r#"{"name":"v","type":"int32","minimum":5,"maximum":1}"#,
                "above maximum",
            ),
            (
                r#"{"name":"v","type":"string","minLength":5,"maxLength":1}"#,
                "above maxLength",
            ),
            (
                r#"{"name":"v","type":"string","pattern":"("}"#,
                "not a valid regular expression",
            ),
            (
                r#"{"name":"v","type":"int32","enum":["x"]}"#,
                "enum value \"x\" is not a valid int32",
            ),
            (
                r#"{"name":"v","type":"timestamp(us)","datetime_format":"%Q"}"#,
                "not a valid strftime format",
            ),
        ] {
            let e = column(spec).unwrap_err();
            assert!(e.contains(expected), "{spec}: {e}");
            assert!(e.contains("column \"v\""), "{e}");
        }
    }

    #[test]
    fn python_microseconds_become_chrono_microseconds() {
        assert_eq!(
            chrono_format("%Y-%m-%d %H:%M:%S.%f"),
            "%Y-%m-%d %H:%M:%S.%6f"
        );
        assert_eq!(chrono_format("100%% %d"), "100%% %d");
    }
}
