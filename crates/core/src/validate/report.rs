//! Validation reports: JSON for machines, Markdown for people.

use super::{Findings, OpCounts};
use serde::{Deserialize, Serialize};
use std::fmt::Write;

/// What happened to one landed file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileReport {
    pub file: String,
    pub accepted: bool,
    pub rows: u64,
    pub ops: OpCounts,
    pub findings: Findings,
    /// Where the file went: its normalised copy, or its quarantined copy.
    pub copied_to: Option<String>,
}

/// The validation report of one batch of one table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchReport {
    pub database: String,
    pub table: String,
    pub batch_id: String,
    pub metadata_version: u32,
    pub files: Vec<FileReport>,
}

impl BatchReport {
    pub fn quarantined(&self) -> impl Iterator<Item = &FileReport> {
        self.files.iter().filter(|f| !f.accepted)
    }

    /// A short Markdown page: one line per file, then each quarantined file's counts and sample.
    pub fn to_markdown(&self) -> String {
        let mut md = String::new();
        let _ = writeln!(
            md,
            "# Validation of {}.{} batch {}\n",
            self.database, self.table, self.batch_id
        );
        let accepted = self.files.iter().filter(|f| f.accepted).count();
        let _ = writeln!(
            md,
            "{} file(s): {} accepted, {} quarantined. Metadata version {}.\n",
            self.files.len(),
            accepted,
            self.files.len() - accepted,
            self.metadata_version
        );
        let _ = writeln!(
            md,
            "| file | outcome | rows | findings |\n|---|---|---:|---:|"
        );
        for f in &self.files {
            let outcome = if f.accepted {
                "accepted"
            } else {
                "**quarantined**"
            };
            let _ = writeln!(
                md,
                "| `{}` | {} | {} | {} |",
                f.file, outcome, f.rows, f.findings.total
            );
        }
        for f in self.quarantined() {
            let _ = writeln!(md, "\n## `{}`\n", f.file);
            if let Some(to) = &f.copied_to {
                let _ = writeln!(
                    md,
                    "Quarantined copy: `{to}`. The landed original is untouched.\n"
                );
            }
            let _ = writeln!(md, "| rule | column | count |\n|---|---|---:|");
            for c in &f.findings.counts {
                let _ = writeln!(
                    md,
                    "| {} | {} | {} |",
                    c.rule.as_str(),
                    c.column.as_deref().unwrap_or("-"),
                    c.count
                );
            }
            let _ = writeln!(
                md,
                "\nSample ({} of {}):\n",
                f.findings.sample.len(),
                f.findings.total
            );
            let _ = writeln!(
                md,
                "| row | column | value | rule | message |\n|---:|---|---|---|---|"
            );
            for s in &f.findings.sample {
                let _ = writeln!(
                    md,
                    "| {} | {} | {} | {} | {} |",
                    s.row.map(|r| r.to_string()).unwrap_or_else(|| "-".into()),
                    s.column.as_deref().unwrap_or("-"),
                    s.value
                        .as_deref()
                        .map(|v| format!("`{}`", v.replace('|', "\\|")))
                        .unwrap_or_else(|| "null".into()),
                    s.rule.as_str(),
                    s.message.replace('|', "\\|"),
                );
            }
        }
        md
    }
}
