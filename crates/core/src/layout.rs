//! Where things live in the lake store. One function per kind of object, so
//! no step spells a path by hand.

use crate::batch_id::BatchId;

/// Keys in the lake store for one source database.
#[derive(Debug, Clone)]
pub struct LakeLayout<'a> {
    pub database: &'a str,
}

/// Where the normalised files of a table's history generation live, one
/// folder per batch: the generation's change log. Generation 0 (every table
/// until its first rebuild) is `validated/<database>/<table>/`; a rebuild's
/// generation n is `validated/<database>/<table>.g<n>/`, beside it rather
/// than inside it, so no reader of one generation sees another's files.
pub fn change_log_prefix(database: &str, table: &str, generation: u32) -> String {
    match generation {
        0 => format!("validated/{database}/{table}/"),
        n => format!("validated/{database}/{table}.g{n}/"),
    }
}

/// The folder of batch `batch`'s normalised files in the change log.
pub fn batch_log_prefix(database: &str, table: &str, generation: u32, batch: BatchId) -> String {
    format!("{}{batch}/", change_log_prefix(database, table, generation))
}

/// Where validation leaves what a snapshot extract of batch `batch` changes
/// against the extract merged before it (`changed.parquet`, `gone.parquet`),
/// for that batch's merge, which removes it: beside the change log, never in
/// it. `diffs/<database>/<table>/<batch>/` in generation 0.
pub fn snapshot_diff_prefix(
    database: &str,
    table: &str,
    generation: u32,
    batch: BatchId,
) -> String {
    format!(
        "{}{batch}/",
        snapshot_diffs_prefix(database, table, generation)
    )
}

/// The folder of a history generation's snapshot diffs, every batch's.
pub fn snapshot_diffs_prefix(database: &str, table: &str, generation: u32) -> String {
    let log = change_log_prefix(database, table, generation);
    format!("diffs/{}", log.trim_start_matches("validated/"))
}

impl LakeLayout<'_> {
    pub fn validated_key(
        &self,
        table: &str,
        generation: u32,
        batch: BatchId,
        landed_name: &str,
    ) -> String {
        let stem = landed_name.split('.').next().unwrap_or(landed_name);
        format!(
            "{}{batch}/{stem}.parquet",
            change_log_prefix(self.database, table, generation)
        )
    }
    pub fn quarantine_key(&self, table: &str, batch: BatchId, landed_name: &str) -> String {
        format!("{}{batch}/{landed_name}", self.quarantine_prefix(table))
    }
    /// The batch's validation report, without extension (`.json`, `.md`).
    pub fn report_stem(&self, table: &str, batch: BatchId) -> String {
        format!("reports/{}/{table}/{batch}", self.database)
    }
    pub fn ledger_key(&self, table: &str) -> String {
        format!("state/{}/{table}/ledger.json", self.database)
    }
    /// What had landed of `table` when the reload `run_id` asked for a
    /// fresh full load: the files that load supersedes.
    pub fn reload_mark_key(&self, table: &str, run_id: &str) -> String {
        format!("state/{}/{table}/reloads/{run_id}.json", self.database)
    }
    /// The table's erasure log: one entry per `forget` ([`crate::erasure::Erasure`]).
    pub fn erasure_prefix(&self, table: &str) -> String {
        format!("erasures/{}/{table}/", self.database)
    }
    pub fn erasure_key(&self, table: &str, run_id: &str) -> String {
        format!("{}{run_id}.json", self.erasure_prefix(table))
    }
    /// The folder of the table's quarantined files, every batch's.
    pub fn quarantine_prefix(&self, table: &str) -> String {
        format!("quarantine/{}/{table}/", self.database)
    }
    /// When a run last brought the table up to date ([`crate::freshness::Freshness`]).
    pub fn freshness_key(&self, table: &str) -> String {
        format!("state/{}/{table}/freshness.json", self.database)
    }
    /// When a run last read the table's metadata at the source, which
    /// version that gave, and where the source's DDL log stood.
    pub fn metadata_read_key(&self, table: &str) -> String {
        format!("state/{}/{table}/metadata_read.json", self.database)
    }
    /// The pipeline's pause record ([`crate::pause::Pause`]).
    pub fn pause_key(&self) -> String {
        format!("state/{}/paused.json", self.database)
    }
    pub fn lease_key(&self, table: &str) -> String {
        format!("state/{}/{table}/lease.json", self.database)
    }
    /// The table's storage at the source when a run last took its changes
    /// ([`crate::ports::MetadataSource::read_with_storage`]).
    pub fn source_storage_key(&self, table: &str) -> String {
        format!("state/{}/{table}/source-storage.json", self.database)
    }
    pub fn metadata_prefix(&self, table: &str) -> String {
        format!("metadata/{}/{table}/", self.database)
    }
    pub fn metadata_key(&self, table: &str, version: u32) -> String {
        format!("{}v{version:04}.json", self.metadata_prefix(table))
    }
    pub fn run_record_key(&self, run_id: &str, table: &str) -> String {
        format!("runs/{run_id}/{}/{table}.json", self.database)
    }
    /// The run's total cost and its most expensive tables ([`crate::cost::RunCost`]).
    pub fn run_cost_key(&self, run_id: &str) -> String {
        format!("runs/{run_id}/{}.cost.json", self.database)
    }
    pub fn run_records_prefix(&self, run_id: &str) -> String {
        format!("runs/{run_id}/{}/", self.database)
    }
}

/// The landed files of a table in the DMS layout: `<schema>/<table>/`.
pub fn landing_prefix(schema: &str, table: &str) -> String {
    format!("{schema}/{table}/")
}

/// The last path segment of a key.
pub fn base_name(key: &str) -> &str {
    key.rsplit('/').next().unwrap_or(key)
}
