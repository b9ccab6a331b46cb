//! Checking one landed file, batch by batch: [`FileCheck`].

use super::constraints::ColumnRules;
use super::keys::DuplicateKeys;
use super::output::{ByteSink, Output, ToWriter, write_received};
use super::row_hash::row_hashes;
use super::{
    CheckError, FileOutcome, Finding, FindingCounter, Findings, PendingBase, RowsDigest, Rule,
    SnapshotDiff, SnapshotDiffer, VALUE_CHARS, normalised_schema,
};
use crate::batch_id::BatchId;
use crate::dms::{
    ByteSource, ChangeSeqKind, ControlColumns, FileFormat, FileKind, FileName, LandedReader,
    ReadError, ReadOptions, parse_file_name,
};
use crate::erasure::ErasedKeys;
use crate::metadata::{RowHashFormat, TableMetadata};
use arrow::array::{
    Array, ArrayRef, AsArray, RecordBatch, StringArray, StringBuilder, TimestampMicrosecondArray,
};
use arrow::compute::{CastOptions, cast_with_options};
use arrow::datatypes::{DataType, Schema, SchemaRef, TimeUnit};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use bytes::Bytes;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

/// Batches that may wait between two of validation's threads (checking,
/// completing, encoding). With two, a core idled whenever the encoder wrote
/// out a row group; full queues hold that many decoded batches each.
pub const QUEUED_BATCHES: usize = 4;

/// What to check a file against.
pub struct FileCheck<'a> {
    /// The file's key or path, as reports should name it.
    pub file: &'a str,
    /// The file's base name (used for file-name rules and change-seq tie-breaks).
    pub name: &'a str,
    pub meta: &'a TableMetadata,
    pub control: &'a ControlColumns,
    pub batch_id: BatchId,
}

/// Settings of a check beyond the metadata.
#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    /// Columns the metadata does not know are ignored (and left out of the
    /// normalised file) instead of being findings.
    pub allow_unexpected: bool,
    /// The text that stands for null in CSV files (DMS `CsvNullValue`);
    /// empty: an empty field is null.
    pub csv_null_value: String,
    /// The table's erasure log: rows of a forgotten key are left out of
    /// the normalised file (they are checked like any other row).
    pub erased: Option<Arc<ErasedKeys>>,
    /// What the change-seq values are: each must be one, and is written in
    /// the form that sorts as its kind orders. `Auto` is text.
    pub change_seq_kind: ChangeSeqKind,
    /// How `row_hash` is written: the table's generation's format.
    pub row_hash: RowHashFormat,
    /// DMS's `LobMaxSize` in bytes: a text or binary value of exactly this
    /// length is a `truncated` finding. `None`: not checked.
    pub lob_max_bytes: Option<usize>,
    /// A snapshot table's extract before this one (validated or merged
    /// last): the normalised rows are compared with it
    /// ([`FileOutcome::snapshot_diff`]).
    pub snapshot_base: Option<PendingBase>,
}

/// A batch that passed its checks: the business columns as the metadata's
/// types, `op` and `valid_from`. [`FileCheck::normalise`] adds the columns
/// derived from it (`change_seq`, `row_hash`, `batch_id`).
pub(crate) struct Checked {
    business: Vec<ArrayRef>,
    ops: ArrayRef,
    valid_from: ArrayRef,
    /// The file's ordering column, if it has one, and what its values are.
    change_seq: Option<ArrayRef>,
    change_seq_kind: ChangeSeqKind,
    /// A full-load file's rows hold each key once.
    full_load: bool,
    first_row: u64,
}

/// Where each needed column sits, once the file's columns are known.
struct Plan {
    kind: FileKind,
    /// The file's columns that are read (ascending indices).
    projection: Vec<usize>,
    /// Positions in a projected batch.
    op: Option<usize>,
    timestamp: usize,
    change_seq: Option<usize>,
    change_seq_kind: ChangeSeqKind,
    lob_max_bytes: Option<usize>,
    /// Per metadata column: its position in a projected batch, and in the file.
    columns: Vec<usize>,
    file_columns: Vec<usize>,
    rules: Vec<ColumnRules>,
    /// Indices into the metadata's columns.
    keys: Vec<usize>,
    out_schema: SchemaRef,
}

impl FileCheck<'_> {
    /// Checks a file held in memory with the default options, keeping its
    /// normalised rows in [`FileOutcome::normalised`]: for tests and small files.
    pub fn run(&self, bytes: Bytes) -> FileOutcome {
        self.run_with(&CheckOptions::default(), bytes)
    }

    /// [`Self::run`] with options.
    pub fn run_with(&self, options: &CheckOptions, bytes: Bytes) -> FileOutcome {
        let mut output = Output::Collect(Vec::new());
        match self.check_into(options, Arc::new(bytes), &mut output) {
            Ok(mut outcome) => {
                outcome.normalised = output.take_collected();
                for batch in &outcome.normalised {
                    outcome.digest.add_rows(batch);
                }
                outcome
            }
            // Bytes in memory always read and nothing is written: still, say so
            // rather than hide it.
            Err(e) => {
                let mut findings = FindingCounter::default();
                findings.note(Rule::Readable, None, || {
                    self.finding(None, None, Rule::Readable, None, e.to_string())
                });
                let mut outcome = FileOutcome::new(self.file);
                outcome.findings = Findings::from_counter(findings);
                outcome
            }
        }
    }

    /// Checks a file read from `source` in record batches. With a `sink`, the
    /// normalised Parquet file is written to it while checking; it is complete
    /// only if the outcome is accepted (otherwise its owner abandons it).
    /// Errors are failures to read the source or write the sink, never the
    /// file's content: that is what findings are for.
    pub fn check(
        &self,
        options: &CheckOptions,
        source: Arc<dyn ByteSource>,
        sink: Option<&mut dyn ByteSink>,
    ) -> Result<FileOutcome, CheckError> {
        let Some(sink) = sink else {
            return self.check_into(options, source, &mut Output::Discard);
        };
        // A pipeline of three threads, each a few batches behind the one
        // before: the checks; completing the rows (hashing them is as much
        // work as checking them); encoding the file.
        std::thread::scope(|scope| {
            let (to_normaliser, checked) = sync_channel(QUEUED_BATCHES);
            let (to_writer, normalised) = sync_channel(QUEUED_BATCHES);
            let writer = scope
                .spawn(|| write_received(self.meta, options.row_hash, sink, self.file, normalised));
            let normaliser = scope.spawn(|| self.normalise_received(options, checked, to_writer));
            let result = self.check_into(options, source, &mut Output::Pipe(Some(to_normaliser)));
            let stopped = |what: &str| self.internal(format!("the thread {what} stopped"));
            let normalised = normaliser
                .join()
                .unwrap_or_else(|_| Err(stopped("completing the normalised rows")));
            let written = writer
                .join()
                .unwrap_or_else(|_| Err(stopped("writing the normalised file")));
            // A later stage's own failure explains an earlier one's.
            let (digest, snapshot_diff) = written.and(normalised)?;
            result.map(|outcome| FileOutcome {
                digest,
                snapshot_diff: snapshot_diff.filter(|_| outcome.accepted()),
                ..outcome
            })
        })
    }

    /// The middle of the pipeline: completes checked batches and passes
    /// them and the verdict on to the writer.
    fn normalise_received(
        &self,
        options: &CheckOptions,
        checked: Receiver<ToWriter<Checked>>,
        to_writer: SyncSender<ToWriter<RecordBatch>>,
    ) -> Result<(RowsDigest, Option<SnapshotDiff>), CheckError> {
        let schema = normalised_schema(self.meta, options.row_hash);
        let mut digest = RowsDigest::default();
        let mut differ = options.snapshot_base.clone().map(SnapshotDiffer::new);
        for message in checked {
            let (message, last) = match message {
                ToWriter::Batch(c) => {
                    let batch = self.normalise(c, &schema, options)?;
                    digest.add_rows(&batch);
                    if let Some(differ) = &mut differ {
                        differ.add(&batch);
                    }
                    (ToWriter::Batch(batch), false)
                }
                ToWriter::Finish => (ToWriter::Finish, true),
                ToWriter::Discard => (ToWriter::Discard, true),
            };
            // A writer that stopped reports its own error when it is joined.
            if to_writer.send(message).is_err() || last {
                break;
            }
        }
        Ok((digest, differ.and_then(SnapshotDiffer::finish)))
    }

    /// The normalised rows of a checked batch.
    fn normalise(
        &self,
        c: Checked,
        schema: &SchemaRef,
        options: &CheckOptions,
    ) -> Result<RecordBatch, CheckError> {
        let n = c.ops.len();
        let hashes = row_hashes(self.meta, &c.business, n, options.row_hash);
        let change_seqs = self.change_seqs(&c, n);
        let mut columns = c.business;
        columns.push(c.ops);
        columns.push(c.valid_from);
        columns.push(change_seqs);
        columns.push(hashes);
        let batch_id = self.batch_id.to_string();
        columns.push(Arc::new(StringArray::from_iter_values(
            std::iter::repeat_n(batch_id.as_str(), n),
        )));
        let batch = RecordBatch::try_new(schema.clone(), columns)
            .map_err(|e| self.internal(format!("cannot assemble normalised rows: {e}")))?;
        match options.erased.as_deref() {
            Some(erased) => erased
                .remove_from(self.meta, batch)
                .map_err(|e| self.internal(e.0)),
            None => Ok(batch),
        }
    }

    fn check_into(
        &self,
        options: &CheckOptions,
        source: Arc<dyn ByteSource>,
        output: &mut Output<Checked>,
    ) -> Result<FileOutcome, CheckError> {
        let mut findings = FindingCounter::default();
        let mut outcome = FileOutcome::new(self.file);
        let result = self.check_all(options, source, output, &mut findings, &mut outcome);
        if result.is_err() || !findings.is_empty() {
            output.discard();
        }
        result?;
        if findings.is_empty() {
            output.finish();
        }
        outcome.findings = Findings::from_counter(findings);
        Ok(outcome)
    }

    fn check_all(
        &self,
        options: &CheckOptions,
        source: Arc<dyn ByteSource>,
        output: &mut Output<Checked>,
        findings: &mut FindingCounter,
        outcome: &mut FileOutcome,
    ) -> Result<(), CheckError> {
        let Some(FileName { kind, format }) = parse_file_name(self.name) else {
            self.note_file(findings, Rule::FileName, Some(self.name.to_string()),
                "not a DMS file name (expected LOAD00000001.parquet or 20261121-104501123.parquet, .csv or .csv.gz)");
            return Ok(());
        };
        let size = source.len();
        if size == 0 {
            self.note_file(
                findings,
                Rule::EmptyFile,
                None,
                "the file has no bytes (an interrupted upload?)",
            );
            return Ok(());
        }
        let read_options = ReadOptions::for_table(&options.csv_null_value, self.control, self.meta);
        let reader = match LandedReader::open(self.file, format, source, &read_options) {
            Ok(r) => r,
            Err(e) => return self.read_failed(e, None, findings),
        };
        let Some(plan) = self.plan(reader.schema(), kind, options, findings, outcome) else {
            return Ok(());
        };
        // Full loads: the key filter, sized when the first batch shows how
        // many rows the file may hold.
        let mut keys: Option<DuplicateKeys> = None;
        let batches = match reader.batches(&plan.projection) {
            Ok(b) => b,
            Err(e) => return self.read_failed(e, None, findings),
        };
        for batch in batches {
            let batch = match batch {
                Ok(b) => b,
                Err(e) => return self.read_failed(e, Some(outcome.rows + 1), findings),
            };
            if batch.num_rows() == 0 {
                continue;
            }
            if kind == FileKind::FullLoad && keys.is_none() {
                outcome.distinct_keys = true;
                let rows = reader
                    .row_count()
                    .unwrap_or_else(|| csv_rows(size, &batch, format == FileFormat::CsvGzip));
                let types: Vec<DataType> = plan
                    .keys
                    .iter()
                    .map(|&k| self.meta.columns[k].column_type.arrow())
                    .collect();
                keys = Some(DuplicateKeys::new(&types, rows).map_err(|e| self.internal(e))?);
            }
            let first_row = outcome.rows;
            outcome.rows += batch.num_rows() as u64;
            let normal = self.check_batch(
                &batch,
                first_row,
                &plan,
                findings,
                outcome,
                keys.as_mut(),
                output.wanted(),
            )?;
            match normal {
                Some(c) if findings.is_empty() => {
                    let schema = &plan.out_schema;
                    output.write(c, |c| self.normalise(c, schema, options), self.file)?
                }
                _ => output.discard(),
            }
        }
        if outcome.rows == 0 {
            self.note_file(
                findings,
                Rule::EmptyFile,
                None,
                "the file names its columns but holds no rows",
            );
        }
        if let Some(keys) = keys.filter(DuplicateKeys::has_candidates) {
            self.confirm_duplicates(&reader, &plan, keys, findings)?;
        }
        Ok(())
    }

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
            value: value.map(cut),
            message,
        }
    }

    fn note_file(
        &self,
        findings: &mut FindingCounter,
        rule: Rule,
        value: Option<String>,
        message: &str,
    ) {
        findings.note(rule, None, || {
            self.finding(None, None, rule, value, message.to_string())
        });
    }

    fn note_column(
        &self,
        findings: &mut FindingCounter,
        rule: Rule,
        column: &str,
        message: String,
    ) {
        findings.note(rule, Some(column), || {
            self.finding(None, Some(column), rule, None, message)
        });
    }

    fn internal(&self, e: impl std::fmt::Display) -> CheckError {
        CheckError::Encode {
            file: self.file.to_string(),
            message: e.to_string(),
        }
    }

    /// A damaged file is a finding; a store that fails is an error.
    fn read_failed(
        &self,
        e: ReadError,
        row: Option<u64>,
        findings: &mut FindingCounter,
    ) -> Result<(), CheckError> {
        match e {
            ReadError::Format(e) => {
                let row = e.row.or(row);
                findings.note(Rule::Readable, None, || {
                    self.finding(row, None, Rule::Readable, None, e.message)
                });
                Ok(())
            }
            ReadError::Source { file, source } => Err(CheckError::Source { file, source }),
        }
    }

    /// Matches the file's columns with the metadata's: missing, unexpected,
    /// unreadable types, control columns. `None` if the file cannot be checked further.
    fn plan(
        &self,
        schema: &Schema,
        kind: FileKind,
        options: &CheckOptions,
        findings: &mut FindingCounter,
        outcome: &mut FileOutcome,
    ) -> Option<Plan> {
        let find = |name: &str| {
            schema
                .fields()
                .iter()
                .position(|f| f.name().eq_ignore_ascii_case(name))
        };
        let control = self.control;
        let op = find(&control.op);
        if kind == FileKind::Cdc && op.is_none() {
            self.note_column(
                findings,
                Rule::Op,
                &control.op,
                format!("CDC file has no {:?} column", control.op),
            );
        }
        let timestamp = find(&control.timestamp);
        if timestamp.is_none() {
            self.note_column(
                findings,
                Rule::Timestamp,
                &control.timestamp,
                format!(
                    "no {:?} column (TimestampColumnName on the DMS endpoint)",
                    control.timestamp
                ),
            );
        }
        let mut file_columns = Vec::new();
        let mut rules = Vec::new();
        for c in &self.meta.columns {
            let compiled = match ColumnRules::compile(c) {
                Ok(r) => r,
                Err(e) => {
                    self.note_column(findings, Rule::Type, &c.name, format!("metadata: {e}"));
                    continue;
                }
            };
            match find(&c.name) {
                Some(i) => {
                    let from = schema.field(i).data_type();
                    if !compiled.can_read(from) {
                        self.note_column(
                            findings,
                            Rule::Type,
                            &c.name,
                            format!("a {from} column cannot hold {} values", c.column_type),
                        );
                    }
                    file_columns.push(i);
                    rules.push(compiled);
                }
                None => self.note_column(
                    findings,
                    Rule::MissingColumn,
                    &c.name,
                    format!(
                        "column {} ({}) is in the metadata but not in the file",
                        c.name, c.column_type
                    ),
                ),
            }
        }
        for f in schema.fields() {
            let known = control.is_control(f.name())
                || self
                    .meta
                    .columns
                    .iter()
                    .any(|c| c.name.eq_ignore_ascii_case(f.name()));
            if known {
                continue;
            }
            if options.allow_unexpected {
                outcome.ignored_columns.push(f.name().clone());
            } else {
                self.note_column(findings, Rule::UnexpectedColumn, f.name(),
                    format!("column {} is in the file but not in the metadata (did the source schema change? run extract-metadata, or set allow_unexpected)", f.name()));
            }
        }
        if !findings.is_empty() {
            return None;
        }
        let timestamp = timestamp?;
        let change_seq = control.change_seq.as_deref().and_then(find);
        let mut projection: Vec<usize> = file_columns
            .iter()
            .copied()
            .chain([Some(timestamp), op, change_seq].into_iter().flatten())
            .collect();
        projection.sort_unstable();
        projection.dedup();
        let pos = |i: usize| projection.binary_search(&i).unwrap_or_default();
        Some(Plan {
            kind,
            op: op.map(pos),
            timestamp: pos(timestamp),
            change_seq: change_seq.map(pos),
            change_seq_kind: options.change_seq_kind,
            lob_max_bytes: options.lob_max_bytes,
            columns: file_columns.iter().map(|&i| pos(i)).collect(),
            file_columns,
            rules,
            keys: self
                .meta
                .primary_key
                .iter()
                .filter_map(|k| self.meta.columns.iter().position(|c| &c.name == k))
                .collect(),
            out_schema: normalised_schema(self.meta, options.row_hash),
            projection,
        })
    }

    /// Checks one batch; returns it checked if `wanted` and the file has no
    /// finding so far.
    #[allow(clippy::too_many_arguments)]
    fn check_batch(
        &self,
        batch: &RecordBatch,
        first_row: u64,
        plan: &Plan,
        findings: &mut FindingCounter,
        outcome: &mut FileOutcome,
        keys: Option<&mut DuplicateKeys>,
        wanted: bool,
    ) -> Result<Option<Checked>, CheckError> {
        let n = batch.num_rows();
        let ops = self.ops(batch, first_row, plan, findings, outcome);
        let valid_from = self.valid_from(batch, first_row, plan, findings, outcome);

        // Business columns: read as the metadata's type, then nulls, then constraints.
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(plan.out_schema.fields().len());
        for (ci, col) in self.meta.columns.iter().enumerate() {
            let source = batch.column(plan.columns[ci]);
            let rules = &plan.rules[ci];
            let cast = match rules.cast(source) {
                Ok(a) => a,
                Err(e) => {
                    self.note_column(
                        findings,
                        Rule::Type,
                        &col.name,
                        format!(
                            "a {} column cannot hold {} values: {e}",
                            source.data_type(),
                            col.column_type
                        ),
                    );
                    return Ok(None);
                }
            };
            let is_key = self.meta.primary_key.contains(&col.name);
            // A cast only ever adds nulls: equal counts mean every value was read.
            let unread = cast.null_count() != source.null_count();
            if unread || (source.null_count() > 0 && (is_key || !col.nullable)) {
                for i in 0..n {
                    if cast.is_valid(i) {
                        continue;
                    }
                    let (rule, message) = if source.is_valid(i) {
                        (Rule::Type, format!("not a valid {}", col.column_type))
                    } else if is_key {
                        (Rule::PrimaryKeyNull, "primary-key column is null".into())
                    } else if !col.nullable {
                        (
                            Rule::NotNull,
                            "column is not nullable but the value is null".into(),
                        )
                    } else {
                        continue;
                    };
                    findings.note(rule, Some(&col.name), || {
                        self.finding(
                            Some(first_row + i as u64 + 1),
                            Some(&col.name),
                            rule,
                            source.is_valid(i).then(|| shown(source, i)).flatten(),
                            message,
                        )
                    });
                }
            }
            let mut emit = |i: usize, rule: Rule, message: &dyn Fn() -> String| {
                findings.note(rule, Some(&col.name), || {
                    self.finding(
                        Some(first_row + i as u64 + 1),
                        Some(&col.name),
                        rule,
                        shown(source, i),
                        message(),
                    )
                });
            };
            rules.lossless(source, &cast, &mut emit);
            rules.check(&cast, &mut emit);
            if let Some(limit) = plan.lob_max_bytes {
                for_each_len(&cast, |i, len| {
                    if len == limit {
                        emit(i, Rule::Truncated, &|| {
                            format!(
                                "{len} bytes, exactly DMS's LobMaxSize: DMS likely cut the value. Raise LobMaxSize (and [source] lob_max_kb) or use full LOB mode, then reload the table"
                            )
                        })
                    }
                });
            }
            columns.push(cast);
        }
        if let Some(i) = plan.change_seq {
            self.check_change_seqs(batch.column(i), plan.change_seq_kind, first_row, findings);
        }
        if let Some(keys) = keys {
            let key_columns: Vec<ArrayRef> =
                plan.keys.iter().map(|&k| columns[k].clone()).collect();
            keys.observe(&key_columns).map_err(|e| self.internal(e))?;
        }
        if !findings.is_empty() || !wanted {
            return Ok(None);
        }
        Ok(valid_from.map(|valid_from| Checked {
            business: columns,
            ops,
            valid_from,
            change_seq: plan.change_seq.map(|i| batch.column(i).clone()),
            change_seq_kind: plan.change_seq_kind,
            full_load: plan.kind == FileKind::FullLoad,
            first_row,
        }))
    }

    /// Each change-seq value must be one of the table's kind (text always is).
    fn check_change_seqs(
        &self,
        column: &ArrayRef,
        kind: ChangeSeqKind,
        first_row: u64,
        findings: &mut FindingCounter,
    ) {
        if matches!(kind, ChangeSeqKind::Auto | ChangeSeqKind::Text) {
            return;
        }
        let Some(values) = text(column) else {
            return;
        };
        let name = self.control.change_seq.as_deref();
        for i in 0..values.len() {
            if values.is_null(i) || values.value(i).is_empty() {
                continue;
            }
            if let Err(message) = kind.normalise(values.value(i)) {
                findings.note(Rule::ChangeSeq, name, || {
                    self.finding(
                        Some(first_row + i as u64 + 1),
                        name,
                        Rule::ChangeSeq,
                        Some(values.value(i).to_string()),
                        message,
                    )
                });
            }
        }
    }

    /// `op`: I/U/D in CDC files; full-load rows are L (an op column DMS
    /// added with `IncludeOpForFullLoad` must still hold I, U or D).
    fn ops(
        &self,
        batch: &RecordBatch,
        first_row: u64,
        plan: &Plan,
        findings: &mut FindingCounter,
        outcome: &mut FileOutcome,
    ) -> ArrayRef {
        let n = batch.num_rows();
        let mut ops = StringBuilder::with_capacity(n, n);
        let op_name = &self.control.op;
        let op_text = plan.op.map(|i| text(batch.column(i)));
        for i in 0..n {
            let op = match &op_text {
                None => "L",
                Some(Some(a)) if a.is_valid(i) && matches!(a.value(i), "I" | "U" | "D") => {
                    match plan.kind {
                        FileKind::FullLoad => "L",
                        FileKind::Cdc => a.value(i),
                    }
                }
                Some(a) => {
                    let value = a.as_ref().and_then(|a| a.is_valid(i).then(|| a.value(i)));
                    let message = match (a, value) {
                        (None, _) => "op column cannot be read as text",
                        (_, None) => "op is missing (null): it must be I, U or D",
                        _ => "op must be I, U or D",
                    };
                    findings.note(Rule::Op, Some(op_name), || {
                        self.finding(
                            Some(first_row + i as u64 + 1),
                            Some(op_name),
                            Rule::Op,
                            value.map(str::to_string),
                            message.into(),
                        )
                    });
                    "?"
                }
            };
            outcome.ops.count(op);
            ops.append_value(op);
        }
        Arc::new(ops.finish())
    }

    /// `valid_from` from the timestamp column; the file's time range.
    fn valid_from(
        &self,
        batch: &RecordBatch,
        first_row: u64,
        plan: &Plan,
        findings: &mut FindingCounter,
        outcome: &mut FileOutcome,
    ) -> Option<ArrayRef> {
        let source = batch.column(plan.timestamp);
        let ts = timestamps(source);
        let typed = ts
            .as_ref()
            .and_then(|a| a.as_any().downcast_ref::<TimestampMicrosecondArray>());
        let name = &self.control.timestamp;
        for i in 0..batch.num_rows() {
            match typed {
                Some(a) if a.is_valid(i) => {
                    let v = a.value(i);
                    outcome.valid_from_range = Some(match outcome.valid_from_range {
                        Some((lo, hi)) => (lo.min(v), hi.max(v)),
                        None => (v, v),
                    });
                }
                _ => {
                    let present = source.is_valid(i);
                    findings.note(Rule::Timestamp, Some(name), || {
                        self.finding(
                            Some(first_row + i as u64 + 1),
                            Some(name),
                            Rule::Timestamp,
                            present.then(|| shown(source, i)).flatten(),
                            if present {
                                "not a timestamp (expected yyyy-MM-dd HH:mm:ss.SSSSSS)".into()
                            } else {
                                "timestamp is missing (null)".into()
                            },
                        )
                    });
                }
            }
        }
        let read = typed.is_some();
        ts.filter(|_| read)
    }

    /// `change_seq`: the ordering column; else, in a CDC file, the file name
    /// and row number (`20261121-104501123.parquet#000000000001`), and in a
    /// full-load file the file name alone: an accepted full load holds each
    /// key once, so no two of its rows are ever ordered against each other,
    /// and rows of other files compare by the name as before. A 2M-row
    /// extract: 66 MB of strings fewer to build, encode and read back.
    fn change_seqs(&self, c: &Checked, n: usize) -> ArrayRef {
        // A full load's ordering column is usually there and empty (DMS
        // writes no change sequence for it).
        let text = c
            .change_seq
            .as_ref()
            .and_then(text)
            .filter(|a| a.null_count() < a.len());
        if text.is_none() && c.full_load {
            return Arc::new(StringArray::from_iter_values(std::iter::repeat_n(
                self.name, n,
            )));
        }
        let mut seqs = StringBuilder::with_capacity(n, n * (self.name.len() + 14));
        let mut fallback = format!("{}#{:012}", self.name, 0);
        let digits = fallback.len() - 12;
        for i in 0..n {
            match &text {
                Some(a) if a.is_valid(i) && !a.value(i).is_empty() => {
                    // Checked already: a value of another kind is a finding.
                    let value = a.value(i);
                    seqs.append_value(c.change_seq_kind.normalise(value).unwrap_or(value.into()))
                }
                _ if c.full_load => seqs.append_value(self.name),
                _ => {
                    let row = c.first_row + i as u64 + 1;
                    fallback.truncate(digits);
                    if row < 1_000_000_000_000 {
                        // 12 digits, zero-padded, without a formatter per row.
                        let mut v = row;
                        let mut twelve = [b'0'; 12];
                        for d in twelve.iter_mut().rev() {
                            *d = b'0' + (v % 10) as u8;
                            v /= 10;
                        }
                        // Digits are ASCII.
                        fallback.push_str(std::str::from_utf8(&twelve).unwrap_or_default());
                    } else {
                        fallback.push_str(&row.to_string());
                    }
                    seqs.append_value(&fallback);
                }
            }
        }
        Arc::new(seqs.finish())
    }

    /// The second pass over a full-load file whose keys may repeat.
    fn confirm_duplicates(
        &self,
        reader: &LandedReader,
        plan: &Plan,
        keys: DuplicateKeys,
        findings: &mut FindingCounter,
    ) -> Result<(), CheckError> {
        let key_files: Vec<usize> = plan.keys.iter().map(|&k| plan.file_columns[k]).collect();
        let mut projection = key_files.clone();
        projection.sort_unstable();
        projection.dedup();
        let names = self.meta.primary_key.join(", ");
        let overflowed = keys.overflowed;
        let mut confirm = keys.confirm();
        let batches = match reader.batches(&projection) {
            Ok(b) => b,
            Err(e) => return self.read_failed(e, None, findings),
        };
        let mut rows = 0u64;
        for batch in batches {
            let batch = match batch {
                Ok(b) => b,
                Err(e) => return self.read_failed(e, Some(rows + 1), findings),
            };
            let columns = plan
                .keys
                .iter()
                .zip(&key_files)
                .map(|(&k, file)| {
                    let at = projection.binary_search(file).unwrap_or_default();
                    plan.rules[k].cast(batch.column(at))
                })
                .collect::<Result<Vec<ArrayRef>, crate::error::Invalid>>()
                .map_err(|e| self.internal(e))?;
            let first = rows + 1;
            confirm
                .observe(&columns, first, |i, earlier| {
                    findings.note(Rule::DuplicatePrimaryKey, Some(&names), || {
                        let key: Vec<String> = columns
                            .iter()
                            .map(|c| shown(c, i).unwrap_or_default())
                            .collect();
                        self.finding(
                            Some(first + i as u64),
                            Some(&names),
                            Rule::DuplicatePrimaryKey,
                            Some(key.join(", ")),
                            format!("the same primary key as row {earlier}: a full load holds each key once"),
                        )
                    });
                })
                .map_err(|e| self.internal(e))?;
            rows += batch.num_rows() as u64;
        }
        if overflowed {
            findings.note(Rule::DuplicatePrimaryKey, Some(&names), || {
                self.finding(
                    None,
                    Some(&names),
                    Rule::DuplicatePrimaryKey,
                    None,
                    "more repeated keys than can be told apart: the count above is a lower bound"
                        .into(),
                )
            });
        }
        Ok(())
    }
}

/// A column as text (DMS control columns are strings, but need not be).
/// The byte length of each text or binary value of `array` (others: none).
fn for_each_len(array: &ArrayRef, mut f: impl FnMut(usize, usize)) {
    let lens: Box<dyn Iterator<Item = Option<usize>>> = match array.data_type() {
        DataType::Utf8 => Box::new(array.as_string::<i32>().iter().map(|v| v.map(str::len))),
        DataType::LargeUtf8 => Box::new(array.as_string::<i64>().iter().map(|v| v.map(str::len))),
        DataType::Binary => Box::new(array.as_binary::<i32>().iter().map(|v| v.map(<[u8]>::len))),
        DataType::LargeBinary => {
            Box::new(array.as_binary::<i64>().iter().map(|v| v.map(<[u8]>::len)))
        }
        _ => return,
    };
    for (i, len) in lens.enumerate() {
        if let Some(len) = len {
            f(i, len);
        }
    }
}

fn text(column: &ArrayRef) -> Option<StringArray> {
    let safe = CastOptions {
        safe: true,
        ..Default::default()
    };
    cast_with_options(column, &DataType::Utf8, &safe)
        .ok()
        .map(|a| a.as_string::<i32>().clone())
}

/// An upper estimate of a CSV file's rows from the size of its first batch
/// (fields and separators); gzip is assumed to shrink text tenfold.
fn csv_rows(size: u64, first: &RecordBatch, gzip: bool) -> u64 {
    let text: usize = first
        .columns()
        .iter()
        .filter_map(|c| c.as_string_opt::<i32>())
        .map(|c| c.values().len())
        .sum();
    let per_row = (text / first.num_rows().max(1) + first.num_columns()).max(1) as u64;
    let bytes = if gzip { size.saturating_mul(10) } else { size };
    (bytes / per_row).saturating_mul(5) / 4 + first.num_rows() as u64
}

/// The timestamp column as microseconds (null where it cannot be read).
/// DMS repeats one value over many rows (a full load's load time, a
/// transaction's commit time): each run of equal texts is parsed once.
fn timestamps(source: &ArrayRef) -> Option<ArrayRef> {
    let target = DataType::Timestamp(TimeUnit::Microsecond, None);
    let safe = CastOptions {
        safe: true,
        ..Default::default()
    };
    let Some(text) = source.as_string_opt::<i32>() else {
        return cast_with_options(source, &target, &safe).ok();
    };
    let n = text.len();
    let same = |i: usize| {
        text.is_valid(i) == text.is_valid(i - 1)
            && (text.is_null(i) || text.value(i) == text.value(i - 1))
    };
    let runs = 1 + (1..n).filter(|&i| !same(i)).count();
    if n == 0 || runs * 4 > n {
        return cast_with_options(source, &target, &safe).ok();
    }
    let mut heads = Vec::with_capacity(runs);
    let mut lengths = Vec::with_capacity(runs);
    for i in 0..n {
        if i > 0 && same(i) {
            *lengths.last_mut().expect("a run is open") += 1;
        } else {
            heads.push(text.is_valid(i).then(|| text.value(i)));
            lengths.push(1usize);
        }
    }
    let parsed = cast_with_options(
        &(Arc::new(StringArray::from(heads)) as ArrayRef),
        &target,
        &safe,
    )
    .ok()?;
    let parsed = parsed.as_primitive::<arrow::datatypes::TimestampMicrosecondType>();
    let mut out = TimestampMicrosecondArray::builder(n);
    for (r, len) in lengths.into_iter().enumerate() {
        for _ in 0..len {
            out.append_option(parsed.is_valid(r).then(|| parsed.value(r)));
        }
    }
    Some(Arc::new(out.finish()))
}

/// A value as the file holds it, for a finding.
fn shown(column: &ArrayRef, i: usize) -> Option<String> {
    if column.is_null(i) {
        return None;
    }
    ArrayFormatter::try_new(column.as_ref(), &FormatOptions::default())
        .map(|f| f.value(i).to_string())
        .ok()
}

/// A value cut to [`VALUE_CHARS`] characters.
fn cut(value: String) -> String {
    match value.char_indices().nth(VALUE_CHARS) {
        Some((at, _)) => format!("{}…", &value[..at]),
        None => value,
    }
}
