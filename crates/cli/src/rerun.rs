//! `tidemark rerun` and `tidemark runs`: manual executions of the deployed
//! state machine, and the recent ones.

use anyhow::{Context, bail};
use chrono::{NaiveDate, Utc};
use std::process::ExitCode;
use tidemark_aws::sfn::{Reruns, execution_name};
use tidemark_core::events::{RunMode, RunRequest};

#[derive(clap::Args)]
pub struct StateMachineArgs {
    /// The pipeline's state machine (Terraform output `state_machine_arn`).
    #[arg(long, env = "TIDEMARK_STATE_MACHINE_ARN")]
    pub state_machine: String,
}

#[derive(clap::Args)]
pub struct RerunArgs {
    #[command(flatten)]
    target: StateMachineArgs,
    /// Tables to run, comma-separated (default: every configured table).
    #[arg(long, value_delimiter = ',')]
    tables: Option<Vec<String>>,
    /// incremental (what landed since the last run), reprocess (merge again the
    /// changes of --from..--to) or rebuild (recompute history from every landed file).
    #[arg(long, default_value = "incremental", value_parser = parse_mode)]
    mode: RunMode,
    /// First day of the changes to reprocess (YYYY-MM-DD).
    #[arg(long)]
    from: Option<NaiveDate>,
    /// Last day of the changes to reprocess (YYYY-MM-DD).
    #[arg(long)]
    to: Option<NaiveDate>,
    /// The same rerun a second time on one day: raise the attempt (a repeated
    /// submit with the same attempt starts nothing and names the first).
    #[arg(long, default_value_t = 1)]
    attempt: u32,
}

#[derive(clap::Args)]
pub struct RunsArgs {
    #[command(flatten)]
    target: StateMachineArgs,
    /// How many executions to list.
    #[arg(long, default_value_t = 20)]
    limit: i32,
}

fn parse_mode(s: &str) -> Result<RunMode, String> {
    serde_json::from_value(serde_json::Value::String(s.to_string()))
        .map_err(|_| format!("{s:?} is not a mode: incremental, reprocess or rebuild"))
}

async fn reruns(args: &StateMachineArgs) -> anyhow::Result<Reruns> {
    if !args.state_machine.contains(":stateMachine:") {
        bail!(
            "--state-machine {:?} is not a state machine ARN (arn:aws:states:<region>:<account>:stateMachine:<name>)",
            args.state_machine
        );
    }
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    Ok(Reruns::new(
        aws_sdk_sfn::Client::new(&sdk),
        args.state_machine.clone(),
    ))
}

pub async fn rerun(args: RerunArgs) -> anyhow::Result<ExitCode> {
    let request = RunRequest {
        tables: args.tables,
        mode: args.mode,
        from: args.from,
        to: args.to,
    };
    if let Err(e) = request.check() {
        bail!("{e}");
    }
    let name = execution_name(&request, Utc::now().date_naive(), args.attempt);
    let submitted = reruns(&args.target)
        .await?
        .submit(&request, &name)
        .await
        .map_err(anyhow::Error::msg)
        .context("the rerun was not started")?;
    if submitted.started {
        println!("started {name}");
    } else {
        println!(
            "{name} was submitted already: nothing new started (pass --attempt {} to run it again)",
            args.attempt + 1
        );
    }
    println!("  {}", submitted.execution_arn);
    println!("  {}", submitted.console_url);
    Ok(ExitCode::SUCCESS)
}

pub async fn runs(args: RunsArgs) -> anyhow::Result<ExitCode> {
    let runs = reruns(&args.target)
        .await?
        .recent(args.limit)
        .await
        .map_err(anyhow::Error::msg)?;
    if runs.is_empty() {
        println!("no executions of {}", args.target.state_machine);
    }
    for r in runs {
        println!(
            "{:<10} {}  {:<48} {}",
            r.status,
            r.started,
            r.name,
            r.stopped
                .map(|s| format!("stopped {s}"))
                .unwrap_or_default()
        );
    }
    Ok(ExitCode::SUCCESS)
}
