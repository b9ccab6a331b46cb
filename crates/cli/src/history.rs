use crate::ConfigArgs;
use std::process::ExitCode;
use tidemark_core::ports::{QueryEngine, SqlValue};
use tidemark_core::scd2::{quote_ident, string_literal};
use tidemark_local::{LocalBackend, LocalOptions};

#[derive(clap::Args)]
pub struct HistoryArgs {
    #[command(flatten)]
    config: ConfigArgs,
    table: String,
    /// The key, as column=value (repeat, or separate with commas, for composite keys).
    #[arg(long, value_delimiter = ',', required = true)]
    key: Vec<String>,
}

pub async fn history(args: HistoryArgs) -> anyhow::Result<ExitCode> {
    let backend = LocalBackend::open(&LocalOptions {
        config_path: args.config.config.clone(),
        lake: args.config.lake.clone(),
        ..Default::default()
    })?;
    let db = &backend.ports.config.source.database;
    let mut conditions = Vec::new();
    for pair in &args.key {
        let (column, value) = pair
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("--key takes column=value, not {pair:?}"))?;
        tidemark_core::metadata::check_identifier(column)
            .map_err(|e| anyhow::anyhow!("--key: {e}"))?;
        conditions.push(format!(
            "CAST({} AS VARCHAR) = {}",
            quote_ident(column),
            string_literal(value)
        ));
    }
    let sql = format!(
        "SELECT * EXCLUDE (row_hash) FROM {}.{} WHERE {} ORDER BY valid_from, change_seq",
        quote_ident(db),
        quote_ident(&args.table),
        conditions.join(" AND ")
    );
    let result = backend.engine.execute(&sql).await?;
    if result.rows.is_empty() {
        println!(
            "no history for {} where {}",
            args.table,
            args.key.join(", ")
        );
        return Ok(ExitCode::FAILURE);
    }
    let cell = |v: &SqlValue| match v {
        SqlValue::Null => "NULL".to_string(),
        SqlValue::Bool(b) => b.to_string(),
        SqlValue::Int(i) => i.to_string(),
        SqlValue::Float(f) => f.to_string(),
        SqlValue::Text(t) => t.clone(),
    };
    let rows: Vec<Vec<String>> = result
        .rows
        .iter()
        .map(|r| r.iter().map(cell).collect())
        .collect();
    let widths: Vec<usize> = (0..result.columns.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([result.columns[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &[String]| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
    };
    println!("{}", line(&result.columns));
    for r in &rows {
        println!("{}", line(r));
    }
    Ok(ExitCode::SUCCESS)
}
