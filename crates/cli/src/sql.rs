use crate::ConfigArgs;
use anyhow::Context;
use std::path::Path;
use std::process::ExitCode;
use tidemark_core::batch_id::BatchId;
use tidemark_core::config::{PipelineConfig, TableMode};
use tidemark_core::metadata::TableMetadata;
use tidemark_core::scd2::{
    Athena, Dialect, DuckDb, MergePlan, MergeStatements, Since, SnapshotParams,
};

#[derive(clap::Args)]
pub struct SqlArgs {
    #[command(flatten)]
    config: ConfigArgs,
    #[arg(long)]
    table: String,
    #[arg(long, value_enum, default_value = "duckdb")]
    engine: Engine,
    /// The batch id to render (a run uses the ledger's next one).
    #[arg(long, default_value = "b000001")]
    batch: BatchId,
    /// Athena: the lake's S3 location.
    #[arg(long, default_value = "s3://tidemark-lake")]
    lake_uri: String,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Engine {
    Duckdb,
    Athena,
}

pub fn sql(args: SqlArgs) -> anyhow::Result<ExitCode> {
    let path = &args.config.config;
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let config = PipelineConfig::from_toml(&path.display().to_string(), &text)?;
    let table = config
        .table(&args.table)
        .with_context(|| format!("table {} is not in {}", args.table, path.display()))?;
    let meta_path = path
        .parent()
        .unwrap_or(Path::new("."))
        .join(&config.local.metadata_dir)
        .join(format!("{}.json", args.table));
    let meta_text = std::fs::read_to_string(&meta_path)
        .with_context(|| format!("cannot read {}", meta_path.display()))?;
    let meta = TableMetadata::from_json(&meta_path.display().to_string(), &meta_text)?;
    let lake = args
        .config
        .lake
        .clone()
        .unwrap_or_else(|| config.local.lake.clone().into());
    let dialect: Box<dyn Dialect> = match args.engine {
        Engine::Duckdb => Box::new(DuckDb {
            lake_root: std::path::absolute(&lake)
                .unwrap_or(lake)
                .display()
                .to_string(),
        }),
        Engine::Athena => Box::new(Athena {
            lake_uri: args.lake_uri.clone(),
            maintenance: config.maintenance.clone(),
        }),
    };
    let snapshot = (table.mode == TableMode::Snapshot).then_some(SnapshotParams {
        extract_time: 0,
        max_delete_fraction: table.max_delete_fraction,
        // The general form: an extract in several files may repeat a key.
        distinct_keys: false,
        diff: false,
    });
    // The times a batch gives (its extract time, its earliest change) show
    // as the epoch.
    let plan = MergePlan {
        retained_from: None,
        since: Some(Since {
            at: 0,
            batches: vec![args.batch],
        }),
        target: Default::default(),
        database: &config.source.database,
        meta: &meta,
        batch_id: args.batch,
        snapshot,
        // A new table's.
        row_hash: Default::default(),
    };
    println!(
        "-- {} statements of a run that merges batch {} into {}.{}, on its first run\n-- (later runs create nothing, and add new nullable columns when the metadata has them).\n",
        dialect.name(),
        args.batch,
        config.source.database,
        args.table
    );
    for s in plan.first_run_statements(dialect.as_ref()) {
        println!("{};\n", s.sql);
    }
    let merge = plan.merge(dialect.as_ref());
    println!(
        "-- A first run inserts its batch into the empty history; every later batch is merged{}:\n",
        match merge {
            MergeStatements::Merge(_) => "",
            _ => ", in one transaction",
        }
    );
    for s in merge.all() {
        println!("{s};\n");
    }
    Ok(ExitCode::SUCCESS)
}
