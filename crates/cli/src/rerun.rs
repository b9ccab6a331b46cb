//! `tidemark rerun` and `tidemark runs`: manual executions of the deployed
//! state machine, and the recent ones.

use crate::PlanArgs;
use anyhow::{Context, bail};
use chrono::Utc;
use std::process::ExitCode;
use tidemark_aws::sfn::{Reruns, execution_name};
use tidemark_core::events::{RunPlan, RunRequest};

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
    #[command(flatten)]
    plan: PlanArgs,
    /// The same rerun a second time on one day: raise the attempt (a repeated
    /// submit with the same attempt starts nothing and names the first).
    #[arg(long, default_value_t = 1)]
    attempt: u32,
    /// Print the execution's name and input, and start nothing.
    #[arg(long)]
    dry_run: bool,
}

#[derive(clap::Args)]
pub struct RunsArgs {
    #[command(flatten)]
    target: StateMachineArgs,
    /// How many executions to list.
    #[arg(long, default_value_t = 20)]
    limit: i32,
}

/// Refuses what is not a state machine's ARN before any call.
pub fn check_arn(arn: &str) -> anyhow::Result<()> {
    if !arn.contains(":stateMachine:") {
        bail!(
            "--state-machine {arn:?} is not a state machine ARN (arn:aws:states:<region>:<account>:stateMachine:<name>)"
        );
    }
    Ok(())
}

async fn reruns(args: &StateMachineArgs) -> anyhow::Result<Reruns> {
    check_arn(&args.state_machine)?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    Ok(Reruns::new(
        aws_sdk_sfn::Client::new(&sdk),
        args.state_machine.clone(),
    ))
}

pub async fn rerun(args: RerunArgs) -> anyhow::Result<ExitCode> {
    let request = args
        .plan
        .request((args.attempt > 1).then_some(args.attempt));
    start(&args.target, &request, args.attempt, args.dry_run).await
}

/// Starts `request` as an execution of the deployed state machine, once:
/// the name is derived from the request, so a repeated submit starts nothing.
pub async fn start(
    target: &StateMachineArgs,
    request: &RunRequest,
    attempt: u32,
    dry_run: bool,
) -> anyhow::Result<ExitCode> {
    let today = Utc::now().date_naive();
    if let Err(e) = RunPlan::build(&request.to_input(), None, today) {
        bail!("{e}");
    }
    let name = execution_name(request, today, attempt);
    if dry_run {
        println!("{name}");
        println!("  input: {}", request.to_input().to_json());
        println!("  (dry run: nothing was started)");
        return Ok(ExitCode::SUCCESS);
    }
    let submitted = reruns(target)
        .await?
        .submit(request, &name)
        .await
        .map_err(anyhow::Error::msg)
        .context("the execution was not started")?;
    if submitted.started {
        println!("started {name}");
    } else {
        println!(
            "{name} was submitted already: nothing new started (pass --attempt {} to run it again)",
            attempt + 1
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
