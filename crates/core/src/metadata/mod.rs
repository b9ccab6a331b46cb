//! Table metadata in the mojap-metadata table schema, and schema drift.
//!
//! One JSON document per table (`name`, `description`, `primary_key`,
//! `partitions`, `columns[]`). Unknown fields are kept so a round trip never
//! loses what another tool wrote.

mod constraints;
mod source;
mod types;

pub use source::{OverriddenMetadataSource, StoreMetadataSource};
pub use types::{ColumnType, chrono_format};

use crate::error::Invalid;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeSet;

/// Errors in a metadata document.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    #[error("metadata {origin}: not valid JSON: {message}")]
    Json { origin: String, message: String },
    #[error("metadata {origin}: {message}")]
    Invalid { origin: String, message: String },
}

/// One table's metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableMetadata {
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default)]
    pub primary_key: Vec<String>,
    #[serde(default)]
    pub partitions: Vec<String>,
    pub columns: Vec<Column>,
    /// Fields this version of tidemark does not interpret, kept verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One column's metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    #[serde(rename = "type")]
    pub column_type: ColumnType,
    #[serde(default = "default_true")]
    pub nullable: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// The value constraints (`enum`, `pattern`, `minimum`, ...), checked on every row.
    #[serde(flatten)]
    pub constraints: Constraints,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A column's value constraints, named as in the mojap-metadata schema.
/// Nulls are governed by `nullable` alone: a constraint never rejects a null.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Constraints {
    /// The only values allowed (strings, numbers or booleans, read as the column's type).
    #[serde(default, rename = "enum", skip_serializing_if = "Option::is_none")]
    pub enum_values: Option<Vec<Value>>,
    /// A regular expression a string value must match somewhere (anchor it with `^...$`
    /// to match the whole value), as in JSON Schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// Smallest allowed value of a numeric column (inclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum: Option<serde_json::Number>,
    /// Largest allowed value of a numeric column (inclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum: Option<serde_json::Number>,
    /// Fewest characters of a string (bytes of a binary) value.
    #[serde(default, rename = "minLength", skip_serializing_if = "Option::is_none")]
    pub min_length: Option<u64>,
    /// Most characters of a string (bytes of a binary) value.
    #[serde(default, rename = "maxLength", skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u64>,
    /// How text values of a `timestamp(..)` or `date32` column are written, in
    /// Python strftime codes as mojap-metadata uses them (`%Y-%m-%d %H:%M:%S`;
    /// `%f` is microseconds). Without it, ISO 8601 / DMS forms are read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datetime_format: Option<String>,
}

fn default_true() -> bool {
    true
}

/// Names reserved for the history table's control columns.
pub const RESERVED_COLUMNS: [&str; 9] = [
    "valid_from",
    "valid_to",
    "change_seq",
    "is_current",
    "is_deleted",
    "op",
    "batch_id",
    "row_hash",
    "extraction_timestamp",
];

/// How `row_hash` is computed and stored, in the validated files and the
/// history table (validation, "row_hash"); a history generation keeps the
/// one its first batch was validated with
/// ([`crate::ledger::Ledger::row_hash_format`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RowHashFormat {
    /// The XXH3-128 of the text Arrow displays of each value, as 32 hex
    /// digits: generations begun before `bigint`.
    Hex,
    /// The same hash's high 64 bits as a signed 64-bit integer (`hex`'s
    /// first 16 digits): a quarter of the text's bytes to write, read,
    /// store and compare, and no compression to spend on random digits.
    Bigint,
    /// The high 64 bits, as `bigint`, of the XXH3-128 of each value's
    /// bytes rather than its text: numbers, dates and timestamps are not
    /// formatted as digits first.
    #[default]
    Typed,
}

impl RowHashFormat {
    /// Whether `row_hash` is a 64-bit integer (else 32 hex digits).
    pub fn is_bigint(self) -> bool {
        self != RowHashFormat::Hex
    }
}

/// Checks that `name` is a safe SQL identifier for every engine we render:
/// lower-case letters, digits and underscores, starting with a letter or
/// underscore, at most 128 characters (Glue and Athena lower-case names anyway).
pub fn check_identifier(name: &str) -> Result<(), Invalid> {
    let ok_start = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    let ok_rest = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if name.is_empty() || name.len() > 128 || !ok_start || !ok_rest {
        return Err(format!(
            "{name:?} is not a valid identifier (use lower-case letters, digits and _, starting with a letter or _, at most 128 characters)"
        ).into());
    }
    Ok(())
}

impl TableMetadata {
    /// Parses and checks a metadata document; `origin` names it in errors.
    pub fn from_json(origin: &str, text: &str) -> Result<Self, MetadataError> {
        let meta: TableMetadata = serde_json::from_str(text).map_err(|e| MetadataError::Json {
            origin: origin.to_string(),
            message: e.to_string(),
        })?;
        meta.check().map_err(|e| MetadataError::Invalid {
            origin: origin.to_string(),
            message: e.0,
        })?;
        Ok(meta)
    }

    pub fn to_json(&self) -> String {
        // Serialising plain data to a String cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    fn check(&self) -> Result<(), Invalid> {
        check_identifier(&self.name).map_err(|e| format!("table name: {e}"))?;
        if self.columns.is_empty() {
            return Err("no columns".into());
        }
        let mut seen = BTreeSet::new();
        for c in &self.columns {
            check_identifier(&c.name).map_err(|e| format!("column: {e}"))?;
            if RESERVED_COLUMNS.contains(&c.name.as_str()) {
                return Err(
                    format!("column {:?} clashes with a history control column", c.name).into(),
                );
            }
            if !seen.insert(c.name.as_str()) {
                return Err(format!("column {:?} appears twice", c.name).into());
            }
            c.check_constraints()
                .map_err(|e| format!("column {:?}: {e}", c.name))?;
        }
        if self.primary_key.is_empty() {
            return Err("primary_key is empty: SCD2 history needs a key".into());
        }
        for k in &self.primary_key {
            match self.column(k) {
                None => {
                    return Err(format!("primary_key names {k:?}, which is not a column").into());
                }
                Some(c) if c.nullable => {
                    return Err(
                        format!("primary_key column {k:?} must be \"nullable\": false").into(),
                    );
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// Columns that are not part of the primary key, in metadata order.
    pub fn non_key_columns(&self) -> impl Iterator<Item = &Column> {
        self.columns
            .iter()
            .filter(|c| !self.primary_key.contains(&c.name))
    }
}

/// How a new metadata version differs from the stored one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Drift {
    None,
    /// Only new nullable columns: history gains them, older rows read NULL.
    Additive {
        added: Vec<String>,
    },
    /// History cannot absorb it without a rebuild.
    Breaking {
        reasons: Vec<String>,
    },
}

/// Compares two versions of a table's metadata. Descriptions and constraints
/// may change freely; only the physical shape matters.
pub fn classify_drift(old: &TableMetadata, new: &TableMetadata) -> Drift {
    let mut reasons = Vec::new();
    if old.primary_key != new.primary_key {
        reasons.push(format!(
            "primary key changed from {:?} to {:?}",
            old.primary_key, new.primary_key
        ));
    }
    for o in &old.columns {
        match new.column(&o.name) {
            None => reasons.push(format!("column {} was dropped", o.name)),
            Some(n) if n.column_type != o.column_type => reasons.push(format!(
                "column {} changed type from {} to {}",
                o.name, o.column_type, n.column_type
            )),
            Some(_) => {}
        }
    }
    let mut added = Vec::new();
    for n in &new.columns {
        if old.column(&n.name).is_none() {
            if n.nullable {
                added.push(n.name.clone());
            } else {
                reasons.push(format!(
                    "new column {} is not nullable, so existing rows have no value for it",
                    n.name
                ));
            }
        }
    }
    if !reasons.is_empty() {
        Drift::Breaking { reasons }
    } else if !added.is_empty() {
        Drift::Additive { added }
    } else {
        Drift::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(columns: &str, key: &str) -> TableMetadata {
        TableMetadata::from_json(
            "test",
            &format!(
                r#"{{"name":"t","primary_key":[{key}],"columns":[{columns}],"custom":{{"x":1}}}}"#
            ),
        )
        .unwrap()
    }

    const BASE: &str =
        r#"{"name":"id","type":"int64","nullable":false},{"name":"v","type":"string"}"#;

    #[test]
    fn keeps_unknown_fields_and_defaults_nullable() {
        let m = meta(BASE, r#""id""#);
        assert_eq!(m.extra["custom"]["x"], 1);
        assert!(m.column("v").unwrap().nullable);
        let again = TableMetadata::from_json("again", &m.to_json()).unwrap();
        assert_eq!(again, m);
    }

    #[test]
    fn rejects_bad_documents_with_reason() {
        let bad = |cols: &str, key: &str| {
            TableMetadata::from_json(
                "m.json",
                &format!(r#"{{"name":"t","primary_key":[{key}],"columns":[{cols}]}}"#),
            )
            .unwrap_err()
            .to_string()
        };
        assert!(bad(BASE, r#""nope""#).contains("not a column"));
        assert!(bad(r#"{"name":"id","type":"int64"}"#, r#""id""#).contains("nullable"));
        assert!(
            bad(
                r#"{"name":"Bad Name","type":"int64","nullable":false}"#,
                r#""Bad Name""#
            )
            .contains("identifier")
        );
        assert!(
            bad(
                r#"{"name":"valid_to","type":"int64","nullable":false}"#,
                r#""valid_to""#
            )
            .contains("control")
        );
        assert!(
            bad(
                r#"{"name":"id","type":"int128","nullable":false}"#,
                r#""id""#
            )
            .contains("int128")
        );
        assert!(bad(BASE, "").contains("primary_key"));
    }

    #[test]
    fn classifies_drift() {
        let old = meta(BASE, r#""id""#);
        assert_eq!(classify_drift(&old, &old), Drift::None);
        let added = meta(
            &format!(r#"{BASE},{{"name":"w","type":"bool"}}"#),
            r#""id""#,
        );
        assert_eq!(
            classify_drift(&old, &added),
            Drift::Additive {
                added: vec!["w".into()]
            }
        );
        let retyped = meta(
            r#"{"name":"id","type":"int64","nullable":false},{"name":"v","type":"int32"}"#,
            r#""id""#,
        );
        assert!(
            matches!(classify_drift(&old, &retyped), Drift::Breaking { reasons } if reasons[0].contains("changed type"))
        );
        let dropped = meta(
            r#"{"name":"id","type":"int64","nullable":false}"#,
            r#""id""#,
        );
        assert!(
            matches!(classify_drift(&old, &dropped), Drift::Breaking { reasons } if reasons[0].contains("dropped"))
        );
        let rekeyed = meta(
            r#"{"name":"id","type":"int64","nullable":false},{"name":"v","type":"string","nullable":false}"#,
            r#""id","v""#,
        );
        assert!(matches!(
            classify_drift(&old, &rekeyed),
            Drift::Breaking { .. }
        ));
    }
}
