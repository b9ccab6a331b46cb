//! A table's metadata read from the source's catalog: columns in order, their
//! types as Arrow names, nullability, the primary key, and the comments as
//! descriptions.

use super::{PgError, PgSource, query_err};
use async_trait::async_trait;
use serde_json::Map;
use tidemark_core::error::SourceError;
use tidemark_core::metadata::{Column, ColumnType, Constraints, TableMetadata};
use tidemark_core::ports::{DdlLog, MetadataSource};

/// Reads `<schema>.<table>` from a PostgreSQL database's catalog.
pub struct PgMetadata {
    pub source: PgSource,
    pub schema: String,
}

/// One column as the catalog describes it.
pub struct PgColumn {
    pub name: String,
    /// `format_type` spelling (`numeric(10,2)`, `timestamp with time zone`), domains resolved.
    pub pg_type: String,
    pub not_null: bool,
    pub description: String,
}

/// The columns of `<schema>.<table>`, in order, and the table's comment;
/// `None` when there is no such table.
pub async fn read_columns<C: tokio_postgres::GenericClient>(
    client: &C,
    schema: &str,
    table: &str,
) -> Result<Option<(Vec<PgColumn>, String)>, PgError> {
    let what = || format!("reading the columns of {schema}.{table}");
    let table_row = client
        .query_opt(
            "SELECT c.oid, coalesce(obj_description(c.oid, 'pg_class'), '')
               FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')",
            &[&schema, &table],
        )
        .await
        .map_err(query_err(what()))?;
    let Some(table_row) = table_row else {
        return Ok(None);
    };
    let oid: u32 = table_row.get(0);
    let comment: String = table_row.get(1);
    let rows = client
        .query(
            "SELECT a.attname::text,
                    CASE WHEN t.typtype = 'd'
                         THEN format_type(t.typbasetype, t.typtypmod)
                         ELSE format_type(a.atttypid, a.atttypmod) END,
                    a.attnotnull OR (t.typtype = 'd' AND t.typnotnull),
                    coalesce(col_description(a.attrelid, a.attnum), '')
               FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
              WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
              ORDER BY a.attnum",
            &[&oid],
        )
        .await
        .map_err(query_err(what()))?;
    let columns = rows
        .iter()
        .map(|r| PgColumn {
            name: r.get(0),
            pg_type: r.get(1),
            not_null: r.get(2),
            description: r.get(3),
        })
        .collect();
    Ok(Some((columns, comment)))
}

/// The primary key's columns, in key order. From `pg_index`, not
/// `information_schema`, whose constraint views hide the keys of tables the
/// user may only SELECT from (as a replication user may).
async fn primary_key(
    client: &tokio_postgres::Client,
    schema: &str,
    table: &str,
) -> Result<Vec<String>, PgError> {
    let rows = client
        .query(
            "SELECT a.attname::text
               FROM pg_index i
               JOIN pg_class c ON c.oid = i.indrelid
               JOIN pg_namespace n ON n.oid = c.relnamespace
               CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, position)
               JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
              WHERE i.indisprimary AND n.nspname = $1 AND c.relname = $2
              ORDER BY k.position",
            &[&schema, &table],
        )
        .await
        .map_err(query_err(format!(
            "reading the primary key of {schema}.{table}"
        )))?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// The Arrow type name a PostgreSQL type (as `format_type` spells it) is
/// landed and validated as. Types without an exact Arrow counterpart
/// (unconstrained `numeric`, `time`, `interval`, `uuid`, `json`, arrays,
/// enums, `bytea` as `\x` hex text) are strings.
pub fn arrow_type_name(pg_type: &str) -> ColumnType {
    let t = pg_type.trim();
    match t {
        "smallint" => return ColumnType::Int16,
        "integer" => return ColumnType::Int32,
        "bigint" => return ColumnType::Int64,
        "real" => return ColumnType::Float32,
        "double precision" => return ColumnType::Float64,
        "boolean" => return ColumnType::Bool,
        "date" => return ColumnType::Date32,
        _ => {}
    }
    if t.ends_with("[]") {
        return ColumnType::String;
    }
    if t.starts_with("timestamp") {
        return ColumnType::Timestamp(arrow::datatypes::TimeUnit::Microsecond);
    }
    if let Some(args) = t.strip_prefix("numeric(").and_then(|r| r.strip_suffix(')')) {
        let parsed = args
            .split_once(',')
            .and_then(|(p, s)| Some((p.trim().parse::<u8>().ok()?, s.trim().parse::<i8>().ok()?)));
        if let Some((precision @ 1..=38, scale)) = parsed
            && scale >= 0
            && scale as u8 <= precision
        {
            return ColumnType::Decimal128 { precision, scale };
        }
    }
    ColumnType::String
}

/// The tables (and partitioned tables) of `schema`, by name.
async fn table_names(
    client: &tokio_postgres::Client,
    schema: &str,
) -> Result<Vec<String>, PgError> {
    let rows = client
        .query(
            "SELECT c.relname::text
               FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition
              ORDER BY 1",
            &[&schema],
        )
        .await
        .map_err(query_err(format!("listing the tables of {schema}")))?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

impl PgMetadata {
    async fn read_table(
        &self,
        client: &tokio_postgres::Client,
        table: &str,
    ) -> Result<TableMetadata, SourceError> {
        let Some((columns, comment)) = read_columns(client, &self.schema, table).await? else {
            let names = table_names(client, &self.schema).await?;
            let listed = if names.is_empty() {
                format!("{} has no tables", self.schema)
            } else {
                format!("its tables: {}", names.join(", "))
            };
            return Err(SourceError::NotFound {
                table: table.to_string(),
                message: format!(
                    "the source {} has no table {}.{table} ({listed}): check [[tables]] and [source] schema; \
                     if it was dropped, remove it from [[tables]], or once it is back, \
                     reload it (`--mode reload --tables {table}`): history still holds its rows",
                    self.source.at(),
                    self.schema
                ),
            });
        };
        let primary_key = primary_key(client, &self.schema, table).await?;
        let meta = TableMetadata {
            name: table.to_string(),
            description: comment,
            primary_key,
            partitions: Vec::new(),
            columns: columns
                .into_iter()
                .map(|c| Column {
                    column_type: arrow_type_name(&c.pg_type),
                    name: c.name,
                    nullable: !c.not_null,
                    description: c.description,
                    constraints: Constraints::default(),
                    extra: Map::new(),
                })
                .collect(),
            extra: Map::new(),
        };
        // The same checks as a metadata file gets (identifiers, a key, ...).
        let origin = format!("source table {}.{table}", self.schema);
        Ok(TableMetadata::from_json(&origin, &meta.to_json())?)
    }
}

#[async_trait]
impl MetadataSource for PgMetadata {
    async fn read(&self, table: &str) -> Result<TableMetadata, SourceError> {
        self.read_table(&self.source.connect().await?, table).await
    }

    /// The storage is the table's oid and its file node: `TRUNCATE`,
    /// `VACUUM FULL`, `CLUSTER` and rewriting `ALTER`s give it a new file
    /// node; a table dropped and re-created has a new oid. One connection.
    async fn read_with_storage(
        &self,
        table: &str,
    ) -> Result<(TableMetadata, Option<String>), SourceError> {
        let client = self.source.connect().await?;
        let meta = self.read_table(&client, table).await?;
        let row = client
            .query_opt(
                "SELECT c.oid::text || '/' || coalesce(pg_relation_filenode(c.oid)::text, '')
                   FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')",
                &[&self.schema, &table],
            )
            .await
            .map_err(query_err(format!(
                "reading the storage of {}.{table}",
                self.schema
            )))?;
        Ok((meta, row.map(|r| r.get(0))))
    }

    /// DMS's DDL log: with `CaptureDdls` (its default) DMS keeps an event
    /// trigger on the source that writes each DDL statement to
    /// `awsdms_ddl_audit`, in the endpoint's `DdlArtifactsSchema` (`public`
    /// unless set). A source without that table keeps no log.
    async fn ddl_log(&self, after: i64) -> Result<Option<DdlLog>, SourceError> {
        let client = self.source.connect().await?;
        let found = client
            .query_opt(
                "SELECT quote_ident(n.nspname)
                   FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE c.relname = 'awsdms_ddl_audit' AND c.relkind IN ('r', 'p')
                  ORDER BY n.nspname = $1 DESC, n.nspname = 'public' DESC
                  LIMIT 1",
                &[&self.schema],
            )
            .await
            .map_err(query_err("looking for DMS's DDL log (awsdms_ddl_audit)"))?;
        let Some(found) = found else {
            return Ok(None);
        };
        let audit = format!("{}.awsdms_ddl_audit", found.get::<_, String>(0));
        // The position first: an entry written meanwhile is found next time.
        let position: i64 = client
            .query_one(
                &format!("SELECT coalesce(max(c_key), 0)::bigint FROM {audit}"),
                &[],
            )
            .await
            .map_err(query_err(format!("reading {audit}")))?
            .get(0);
        let rows = client
            .query(
                &format!(
                    "SELECT c_name::text, max(c_key)::bigint FROM {audit}
                      WHERE c_schema = $1 AND c_key > $2 AND c_key <= $3 AND c_name IS NOT NULL
                      GROUP BY c_name"
                ),
                &[&self.schema, &after, &position],
            )
            .await
            .map_err(query_err(format!("reading {audit}")))?;
        Ok(Some(DdlLog {
            position,
            tables: rows.iter().map(|r| (r.get(0), r.get(1))).collect(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_types_as_arrow_names() {
        for (pg, arrow) in [
            ("smallint", "int16"),
            ("integer", "int32"),
            ("bigint", "int64"),
            ("real", "float32"),
            ("double precision", "float64"),
            ("boolean", "bool"),
            ("date", "date32"),
            ("numeric(12,2)", "decimal128(12,2)"),
            ("numeric(38,0)", "decimal128(38,0)"),
            ("numeric", "string"),
            ("numeric(60,2)", "string"),
            ("timestamp without time zone", "timestamp(us)"),
            ("timestamp(3) with time zone", "timestamp(us)"),
            ("character varying(20)", "string"),
            ("text", "string"),
            ("uuid", "string"),
            ("integer[]", "string"),
            ("bytea", "string"),
        ] {
            assert_eq!(arrow_type_name(pg).to_string(), arrow, "{pg}");
        }
    }
}
