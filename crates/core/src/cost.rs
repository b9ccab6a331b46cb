//! What a run costs (docs/cost.md). Every step invocation records its usage
//! — its Lambda time, the statements it ran with the bytes they scanned, the
//! S3 requests it made — under `usage/<run>/`; `notify` adds the execution's
//! state transitions, prices each table's usage with the `[cost]` price table,
//! writes it into the table's run record, and reports the run's total.

use crate::error::Invalid;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `[cost]`: the prices a run's usage is multiplied by, in US dollars. The
/// defaults are AWS's public on-demand prices for eu-west-2 (London), as
/// read on `prices_read_on`; set your region's and your discounts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CostConfig {
    pub region: String,
    /// When the prices were read (YYYY-MM-DD), shown beside every total.
    pub prices_read_on: String,
    /// Athena (SQL queries), per TB scanned.
    pub athena_usd_per_tb: f64,
    /// Athena bills every query that scans data at least this much.
    pub athena_min_mb_per_query: f64,
    /// Lambda (x86) duration.
    pub lambda_usd_per_gb_second: f64,
    pub lambda_usd_per_million_requests: f64,
    /// Step Functions Standard workflows.
    pub step_functions_usd_per_thousand_transitions: f64,
    /// S3 Standard PUT, COPY, POST and LIST requests.
    pub s3_usd_per_thousand_writes: f64,
    /// S3 Standard GET and HEAD requests.
    pub s3_usd_per_thousand_reads: f64,
}

impl Default for CostConfig {
    fn default() -> Self {
        CostConfig {
            region: "eu-west-2".into(),
            prices_read_on: "2026-12-04".into(),
            athena_usd_per_tb: 5.0,
            athena_min_mb_per_query: 10.0,
            lambda_usd_per_gb_second: 0.000_016_666_7,
            lambda_usd_per_million_requests: 0.20,
            step_functions_usd_per_thousand_transitions: 0.025,
            s3_usd_per_thousand_writes: 0.005_3,
            s3_usd_per_thousand_reads: 0.000_42,
        }
    }
}

impl CostConfig {
    pub(crate) fn check(&self) -> Result<(), Invalid> {
        for (key, value) in [
            ("athena_usd_per_tb", self.athena_usd_per_tb),
            ("athena_min_mb_per_query", self.athena_min_mb_per_query),
            ("lambda_usd_per_gb_second", self.lambda_usd_per_gb_second),
            (
                "lambda_usd_per_million_requests",
                self.lambda_usd_per_million_requests,
            ),
            (
                "step_functions_usd_per_thousand_transitions",
                self.step_functions_usd_per_thousand_transitions,
            ),
            (
                "s3_usd_per_thousand_writes",
                self.s3_usd_per_thousand_writes,
            ),
            ("s3_usd_per_thousand_reads", self.s3_usd_per_thousand_reads),
        ] {
            if !value.is_finite() || value < 0.0 {
                return Err(format!("cost.{key} must be a price of 0 or more, not {value}").into());
            }
        }
        if chrono::NaiveDate::parse_from_str(&self.prices_read_on, "%Y-%m-%d").is_err() {
            return Err(format!(
                "cost.prices_read_on must be a date (YYYY-MM-DD), not {:?}",
                self.prices_read_on
            )
            .into());
        }
        Ok(())
    }
}

/// One statement a step ran, and what the engine reported it cost.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StatementUsage {
    /// Its leading keywords (`MERGE INTO`, `CREATE TABLE`, `OPTIMIZE`, ...).
    pub statement: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_scanned: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine_ms: Option<u64>,
}

/// Requests to the pipeline's buckets through the store ports (the engine's
/// own reads of the lake are Athena's and are not counted here).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct S3Requests {
    /// GET and HEAD: S3's cheaper request class.
    pub reads: u64,
    /// PUT, COPY, LIST and multipart parts.
    pub writes: u64,
    /// DELETE: free.
    pub deletes: u64,
}

impl S3Requests {
    fn add(&mut self, other: S3Requests) {
        self.reads += other.reads;
        self.writes += other.writes;
        self.deletes += other.deletes;
    }
}

/// What one invocation of a step used; saved under `usage/<run>/`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepUsage {
    pub step: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    pub duration_ms: u64,
    /// The function's memory (on Lambda, as configured; locally, the
    /// Terraform module's default for the step).
    pub memory_mb: u32,
    /// Measured outside Lambda and Athena: local estimates.
    pub estimate: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub statements: Vec<StatementUsage>,
    pub s3: S3Requests,
}

/// Where a step runs, for its usage record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    /// A Lambda function with this much memory.
    Lambda { memory_mb: u32 },
    /// In process (the local pipeline): usage is estimated.
    Local,
}

/// What a step's event says about the run and the table it works on.
pub trait StepEvent {
    fn run_id(&self) -> Option<&str>;
    /// `None` for the steps that work for the whole run.
    fn table(&self) -> Option<&str> {
        None
    }
}

/// The prefix of a run's usage records.
pub fn usage_prefix(database: &str, run_id: &str) -> String {
    format!("usage/{run_id}/{database}/")
}

/// The steps that work for the whole run are recorded under this table name.
pub const RUN_LEVEL: &str = "_run";

/// The statement's leading keywords: what kind of statement it is, without
/// names or values.
pub fn statement_kind(sql: &str) -> String {
    const KEYWORDS: &[&str] = &[
        "ALTER",
        "ANALYZE",
        "CHECKPOINT",
        "COPY",
        "CREATE",
        "DELETE",
        "DESCRIBE",
        "DROP",
        "EXISTS",
        "EXPLAIN",
        "FROM",
        "IF",
        "INSERT",
        "INTO",
        "MERGE",
        "NOT",
        "OPTIMIZE",
        "OR",
        "PRAGMA",
        "REPLACE",
        "SCHEMA",
        "SELECT",
        "SET",
        "SHOW",
        "TABLE",
        "TEMPORARY",
        "UPDATE",
        "VACUUM",
        "VIEW",
        "WITH",
    ];
    let words: Vec<String> = sql
        .split_whitespace()
        .map(str::to_ascii_uppercase)
        .take_while(|w| KEYWORDS.contains(&w.as_str()))
        .take(6)
        .collect();
    if words.is_empty() {
        "(other)".into()
    } else {
        words.join(" ")
    }
}

/// A run's state transitions, and those of each table's Map iteration. Step
/// Functions bills each state entered and each retry; a retry is counted in
/// the total only (its event does not carry the table).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Transitions {
    pub total: u64,
    pub tables: BTreeMap<String, u64>,
}

impl Transitions {
    /// Counts one entered state; `input` is the state's input (a Map
    /// iteration's states carry the table's work: `{"work": {"table": ...}}`).
    pub fn entered(&mut self, input: &str) {
        self.total += 1;
        let table = serde_json::from_str::<serde_json::Value>(input)
            .ok()
            .and_then(|v| v.pointer("/work/table")?.as_str().map(str::to_string));
        if let Some(table) = table {
            *self.tables.entry(table).or_default() += 1;
        }
    }

    /// Counts one retry of a Task state.
    pub fn retried(&mut self) {
        self.total += 1;
    }
}

/// A statement, with the step that ran it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepStatement {
    pub step: String,
    #[serde(flatten)]
    pub usage: StatementUsage,
}

/// A step's Lambda time for one table (or the run) in one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LambdaUsage {
    pub step: String,
    pub invocations: u64,
    pub duration_ms: u64,
    pub gb_seconds: f64,
}

/// Dollars, by service.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Usd {
    pub athena: f64,
    pub lambda: f64,
    pub step_functions: f64,
    pub s3: f64,
    pub total: f64,
}

/// What a table (or the run's own steps) cost in one run: the reconciliation
/// record's `cost`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Cost {
    /// Measured locally (DuckDB's bytes read, wall time): an estimate of
    /// what the same work costs on AWS.
    pub estimate: bool,
    pub athena_bytes_scanned: u64,
    /// What Athena bills: each statement that scanned data, at least the minimum.
    pub athena_bytes_billed: u64,
    pub statements: Vec<StepStatement>,
    pub lambda: Vec<LambdaUsage>,
    pub state_transitions: u64,
    pub s3: S3Requests,
    pub usd: Usd,
    /// The price table's region and date.
    pub prices: String,
}

impl Cost {
    /// Prices `usages` (one table's, or the run's own) and `transitions`.
    pub fn price(usages: &[StepUsage], transitions: u64, prices: &CostConfig) -> Cost {
        let min_bytes = (prices.athena_min_mb_per_query * 1e6) as u64;
        let mut cost = Cost {
            estimate: usages.iter().any(|u| u.estimate),
            state_transitions: transitions,
            prices: format!("{} prices of {}", prices.region, prices.prices_read_on),
            ..Cost::default()
        };
        for u in usages {
            for s in &u.statements {
                let bytes = s.bytes_scanned.unwrap_or(0);
                cost.athena_bytes_scanned += bytes;
                // DDL and statements that read nothing are not billed.
                if bytes > 0 {
                    cost.athena_bytes_billed += bytes.max(min_bytes);
                }
                cost.statements.push(StepStatement {
                    step: u.step.clone(),
                    usage: s.clone(),
                });
            }
            cost.s3.add(u.s3);
            let gb_seconds = u.duration_ms as f64 / 1000.0 * f64::from(u.memory_mb) / 1024.0;
            match cost.lambda.iter_mut().find(|l| l.step == u.step) {
                Some(l) => {
                    l.invocations += 1;
                    l.duration_ms += u.duration_ms;
                    l.gb_seconds += gb_seconds;
                }
                None => cost.lambda.push(LambdaUsage {
                    step: u.step.clone(),
                    invocations: 1,
                    duration_ms: u.duration_ms,
                    gb_seconds,
                }),
            }
        }
        let invocations: u64 = cost.lambda.iter().map(|l| l.invocations).sum();
        let gb_seconds: f64 = cost.lambda.iter().map(|l| l.gb_seconds).sum();
        let mut usd = Usd {
            athena: cost.athena_bytes_billed as f64 / 1e12 * prices.athena_usd_per_tb,
            lambda: gb_seconds * prices.lambda_usd_per_gb_second
                + invocations as f64 / 1e6 * prices.lambda_usd_per_million_requests,
            step_functions: transitions as f64 / 1000.0
                * prices.step_functions_usd_per_thousand_transitions,
            s3: cost.s3.reads as f64 / 1000.0 * prices.s3_usd_per_thousand_reads
                + cost.s3.writes as f64 / 1000.0 * prices.s3_usd_per_thousand_writes,
            total: 0.0,
        };
        usd.total = usd.athena + usd.lambda + usd.step_functions + usd.s3;
        cost.usd = usd;
        cost
    }

    /// The figures as one CloudWatch Embedded Metric Format document, in the
    /// `Tidemark` namespace with the database and the table as dimensions.
    /// For a table, `merged` says whether the run succeeded for it (`Merged`
    /// 1 or 0: the metric of the Terraform module's freshness alarm).
    pub fn emf(
        &self,
        database: &str,
        table: &str,
        merged: Option<bool>,
        timestamp_ms: i64,
    ) -> serde_json::Value {
        let gb_seconds: f64 = self.lambda.iter().map(|l| l.gb_seconds).sum();
        let s3 = self.s3.reads + self.s3.writes + self.s3.deletes;
        let mut doc = serde_json::json!({
            "_aws": {
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": "Tidemark",
                    "Dimensions": [["Database", "Table"]],
                    "Metrics": [
                        {"Name": "CostUsd", "Unit": "None"},
                        {"Name": "AthenaBytesScanned", "Unit": "Bytes"},
                        {"Name": "LambdaGbSeconds", "Unit": "None"},
                        {"Name": "StateTransitions", "Unit": "Count"},
                        {"Name": "S3Requests", "Unit": "Count"},
                    ],
                }],
            },
            "Database": database,
            "Table": table,
            "Estimate": self.estimate,
            "CostUsd": self.usd.total,
            "AthenaBytesScanned": self.athena_bytes_scanned,
            "LambdaGbSeconds": gb_seconds,
            "StateTransitions": self.state_transitions,
            "S3Requests": s3,
        });
        if let Some(merged) = merged {
            doc["Merged"] = serde_json::json!(u8::from(merged));
            if let Some(metrics) = doc["_aws"]["CloudWatchMetrics"][0]["Metrics"].as_array_mut() {
                metrics.push(serde_json::json!({"Name": "Merged", "Unit": "Count"}));
            }
        }
        doc
    }
}

/// The run's total and where it went, for the summary.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunCost {
    pub total_usd: f64,
    pub estimate: bool,
    /// The most expensive tables, most expensive first (at most three).
    pub top: Vec<(String, f64)>,
    pub prices: String,
}

impl RunCost {
    /// From each table's cost and the run's own steps'.
    pub fn of(tables: &[(String, Cost)], run_level: &Cost) -> RunCost {
        let mut top: Vec<(String, f64)> = tables
            .iter()
            .map(|(t, c)| (t.clone(), c.usd.total))
            .collect();
        top.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        top.truncate(3);
        RunCost {
            total_usd: run_level.usd.total + tables.iter().map(|(_, c)| c.usd.total).sum::<f64>(),
            estimate: run_level.estimate || tables.iter().any(|(_, c)| c.estimate),
            top,
            prices: run_level.prices.clone(),
        }
    }

    /// One line: `cost $0.0123 (local estimate) — orders $0.0100, customers $0.0020`.
    pub fn line(&self) -> String {
        let mut line = format!("cost {}", dollars(self.total_usd));
        if self.estimate {
            line.push_str(" (local estimate)");
        }
        if !self.top.is_empty() {
            let top: Vec<String> = self
                .top
                .iter()
                .map(|(t, usd)| format!("{t} {}", dollars(*usd)))
                .collect();
            line.push_str(&format!(" — most: {}", top.join(", ")));
        }
        line
    }
}

/// Dollars to four significant places below a cent.
pub fn dollars(usd: f64) -> String {
    if usd >= 0.01 {
        format!("${usd:.2}")
    } else {
        format!("${usd:.6}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(step: &str, ms: u64, mb: u32, bytes: &[u64]) -> StepUsage {
        StepUsage {
            step: step.into(),
            table: Some("orders".into()),
            duration_ms: ms,
            memory_mb: mb,
            estimate: false,
            statements: bytes
                .iter()
                .map(|b| StatementUsage {
                    statement: "SELECT".into(),
                    bytes_scanned: Some(*b),
                    engine_ms: None,
                })
                .collect(),
            s3: S3Requests {
                reads: 1000,
                writes: 1000,
                deletes: 3,
            },
        }
    }

    #[test]
    fn athena_bills_the_minimum_per_scanning_statement_and_nothing_for_ddl() {
        let prices = CostConfig::default();
        let c = Cost::price(
            &[
                usage("merge-history", 2000, 512, &[0, 1_000, 50_000_000]),
                usage("merge-history", 1000, 512, &[]),
            ],
            40,
            &prices,
        );
        assert_eq!(c.athena_bytes_scanned, 50_001_000);
        assert_eq!(c.athena_bytes_billed, 60_000_000);
        assert_eq!(c.lambda.len(), 1);
        assert_eq!(c.lambda[0].invocations, 2);
        assert!((c.lambda[0].gb_seconds - 1.5).abs() < 1e-9);
        let expected = 60e6 / 1e12 * 5.0
            + 1.5 * 0.000_016_666_7
            + 2.0 / 1e6 * 0.2
            + 40.0 / 1000.0 * 0.025
            + 2.0 * 0.000_42
            + 2.0 * 0.005_3;
        assert!((c.usd.total - expected).abs() < 1e-12, "{:?}", c.usd);
        assert_eq!(c.s3.deletes, 6);
    }

    #[test]
    fn the_summary_names_the_three_most_expensive_tables() {
        let prices = CostConfig::default();
        let tables: Vec<(String, Cost)> = [("a", 1u64), ("b", 4), ("c", 3), ("d", 2)]
            .into_iter()
            .map(|(t, transitions)| (t.to_string(), Cost::price(&[], transitions * 1000, &prices)))
            .collect();
        let run = RunCost::of(&tables, &Cost::price(&[], 0, &prices));
        let names: Vec<&str> = run.top.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(names, ["b", "c", "d"]);
        assert!((run.total_usd - 0.25).abs() < 1e-12);
        assert_eq!(run.line(), "cost $0.25 — most: b $0.10, c $0.08, d $0.05");
    }

    #[test]
    fn statements_are_named_by_their_leading_keywords() {
        assert_eq!(
            statement_kind("MERGE INTO \"db\".\"t\" AS t USING"),
            "MERGE INTO"
        );
        assert_eq!(
            statement_kind("create or replace view x as"),
            "CREATE OR REPLACE VIEW"
        );
        assert_eq!(
            statement_kind("CREATE TABLE IF NOT EXISTS \"db\".\"t\""),
            "CREATE TABLE IF NOT EXISTS"
        );
        assert_eq!(
            statement_kind("CREATE SCHEMA IF NOT EXISTS \"db\""),
            "CREATE SCHEMA IF NOT EXISTS"
        );
        assert_eq!(statement_kind("OPTIMIZE \"db\".\"t\" REWRITE"), "OPTIMIZE");
        assert_eq!(statement_kind("  \n(select 1)"), "(other)");
    }

    #[test]
    fn transitions_are_attributed_to_the_table_a_state_works_on() {
        let mut t = Transitions::default();
        t.entered(r#"{"run_id": "r"}"#);
        t.entered(r#"{"run_id": "r", "work": {"table": "orders"}}"#);
        t.entered("not json");
        assert_eq!(t.total, 3);
        assert_eq!(t.tables.get("orders"), Some(&1));
    }

    #[test]
    fn emf_names_each_metric_it_carries() {
        let c = Cost::price(
            &[usage("validate-landed", 1000, 1024, &[5])],
            7,
            &CostConfig::default(),
        );
        let doc = c.emf("shop", "orders", Some(true), 1);
        for m in doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
        {
            let name = m["Name"].as_str().unwrap();
            assert!(doc[name].is_number(), "{name} has no value");
        }
        assert_eq!(doc["StateTransitions"], 7);
        assert_eq!(doc["Table"], "orders");
        assert_eq!(doc["Merged"], 1);
        assert_eq!(c.emf("shop", "orders", Some(false), 1)["Merged"], 0);
        assert!(c.emf("shop", RUN_LEVEL, None, 1).get("Merged").is_none());
    }
}
