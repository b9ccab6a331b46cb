//! `tidemark validate FILE... --metadata M`: the pipeline's checks on local
//! files, like a linter. Exit 0 when every file passes, 1 when one has a
//! finding, 2 when the command itself cannot run.

use anyhow::Context;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tidemark_core::batch_id::BatchId;
use tidemark_core::dms::{ChangeSeqKind, ControlColumns, FileSource};
use tidemark_core::metadata::TableMetadata;
use tidemark_core::validate::{CheckOptions, FileCheck, FileOutcome};

#[derive(clap::Args)]
pub struct ValidateArgs {
    /// Landed files (DMS names: LOAD00000001.parquet, 20261121-104501123.csv, ...).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// The table's metadata (mojap-metadata JSON).
    #[arg(long)]
    metadata: PathBuf,
    /// Name of the op column.
    #[arg(long, default_value = "op")]
    op_column: String,
    /// Name of the timestamp column.
    #[arg(long, default_value = "extraction_timestamp")]
    timestamp_column: String,
    /// Name of the change-sequence column ("" for none).
    #[arg(long, default_value = "scn")]
    change_seq_column: String,
    /// What the change-sequence values must be: integer, lsn or text (auto: not checked).
    #[arg(long, default_value = "auto", value_parser = parse_kind)]
    change_seq_kind: ChangeSeqKind,
    /// DMS's LobMaxSize in KB: a text or binary value exactly this long is reported as likely cut (0: not checked).
    #[arg(long, default_value_t = 64)]
    lob_max_kb: u32,
    /// Ignore columns the metadata does not know instead of reporting them.
    #[arg(long)]
    allow_unexpected: bool,
    /// The text that stands for null in CSV files (DMS CsvNullValue); default: an empty field.
    #[arg(long, default_value = "")]
    csv_null_value: String,
    /// Print one JSON object per file (file, accepted, rows, ops, findings) instead of text.
    #[arg(long)]
    json: bool,
}

fn parse_kind(s: &str) -> Result<ChangeSeqKind, String> {
    serde_json::from_value(serde_json::Value::String(s.to_string()))
        .map_err(|_| format!("{s:?} is not a kind: auto, integer, lsn, text"))
}

pub fn validate(args: ValidateArgs) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(&args.metadata)
        .with_context(|| format!("cannot read {}", args.metadata.display()))?;
    let meta = TableMetadata::from_json(&args.metadata.display().to_string(), &text)?;
    let control = ControlColumns {
        op: args.op_column.clone(),
        timestamp: args.timestamp_column.clone(),
        change_seq: Some(args.change_seq_column.clone()).filter(|c| !c.is_empty()),
        change_seq_kind: args.change_seq_kind,
    };
    let options = CheckOptions {
        allow_unexpected: args.allow_unexpected,
        csv_null_value: args.csv_null_value.clone(),
        change_seq_kind: args.change_seq_kind,
        lob_max_bytes: (args.lob_max_kb > 0).then_some(args.lob_max_kb as usize * 1024),
        ..Default::default()
    };
    // Every file is opened first, so a typo stops the command before any check.
    let sources = args
        .files
        .iter()
        .map(|path| {
            FileSource::open(path)
                .map(Arc::new)
                .with_context(|| format!("cannot read {}", path.display()))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;

    // A few files at once; results print in the order given.
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(sources.len());
    let next = AtomicUsize::new(0);
    let mut results: Vec<Option<anyhow::Result<FileOutcome>>> =
        (0..sources.len()).map(|_| None).collect();
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(source) = sources.get(i) else {
                            return done;
                        };
                        let name = args.files[i]
                            .file_name()
                            .map(|n| n.to_string_lossy().to_string())
                            .unwrap_or_default();
                        let file = args.files[i].display().to_string();
                        let outcome = FileCheck {
                            file: &file,
                            name: &name,
                            meta: &meta,
                            control: &control,
                            batch_id: BatchId::FIRST,
                        }
                        .check(&options, source.clone(), None)
                        .map_err(anyhow::Error::from);
                        done.push((i, outcome));
                    }
                })
            })
            .collect();
        for worker in workers {
            if let Ok(done) = worker.join() {
                for (i, outcome) in done {
                    results[i] = Some(outcome);
                }
            }
        }
    });

    let mut bad = 0;
    for (i, result) in results.into_iter().enumerate() {
        let outcome = result.unwrap_or_else(|| {
            Err(anyhow::anyhow!(
                "{}: the check stopped",
                args.files[i].display()
            ))
        })?;
        bad += usize::from(!outcome.accepted());
        if args.json {
            println!("{}", json(&outcome));
        } else {
            print_text(&outcome);
        }
    }
    Ok(if bad == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn json(o: &FileOutcome) -> serde_json::Value {
    serde_json::json!({
        "file": o.file,
        "accepted": o.accepted(),
        "rows": o.rows,
        "ops": o.ops,
        "ignored_columns": o.ignored_columns,
        "findings": o.findings,
    })
}

fn print_text(o: &FileOutcome) {
    if o.accepted() {
        let ignored = if o.ignored_columns.is_empty() {
            String::new()
        } else {
            format!("; ignored column(s) {}", o.ignored_columns.join(", "))
        };
        println!("ok    {} ({} rows{ignored})", o.file, o.rows);
        return;
    }
    println!("FAIL  {}: {} finding(s)", o.file, o.findings.total);
    for c in &o.findings.counts {
        println!(
            "      {:>6} × {}{}",
            c.count,
            c.rule.as_str(),
            c.column
                .as_deref()
                .map(|c| format!(" in {c}"))
                .unwrap_or_default()
        );
    }
    for f in &o.findings.sample {
        println!(
            "      {f}{}",
            f.value
                .as_deref()
                .map(|v| format!(" (value {v:?})"))
                .unwrap_or_default()
        );
    }
    if o.findings.sample.len() < o.findings.total as usize {
        println!(
            "      ... {} more (counts above are exact)",
            o.findings.total as usize - o.findings.sample.len()
        );
    }
}
