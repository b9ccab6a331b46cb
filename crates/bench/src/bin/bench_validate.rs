//! `make bench-validate`: rows per second and peak memory validating a large
//! Parquet file and a large CSV file against a 20-column metadata, beside
//! the raw decode rate of the same files (the `parquet` crate, `arrow-csv`).
//!
//! Usage: `bench-validate [--data DIR] [--mb SIZE] [--kind full-load|cdc]`
//!
//! The files are generated under DIR once (about SIZE MB each, default
//! 1024) and reused. Each measurement runs in a child process of its own so
//! its peak resident set (`VmHWM`) is its own.

use anyhow::{Context, bail};
use arrow::datatypes::{DataType, Field, Schema};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;
use tidemark_bench::data::{self, Kind};
use tidemark_bench::files::{FileSink, FileSource};
use tidemark_bench::{cpu_seconds, peak_rss_kib};
use tidemark_core::dms::{BATCH_ROWS, ControlColumns};
use tidemark_core::validate::{ByteSink, CheckOptions, FileCheck};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child") {
        return child(&args[1..]);
    }
    let mut data_dir = PathBuf::from("target/bench-data");
    let mut mb: u64 = 1024;
    let mut kind = Kind::FullLoad;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--data" => data_dir = PathBuf::from(it.next().context("--data DIR")?),
            "--mb" => mb = it.next().context("--mb SIZE")?.parse()?,
            "--kind" => {
                kind = match it.next().map(String::as_str) {
                    Some("full-load") => Kind::FullLoad,
                    Some("cdc") => Kind::Cdc,
                    _ => bail!("--kind full-load|cdc"),
                }
            }
            other => bail!("unknown argument {other:?} (see the usage in the source)"),
        }
    }
    std::fs::create_dir_all(&data_dir)?;
    let parquet = ensure(&data_dir, kind, "parquet", mb)?;
    let csv = ensure(&data_dir, kind, "csv", mb)?;

    println!(
        "\n| measurement | file MB | rows | seconds | CPU s | rows/s | MB/s | peak RSS MB |\n|---|---:|---:|---:|---:|---:|---:|---:|"
    );
    let mut rates = Vec::new();
    for (label, mode, file) in [
        ("decode Parquet (parquet crate)", "decode-parquet", &parquet),
        ("validate Parquet (tidemark)", "validate", &parquet),
        ("validate Parquet, no output", "check", &parquet),
        ("parse CSV as text (arrow-csv)", "decode-csv", &csv),
        ("validate CSV (tidemark)", "validate", &csv),
    ] {
        let m = measure(mode, file, &data_dir)?;
        let size = std::fs::metadata(file)?.len() as f64 / 1e6;
        println!(
            "| {label} | {size:.0} | {} | {:.2} | {:.2} | {:.0} | {:.1} | {:.1} |",
            m.rows,
            m.seconds,
            m.cpu_seconds,
            m.rows as f64 / m.seconds,
            size / m.seconds,
            m.peak_kib as f64 / 1024.0
        );
        rates.push((mode, file.clone(), m.rows as f64 / m.seconds));
    }
    let rate = |mode: &str, file: &Path| {
        rates
            .iter()
            .find(|(m, f, _)| *m == mode && f == file)
            .map_or(f64::NAN, |r| r.2)
    };
    let decode = rate("decode-parquet", &parquet);
    println!(
        "\nagainst decoding with the parquet crate (target: within 3x), checking the Parquet file takes {:.2}x \
         the time, and checking it while writing its normalised copy {:.2}x",
        decode / rate("check", &parquet),
        decode / rate("validate", &parquet)
    );
    println!(
        "validating CSV takes {:.2}x the time of parsing it as text with arrow-csv",
        rate("decode-csv", &csv) / rate("validate", &csv)
    );
    println!(
        "(rows/s over wall time, one file at a time, each in a child process; CPU s is its user + system time, \
         which other load on the machine disturbs less; peak RSS is its VmHWM. Validating completes the rows and \
         encodes the normalised Parquet file on two more threads, and writes it on a third, as the pipeline \
         uploads it; \"no output\" is what `tidemark validate` does.)"
    );
    Ok(())
}

/// The file, generated if missing (a `.done` marker records its size).
fn ensure(dir: &Path, kind: Kind, ext: &str, mb: u64) -> anyhow::Result<PathBuf> {
    let name = kind.file_name(ext);
    let path = dir.join(format!("{ext}-{mb}mb")).join(&name);
    let marker = path.with_extension(format!("{ext}.done"));
    if marker.exists() && path.exists() {
        return Ok(path);
    }
    std::fs::create_dir_all(path.parent().expect("a folder"))?;
    eprintln!("generating {} (about {mb} MB) ...", path.display());
    let started = Instant::now();
    let target = mb * 1_000_000;
    let written = match ext {
        "parquet" => data::write_parquet(&path, kind, target)?,
        _ => data::write_csv(&path, kind, target)?,
    };
    eprintln!(
        "  {} rows, {:.0} MB in {:.0} s",
        written.rows,
        written.bytes as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    std::fs::write(&marker, format!("{} {}\n", written.rows, written.bytes))?;
    Ok(path)
}

struct Measured {
    rows: u64,
    seconds: f64,
    cpu_seconds: f64,
    peak_kib: u64,
}

fn measure(mode: &str, file: &Path, data_dir: &Path) -> anyhow::Result<Measured> {
    // Every measurement starts with the file in the page cache: otherwise
    // the first one also times the disk (a cold decode took 4.7 s, a warm
    // one 2.6 s, and the ratios against it were off by half).
    std::io::copy(&mut std::fs::File::open(file)?, &mut std::io::sink())?;
    let output = data_dir.join("normalised.parquet");
    if mode == "validate" {
        prepare_output(&output, std::fs::metadata(file)?.len())?;
    }
    let out = Command::new(std::env::current_exe()?)
        .args(["--child", mode])
        .arg(file)
        .arg(&output)
        .output()?;
    if !out.status.success() {
        bail!(
            "{mode} {} failed: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    Ok(Measured {
        rows: v["rows"].as_u64().unwrap_or(0),
        seconds: v["seconds"].as_f64().unwrap_or(f64::NAN),
        cpu_seconds: v["cpu_seconds"].as_f64().unwrap_or(f64::NAN),
        peak_kib: v["peak_kib"].as_u64().unwrap_or(0),
    })
}

/// Writes the output file as long as the input, before the clock starts, so
/// that the measured run writes over pages the page cache already holds.
/// On the machine these figures come from (a Firecracker VM), writing a new
/// file costs many times the system time of writing over a cached one:
/// 755 MB of zeros with `dd` took 4.8 to 8.9 s into a new file and 0.2 s
/// over the same file again, and validating the Parquet file spent 29% of
/// its CPU time there. That is the machine's cost, which the decode it is
/// compared with does not pay, not validation's.
fn prepare_output(path: &Path, len: u64) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)?;
    let zeros = vec![0u8; 8 << 20];
    let mut left = len;
    while left > 0 {
        let n = left.min(zeros.len() as u64) as usize;
        out.write_all(&zeros[..n])?;
        left -= n as u64;
    }
    // Written back now, not while the next run is measured.
    out.sync_all()?;
    Ok(())
}

/// One measurement, in its own process: prints `{rows, seconds, peak_kib}`.
fn child(args: &[String]) -> anyhow::Result<()> {
    let [mode, file, out] = args else {
        bail!("--child MODE FILE OUT");
    };
    let file = Path::new(file);
    let started = Instant::now();
    let rows = match mode.as_str() {
        "decode-parquet" => {
            let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(file)?)?
                .with_batch_size(BATCH_ROWS)
                .build()?;
            let mut rows = 0;
            for batch in reader {
                rows += batch?.num_rows() as u64;
            }
            rows
        }
        "decode-csv" => {
            let mut reader = std::io::BufReader::new(std::fs::File::open(file)?);
            let mut header = String::new();
            std::io::BufRead::read_line(&mut reader, &mut header)?;
            let fields: Vec<Field> = header
                .trim_end()
                .split(',')
                .map(|n| Field::new(n, DataType::Utf8, true))
                .collect();
            let csv = arrow::csv::ReaderBuilder::new(Arc::new(Schema::new(fields)))
                .with_batch_size(BATCH_ROWS)
                .build(reader)?;
            let mut rows = 0;
            for batch in csv {
                rows += batch?.num_rows() as u64;
            }
            rows
        }
        "validate" | "check" => {
            let meta = data::metadata();
            let name = file
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            let source = Arc::new(FileSource::open(file)?);
            let mut sink = FileSink::create(Path::new(out))?;
            let check = FileCheck {
                file: &name,
                name: &name,
                meta: &meta,
                control: &ControlColumns::default(),
                batch_id: tidemark_core::batch_id::BatchId::FIRST,
            };
            let output = (mode == "validate").then_some(&mut sink as &mut dyn ByteSink);
            let outcome = check.check(&CheckOptions::default(), source, output)?;
            // The clock stops when the file is written.
            sink.close()?;
            if !outcome.accepted() {
                bail!("the generated file has findings: {:#?}", outcome.findings);
            }
            outcome.rows
        }
        other => bail!("unknown mode {other}"),
    };
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({
            "rows": rows,
            "seconds": seconds,
            "cpu_seconds": cpu_seconds().unwrap_or(f64::NAN),
            "peak_kib": peak_rss_kib().unwrap_or(0),
        })
    );
    Ok(())
}
