//! A wide table (20 business columns, most constraints) and its landed files
//! of any size, the same bytes on every run: Parquet as DMS writes it
//! (snappy, row groups of 10,000 rows, op/timestamp/scn as strings) and CSV
//! with a header row.

use anyhow::Context;
use arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Decimal128Array, Float64Array, Int16Array, Int32Array,
    Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;
use tidemark_core::metadata::TableMetadata;

/// The table's metadata: 20 columns.
pub const METADATA: &str = r#"{
  "name": "shipments",
  "description": "A wide table for benchmarks: 20 columns, most constraints.",
  "primary_key": ["id"],
  "columns": [
    {"name": "id", "type": "int64", "nullable": false},
    {"name": "account_id", "type": "int64", "nullable": false},
    {"name": "status", "type": "string", "nullable": false,
     "enum": ["new", "paid", "packed", "shipped", "delivered", "cancelled"]},
    {"name": "country", "type": "string", "enum": ["DE", "ES", "FR", "GB", "IE", "IT", "NL", "US"]},
    {"name": "email", "type": "string", "pattern": "^[^@ ]+@[^@ ]+$"},
    {"name": "name", "type": "string", "minLength": 1, "maxLength": 40},
    {"name": "quantity", "type": "int32", "minimum": 0, "maximum": 100000},
    {"name": "unit_price", "type": "decimal128(12,2)", "minimum": 0},
    {"name": "discount", "type": "float64", "minimum": 0, "maximum": 1},
    {"name": "total", "type": "decimal128(14,2)", "minimum": 0},
    {"name": "is_gift", "type": "bool"},
    {"name": "created_at", "type": "timestamp(us)", "nullable": false},
    {"name": "updated_at", "type": "timestamp(us)"},
    {"name": "shipped_on", "type": "date32"},
    {"name": "priority", "type": "int16", "minimum": 1, "maximum": 5},
    {"name": "warehouse_id", "type": "int32"},
    {"name": "notes", "type": "string", "maxLength": 200},
    {"name": "sku", "type": "string", "pattern": "^[A-Z]{3}-[0-9]{5}$"},
    {"name": "weight_kg", "type": "float64", "minimum": 0},
    {"name": "version", "type": "int64"}
  ]
}"#;

pub fn metadata() -> TableMetadata {
    TableMetadata::from_json("shipments.json", METADATA).expect("the bench metadata is valid")
}

/// A full load (`LOAD00000001`, no op column) or CDC changes (`I` and `U`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    FullLoad,
    Cdc,
}

impl Kind {
    /// The DMS file name for `extension` (`parquet`, `csv`).
    pub fn file_name(self, extension: &str) -> String {
        match self {
            Kind::FullLoad => format!("LOAD00000001.{extension}"),
            Kind::Cdc => format!("20261101-100000000.{extension}"),
        }
    }
}

/// Rows per Parquet row group: DMS's `RowGroupLength` default.
pub const ROW_GROUP_ROWS: usize = 10_000;

const STATUSES: [&str; 6] = ["new", "paid", "packed", "shipped", "delivered", "cancelled"];
const COUNTRIES: [&str; 8] = ["DE", "ES", "FR", "GB", "IE", "IT", "NL", "US"];
const NOTES: [&str; 4] = [
    "Leave at the door",
    "Ring twice, then wait",
    "Fragile: glass, handle with care",
    "Deliver to the back entrance, \"Unit 4\", after 6pm",
];
const PREFIXES: [&str; 5] = ["ABC", "KLM", "QRS", "XYZ", "DEF"];
/// 2026-01-01 00:00:00 in microseconds.
const EPOCH_2026: i64 = 1_767_225_600_000_000;

/// A well-mixed 64-bit value for (row, column).
fn mix(row: u64, column: u64) -> u64 {
    let mut z = row
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(column.wrapping_mul(0xD1B5_4A32_D192_ED03));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The landed file's schema: control columns, then the 20 business columns.
pub fn schema(kind: Kind) -> SchemaRef {
    let mut fields = Vec::new();
    if kind == Kind::Cdc {
        fields.push(Field::new("op", DataType::Utf8, true));
    }
    let us = DataType::Timestamp(TimeUnit::Microsecond, None);
    fields.extend([
        Field::new("extraction_timestamp", DataType::Utf8, true),
        Field::new("scn", DataType::Utf8, true),
        Field::new("id", DataType::Int64, false),
        Field::new("account_id", DataType::Int64, false),
        Field::new("status", DataType::Utf8, false),
        Field::new("country", DataType::Utf8, true),
        Field::new("email", DataType::Utf8, true),
        Field::new("name", DataType::Utf8, true),
        Field::new("quantity", DataType::Int32, true),
        Field::new("unit_price", DataType::Decimal128(12, 2), true),
        Field::new("discount", DataType::Float64, true),
        Field::new("total", DataType::Decimal128(14, 2), true),
        Field::new("is_gift", DataType::Boolean, true),
        Field::new("created_at", us.clone(), false),
        Field::new("updated_at", us, true),
        Field::new("shipped_on", DataType::Date32, true),
        Field::new("priority", DataType::Int16, true),
        Field::new("warehouse_id", DataType::Int32, true),
        Field::new("notes", DataType::Utf8, true),
        Field::new("sku", DataType::Utf8, true),
        Field::new("weight_kg", DataType::Float64, true),
        Field::new("version", DataType::Int64, true),
    ]);
    Arc::new(Schema::new(fields))
}

/// Rows `start..start + n` (0-based). Keys are unique in a full load; CDC
/// files update each key a few times.
pub fn batch(kind: Kind, start: u64, n: usize) -> RecordBatch {
    let rows: Vec<u64> = (start..start + n as u64).collect();
    let m = |c: u64| rows.iter().map(move |&r| mix(r, c));
    let id = |r: u64| match kind {
        Kind::FullLoad => r as i64 + 1,
        Kind::Cdc => (r / 3) as i64 + 1,
    };
    let quantity: Vec<i32> = m(6).map(|h| (h % 1000) as i32).collect();
    let price: Vec<i128> = m(7).map(|h| (h % 100_000) as i128).collect();
    let created: Vec<i64> = rows
        .iter()
        .map(|&r| EPOCH_2026 + (r as i64) * 1_000_003)
        .collect();
    let mut columns: Vec<ArrayRef> = Vec::new();
    if kind == Kind::Cdc {
        columns.push(Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| if r % 3 == 0 { "I" } else { "U" }),
        )));
    }
    let load_time = "2026-11-01 10:00:00.000000";
    columns.push(Arc::new(StringArray::from_iter_values(rows.iter().map(
        |&r| match kind {
            Kind::FullLoad => load_time.to_string(),
            Kind::Cdc => {
                let secs = r / 1000;
                format!(
                    "2026-11-01 {:02}:{:02}:{:02}.{:06}",
                    10 + secs / 3600 % 14,
                    secs / 60 % 60,
                    secs % 60,
                    (r % 1000) * 1000
                )
            }
        },
    ))));
    columns
        .push(Arc::new(StringArray::from_iter(rows.iter().map(|&r| {
            (kind == Kind::Cdc).then(|| format!("{:020}", r + 1))
        }))));
    columns.extend([
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|&r| id(r)))) as ArrayRef,
        Arc::new(Int64Array::from_iter_values(
            m(1).map(|h| (h % 1_000_000) as i64),
        )),
        Arc::new(StringArray::from_iter_values(
            m(2).map(|h| STATUSES[(h % 6) as usize]),
        )),
        Arc::new(StringArray::from_iter(
            m(3).map(|h| (h % 20 != 0).then_some(COUNTRIES[(h % 8) as usize])),
        )),
        Arc::new(StringArray::from_iter_values(
            m(4).map(|h| format!("user{}@example.com", h % 100_000)),
        )),
        Arc::new(StringArray::from_iter_values(
            m(5).map(|h| format!("Customer {}", h % 50_000)),
        )),
        Arc::new(Int32Array::from(quantity.clone())),
        Arc::new(
            Decimal128Array::from(price.clone())
                .with_precision_and_scale(12, 2)
                .expect("decimal(12,2)"),
        ),
        Arc::new(Float64Array::from_iter_values(
            m(8).map(|h| (h % 100) as f64 / 100.0),
        )),
        Arc::new(
            Decimal128Array::from_iter_values(
                quantity.iter().zip(&price).map(|(q, p)| *q as i128 * p),
            )
            .with_precision_and_scale(14, 2)
            .expect("decimal(14,2)"),
        ),
        Arc::new(BooleanArray::from_iter(m(9).map(|h| Some(h % 7 == 0)))),
        Arc::new(TimestampMicrosecondArray::from(created.clone())),
        Arc::new(TimestampMicrosecondArray::from_iter(
            created
                .iter()
                .zip(m(10))
                .map(|(c, h)| (h % 4 != 0).then_some(c + (h % 86_400_000_000) as i64)),
        )),
        Arc::new(Date32Array::from_iter(
            m(11).map(|h| (h % 3 != 0).then_some(20_454 + (h % 300) as i32)),
        )),
        Arc::new(Int16Array::from_iter_values(
            m(12).map(|h| 1 + (h % 5) as i16),
        )),
        Arc::new(Int32Array::from_iter_values(m(13).map(|h| (h % 50) as i32))),
        Arc::new(StringArray::from_iter(
            m(14).map(|h| (h % 5 == 0).then_some(NOTES[(h % 4) as usize])),
        )),
        Arc::new(StringArray::from_iter_values(m(15).map(|h| {
            format!("{}-{:05}", PREFIXES[(h % 5) as usize], h % 100_000)
        }))),
        Arc::new(Float64Array::from_iter(
            m(16).map(|h| (h % 10 != 0).then_some((h % 100_000) as f64 / 1000.0)),
        )),
        Arc::new(Int64Array::from_iter_values(m(17).map(|h| (h % 10) as i64))),
    ]);
    RecordBatch::try_new(schema(kind), columns).expect("the generated batch matches its schema")
}

/// What was written.
#[derive(Debug, Clone, Copy)]
pub struct Written {
    pub rows: u64,
    pub bytes: u64,
}

/// Writes a DMS-like Parquet file of at least `target_bytes`.
pub fn write_parquet(path: &Path, kind: Kind, target_bytes: u64) -> anyhow::Result<Written> {
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .build();
    let mut writer = ArrowWriter::try_new(BufWriter::new(file), schema(kind), Some(props))?;
    let mut rows = 0u64;
    loop {
        writer.write(&batch(kind, rows, ROW_GROUP_ROWS))?;
        rows += ROW_GROUP_ROWS as u64;
        if (writer.bytes_written() + writer.in_progress_size()) as u64 >= target_bytes {
            break;
        }
    }
    writer.close()?;
    Ok(Written {
        rows,
        bytes: std::fs::metadata(path)?.len(),
    })
}

/// Writes a DMS-like CSV file (header row, RFC 4180 quoting, timestamps as
/// `yyyy-MM-dd HH:mm:ss.SSSSSS`, null as an empty field) of at least `target_bytes`.
pub fn write_csv(path: &Path, kind: Kind, target_bytes: u64) -> anyhow::Result<Written> {
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut out = Counting {
        inner: BufWriter::with_capacity(1 << 20, file),
        count: 0,
    };
    let mut rows = 0u64;
    loop {
        let mut writer = arrow::csv::WriterBuilder::new()
            .with_header(rows == 0)
            .with_timestamp_format("%Y-%m-%d %H:%M:%S%.6f".to_string())
            .build(&mut out);
        writer.write(&batch(kind, rows, ROW_GROUP_ROWS))?;
        drop(writer);
        rows += ROW_GROUP_ROWS as u64;
        if out.count >= target_bytes {
            break;
        }
    }
    out.inner.flush()?;
    Ok(Written {
        rows,
        bytes: std::fs::metadata(path)?.len(),
    })
}

struct Counting<W> {
    inner: W,
    count: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use tidemark_core::dms::ControlColumns;
    use tidemark_core::validate::FileCheck;

    #[test]
    fn generated_files_pass_validation() {
        let meta = metadata();
        let dir = tempfile::tempdir().unwrap();
        for kind in [Kind::FullLoad, Kind::Cdc] {
            for (ext, write) in [
                (
                    "parquet",
                    write_parquet as fn(&Path, Kind, u64) -> anyhow::Result<Written>,
                ),
                ("csv", write_csv),
            ] {
                let name = kind.file_name(ext);
                let path = dir.path().join(&name);
                let written = write(&path, kind, 1).unwrap();
                assert_eq!(written.rows, ROW_GROUP_ROWS as u64);
                let outcome = FileCheck {
                    file: &name,
                    name: &name,
                    meta: &meta,
                    control: &ControlColumns::default(),
                    batch_id: tidemark_core::batch_id::BatchId::FIRST,
                }
                .run(Bytes::from(std::fs::read(&path).unwrap()));
                assert!(outcome.accepted(), "{name}: {:#?}", outcome.findings);
                assert_eq!(outcome.rows, written.rows);
            }
        }
    }
}
