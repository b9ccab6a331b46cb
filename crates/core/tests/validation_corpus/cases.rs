//! The validation corpus: one landed file per rule and per DMS quirk, plus
//! good files, all derived from one small `accounts` table. Deterministic:
//! the same bytes on every run (the committed copy is compared with it).
//!
//! Every file holds the same four changes unless a case says otherwise, so
//! every accepted CDC case must normalise to exactly the same rows: a quirk
//! changes how DMS wrote the data, never the data.

use arrow::array::{ArrayRef, Date32Array, RecordBatch, StringArray};
use arrow::compute::{CastOptions, cast_with_options};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use std::sync::Arc;
use tidemark_core::dms::ChangeSeqKind;
use tidemark_core::validate::Rule;

/// The table's metadata: every column type, every constraint.
pub const METADATA: &str = r#"{
  "$schema": "https://moj-analytical-services.github.io/metadata_schema/table/v1.0.0.json",
  "name": "accounts",
  "description": "The validation corpus: one column per type and constraint.",
  "file_format": "parquet",
  "primary_key": ["id"],
  "partitions": [],
  "columns": [
    {"name": "id", "type": "int64", "nullable": false},
    {"name": "code", "type": "string", "nullable": false, "enum": ["A", "B", "C"]},
    {"name": "email", "type": "string", "pattern": "^[^@ ]+@[^@ ]+$"},
    {"name": "name", "type": "string", "minLength": 2, "maxLength": 12},
    {"name": "qty", "type": "int32", "minimum": 0, "maximum": 1000},
    {"name": "price", "type": "decimal128(10,2)", "minimum": 0},
    {"name": "ratio", "type": "float64", "maximum": 1.0},
    {"name": "active", "type": "bool"},
    {"name": "born", "type": "date32", "datetime_format": "%d/%m/%Y"},
    {"name": "created_at", "type": "timestamp(us)", "nullable": false},
    {"name": "updated_ms", "type": "timestamp(ms)"},
    {"name": "small", "type": "int8"},
    {"name": "tiny_u", "type": "uint16"},
    {"name": "big_u", "type": "uint64"},
    {"name": "f32", "type": "float32"},
    {"name": "note", "type": "large_string", "description": "free text, with commas, quotes and newlines"},
    {"name": "blob", "type": "binary", "maxLength": 4},
    {"name": "seen_s", "type": "timestamp(s)", "sensitive": false}
  ]
}
"#;

/// One column of a landed file: its cells as DMS writes them in CSV, and
/// the type a DMS Parquet file gives it.
#[derive(Clone)]
pub struct Col {
    pub name: &'static str,
    pub parquet: DataType,
    pub cells: Vec<Option<String>>,
}

/// A landed file before encoding.
#[derive(Clone)]
pub struct Spec(pub Vec<Col>);

impl Spec {
    fn col(&mut self, name: &str) -> &mut Col {
        self.0
            .iter_mut()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("no column {name}"))
    }
    /// Sets a cell (row 1-based, as findings count) and keeps the column as text in Parquet.
    fn set_text(mut self, name: &str, row: usize, value: Option<&str>) -> Spec {
        let c = self.col(name);
        c.cells[row - 1] = value.map(str::to_string);
        c.parquet = DataType::Utf8;
        self
    }
    /// Sets a cell, keeping the column's Parquet type.
    fn set(mut self, name: &str, row: usize, value: Option<&str>) -> Spec {
        self.col(name).cells[row - 1] = value.map(str::to_string);
        self
    }
    fn text(mut self, name: &str) -> Spec {
        self.col(name).parquet = DataType::Utf8;
        self
    }
    fn typed(mut self, name: &str, t: DataType) -> Spec {
        self.col(name).parquet = t;
        self
    }
    fn rename(mut self, from: &str, to: &'static str) -> Spec {
        self.col(from).name = to;
        self
    }
    fn without(mut self, name: &str) -> Spec {
        self.0.retain(|c| c.name != name);
        self
    }
    fn with(mut self, name: &'static str, cells: &[Option<&str>]) -> Spec {
        self.0.push(Col {
            name,
            parquet: DataType::Utf8,
            cells: cells.iter().map(|c| c.map(str::to_string)).collect(),
        });
        self
    }
    fn rows(mut self, keep: usize) -> Spec {
        for c in &mut self.0 {
            c.cells.truncate(keep);
        }
        self
    }
}

const US: DataType = DataType::Timestamp(TimeUnit::Microsecond, None);
const MS: DataType = DataType::Timestamp(TimeUnit::Millisecond, None);

fn col(name: &'static str, parquet: DataType, cells: [Option<&str>; 4]) -> Col {
    Col {
        name,
        parquet,
        cells: cells.iter().map(|c| c.map(str::to_string)).collect(),
    }
}

/// The four changes every CDC case starts from: key 1 inserted and updated,
/// key 2 inserted and deleted. Boundary values are in range on purpose.
fn cdc() -> Spec {
    let t = Some;
    Spec(vec![
        col("op", DataType::Utf8, [t("I"), t("U"), t("I"), t("D")]),
        col(
            "extraction_timestamp",
            DataType::Utf8,
            [
                t("2026-11-01 10:00:00.000000"),
                t("2026-11-01 10:05:00.000000"),
                t("2026-11-01 10:10:00.500000"),
                t("2026-11-01 10:15:00.000000"),
            ],
        ),
        col(
            "scn",
            DataType::Utf8,
            [
                t("00000000000000000001"),
                t("00000000000000000002"),
                t("00000000000000000003"),
                t("00000000000000000004"),
            ],
        ),
        col("id", DataType::Int64, [t("1"), t("1"), t("2"), t("2")]),
        col("code", DataType::Utf8, [t("A"), t("B"), t("C"), t("C")]),
        col(
            "email",
            DataType::Utf8,
            [
                t("ana@example.com"),
                t("ana@example.com"),
                t("bo@example.org"),
                None,
            ],
        ),
        col(
            "name",
            DataType::Utf8,
            [t("Ana"), t("Ana Maria"), t("Bo"), t("Bo")],
        ),
        col("qty", DataType::Int32, [t("3"), t("4"), t("0"), t("1000")]),
        col(
            "price",
            DataType::Decimal128(10, 2),
            [t("12.50"), t("12.50"), t("0.00"), t("999.99")],
        ),
        col(
            "ratio",
            DataType::Float64,
            [t("0.25"), t("0.5"), t("1"), t("0")],
        ),
        col(
            "active",
            DataType::Boolean,
            [t("true"), t("false"), None, t("true")],
        ),
        col(
            "born",
            DataType::Date32,
            [
                t("05/01/1990"),
                t("05/01/1990"),
                t("29/02/2000"),
                t("29/02/2000"),
            ],
        ),
        col(
            "created_at",
            US,
            [
                t("2026-01-05 10:00:00.000000"),
                t("2026-01-05 10:00:00.000000"),
                t("2026-02-10 11:30:00.250000"),
                t("2026-02-10 11:30:00.250000"),
            ],
        ),
        col(
            "updated_ms",
            MS,
            [
                t("2026-11-01 09:59:59.123"),
                t("2026-11-01 10:04:00.000"),
                None,
                t("2026-11-01 10:14:59.999"),
            ],
        ),
        col("small", DataType::Int8, [t("-128"), t("0"), t("127"), None]),
        col(
            "tiny_u",
            DataType::UInt16,
            [t("7"), t("8"), t("65535"), None],
        ),
        col(
            "big_u",
            DataType::UInt64,
            [t("18446744073709551615"), t("0"), t("1"), None],
        ),
        col(
            "f32",
            DataType::Float32,
            [t("0.5"), t("1.25"), t("-2.5"), None],
        ),
        col(
            "note",
            DataType::Utf8,
            [t("Smith, \"Jo\"\nsecond line"), None, t("plain"), t("bye")],
        ),
        col(
            "blob",
            DataType::Binary,
            [t("ab"), t("ab"), None, t("abcd")],
        ),
        col(
            "seen_s",
            US,
            [
                t("2026-11-01 08:00:00"),
                t("2026-11-01 08:00:00"),
                t("2026-11-01 09:00:00"),
                t("2026-11-01 09:00:00"),
            ],
        ),
    ])
}

/// A full load: no op column, no change sequence, keys 1 to 4 once each, load time for all.
fn full_load() -> Spec {
    cdc()
        .without("op")
        .set("scn", 1, None)
        .set("scn", 2, None)
        .set("scn", 3, None)
        .set("scn", 4, None)
        .set("id", 2, Some("3"))
        .set("id", 4, Some("4"))
        .set(
            "extraction_timestamp",
            2,
            Some("2026-11-01 10:00:00.000000"),
        )
        .set(
            "extraction_timestamp",
            3,
            Some("2026-11-01 10:00:00.000000"),
        )
        .set(
            "extraction_timestamp",
            4,
            Some("2026-11-01 10:00:00.000000"),
        )
}

/// A case's options (the pipeline's `allow_unexpected` and `csv_null_value`).
#[derive(Clone, Copy, Default)]
pub struct Options {
    pub allow_unexpected: bool,
    pub csv_null_value: &'static str,
    pub change_seq_kind: ChangeSeqKind,
    pub lob_max_bytes: Option<usize>,
}

pub struct Case {
    /// The case's folder under the corpus.
    pub name: &'static str,
    /// The landed file's name.
    pub file: &'static str,
    pub bytes: Vec<u8>,
    pub options: Options,
    /// The rules the case must break, and nothing else (empty: accepted).
    pub breaks: &'static [Rule],
    /// Whether the accepted file carries the base changes, so its normalised
    /// rows must equal those of every other such case.
    pub base_changes: bool,
    pub intent: &'static str,
}

const CDC_PARQUET: &str = "20261101-100000000.parquet";
const CDC_CSV: &str = "20261101-100000000.csv";
const CDC_GZ: &str = "20261101-100000000.csv.gz";
const LOAD: &str = "LOAD00000001.parquet";

/// Every case, in the order the corpus lists them.
pub fn cases() -> Vec<Case> {
    let case = |name, file, bytes, breaks, intent| Case {
        name,
        file,
        bytes,
        options: Options::default(),
        breaks,
        base_changes: false,
        intent,
    };
    let base = |name, file, bytes, intent| Case {
        base_changes: true,
        ..case(name, file, bytes, &[], intent)
    };
    let truncated = {
        let mut b = parquet(&cdc());
        b.truncate(b.len() / 2);
        b
    };
    let ragged = {
        let text = String::from_utf8(csv(&cdc(), "")).expect("csv is text");
        let mut lines: Vec<String> = text.split_inclusive('\n').map(str::to_string).collect();
        // The last data row loses its last field (its line ends in the blob, seen_s).
        let last = lines.len() - 1;
        let cut = lines[last].rfind(',').expect("a field separator");
        lines[last] = format!("{}\n", &lines[last][..cut]);
        lines.concat().into_bytes()
    };
    vec![
        // Good files and the DMS quirks, all carrying the same four changes.
        base(
            "good_parquet_cdc",
            CDC_PARQUET,
            parquet(&cdc()),
            "a typed DMS Parquet CDC file; op, timestamp and scn as strings",
        ),
        base(
            "quirk_postgres_booleans",
            CDC_PARQUET,
            parquet(
                &cdc()
                    .set("active", 1, Some("t"))
                    .set("active", 2, Some("f"))
                    .text("active"),
            ),
            "PostgreSQL booleans arrive as the strings t and f (and true/false)",
        ),
        base(
            "quirk_string_timestamps",
            CDC_PARQUET,
            parquet(
                &cdc()
                    .text("created_at")
                    .text("updated_ms")
                    .text("seen_s")
                    .text("born"),
            ),
            "timestamps arrive as yyyy-MM-dd HH:mm:ss.SSSSSS strings; a date as text in its datetime_format",
        ),
        base(
            "quirk_op_capitalised",
            CDC_PARQUET,
            parquet(&cdc().rename("op", "Op")),
            "the op column is called Op",
        ),
        base(
            "quirk_parquet_millisecond_timestamps",
            CDC_PARQUET,
            parquet(
                &cdc()
                    .typed("extraction_timestamp", MS)
                    .typed("created_at", MS)
                    .typed("seen_s", MS),
            ),
            "ParquetTimestampInMillisecond: every timestamp column, the DMS one included, in milliseconds",
        ),
        base(
            "quirk_csv_rfc4180_quoting",
            CDC_CSV,
            csv(&cdc(), ""),
            "CSV with a header; a note holding a comma, doubled quotes and a newline; null as an empty field",
        ),
        base(
            "quirk_csv_gzip",
            CDC_GZ,
            gzip(&csv(&cdc(), "")),
            "the same CSV, gzip-compressed",
        ),
        Case {
            options: Options {
                csv_null_value: "NULL",
                ..Options::default()
            },
            ..base(
                "quirk_csv_null_value",
                CDC_CSV,
                csv(&cdc(), "NULL"),
                "CsvNullValue=NULL: null is written NULL",
            )
        },
        Case {
            options: Options {
                allow_unexpected: true,
                ..Options::default()
            },
            ..base(
                "good_unexpected_allowed",
                CDC_PARQUET,
                parquet(&cdc().with("colour", &[Some("red"), None, None, Some("blue")])),
                "allow_unexpected: a column the metadata does not know is ignored",
            )
        },
        case(
            "quirk_full_load_without_op",
            LOAD,
            parquet(&full_load()),
            &[],
            "a full load has no op column: every row is a load (L)",
        ),
        // One rule each.
        case(
            "bad_readable_not_parquet",
            CDC_PARQUET,
            b"PAR1 but this is not a Parquet file\n".to_vec(),
            &[Rule::Readable],
            "a file named .parquet that is something else",
        ),
        case(
            "bad_readable_truncated",
            CDC_PARQUET,
            truncated,
            &[Rule::Readable],
            "a Parquet file cut in half (an interrupted copy)",
        ),
        case(
            "bad_readable_ragged_csv",
            CDC_CSV,
            ragged,
            &[Rule::Readable],
            "a CSV row with a field missing",
        ),
        case(
            "bad_file_name",
            "accounts.parquet",
            parquet(&cdc()),
            &[Rule::FileName],
            "a good file under a name DMS does not write",
        ),
        case(
            "bad_empty_file",
            CDC_PARQUET,
            Vec::new(),
            &[Rule::EmptyFile],
            "zero bytes",
        ),
        case(
            "bad_empty_no_rows",
            CDC_PARQUET,
            parquet(&cdc().rows(0)),
            &[Rule::EmptyFile],
            "columns but no rows",
        ),
        case(
            "bad_missing_column",
            CDC_PARQUET,
            parquet(&cdc().without("qty")),
            &[Rule::MissingColumn],
            "a metadata column is not in the file",
        ),
        case(
            "bad_unexpected_column",
            CDC_PARQUET,
            parquet(&cdc().with("colour", &[Some("red"), None, None, Some("blue")])),
            &[Rule::UnexpectedColumn],
            "a column the metadata does not know (allow_unexpected is off)",
        ),
        case(
            "bad_type",
            CDC_PARQUET,
            parquet(
                &cdc()
                    .set_text("qty", 2, Some("12x"))
                    .set_text("price", 3, Some("0.005"))
                    .set_text("tiny_u", 1, Some("65536")),
            ),
            &[Rule::Type],
            "text that is not an int32; a price with a third decimal (it would be rounded); a uint16 overflow",
        ),
        case(
            "bad_datetime_format",
            CDC_CSV,
            csv(&cdc().set("born", 1, Some("1990-01-05")), ""),
            &[Rule::Type],
            "a date not written in the column's datetime_format %d/%m/%Y",
        ),
        case(
            "bad_not_null",
            CDC_PARQUET,
            parquet(&cdc().set("code", 3, None).set("created_at", 4, None)),
            &[Rule::NotNull],
            "nulls in two columns that are not nullable",
        ),
        case(
            "bad_primary_key_null",
            CDC_PARQUET,
            parquet(&cdc().set("id", 3, None)),
            &[Rule::PrimaryKeyNull],
            "a null primary key",
        ),
        case(
            "bad_duplicate_primary_key",
            LOAD,
            parquet(&full_load().set("id", 3, Some("1")).set("id", 4, Some("3"))),
            &[Rule::DuplicatePrimaryKey],
            "a full load holding keys 1 and 3 twice",
        ),
        case(
            "bad_op",
            CDC_PARQUET,
            parquet(&cdc().set("op", 2, Some("X")).set("op", 4, None)),
            &[Rule::Op],
            "an op that is not I, U or D, and a null op",
        ),
        case(
            "bad_op_missing",
            CDC_PARQUET,
            parquet(&cdc().without("op")),
            &[Rule::Op],
            "a CDC file without its op column",
        ),
        case(
            "bad_timestamp",
            CDC_PARQUET,
            parquet(
                &cdc().set("extraction_timestamp", 1, Some("yesterday")).set(
                    "extraction_timestamp",
                    3,
                    None,
                ),
            ),
            &[Rule::Timestamp],
            "a change time that is not a timestamp, and a missing one",
        ),
        case(
            "bad_timestamp_missing",
            CDC_PARQUET,
            parquet(&cdc().without("extraction_timestamp")),
            &[Rule::Timestamp],
            "no timestamp column (TimestampColumnName not set on the endpoint)",
        ),
        case(
            "bad_enum",
            CDC_PARQUET,
            parquet(&cdc().set("code", 2, Some("Z"))),
            &[Rule::Enum],
            "a code outside its enum",
        ),
        case(
            "bad_pattern",
            CDC_PARQUET,
            parquet(&cdc().set("email", 1, Some("ana at example.com"))),
            &[Rule::Pattern],
            "an email that does not match the pattern",
        ),
        case(
            "bad_minimum",
            CDC_PARQUET,
            parquet(
                &cdc()
                    .set("qty", 3, Some("-1"))
                    .set("price", 4, Some("-0.01")),
            ),
            &[Rule::Minimum],
            "an int and a decimal below their minimum",
        ),
        case(
            "bad_maximum",
            CDC_PARQUET,
            parquet(
                &cdc()
                    .set("qty", 1, Some("1001"))
                    .set("ratio", 2, Some("1.5")),
            ),
            &[Rule::Maximum],
            "an int and a float above their maximum",
        ),
        case(
            "bad_min_length",
            CDC_PARQUET,
            parquet(&cdc().set("name", 1, Some("J"))),
            &[Rule::MinLength],
            "a name shorter than minLength",
        ),
        case(
            "bad_max_length",
            CDC_PARQUET,
            parquet(
                &cdc()
                    .set("name", 2, Some("Ana-Maria Ølsen"))
                    .set("blob", 4, Some("abcde")),
            ),
            &[Rule::MaxLength],
            "a name longer than maxLength (in characters), a blob longer than maxLength (in bytes)",
        ),
        Case {
            options: Options {
                change_seq_kind: ChangeSeqKind::Lsn,
                ..Options::default()
            },
            ..case(
                "bad_change_seq",
                CDC_PARQUET,
                parquet(
                    &cdc()
                        .set("scn", 1, Some("0/16B3748"))
                        .set("scn", 2, Some("0/16B3749"))
                        .set("scn", 3, Some("16B374A"))
                        .set("scn", 4, Some("0/16B374B")),
                ),
                &[Rule::ChangeSeq],
                "change_seq_kind = lsn: a change-seq that is not an LSN X/Y",
            )
        },
        Case {
            options: Options {
                lob_max_bytes: Some(1024),
                ..Options::default()
            },
            ..case(
                "bad_truncated",
                CDC_PARQUET,
                parquet(&cdc().set("note", 2, Some(&"x".repeat(1024)))),
                &[Rule::Truncated],
                "lob_max_kb = 1: a text value exactly DMS's LobMaxSize long was likely cut by DMS",
            )
        },
        Case {
            options: Options {
                change_seq_kind: ChangeSeqKind::Integer,
                ..Options::default()
            },
            ..case(
                "good_change_seq_integer",
                CDC_PARQUET,
                parquet(
                    &cdc()
                        .set("scn", 1, Some("9"))
                        .set("scn", 2, Some("10"))
                        .set("scn", 3, Some("11"))
                        .set("scn", 4, Some("99")),
                ),
                &[],
                "change_seq_kind = integer: change-seqs of varying width are written zero-padded, so text order is number order",
            )
        },
    ]
}

/// The cells as typed arrays of the columns' Parquet types.
fn arrays(spec: &Spec) -> (Arc<Schema>, Vec<ArrayRef>) {
    let strict = CastOptions {
        safe: false,
        ..Default::default()
    };
    let mut fields = Vec::new();
    let mut arrays = Vec::new();
    for c in &spec.0 {
        let text: ArrayRef = Arc::new(StringArray::from(c.cells.clone()));
        let array: ArrayRef = match &c.parquet {
            DataType::Utf8 => text,
            DataType::Date32 => Arc::new(
                c.cells
                    .iter()
                    .map(|s| s.as_deref().map(day_month_year))
                    .collect::<Date32Array>(),
            ),
            t => cast_with_options(&text, t, &strict)
                .unwrap_or_else(|e| panic!("column {}: {e}", c.name)),
        };
        fields.push(Field::new(c.name, c.parquet.clone(), true));
        arrays.push(array);
    }
    (Arc::new(Schema::new(fields)), arrays)
}

/// Days since 1970-01-01 of a `dd/mm/yyyy` date.
fn day_month_year(s: &str) -> i32 {
    let parts: Vec<i64> = s.split('/').map(|p| p.parse().expect("a number")).collect();
    let (d, m, y) = (parts[0], parts[1], parts[2]);
    // Days from civil (proleptic Gregorian).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe - 719_468) as i32
}

/// A DMS-like Parquet file (snappy, one row group).
pub fn parquet(spec: &Spec) -> Vec<u8> {
    let (schema, arrays) = arrays(spec);
    let batch = RecordBatch::try_new(schema.clone(), arrays).expect("a consistent batch");
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    let mut writer = ArrowWriter::try_new(Vec::new(), schema, Some(props)).expect("a writer");
    writer.write(&batch).expect("write");
    writer.into_inner().expect("close")
}

/// A DMS CSV file: a header row, RFC 4180 quoting where needed, `null` for nulls.
pub fn csv(spec: &Spec, null: &str) -> Vec<u8> {
    let mut w = csv::WriterBuilder::new()
        .quote_style(csv::QuoteStyle::Necessary)
        .from_writer(Vec::new());
    w.write_record(spec.0.iter().map(|c| c.name))
        .expect("header");
    let rows = spec.0.first().map_or(0, |c| c.cells.len());
    for r in 0..rows {
        w.write_record(spec.0.iter().map(|c| c.cells[r].as_deref().unwrap_or(null)))
            .expect("row");
    }
    w.into_inner().expect("flush")
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut gz = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::default());
    gz.write_all(bytes).expect("gzip");
    gz.finish().expect("gzip")
}
