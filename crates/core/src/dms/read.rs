//! Reading landed files in record batches, holding a bounded part of the file
//! in memory whatever its size.
//!
//! The bytes come from a [`ByteSource`] (an object store, a local file, or
//! bytes already in memory) through a small cache of *windows*: contiguous
//! ranges fetched on demand and evicted least-recently-used. CSV (plain or
//! gzip) reads one window after the other. A Parquet reader jumps between
//! the column chunks of a row group: when row groups are small (DMS writes
//! 10,000 rows each) two large windows hold whole row groups, so an object
//! store sees few large reads; when they are large, the cache keeps many
//! small windows, a couple per column.
//!
//! Errors are told apart: a file that cannot be decoded is the file's fault
//! ([`ReadError::Format`], a finding), bytes that cannot be fetched are the
//! store's ([`ReadError::Source`], worth a retry).

use super::{ControlColumns, FileFormat, FileKind, FormatError};
use crate::error::Invalid;
use crate::error::StoreError;
use crate::metadata::TableMetadata;
use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use bytes::Bytes;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ParquetRecordBatchReaderBuilder};
use parquet::file::reader::{ChunkReader, Length};
use std::collections::VecDeque;
use std::io::{self, BufRead, BufReader, Read};
use std::sync::{Arc, Mutex, PoisonError};

/// Rows per record batch when reading landed files.
pub const BATCH_ROWS: usize = 8192;

/// Bytes of a landed file a reader keeps cached at most (besides a page larger than a window).
pub const READ_CACHE_BYTES: usize = 8 << 20;

/// Random access to a file's bytes. Implementations may block: files are
/// checked on blocking threads.
pub trait ByteSource: Send + Sync {
    /// The file's size in bytes.
    fn len(&self) -> u64;
    /// Whether the file has no bytes at all.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// `len` bytes from `offset`; callers never ask beyond the end.
    fn read_at(&self, offset: u64, len: usize) -> Result<Bytes, StoreError>;
}

/// A file already in memory.
impl ByteSource for Bytes {
    fn len(&self) -> u64 {
        Bytes::len(self) as u64
    }
    fn read_at(&self, offset: u64, len: usize) -> Result<Bytes, StoreError> {
        let start = offset as usize;
        Ok(self.slice(start..start + len))
    }
}

/// A local file, each range read through a handle of its own (so ranges
/// are read from several threads at once) into a buffer that is not zeroed
/// first: validation reads every byte this way, and zeroing the buffer took
/// as long as the kernel's copy into it.
pub struct FileSource {
    path: std::path::PathBuf,
    len: u64,
}

impl FileSource {
    /// Opens the file once, so that one that cannot be read fails here.
    pub fn open(path: &std::path::Path) -> io::Result<FileSource> {
        Ok(FileSource {
            len: std::fs::File::open(path)?.metadata()?.len(),
            path: path.to_path_buf(),
        })
    }
}

impl ByteSource for FileSource {
    fn len(&self) -> u64 {
        self.len
    }
    fn read_at(&self, offset: u64, len: usize) -> Result<Bytes, StoreError> {
        std::fs::File::open(&self.path)
            .and_then(|file| read_range(file, offset..offset + len as u64))
            .map(Bytes::from)
            .map_err(|e| StoreError::Io {
                key: self.path.display().to_string(),
                message: e.to_string(),
            })
    }
}

/// `range` of an open file, into a buffer that is not zeroed first. Fails
/// if the file ends before the range does.
pub fn read_range(mut file: std::fs::File, range: std::ops::Range<u64>) -> io::Result<Vec<u8>> {
    use std::io::{Seek, SeekFrom};
    let len = range.end.saturating_sub(range.start);
    let mut buf = Vec::with_capacity(len as usize);
    file.seek(SeekFrom::Start(range.start))?;
    file.take(len).read_to_end(&mut buf)?;
    if (buf.len() as u64) < len {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(buf)
}

/// Why a landed file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file is not what its name says, or is damaged: a finding.
    #[error(transparent)]
    Format(#[from] FormatError),
    /// Its bytes could not be fetched: not the file's fault.
    #[error("{file}: cannot read the file's bytes: {source}")]
    Source {
        file: String,
        #[source]
        source: StoreError,
    },
}

/// How to read landed files.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// The text that stands for null in CSV files (DMS `CsvNullValue`); empty:
    /// an empty field is null.
    pub csv_null_value: String,
    /// How a CSV file without a header row (DMS's default, `AddColumnName`
    /// false) is read: [`super::headerless_layouts`], the layout with `Op`
    /// first, then the one without. Empty: the first row must name the columns.
    pub headerless: Vec<Vec<String>>,
}

impl ReadOptions {
    /// How a table's landed files are read: CSV nulls as configured, and a
    /// CSV file without a header row in the metadata's column order.
    pub fn for_table(csv_null_value: &str, control: &ControlColumns, meta: &TableMetadata) -> Self {
        ReadOptions {
            csv_null_value: csv_null_value.to_string(),
            headerless: super::headerless_layouts(
                control,
                meta.columns.iter().map(|c| c.name.as_str()),
            ),
        }
    }
}

/// A cache of recently read ranges of one file.
struct Windows {
    source: Arc<dyn ByteSource>,
    len: u64,
    state: Mutex<WindowState>,
}

#[derive(Default)]
struct WindowState {
    /// Bytes fetched at least, and windows kept at most.
    window: usize,
    max_windows: usize,
    /// Most recently used first: (offset, bytes).
    cached: VecDeque<(u64, Bytes)>,
    /// The first failure of the source; once set, every read fails.
    failure: Option<StoreError>,
}

impl Windows {
    fn new(source: Arc<dyn ByteSource>, max_windows: usize) -> Windows {
        let windows = Windows {
            len: source.len(),
            source,
            state: Mutex::new(WindowState::default()),
        };
        windows.shape(max_windows);
        windows
    }

    /// Splits the cache into `max_windows` windows of equal size.
    fn shape(&self, max_windows: usize) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.max_windows = max_windows.max(1);
        state.window = (READ_CACHE_BYTES / state.max_windows).clamp(64 << 10, 8 << 20);
        let keep = state.max_windows;
        state.cached.truncate(keep);
    }

    /// Exactly `len` bytes at `offset`.
    fn read(&self, offset: u64, len: usize) -> io::Result<Bytes> {
        let end = offset.saturating_add(len as u64);
        if end > self.len {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "needs bytes {offset}..{end} of a {}-byte file (truncated?)",
                    self.len
                ),
            ));
        }
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(i) = state
            .cached
            .iter()
            .position(|(s, b)| *s <= offset && end <= s + b.len() as u64)
        {
            let hit = state.cached.remove(i).expect("position is in range");
            let from = (offset - hit.0) as usize;
            let bytes = hit.1.slice(from..from + len);
            state.cached.push_front(hit);
            return Ok(bytes);
        }
        let size = (len.max(state.window) as u64).min(self.len - offset) as usize;
        let fetched = self.fetch(&mut state, offset, size)?;
        Ok(fetched.slice(..len))
    }

    /// Between 1 and `max` bytes at `offset` (fewer where a window ends); empty at the end.
    fn read_some(&self, offset: u64, max: usize) -> io::Result<Bytes> {
        if offset >= self.len || max == 0 {
            return Ok(Bytes::new());
        }
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(i) = state
            .cached
            .iter()
            .position(|(s, b)| *s <= offset && offset < s + b.len() as u64)
        {
            let hit = state.cached.remove(i).expect("position is in range");
            let from = (offset - hit.0) as usize;
            let to = hit.1.len().min(from + max);
            let bytes = hit.1.slice(from..to);
            state.cached.push_front(hit);
            return Ok(bytes);
        }
        let size = (state.window as u64).min(self.len - offset) as usize;
        let fetched = self.fetch(&mut state, offset, size)?;
        Ok(fetched.slice(..max.min(fetched.len())))
    }

    fn fetch(&self, state: &mut WindowState, offset: u64, size: usize) -> io::Result<Bytes> {
        if state.failure.is_some() {
            return Err(io::Error::other("an earlier read of this file failed"));
        }
        match self.source.read_at(offset, size) {
            Ok(bytes) if bytes.len() == size => {
                state.cached.push_front((offset, bytes.clone()));
                let keep = state.max_windows;
                state.cached.truncate(keep);
                Ok(bytes)
            }
            Ok(bytes) => {
                let e = StoreError::Io {
                    key: String::new(),
                    message: format!(
                        "asked for {size} bytes at {offset}, got {} (did the file change while it was read?)",
                        bytes.len()
                    ),
                };
                let message = e.to_string();
                state.failure = Some(e);
                Err(io::Error::other(message))
            }
            Err(e) => {
                let message = e.to_string();
                state.failure = Some(e);
                Err(io::Error::other(message))
            }
        }
    }

    fn take_failure(&self) -> Option<StoreError> {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .failure
            .take()
    }
}

/// A sequential reader over the cache, from an offset.
struct WindowRead {
    windows: Arc<Windows>,
    pos: u64,
}

impl Read for WindowRead {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let bytes = self.windows.read_some(self.pos, buf.len())?;
        buf[..bytes.len()].copy_from_slice(&bytes);
        self.pos += bytes.len() as u64;
        Ok(bytes.len())
    }
}

/// The cache as the Parquet reader's input.
#[derive(Clone)]
struct ParquetInput(Arc<Windows>);

impl Length for ParquetInput {
    fn len(&self) -> u64 {
        self.0.len
    }
}

impl ChunkReader for ParquetInput {
    type T = WindowRead;
    fn get_read(&self, start: u64) -> parquet::errors::Result<WindowRead> {
        Ok(WindowRead {
            windows: self.0.clone(),
            pos: start,
        })
    }
    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        self.0
            .read(start, length)
            .map_err(|e| parquet::errors::ParquetError::External(Box::new(e)))
    }
}

/// The record batches of a landed file, as written (no casting yet).
pub type Batches = Box<dyn Iterator<Item = Result<RecordBatch, ReadError>> + Send>;

enum Opened {
    Parquet(ArrowReaderMetadata),
    Csv {
        gzip: bool,
        header_len: usize,
        null_value: String,
    },
}

/// A landed file opened for reading: its schema, then its batches (as often as needed).
pub struct LandedReader {
    file: String,
    windows: Arc<Windows>,
    schema: SchemaRef,
    opened: Opened,
}

impl LandedReader {
    /// Opens a landed file: reads the Parquet footer, or the CSV header row.
    pub fn open(
        file: &str,
        format: FileFormat,
        source: Arc<dyn ByteSource>,
        options: &ReadOptions,
    ) -> Result<LandedReader, ReadError> {
        let err = |message: String| FormatError {
            file: file.to_string(),
            row: None,
            message,
        };
        match format {
            FileFormat::Parquet => {
                // Many columns are read side by side: a couple of windows each.
                let windows = Arc::new(Windows::new(source, 64));
                let metadata =
                    ArrowReaderMetadata::load(&ParquetInput(windows.clone()), Default::default())
                        .map_err(|e| {
                        classify(
                            file,
                            &windows,
                            err(format!("not a readable Parquet file: {e}")),
                        )
                    })?;
                let largest_group = metadata
                    .metadata()
                    .row_groups()
                    .iter()
                    .map(|g| g.compressed_size().max(0) as usize)
                    .max()
                    .unwrap_or(0);
                if largest_group <= READ_CACHE_BYTES / 4 {
                    windows.shape(2);
                }
                Ok(LandedReader {
                    file: file.to_string(),
                    schema: metadata.schema().clone(),
                    windows,
                    opened: Opened::Parquet(metadata),
                })
            }
            FileFormat::Csv | FileFormat::CsvGzip => {
                let gzip = format == FileFormat::CsvGzip;
                let windows = Arc::new(Windows::new(source, 2));
                let mut reader = csv_bytes(&windows, gzip);
                let mut header = Vec::new();
                let header_len = reader
                    .read_until(b'\n', &mut header)
                    .map_err(|e| classify(file, &windows, err(format!("header row: {e}"))))?;
                let (names, header_len) = if is_header(&header, &options.headerless) {
                    (header_names(&header).map_err(|e| err(e.0))?, header_len)
                } else {
                    // A CDC file always has `Op`; a full load may not.
                    let name = file.rsplit('/').next().unwrap_or(file);
                    let cdc = super::parse_file_name(name).is_some_and(|n| n.kind == FileKind::Cdc);
                    let layouts = match cdc {
                        true => &options.headerless[..options.headerless.len().min(1)],
                        false => &options.headerless[..],
                    };
                    let layout =
                        headerless_layout(&header, layouts).map_err(|message| FormatError {
                            file: file.to_string(),
                            row: Some(1),
                            message,
                        })?;
                    (layout, 0)
                };
                let schema = Arc::new(Schema::new(
                    names
                        .iter()
                        .map(|n| Field::new(n, DataType::Utf8, true))
                        .collect::<Vec<_>>(),
                ));
                Ok(LandedReader {
                    file: file.to_string(),
                    windows,
                    schema,
                    opened: Opened::Csv {
                        gzip,
                        header_len,
                        null_value: options.csv_null_value.clone(),
                    },
                })
            }
        }
    }

    /// Every column of the file, with its type as written (CSV: all text).
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Whether a CSV file's first row names its columns (`false` for
    /// Parquet, and for CSV read by the metadata's column order).
    pub fn has_header_row(&self) -> bool {
        matches!(self.opened, Opened::Csv { header_len, .. } if header_len > 0)
    }

    /// The number of rows, when the file says so (Parquet).
    pub fn row_count(&self) -> Option<u64> {
        match &self.opened {
            Opened::Parquet(m) => Some(m.metadata().file_metadata().num_rows().max(0) as u64),
            Opened::Csv { .. } => None,
        }
    }

    /// Reads the file from the start in batches of `BATCH_ROWS` rows, only
    /// the columns at `projection` (ascending indices into [`Self::schema`]).
    pub fn batches(&self, projection: &[usize]) -> Result<Batches, ReadError> {
        let file = self.file.clone();
        let windows = self.windows.clone();
        let err = |message: String| {
            classify(
                &self.file,
                &self.windows,
                FormatError {
                    file: self.file.clone(),
                    row: None,
                    message,
                },
            )
        };
        match &self.opened {
            Opened::Parquet(metadata) => {
                let mask = ProjectionMask::roots(
                    metadata.metadata().file_metadata().schema_descr(),
                    projection.iter().copied(),
                );
                let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(
                    ParquetInput(windows.clone()),
                    metadata.clone(),
                )
                .with_projection(mask)
                .with_batch_size(BATCH_ROWS)
                .build()
                .map_err(|e| err(format!("not a readable Parquet file: {e}")))?;
                Ok(Box::new(reader.map(move |b| {
                    b.map_err(|e| {
                        classify(
                            &file,
                            &windows,
                            FormatError {
                                file: file.clone(),
                                row: None,
                                message: format!("Parquet decode failed: {e}"),
                            },
                        )
                    })
                })))
            }
            Opened::Csv {
                gzip,
                header_len,
                null_value,
            } => {
                let mut reader = csv_bytes(&windows, *gzip);
                if *header_len > 0 {
                    let mut skipped = Vec::with_capacity(*header_len);
                    reader
                        .read_until(b'\n', &mut skipped)
                        .map_err(|e| err(format!("header row: {e}")))?;
                }
                let mut builder = arrow::csv::ReaderBuilder::new(self.schema.clone())
                    .with_header(false)
                    .with_batch_size(BATCH_ROWS)
                    .with_projection(projection.to_vec());
                if !null_value.is_empty() {
                    let exact = format!("^{}$", regex::escape(null_value));
                    let regex = regex::Regex::new(&exact)
                        .map_err(|e| err(format!("csv_null_value: {e}")))?;
                    builder = builder.with_null_regex(regex);
                }
                let csv = builder.build(reader).map_err(|e| err(e.to_string()))?;
                Ok(Box::new(csv.map(move |b| {
                    b.map_err(|e| {
                        classify(
                            &file,
                            &windows,
                            FormatError {
                                file: file.clone(),
                                row: csv_error_row(&e.to_string()),
                                message: format!("CSV parse failed: {e}"),
                            },
                        )
                    })
                })))
            }
        }
    }
}

/// The file's bytes as a sequential (decompressed) reader.
fn csv_bytes(windows: &Arc<Windows>, gzip: bool) -> Box<dyn BufRead + Send> {
    let raw = WindowRead {
        windows: windows.clone(),
        pos: 0,
    };
    if gzip {
        Box::new(BufReader::with_capacity(
            256 << 10,
            flate2::read::MultiGzDecoder::new(raw),
        ))
    } else {
        Box::new(BufReader::with_capacity(256 << 10, raw))
    }
}

/// The fields of a CSV row (RFC 4180 quoting allowed).
fn fields(line: &[u8]) -> Result<Vec<String>, String> {
    Ok(csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(line)
        .records()
        .next()
        .transpose()
        .map_err(|e| e.to_string())?
        .map(|r| r.iter().map(str::to_string).collect())
        .unwrap_or_default())
}

/// Whether the first row names the columns: always, when no headerless
/// layout is known; else when it names the `Op` or the timestamp column (a
/// data row holds `I`/`U`/`D` and a timestamp there, never those names).
fn is_header(line: &[u8], headerless: &[Vec<String>]) -> bool {
    let [with_op, without_op, ..] = headerless else {
        return true;
    };
    let names = [with_op.first(), without_op.first()];
    fields(line).is_ok_and(|row| {
        row.iter().any(|f| {
            names
                .iter()
                .flatten()
                .any(|n| f.trim().eq_ignore_ascii_case(n))
        })
    })
}

/// The layout of a file whose first row is data: the one with as many
/// columns as that row; none names the DMS settings that decide the layout.
fn headerless_layout(line: &[u8], headerless: &[Vec<String>]) -> Result<Vec<String>, String> {
    let count = fields(line).map_err(|e| format!("row 1: {e}"))?.len();
    if let Some(layout) = headerless.iter().find(|l| l.len() == count) {
        return Ok(layout.clone());
    }
    let expected: Vec<String> = headerless
        .iter()
        .map(|l| format!("{} ({})", l.len(), l.join(", ")))
        .collect();
    Err(format!(
        "no header row, and row 1 has {count} fields where the metadata reads a headerless file as {}: \
         check the DMS endpoint's AddColumnName (true writes a header row), IncludeOpForFullLoad, \
         TimestampColumnName and the change-seq column's transformation rule against the table's metadata",
        expected.join(" or ")
    ))
}

/// The column names of a CSV header row (RFC 4180 quoting allowed).
fn header_names(line: &[u8]) -> Result<Vec<String>, Invalid> {
    let names = fields(line).map_err(|e| format!("header row: {e}"))?;
    if names.is_empty() || names.iter().any(String::is_empty) {
        return Err(
            "the first row must name the columns (set AddColumnName=true on the DMS endpoint)"
                .into(),
        );
    }
    Ok(names)
}

/// The data row a CSV error names: the decoder counts records from 1 after
/// the header ("incorrect number of fields for line 4, ...").
fn csv_error_row(message: &str) -> Option<u64> {
    let (_, rest) = message.split_once(" for line ")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// A decoding error is the file's fault unless fetching its bytes failed.
fn classify(file: &str, windows: &Windows, format: FormatError) -> ReadError {
    match windows.take_failure() {
        Some(source) => ReadError::Source {
            file: file.to_string(),
            source,
        },
        None => ReadError::Format(format),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// Bytes in memory that count what is fetched and can fail on demand.
    struct Counting {
        bytes: Bytes,
        fetched: AtomicU64,
        largest: AtomicU64,
        calls: AtomicU64,
        fail_after: Option<u64>,
    }

    impl ByteSource for Counting {
        fn len(&self) -> u64 {
            self.bytes.len() as u64
        }
        fn read_at(&self, offset: u64, len: usize) -> Result<Bytes, StoreError> {
            let total = self.fetched.fetch_add(len as u64, Ordering::SeqCst) + len as u64;
            self.calls.fetch_add(1, Ordering::SeqCst);
            self.largest.fetch_max(len as u64, Ordering::SeqCst);
            if self.fail_after.is_some_and(|n| total > n) {
                return Err(StoreError::Io {
                    key: "k".into(),
                    message: "connection reset".into(),
                });
            }
            self.bytes.read_at(offset, len)
        }
    }

    fn counting(bytes: Vec<u8>, fail_after: Option<u64>) -> Arc<Counting> {
        Arc::new(Counting {
            bytes: Bytes::from(bytes),
            fetched: AtomicU64::new(0),
            largest: AtomicU64::new(0),
            calls: AtomicU64::new(0),
            fail_after,
        })
    }

    fn all(reader: &LandedReader) -> Result<Vec<RecordBatch>, ReadError> {
        let projection: Vec<usize> = (0..reader.schema().fields().len()).collect();
        reader.batches(&projection)?.collect()
    }

    fn csv_text(rows: usize) -> String {
        let mut text = String::from("op,extraction_timestamp,id,name\n");
        for i in 0..rows {
            text.push_str(&format!(
                "I,2026-11-01 10:00:00.000000,{i},\"Smith, \"\"Jo\"\" {i}\"\n"
            ));
        }
        text
    }

    #[test]
    fn reads_csv_with_quoting_and_gzip_alike() {
        let text = "op,extraction_timestamp,id,name\nI,2026-11-01 10:00:00.000000,1,\"Smith, \"\"Jo\"\"\nline two\"\nD,2026-11-01 10:00:01.000000,2,\n";
        let read = |format, bytes: Vec<u8>| {
            let source: Arc<dyn ByteSource> = Arc::new(Bytes::from(bytes));
            let reader =
                LandedReader::open("x.csv", format, source, &ReadOptions::default()).unwrap();
            arrow::util::pretty::pretty_format_batches(&all(&reader).unwrap())
                .unwrap()
                .to_string()
        };
        let plain = read(FileFormat::Csv, text.as_bytes().to_vec());
        assert!(
            plain.contains("| Smith, \"Jo\" |") && plain.contains("| line two    |"),
            "{plain}"
        );
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, text.as_bytes()).unwrap();
        assert_eq!(read(FileFormat::CsvGzip, gz.finish().unwrap()), plain);
    }

    #[test]
    fn headerless_csv_is_read_by_the_metadatas_column_order() {
        let control = ControlColumns {
            change_seq: Some("scn".into()),
            ..ControlColumns::default()
        };
        let options = ReadOptions {
            headerless: crate::dms::headerless_layouts(&control, ["id", "name"]),
            ..ReadOptions::default()
        };
        let read = |text: &str| {
            let source: Arc<dyn ByteSource> = Arc::new(Bytes::from(text.to_string()));
            LandedReader::open("x.csv", FileFormat::Csv, source, &options).and_then(|r| {
                let names: Vec<String> = r
                    .schema()
                    .fields()
                    .iter()
                    .map(|f| f.name().clone())
                    .collect();
                let batches = all(&r)?;
                Ok((names, batches.iter().map(|b| b.num_rows()).sum::<usize>()))
            })
        };
        // A CDC file (Op first), as DMS writes it by default: every row is data.
        let (names, rows) = read(
            "I,2026-11-01 10:00:00.000000,1,pen,0001\nD,2026-11-01 10:00:01.000000,2,ink,0002\n",
        )
        .unwrap();
        assert_eq!(names, ["op", "extraction_timestamp", "id", "name", "scn"]);
        assert_eq!(rows, 2);
        // A full load without IncludeOpForFullLoad.
        let (names, rows) = read("2026-11-01 10:00:00.000000,1,pen,0001\n").unwrap();
        assert_eq!(names, ["extraction_timestamp", "id", "name", "scn"]);
        assert_eq!(rows, 1);
        // A header row is still a header row, in its own order.
        let (names, rows) =
            read("id,op,name,extraction_timestamp,scn\n1,I,pen,2026-11-01 10:00:00,1\n").unwrap();
        assert_eq!(names, ["id", "op", "name", "extraction_timestamp", "scn"]);
        assert_eq!(rows, 1);
        // A layout the metadata cannot explain names the settings to check.
        let Err(ReadError::Format(e)) = read("I,2026-11-01 10:00:00.000000,1\n") else {
            panic!("three fields fit no layout");
        };
        assert_eq!(e.row, Some(1));
        for part in [
            "row 1 has 3 fields",
            "5 (op, extraction_timestamp, id, name, scn)",
            "AddColumnName",
            "IncludeOpForFullLoad",
        ] {
            assert!(e.message.contains(part), "{part}: {}", e.message);
        }
    }

    #[test]
    fn csv_null_value_is_configurable() {
        let text = "id,name\n1,\n2,NULL\n";
        let names = |null: &str| {
            let source: Arc<dyn ByteSource> = Arc::new(Bytes::from(text));
            let reader = LandedReader::open(
                "x.csv",
                FileFormat::Csv,
                source,
                &ReadOptions {
                    csv_null_value: null.into(),
                    ..ReadOptions::default()
                },
            )
            .unwrap();
            let batch = all(&reader).unwrap().remove(0);
            let col = batch.column(1);
            (0..2)
                .map(|i| {
                    col.is_valid(i).then(|| {
                        arrow::array::AsArray::as_string::<i32>(col.as_ref())
                            .value(i)
                            .to_string()
                    })
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(names(""), [None, Some("NULL".to_string())]);
        assert_eq!(names("NULL"), [Some(String::new()), None]);
    }

    #[test]
    fn a_large_csv_is_read_through_a_bounded_window() {
        let text = csv_text(400_000);
        let source = counting(text.clone().into_bytes(), None);
        let reader = LandedReader::open(
            "x.csv",
            FileFormat::Csv,
            source.clone(),
            &ReadOptions::default(),
        )
        .unwrap();
        let rows: usize = all(&reader).unwrap().iter().map(|b| b.num_rows()).sum();
        assert_eq!(rows, 400_000);
        // The file is several times the largest read.
        assert!(text.len() > 16 << 20);
        assert!(source.largest.load(Ordering::SeqCst) <= (READ_CACHE_BYTES / 2) as u64);
        // Each byte fetched about once (the header twice).
        assert!(source.fetched.load(Ordering::SeqCst) < text.len() as u64 + (8 << 20));
    }

    #[test]
    fn parquet_with_small_row_groups_is_read_in_few_large_reads() {
        use arrow::array::{Int64Array, StringArray};
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("v", DataType::Utf8, false),
        ]));
        let props = parquet::file::properties::WriterProperties::builder()
            .set_max_row_group_row_count(Some(10_000))
            .build();
        let mut writer =
            parquet::arrow::ArrowWriter::try_new(Vec::new(), schema.clone(), Some(props)).unwrap();
        for chunk in 0..60i64 {
            let ids: Vec<i64> = (chunk * 10_000..(chunk + 1) * 10_000)
                .map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15u64 as i64))
                .collect();
            let texts: Vec<String> = ids.iter().map(|i| format!("value {i:x}")).collect();
            let batch = RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(Int64Array::from(ids)),
                    Arc::new(StringArray::from(texts)),
                ],
            )
            .unwrap();
            writer.write(&batch).unwrap();
        }
        let file = writer.into_inner().unwrap();
        let len = file.len() as u64;
        assert!(len > 2 * READ_CACHE_BYTES as u64, "{len}");
        let source = counting(file, None);
        let reader = LandedReader::open(
            "LOAD00000001.parquet",
            FileFormat::Parquet,
            source.clone(),
            &ReadOptions::default(),
        )
        .unwrap();
        let rows: usize = all(&reader).unwrap().iter().map(|b| b.num_rows()).sum();
        assert_eq!(rows, 600_000);
        let window = (READ_CACHE_BYTES / 2) as u64;
        let calls = source.calls.load(Ordering::SeqCst);
        assert!(
            calls <= len / window + 8,
            "{calls} reads of a {len}-byte file"
        );
        assert!(source.largest.load(Ordering::SeqCst) <= window);
        assert!(source.fetched.load(Ordering::SeqCst) <= len + 2 * window);
    }

    #[test]
    fn a_failing_store_is_a_source_error_not_a_format_error() {
        let text = csv_text(100_000);
        let source = counting(text.into_bytes(), Some(5 << 20));
        let reader =
            LandedReader::open("x.csv", FileFormat::Csv, source, &ReadOptions::default()).unwrap();
        match all(&reader) {
            Err(ReadError::Source { source, .. }) => {
                assert!(source.to_string().contains("connection reset"), "{source}")
            }
            other => panic!("{:?}", other.map(|b| b.len())),
        }
    }

    #[test]
    fn a_ragged_csv_row_is_located() {
        let text = "id,name\n1,a\n2,\"b\nc\"\n3\n4,d\n";
        let source: Arc<dyn ByteSource> = Arc::new(Bytes::from(text));
        let reader =
            LandedReader::open("x.csv", FileFormat::Csv, source, &ReadOptions::default()).unwrap();
        match all(&reader) {
            Err(ReadError::Format(e)) => assert_eq!(e.row, Some(3), "{e}"),
            other => panic!("{:?}", other.map(|b| b.len())),
        }
    }

    #[test]
    fn garbage_is_a_format_error_not_a_panic() {
        let source: Arc<dyn ByteSource> = Arc::new(Bytes::from_static(b"PAR1 not really"));
        let e = LandedReader::open(
            "LOAD00000001.parquet",
            FileFormat::Parquet,
            source,
            &ReadOptions::default(),
        )
        .err()
        .unwrap();
        assert!(
            matches!(&e, ReadError::Format(f) if f.to_string().starts_with("LOAD00000001.parquet: not a readable Parquet file")),
            "{e}"
        );
    }
}
