//! `tidemark.toml`: the pipeline's configuration, parsed once into typed values.
//!
//! ```toml
//! [source]
//! database = "demo"        # history schema (warehouse) / Glue database
//! schema = "public"        # landed files live under <landing>/<schema>/<table>/
//! csv_null_value = ""      # DMS CsvNullValue: how CSV files write null ("" = empty field)
//! lob_max_kb = 64          # DMS LobMaxSize (limited LOB mode): a text or binary value this long was likely cut (0: unchecked)
//!
//! [source.control_columns] # the DMS control columns (these are the defaults)
//! op = "op"
//! timestamp = "extraction_timestamp"
//! change_seq = "scn"       # "" when the files carry no ordering column
//!
//! [[tables]]
//! name = "orders"
//! mode = "cdc"             # or "snapshot" (full extracts, no CDC)
//! on_invalid = "fail"      # or "continue": merge the accepted files anyway
//! max_delete_fraction = 0.5
//! allow_unexpected = false # true: ignore columns the metadata does not know
//! retain_closed_years = 7  # expire closed versions 7 years after they ended (default: keep all)
//! lob_max_kb = 512         # this table's LOB limit, when DMS has one per table (default: [source] lob_max_kb)
//!
//! [metadata]
//! from = "catalog"         # or "documents" (default: the catalog when there is a source database)
//!
//! [alerts]
//! on_success = false
//! slack_webhook_url = "https://hooks.slack.com/services/..."
//! ```

use crate::dms::ControlColumns;
use crate::error::Invalid;
use crate::metadata::check_identifier;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// How a table's changes arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TableMode {
    /// A full load, then change-data-capture files.
    Cdc,
    /// Full extracts only; keys missing from an extract are deleted.
    Snapshot,
}

/// Which scheduled runs take a table (docs/freshness.md, "Two cadences").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cadence {
    /// The frequent schedule's runs (`{"cadence": "frequent"}`) and the daily one.
    Frequent,
    /// The daily run (`{}`) only.
    Daily,
}

impl Cadence {
    pub fn as_str(self) -> &'static str {
        match self {
            Cadence::Frequent => "frequent",
            Cadence::Daily => "daily",
        }
    }
}

/// What to do with a batch when some of its files were quarantined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum OnInvalid {
    /// Fail the table; nothing of the batch is merged (the default).
    #[default]
    Fail,
    /// Merge the accepted files and report the quarantined ones.
    Continue,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableConfig {
    pub name: String,
    pub mode: TableMode,
    #[serde(default)]
    pub on_invalid: OnInvalid,
    /// Snapshot tables: the largest fraction of current rows one extract may delete.
    #[serde(default = "default_delete_fraction")]
    pub max_delete_fraction: f64,
    /// Columns the metadata does not know are ignored instead of quarantining the file.
    #[serde(default)]
    pub allow_unexpected: bool,
    /// Keep closed versions this many years after they ended; older ones
    /// are removed by maintenance (current rows never are). None: forever.
    #[serde(default)]
    pub retain_closed_years: Option<u32>,
    /// This table's freshness target, in minutes; `None`: `[pipeline] freshness_minutes`.
    #[serde(default)]
    pub freshness_minutes: Option<u32>,
    /// DMS's `LobMaxSize` for this table (its `table-settings` rule), in KB;
    /// `None`: `[source] lob_max_kb`.
    #[serde(default)]
    pub lob_max_kb: Option<u32>,
    /// Which scheduled runs take it; `None`: frequent for `cdc` tables,
    /// daily for `snapshot` ones (each of their runs is a full extract).
    #[serde(default)]
    pub cadence: Option<Cadence>,
}

impl TableConfig {
    /// Its cadence, or the one its mode calls for.
    pub fn cadence(&self) -> Cadence {
        self.cadence.unwrap_or(match self.mode {
            TableMode::Cdc => Cadence::Frequent,
            TableMode::Snapshot => Cadence::Daily,
        })
    }

    /// The byte length a text or binary value of this table is likely cut
    /// at by DMS (limited LOB mode); `None`: not checked.
    pub fn lob_max_bytes(&self, source: &SourceConfig) -> Option<usize> {
        match self.lob_max_kb.unwrap_or(source.lob_max_kb) {
            0 => None,
            kb => Some(kb as usize * 1024),
        }
    }

    /// The retention cutoff at `now` (µs since the epoch): closed versions
    /// that ended before it are expired.
    pub fn retained_from(&self, now: chrono::DateTime<chrono::Utc>) -> Option<i64> {
        let years = self.retain_closed_years?;
        let cutoff = now.checked_sub_months(chrono::Months::new(years.saturating_mul(12)))?;
        Some(cutoff.timestamp_micros())
    }
}

fn default_delete_fraction() -> f64 {
    0.5
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    pub database: String,
    #[serde(default = "default_schema")]
    pub schema: String,
    #[serde(default)]
    pub control_columns: ControlColumns,
    /// The text DMS writes for null in CSV files (`CsvNullValue` on the S3
    /// endpoint). Empty (the default): an empty field is null.
    #[serde(default)]
    pub csv_null_value: String,
    /// DMS's `LobMaxSize` in limited LOB mode, in KB: DMS cuts a LOB longer
    /// than this silently, so a text or binary value of exactly this size is
    /// a finding (`truncated`). 0: not checked (full LOB mode).
    #[serde(default = "default_lob_max_kb")]
    pub lob_max_kb: u32,
}

fn default_schema() -> String {
    "public".into()
}

fn default_lob_max_kb() -> u32 {
    64
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct AlertConfig {
    /// Also send a summary when every table succeeded.
    #[serde(default)]
    pub on_success: bool,
    /// An incoming-webhook URL; alerts are posted there as Slack messages.
    #[serde(default)]
    pub slack_webhook_url: Option<String>,
    /// How alerts tell a person to rerun: the failed tables are appended as `--tables a,b`.
    /// Default: `tidemark rerun --state-machine <this one>` with the execution's
    /// mode and dates (AWS); the local pipeline fills in its own `tidemark run ...`.
    #[serde(default)]
    pub rerun_command: Option<String>,
}

/// Settings only the local backends read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalConfig {
    /// Folder of the tables' metadata JSON documents (`<table>.json`), relative to the config file.
    #[serde(default = "default_metadata_dir")]
    pub metadata_dir: String,
    /// Folder of day-by-day DMS files the replay source delivers, relative to the config file.
    #[serde(default)]
    pub replay_dir: Option<String>,
    /// Default lake folder, relative to the working directory.
    #[serde(default = "default_lake")]
    pub lake: String,
    /// One process at a time opens the lake's DuckDB warehouse: how long
    /// another `tidemark run` on the same lake waits for it.
    #[serde(default = "default_warehouse_wait_seconds")]
    pub warehouse_wait_seconds: u64,
}

fn default_warehouse_wait_seconds() -> u64 {
    600
}

fn default_metadata_dir() -> String {
    "metadata".into()
}
fn default_lake() -> String {
    ".tidemark".into()
}

impl Default for LocalConfig {
    fn default() -> Self {
        LocalConfig {
            metadata_dir: default_metadata_dir(),
            replay_dir: None,
            lake: default_lake(),
            warehouse_wait_seconds: default_warehouse_wait_seconds(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineSettings {
    /// How long a table's merge lease lasts before another run may take it over.
    #[serde(default = "default_lease_seconds")]
    pub lease_seconds: u64,
    /// How long one execution waits for the replication to be ready (a
    /// reload) before it fails as `Tidemark.Timeout`.
    #[serde(default = "default_replication_wait_seconds")]
    pub replication_wait_seconds: u64,
    /// How many times the state machine may call merge-history for one table
    /// in one execution (one batch, or one wait for a long MERGE, each) before
    /// the table fails as `Tidemark.Timeout`.
    #[serde(default = "default_max_merge_invocations")]
    pub max_merge_invocations: u32,
    /// How old, in minutes, a table may get — since a run last merged it or
    /// found nothing new — before a run alerts about it (docs/freshness.md).
    /// A table skipped because another run held it, or failed, past this
    /// age is named in the alert as stale. `None`: no freshness alerts.
    #[serde(default)]
    pub freshness_minutes: Option<u32>,
    /// A frequent run reads a table's metadata at the source at most this
    /// often, unless the source's DDL log names the table or a landed file's
    /// columns differ from it; the daily and manual runs always read it.
    #[serde(default = "default_metadata_every_minutes")]
    pub metadata_every_minutes: u32,
}

fn default_metadata_every_minutes() -> u32 {
    60
}
fn default_lease_seconds() -> u64 {
    900
}
fn default_replication_wait_seconds() -> u64 {
    4 * 3600
}
fn default_max_merge_invocations() -> u32 {
    500
}

impl Default for PipelineSettings {
    fn default() -> Self {
        PipelineSettings {
            lease_seconds: default_lease_seconds(),
            replication_wait_seconds: default_replication_wait_seconds(),
            max_merge_invocations: default_max_merge_invocations(),
            freshness_minutes: None,
            metadata_every_minutes: default_metadata_every_minutes(),
        }
    }
}

/// `[maintenance]`: table housekeeping after merges (docs/merge.md,
/// "Maintenance"). On Athena: `OPTIMIZE ... REWRITE DATA USING BIN_PACK` and
/// `VACUUM`, with the Iceberg properties below set when a table is created;
/// locally: the history rewritten in `valid_to` order and a checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MaintenanceConfig {
    /// Days between two maintenance runs of a table (0: never). A table's
    /// first is this many days after its first merge.
    pub every_days: u32,
    /// How long expired snapshots stay for time travel
    /// (`vacuum_max_snapshot_age_seconds`).
    pub snapshot_retention_days: u32,
    /// Snapshots VACUUM always keeps (`vacuum_min_snapshots_to_keep`).
    pub min_snapshots: u32,
    /// A data file with this many delete files or more is rewritten by
    /// OPTIMIZE (`optimize_rewrite_delete_file_threshold`).
    pub delete_file_threshold: u32,
    /// The size of the data files writes and OPTIMIZE aim at
    /// (`write_target_data_file_size_bytes`); a data file under three
    /// quarters of it is small.
    pub target_file_mb: u32,
    /// A table that has this many small data files or more after a run's
    /// merges is maintained then, before `every_days` have passed (0: never).
    pub small_files: u32,
    /// ... or whose delete files are this share of its data files or more
    /// (0: never).
    pub delete_file_ratio: f64,
}

impl Default for MaintenanceConfig {
    fn default() -> Self {
        MaintenanceConfig {
            every_days: 7,
            snapshot_retention_days: 7,
            min_snapshots: 1,
            delete_file_threshold: 2,
            target_file_mb: 512,
            small_files: 100,
            delete_file_ratio: 0.2,
        }
    }
}

/// `[erasure]`: what `forget` does beyond the lake (docs/erasure.md).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ErasureConfig {
    /// Rewrite the landed files (DMS's record, in the landing bucket)
    /// without the forgotten rows too. Off by default: the landed files are
    /// the record a rebuild replays, the pipeline otherwise never writes
    /// them (nor may its roles), and the erasure log keeps forgotten keys
    /// out of everything validated from them.
    pub rewrite_landed: bool,
}

/// The whole validated configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    pub source: SourceConfig,
    pub tables: Vec<TableConfig>,
    #[serde(default)]
    pub alerts: AlertConfig,
    #[serde(default)]
    pub pipeline: PipelineSettings,
    #[serde(default)]
    pub local: LocalConfig,
    #[serde(default)]
    pub maintenance: MaintenanceConfig,
    #[serde(default)]
    pub cost: crate::cost::CostConfig,
    #[serde(default)]
    pub erasure: ErasureConfig,
    #[serde(default)]
    pub metadata: MetadataConfig,
}

/// Where each table's metadata comes from (`[metadata]`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetadataConfig {
    /// Unset: the source database's catalog when the pipeline has one to
    /// read (on AWS, `TIDEMARK_SOURCE_HOST`; locally, `--source`), else the
    /// metadata documents. Set, it is that choice or an error.
    #[serde(default)]
    pub from: Option<MetadataFrom>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetadataFrom {
    /// The source database's catalog, with the documents' `overrides/`.
    Catalog,
    /// `<table>.json` documents (on AWS under `TIDEMARK_METADATA_SOURCE`,
    /// locally in `[local] metadata_dir`).
    Documents,
}

/// A configuration file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("configuration {origin}: {message}")]
pub struct ConfigError {
    pub origin: String,
    pub message: String,
}

impl PipelineConfig {
    /// Parses `tidemark.toml` text; `origin` names the file in errors.
    pub fn from_toml(origin: &str, text: &str) -> Result<Self, ConfigError> {
        let err = |message: String| ConfigError {
            origin: origin.to_string(),
            message,
        };
        let config: PipelineConfig = toml::from_str(text).map_err(|e| err(e.to_string()))?;
        config.check().map_err(|e| err(e.0))?;
        Ok(config)
    }

    fn check(&self) -> Result<(), Invalid> {
        check_identifier(&self.source.database).map_err(|e| format!("source.database: {e}"))?;
        if self.tables.is_empty() {
            return Err("no [[tables]] configured".into());
        }
        let mut seen = BTreeSet::new();
        for t in &self.tables {
            check_identifier(&t.name).map_err(|e| format!("tables: {e}"))?;
            if !seen.insert(&t.name) {
                return Err(format!("table {} is configured twice", t.name).into());
            }
            if t.retain_closed_years == Some(0) {
                return Err(format!(
                    "table {}: retain_closed_years must be at least 1 (leave it out to keep every version)",
                    t.name
                )
                .into());
            }
            if !(0.0..=1.0).contains(&t.max_delete_fraction) {
                return Err(format!(
                    "table {}: max_delete_fraction must be between 0 and 1",
                    t.name
                )
                .into());
            }
        }
        self.source.control_columns.check()?;
        let m = &self.maintenance;
        for (key, value) in [
            ("snapshot_retention_days", m.snapshot_retention_days),
            ("min_snapshots", m.min_snapshots),
            ("delete_file_threshold", m.delete_file_threshold),
            ("target_file_mb", m.target_file_mb),
        ] {
            if value == 0 {
                return Err(format!("maintenance.{key} must be at least 1").into());
            }
        }
        if !(m.delete_file_ratio.is_finite() && m.delete_file_ratio >= 0.0) {
            return Err(format!(
                "maintenance.delete_file_ratio must be a share of at least 0 (0: never), not {}",
                m.delete_file_ratio
            )
            .into());
        }
        self.cost.check()
    }

    /// The configured table names, in order.
    pub fn table_names(&self) -> Vec<&str> {
        self.tables.iter().map(|t| t.name.as_str()).collect()
    }

    pub fn table(&self, name: &str) -> Option<&TableConfig> {
        self.tables.iter().find(|t| t.name == name)
    }

    /// A table's freshness target in minutes: its own, else the pipeline's.
    pub fn freshness_minutes(&self, table: &str) -> Option<u32> {
        self.table(table)
            .and_then(|t| t.freshness_minutes)
            .or(self.pipeline.freshness_minutes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
        [source]
        database = "shop"
        [[tables]]
        name = "orders"
        mode = "cdc"
    "#;

    #[test]
    fn defaults_follow_the_moj_dms_module() {
        let c = PipelineConfig::from_toml("t.toml", MINIMAL).unwrap();
        assert_eq!(c.source.control_columns.op, "op");
        assert_eq!(c.source.control_columns.timestamp, "extraction_timestamp");
        assert_eq!(c.source.control_columns.change_seq.as_deref(), Some("scn"));
        assert_eq!(c.tables[0].on_invalid, OnInvalid::Fail);
        assert_eq!(c.tables[0].max_delete_fraction, 0.5);
        assert!(!c.tables[0].allow_unexpected);
        assert_eq!(c.source.csv_null_value, "");
        assert_eq!(c.pipeline.lease_seconds, 900);
        assert_eq!(c.pipeline.replication_wait_seconds, 14400);
        assert_eq!(c.pipeline.max_merge_invocations, 500);
        assert_eq!(c.pipeline.metadata_every_minutes, 60);
        assert_eq!(c.maintenance, MaintenanceConfig::default());
    }

    #[test]
    fn a_table_is_frequent_or_daily_by_its_mode_unless_it_says() {
        let c = PipelineConfig::from_toml(
            "t.toml",
            &format!(
                "{MINIMAL}
                [[tables]]
                name = \"prices\"
                mode = \"snapshot\"
                [[tables]]
                name = \"audit\"
                mode = \"cdc\"
                cadence = \"daily\""
            ),
        )
        .unwrap();
        let cadences: Vec<Cadence> = c.tables.iter().map(TableConfig::cadence).collect();
        assert_eq!(
            cadences,
            [Cadence::Frequent, Cadence::Daily, Cadence::Daily]
        );
        let e = PipelineConfig::from_toml("t.toml", &format!("{MINIMAL}cadence = \"hourly\""))
            .unwrap_err();
        assert!(e.message.contains("hourly"), "{e}");
    }

    #[test]
    fn a_tables_lob_limit_overrides_the_sources_and_metadata_comes_from_where_it_says() {
        let c = PipelineConfig::from_toml("t.toml", MINIMAL).unwrap();
        assert_eq!(c.tables[0].lob_max_bytes(&c.source), Some(64 * 1024));
        assert_eq!(c.metadata.from, None);
        let c = PipelineConfig::from_toml(
            "t.toml",
            &format!("{MINIMAL}\nlob_max_kb = 0\n[metadata]\nfrom = \"documents\"\n"),
        )
        .unwrap();
        assert_eq!(c.tables[0].lob_max_bytes(&c.source), None, "0: unchecked");
        assert_eq!(c.metadata.from, Some(MetadataFrom::Documents));
        let e = PipelineConfig::from_toml(
            "t.toml",
            &format!("{MINIMAL}\n[metadata]\nfrom = \"guess\"\n"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("guess"), "{e}");
    }

    #[test]
    fn rejects_mistakes_by_name() {
        let bad = |text: &str| {
            PipelineConfig::from_toml("t.toml", text)
                .unwrap_err()
                .to_string()
        };
        assert!(bad(&MINIMAL.replace("cdc", "stream")).contains("mode"));
        assert!(
            bad(&format!("{MINIMAL}\n[maintenance]\nmin_snapshots = 0"))
                .contains("maintenance.min_snapshots must be at least 1")
        );
        assert!(bad(&format!("{MINIMAL}\n[maintenance]\nevery = 7")).contains("every"));
        assert!(
            bad(&MINIMAL.replace("mode = \"cdc\"", "mode = \"cdc\"\nretain_closed_years = 0"))
                .contains("table orders: retain_closed_years must be at least 1")
        );
        assert!(
            bad(&format!("{MINIMAL}\n[cost]\nathena_usd_per_tb = -5.0"))
                .contains("cost.athena_usd_per_tb must be a price of 0 or more, not -5")
        );
        assert!(
            bad(&format!(
                "{MINIMAL}\n[cost]\ns3_usd_per_thousand_reads = nan"
            ))
            .contains("cost.s3_usd_per_thousand_reads")
        );
        assert!(
            bad(&format!(
                "{MINIMAL}\n[cost]\nprices_read_on = \"last week\""
            ))
            .contains("cost.prices_read_on")
        );
        assert!(
            bad(&format!("{MINIMAL}\n[cost]\nathena_usd_per_tb = \"five\""))
                .contains("athena_usd_per_tb")
        );
        assert!(bad(&MINIMAL.replace("\"orders\"", "\"Orders\"")).contains("identifier"));
        assert!(
            bad(&format!(
                "{MINIMAL}\n[[tables]]\nname = \"orders\"\nmode = \"cdc\""
            ))
            .contains("twice")
        );
        assert!(
            bad(&MINIMAL.replace("mode = \"cdc\"", "mode = \"cdc\"\ncolour = 1"))
                .contains("colour")
        );
        assert!(
            bad(&MINIMAL.replace(
                "mode = \"cdc\"",
                "mode = \"snapshot\"\nmax_delete_fraction = 2.0"
            ))
            .contains("max_delete_fraction")
        );
    }
}
