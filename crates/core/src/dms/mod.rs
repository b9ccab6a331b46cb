//! The AWS DMS S3 target format: file names, control columns, and readers.
//!
//! Landed files live under `<prefix>/<schema>/<table>/` (optionally in date
//! partition folders). Full-load files are `LOAD00000001.parquet` (a hex
//! counter); CDC files are named by commit time, `20261121-104501123.parquet`.
//! Both come as Parquet or as CSV, plain or gzip-compressed, with a header
//! row (`AddColumnName=true`) or, as DMS writes CSV by default, without one:
//! then the columns are read in the metadata's order
//! ([`headerless_layouts`]). [`LandedReader`] reads them in record batches.

mod change_seq;
mod read;

pub use change_seq::ChangeSeqKind;
pub use read::{
    BATCH_ROWS, Batches, ByteSource, FileSource, LandedReader, READ_CACHE_BYTES, ReadError,
    ReadOptions, read_range,
};

use crate::error::Invalid;
use serde::{Deserialize, Serialize};

/// Names of the DMS control columns in landed files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ControlColumns {
    /// `I`, `U` or `D`; absent from full-load files unless `IncludeOpForFullLoad`.
    pub op: String,
    /// `TimestampColumnName`: commit time (CDC) or load time (full load).
    pub timestamp: String,
    /// Ordering within one timestamp (`$AR_H_CHANGE_SEQ`); `None` to order by file name and row.
    #[serde(deserialize_with = "empty_is_none")]
    pub change_seq: Option<String>,
    /// How `change_seq` orders: `auto` (decided from a table's first
    /// values, then fixed in its ledger), `integer`, `lsn` or `text`.
    pub change_seq_kind: ChangeSeqKind,
}

/// The columns of a CSV file without a header row, in DMS's order: `Op`
/// (always in CDC files; in a full load only with `IncludeOpForFullLoad`),
/// the timestamp column (`TimestampColumnName`), the table's columns in the
/// metadata's order, then the change-seq column (added by a transformation
/// rule, so last). The layout with `Op` first, then the one without.
pub fn headerless_layouts<S: Into<String>>(
    control: &ControlColumns,
    columns: impl IntoIterator<Item = S>,
) -> Vec<Vec<String>> {
    let mut without_op = vec![control.timestamp.clone()];
    without_op.extend(columns.into_iter().map(Into::into));
    without_op.extend(control.change_seq.clone());
    let mut with_op = vec![control.op.clone()];
    with_op.extend(without_op.iter().cloned());
    vec![with_op, without_op]
}

fn empty_is_none<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s = Option::<String>::deserialize(d)?;
    Ok(s.filter(|s| !s.is_empty()))
}

impl Default for ControlColumns {
    fn default() -> Self {
        ControlColumns {
            op: "op".into(),
            timestamp: "extraction_timestamp".into(),
            change_seq: Some("scn".into()),
            change_seq_kind: ChangeSeqKind::Auto,
        }
    }
}

impl ControlColumns {
    pub(crate) fn check(&self) -> Result<(), Invalid> {
        let names = [
            Some(&self.op),
            Some(&self.timestamp),
            self.change_seq.as_ref(),
        ];
        let names: Vec<&String> = names.into_iter().flatten().collect();
        if names.iter().any(|n| n.is_empty()) {
            return Err("control_columns: op and timestamp need names".into());
        }
        for (i, a) in names.iter().enumerate() {
            if names[i + 1..].iter().any(|b| b.eq_ignore_ascii_case(a)) {
                return Err(format!("control_columns: {a:?} is used twice").into());
            }
        }
        Ok(())
    }

    /// Whether a landed column is one of these control columns (DMS writes `Op` or `op`).
    pub fn is_control(&self, column: &str) -> bool {
        [
            Some(&self.op),
            Some(&self.timestamp),
            self.change_seq.as_ref(),
        ]
        .into_iter()
        .flatten()
        .any(|c| c.eq_ignore_ascii_case(column))
    }
}

/// Full load or change data capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    FullLoad,
    Cdc,
}

/// How a landed file is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileFormat {
    Parquet,
    Csv,
    CsvGzip,
}

/// What a landed file's name says about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileName {
    pub kind: FileKind,
    pub format: FileFormat,
}

/// Recognises `LOAD0000000A.parquet` and `20261121-104501123.csv.gz` style names.
/// Returns `None` for anything DMS would not have written.
pub fn parse_file_name(name: &str) -> Option<FileName> {
    let (stem, format) = if let Some(s) = name.strip_suffix(".parquet") {
        (s, FileFormat::Parquet)
    } else if let Some(s) = name.strip_suffix(".csv.gz") {
        (s, FileFormat::CsvGzip)
    } else if let Some(s) = name.strip_suffix(".csv") {
        (s, FileFormat::Csv)
    } else {
        return None;
    };
    let kind = if let Some(hex) = stem.strip_prefix("LOAD") {
        (hex.len() == 8 && hex.chars().all(|c| c.is_ascii_hexdigit()))
            .then_some(FileKind::FullLoad)?
    } else {
        let (date, time) = stem.split_once('-')?;
        let digits = |s: &str, n: usize| s.len() == n && s.chars().all(|c| c.is_ascii_digit());
        (digits(date, 8) && digits(time, 9)).then_some(FileKind::Cdc)?
    };
    Some(FileName { kind, format })
}

/// The day a landed file landed, as its key says: the date of a DMS date
/// partition folder (`2026/11/21/`, `20261121/`), else the commit date in a
/// CDC file's name. `None` for a full-load file outside date folders.
pub fn landing_date(key: &str) -> Option<chrono::NaiveDate> {
    let ymd = |y: &str, m: &str, d: &str| {
        let n = |s: &str| s.parse::<u32>().ok();
        chrono::NaiveDate::from_ymd_opt(n(y)? as i32, n(m)?, n(d)?)
    };
    let segments: Vec<&str> = key.split('/').collect();
    let (name, folders) = segments.split_last()?;
    let all_digits = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_digit());
    for (i, s) in folders.iter().enumerate().rev() {
        if all_digits(s, 8) {
            return ymd(&s[..4], &s[4..6], &s[6..]);
        }
        if i >= 2
            && all_digits(s, 2)
            && all_digits(folders[i - 1], 2)
            && all_digits(folders[i - 2], 4)
        {
            return ymd(folders[i - 2], folders[i - 1], s);
        }
    }
    match parse_file_name(name)?.kind {
        FileKind::Cdc => ymd(&name[..4], &name[4..6], &name[6..8]),
        FileKind::FullLoad => None,
    }
}

/// A landed file that could not be read (from `row` on, when known).
#[derive(Debug, thiserror::Error)]
#[error("{file}: {message}")]
pub struct FormatError {
    pub file: String,
    /// 1-based data row where reading failed, when the decoder says.
    pub row: Option<u64>,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_landing_date_comes_from_date_folders_or_the_cdc_file_name() {
        let d = |y, m, day| chrono::NaiveDate::from_ymd_opt(y, m, day);
        assert_eq!(
            landing_date("public/orders/20261121-104501123.parquet"),
            d(2026, 11, 21)
        );
        assert_eq!(
            landing_date("public/orders/2026/11/22/LOAD00000001.parquet"),
            d(2026, 11, 22)
        );
        assert_eq!(
            landing_date("public/orders/20261123/20261121-104501123.csv"),
            d(2026, 11, 23)
        );
        assert_eq!(landing_date("public/orders/LOAD00000001.parquet"), None);
        assert_eq!(landing_date("public/orders/notes.txt"), None);
    }

    #[test]
    fn recognises_dms_file_names() {
        let p = |n| parse_file_name(n);
        assert_eq!(
            p("LOAD00000001.parquet"),
            Some(FileName {
                kind: FileKind::FullLoad,
                format: FileFormat::Parquet
            })
        );
        assert_eq!(
            p("LOAD0000001A.csv"),
            Some(FileName {
                kind: FileKind::FullLoad,
                format: FileFormat::Csv
            })
        );
        assert_eq!(
            p("20261121-104501123.parquet"),
            Some(FileName {
                kind: FileKind::Cdc,
                format: FileFormat::Parquet
            })
        );
        assert_eq!(
            p("20261121-104501123.csv.gz"),
            Some(FileName {
                kind: FileKind::Cdc,
                format: FileFormat::CsvGzip
            })
        );
        for bad in [
            "LOAD1.parquet",
            "20261121-1045.parquet",
            "notes.txt",
            "LOAD0000000G.parquet",
            "x-y.csv",
        ] {
            assert_eq!(p(bad), None, "{bad}");
        }
    }
}
