use crate::{ConfigArgs, PlanArgs, SourceArgs};
use chrono::NaiveDate;
use std::process::ExitCode;
use tidemark_asl::ExecutionStatus;
use tidemark_core::cost::RunCost;
use tidemark_core::events::{ExecutionInput, TableStatus};
use tidemark_core::layout::LakeLayout;
use tidemark_core::run_record::RunRecord;
use tidemark_core::steps::load_run_records;
use tidemark_local::LocalOptions;
use tidemark_local::pipeline::run_catching_up;

#[derive(clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    config: ConfigArgs,
    #[command(flatten)]
    source: SourceArgs,
    #[command(flatten)]
    plan: PlanArgs,
    /// Replay source: deliver the days up to and including this one (default: all).
    #[arg(long)]
    through: Option<NaiveDate>,
    /// Multiplies every Wait and Retry interval of the state machine (0 = no waiting).
    #[arg(long, default_value_t = 1.0)]
    time_scale: f64,
    /// The execution's name (default: run-<UTC timestamp>).
    #[arg(long, conflicts_with = "follow")]
    name: Option<String>,
    /// Keep running, as the schedule would: a run every --every, one line
    /// each, until Ctrl-C (which lets the running cycle finish). Pause it
    /// with `tidemark pause`.
    #[arg(long, conflicts_with = "through")]
    follow: bool,
    /// Run as that schedule would: `frequent` takes the tables whose
    /// cadence is frequent (the cdc ones by default) and reads their
    /// metadata at most every [pipeline] metadata_every_minutes; `daily`
    /// takes every table (docs/freshness.md).
    #[arg(long, value_parser = ["frequent", "daily"], conflicts_with_all = ["tables", "mode", "from", "to"])]
    cadence: Option<String>,
    /// How often --follow runs: 30s, 1m, 15m, 1h.
    #[arg(long, default_value = "1m", value_parser = crate::follow::parse_every, requires = "follow")]
    every: std::time::Duration,
}

pub async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let options = LocalOptions {
        replay_through: args.through,
        ..args.source.options(&args.config)
    };
    let input = match &args.cadence {
        Some(cadence) => ExecutionInput(serde_json::json!({ "cadence": cadence })),
        None => args.plan.request(None).to_input(),
    };
    if args.follow {
        return crate::follow::follow(&options, &input, args.every, args.time_scale).await;
    }
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| format!("run-{}", chrono::Utc::now().format("%Y%m%dT%H%M%S")));
    let (backend, executions) = run_catching_up(&options, &name, &input, args.time_scale).await?;
    let config = &backend.ports.config;
    let layout = LakeLayout {
        database: &config.source.database,
    };
    let mut failed = false;
    for execution in &executions {
        println!("\n{}", execution.name);
        for r in load_run_records(
            backend.ports.lake.as_ref(),
            &config.source.database,
            &execution.name,
        )
        .await?
        {
            print_record(&r);
        }
        let cost_key = layout.run_cost_key(&execution.name);
        if let Ok((bytes, _)) = backend.ports.lake.get(&cost_key).await
            && let Ok(cost) = serde_json::from_slice::<RunCost>(&bytes)
        {
            println!("{:<16} {}", "", cost.line());
        }
        if let ExecutionStatus::Failed { error, cause } = &execution.status {
            failed = true;
            let cause = tidemark_core::alert::cause_message(cause);
            println!(
                "  failed: {error}: {}",
                cause.lines().next().unwrap_or_default()
            );
        }
    }
    let db = &config.source.database;
    let first = config
        .tables
        .first()
        .map(|t| t.name.as_str())
        .unwrap_or("orders");
    println!("\nLake: {}", backend.lake.display());
    println!(
        "Try:  duckdb {} \"select * from {db}.{first}_current\"",
        backend.engine.path().display()
    );
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn print_record(r: &RunRecord) {
    if r.idle {
        println!("{:<16} {:<10} nothing landed, no query", r.table, "idle");
        return;
    }
    let status = match r.status {
        Some(TableStatus::Succeeded) => "ok",
        Some(TableStatus::Failed) => "FAILED",
        Some(TableStatus::Skipped) => "skipped",
        None => "unfinished",
    };
    println!(
        "{:<16} {:<10} files {} landed / {} accepted / {} quarantined   rows I {} U {} D {} L {}   versions +{} ~{} -{}{}",
        r.table,
        status,
        r.files_landed,
        r.files_accepted,
        r.files_quarantined,
        r.ops.inserts,
        r.ops.updates,
        r.ops.deletes,
        r.ops.loads,
        r.versions_inserted,
        r.versions_updated,
        r.versions_removed,
        r.rows_after
            .map(|n| format!("   history rows {n}"))
            .unwrap_or_default(),
    );
    if let Some(error) = &r.error {
        let message = r.message.as_deref().unwrap_or_default();
        println!(
            "{:<16} {error}: {}",
            "",
            message.lines().next().unwrap_or_default()
        );
    }
    if let (Some(report), true) = (&r.report, r.files_quarantined > 0) {
        println!("{:<16} report: {report}", "");
    }
}
