//! `tidemark run --follow`: the schedule, locally. Every `--every` it runs
//! the pipeline once (replicate, validate, merge, publish) and prints one
//! line; Ctrl-C stops it after the cycle that is running. Every cycle is
//! an ordinary scheduled run, so a cycle killed at any point loses and
//! duplicates nothing: the next one (or the next `tidemark run`) goes on
//! from the lake's state.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};
use tidemark_asl::ExecutionStatus;
use tidemark_core::events::{ExecutionInput, StartReplicationEvent, TableStatus};
use tidemark_core::freshness::human_bytes;
use tidemark_core::layout::LakeLayout;
use tidemark_core::pause::Pause;
use tidemark_core::run_record::RunRecord;
use tidemark_core::steps::load_run_records;
use tidemark_core::validate::OpCounts;
use tidemark_local::LocalOptions;
use tidemark_local::pipeline::{LocalBackend, LocalLake};

/// `30s`, `1m`, `15m`, `1h`: how often `--follow` runs a cycle.
pub fn parse_every(s: &str) -> Result<Duration, String> {
    let bad = || format!("{s:?} is not an interval: write e.g. 30s, 1m, 15m or 1h");
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?);
    let n: u64 = n.parse().map_err(|_| bad())?;
    let seconds = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return Err(bad()),
    };
    if seconds == 0 {
        return Err(format!("{s:?}: the interval must be at least 1s"));
    }
    Ok(Duration::from_secs(seconds))
}

/// Counts Ctrl-C (and SIGTERM): the first asks to stop after the cycle,
/// the second stops at once (safe: a killed cycle loses nothing).
fn stop_signals() -> Arc<AtomicU32> {
    let count = Arc::new(AtomicU32::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        loop {
            let terminated = async {
                match term.as_mut() {
                    Some(t) => t.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminated => {}
            }
            if seen.fetch_add(1, Ordering::SeqCst) >= 1 {
                eprintln!("stopped during a cycle; the next run goes on from where it was");
                std::process::exit(130);
            }
            eprintln!("stopping after this cycle (Ctrl-C again to stop now)");
        }
    });
    count
}

pub async fn follow(
    options: &LocalOptions,
    input: &ExecutionInput,
    every: Duration,
    time_scale: f64,
) -> anyhow::Result<ExitCode> {
    let stop = stop_signals();
    let stopping = || stop.load(Ordering::SeqCst) > 0;
    eprintln!(
        "following: a run every {} s; Ctrl-C stops after the running cycle",
        every.as_secs()
    );
    while !stopping() {
        let started = Instant::now();
        let name = format!("follow-{}", chrono::Utc::now().format("%Y%m%dT%H%M%S"));
        let lake = LocalLake::open(options)?;
        let layout = LakeLayout {
            database: &lake.config.source.database,
        };
        match Pause::load(lake.lake.as_ref(), &layout.pause_key()).await? {
            Some(pause) => println!("{}", paused_cycle(&lake, &pause).await),
            None => {
                drop(lake);
                println!(
                    "{}",
                    cycle(options, &name, input, time_scale, started).await?
                );
            }
        }
        // Sleep out the interval, waking early to stop.
        let next = started + every;
        while !stopping() && Instant::now() < next {
            tokio::time::sleep(
                Duration::from_millis(200).min(next.saturating_duration_since(Instant::now())),
            )
            .await;
        }
    }
    eprintln!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// While paused nothing merges; unless the replication was paused too it
/// goes on landing, so the source keeps no backlog.
async fn paused_cycle(lake: &LocalLake, pause: &Pause) -> String {
    let now = chrono::Utc::now().format("%H:%M:%S");
    if pause.replication {
        return format!("{now} paused {}: nothing runs", pause.describe());
    }
    let tables: Vec<_> = lake
        .config
        .tables
        .iter()
        .map(|t| (t.name.clone(), t.mode))
        .collect();
    match lake
        .replication
        .start(&StartReplicationEvent::default(), &tables)
        .await
    {
        Ok(status) => format!(
            "{now} paused {}: landed only ({})",
            pause.describe(),
            status.message
        ),
        Err(e) => format!("{now} paused {}: landing failed: {e}", pause.describe()),
    }
}

/// One run, and its line: tables merged, idle, skipped and failed, rows by
/// op, what the source still holds, and how long it took. A failed table
/// adds a line with its error (the alert has the rest).
async fn cycle(
    options: &LocalOptions,
    name: &str,
    input: &ExecutionInput,
    time_scale: f64,
    started: Instant,
) -> anyhow::Result<String> {
    let backend = LocalBackend::open(options)?;
    let execution = backend.run(name, input, time_scale).await?;
    let records = load_run_records(
        backend.ports.lake.as_ref(),
        &backend.ports.config.source.database,
        name,
    )
    .await?;
    let count = |f: &dyn Fn(&RunRecord) -> bool| records.iter().filter(|r| f(r)).count();
    let mut ops = OpCounts::default();
    for r in records
        .iter()
        .filter(|r| r.status == Some(TableStatus::Succeeded))
    {
        ops.add(&r.ops);
    }
    let lag = match backend.ports.replication.observe().await {
        Ok(status) => status
            .lag_bytes
            .map(|b| format!("  lag {}", human_bytes(b)))
            .unwrap_or_default(),
        Err(_) => String::new(),
    };
    let mut line = format!(
        "{} {name}  merged {}, idle {}, skipped {}, failed {}  rows I {} U {} D {} L {}{lag}  ({:.1} s)",
        chrono::Utc::now().format("%H:%M:%S"),
        count(&|r| r.status == Some(TableStatus::Succeeded) && !r.idle),
        count(&|r| r.idle),
        count(&|r| r.status == Some(TableStatus::Skipped)),
        count(&|r| r.status == Some(TableStatus::Failed)),
        ops.inserts,
        ops.updates,
        ops.deletes,
        ops.loads,
        started.elapsed().as_secs_f64()
    );
    for r in records
        .iter()
        .filter(|r| r.status == Some(TableStatus::Failed))
    {
        let message = r.message.as_deref().unwrap_or_default();
        line.push_str(&format!(
            "\n  {} failed: {}: {}",
            r.table,
            r.error.as_deref().unwrap_or("error"),
            message.lines().next().unwrap_or_default()
        ));
    }
    if let ExecutionStatus::Failed { error, cause } = &execution.status
        && records.is_empty()
    {
        let cause = tidemark_core::alert::cause_message(cause);
        line.push_str(&format!(
            "\n  failed: {error}: {}",
            cause.lines().next().unwrap_or_default()
        ));
    }
    Ok(line)
}
