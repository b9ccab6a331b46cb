//! Validation of landed files against table metadata, and normalisation.
//!
//! Each landed file is read in record batches ([`crate::dms::LandedReader`])
//! and checked: readable and not empty, column set, control columns, every
//! value's type, nullability, primary key (not null; unique within a full
//! load) and the metadata's constraints (`enum`, `pattern`, `minimum`,
//! `maximum`, `minLength`, `maxLength`, `datetime_format`). While it is
//! checked, a file is *normalised*: written as Parquet with the metadata's
//! types and the canonical control columns (`op`, `valid_from`, `change_seq`,
//! `row_hash`, `batch_id`), so the merge engines never see DMS quirks. A file
//! with a finding is quarantined instead and its normalised copy abandoned.
//!
//! Memory stays bounded whatever the file's size: a window of the input, one
//! record batch, one row group of output, the findings' bounded sample, and
//! for full-load files a fixed-size filter of primary keys.
//! `docs/validation.md` describes every rule for users.

mod check;
mod constraints;
mod diff;
mod keys;
mod output;
mod report;
mod row_hash;

pub use check::{CheckOptions, FileCheck, QUEUED_BATCHES};
pub use constraints::ColumnRules;
pub use diff::{
    BaseSetter, CurrentDigest, PendingBase, SnapshotBase, SnapshotDiff, SnapshotDiffer, diff_key,
};
pub use output::{ByteSink, PART_BYTES};
pub use report::{BatchReport, FileReport};

use crate::error::StoreError;
use crate::metadata::{RowHashFormat, TableMetadata};
use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// A check that could not finish. Never the file's fault: that is a finding.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("{file}: cannot read the landed file: {source}")]
    Source {
        file: String,
        #[source]
        source: StoreError,
    },
    #[error("{file}: cannot write the normalised file: {source}")]
    Sink {
        file: String,
        #[source]
        source: StoreError,
    },
    #[error("{file}: {message}")]
    Encode { file: String, message: String },
}

/// Findings kept verbatim per file; the rest are only counted.
pub const SAMPLE_LIMIT: usize = 50;
/// Findings kept verbatim per file for one rule in one column, so one noisy
/// column cannot hide the others from the sample.
pub const SAMPLE_PER_RULE: usize = 10;
/// Characters of a bad value shown in a finding.
pub const VALUE_CHARS: usize = 120;

/// The rule a finding broke. The snake_case names are what reports show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// Not a Parquet/CSV file we can decode (garbage, truncated, ragged CSV).
    Readable,
    /// The name is not one DMS writes (`LOAD00000001.parquet`, `20261121-104501123.parquet`).
    FileName,
    /// The file has no bytes, or columns but no rows.
    EmptyFile,
    /// A metadata column is absent from the file.
    MissingColumn,
    /// The file has a column the metadata does not know (unless `allow_unexpected`).
    UnexpectedColumn,
    /// A value cannot be read as the column's type (or only with a loss).
    Type,
    /// A null in a column that is not nullable.
    NotNull,
    /// A null in a primary-key column.
    PrimaryKeyNull,
    /// The op column is missing or not I, U or D.
    Op,
    /// The timestamp column is missing or not `yyyy-MM-dd HH:mm:ss.SSSSSS`.
    Timestamp,
    /// A full-load file holds the same primary key twice.
    DuplicatePrimaryKey,
    /// A value is not in the column's `enum`.
    Enum,
    /// A string does not match the column's `pattern`.
    Pattern,
    /// A number is below the column's `minimum`.
    Minimum,
    /// A number is above the column's `maximum`.
    Maximum,
    /// A value is shorter than the column's `minLength`.
    MinLength,
    /// A value is longer than the column's `maxLength`.
    MaxLength,
    /// A change-seq value is not of the table's `change_seq_kind`.
    ChangeSeq,
    /// A text or binary value exactly as long as DMS's `LobMaxSize`: DMS
    /// likely cut it.
    Truncated,
}

impl Rule {
    pub const ALL: [Rule; 19] = [
        Rule::Readable,
        Rule::FileName,
        Rule::EmptyFile,
        Rule::MissingColumn,
        Rule::UnexpectedColumn,
        Rule::Type,
        Rule::NotNull,
        Rule::PrimaryKeyNull,
        Rule::Op,
        Rule::Timestamp,
        Rule::DuplicatePrimaryKey,
        Rule::Enum,
        Rule::Pattern,
        Rule::Minimum,
        Rule::Maximum,
        Rule::MinLength,
        Rule::MaxLength,
        Rule::ChangeSeq,
        Rule::Truncated,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Rule::Readable => "readable",
            Rule::FileName => "file_name",
            Rule::EmptyFile => "empty_file",
            Rule::MissingColumn => "missing_column",
            Rule::UnexpectedColumn => "unexpected_column",
            Rule::Type => "type",
            Rule::NotNull => "not_null",
            Rule::PrimaryKeyNull => "primary_key_null",
            Rule::Op => "op",
            Rule::Timestamp => "timestamp",
            Rule::DuplicatePrimaryKey => "duplicate_primary_key",
            Rule::Enum => "enum",
            Rule::Pattern => "pattern",
            Rule::Minimum => "minimum",
            Rule::Maximum => "maximum",
            Rule::MinLength => "min_length",
            Rule::MaxLength => "max_length",
            Rule::ChangeSeq => "change_seq",
            Rule::Truncated => "truncated",
        }
    }
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One broken rule, located as precisely as the rule allows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub file: String,
    /// 1-based data row (header excluded); `None` for file-level findings.
    pub row: Option<u64>,
    pub column: Option<String>,
    pub rule: Rule,
    /// The value as the file holds it (cut at [`VALUE_CHARS`] characters).
    pub value: Option<String>,
    pub message: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(row) = self.row {
            write!(f, " row {row}")?;
        }
        if let Some(column) = &self.column {
            write!(f, " column {column}")?;
        }
        write!(f, ": [{}] {}", self.rule.as_str(), self.message)
    }
}

/// How many findings of one rule in one column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleCount {
    pub rule: Rule,
    pub column: Option<String>,
    pub count: u64,
}

/// A file's findings: exact counts, and a bounded sample.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Findings {
    pub total: u64,
    pub counts: Vec<RuleCount>,
    pub sample: Vec<Finding>,
}

impl Findings {
    fn from_counter(counter: FindingCounter) -> Findings {
        let mut counts: Vec<RuleCount> = counter
            .counts
            .into_iter()
            .map(|(rule, column, count)| RuleCount {
                rule,
                column,
                count,
            })
            .collect();
        counts.sort_by(|a, b| (a.rule, &a.column).cmp(&(b.rule, &b.column)));
        let mut sample = counter.sample;
        // File-level findings first, then by row; discovery order within a row.
        sample.sort_by_key(|f| f.row);
        Findings {
            total: counts.iter().map(|c| c.count).sum(),
            counts,
            sample,
        }
    }
}

/// Counts findings exactly and keeps a bounded sample, building a finding's
/// text only when the sample keeps it.
#[derive(Default)]
pub(crate) struct FindingCounter {
    /// (rule, column, count): a file breaks few distinct rules.
    counts: Vec<(Rule, Option<String>, u64)>,
    sample: Vec<Finding>,
}

impl FindingCounter {
    pub(crate) fn note(
        &mut self,
        rule: Rule,
        column: Option<&str>,
        finding: impl FnOnce() -> Finding,
    ) {
        let at = self
            .counts
            .iter()
            .position(|(r, c, _)| *r == rule && c.as_deref() == column);
        let seen = match at {
            Some(i) => {
                self.counts[i].2 += 1;
                self.counts[i].2 - 1
            }
            None => {
                self.counts.push((rule, column.map(str::to_string), 1));
                0
            }
        };
        if (seen as usize) < SAMPLE_PER_RULE && self.sample.len() < SAMPLE_LIMIT {
            self.sample.push(finding());
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }
}

/// Rows by operation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpCounts {
    #[serde(rename = "I")]
    pub inserts: u64,
    #[serde(rename = "U")]
    pub updates: u64,
    #[serde(rename = "D")]
    pub deletes: u64,
    #[serde(rename = "L")]
    pub loads: u64,
}

impl OpCounts {
    pub fn add(&mut self, other: &OpCounts) {
        self.inserts += other.inserts;
        self.updates += other.updates;
        self.deletes += other.deletes;
        self.loads += other.loads;
    }
    pub fn total(&self) -> u64 {
        self.inserts + self.updates + self.deletes + self.loads
    }
    fn count(&mut self, op: &str) {
        match op {
            "I" => self.inserts += 1,
            "U" => self.updates += 1,
            "D" => self.deletes += 1,
            "L" => self.loads += 1,
            _ => {}
        }
    }
}

/// The result of checking one landed file.
#[derive(Debug)]
pub struct FileOutcome {
    pub file: String,
    pub rows: u64,
    pub ops: OpCounts,
    pub findings: Findings,
    /// The file in normalised form, kept in memory by [`FileCheck::run`] only
    /// ([`FileCheck::check`] streams it to a sink); empty when it has findings.
    pub normalised: Vec<RecordBatch>,
    /// Earliest and latest change time in the file, microseconds since the epoch.
    pub valid_from_range: Option<(i64, i64)>,
    /// Columns the metadata does not know, ignored under `allow_unexpected`.
    pub ignored_columns: Vec<String>,
    /// What the normalised rows hold, whatever their order (accepted files).
    pub digest: RowsDigest,
    /// Whether its keys were checked to occur once (a full load): then an
    /// accepted file repeats none.
    pub distinct_keys: bool,
    /// What the file changes against [`CheckOptions::snapshot_base`], when
    /// that was given and every key could be compared.
    pub snapshot_diff: Option<SnapshotDiff>,
}

/// An order-independent digest of rows: their count and the wrapping sum of
/// the xxh3 of their `row_hash`es. Two snapshot extracts with equal digests
/// hold the same rows (but for a collision of row hashes), however the files that
/// carried them were written. Written `<rows>:<sum in hex>`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RowsDigest {
    rows: u64,
    sum: u128,
}

impl RowsDigest {
    /// Adds the rows of a normalised batch (its `row_hash` column).
    pub fn add_rows(&mut self, batch: &RecordBatch) {
        use arrow::array::{Array, AsArray};
        let Some(hashes) = batch.column_by_name("row_hash") else {
            return;
        };
        let mut add = |bytes: &[u8]| {
            self.sum = self.sum.wrapping_add(xxhash_rust::xxh3::xxh3_128(bytes));
        };
        match hashes.data_type() {
            DataType::Utf8 => hashes
                .as_string::<i32>()
                .iter()
                .flatten()
                .for_each(|h| add(h.as_bytes())),
            DataType::Int64 => hashes
                .as_primitive::<arrow::datatypes::Int64Type>()
                .values()
                .iter()
                .for_each(|h| add(&h.to_le_bytes())),
            _ => return,
        }
        self.rows += hashes.len() as u64;
    }

    /// The digest of both sets of rows together.
    pub fn combine(self, other: RowsDigest) -> RowsDigest {
        RowsDigest {
            rows: self.rows + other.rows,
            sum: self.sum.wrapping_add(other.sum),
        }
    }
}

impl Serialize for RowsDigest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{}:{:032x}", self.rows, self.sum))
    }
}

impl<'de> Deserialize<'de> for RowsDigest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.split_once(':')
            .and_then(|(rows, sum)| {
                Some(RowsDigest {
                    rows: rows.parse().ok()?,
                    sum: u128::from_str_radix(sum, 16).ok()?,
                })
            })
            .ok_or_else(|| serde::de::Error::custom(format!("not a rows digest: {text}")))
    }
}

impl FileOutcome {
    fn new(file: &str) -> FileOutcome {
        FileOutcome {
            file: file.to_string(),
            rows: 0,
            ops: OpCounts::default(),
            findings: Findings::default(),
            normalised: Vec::new(),
            valid_from_range: None,
            ignored_columns: Vec::new(),
            digest: RowsDigest::default(),
            distinct_keys: false,
            snapshot_diff: None,
        }
    }

    pub fn accepted(&self) -> bool {
        self.findings.total == 0
    }
}

/// The control columns of a normalised file, after the business columns.
pub const NORMALISED_CONTROL: [&str; 5] =
    ["op", "valid_from", "change_seq", "row_hash", "batch_id"];

/// The schema of normalised (validated) files for a table.
pub fn normalised_schema(meta: &TableMetadata, row_hash: RowHashFormat) -> SchemaRef {
    let mut fields: Vec<Field> = meta
        .columns
        .iter()
        .map(|c| Field::new(&c.name, c.column_type.arrow(), true))
        .collect();
    fields.push(Field::new("op", DataType::Utf8, false));
    fields.push(Field::new(
        "valid_from",
        DataType::Timestamp(TimeUnit::Microsecond, None),
        false,
    ));
    fields.push(Field::new("change_seq", DataType::Utf8, false));
    let row_hash_type = if row_hash.is_bigint() {
        DataType::Int64
    } else {
        DataType::Utf8
    };
    fields.push(Field::new("row_hash", row_hash_type, false));
    fields.push(Field::new("batch_id", DataType::Utf8, false));
    Arc::new(Schema::new(fields))
}

/// Writes record batches as one Parquet file (snappy), in memory: for tests
/// and small files. Validation streams its output instead ([`ByteSink`]).
pub fn write_parquet(
    schema: &SchemaRef,
    batches: &[RecordBatch],
) -> Result<Vec<u8>, parquet::errors::ParquetError> {
    let props = parquet::file::properties::WriterProperties::builder()
        .set_compression(parquet::basic::Compression::SNAPPY)
        .build();
    let mut writer = parquet::arrow::ArrowWriter::try_new(Vec::new(), schema.clone(), Some(props))?;
    for b in batches {
        writer.write(b)?;
    }
    writer.into_inner()
}

#[cfg(test)]
mod tests;
