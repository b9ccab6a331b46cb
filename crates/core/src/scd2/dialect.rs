//! The two SQL dialects. Everything engine-specific is here; the plan is shared.

use crate::batch_id::BatchId;
use crate::config::MaintenanceConfig;
use crate::layout::{change_log_prefix, snapshot_diff_prefix};

/// The Athena change log's partition key: a batch's number, its folder
/// `b<number, 6 digits or more>` ([`BatchId`]).
pub const CHANGE_LOG_PARTITION: &str = "batch_number";
use crate::metadata::{Column, ColumnType, RowHashFormat, TableMetadata};

/// The control columns of a validated (normalised) file, after the business
/// columns: the table's change log.
pub const CHANGE_LOG_CONTROL_COLUMNS: [&str; 5] =
    ["op", "valid_from", "change_seq", "row_hash", "batch_id"];

/// A column of the history table and its engine type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryColumn {
    pub name: String,
    pub engine_type: String,
}

/// Quotes an identifier (already checked against [`crate::metadata::check_identifier`]).
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Quotes an identifier for Hive DDL, which Athena parses with backticks.
fn hive_ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// A string literal with quotes doubled; the only way a value enters SQL.
pub fn string_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// Which grammar a statement is written in. Athena runs most statements on
/// Trino, but DDL on external tables and Iceberg schema changes only exist
/// in its Hive DDL (`CREATE EXTERNAL TABLE`, `ALTER TABLE ... ADD COLUMNS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grammar {
    /// Trino SQL (Athena engine v3), and DuckDB's own SQL.
    Sql,
    /// Athena's Hive DDL.
    HiveDdl,
    /// Athena's own table maintenance statements (`OPTIMIZE ... REWRITE DATA
    /// USING BIN_PACK`, `VACUUM`), in neither grammar.
    AthenaMaintenance,
}

/// One statement and the grammar it is written in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub grammar: Grammar,
    pub sql: String,
}

impl Statement {
    pub fn sql(sql: String) -> Statement {
        Statement {
            grammar: Grammar::Sql,
            sql,
        }
    }
    fn hive(sql: String) -> Statement {
        Statement {
            grammar: Grammar::HiveDdl,
            sql,
        }
    }
}

/// What differs between Athena (Trino on Iceberg) and DuckDB.
pub trait Dialect: Send + Sync {
    fn name(&self) -> &'static str;
    /// The history table's type for a metadata column type, as the engine's
    /// `information_schema.columns.data_type` reports it.
    fn column_type(&self, ty: ColumnType) -> String;
    fn timestamp_type(&self) -> &'static str;
    fn string_type(&self) -> &'static str;
    /// Makes sure the history database exists, where the engine creates it.
    fn create_schema(&self, database: &str) -> Option<Statement>;
    /// The history table's DDL, given its columns (engine types). `folder`
    /// is where an engine that places the table's files (Athena) puts them:
    /// `history/<database>/<folder>/` of the lake ([`super::MergePlan::history_folder`]).
    fn create_table(
        &self,
        database: &str,
        table: &str,
        folder: &str,
        columns: &[HistoryColumn],
    ) -> Statement;
    /// Adds nullable business columns to the history table (additive drift).
    fn add_columns(&self, database: &str, table: &str, columns: &[&Column]) -> Vec<Statement>;
    /// A relation over every normalised (validated) file of the table's
    /// history `generation`: its change log.
    fn change_log(&self, database: &str, meta: &TableMetadata, generation: u32) -> String;
    /// The part of the change log that holds `batches` (none empty), where
    /// the engine can name it: the local engine opens only their files,
    /// Athena reads only their partitions.
    fn change_log_of(
        &self,
        database: &str,
        meta: &TableMetadata,
        generation: u32,
        _batches: &[BatchId],
    ) -> String {
        self.change_log(database, meta, generation)
    }
    /// The change log up to batch `last`, for a merge that does not know how
    /// far back its batch reaches (ledgers from before it was recorded).
    fn change_log_through(
        &self,
        database: &str,
        meta: &TableMetadata,
        generation: u32,
        _last: BatchId,
    ) -> String {
        self.change_log(database, meta, generation)
    }
    /// Where the engine reads a snapshot batch's diff (its changed rows, its
    /// missing keys: [`crate::layout::snapshot_diff_prefix`]), where it reads
    /// one rather than joining the whole extract with the current rows.
    fn snapshot_diff(
        &self,
        _database: &str,
        _meta: &TableMetadata,
        _generation: u32,
        _batch: BatchId,
    ) -> Option<[String; 2]> {
        None
    }
    /// The name under which `information_schema` lists the change log, when
    /// it is a table the plan must create and evolve.
    fn change_log_table(&self, _meta: &TableMetadata, _generation: u32) -> Option<String> {
        None
    }
    /// DDL for the change log, given the columns its table has now (`None`:
    /// the table does not exist). Empty where the log is read directly.
    fn change_log_ddl(
        &self,
        _database: &str,
        _meta: &TableMetadata,
        _generation: u32,
        _row_hash: RowHashFormat,
        _existing: Option<&[String]>,
    ) -> Vec<Statement> {
        Vec::new()
    }
    /// Housekeeping of a history table after merges ([`MergePlan::maintenance`]).
    fn maintenance(&self, database: &str, table: &str, keys: &[String]) -> Vec<Statement>;
    /// How a history table is stored, as one row: `data_files`,
    /// `small_files` (those that maintenance would rewrite) and
    /// `deleted_share` (what deletes left behind, per data file), so that a
    /// table's maintenance can run when its files call for it.
    fn file_layout(&self, database: &str, table: &str) -> Statement;
    /// Drops a history table (a rebuild's staged table, before it starts again).
    fn drop_table(&self, database: &str, table: &str) -> Statement {
        Statement::sql(format!(
            "DROP TABLE IF EXISTS {}.{}",
            quote_ident(database),
            quote_ident(table)
        ))
    }
    /// The column in which a DELETE, UPDATE or INSERT returns how many rows
    /// it changed, where the engine returns that.
    fn changed_rows_column(&self) -> Option<&'static str> {
        None
    }
    /// The pseudo-column that numbers a table's rows in storage order, where
    /// the engine has one. Versions then carry the number of the history row
    /// they came from, and the merge runs in steps matched on it, in one
    /// transaction ([`crate::scd2::MergePlan::merge`]); without one it is
    /// one MERGE.
    fn row_position(&self) -> Option<&'static str> {
        None
    }
    /// What follows `AS` in a `WITH` entry that the query reads twice,
    /// so that the engine reads its source twice rather than holding all
    /// of it (Trino never holds a CTE).
    fn read_twice(&self) -> &'static str {
        ""
    }
    /// Whether the engine computes a CTE that a query reads twice once and
    /// keeps it, so reading it again costs no second computation.
    fn holds_ctes(&self) -> bool {
        false
    }
    /// A shorter value to compare in place of `row_hash` (`column`), where
    /// the engine has one: a join that holds one per current row holds it
    /// instead of the 32 characters. Unlike the text, two different row
    /// hashes may share it, rarely enough to state (see the engine's).
    fn row_hash_digest(&self, _column: &str) -> Option<String> {
        None
    }
}

/// DuckDB over a folder: the change log is `read_parquet` over the lake's files.
#[derive(Debug, Clone)]
pub struct DuckDb {
    /// Filesystem path of the lake's `validated/` root, as the engine sees it.
    pub lake_root: String,
}

impl DuckDb {
    /// The Parquet files of the change log's `folders` (glob patterns).
    fn read_log(
        &self,
        database: &str,
        meta: &TableMetadata,
        generation: u32,
        folders: &[String],
    ) -> String {
        let prefix = format!(
            "{}/{}",
            self.lake_root.trim_end_matches('/'),
            change_log_prefix(database, &meta.name, generation)
        );
        let globs: Vec<String> = folders
            .iter()
            .map(|f| string_literal(&format!("{prefix}{f}/*.parquet")))
            .collect();
        let files = match globs.as_slice() {
            [one] => one.clone(),
            many => format!("[{}]", many.join(", ")),
        };
        format!("read_parquet({files}, union_by_name = true)")
    }
}

impl Dialect for DuckDb {
    fn name(&self) -> &'static str {
        "duckdb"
    }
    fn column_type(&self, ty: ColumnType) -> String {
        match ty {
            ColumnType::Bool => "BOOLEAN".into(),
            ColumnType::Int8 => "TINYINT".into(),
            ColumnType::Int16 => "SMALLINT".into(),
            ColumnType::Int32 => "INTEGER".into(),
            ColumnType::Int64 => "BIGINT".into(),
            ColumnType::UInt8 => "UTINYINT".into(),
            ColumnType::UInt16 => "USMALLINT".into(),
            ColumnType::UInt32 => "UINTEGER".into(),
            ColumnType::UInt64 => "UBIGINT".into(),
            ColumnType::Float32 => "FLOAT".into(),
            ColumnType::Float64 => "DOUBLE".into(),
            ColumnType::Decimal128 { precision, scale } => format!("DECIMAL({precision},{scale})"),
            ColumnType::String | ColumnType::LargeString => "VARCHAR".into(),
            ColumnType::Binary => "BLOB".into(),
            ColumnType::Date32 => "DATE".into(),
            ColumnType::Timestamp(_) => "TIMESTAMP".into(),
        }
    }
    fn timestamp_type(&self) -> &'static str {
        "TIMESTAMP"
    }
    fn string_type(&self) -> &'static str {
        "VARCHAR"
    }
    fn create_schema(&self, database: &str) -> Option<Statement> {
        Some(Statement::sql(format!(
            "CREATE SCHEMA IF NOT EXISTS {}",
            quote_ident(database)
        )))
    }
    /// DuckDB keeps the table in its database file: `folder` does not apply.
    fn create_table(
        &self,
        database: &str,
        table: &str,
        _folder: &str,
        columns: &[HistoryColumn],
    ) -> Statement {
        let cols: Vec<String> = columns
            .iter()
            .map(|c| format!("  {} {}", quote_ident(&c.name), c.engine_type))
            .collect();
        Statement::sql(format!(
            "CREATE TABLE IF NOT EXISTS {}.{} (\n{}\n)",
            quote_ident(database),
            quote_ident(table),
            cols.join(",\n")
        ))
    }
    fn add_columns(&self, database: &str, table: &str, columns: &[&Column]) -> Vec<Statement> {
        columns
            .iter()
            .map(|c| {
                Statement::sql(format!(
                    "ALTER TABLE {}.{} ADD COLUMN IF NOT EXISTS {} {}",
                    quote_ident(database),
                    quote_ident(table),
                    quote_ident(&c.name),
                    self.column_type(c.column_type)
                ))
            })
            .collect()
    }
    fn change_log(&self, database: &str, meta: &TableMetadata, generation: u32) -> String {
        self.read_log(database, meta, generation, &["*".to_string()])
    }
    /// Each batch's files are in a folder named after it. Reading by name
    /// matters: with `union_by_name` DuckDB opens every file it is given
    /// before a filter can leave any out.
    fn change_log_of(
        &self,
        database: &str,
        meta: &TableMetadata,
        generation: u32,
        batches: &[BatchId],
    ) -> String {
        let folders: Vec<String> = batches.iter().map(BatchId::to_string).collect();
        self.read_log(database, meta, generation, &folders)
    }
    fn changed_rows_column(&self) -> Option<&'static str> {
        Some("Count")
    }
    fn snapshot_diff(
        &self,
        database: &str,
        meta: &TableMetadata,
        generation: u32,
        batch: BatchId,
    ) -> Option<[String; 2]> {
        let prefix = format!(
            "{}/{}",
            self.lake_root.trim_end_matches('/'),
            snapshot_diff_prefix(database, &meta.name, generation, batch)
        );
        Some(["changed", "gone"].map(|f| {
            format!(
                "read_parquet({})",
                string_literal(&format!("{prefix}{f}.parquet"))
            )
        }))
    }
    /// Where DuckDB's MERGE probed its join with the source, the versions it
    /// ends arrived in the source's order, scattered over the table: 1.5 s of
    /// a 2M-key snapshot day's MERGE, 1.1 s of a 200,000-change CDC day's. In
    /// storage order they were 0.1 s (docs/merge.md, "Where a 2M-key snapshot
    /// day's MERGE goes"). The MERGE also held its whole source and the
    /// target side of its join in memory at once; in steps, a 200,000-change
    /// CDC day's peak RSS is lower for the same time (docs/merge.md, "The
    /// merge in steps"), and each step reports its own count, so the rows a
    /// merge removes need no query of their own.
    fn row_position(&self) -> Option<&'static str> {
        Some("rowid")
    }
    /// DuckDB holds a CTE that a query reads twice in memory: the batch's
    /// changes are read from their files again instead (a 200,000-change
    /// CDC day's MERGE: peak buffer 523 -> 425 MB, for 0.03 CPU s).
    fn read_twice(&self) -> &'static str {
        "NOT MATERIALIZED "
    }
    fn holds_ctes(&self) -> bool {
        true
    }
    /// DuckDB's 64-bit `hash`: 8 bytes a row where the text takes 48 (16
    /// and 32 out of line), 100 MiB less at the peak of a 2M-key snapshot
    /// day, and 4% less time. Two different row hashes share it about once
    /// in 1.8e19 pairs (docs/merge.md, "Snapshot tables").
    fn row_hash_digest(&self, column: &str) -> Option<String> {
        Some(format!("hash({column})"))
    }
    /// The history rewritten in `valid_to` order: closed versions cluster by
    /// when they closed, current rows at the end, so the row groups' zone
    /// maps let a merge skip the versions that ended before its batch. Then a
    /// checkpoint, which gives the old blocks back.
    fn maintenance(&self, database: &str, table: &str, keys: &[String]) -> Vec<Statement> {
        let table = format!("{}.{}", quote_ident(database), quote_ident(table));
        let order: Vec<String> = std::iter::once("valid_to")
            .chain(keys.iter().map(String::as_str))
            .chain(["valid_from", "change_seq"])
            .map(quote_ident)
            .collect();
        vec![
            Statement::sql(format!(
                "CREATE OR REPLACE TABLE {table} AS SELECT * FROM {table} ORDER BY {}",
                order.join(", ")
            )),
            Statement::sql("CHECKPOINT".to_string()),
        ]
    }
    /// Row groups stand for files: a row group under three quarters of
    /// DuckDB's size (122,880 rows) is small; deleted rows stay stored (and
    /// counted by `estimated_size`) until the table is rewritten.
    fn file_layout(&self, database: &str, table: &str) -> Statement {
        let name = format!("{}.{}", quote_ident(database), quote_ident(table));
        Statement::sql(format!(
            "SELECT count(*) AS data_files, count_if(row_count < 92160) AS small_files,\n       (SELECT CAST(estimated_size - (SELECT count(*) FROM {name}) AS DOUBLE) / greatest(estimated_size, 1) FROM duckdb_tables() WHERE schema_name = {} AND table_name = {}) AS deleted_share\nFROM (SELECT row_group_id, sum(\"count\") AS row_count FROM pragma_storage_info({}) WHERE column_path = '[0]' GROUP BY row_group_id)",
            string_literal(database),
            string_literal(table),
            string_literal(&format!("{database}.{table}"))
        ))
    }
}

/// Athena (engine v3, Trino) on Iceberg. The history table is created with a
/// `CREATE TABLE ... AS ... WITH NO DATA` (Trino SQL, so its types are Trino's:
/// `timestamp(6)`, `varchar`); the change log is an external Parquet table
/// `<table>_changes` over the table's validated prefix (every batch's folder).
#[derive(Debug, Clone, Default)]
pub struct Athena {
    /// `s3://bucket/prefix` of the lake.
    pub lake_uri: String,
    /// The Iceberg properties a history table is created with.
    pub maintenance: MaintenanceConfig,
}

impl Athena {
    /// `<table>_changes`, and `<table>_changes_g<n>` for a rebuild's generation n.
    fn change_log_name(meta: &TableMetadata, generation: u32) -> String {
        match generation {
            0 => format!("{}_changes", meta.name),
            n => format!("{}_changes_g{n}", meta.name),
        }
    }

    fn location(&self, area: &str, database: &str, folder: &str) -> String {
        string_literal(&format!(
            "{}/{area}/{database}/{folder}/",
            self.lake_uri.trim_end_matches('/')
        ))
    }

    /// Hive DDL's name for a type. `iceberg`: the Iceberg table's type, which
    /// has no 8- or 16-bit integers; otherwise the type the Parquet files of
    /// the change log hold.
    fn hive_type(ty: ColumnType, iceberg: bool) -> String {
        match ty {
            ColumnType::Int8 if !iceberg => "tinyint".into(),
            ColumnType::Int16 | ColumnType::UInt8 if !iceberg => "smallint".into(),
            ColumnType::Int8
            | ColumnType::Int16
            | ColumnType::Int32
            | ColumnType::UInt8
            | ColumnType::UInt16 => "int".into(),
            ColumnType::Int64 | ColumnType::UInt32 => "bigint".into(),
            ColumnType::UInt64 => "decimal(20,0)".into(),
            ColumnType::Float32 => "float".into(),
            ColumnType::Float64 => "double".into(),
            ColumnType::Decimal128 { precision, scale } => format!("decimal({precision},{scale})"),
            ColumnType::String | ColumnType::LargeString => "string".into(),
            ColumnType::Binary => "binary".into(),
            ColumnType::Date32 => "date".into(),
            ColumnType::Timestamp(_) => "timestamp".into(),
            ColumnType::Bool => "boolean".into(),
        }
    }

    /// The change log's rows whose batch number is `condition`: its
    /// columns (not the partition key), from the partitions it names.
    fn log_where(
        &self,
        database: &str,
        meta: &TableMetadata,
        generation: u32,
        condition: &str,
    ) -> String {
        let columns: Vec<String> = meta
            .columns
            .iter()
            .map(|c| c.name.as_str())
            .chain(CHANGE_LOG_CONTROL_COLUMNS)
            .map(quote_ident)
            .collect();
        format!(
            "(SELECT {} FROM {} WHERE {} {condition})",
            columns.join(", "),
            self.change_log(database, meta, generation),
            quote_ident(CHANGE_LOG_PARTITION)
        )
    }

    /// The change log's columns in Hive DDL: business columns, then the
    /// control columns validation writes.
    fn change_log_columns(meta: &TableMetadata, row_hash: RowHashFormat) -> Vec<(String, String)> {
        meta.columns
            .iter()
            .map(|c| (c.name.clone(), Self::hive_type(c.column_type, false)))
            .chain(CHANGE_LOG_CONTROL_COLUMNS.iter().map(|n| {
                let ty = match *n {
                    "valid_from" => "timestamp",
                    "row_hash" if row_hash.is_bigint() => "bigint",
                    _ => "string",
                };
                (n.to_string(), ty.to_string())
            }))
            .collect()
    }

    /// The change log: an external Parquet table over the generation's
    /// batch folders, partitioned by batch number with partition
    /// projection, so that a query naming batches reads only theirs and
    /// no partition is ever added.
    fn create_change_log(
        &self,
        database: &str,
        meta: &TableMetadata,
        generation: u32,
        row_hash: RowHashFormat,
    ) -> Statement {
        let location = format!(
            "{}/{}",
            self.lake_uri.trim_end_matches('/'),
            change_log_prefix(database, &meta.name, generation)
        );
        let cols: Vec<String> = Self::change_log_columns(meta, row_hash)
            .iter()
            .map(|(n, t)| format!("  {} {t}", hive_ident(n)))
            .collect();
        let p = CHANGE_LOG_PARTITION;
        Statement::hive(format!(
            "CREATE EXTERNAL TABLE IF NOT EXISTS {}.{} (\n{}\n)\nPARTITIONED BY ({} bigint)\nSTORED AS PARQUET\nLOCATION {}\nTBLPROPERTIES (\n  'projection.enabled' = 'true',\n  'projection.{p}.type' = 'integer',\n  'projection.{p}.range' = '1,9999999',\n  'projection.{p}.digits' = '6',\n  'storage.location.template' = {}\n)",
            hive_ident(database),
            hive_ident(&Self::change_log_name(meta, generation)),
            cols.join(",\n"),
            hive_ident(p),
            string_literal(&location),
            string_literal(&format!("{location}b${{{p}}}/")),
        ))
    }

    fn hive_add_columns(database: &str, table: &str, columns: &[(String, String)]) -> Statement {
        let cols: Vec<String> = columns
            .iter()
            .map(|(n, t)| format!("{} {t}", hive_ident(n)))
            .collect();
        Statement::hive(format!(
            "ALTER TABLE {}.{} ADD COLUMNS ({})",
            hive_ident(database),
            hive_ident(table),
            cols.join(", ")
        ))
    }
}

impl Dialect for Athena {
    fn name(&self) -> &'static str {
        "athena"
    }
    fn column_type(&self, ty: ColumnType) -> String {
        match ty {
            ColumnType::Bool => "boolean".into(),
            // Iceberg has no 8/16-bit or unsigned integers.
            ColumnType::Int8
            | ColumnType::Int16
            | ColumnType::Int32
            | ColumnType::UInt8
            | ColumnType::UInt16 => "integer".into(),
            ColumnType::Int64 | ColumnType::UInt32 => "bigint".into(),
            ColumnType::UInt64 => "decimal(20,0)".into(),
            ColumnType::Float32 => "real".into(),
            ColumnType::Float64 => "double".into(),
            ColumnType::Decimal128 { precision, scale } => format!("decimal({precision},{scale})"),
            ColumnType::String | ColumnType::LargeString => "varchar".into(),
            ColumnType::Binary => "varbinary".into(),
            ColumnType::Date32 => "date".into(),
            ColumnType::Timestamp(_) => "timestamp(6)".into(),
        }
    }
    fn timestamp_type(&self) -> &'static str {
        "timestamp(6)"
    }
    fn string_type(&self) -> &'static str {
        "varchar"
    }
    /// The Glue database is infrastructure (Terraform creates it).
    fn create_schema(&self, _database: &str) -> Option<Statement> {
        None
    }
    fn create_table(
        &self,
        database: &str,
        table: &str,
        folder: &str,
        columns: &[HistoryColumn],
    ) -> Statement {
        let cols: Vec<String> = columns
            .iter()
            .map(|c| {
                format!(
                    "  CAST(NULL AS {}) AS {}",
                    c.engine_type,
                    quote_ident(&c.name)
                )
            })
            .collect();
        Statement::sql(format!(
            "CREATE TABLE {}.{}\nWITH (table_type = 'ICEBERG', is_external = false, location = {}, format = 'PARQUET', write_compression = 'ZSTD', partitioning = ARRAY['month(valid_to)'],\n      vacuum_max_snapshot_age_seconds = {}, vacuum_min_snapshots_to_keep = {}, optimize_rewrite_delete_file_threshold = {}, write_target_data_file_size_bytes = {})\nAS SELECT\n{}\nWITH NO DATA",
            quote_ident(database),
            quote_ident(table),
            self.location("history", database, folder),
            u64::from(self.maintenance.snapshot_retention_days) * 86_400,
            self.maintenance.min_snapshots,
            self.maintenance.delete_file_threshold,
            u64::from(self.maintenance.target_file_mb) << 20,
            cols.join(",\n")
        ))
    }
    fn add_columns(&self, database: &str, table: &str, columns: &[&Column]) -> Vec<Statement> {
        let cols: Vec<(String, String)> = columns
            .iter()
            .map(|c| (c.name.clone(), Self::hive_type(c.column_type, true)))
            .collect();
        vec![Self::hive_add_columns(database, table, &cols)]
    }
    fn change_log(&self, database: &str, meta: &TableMetadata, generation: u32) -> String {
        format!(
            "{}.{}",
            quote_ident(database),
            quote_ident(&Self::change_log_name(meta, generation))
        )
    }
    /// Only the batches' partitions (partition projection: no listing).
    fn change_log_of(
        &self,
        database: &str,
        meta: &TableMetadata,
        generation: u32,
        batches: &[BatchId],
    ) -> String {
        let numbers: Vec<String> = batches.iter().map(|b| b.number().to_string()).collect();
        self.log_where(
            database,
            meta,
            generation,
            &format!("IN ({})", numbers.join(", ")),
        )
    }
    fn change_log_through(
        &self,
        database: &str,
        meta: &TableMetadata,
        generation: u32,
        last: BatchId,
    ) -> String {
        self.log_where(
            database,
            meta,
            generation,
            &format!("BETWEEN 1 AND {}", last.number()),
        )
    }
    fn change_log_table(&self, meta: &TableMetadata, generation: u32) -> Option<String> {
        Some(Self::change_log_name(meta, generation))
    }
    /// Compaction (data files near the target size, delete files merged in)
    /// then snapshot expiry and orphan removal, by the table's properties.
    fn maintenance(&self, database: &str, table: &str, _keys: &[String]) -> Vec<Statement> {
        // VACUUM takes Hive-style names: the database bare, the table in
        // backticks (needed when it starts with `_`); double quotes fail.
        [
            format!(
                "OPTIMIZE {}.{} REWRITE DATA USING BIN_PACK",
                quote_ident(database),
                quote_ident(table)
            ),
            format!("VACUUM {database}.{}", hive_ident(table)),
        ]
        .into_iter()
        .map(|sql| Statement {
            grammar: Grammar::AthenaMaintenance,
            sql,
        })
        .collect()
    }
    /// From the Iceberg `$files` metadata table: a data file under three
    /// quarters of the target size is small (OPTIMIZE's own default bound);
    /// delete files (position or equality) per data file.
    fn file_layout(&self, database: &str, table: &str) -> Statement {
        let small = (u64::from(self.maintenance.target_file_mb) << 20) / 4 * 3;
        Statement::sql(format!(
            "SELECT count_if(\"content\" = 0) AS data_files,\n       count_if(\"content\" = 0 AND \"file_size_in_bytes\" < {small}) AS small_files,\n       CAST(count_if(\"content\" <> 0) AS DOUBLE) / greatest(count_if(\"content\" = 0), 1) AS deleted_share\nFROM {}.{}",
            quote_ident(database),
            quote_ident(&format!("{table}$files"))
        ))
    }
    /// `DROP TABLE` is Hive DDL on Athena; on an Iceberg table it removes the data too.
    fn drop_table(&self, database: &str, table: &str) -> Statement {
        Statement::hive(format!(
            "DROP TABLE IF EXISTS {}.{}",
            hive_ident(database),
            hive_ident(table)
        ))
    }
    fn change_log_ddl(
        &self,
        database: &str,
        meta: &TableMetadata,
        generation: u32,
        row_hash: RowHashFormat,
        existing: Option<&[String]>,
    ) -> Vec<Statement> {
        let table = Self::change_log_name(meta, generation);
        let columns = Self::change_log_columns(meta, row_hash);
        let partitioned = |existing: &[String]| existing.iter().any(|e| e == CHANGE_LOG_PARTITION);
        match existing {
            // Created before the log was partitioned: an external table is
            // only its definition, so it is defined again (the files stay).
            Some(existing) if !partitioned(existing) => vec![
                Statement::hive(format!(
                    "DROP TABLE IF EXISTS {}.{}",
                    hive_ident(database),
                    hive_ident(&table)
                )),
                self.create_change_log(database, meta, generation, row_hash),
            ],
            None => vec![self.create_change_log(database, meta, generation, row_hash)],
            Some(existing) => {
                let missing: Vec<(String, String)> = columns
                    .into_iter()
                    .filter(|(n, _)| !existing.iter().any(|e| e.eq_ignore_ascii_case(n)))
                    .collect();
                if missing.is_empty() {
                    Vec::new()
                } else {
                    vec![Self::hive_add_columns(database, &table, &missing)]
                }
            }
        }
    }
}
