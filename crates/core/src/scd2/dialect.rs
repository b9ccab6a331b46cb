//! The two SQL dialects. Everything engine-specific is here; the plan is shared.

use crate::metadata::{ColumnType, TableMetadata};

/// Quotes an identifier (already checked against [`crate::metadata::check_identifier`]).
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A string literal with quotes doubled; the only way a value enters SQL.
pub fn string_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// What differs between Athena (Trino on Iceberg) and DuckDB.
pub trait Dialect: Send + Sync {
    fn name(&self) -> &'static str;
    /// The engine's type for a metadata column type.
    fn column_type(&self, ty: ColumnType) -> String;
    fn timestamp_type(&self) -> &'static str;
    fn string_type(&self) -> &'static str;
    /// `CREATE SCHEMA` for the history database.
    fn create_schema(&self, database: &str) -> String;
    /// The history table's DDL, given its column definitions.
    fn create_table(&self, database: &str, table: &str, columns: &[(String, String)]) -> String;
    /// A relation over every normalised (validated) file of the table: its change log.
    fn change_log(&self, database: &str, meta: &TableMetadata) -> String;
    /// `ALTER TABLE ... ADD COLUMN` for additive drift.
    fn add_column(&self, database: &str, table: &str, column: &str, ty: &str) -> String;
    /// A clause that makes the MERGE return one `merge_action` row per changed
    /// row (`INSERT`, `UPDATE`, `DELETE`), where the engine has one.
    fn merge_returning(&self) -> Option<&'static str> {
        None
    }
}

/// DuckDB over a folder: the change log is `read_parquet` over the lake's files.
#[derive(Debug, Clone)]
pub struct DuckDb {
    /// Filesystem path of the lake's `validated/` root, as the engine sees it.
    pub lake_root: String,
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
    fn create_schema(&self, database: &str) -> String {
        format!("CREATE SCHEMA IF NOT EXISTS {}", quote_ident(database))
    }
    fn create_table(&self, database: &str, table: &str, columns: &[(String, String)]) -> String {
        let cols: Vec<String> = columns
            .iter()
            .map(|(n, t)| format!("  {} {t}", quote_ident(n)))
            .collect();
        format!(
            "CREATE TABLE IF NOT EXISTS {}.{} (\n{}\n)",
            quote_ident(database),
            quote_ident(table),
            cols.join(",\n")
        )
    }
    fn change_log(&self, database: &str, meta: &TableMetadata) -> String {
        let glob = format!(
            "{}/validated/{database}/{}/*/*.parquet",
            self.lake_root.trim_end_matches('/'),
            meta.name
        );
        format!(
            "read_parquet({}, union_by_name = true)",
            string_literal(&glob)
        )
    }
    fn add_column(&self, database: &str, table: &str, column: &str, ty: &str) -> String {
        format!(
            "ALTER TABLE {}.{} ADD COLUMN IF NOT EXISTS {} {ty}",
            quote_ident(database),
            quote_ident(table),
            quote_ident(column)
        )
    }
    fn merge_returning(&self) -> Option<&'static str> {
        Some("RETURNING merge_action")
    }
}

/// Athena (engine v3, Trino) on Iceberg, with the change log as an external
/// Parquet table `<table>_changes` over the validated prefix.
#[derive(Debug, Clone)]
pub struct Athena {
    /// `s3://bucket/prefix` of the lake.
    pub lake_uri: String,
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
        }
    }
    fn timestamp_type(&self) -> &'static str {
        "timestamp"
    }
    fn string_type(&self) -> &'static str {
        "string"
    }
    fn create_schema(&self, database: &str) -> String {
        format!("CREATE DATABASE IF NOT EXISTS `{database}`")
    }
    fn create_table(&self, database: &str, table: &str, columns: &[(String, String)]) -> String {
        let cols: Vec<String> = columns
            .iter()
            .map(|(n, t)| format!("  `{n}` {t}"))
            .collect();
        format!(
            "CREATE TABLE IF NOT EXISTS `{database}`.`{table}` (\n{}\n)\nLOCATION {}\nTBLPROPERTIES ('table_type' = 'ICEBERG', 'format' = 'parquet', 'write_compression' = 'zstd')",
            cols.join(",\n"),
            string_literal(&format!(
                "{}/history/{database}/{table}/",
                self.lake_uri.trim_end_matches('/')
            ))
        )
    }
    fn change_log(&self, database: &str, meta: &TableMetadata) -> String {
        format!(
            "{}.{}",
            quote_ident(database),
            quote_ident(&format!("{}_changes", meta.name))
        )
    }
    fn add_column(&self, database: &str, table: &str, column: &str, ty: &str) -> String {
        format!("ALTER TABLE `{database}`.`{table}` ADD COLUMNS (`{column}` {ty})")
    }
}
