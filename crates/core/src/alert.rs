//! Alerts: one per failed run (or a success summary when configured), with
//! what failed, why, where to look, and the exact command to rerun.

use crate::events::{ExecutionInput, Maintenance, ReplicationStatus, TableStatus};
use crate::run_record::RunRecord;
use serde::{Deserialize, Serialize};
use std::fmt::Write;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertTable {
    pub table: String,
    pub status: TableStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<RunRecord>,
    /// Past its freshness target: since when it has not been up to date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stale: Option<String>,
}

impl AlertTable {
    /// Why the table's maintenance failed in this run, if it did.
    pub fn maintenance_failure(&self) -> Option<&str> {
        match self.record.as_ref()?.maintenance.as_ref()? {
            Maintenance::Failed { message } => Some(message),
            _ => None,
        }
    }

    /// What a `forget` removed from the table in this run, if it ran.
    pub fn erasure(&self) -> Option<&crate::events::ErasureOutput> {
        self.record.as_ref()?.erasure.as_ref()
    }

    /// The validation report, unless the message already names it.
    fn report_link(&self) -> Option<&str> {
        let report = self.record.as_ref()?.report.as_deref()?;
        let message = self.message.as_deref().unwrap_or_default();
        (!message.contains(report)).then_some(report)
    }
}

/// `forgot 2 key(s): 9 row(s) removed (customers 3, change_log 6); log: <uri>`.
pub fn erasure_line(e: &crate::events::ErasureOutput) -> String {
    let parts: Vec<String> = e
        .removed
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(place, n)| format!("{place} {n}"))
        .collect();
    let mut line = format!(
        "forgot {} key(s): {} row(s) removed ({}); log: {}",
        e.keys,
        e.removed.values().sum::<u64>(),
        if parts.is_empty() {
            "none held them".to_string()
        } else {
            parts.join(", ")
        },
        e.log
    );
    if !e.unreadable.is_empty() {
        let _ = write!(
            line,
            "; could not read, check by hand: {}",
            e.unreadable.join(", ")
        );
    }
    line
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub run_id: String,
    pub database: String,
    pub failed: bool,
    /// The execution input, as it arrived.
    #[serde(default)]
    pub input: ExecutionInput,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replication: Option<ReplicationStatus>,
    pub tables: Vec<AlertTable>,
    /// The command that reruns the failed tables.
    pub rerun: String,
    /// What the run cost up to this alert.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<crate::cost::RunCost>,
}

impl Alert {
    pub fn subject(&self) -> String {
        let failed = self
            .tables
            .iter()
            .filter(|t| t.status == TableStatus::Failed)
            .count();
        if self.failed {
            format!(
                "tidemark {}: {failed} of {} table(s) failed in run {}",
                self.database,
                self.tables.len(),
                self.run_id
            )
        } else if let stale @ 1.. = self.tables.iter().filter(|t| t.stale.is_some()).count() {
            format!(
                "tidemark {}: {stale} of {} table(s) stale in run {}",
                self.database,
                self.tables.len(),
                self.run_id
            )
        } else {
            format!(
                "tidemark {}: all {} table(s) succeeded in run {}",
                self.database,
                self.tables.len(),
                self.run_id
            )
        }
    }

    /// Plain text, for e-mail and the console.
    pub fn to_text(&self) -> String {
        let mut out = format!("{}\n", self.subject());
        for t in &self.tables {
            match t.status {
                TableStatus::Failed => {
                    let _ = writeln!(
                        out,
                        "\n✗ {}.{} failed with {}",
                        self.database,
                        t.table,
                        t.error.as_deref().unwrap_or("an unknown error")
                    );
                    if let Some(m) = &t.message {
                        let _ = writeln!(out, "  {}", m.replace('\n', "\n  "));
                    }
                    if let Some(report) = t.report_link() {
                        let _ = writeln!(out, "  report: {report}");
                    }
                }
                TableStatus::Succeeded => {
                    let _ = writeln!(out, "✓ {}.{}", self.database, t.table);
                }
                TableStatus::Skipped => {
                    let _ = writeln!(
                        out,
                        "- {}.{} skipped: {}",
                        self.database,
                        t.table,
                        t.message.as_deref().unwrap_or("another run holds it")
                    );
                }
            }
            if let Some(stale) = &t.stale {
                let _ = writeln!(out, "  ! stale: {stale}");
            }
            if let Some(e) = t.erasure() {
                let _ = writeln!(out, "  {}", erasure_line(e));
            }
            if let Some(m) = t.maintenance_failure() {
                let _ = writeln!(
                    out,
                    "  ! maintenance failed (the data is merged; the next run tries again): {m}"
                );
            }
        }
        if let Some(r) = &self.replication {
            let _ = writeln!(out, "\nreplication: {} ({})", r.state, r.message);
        }
        if let Some(cost) = &self.cost {
            let _ = writeln!(out, "\n{}", cost.line());
        }
        if self.failed {
            let _ = writeln!(out, "\nrerun: {}", self.rerun.replace('\n', "\n       "));
        }
        out
    }

    /// A Slack incoming-webhook message.
    pub fn to_slack(&self) -> serde_json::Value {
        let mut text = format!("*{}*", self.subject());
        for t in self
            .tables
            .iter()
            .filter(|t| t.status == TableStatus::Failed)
        {
            let _ = write!(
                text,
                "\n• `{}` — {}: {}",
                t.table,
                t.error.as_deref().unwrap_or("error"),
                t.message.as_deref().unwrap_or("")
            );
            if let Some(report) = t.report_link() {
                let _ = write!(text, "\n   report: {report}");
            }
        }
        for t in &self.tables {
            if let Some(stale) = &t.stale {
                let _ = write!(text, "\n• `{}` — stale: {stale}", t.table);
            }
            if let Some(m) = t.maintenance_failure() {
                let _ = write!(
                    text,
                    "\n• `{}` — maintenance failed (the data is merged; the next run tries again): {m}",
                    t.table
                );
            }
            if let Some(e) = t.erasure() {
                let _ = write!(text, "\n• `{}` — {}", t.table, erasure_line(e));
            }
        }
        if let Some(cost) = &self.cost {
            let _ = write!(text, "\n_{}_", cost.line());
        }
        if self.failed {
            for command in self.rerun.lines() {
                let _ = write!(text, "\nRerun: `{command}`");
            }
        }
        serde_json::json!({ "text": text })
    }
}

/// The readable message inside a Step Functions Cause: Lambda failures carry
/// a JSON document whose `errorMessage` is the text a person wants.
pub fn cause_message(cause: &str) -> String {
    serde_json::from_str::<serde_json::Value>(cause)
        .ok()
        .and_then(|v| {
            v.get("errorMessage")
                .and_then(|m| m.as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| cause.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::ErasureOutput;

    /// An alert of a `forget` run: one table, what it removed.
    fn erasure_alert() -> Alert {
        let erasure = ErasureOutput {
            keys: 2,
            removed: [
                ("change_log".to_string(), 2),
                ("customers".to_string(), 3),
                ("quarantine".to_string(), 0),
            ]
            .into_iter()
            .collect(),
            log: "s3://lake/erasures/shop/customers/forget-1.json".into(),
            unreadable: vec!["s3://lake/quarantine/shop/customers/b000002/LOAD00000001.csv".into()],
        };
        Alert {
            run_id: "forget-1".into(),
            database: "shop".into(),
            failed: false,
            input: ExecutionInput(serde_json::json!({"mode": "forget", "keys": [42, 7]}))
                .redacted(),
            replication: None,
            tables: vec![AlertTable {
                stale: None,
                table: "customers".into(),
                status: TableStatus::Succeeded,
                error: None,
                message: None,
                record: Some(RunRecord {
                    erasure: Some(erasure),
                    ..Default::default()
                }),
            }],
            rerun: String::new(),
            cost: None,
        }
    }

    #[test]
    fn an_erasure_is_confirmed_with_what_it_removed_and_never_its_keys() {
        let alert = erasure_alert();
        let line = "forgot 2 key(s): 5 row(s) removed (change_log 2, customers 3); log: s3://lake/erasures/shop/customers/forget-1.json; could not read, check by hand: s3://lake/quarantine/shop/customers/b000002/LOAD00000001.csv";
        assert!(
            alert.to_text().contains(&format!("  {line}\n")),
            "{}",
            alert.to_text()
        );
        let slack = alert.to_slack()["text"].as_str().unwrap().to_string();
        assert!(
            slack.contains(&format!("• `customers` — {line}")),
            "{slack}"
        );
        let json = serde_json::to_string(&alert).unwrap();
        assert!(json.contains("(2 key(s), not shown)"), "{json}");
        assert!(!json.contains("42"), "{json}");
    }
}
