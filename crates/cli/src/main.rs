//! `tidemark`: run the pipeline locally, validate files, print SQL, show
//! history; start and list executions of the deployed pipeline.

mod control;
mod deployed;
mod follow;
mod forget;
mod history;
mod rerun;
mod run;
mod sql;
mod validate;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "tidemark",
    version,
    about = "Replicate databases into a data lake with full history (SCD2)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Options shared by the commands that read a pipeline's configuration.
#[derive(clap::Args, Clone)]
pub struct ConfigArgs {
    /// The pipeline configuration.
    #[arg(long, default_value = "tidemark.toml", env = "TIDEMARK_CONFIG")]
    pub config: PathBuf,
    /// The lake folder (default: the config's local.lake, `.tidemark`).
    #[arg(long, env = "TIDEMARK_LAKE")]
    pub lake: Option<PathBuf>,
}

/// Where a local pipeline's changes come from, when not the replay source.
#[derive(clap::Args, Clone, Default)]
pub struct SourceArgs {
    /// Read landed files from this folder (DMS S3 layout) instead of the replay source.
    #[arg(long)]
    pub landing: Option<PathBuf>,
    /// Replicate this PostgreSQL database (`postgres://user@host:port/db`) with
    /// logical decoding, and read its metadata from its catalog, instead of the
    /// replay source. Needs wal_level=logical and wal2json; `make pg` starts one.
    #[arg(long, env = "TIDEMARK_SOURCE", conflicts_with = "landing")]
    pub source: Option<String>,
}

impl SourceArgs {
    pub fn options(&self, config: &ConfigArgs) -> tidemark_local::LocalOptions {
        tidemark_local::LocalOptions {
            config_path: config.config.clone(),
            lake: config.lake.clone(),
            landing: self.landing.clone(),
            replay_through: None,
            source: self.source.clone(),
        }
    }
}

/// What an execution does: the same options for `run` and `rerun`, sent as
/// the execution input whose rules the first step applies (docs/reruns.md).
#[derive(clap::Args, Clone)]
pub struct PlanArgs {
    /// Tables to run, comma-separated, or `*` for every table (default: every
    /// table; rebuild and reload need them named).
    #[arg(long, value_delimiter = ',')]
    pub tables: Option<Vec<String>>,
    /// incremental (what landed since the last run), reprocess (validate again
    /// what was quarantined on --from..--to, and merge it), rebuild (recompute
    /// history from every landed file) or reload (a fresh full load, then rebuild).
    #[arg(long, value_parser = parse_mode)]
    pub mode: Option<tidemark_core::events::RunMode>,
    /// First landing date for `reprocess` (YYYY-MM-DD).
    #[arg(long)]
    pub from: Option<chrono::NaiveDate>,
    /// Last landing date for `reprocess` (YYYY-MM-DD).
    #[arg(long)]
    pub to: Option<chrono::NaiveDate>,
}

impl PlanArgs {
    pub fn request(&self, attempt: Option<u32>) -> tidemark_core::events::RunRequest {
        use tidemark_core::events::TableSelection;
        tidemark_core::events::RunRequest {
            tables: self.tables.clone().map(|t| {
                if t == ["*"] {
                    TableSelection::all()
                } else {
                    TableSelection::Named(t)
                }
            }),
            mode: self.mode,
            from: self.from,
            to: self.to,
            attempt,
            keys: None,
            requested_by: None,
        }
    }
}

fn parse_mode(s: &str) -> Result<tidemark_core::events::RunMode, tidemark_core::error::Invalid> {
    use tidemark_core::events::RunMode;
    RunMode::parse(s).ok_or_else(|| {
        tidemark_core::error::Invalid(format!(
            "{s:?} is not a mode: {}",
            RunMode::ALL.map(RunMode::as_str).join(", ")
        ))
    })
}

#[derive(Subcommand)]
enum Command {
    /// Run the daily pipeline locally (the state machine, in-process).
    Run(run::RunArgs),
    /// Check landed files against a table's metadata, like a linter (exit 1 on findings).
    Validate(validate::ValidateArgs),
    /// Print the SQL a run executes for a table.
    Sql(sql::SqlArgs),
    /// Show the history of one key.
    History(history::HistoryArgs),
    /// Forget a data subject: remove a table's keys from its history and the
    /// lake's files, and record it in the erasure log (UK GDPR erasure).
    Forget(forget::ForgetArgs),
    /// How each table and the replication stand: freshness, last merge,
    /// waiting and quarantined files, lease (exit 1 when a table is stale).
    Status(control::StatusArgs),
    /// Pause the schedule (and with --replication the replication) without
    /// interrupting a run.
    Pause(control::PauseArgs),
    /// Undo `pause`, and say what the next run will catch up.
    Resume(control::ResumeArgs),
    /// Start a manual execution of the deployed pipeline (AWS Step Functions).
    Rerun(rerun::RerunArgs),
    /// List the deployed pipeline's recent executions.
    Runs(rerun::RunsArgs),
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TIDEMARK_LOG").unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("warn,tidemark_core=info,tidemark_asl=error")
            }),
        )
        .with_target(false)
        .without_time()
        .with_writer(std::io::stderr)
        .compact()
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Run(args) => run::run(args).await,
            Command::Validate(args) => validate::validate(args),
            Command::Sql(args) => sql::sql(args),
            Command::History(args) => history::history(args).await,
            Command::Forget(args) => forget::forget(args).await,
            Command::Status(args) => control::status(args).await,
            Command::Pause(args) => control::pause(args).await,
            Command::Resume(args) => control::resume(args).await,
            Command::Rerun(args) => rerun::rerun(args).await,
            Command::Runs(args) => rerun::runs(args).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
