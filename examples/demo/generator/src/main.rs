//! Writes the demo source's files in the layout and format of the AWS DMS S3
//! target (Parquet): `<OUT_DIR>/<YYYY-MM-DD>/public/<table>/<file>`.
//!
//! Usage: `demo-generator [OUT_DIR]` (default: `examples/demo/replay`).
//!
//! The output is deterministic: the same bytes on every run. The scenario it
//! encodes is described day by day in `examples/demo/README.md`.

mod scenario;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use arrow::array::{
    ArrayRef, BooleanArray, Decimal128Array, Int64Array, StringArray, TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use scenario::{Col, ColType, FileKind, LandedFile, Val};

fn main() -> Result<()> {
    let out = match std::env::args_os().nth(1) {
        Some(dir) => PathBuf::from(dir),
        // examples/demo/generator/.. is examples/demo.
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("the generator lives under examples/demo")
            .join("replay"),
    };
    let written = generate(&out)?;
    println!("wrote {} files under {}", written.len(), out.display());
    for (rel, size) in written {
        println!("{size:>6}  {rel}");
    }
    Ok(())
}

/// Wipes the day folders under `out` and writes every file of the scenario.
/// Returns each file's path relative to `out` with its size in bytes.
fn generate(out: &Path) -> Result<Vec<(String, u64)>> {
    wipe(out)?;
    let mut written = Vec::new();
    for file in scenario::files() {
        let rel = format!("{}/public/{}/{}", file.day, file.table, file.name);
        let path = out.join(&rel);
        let dir = path.parent().expect("file path has a parent");
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let bytes = to_parquet(&file).with_context(|| format!("encoding {rel}"))?;
        fs::write(&path, &bytes).with_context(|| format!("writing {}", path.display()))?;
        written.push((rel, bytes.len() as u64));
    }
    written.sort();
    Ok(written)
}

/// Removes the `YYYY-MM-DD` folders a previous run left in `out`, creating
/// `out` if needed. Refuses to touch a folder holding anything else, so a
/// mistyped OUT_DIR cannot wipe unrelated files.
fn wipe(out: &Path) -> Result<()> {
    if !out.exists() {
        return fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()));
    }
    let mut days = Vec::new();
    for entry in fs::read_dir(out).with_context(|| format!("listing {}", out.display()))? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !(entry.file_type()?.is_dir() && is_day(&name)) {
            bail!(
                "{} holds {name:?}, which is not a YYYY-MM-DD folder of a previous run; \
                 refusing to wipe it",
                out.display()
            );
        }
        days.push(entry.path());
    }
    for day in days {
        fs::remove_dir_all(&day).with_context(|| format!("removing {}", day.display()))?;
    }
    Ok(())
}

fn is_day(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() == 10
        && b.iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        })
}

fn arrow_type(ty: ColType) -> DataType {
    match ty {
        ColType::Int64 => DataType::Int64,
        ColType::Utf8 => DataType::Utf8,
        ColType::Decimal(p, s) => DataType::Decimal128(p, s),
        ColType::TimestampUs => DataType::Timestamp(TimeUnit::Microsecond, None),
        ColType::Bool => DataType::Boolean,
    }
}

/// The file's columns: DMS control columns, then the table's business columns.
fn columns(file: &LandedFile) -> Vec<Col> {
    let mut cols = Vec::new();
    if file.kind == FileKind::Cdc {
        cols.push(Col::new("op", ColType::Utf8, true));
    }
    cols.push(Col::new("extraction_timestamp", ColType::Utf8, true));
    cols.push(Col::new("scn", ColType::Utf8, true));
    for col in scenario::business_columns(file.table) {
        let nullable = col.nullable || file.nullable_override.contains(&col.name);
        cols.push(Col::new(col.name, col.ty, nullable));
    }
    cols
}

fn to_batch(file: &LandedFile) -> Result<RecordBatch> {
    let cols = columns(file);
    let schema = Arc::new(Schema::new(
        cols.iter()
            .map(|c| Field::new(c.name, arrow_type(c.ty), c.nullable))
            .collect::<Vec<_>>(),
    ));
    // Each row as the values of `cols`, in order.
    let rows: Vec<Vec<Val>> = file
        .rows
        .iter()
        .map(|r| {
            let mut v = Vec::with_capacity(cols.len());
            if file.kind == FileKind::Cdc {
                v.push(Val::Str(r.op.to_string()));
            }
            v.push(Val::Str(r.ts.to_string()));
            v.push(match r.scn {
                Some(scn) => Val::Str(format!("{scn:035}")),
                None => Val::Null,
            });
            v.extend(r.values.iter().cloned());
            v
        })
        .collect();
    for (i, r) in rows.iter().enumerate() {
        if r.len() != cols.len() {
            bail!("row {i} has {} values for {} columns", r.len(), cols.len());
        }
    }
    let arrays = cols
        .iter()
        .enumerate()
        .map(|(i, c)| column_array(c, rows.iter().map(|r| &r[i])))
        .collect::<Result<Vec<_>>>()?;
    Ok(RecordBatch::try_new(schema, arrays)?)
}

fn column_array<'a>(col: &Col, vals: impl Iterator<Item = &'a Val>) -> Result<ArrayRef> {
    let vals: Vec<&Val> = vals.collect();
    let mismatch = |v: &Val| anyhow::anyhow!("column {}: {v:?} is not a {:?}", col.name, col.ty);
    macro_rules! collect {
        ($pat:pat => $out:expr) => {
            vals.iter()
                .map(|v| match v {
                    Val::Null => Ok(None),
                    $pat => Ok(Some($out)),
                    other => Err(mismatch(other)),
                })
                .collect::<Result<Vec<_>>>()?
        };
    }
    Ok(match col.ty {
        ColType::Int64 => Arc::new(Int64Array::from(collect!(Val::Int(x) => *x))),
        ColType::Utf8 => Arc::new(StringArray::from(collect!(Val::Str(s) => s.as_str()))),
        ColType::Decimal(p, s) => Arc::new(
            Decimal128Array::from(collect!(Val::Dec(x) => *x)).with_precision_and_scale(p, s)?,
        ),
        ColType::TimestampUs => {
            Arc::new(TimestampMicrosecondArray::from(collect!(Val::Ts(x) => *x)))
        }
        ColType::Bool => Arc::new(BooleanArray::from(collect!(Val::Bool(b) => *b))),
    })
}

fn to_parquet(file: &LandedFile) -> Result<Vec<u8>> {
    let batch = to_batch(file)?;
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    let mut buf = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut buf, batch.schema(), Some(props))?;
    writer.write(&batch)?;
    writer.close()?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    fn read(bytes: Vec<u8>) -> (RecordBatch, usize) {
        let mut file = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut file, &bytes).unwrap();
        let builder = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
        let groups = builder.metadata().num_row_groups();
        let batches: Vec<_> = builder.build().unwrap().map(|b| b.unwrap()).collect();
        assert_eq!(batches.len(), 1);
        (batches.into_iter().next().unwrap(), groups)
    }

    fn find<'a>(files: &'a [LandedFile], day: &str, table: &str, name: &str) -> &'a LandedFile {
        files
            .iter()
            .find(|f| f.day == day && f.table == table && f.name == name)
            .unwrap()
    }

    #[test]
    fn cdc_file_has_control_columns_then_business_columns() {
        let files = scenario::files();
        let f = find(&files, "2026-11-01", "orders", "20261101-101500000.parquet");
        let (batch, groups) = read(to_parquet(f).unwrap());
        assert_eq!(groups, 1);
        let names: Vec<_> = batch
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        assert_eq!(
            names,
            [
                "op",
                "extraction_timestamp",
                "scn",
                "order_id",
                "customer_id",
                "status",
                "amount",
                "ordered_at",
                "note"
            ]
        );
        let op = batch.column(0).as_string::<i32>();
        assert_eq!(op.value(0), "I");
        assert_eq!(op.value(2), "U");
        let scn = batch.column(2).as_string::<i32>();
        assert_eq!(scn.value(1), "00000000000000000000000000000000101");
        let ts = batch.column(1).as_string::<i32>();
        assert_eq!(ts.value(2), "2026-11-01 10:15:00.250000");
        assert_eq!(
            batch.schema().field(6).data_type(),
            &DataType::Decimal128(12, 2)
        );
        assert!(!batch.schema().field(3).is_nullable());
        assert!(batch.schema().field(8).is_nullable());
    }

    #[test]
    fn full_load_has_no_op_and_null_scn() {
        let files = scenario::files();
        let f = find(&files, "2026-11-03", "products", "LOAD00000001.parquet");
        let (batch, _) = read(to_parquet(f).unwrap());
        assert!(batch.schema().field_with_name("op").is_err());
        assert_eq!(batch.schema().field(1).name(), "scn");
        assert_eq!(batch.column(1).null_count(), batch.num_rows());
        assert_eq!(batch.num_rows(), 3);
    }

    #[test]
    fn malformed_file_has_a_null_status() {
        let files = scenario::files();
        let f = find(&files, "2026-11-04", "orders", "20261104-110000000.parquet");
        let (batch, _) = read(to_parquet(f).unwrap());
        let status = batch.schema().index_of("status").unwrap();
        assert!(batch.schema().field(status).is_nullable());
        assert!(batch.column(status).is_null(1));
    }

    #[test]
    fn timestamps_are_micros_since_epoch() {
        assert_eq!(scenario::ts("1970-01-01 00:00:00"), 0);
        assert_eq!(scenario::ts("2000-03-01 00:00:01"), 951_868_801_000_000);
        assert_eq!(scenario::ts("2026-11-01 10:14:00"), 1_793_528_040_000_000);
    }

    #[test]
    fn wipe_refuses_foreign_content() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("notes.txt"), "x").unwrap();
        assert!(generate(dir.path()).is_err());
        assert!(dir.path().join("notes.txt").exists());
    }
}
