//! `tidemark forget`: a data subject's erasure, as a `forget` execution of
//! the pipeline — locally, or on the deployed state machine (docs/erasure.md).

use crate::ConfigArgs;
use crate::rerun::StateMachineArgs;
use serde_json::Value;
use std::process::ExitCode;
use tidemark_asl::ExecutionStatus;
use tidemark_core::events::{ExecutionInput, RunMode, RunRequest, TableSelection};
use tidemark_core::layout::LakeLayout;
use tidemark_core::steps::load_run_record;
use tidemark_local::{LocalBackend, LocalOptions};

#[derive(clap::Args)]
pub struct ForgetArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// The table whose keys to forget.
    #[arg(long)]
    table: String,
    /// A primary-key value to forget (repeat for more). A key of several
    /// columns is a JSON object: --key '{"id": 42, "region": "eu"}'.
    #[arg(long = "key", required = true)]
    keys: Vec<String>,
    /// Who asked (a person or a ticket): recorded in the erasure log.
    #[arg(long)]
    requested_by: String,
    /// Start the erasure on the deployed pipeline (this state machine's ARN)
    /// instead of the local lake.
    #[arg(long)]
    state_machine: Option<String>,
    /// With --state-machine: print the execution's name and input, start nothing.
    #[arg(long, requires = "state_machine")]
    dry_run: bool,
}

/// A `--key`: a JSON object for a key of several columns, else the value as text.
fn key(text: &str) -> anyhow::Result<Value> {
    if text.trim_start().starts_with('{') {
        return serde_json::from_str(text)
            .map_err(|e| anyhow::anyhow!("--key {text}: not a JSON object of key columns: {e}"));
    }
    Ok(Value::String(text.to_string()))
}

pub async fn forget(args: ForgetArgs) -> anyhow::Result<ExitCode> {
    let request = RunRequest {
        tables: Some(TableSelection::Named(vec![args.table.clone()])),
        mode: Some(RunMode::Forget),
        keys: Some(args.keys.iter().map(|k| key(k)).collect::<Result<_, _>>()?),
        requested_by: Some(args.requested_by.clone()),
        ..RunRequest::default()
    };
    if let Some(state_machine) = args.state_machine {
        let target = StateMachineArgs { state_machine };
        return crate::rerun::start(&target, &request, 1, args.dry_run).await;
    }
    let options = LocalOptions {
        config_path: args.config.config.clone(),
        lake: args.config.lake.clone(),
        ..Default::default()
    };
    let backend = LocalBackend::open(&options)?;
    let name = format!("forget-{}", chrono::Utc::now().format("%Y%m%dT%H%M%S%.3f"));
    let execution = backend
        .run(&name, &ExecutionInput(serde_json::to_value(&request)?), 0.0)
        .await?;
    if let ExecutionStatus::Failed { error, cause } = &execution.status {
        let cause = tidemark_core::alert::cause_message(cause);
        eprintln!(
            "{name} failed: {error}: {}",
            cause.lines().next().unwrap_or_default()
        );
        eprintln!("Repeating the same forget is safe: it goes on where this one stopped.");
        return Ok(ExitCode::FAILURE);
    }
    let layout = LakeLayout {
        database: &backend.ports.config.source.database,
    };
    let record = load_run_record(
        backend.ports.lake.as_ref(),
        &layout.run_record_key(&name, &args.table),
    )
    .await?;
    match record.as_ref().and_then(|r| r.erasure.as_ref()) {
        Some(erasure) => println!(
            "{}: {}",
            args.table,
            tidemark_core::alert::erasure_line(erasure)
        ),
        None => println!("{name}: {:?}", execution.status),
    }
    Ok(ExitCode::SUCCESS)
}
