//! `make bench-validate`: rows per second and peak memory validating a large
//! Parquet file and a large CSV file against a 20-column metadata, beside
//! the raw decode rate of the same files (the `parquet` crate, `arrow-csv`).
//!
//! Usage: `bench-validate [--data DIR] [--mb SIZE] [--kind full-load|cdc]
//! [--rounds N] [--out FILE]`
//!
//! The files are generated under DIR once (about SIZE MB each, default
//! 1024) and reused. Each measurement runs in a child process of its own so
//! its peak resident set (`VmHWM`) is its own. The measurements take turns,
//! N rounds (default 3); the table shows each one's median, and FILE (JSON)
//! gets every round.

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
    let mut rounds: usize = 3;
    let mut out = None;
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
            "--rounds" => rounds = it.next().context("--rounds N")?.parse()?,
            "--out" => out = Some(PathBuf::from(it.next().context("--out FILE")?)),
            other => bail!("unknown argument {other:?} (see the usage in the source)"),
        }
    }
    if rounds == 0 {
        bail!("--rounds must be at least 1");
    }
    std::fs::create_dir_all(&data_dir)?;
    let parquet = ensure(&data_dir, kind, "parquet", mb)?;
    let csv = ensure(&data_dir, kind, "csv", mb)?;

    let measurements = [
        ("decode Parquet (parquet crate)", "decode-parquet", &parquet),
        ("validate Parquet (tidemark)", "validate", &parquet),
        ("validate Parquet, no output", "check", &parquet),
        ("parse CSV as text (arrow-csv)", "decode-csv", &csv),
        ("validate CSV (tidemark)", "validate", &csv),
    ];
    // Rounds, not repeats of one measurement: a machine that slows down for a
    // while then slows every measurement of a round, not only one of them.
    let mut runs: Vec<Vec<Measured>> = measurements.iter().map(|_| Vec::new()).collect();
    for round in 1..=rounds {
        eprintln!("round {round} of {rounds}");
        for ((_, mode, file), runs) in measurements.iter().zip(&mut runs) {
            runs.push(measure(mode, file, &data_dir)?);
        }
    }

    println!(
        "\n| measurement | file MB | rows | seconds | CPU s | rows/s | MB/s | peak RSS MB |\n|---|---:|---:|---:|---:|---:|---:|---:|"
    );
    let medians: Vec<f64> = runs
        .iter()
        .map(|runs| median(runs.iter().map(|m| m.seconds)))
        .collect();
    let mut figures = Vec::new();
    for (((label, mode, file), runs), &seconds) in measurements.iter().zip(&runs).zip(&medians) {
        let size = std::fs::metadata(file)?.len() as f64 / 1e6;
        let rows = runs[0].rows;
        let cpu_seconds = median(runs.iter().map(|m| m.cpu_seconds));
        let peak_mib = runs.iter().map(|m| m.peak_kib).max().unwrap_or(0) as f64 / 1024.0;
        println!(
            "| {label} | {size:.0} | {rows} | {seconds:.2} | {cpu_seconds:.2} | {:.0} | {:.1} | {peak_mib:.1} |",
            rows as f64 / seconds,
            size / seconds,
        );
        figures.push(serde_json::json!({
            "measurement": label,
            "mode": mode,
            "file": file.file_name().map(|n| n.to_string_lossy().to_string()),
            "file_mb": size,
            "rows": rows,
            "seconds": runs.iter().map(|m| m.seconds).collect::<Vec<_>>(),
            "cpu_seconds": runs.iter().map(|m| m.cpu_seconds).collect::<Vec<_>>(),
            "median_seconds": seconds,
            "median_cpu_seconds": cpu_seconds,
            "peak_rss_mib": peak_mib,
        }));
    }
    // A ratio of medians, and the ratios of the rounds (each round's two
    // measurements ran minutes apart at most).
    let ratio = |slow: (&str, &PathBuf), base: (&str, &PathBuf)| {
        let at = |(mode, file): (&str, &PathBuf)| {
            measurements
                .iter()
                .position(|(_, m, f)| *m == mode && *f == file)
                .expect("a ratio names one of the measurements")
        };
        let (slow, base) = (at(slow), at(base));
        let per_round: Vec<f64> = runs[slow]
            .iter()
            .zip(&runs[base])
            .map(|(s, b)| s.seconds / b.seconds)
            .collect();
        (medians[slow] / medians[base], per_round)
    };
    let spread = |rounds: &[f64]| {
        let min = rounds.iter().copied().fold(f64::INFINITY, f64::min);
        let max = rounds.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        format!("{min:.2}x to {max:.2}x")
    };
    let (check, check_rounds) = ratio(("check", &parquet), ("decode-parquet", &parquet));
    let (validate, validate_rounds) = ratio(("validate", &parquet), ("decode-parquet", &parquet));
    let (csv_ratio, csv_rounds) = ratio(("validate", &csv), ("decode-csv", &csv));
    println!(
        "\nagainst decoding with the parquet crate (target: within 3x), checking the Parquet file takes {check:.2}x \
         the time (rounds: {}), and checking it while writing its normalised copy {validate:.2}x (rounds: {})",
        spread(&check_rounds),
        spread(&validate_rounds)
    );
    println!(
        "validating CSV takes {csv_ratio:.2}x the time of parsing it as text with arrow-csv (rounds: {})",
        spread(&csv_rounds)
    );
    println!(
        "(medians of the rounds; rows/s over wall time, one file at a time, each in a child process; CPU s is its user + system time, \
         which other load on the machine disturbs less; peak RSS is its VmHWM. Validating completes the rows and \
         encodes the normalised Parquet file on two more threads, and writes it on a third, as the pipeline \
         uploads it; \"no output\" is what `tidemark validate` does.)"
    );
    if let Some(out) = out {
        let json = serde_json::json!({
            "rounds": rounds,
            "measurements": figures,
            "ratios": {
                "check_parquet_vs_decode": {"of_medians": check, "rounds": check_rounds},
                "validate_parquet_vs_decode": {"of_medians": validate, "rounds": validate_rounds},
                "validate_csv_vs_parse": {"of_medians": csv_ratio, "rounds": csv_rounds},
            },
        });
        tidemark_bench::write_figures(&out, &json)?;
        println!("figures: {}", out.display());
    }
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

fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut values: Vec<f64> = values.collect();
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
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
