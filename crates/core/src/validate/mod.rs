//! Validation of landed files against table metadata, and normalisation.
//!
//! Each landed file is read in record batches and checked: readable, column
//! set, control columns, every value's type, nullability and primary key. A
//! file with no finding is *normalised*: written to the batch's validated
//! prefix as Parquet with the metadata's types and the canonical control
//! columns (`op`, `valid_from`, `change_seq`, `row_hash`, `batch_id`), so the
//! merge engines never see DMS quirks. A file with findings is quarantined.

mod report;

pub use report::{BatchReport, FileReport};

use crate::dms::{ControlColumns, FileKind, FileName, read_landed};
use crate::metadata::TableMetadata;
use arrow::array::{
    Array, ArrayRef, RecordBatch, StringArray, StringBuilder, TimestampMicrosecondArray,
};
use arrow::compute::{CastOptions, cast_with_options};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Findings kept verbatim per file; the rest are only counted.
pub const SAMPLE_LIMIT: usize = 20;

/// The rule a finding broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// Not a Parquet/CSV file we can decode.
    Readable,
    /// The name is not one DMS writes (`LOAD00000001.parquet`, `20261121-104501123.parquet`).
    FileName,
    /// A metadata column is absent from the file.
    MissingColumn,
    /// The file has a column the metadata does not know.
    UnexpectedColumn,
    /// A value cannot be read as the column's type.
    Type,
    /// A null in a column that is not nullable.
    NotNull,
    /// A null in a primary-key column.
    PrimaryKeyNull,
    /// The op column is missing or not I, U or D.
    Op,
    /// The timestamp column is missing or not `yyyy-MM-dd HH:mm:ss.SSSSSS`.
    Timestamp,
}

impl Rule {
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::Readable => "readable",
            Rule::FileName => "file_name",
            Rule::MissingColumn => "missing_column",
            Rule::UnexpectedColumn => "unexpected_column",
            Rule::Type => "type",
            Rule::NotNull => "not_null",
            Rule::PrimaryKeyNull => "primary_key_null",
            Rule::Op => "op",
            Rule::Timestamp => "timestamp",
        }
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
        Findings {
            total: counter.counts.values().sum(),
            counts: counter
                .counts
                .into_iter()
                .map(|((rule, column), count)| RuleCount {
                    rule,
                    column,
                    count,
                })
                .collect(),
            sample: counter.sample,
        }
    }
}

#[derive(Default)]
struct FindingCounter {
    counts: BTreeMap<(Rule, Option<String>), u64>,
    sample: Vec<Finding>,
}

impl FindingCounter {
    fn add(&mut self, finding: Finding) {
        *self
            .counts
            .entry((finding.rule, finding.column.clone()))
            .or_default() += 1;
        if self.sample.len() < SAMPLE_LIMIT {
            self.sample.push(finding);
        }
    }
    fn is_empty(&self) -> bool {
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
            _ => self.loads += 1,
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
    /// The file in normalised form; empty when it has findings.
    pub normalised: Vec<RecordBatch>,
    /// Earliest and latest change time in the file, microseconds since the epoch.
    pub valid_from_range: Option<(i64, i64)>,
}

impl FileOutcome {
    pub fn accepted(&self) -> bool {
        self.findings.total == 0
    }
}

/// The control columns of a normalised file, after the business columns.
pub const NORMALISED_CONTROL: [&str; 5] =
    ["op", "valid_from", "change_seq", "row_hash", "batch_id"];

/// The schema of normalised (validated) files for a table.
pub fn normalised_schema(meta: &TableMetadata) -> SchemaRef {
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
    fields.push(Field::new("row_hash", DataType::Utf8, false));
    fields.push(Field::new("batch_id", DataType::Utf8, false));
    Arc::new(Schema::new(fields))
}

/// What to check a file against.
pub struct FileCheck<'a> {
    /// The file's key or path, as reports should name it.
    pub file: &'a str,
    /// The file's base name (used for file-name rules and change-seq tie-breaks).
    pub name: &'a str,
    pub meta: &'a TableMetadata,
    pub control: &'a ControlColumns,
    pub batch_id: &'a str,
}

/// Where each needed column sits in the landed file.
struct Layout {
    op: Option<usize>,
    timestamp: usize,
    change_seq: Option<usize>,
    columns: Vec<usize>,
}

impl FileCheck<'_> {
    fn finding(
        &self,
        row: Option<u64>,
        column: Option<&str>,
        rule: Rule,
        value: Option<String>,
        message: String,
    ) -> Finding {
        Finding {
            file: self.file.to_string(),
            row,
            column: column.map(str::to_string),
            rule,
            value,
            message,
        }
    }

    /// Checks and normalises one landed file.
    pub fn run(&self, bytes: Bytes) -> FileOutcome {
        let mut findings = FindingCounter::default();
        let mut outcome = FileOutcome {
            file: self.file.to_string(),
            rows: 0,
            ops: OpCounts::default(),
            findings: Findings::default(),
            normalised: Vec::new(),
            valid_from_range: None,
        };
        let finish = |mut outcome: FileOutcome, findings: FindingCounter| {
            if !findings.is_empty() {
                outcome.normalised.clear();
            }
            outcome.findings = Findings::from_counter(findings);
            outcome
        };
        let Some(FileName { kind, format }) = crate::dms::parse_file_name(self.name) else {
            findings.add(self.finding(None, None, Rule::FileName, Some(self.name.to_string()),
                "not a DMS file name (expected LOAD00000001.parquet or 20261121-104501123.parquet, .csv or .csv.gz)".into()));
            return finish(outcome, findings);
        };
        let landed = match read_landed(self.file, format, bytes) {
            Ok(l) => l,
            Err(e) => {
                findings.add(self.finding(None, None, Rule::Readable, None, e.message));
                return finish(outcome, findings);
            }
        };
        let Some(layout) = self.layout(&landed.schema, kind, &mut findings) else {
            return finish(outcome, findings);
        };
        let out_schema = normalised_schema(self.meta);
        for batch in landed.batches {
            let batch = match batch {
                Ok(b) => b,
                Err(e) => {
                    findings.add(self.finding(
                        Some(outcome.rows + 1),
                        None,
                        Rule::Readable,
                        None,
                        e.message,
                    ));
                    break;
                }
            };
            let first_row = outcome.rows;
            outcome.rows += batch.num_rows() as u64;
            if let Some(normal) = self.check_batch(
                &batch,
                first_row,
                kind,
                &layout,
                &out_schema,
                &mut findings,
                &mut outcome,
            ) && findings.is_empty()
            {
                outcome.normalised.push(normal);
            }
        }
        finish(outcome, findings)
    }

    fn layout(
        &self,
        schema: &Schema,
        kind: FileKind,
        findings: &mut FindingCounter,
    ) -> Option<Layout> {
        let find = |name: &str| {
            schema
                .fields()
                .iter()
                .position(|f| f.name().eq_ignore_ascii_case(name))
        };
        let control = self.control;
        let op = find(&control.op);
        if kind == FileKind::Cdc && op.is_none() {
            findings.add(self.finding(
                None,
                Some(&control.op),
                Rule::Op,
                None,
                format!("CDC file has no {:?} column", control.op),
            ));
        }
        let timestamp = find(&control.timestamp);
        if timestamp.is_none() {
            findings.add(self.finding(
                None,
                Some(&control.timestamp),
                Rule::Timestamp,
                None,
                format!(
                    "no {:?} column (TimestampColumnName on the DMS endpoint)",
                    control.timestamp
                ),
            ));
        }
        let mut columns = Vec::new();
        for c in &self.meta.columns {
            match find(&c.name) {
                Some(i) => columns.push(i),
                None => findings.add(self.finding(
                    None,
                    Some(&c.name),
                    Rule::MissingColumn,
                    None,
                    format!(
                        "column {} ({}) is in the metadata but not in the file",
                        c.name, c.column_type
                    ),
                )),
            }
        }
        for f in schema.fields() {
            if !control.is_control(f.name())
                && !self
                    .meta
                    .columns
                    .iter()
                    .any(|c| c.name.eq_ignore_ascii_case(f.name()))
            {
                findings.add(self.finding(None, Some(f.name()), Rule::UnexpectedColumn, None,
                    format!("column {} is in the file but not in the metadata (did the source schema change? run extract-metadata)", f.name())));
            }
        }
        if !findings.is_empty() {
            return None;
        }
        Some(Layout {
            op,
            timestamp: timestamp?,
            change_seq: control.change_seq.as_deref().and_then(find),
            columns,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn check_batch(
        &self,
        batch: &RecordBatch,
        first_row: u64,
        kind: FileKind,
        layout: &Layout,
        out_schema: &SchemaRef,
        findings: &mut FindingCounter,
        outcome: &mut FileOutcome,
    ) -> Option<RecordBatch> {
        let n = batch.num_rows();
        let row_no = |i: usize| first_row + i as u64 + 1;
        let safe = CastOptions {
            safe: true,
            ..Default::default()
        };
        let text = |a: &ArrayRef| cast_with_options(a, &DataType::Utf8, &safe).ok();
        let shown = |a: &ArrayRef, i: usize| {
            ArrayFormatter::try_new(a.as_ref(), &FormatOptions::default())
                .map(|f| f.value(i).to_string())
                .ok()
        };

        // op: I/U/D in CDC files; full-load rows are L whatever DMS wrote.
        let mut ops = StringBuilder::with_capacity(n, n);
        let op_text = layout.op.and_then(|i| text(batch.column(i)));
        for i in 0..n {
            let op = match kind {
                FileKind::FullLoad => "L",
                FileKind::Cdc => match op_text
                    .as_ref()
                    .map(|a| a.as_any().downcast_ref::<StringArray>())
                {
                    Some(Some(a)) if a.is_valid(i) && matches!(a.value(i), "I" | "U" | "D") => {
                        a.value(i)
                    }
                    Some(Some(a)) => {
                        let value = a.is_valid(i).then(|| a.value(i).to_string());
                        findings.add(self.finding(
                            Some(row_no(i)),
                            Some(&self.control.op),
                            Rule::Op,
                            value,
                            "op must be I, U or D".into(),
                        ));
                        "?"
                    }
                    _ => {
                        findings.add(self.finding(
                            Some(row_no(i)),
                            Some(&self.control.op),
                            Rule::Op,
                            None,
                            "op column cannot be read as text".into(),
                        ));
                        "?"
                    }
                },
            };
            outcome.ops.count(op);
            ops.append_value(op);
        }

        // valid_from from the timestamp column.
        let ts_source = batch.column(layout.timestamp);
        let ts = cast_with_options(
            ts_source,
            &DataType::Timestamp(TimeUnit::Microsecond, None),
            &safe,
        )
        .ok();
        let ts = ts
            .as_ref()
            .and_then(|a| a.as_any().downcast_ref::<TimestampMicrosecondArray>());
        for i in 0..n {
            match ts {
                Some(a) if a.is_valid(i) => {
                    let v = a.value(i);
                    outcome.valid_from_range = Some(match outcome.valid_from_range {
                        Some((lo, hi)) => (lo.min(v), hi.max(v)),
                        None => (v, v),
                    });
                }
                _ => findings.add(self.finding(
                    Some(row_no(i)),
                    Some(&self.control.timestamp),
                    Rule::Timestamp,
                    ts_source.is_valid(i).then(|| shown(ts_source, i)).flatten(),
                    "timestamp missing or not yyyy-MM-dd HH:mm:ss.SSSSSS".into(),
                )),
            }
        }

        // change_seq: the ordering column, else file name and row number.
        let seq_text = layout.change_seq.and_then(|i| text(batch.column(i)));
        let seq_text = seq_text
            .as_ref()
            .and_then(|a| a.as_any().downcast_ref::<StringArray>().cloned());
        let mut seqs = StringBuilder::with_capacity(n, n * 36);
        for i in 0..n {
            match &seq_text {
                Some(a) if a.is_valid(i) && !a.value(i).is_empty() => seqs.append_value(a.value(i)),
                _ => seqs.append_value(format!("{}#{:012}", self.name, row_no(i))),
            }
        }

        // Business columns: cast to the metadata's type, then nullability.
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(out_schema.fields().len());
        for (col, &src) in self.meta.columns.iter().zip(&layout.columns) {
            let source = batch.column(src);
            let target = col.column_type.arrow();
            let cast = match cast_with_options(source, &target, &safe) {
                Ok(a) => a,
                Err(e) => {
                    findings.add(self.finding(
                        None,
                        Some(&col.name),
                        Rule::Type,
                        None,
                        format!(
                            "a {} column cannot hold {} values: {e}",
                            source.data_type(),
                            col.column_type
                        ),
                    ));
                    return None;
                }
            };
            let is_key = self.meta.primary_key.contains(&col.name);
            for i in 0..n {
                if cast.is_valid(i) {
                    continue;
                }
                if source.is_valid(i) {
                    findings.add(self.finding(
                        Some(row_no(i)),
                        Some(&col.name),
                        Rule::Type,
                        shown(source, i),
                        format!("not a valid {}", col.column_type),
                    ));
                } else if is_key {
                    findings.add(self.finding(
                        Some(row_no(i)),
                        Some(&col.name),
                        Rule::PrimaryKeyNull,
                        None,
                        "primary-key column is null".into(),
                    ));
                } else if !col.nullable {
                    findings.add(self.finding(
                        Some(row_no(i)),
                        Some(&col.name),
                        Rule::NotNull,
                        None,
                        "column is not nullable but the value is null".into(),
                    ));
                }
            }
            columns.push(cast);
        }
        if !findings.is_empty() {
            return None;
        }
        let hashes = row_hashes(self.meta, &columns, n);
        columns.push(Arc::new(ops.finish()));
        columns.push(Arc::new(ts?.clone()));
        columns.push(Arc::new(seqs.finish()));
        columns.push(Arc::new(hashes));
        columns.push(Arc::new(StringArray::from(vec![self.batch_id; n])));
        match RecordBatch::try_new(out_schema.clone(), columns) {
            Ok(b) => Some(b),
            Err(e) => {
                findings.add(self.finding(
                    None,
                    None,
                    Rule::Readable,
                    None,
                    format!("cannot assemble normalised rows: {e}"),
                ));
                None
            }
        }
    }
}

/// Hash of a row's business values: columns in name order, nulls left out, so
/// adding a nullable column does not change the hash of rows that lack it.
fn row_hashes(meta: &TableMetadata, columns: &[ArrayRef], n: usize) -> StringArray {
    let mut order: Vec<usize> = (0..meta.columns.len()).collect();
    order.sort_by(|&a, &b| meta.columns[a].name.cmp(&meta.columns[b].name));
    let options = FormatOptions::default();
    let formatters: Vec<_> = columns
        .iter()
        .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
        .collect();
    let mut out = StringBuilder::with_capacity(n, n * 32);
    for i in 0..n {
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        for &c in &order {
            if let (true, Ok(f)) = (columns[c].is_valid(i), &formatters[c]) {
                h.update(meta.columns[c].name.as_bytes());
                h.update(&[0x1f]);
                h.update(f.value(i).to_string().as_bytes());
                h.update(&[0x1e]);
            }
        }
        out.append_value(format!("{:032x}", h.digest128()));
    }
    out.finish()
}

/// Writes record batches as one Parquet file (snappy).
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
