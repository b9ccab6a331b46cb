//! `tidemark status`, `pause` and `resume`: how the pipeline stands, and
//! stopping and starting its schedule (and, asked, its replication) without
//! interrupting a run. Locally the schedule is `tidemark run --follow`; with
//! `--state-machine`, the deployed pipeline's EventBridge Scheduler schedule.

use crate::deployed::Deployed;
use crate::{ConfigArgs, SourceArgs};
use std::process::ExitCode;
use tidemark_core::config::PipelineConfig;
use tidemark_core::freshness::human_bytes;
use tidemark_core::layout::LakeLayout;
use tidemark_core::pause::Pause;
use tidemark_core::ports::{ObjectStore, Replication};
use tidemark_core::status::StatusReport;
use tidemark_local::pipeline::LocalLake;

/// Which pipeline: a local one (the config, the lake, the source) or, with
/// `--state-machine`, a deployed one.
#[derive(clap::Args)]
pub struct TargetArgs {
    #[command(flatten)]
    config: ConfigArgs,
    #[command(flatten)]
    source: SourceArgs,
    /// A deployed pipeline's state machine (Terraform output
    /// `state_machine_arn`); the local options are then not read.
    #[arg(long)]
    state_machine: Option<String>,
}

#[derive(clap::Args)]
pub struct StatusArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// Print the report as JSON, for scripts.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct PauseArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// Why, for whoever reads `tidemark status`.
    #[arg(long)]
    reason: Option<String>,
    /// Stop the replication too, after the batch it is landing; the source
    /// keeps its changes (a PostgreSQL slot grows) until `resume`.
    #[arg(long)]
    replication: bool,
    /// Who pauses it (default: on AWS the caller's identity, else $USER).
    #[arg(long, env = "USER", default_value = "unknown")]
    by: String,
}

#[derive(clap::Args)]
pub struct ResumeArgs {
    #[command(flatten)]
    target: TargetArgs,
}

enum Target {
    Local(Box<LocalLake>),
    Deployed(Box<Deployed>),
}

impl Target {
    async fn open(args: &TargetArgs) -> anyhow::Result<Target> {
        Ok(match &args.state_machine {
            Some(machine) => Target::Deployed(Box::new(Deployed::discover(machine).await?)),
            None => Target::Local(Box::new(LocalLake::open(
                &args.source.options(&args.config),
            )?)),
        })
    }

    fn config(&self) -> &PipelineConfig {
        match self {
            Target::Local(l) => &l.config,
            Target::Deployed(d) => &d.ports.config,
        }
    }

    fn lake(&self) -> &dyn ObjectStore {
        match self {
            Target::Local(l) => l.lake.as_ref(),
            Target::Deployed(d) => d.ports.lake.as_ref(),
        }
    }

    fn replication(&self) -> &dyn Replication {
        match self {
            Target::Local(l) => l.replication.as_ref(),
            Target::Deployed(d) => d.ports.replication.as_ref(),
        }
    }

    fn pause_key(&self) -> String {
        LakeLayout {
            database: &self.config().source.database,
        }
        .pause_key()
    }

    async fn report(&self) -> anyhow::Result<StatusReport> {
        let landing = match self {
            Target::Local(l) => l.landing.as_ref(),
            Target::Deployed(d) => d.ports.landing.as_ref(),
        };
        let mut report =
            tidemark_core::status::status(self.config(), self.lake(), landing, self.replication())
                .await?;
        if let Target::Deployed(d) = self {
            report.schedules = d.schedules().await?;
        }
        Ok(report)
    }

    /// Turns the schedule, and the freshness alarms that watch it, on or
    /// off; whether that changed the schedule (locally there is none:
    /// `--follow` reads the pause record).
    async fn set_schedule(&self, enabled: bool) -> anyhow::Result<bool> {
        match self {
            Target::Local(_) => Ok(false),
            Target::Deployed(d) => {
                let changed = d.set_schedule(enabled).await?;
                let alarms = d.set_freshness_alarms(enabled).await?;
                if alarms > 0 {
                    let now = if enabled {
                        "on again"
                    } else {
                        "off while paused"
                    };
                    println!("freshness alarms: {alarms}, their actions {now}");
                }
                Ok(changed)
            }
        }
    }
}

/// Exit 1 when a table is past its freshness target, for a health check.
pub async fn status(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let report = Target::open(&args.target).await?.report().await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.to_text());
    }
    Ok(if report.any_stale() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Records the pause, turns the schedule off and, asked, stops the
/// replication: all of it or, on a failure, none of it.
pub async fn pause(args: PauseArgs) -> anyhow::Result<ExitCode> {
    let target = Target::open(&args.target).await?;
    let key = target.pause_key();
    if let Some(p) = Pause::load(target.lake(), &key).await? {
        anyhow::bail!("the pipeline is paused already: {}", p.describe());
    }
    let pause = Pause {
        by: match &target {
            Target::Deployed(d) => d.caller(&args.by).await,
            Target::Local(_) => args.by.clone(),
        },
        since: chrono::Utc::now(),
        reason: args.reason.clone(),
        replication: args.replication,
    };
    let disabled = target.set_schedule(false).await?;
    let undo = || async {
        if disabled {
            target.set_schedule(true).await?;
        }
        anyhow::Ok(())
    };
    if args.replication {
        match target.replication().stop().await {
            Ok(said) => println!("replication: {said}"),
            Err(e) => {
                undo().await?;
                anyhow::bail!("the replication could not be stopped, so nothing was paused: {e}");
            }
        }
    }
    if let Err(e) = pause.save(target.lake(), &key).await {
        undo().await?;
        return Err(e.into());
    }
    let schedule = match &target {
        Target::Deployed(_) => "its schedules are disabled",
        Target::Local(_) => "`tidemark run --follow` merges nothing",
    };
    println!(
        "{} paused {}. A run that is going finishes; {schedule} until `tidemark resume`.",
        target.config().source.database,
        pause.describe()
    );
    Ok(ExitCode::SUCCESS)
}

/// Undoes `pause`, and says what the next run will catch up.
pub async fn resume(args: ResumeArgs) -> anyhow::Result<ExitCode> {
    let target = Target::open(&args.target).await?;
    let database = &target.config().source.database;
    let pause = Pause::load(target.lake(), &target.pause_key()).await?;
    if let Some(p) = &pause
        && p.replication
    {
        println!("replication: {}", target.replication().resume().await?);
    }
    let enabled = target.set_schedule(true).await?;
    Pause::clear(target.lake(), &target.pause_key()).await?;
    match (&pause, enabled) {
        (Some(p), _) => println!("{database} resumed (it was paused {}).", p.describe()),
        (None, true) => println!("{database}: a schedule was disabled; it is enabled again."),
        (None, false) => {
            println!("{database} is not paused; nothing to resume.");
            return Ok(ExitCode::SUCCESS);
        }
    }
    let report = target.report().await?;
    let waiting: usize = report.tables.iter().map(|t| t.waiting_files).sum();
    let tables = report.tables.iter().filter(|t| t.waiting_files > 0).count();
    print!("The next run merges {waiting} landed file(s) of {tables} table(s)");
    match report.replication.and_then(|r| r.lag_bytes) {
        Some(lag) => println!(
            ", and lands the {} the source kept meanwhile.",
            human_bytes(lag)
        ),
        None => println!(", and what the replication lands meanwhile."),
    }
    Ok(ExitCode::SUCCESS)
}
