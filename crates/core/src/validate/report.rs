//! Validation reports: JSON for machines; Markdown and a self-contained HTML
//! page for people (the page the alert links to).

use super::{Findings, OpCounts};
use crate::batch_id::BatchId;
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
    /// Columns the metadata does not know, ignored under `allow_unexpected`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignored_columns: Vec<String>,
}

/// The validation report of one batch of one table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchReport {
    pub database: String,
    pub table: String,
    pub batch_id: BatchId,
    pub metadata_version: u32,
    pub files: Vec<FileReport>,
    /// Rows of keys the erasure log forgot, left out of the normalised files.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub rows_forgotten: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl BatchReport {
    /// Takes out the values of the findings on `rows` (from 1) of the file
    /// named `name`: rows of forgotten keys. Returns whether any was taken out.
    pub fn forget_rows(&mut self, name: &str, rows: &[u64]) -> bool {
        let mut changed = false;
        for file in self
            .files
            .iter_mut()
            .filter(|f| crate::layout::base_name(&f.file) == name)
        {
            for finding in file.findings.sample.iter_mut() {
                if finding.row.is_some_and(|r| rows.contains(&r)) && finding.value.is_some() {
                    finding.value = None;
                    finding.message =
                        format!("{} (value removed: its row was forgotten)", finding.message);
                    changed = true;
                }
            }
        }
        changed
    }

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
        if self.rows_forgotten > 0 {
            let _ = writeln!(
                md,
                "{} row(s) of forgotten keys were left out (the erasure log).\n",
                self.rows_forgotten
            );
        }
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
        for f in self.files.iter().filter(|f| !f.ignored_columns.is_empty()) {
            let _ = writeln!(
                md,
                "\n`{}`: ignored column(s) the metadata does not know: {}.",
                f.file,
                f.ignored_columns.join(", ")
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

    /// A self-contained HTML page (no external assets): the files, then each
    /// quarantined file's counts per rule and column and its sample of bad rows.
    pub fn to_html(&self) -> String {
        let mut h = String::new();
        let title = format!(
            "Validation of {}.{} batch {}",
            self.database, self.table, self.batch_id
        );
        let accepted = self.files.iter().filter(|f| f.accepted).count();
        let quarantined = self.files.len() - accepted;
        let _ = write!(
            h,
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>{}</title><style>{STYLE}</style></head><body>\n<h1>{}</h1>\n",
            esc(&title),
            esc(&title)
        );
        let _ = writeln!(
            h,
            "<p class=\"summary {}\">{} file(s): {} accepted, {} quarantined. Metadata version {}.</p>",
            if quarantined > 0 { "bad" } else { "good" },
            self.files.len(),
            accepted,
            quarantined,
            self.metadata_version
        );
        let _ = writeln!(
            h,
            "<table><tr><th>file</th><th>outcome</th><th class=\"n\">rows</th>\
             <th class=\"n\">I</th><th class=\"n\">U</th><th class=\"n\">D</th><th class=\"n\">L</th>\
             <th class=\"n\">findings</th><th>copied to</th></tr>"
        );
        for f in &self.files {
            let outcome = if f.accepted {
                "<span class=\"ok\">accepted</span>"
            } else {
                "<span class=\"q\">quarantined</span>"
            };
            let _ = writeln!(
                h,
                "<tr><td><code>{}</code>{}</td><td>{outcome}</td><td class=\"n\">{}</td>\
                 <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
                 <td class=\"n\">{}</td><td><code>{}</code></td></tr>",
                esc(&f.file),
                if f.ignored_columns.is_empty() {
                    String::new()
                } else {
                    format!(
                        "<br><small>ignored columns: {}</small>",
                        esc(&f.ignored_columns.join(", "))
                    )
                },
                f.rows,
                f.ops.inserts,
                f.ops.updates,
                f.ops.deletes,
                f.ops.loads,
                f.findings.total,
                esc(f.copied_to.as_deref().unwrap_or("-"))
            );
        }
        h.push_str("</table>\n");
        for f in self.quarantined() {
            let _ = writeln!(h, "<h2><code>{}</code></h2>", esc(&f.file));
            if let Some(to) = &f.copied_to {
                let _ = writeln!(
                    h,
                    "<p>Quarantined copy: <code>{}</code>. The landed original is untouched.</p>",
                    esc(to)
                );
            }
            h.push_str("<table><tr><th>rule</th><th>column</th><th class=\"n\">count</th></tr>\n");
            for c in &f.findings.counts {
                let _ = writeln!(
                    h,
                    "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td></tr>",
                    c.rule.as_str(),
                    esc(c.column.as_deref().unwrap_or("-")),
                    c.count
                );
            }
            h.push_str("</table>\n");
            let _ = writeln!(
                h,
                "<h3>Sample ({} of {})</h3>\n<table><tr><th class=\"n\">row</th><th>column</th>\
                 <th>value</th><th>rule</th><th>message</th></tr>",
                f.findings.sample.len(),
                f.findings.total
            );
            for s in &f.findings.sample {
                let _ = writeln!(
                    h,
                    "<tr><td class=\"n\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    s.row.map(|r| r.to_string()).unwrap_or_else(|| "-".into()),
                    esc(s.column.as_deref().unwrap_or("-")),
                    s.value
                        .as_deref()
                        .map(|v| format!("<code>{}</code>", esc(v)))
                        .unwrap_or_else(|| "<i>null</i>".into()),
                    s.rule.as_str(),
                    esc(&s.message)
                );
            }
            h.push_str("</table>\n");
        }
        h.push_str(
            "<p class=\"foot\">Rows are numbered from 1, after the header. \
             The rules are described in tidemark's docs/validation.md.</p>\n</body></html>\n",
        );
        h
    }
}

const STYLE: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:2em;color:#222}\
table{border-collapse:collapse;margin:.5em 0 1.5em}th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}\
th{background:#f3f3f3}.n{text-align:right}code{font-size:13px;word-break:break-all}\
.ok{color:#176f2c}.q{color:#b00020;font-weight:600}.summary.bad{color:#b00020}.foot{color:#777}";

/// Text made safe inside HTML elements and attributes.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::{Finding, Findings, OpCounts, Rule, RuleCount};
    use super::*;

    fn report() -> BatchReport {
        let finding = Finding {
            file: "landing/t/20261101-100000000.csv".into(),
            row: Some(7),
            column: Some("name".into()),
            rule: Rule::Pattern,
            value: Some("<script>alert('x')</script> | a&b".into()),
            message: "does not match the pattern ^[a-z]+$".into(),
        };
        BatchReport {
            database: "db".into(),
            table: "t".into(),
            batch_id: BatchId::new(2),
            rows_forgotten: 0,
            metadata_version: 3,
            files: vec![
                FileReport {
                    file: "landing/t/LOAD00000001.parquet".into(),
                    accepted: true,
                    rows: 10,
                    ops: OpCounts {
                        loads: 10,
                        ..Default::default()
                    },
                    findings: Findings::default(),
                    copied_to: Some("validated/db/t/b000002/LOAD00000001.parquet".into()),
                    ignored_columns: vec!["colour".into()],
                },
                FileReport {
                    file: finding.file.clone(),
                    accepted: false,
                    rows: 9,
                    ops: OpCounts::default(),
                    findings: Findings {
                        total: 4,
                        counts: vec![RuleCount {
                            rule: Rule::Pattern,
                            column: Some("name".into()),
                            count: 4,
                        }],
                        sample: vec![finding],
                    },
                    copied_to: Some("quarantine/db/t/b000002/20261101-100000000.csv".into()),
                    ignored_columns: vec![],
                },
            ],
        }
    }

    #[test]
    fn the_html_page_shows_counts_and_samples_with_every_value_escaped() {
        let html = report().to_html();
        assert!(html.starts_with("<!doctype html>") && html.ends_with("</body></html>\n"));
        for expected in [
            "2 file(s): 1 accepted, 1 quarantined. Metadata version 3.",
            "<td>pattern</td><td>name</td><td class=\"n\">4</td>",
            "<h3>Sample (1 of 4)</h3>",
            "<code>&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; | a&amp;b</code>",
            "ignored columns: colour",
            "quarantine/db/t/b000002/20261101-100000000.csv",
        ] {
            assert!(html.contains(expected), "no {expected:?} in\n{html}");
        }
        assert!(!html.contains("<script>"));
        assert!(!html.contains("http"), "self-contained: no external asset");
    }

    #[test]
    fn the_markdown_page_escapes_table_pipes() {
        let md = report().to_markdown();
        assert!(
            md.contains("| 7 | name | `<script>alert('x')</script> \\| a&b` | pattern |"),
            "{md}"
        );
        assert!(
            md.contains("ignored column(s) the metadata does not know: colour"),
            "{md}"
        );
    }
}
