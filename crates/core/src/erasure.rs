//! Erasure (UK GDPR): a data subject's keys forgotten from a table's
//! history, its change log and the lake's copies of its landed files, and
//! recorded in an erasure log that holds keyed hashes of the keys, never the
//! keys (docs/erasure.md). Every file validated afterwards is filtered
//! through the log, so a rebuild or a reprocess never brings a key back.
//!
//! A key is identified by its *text*: each primary-key column's value as
//! Arrow displays it once typed as the metadata says, in primary-key order.
//! The same text comes from a request (`"42"`, cast to the column's type)
//! and from any file's rows, so `042` and `42` name the same integer key.

use crate::dms::{FileFormat, LandedReader, ReadOptions, parse_file_name};
use crate::error::Invalid;
use crate::metadata::{ColumnType, TableMetadata};
use crate::scd2::{quote_ident, string_literal};
use arrow::array::{Array, ArrayRef, BooleanArray, RecordBatch, RecordBatchReader, StringArray};
use arrow::compute::{CastOptions, cast_with_options, filter_record_batch};
use arrow::datatypes::SchemaRef;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use bytes::Bytes;
use hmac::{KeyInit, Mac};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The most keys one request may name (the execution state stays small).
pub const MAX_KEYS: usize = 1000;

/// Separates the columns of a composite key's text.
const COLUMN_SEPARATOR: char = '\u{1f}';

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// The secret the erasure log's hashes are keyed with (HMAC-SHA256). It is
/// kept outside the lake's data (Secrets Manager on AWS), so the log alone
/// cannot confirm whether a guessed key was forgotten.
#[derive(Clone)]
pub struct ErasureKey(Arc<Vec<u8>>);

impl fmt::Debug for ErasureKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ErasureKey({})", self.fingerprint())
    }
}

impl ErasureKey {
    /// At least 32 bytes of secret.
    pub fn new(secret: Vec<u8>) -> Result<ErasureKey, Invalid> {
        if secret.len() < 32 {
            return Err(format!(
                "the erasure key has {} bytes; it needs at least 32",
                secret.len()
            )
            .into());
        }
        Ok(ErasureKey(Arc::new(secret)))
    }

    fn mac(&self, parts: &[&[u8]]) -> Vec<u8> {
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC takes a key of any length");
        for part in parts {
            mac.update(part);
            mac.update(&[0]);
        }
        mac.finalize().into_bytes().to_vec()
    }

    /// Names the key without revealing it: a log entry records the key it
    /// was hashed with, so a lost or replaced key is noticed instead of
    /// silently letting forgotten rows back in.
    pub fn fingerprint(&self) -> String {
        hex::encode(&self.mac(&[b"tidemark erasure key fingerprint"])[..8])
    }

    /// The keyed hash of a key of `table` (the table is part of it, so the
    /// same value forgotten in two tables gives unrelated hashes).
    pub fn hash(&self, table: &str, key_text: &str) -> String {
        hex::encode(self.mac(&[table.as_bytes(), key_text.as_bytes()]))
    }
}

/// The key text of every row of `columns` (the primary key's arrays, in
/// primary-key order, typed as the metadata says); `None` where a key
/// column is null (such a row has no key to forget).
pub fn key_texts(columns: &[ArrayRef]) -> Result<Vec<Option<String>>, Invalid> {
    let options = FormatOptions::default();
    let formatters = columns
        .iter()
        .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("cannot show a key column's values: {e}"))?;
    let rows = columns.first().map_or(0, |c| c.len());
    Ok((0..rows)
        .map(|i| {
            let mut text = String::new();
            for (n, (column, formatter)) in columns.iter().zip(&formatters).enumerate() {
                if column.is_null(i) {
                    return None;
                }
                if n > 0 {
                    text.push(COLUMN_SEPARATOR);
                }
                text.push_str(&formatter.value(i).to_string());
            }
            Some(text)
        })
        .collect())
}

/// The primary-key columns' positions in `meta.columns`.
fn key_columns(meta: &TableMetadata) -> Result<Vec<usize>, Invalid> {
    if meta.primary_key.is_empty() {
        return Err(format!(
            "{} has no primary key: there is no key to forget a data subject by",
            meta.name
        )
        .into());
    }
    meta.primary_key
        .iter()
        .map(|k| {
            meta.columns
                .iter()
                .position(|c| &c.name == k)
                .ok_or_else(|| {
                    format!("{}: primary-key column {k} is not a column", meta.name).into()
                })
        })
        .collect()
}

/// A key a request names, checked against the table's primary key.
#[derive(Debug, Clone, PartialEq)]
pub struct ForgetKey {
    /// The key's text ([`key_texts`]).
    pub text: String,
    /// One SQL literal per primary-key column (Trino and DuckDB alike).
    pub literals: Vec<String>,
}

/// Checks the keys of a request against `meta`'s primary key: each is a
/// value (a single-column key) or an object of every key column's value.
/// A message names the key, the column, its type and the value.
pub fn resolve_keys(meta: &TableMetadata, keys: &[Value]) -> Result<Vec<ForgetKey>, Invalid> {
    let positions = key_columns(meta)?;
    let mut resolved: Vec<ForgetKey> = Vec::with_capacity(keys.len());
    for (n, key) in keys.iter().enumerate() {
        // A key is named by its position: messages reach alerts, and a key
        // is personal data.
        let named = |_: usize| format!("key {}", n + 1);
        let values: Vec<(usize, &Value)> = match (key, positions.as_slice()) {
            (Value::Object(map), _) => {
                if let Some(extra) = map.keys().find(|k| !meta.primary_key.contains(k)) {
                    return Err(format!(
                        "{}: {extra:?} is not a primary-key column of {}; the key is {}",
                        named(n),
                        meta.name,
                        meta.primary_key.join(", ")
                    )
                    .into());
                }
                let mut values = Vec::new();
                for (&p, name) in positions.iter().zip(&meta.primary_key) {
                    let value = map.get(name).ok_or_else(|| {
                        format!(
                            "{}: the value of primary-key column {name} is missing; the key is {}",
                            named(n),
                            meta.primary_key.join(", ")
                        )
                    })?;
                    values.push((p, value));
                }
                values
            }
            (value, [p]) => vec![(*p, value)],
            (_, _) => {
                return Err(format!(
                    "{}: {} has a key of {} columns: give it as {{{}}}",
                    named(n),
                    meta.name,
                    positions.len(),
                    meta.primary_key
                        .iter()
                        .map(|k| format!("\"{k}\": ..."))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
                .into());
            }
        };
        let mut typed: Vec<ArrayRef> = Vec::with_capacity(values.len());
        let mut literals = Vec::with_capacity(values.len());
        for (p, value) in values {
            let column = &meta.columns[p];
            let raw = match value {
                Value::String(s) => s.clone(),
                Value::Number(x) => x.to_string(),
                Value::Bool(b) => b.to_string(),
                other => {
                    return Err(format!(
                        "{}: column {} needs a value, not {}",
                        named(n),
                        column.name,
                        if other.is_null() {
                            "null"
                        } else {
                            "a list or an object"
                        }
                    )
                    .into());
                }
            };
            let ty = column.column_type;
            let array = typed_value(&raw, ty).ok_or_else(|| {
                format!(
                    "{}: column {} holds {ty} values; the value given is not one",
                    named(n),
                    column.name
                )
            })?;
            let text = key_texts(std::slice::from_ref(&array))?
                .pop()
                .flatten()
                .unwrap_or_default();
            literals.push(literal(ty, &text).ok_or_else(|| {
                format!(
                    "{}: column {} is {ty}, which a key cannot be forgotten by",
                    named(n),
                    column.name
                )
            })?);
            typed.push(array);
        }
        let text = key_texts(&typed)?.pop().flatten().unwrap_or_default();
        if !resolved.iter().any(|k| k.text == text) {
            resolved.push(ForgetKey { text, literals });
        }
    }
    Ok(resolved)
}

/// `raw` as a one-value array of `ty`, or `None` if it is not such a value.
fn typed_value(raw: &str, ty: ColumnType) -> Option<ArrayRef> {
    // A text key is exactly what was given: "bob " is not "bob".
    let raw = match ty {
        ColumnType::String | ColumnType::LargeString => raw,
        _ => raw.trim(),
    };
    let text: ArrayRef = Arc::new(StringArray::from(vec![raw]));
    let options = CastOptions {
        safe: false,
        ..Default::default()
    };
    cast_with_options(&text, &ty.arrow(), &options)
        .ok()
        .filter(|a| a.null_count() == 0)
}

/// A key value's SQL literal, from its text; `None` for types a key is
/// never forgotten by (floats and binary: their text is not their identity).
fn literal(ty: ColumnType, text: &str) -> Option<String> {
    Some(match ty {
        ColumnType::Bool => text.to_uppercase(),
        t if t.is_integer() => text.to_string(),
        ColumnType::Decimal128 { .. } => text.to_string(),
        ColumnType::String | ColumnType::LargeString => string_literal(text),
        ColumnType::Date32 => format!("DATE {}", string_literal(text)),
        ColumnType::Timestamp(_) => {
            format!("TIMESTAMP {}", string_literal(&text.replace('T', " ")))
        }
        _ => return None,
    })
}

/// The predicate that selects `keys`' rows of a table with `meta`'s primary key.
pub fn key_predicate(meta: &TableMetadata, keys: &[ForgetKey]) -> String {
    match meta.primary_key.as_slice() {
        [one] => format!(
            "{} IN ({})",
            quote_ident(one),
            keys.iter()
                .map(|k| k.literals[0].as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        columns => keys
            .iter()
            .map(|k| {
                let terms: Vec<String> = columns
                    .iter()
                    .zip(&k.literals)
                    .map(|(c, l)| format!("{} = {l}", quote_ident(c)))
                    .collect();
                format!("({})", terms.join(" AND "))
            })
            .collect::<Vec<_>>()
            .join(" OR "),
    }
}

/// One erasure: who asked, when, which keys (hashed) and what was removed
/// where. Stored at `erasures/<database>/<table>/<run_id>.json` and never
/// removed: it is what keeps the keys out of every later validation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Erasure {
    pub run_id: String,
    pub table: String,
    pub requested_by: String,
    pub requested_at: String,
    pub key_columns: Vec<String>,
    /// [`ErasureKey::hash`] of each key.
    pub key_hashes: Vec<String>,
    /// [`ErasureKey::fingerprint`] of the key the hashes were made with.
    pub key_fingerprint: String,
    /// Rows removed, by where: a history table, `change_log`, `quarantine`, `landed`.
    #[serde(default)]
    pub removed: BTreeMap<String, u64>,
    /// The stages done so far (a rerun of a killed erasure skips them).
    #[serde(default)]
    pub done: Vec<String>,
    /// The last file the current stage went through, when an invocation
    /// handed back before the stage's end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// Files that hold rows of the table but could not be read (so could
    /// not be checked): a person must look at them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unreadable: Vec<String>,
    /// A landed file being rewritten, with the ETag the ledger knows it by:
    /// saved before the rewrite, so an attempt killed between the rewrite
    /// and the ledger's update has the next update the ledger.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rewriting: Option<(String, String)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<String>,
}

impl Erasure {
    /// Total rows removed.
    pub fn rows_removed(&self) -> u64 {
        self.removed.values().sum()
    }
}

/// The keys a table's erasure log forgot, to filter rows read from any file.
#[derive(Debug, Clone)]
pub struct ErasedKeys {
    table: String,
    key: ErasureKey,
    hashes: HashSet<String>,
    /// The log entries (their runs) the hashes come from.
    runs: Vec<String>,
    /// Rows left out by [`ErasedKeys::remove_from`] so far.
    removed: Arc<AtomicU64>,
}

impl ErasedKeys {
    /// The log's keys. Refused when an entry was hashed with another key:
    /// its keys could no longer be recognised, and would come back.
    pub fn new(table: &str, key: ErasureKey, log: &[Erasure]) -> Result<ErasedKeys, Invalid> {
        if let Some(e) = log.iter().find(|e| e.key_fingerprint != key.fingerprint()) {
            return Err(format!(
                "the erasure log of {table} (run {}) was hashed with erasure key {}, but the key now is {}: restore the key (docs/erasure.md) or forgotten rows would be let back in; nothing was validated",
                e.run_id,
                e.key_fingerprint,
                key.fingerprint()
            )
            .into());
        }
        Ok(ErasedKeys {
            table: table.to_string(),
            hashes: log
                .iter()
                .flat_map(|e| e.key_hashes.iter().cloned())
                .collect(),
            runs: log.iter().map(|e| e.run_id.clone()).collect(),
            key,
            removed: Arc::default(),
        })
    }

    /// The keys of one request, on top of nothing else (a forget's own stages).
    pub fn of(table: &str, key: ErasureKey, keys: &[ForgetKey]) -> ErasedKeys {
        ErasedKeys {
            table: table.to_string(),
            hashes: keys.iter().map(|k| key.hash(table, &k.text)).collect(),
            runs: Vec::new(),
            key,
            removed: Arc::default(),
        }
    }

    /// The erasures (their runs) whose keys these are.
    pub fn runs(&self) -> Vec<String> {
        self.runs.clone()
    }

    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// Which rows to keep, given their primary-key columns; `None` when
    /// every row is kept.
    pub fn keep(&self, key_columns: &[ArrayRef]) -> Result<Option<BooleanArray>, Invalid> {
        if self.hashes.is_empty() {
            return Ok(None);
        }
        let keep: Vec<bool> = key_texts(key_columns)?
            .iter()
            .map(|t| match t {
                Some(t) => !self.hashes.contains(&self.key.hash(&self.table, t)),
                None => true,
            })
            .collect();
        Ok((!keep.iter().all(|k| *k)).then(|| BooleanArray::from(keep)))
    }
}

impl ErasedKeys {
    /// `batch` without the rows of forgotten keys; its primary-key columns
    /// are found by name.
    pub fn remove_from(
        &self,
        meta: &TableMetadata,
        batch: RecordBatch,
    ) -> Result<RecordBatch, Invalid> {
        if self.hashes.is_empty() {
            return Ok(batch);
        }
        let schema = batch.schema();
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        let columns: Vec<ArrayRef> = key_positions(meta, &names)?
            .into_iter()
            .map(|p| batch.column(p).clone())
            .collect();
        match self.keep(&columns)? {
            None => Ok(batch),
            Some(keep) => {
                let kept = filter_record_batch(&batch, &keep)
                    .map_err(|e| format!("cannot leave forgotten rows out: {e}"))?;
                self.removed.fetch_add(
                    (batch.num_rows() - kept.num_rows()) as u64,
                    Ordering::Relaxed,
                );
                Ok(kept)
            }
        }
    }

    /// How many rows [`ErasedKeys::remove_from`] left out so far.
    pub fn removed(&self) -> u64 {
        self.removed.load(Ordering::Relaxed)
    }
}

/// A file rewritten without the rows of forgotten keys.
#[derive(Debug)]
pub struct RewrittenFile {
    pub bytes: Bytes,
    /// The removed rows' numbers in the file (from 1, as reports count them).
    pub removed_rows: Vec<u64>,
}

/// A normalised (validated) Parquet file without the rows of `erased`'s
/// keys; `None` when it holds none.
pub fn rewrite_normalised(
    meta: &TableMetadata,
    erased: &ErasedKeys,
    bytes: Bytes,
) -> Result<Option<RewrittenFile>, Invalid> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
        .and_then(|b| b.build())
        .map_err(|e| format!("not a readable Parquet file: {e}"))?;
    let schema = reader.schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let positions = key_positions(meta, &names)?;
    let batches = reader
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("Parquet decode failed: {e}"))?;
    let keeps = batches
        .iter()
        .map(|b| {
            erased.keep(
                &positions
                    .iter()
                    .map(|&p| b.column(p).clone())
                    .collect::<Vec<_>>(),
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    filtered(schema, &batches, &keeps)
}

/// `batches` filtered by `keeps` (`None`: keep the batch whole), written as
/// Parquet; `None` when nothing is removed.
fn filtered(
    schema: SchemaRef,
    batches: &[RecordBatch],
    keeps: &[Option<BooleanArray>],
) -> Result<Option<RewrittenFile>, Invalid> {
    if keeps.iter().all(Option::is_none) {
        return Ok(None);
    }
    let mut removed_rows = Vec::new();
    let mut writer = ArrowWriter::try_new(Vec::new(), schema, None)
        .map_err(|e| format!("cannot write Parquet: {e}"))?;
    let mut first_row = 0u64;
    for (batch, keep) in batches.iter().zip(keeps) {
        let kept = match keep {
            Some(keep) => {
                removed_rows.extend(
                    (0..keep.len())
                        .filter(|&i| !keep.value(i))
                        .map(|i| first_row + i as u64 + 1),
                );
                filter_record_batch(batch, keep)
                    .map_err(|e| format!("cannot leave forgotten rows out: {e}"))?
            }
            None => batch.clone(),
        };
        first_row += batch.num_rows() as u64;
        writer
            .write(&kept)
            .map_err(|e| format!("cannot write Parquet: {e}"))?;
    }
    let bytes = writer
        .into_inner()
        .map_err(|e| format!("cannot write Parquet: {e}"))?;
    Ok(Some(RewrittenFile {
        bytes: Bytes::from(bytes),
        removed_rows,
    }))
}

/// A file in a landed format (DMS Parquet, CSV or gzipped CSV, with a
/// header row or without) without the rows of `erased`'s keys; `None` when it holds
/// none. Key values are read as validation reads them (the metadata's
/// types and `datetime_format`), so `042` in a CSV file is the key 42; a
/// value that does not read is no forgotten key (validation refuses it).
/// A CSV file keeps every other line byte for byte.
pub fn rewrite_landed(
    file: &str,
    name: &str,
    meta: &TableMetadata,
    erased: &ErasedKeys,
    bytes: Bytes,
    options: &ReadOptions,
) -> Result<Option<RewrittenFile>, Invalid> {
    let format = parse_file_name(name)
        .ok_or_else(|| format!("{name} is not a DMS file name"))?
        .format;
    // Read as validation reads them (a `datetime_format` included).
    let rules = key_columns(meta)?
        .into_iter()
        .map(|p| crate::validate::ColumnRules::compile(&meta.columns[p]))
        .collect::<Result<Vec<_>, _>>()?;
    let keys_of = |columns: Vec<ArrayRef>| -> Result<Vec<ArrayRef>, Invalid> {
        columns
            .iter()
            .zip(&rules)
            .map(|(c, r)| {
                r.cast(c)
                    .map_err(|e| format!("key column of {file}: {e}").into())
            })
            .collect()
    };
    if format == FileFormat::Parquet {
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
            .and_then(|b| b.build())
            .map_err(|e| format!("{file}: not a readable Parquet file: {e}"))?;
        let schema = reader.schema();
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        let positions = key_positions(meta, &names).map_err(|e| format!("{file}: {e}"))?;
        let batches = reader
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("{file}: Parquet decode failed: {e}"))?;
        let keeps = batches
            .iter()
            .map(|b| {
                erased.keep(&keys_of(
                    positions.iter().map(|&p| b.column(p).clone()).collect(),
                )?)
            })
            .collect::<Result<Vec<_>, _>>()?;
        return filtered(schema, &batches, &keeps);
    }
    let reader = LandedReader::open(file, format, Arc::new(bytes.clone()), options)
        .map_err(|e| e.to_string())?;
    let names: Vec<&str> = reader
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect();
    let positions = key_positions(meta, &names).map_err(|e| format!("{file}: {e}"))?;
    let mut projection = positions.clone();
    projection.sort_unstable();
    let mut keep: Vec<bool> = Vec::new();
    for batch in reader.batches(&projection).map_err(|e| e.to_string())? {
        let batch = batch.map_err(|e| e.to_string())?;
        let columns = positions
            .iter()
            .map(|p| {
                batch
                    .column(projection.binary_search(p).unwrap_or_default())
                    .clone()
            })
            .collect();
        match erased.keep(&keys_of(columns)?)? {
            Some(k) => keep.extend((0..k.len()).map(|i| k.value(i))),
            None => keep.extend(std::iter::repeat_n(true, batch.num_rows())),
        }
    }
    if keep.iter().all(|k| *k) {
        return Ok(None);
    }
    let gzip = format == FileFormat::CsvGzip;
    let text = if gzip {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(bytes.as_ref())
            .read_to_end(&mut out)
            .map_err(|e| format!("{file}: not gzip: {e}"))?;
        out
    } else {
        bytes.to_vec()
    };
    // A headerless file (DMS's default) starts with its first record.
    let header_end = match reader.has_header_row() {
        true => text
            .iter()
            .position(|b| *b == b'\n')
            .map_or(text.len(), |i| i + 1),
        false => 0,
    };
    let (header, body) = text.split_at(header_end);
    // Each record runs from where its content starts to where the next
    // one's does: its line break (and any blank line after it) go with it.
    let mut records = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(body);
    let content = |mut at: usize| {
        while at < body.len() && matches!(body[at], b'\r' | b'\n') {
            at += 1;
        }
        at
    };
    let mut starts = Vec::with_capacity(keep.len());
    let mut record = csv::ByteRecord::new();
    loop {
        let start = content(records.position().byte() as usize);
        if !records
            .read_byte_record(&mut record)
            .map_err(|e| format!("{file}: {e}"))?
        {
            break;
        }
        starts.push(start);
    }
    if starts.len() != keep.len() {
        return Err(format!(
            "{file}: {} CSV records but {} rows read",
            starts.len(),
            keep.len()
        )
        .into());
    }
    let mut out = header.to_vec();
    let mut removed_rows = Vec::new();
    for (row, &start) in starts.iter().enumerate() {
        let end = starts.get(row + 1).copied().unwrap_or(body.len());
        if keep[row] {
            out.extend_from_slice(&body[start..end]);
        } else {
            removed_rows.push(row as u64 + 1);
        }
    }
    let bytes = if gzip {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder
            .write_all(&out)
            .and_then(|_| encoder.finish())
            .map_err(|e| format!("{file}: cannot gzip: {e}"))?
    } else {
        out
    };
    Ok(Some(RewrittenFile {
        bytes: Bytes::from(bytes),
        removed_rows,
    }))
}

/// The key columns of `meta`, as positions in a batch whose columns are
/// named `names` (a key column the batch lacks is an error).
pub fn key_positions(meta: &TableMetadata, names: &[&str]) -> Result<Vec<usize>, Invalid> {
    key_columns(meta)?;
    meta.primary_key
        .iter()
        .map(|k| {
            names
                .iter()
                .position(|n| n.eq_ignore_ascii_case(k))
                .ok_or_else(|| format!("the file has no primary-key column {k}").into())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn meta(primary_key: &[&str]) -> TableMetadata {
        serde_json::from_value(json!({
            "name": "customers",
            "primary_key": primary_key,
            "columns": [
                {"name": "id", "type": "int64"},
                {"name": "region", "type": "string"},
                {"name": "born", "type": "date32"},
                {"name": "score", "type": "float64"},
            ]
        }))
        .unwrap()
    }

    fn key() -> ErasureKey {
        ErasureKey::new(vec![7; 32]).unwrap()
    }

    #[test]
    fn a_key_is_its_typed_text_whatever_way_it_was_written() {
        let m = meta(&["id"]);
        let keys = resolve_keys(&m, &[json!("042"), json!(42), json!(" 42"), json!(7)]).unwrap();
        assert_eq!(
            keys,
            [
                ForgetKey {
                    text: "42".into(),
                    literals: vec!["42".into()]
                },
                ForgetKey {
                    text: "7".into(),
                    literals: vec!["7".into()]
                }
            ]
        );
        assert_eq!(key_predicate(&m, &keys), "\"id\" IN (42, 7)");
        let m = meta(&["region", "born"]);
        let keys = resolve_keys(&m, &[json!({"born": "2001-02-03", "region": "it's"})]).unwrap();
        assert_eq!(keys[0].text, "it's\u{1f}2001-02-03");
        assert_eq!(
            key_predicate(&m, &keys),
            "(\"region\" = 'it''s' AND \"born\" = DATE '2001-02-03')"
        );
    }

    #[test]
    fn bad_keys_name_the_key_the_column_and_the_rule() {
        let cases = [
            (
                &["id"][..],
                json!("abc"),
                "key 1: column id holds int64 values; the value given is not one",
            ),
            (
                &["id"],
                json!(1.5),
                "column id holds int64 values; the value given is not one",
            ),
            (&["id"], json!(null), "column id needs a value, not null"),
            (
                &["id"],
                json!({"idx": 1}),
                "\"idx\" is not a primary-key column of customers; the key is id",
            ),
            (
                &["region", "born"],
                json!("x"),
                "has a key of 2 columns: give it as {\"region\": ..., \"born\": ...}",
            ),
            (
                &["region", "born"],
                json!({"region": "x"}),
                "the value of primary-key column born is missing",
            ),
            (
                &["score"],
                json!(1.5),
                "column score is float64, which a key cannot be forgotten by",
            ),
            (&[], json!(1), "customers has no primary key"),
        ];
        for (pk, key, expected) in cases {
            let e =
                resolve_keys(&meta(pk), std::slice::from_ref(&key)).expect_err(&key.to_string());
            assert!(
                e.0.contains(expected),
                "{key}: {e:?} does not say {expected:?}"
            );
        }
    }

    #[test]
    fn rows_are_kept_unless_their_key_was_forgotten_and_hashes_depend_on_key_and_table() {
        let m = meta(&["id"]);
        let forgotten = resolve_keys(&m, &[json!(2)]).unwrap();
        let erased = ErasedKeys::of("customers", key(), &forgotten);
        let ids: ArrayRef = Arc::new(arrow::array::Int64Array::from(vec![Some(1), Some(2), None]));
        assert_eq!(
            erased.keep(std::slice::from_ref(&ids)).unwrap(),
            Some(BooleanArray::from(vec![true, false, true]))
        );
        let none = ErasedKeys::of("customers", key(), &resolve_keys(&m, &[json!(9)]).unwrap());
        assert_eq!(none.keep(&[ids]).unwrap(), None);

        let other = ErasureKey::new(vec![8; 32]).unwrap();
        assert_ne!(key().hash("customers", "2"), other.hash("customers", "2"));
        assert_ne!(key().hash("customers", "2"), key().hash("orders", "2"));
        assert_ne!(key().fingerprint(), other.fingerprint());
        assert!(ErasureKey::new(vec![1; 31]).is_err());
        assert!(!format!("{:?}", key()).contains("7, 7"));
    }

    fn accounts() -> TableMetadata {
        serde_json::from_value(json!({
            "name": "accounts",
            "primary_key": ["id"],
            "columns": [{"name": "id", "type": "int64"}, {"name": "name", "type": "string"}]
        }))
        .unwrap()
    }

    /// The erasure of `id` from `meta`'s table.
    fn forgetting(meta: &TableMetadata, id: i64) -> ErasedKeys {
        ErasedKeys::of(
            &meta.name,
            key(),
            &resolve_keys(meta, &[json!(id)]).unwrap(),
        )
    }

    /// A landed CSV file keeps every other record byte for byte (quoted line
    /// breaks, quotes and blank lines included), plain or gzipped; a key
    /// written `0002` is the key 2.
    #[test]
    fn a_landed_csv_loses_the_keys_records_and_nothing_else() {
        let meta = accounts();
        let erased = forgetting(&meta, 2);
        let kept = "I,2026-11-01 10:00:00.000000,1,\"line one\nline two\"\r\n";
        let text = format!(
            "op,ts,id,name\n{kept}U,2026-11-01 10:00:01.000000,2,x\n\nD,2026-11-01 10:00:02.000000,0002,\"q,\"\"z\"\"\"\nI,2026-11-01 10:00:03.000000,3,\n"
        );
        let options = ReadOptions::default();
        let out = rewrite_landed(
            "f",
            "20261101-100000000.csv",
            &meta,
            &erased,
            Bytes::from(text.clone()),
            &options,
        )
        .unwrap()
        .unwrap();
        assert_eq!(out.removed_rows, [2, 3]);
        assert_eq!(
            String::from_utf8(out.bytes.to_vec()).unwrap(),
            format!("op,ts,id,name\n{kept}I,2026-11-01 10:00:03.000000,3,\n")
        );

        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(text.as_bytes()).unwrap();
        let out = rewrite_landed(
            "f",
            "20261101-100000000.csv.gz",
            &meta,
            &erased,
            Bytes::from(gz.finish().unwrap()),
            &options,
        )
        .unwrap()
        .unwrap();
        let mut plain = String::new();
        flate2::read::GzDecoder::new(out.bytes.as_ref())
            .read_to_string(&mut plain)
            .unwrap();
        assert_eq!(
            plain,
            format!("op,ts,id,name\n{kept}I,2026-11-01 10:00:03.000000,3,\n")
        );

        let none = ErasedKeys::of(
            "accounts",
            key(),
            &resolve_keys(&meta, &[json!(9)]).unwrap(),
        );
        assert!(
            rewrite_landed(
                "f",
                "20261101-100000000.csv",
                &meta,
                &none,
                Bytes::from(text),
                &options
            )
            .unwrap()
            .is_none()
        );
    }

    /// A CSV file without a header row (DMS's default) loses the key's
    /// records too: its first line is a record, not a header to keep.
    #[test]
    fn a_headerless_landed_csv_loses_the_keys_records() {
        let meta = accounts();
        let erased = forgetting(&meta, 2);
        let control = crate::dms::ControlColumns {
            timestamp: "ts".into(),
            change_seq: None,
            ..Default::default()
        };
        let options = ReadOptions::for_table("", &control, &meta);
        let text = "U,2026-11-01 10:00:01.000000,2,x\nI,2026-11-01 10:00:03.000000,3,y\n";
        let out = rewrite_landed(
            "f",
            "20261101-100000000.csv",
            &meta,
            &erased,
            Bytes::from(text),
            &options,
        )
        .unwrap()
        .unwrap();
        assert_eq!(out.removed_rows, [1]);
        assert_eq!(
            String::from_utf8(out.bytes.to_vec()).unwrap(),
            "I,2026-11-01 10:00:03.000000,3,y\n"
        );
    }

    /// A key column with a `datetime_format` is read with it, as validation
    /// reads it: the request names the day in ISO form, the file in its own.
    #[test]
    fn a_landed_csv_key_is_read_with_its_datetime_format() {
        let meta: TableMetadata = serde_json::from_value(json!({
            "name": "days",
            "primary_key": ["day"],
            "columns": [
                {"name": "day", "type": "date32", "datetime_format": "%d/%m/%Y"},
                {"name": "note", "type": "string"}
            ]
        }))
        .unwrap();
        let erased = ErasedKeys::of(
            "days",
            key(),
            &resolve_keys(&meta, &[json!("2026-11-02")]).unwrap(),
        );
        let text = "op,ts,day,note\nI,2026-11-01 10:00:00.000000,01/11/2026,a\nI,2026-11-01 10:00:00.000000,02/11/2026,b\n";
        let out = rewrite_landed(
            "f",
            "20261101-100000000.csv",
            &meta,
            &erased,
            Bytes::from(text),
            &ReadOptions::default(),
        )
        .unwrap()
        .unwrap();
        assert_eq!(out.removed_rows, [2]);
        assert_eq!(
            String::from_utf8(out.bytes.to_vec()).unwrap(),
            "op,ts,day,note\nI,2026-11-01 10:00:00.000000,01/11/2026,a\n"
        );
    }

    /// A landed Parquet file keeps its schema, whatever the key column's
    /// landed type (text here), and its other rows.
    #[test]
    fn a_landed_parquet_file_loses_the_keys_rows_and_keeps_its_schema() {
        let meta = accounts();
        let erased = ErasedKeys::of(
            "accounts",
            key(),
            &resolve_keys(&meta, &[json!("2")]).unwrap(),
        );
        let batch = RecordBatch::try_from_iter([
            (
                "id",
                Arc::new(StringArray::from(vec!["1", "02", "3"])) as ArrayRef,
            ),
            (
                "name",
                Arc::new(StringArray::from(vec![Some("a"), Some("b"), None])) as ArrayRef,
            ),
        ])
        .unwrap();
        let mut writer = ArrowWriter::try_new(Vec::new(), batch.schema(), None).unwrap();
        writer.write(&batch).unwrap();
        let bytes = Bytes::from(writer.into_inner().unwrap());
        let out = rewrite_landed(
            "f",
            "LOAD00000001.parquet",
            &meta,
            &erased,
            bytes,
            &ReadOptions::default(),
        )
        .unwrap()
        .unwrap();
        assert_eq!(out.removed_rows, [2]);
        let read: Vec<RecordBatch> = ParquetRecordBatchReaderBuilder::try_new(out.bytes)
            .unwrap()
            .build()
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(read[0].schema(), batch.schema());
        let ids = read[0]
            .column(0)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        assert_eq!(ids.iter().collect::<Vec<_>>(), [Some("1"), Some("3")]);
    }

    #[test]
    fn a_log_hashed_with_another_key_is_refused() {
        let entry = Erasure {
            run_id: "r1".into(),
            table: "customers".into(),
            requested_by: "dpo".into(),
            requested_at: "2026-12-01T00:00:00Z".into(),
            key_columns: vec!["id".into()],
            key_hashes: vec![key().hash("customers", "2")],
            key_fingerprint: key().fingerprint(),
            removed: BTreeMap::new(),
            done: Vec::new(),
            cursor: None,
            unreadable: Vec::new(),
            rewriting: None,
            completed_at: None,
        };
        let log = [entry];
        assert!(ErasedKeys::new("customers", key(), &log).is_ok());
        let e =
            ErasedKeys::new("customers", ErasureKey::new(vec![8; 32]).unwrap(), &log).unwrap_err();
        assert!(e.0.contains("was hashed with erasure key"), "{e:?}");
    }
}
