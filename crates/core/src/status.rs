//! `tidemark status`: how each table and the replication stand, read from
//! the lake's state and the replication, changing nothing. The same report
//! locally and for a deployed pipeline.

use crate::config::PipelineConfig;
use crate::error::Error;
use crate::events::ReplicationStatus;
use crate::freshness::{Freshness, human_age, human_bytes};
use crate::layout::{LakeLayout, landing_prefix};
use crate::lease::Lease;
use crate::ledger::StoredLedger;
use crate::pause::Pause;
use crate::ports::{ObjectStore, Replication};
use crate::validate::OpCounts;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt::Write;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusReport {
    pub database: String,
    pub at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused: Option<Pause>,
    /// The schedules that start runs (a deployed pipeline's: the daily one,
    /// and the frequent one when there is one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub schedules: Vec<Schedule>,
    /// How the replication stands ...
    pub replication: Option<ReplicationStatus>,
    /// ... or why that could not be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replication_error: Option<String>,
    pub tables: Vec<TableState>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableState {
    pub table: String,
    /// When a run last brought it up to date, and which.
    pub up_to_date_at: Option<DateTime<Utc>>,
    pub up_to_date_by: Option<String>,
    pub freshness_minutes: Option<u32>,
    /// Older than its freshness target (never while paused).
    pub stale: bool,
    /// When a run last merged changes, which, and their rows by op.
    pub merged_at: Option<DateTime<Utc>>,
    pub merged_by: Option<String>,
    pub merged_ops: OpCounts,
    /// Landed files no batch has taken yet: the next run's work.
    pub waiting_files: usize,
    /// Landed files quarantined and not taken since: they wait for a fix
    /// and a run of mode reprocess.
    pub quarantined_files: usize,
    /// The run holding the table's lease, while one does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<LeaseHolder>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    pub name: String,
    /// `rate(15 minutes)`, `cron(...)`.
    pub expression: String,
    pub enabled: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeaseHolder {
    pub run: String,
    pub until: DateTime<Utc>,
}

/// Reads the report. Only the lake's and the landing area's reads can fail
/// it; a replication that cannot be read is said in the report.
pub async fn status(
    config: &PipelineConfig,
    lake: &dyn ObjectStore,
    landing: &dyn ObjectStore,
    replication: &dyn Replication,
) -> Result<StatusReport, Error> {
    let layout = LakeLayout {
        database: &config.source.database,
    };
    let now = Utc::now();
    let paused = Pause::load(lake, &layout.pause_key()).await?;
    let mut tables = Vec::with_capacity(config.tables.len());
    for t in &config.tables {
        let table = t.name.as_str();
        let fresh = Freshness::load(lake, &layout.freshness_key(table)).await?;
        let ledger = StoredLedger::load(lake, &layout.ledger_key(table))
            .await?
            .ledger;
        let landed = landing
            .list(&landing_prefix(&config.source.schema, table))
            .await?;
        let freshness_minutes = config.freshness_minutes(table);
        tables.push(TableState {
            table: table.to_string(),
            stale: paused.is_none() && freshness_minutes.is_some_and(|m| fresh.is_stale(now, m)),
            up_to_date_at: fresh.checked_at,
            up_to_date_by: fresh.checked_by,
            freshness_minutes,
            merged_at: fresh.merged_at,
            merged_by: fresh.merged_by,
            merged_ops: fresh.merged_ops,
            waiting_files: ledger.unconsumed(&landed, ledger.generation).len(),
            quarantined_files: ledger.quarantined(&landed, ledger.generation).len(),
            lease: Lease::holder(lake, &layout.lease_key(table))
                .await?
                .map(|(run, until)| LeaseHolder { run, until }),
        });
    }
    let observed = replication.observe().await;
    Ok(StatusReport {
        database: config.source.database.clone(),
        at: now,
        paused,
        schedules: Vec::new(),
        replication_error: observed.as_ref().err().map(ToString::to_string),
        replication: observed.ok(),
        tables,
    })
}

impl StatusReport {
    pub fn any_stale(&self) -> bool {
        self.tables.iter().any(|t| t.stale)
    }

    /// The report as a person reads it: one line per table.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let ago = |t: Option<DateTime<Utc>>| match t {
            Some(t) => format!("{} ago", human_age(self.at - t)),
            None => "never".to_string(),
        };
        match &self.paused {
            Some(p) => _ = writeln!(out, "{}: PAUSED {}", self.database, p.describe()),
            None => _ = writeln!(out, "{}: not paused", self.database),
        }
        for s in &self.schedules {
            let state = match (s.enabled, &self.paused) {
                (true, _) => "enabled",
                (false, Some(_)) => "disabled",
                (false, None) => "disabled, not by `tidemark pause`: no run starts",
            };
            _ = writeln!(out, "schedule: {} {} ({state})", s.name, s.expression);
        }
        match (&self.replication, &self.replication_error) {
            (Some(r), _) => {
                _ = write!(out, "replication: {}", r.state);
                if !r.message.is_empty() {
                    _ = write!(out, " ({})", r.message);
                }
                if let Some(lag) = r.lag_bytes {
                    _ = write!(out, ", lag {}", human_bytes(lag));
                }
                if !r.tables_in_error.is_empty() {
                    _ = write!(out, ", tables in error: {}", r.tables_in_error.join(", "));
                }
                out.push('\n');
            }
            (None, e) => {
                _ = writeln!(
                    out,
                    "replication: unknown ({})",
                    e.as_deref().unwrap_or("not read")
                )
            }
        }
        _ = writeln!(
            out,
            "\n{:<16} {:<32} {:<30} {:>7} {:>11}  lease",
            "table", "up to date", "last merge", "waiting", "quarantined"
        );
        for t in &self.tables {
            let mut fresh = ago(t.up_to_date_at);
            if let Some(m) = t.freshness_minutes {
                let flag = if t.stale { "STALE" } else { "ok" };
                fresh = format!("{fresh} ({flag}, {m} min)");
            }
            let merge = match t.merged_at {
                Some(at) => {
                    let o = &t.merged_ops;
                    format!(
                        "{}: I {} U {} D {} L {}",
                        ago(Some(at)),
                        o.inserts,
                        o.updates,
                        o.deletes,
                        o.loads
                    )
                }
                None => "never".into(),
            };
            let lease = t
                .lease
                .as_ref()
                .map(|l| format!("{} until {}", l.run, l.until.format("%H:%M:%S")))
                .unwrap_or_else(|| "-".into());
            _ = writeln!(
                out,
                "{:<16} {:<32} {:<30} {:>7} {:>11}  {lease}",
                t.table, fresh, merge, t.waiting_files, t.quarantined_files
            );
        }
        let quarantined: usize = self.tables.iter().map(|t| t.quarantined_files).sum();
        if quarantined > 0 {
            _ = writeln!(
                out,
                "\n{quarantined} quarantined file(s) wait for a fix and `--mode reprocess`."
            );
        }
        out
    }
}
