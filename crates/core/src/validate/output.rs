//! Where a file's checked rows go: nowhere (a linter run), into memory
//! (tests), or down a pipe to the threads that complete them and encode them
//! as Parquet, handed to a sink in parts (the pipeline: an S3 multipart
//! upload, a file).

use super::{CheckError, normalised_schema};
use crate::error::StoreError;
use crate::metadata::{ColumnType, RowHashFormat, TableMetadata};
use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use bytes::Bytes;
use parquet::arrow::ArrowWriter;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use std::io::{self, Write};
use std::sync::mpsc::{Receiver, SyncSender};

/// Receives a normalised file in parts, in order. Every part but the last is
/// [`PART_BYTES`] long. A sink only sees a complete file when the check
/// accepted it; otherwise its owner abandons what it received.
pub trait ByteSink: Send {
    fn write(&mut self, part: Bytes) -> Result<(), StoreError>;
}

/// Size of the parts handed to a [`ByteSink`] (S3 wants at least 5 MiB).
pub const PART_BYTES: usize = 8 << 20;

/// Memory the Parquet writer may hold for the row group in progress before
/// writing it out (encoded pages, dictionaries, buffered values).
const ROW_GROUP_BYTES: usize = 8 << 20;

/// Rows a row group holds at most. Engines read a file's row groups in
/// parallel, so a file of a few MB needs several: 200,000 changes (7 MB)
/// make four.
pub(crate) const ROW_GROUP_ROWS: usize = 8 * crate::dms::BATCH_ROWS;

/// How normalised files are encoded. They are a change log, read in full by
/// merges (DuckDB, Athena engine 3) and kept for rebuilds: what matters is
/// the cost of writing them and their size (stored, uploaded, and scanned by
/// every merge, which Athena bills by the byte).
/// - Integers, dates, timestamps and decimals stored as integers:
///   `DELTA_BINARY_PACKED`, uncompressed. Keys, sequence numbers and change
///   times mostly grow, which this encodes in a few bits a value, cheaper
///   than a byte-oriented compressor could.
/// - `change_seq`: `DELTA_BYTE_ARRAY` (neighbouring values share a prefix:
///   the file name, or most of an SCN), uncompressed.
/// - `row_hash` as `bigint` (random bits): plain, uncompressed.
/// - Other columns, `row_hash` as `hex` (32 digits) included: plain, zstd at
///   level 1; dictionaries only where values repeat by design (`op`,
///   `batch_id`, `enum` columns; booleans take a bit anyway). On the
///   `make bench-validate` file, zstd writes 35% fewer bytes than snappy (it
///   halves `row_hash`, which snappy cannot shrink). It compresses more
///   slowly, but on a machine where writing a file costs more than
///   compressing it (that of the benchmark), validation took less time.
/// - Statistics (per column chunk, no page index) only for what a merge
///   filters on: the primary key, `valid_from`, `batch_id`.
pub(crate) fn props(meta: &TableMetadata, row_hash: RowHashFormat) -> WriterProperties {
    use parquet::basic::{Compression, Encoding, ZstdLevel};
    let mut props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).unwrap_or_default()))
        .set_statistics_enabled(EnabledStatistics::None)
        .set_dictionary_enabled(false)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS));
    let filtered = meta.primary_key.iter().map(String::as_str);
    for name in filtered.chain(["valid_from", "batch_id"]) {
        props =
            props.set_column_statistics_enabled(ColumnPath::from(name), EnabledStatistics::Chunk);
    }
    let repeating = meta
        .columns
        .iter()
        .filter(|c| c.constraints.enum_values.is_some())
        .map(|c| c.name.as_str())
        .chain(["op", "batch_id"]);
    for name in repeating {
        props = props.set_column_dictionary_enabled(ColumnPath::from(name), true);
    }
    let integers = meta
        .columns
        .iter()
        .filter(|c| stored_as_integers(c.column_type))
        .map(|c| c.name.as_str())
        .chain(["valid_from"]);
    let random = row_hash
        .is_bigint()
        .then_some(("row_hash", Encoding::PLAIN));
    let uncompressed = integers
        .map(|name| (name, Encoding::DELTA_BINARY_PACKED))
        .chain([("change_seq", Encoding::DELTA_BYTE_ARRAY)])
        .chain(random);
    for (name, encoding) in uncompressed {
        let column = ColumnPath::from(name);
        props = props
            .set_column_encoding(column.clone(), encoding)
            .set_column_compression(column, Compression::UNCOMPRESSED);
    }
    props.build()
}

/// Whether Parquet stores the type's values as INT32 or INT64 (so that
/// `DELTA_BINARY_PACKED` applies): decimals up to 18 digits included.
fn stored_as_integers(t: ColumnType) -> bool {
    match t {
        ColumnType::Date32 | ColumnType::Timestamp(_) => true,
        ColumnType::Decimal128 { precision, .. } => precision <= 18,
        other => other.is_integer(),
    }
}

/// A message down the pipe that ends in a normalised file: checked rows to
/// the thread that completes them, normalised rows from it to the encoder.
pub(crate) enum ToWriter<T> {
    Batch(T),
    /// The file was accepted: write the footer and the last part.
    Finish,
    /// The file has a finding: stop.
    Discard,
}

/// Where checked rows go; `T` is what a checker hands on (its checked rows).
pub(crate) enum Output<T> {
    /// Check only.
    Discard,
    Collect(Vec<RecordBatch>),
    /// To the thread that completes the rows; `None` once told to finish or discard.
    Pipe(Option<SyncSender<ToWriter<T>>>),
}

impl<T> Output<T> {
    /// Hands on a checked batch; `normalise` completes it where it is kept here.
    pub(crate) fn write(
        &mut self,
        checked: T,
        normalise: impl FnOnce(T) -> Result<RecordBatch, CheckError>,
        file: &str,
    ) -> Result<(), CheckError> {
        match self {
            Output::Discard => Ok(()),
            Output::Collect(batches) => {
                batches.push(normalise(checked)?);
                Ok(())
            }
            Output::Pipe(to) => match to {
                Some(tx) if tx.send(ToWriter::Batch(checked)).is_ok() => Ok(()),
                // The writer stopped: its own error is reported when it is joined.
                _ => Err(CheckError::Encode {
                    file: file.to_string(),
                    message: "the writer stopped".into(),
                }),
            },
        }
    }

    /// Whether anything is written at all (a linter run only checks).
    pub(crate) fn wanted(&self) -> bool {
        !matches!(self, Output::Discard)
    }

    /// Stops producing output (the file has a finding): frees the writer.
    pub(crate) fn discard(&mut self) {
        match self {
            Output::Collect(batches) => batches.clear(),
            Output::Pipe(to) => {
                if let Some(tx) = to.take() {
                    let _ = tx.send(ToWriter::Discard);
                }
            }
            Output::Discard => {}
        }
    }

    /// The file was accepted: what was handed on is complete.
    pub(crate) fn finish(&mut self) {
        if let Output::Pipe(to) = self
            && let Some(tx) = to.take()
        {
            let _ = tx.send(ToWriter::Finish);
        }
    }

    pub(crate) fn take_collected(&mut self) -> Vec<RecordBatch> {
        match self {
            Output::Collect(b) => std::mem::take(b),
            _ => Vec::new(),
        }
    }
}

/// The writer thread: encodes the batches it receives until told to finish
/// (the file was accepted) or to stop.
pub(crate) fn write_received(
    meta: &TableMetadata,
    row_hash: RowHashFormat,
    sink: &mut dyn ByteSink,
    file: &str,
    received: Receiver<ToWriter<RecordBatch>>,
) -> Result<(), CheckError> {
    let mut out = ParquetOut::new(
        normalised_schema(meta, row_hash),
        props(meta, row_hash),
        sink,
        file,
    )?;
    for message in received {
        match message {
            ToWriter::Batch(batch) => out.write(&batch, file)?,
            ToWriter::Finish => return out.finish(file),
            ToWriter::Discard => return Ok(()),
        }
    }
    // The checker went away without a verdict: nothing is finished.
    Ok(())
}

/// A Parquet file encoded a row group at a time and sent to a sink in parts.
struct ParquetOut<'a>(ArrowWriter<Parts<'a>>);

impl<'a> ParquetOut<'a> {
    fn new(
        schema: SchemaRef,
        props: WriterProperties,
        sink: &'a mut dyn ByteSink,
        file: &str,
    ) -> Result<ParquetOut<'a>, CheckError> {
        let parts = Parts {
            sink,
            buf: Vec::new(),
            failure: None,
        };
        ArrowWriter::try_new(parts, schema, Some(props))
            .map(ParquetOut)
            .map_err(|e| CheckError::Encode {
                file: file.to_string(),
                message: e.to_string(),
            })
    }

    fn write(&mut self, batch: &RecordBatch, file: &str) -> Result<(), CheckError> {
        let writer = &mut self.0;
        let mut result = writer.write(batch);
        if result.is_ok() && writer.memory_size() > ROW_GROUP_BYTES {
            result = writer.flush();
        }
        result.map_err(|e| failure(writer.inner_mut(), e, file))
    }

    /// The Parquet footer and the last part go to the sink.
    fn finish(self, file: &str) -> Result<(), CheckError> {
        let mut parts = self.0.into_inner().map_err(|e| CheckError::Encode {
            file: file.to_string(),
            message: e.to_string(),
        })?;
        parts.send().map_err(|_| sink_error(&mut parts, file))
    }
}

/// Bytes on their way to a sink, sent a part at a time.
pub(crate) struct Parts<'a> {
    sink: &'a mut dyn ByteSink,
    buf: Vec<u8>,
    failure: Option<StoreError>,
}

impl Parts<'_> {
    fn send(&mut self) -> io::Result<()> {
        if self.failure.is_some() {
            return Err(io::Error::other("the sink failed"));
        }
        if self.buf.is_empty() {
            return Ok(());
        }
        let part = Bytes::from(std::mem::take(&mut self.buf));
        self.sink.write(part).map_err(|e| {
            let message = e.to_string();
            self.failure = Some(e);
            io::Error::other(message)
        })
    }
}

impl Write for Parts<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        if self.failure.is_some() {
            return Err(io::Error::other("the sink failed"));
        }
        let room = PART_BYTES - self.buf.len();
        let take = room.min(bytes.len());
        if self.buf.capacity() == 0 {
            self.buf.reserve_exact(PART_BYTES);
        }
        self.buf.extend_from_slice(&bytes[..take]);
        if self.buf.len() == PART_BYTES {
            self.send()?;
        }
        Ok(take)
    }

    /// Parts are sent when full: a flush must not send a short part.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn failure(parts: &mut Parts<'_>, e: parquet::errors::ParquetError, file: &str) -> CheckError {
    match parts.failure.take() {
        Some(source) => CheckError::Sink {
            file: file.to_string(),
            source,
        },
        None => CheckError::Encode {
            file: file.to_string(),
            message: e.to_string(),
        },
    }
}

fn sink_error(parts: &mut Parts<'_>, file: &str) -> CheckError {
    CheckError::Sink {
        file: file.to_string(),
        source: parts.failure.take().unwrap_or_else(|| StoreError::Io {
            key: file.to_string(),
            message: "the sink failed".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{ArrayRef, Int64Array};
    use arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;

    struct Recorder(Vec<Bytes>);
    impl ByteSink for Recorder {
        fn write(&mut self, part: Bytes) -> Result<(), StoreError> {
            self.0.push(part);
            Ok(())
        }
    }

    #[test]
    fn parts_are_full_size_but_the_last_and_make_the_same_file() {
        let schema = Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, true)]));
        // Pseudo-random values so the output does not compress to nothing.
        let values: Vec<i64> = (0..3_000_000i64)
            .map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15u64 as i64))
            .collect();
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(Int64Array::from(values)) as ArrayRef],
        )
        .unwrap();
        let mut sink = Recorder(Vec::new());
        {
            let mut out =
                ParquetOut::new(schema.clone(), WriterProperties::default(), &mut sink, "f")
                    .unwrap();
            for i in 0..6 {
                out.write(&batch.slice(i * 500_000, 500_000), "f").unwrap();
            }
            out.finish("f").unwrap();
        }
        let parts = sink.0;
        assert!(parts.len() >= 3, "{}", parts.len());
        assert!(
            parts[..parts.len() - 1]
                .iter()
                .all(|p| p.len() == PART_BYTES)
        );
        let whole: Vec<u8> = parts.iter().flat_map(|p| p.iter().copied()).collect();
        let read: usize = parquet::arrow::arrow_reader::ParquetRecordBatchReader::try_new(
            Bytes::from(whole),
            8192,
        )
        .unwrap()
        .map(|b| b.unwrap().num_rows())
        .sum();
        assert_eq!(read, 3_000_000);
    }

    #[test]
    fn a_failing_sink_is_a_sink_error() {
        struct Broken;
        impl ByteSink for Broken {
            fn write(&mut self, _: Bytes) -> Result<(), StoreError> {
                Err(StoreError::Io {
                    key: "k".into(),
                    message: "disk full".into(),
                })
            }
        }
        let schema = Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, true)]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(Int64Array::from(vec![1, 2, 3])) as ArrayRef],
        )
        .unwrap();
        let mut sink = Broken;
        let mut out =
            ParquetOut::new(schema.clone(), WriterProperties::default(), &mut sink, "f").unwrap();
        out.write(&batch, "f").unwrap();
        let e = out.finish("f").unwrap_err();
        assert!(
            matches!(&e, CheckError::Sink { source, .. } if source.to_string().contains("disk full")),
            "{e}"
        );
    }
}
