use anyhow::Context;
use std::path::PathBuf;
use std::process::ExitCode;
use tidemark_core::dms::ControlColumns;
use tidemark_core::metadata::TableMetadata;
use tidemark_core::validate::FileCheck;

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
}

pub fn validate(args: ValidateArgs) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(&args.metadata)
        .with_context(|| format!("cannot read {}", args.metadata.display()))?;
    let meta = TableMetadata::from_json(&args.metadata.display().to_string(), &text)?;
    let control = ControlColumns {
        op: args.op_column,
        timestamp: args.timestamp_column,
        change_seq: Some(args.change_seq_column).filter(|c| !c.is_empty()),
    };
    let mut bad = 0;
    for path in &args.files {
        let file = path.display().to_string();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let bytes = std::fs::read(path).with_context(|| format!("cannot read {file}"))?;
        let outcome = FileCheck {
            file: &file,
            name: &name,
            meta: &meta,
            control: &control,
            batch_id: "validate",
        }
        .run(bytes.into());
        if outcome.accepted() {
            println!("ok    {file} ({} rows)", outcome.rows);
            continue;
        }
        bad += 1;
        println!("FAIL  {file}: {} finding(s)", outcome.findings.total);
        for c in &outcome.findings.counts {
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
        for f in &outcome.findings.sample {
            println!(
                "      {f}{}",
                f.value
                    .as_deref()
                    .map(|v| format!(" (value {v:?})"))
                    .unwrap_or_default()
            );
        }
    }
    Ok(if bad == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
