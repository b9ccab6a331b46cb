//! A real PostgreSQL source, locally: metadata from its catalog
//! ([`PgMetadata`], shared with the Lambda in `tidemark-postgres`) and replication through logical decoding into the DMS S3
//! layout ([`PgReplicator`]). See `docs/postgres.md`.

mod replicator;
mod text;

pub use replicator::{PgReplicator, STATE_KEY};
pub use tidemark_postgres::{
    PgError, PgMetadata, PgSource, SslMode, arrow_type_name, connect, query_err, redact,
};

/// The replication slot of a pipeline (`database` is the config's history
/// database) on the source database in `url`: slot names are cluster-wide.
pub fn slot_name(url: &str, database: &str) -> String {
    let path = url.split(['?', '#']).next().unwrap_or_default();
    let source_db = path
        .split_once("://")
        .map(|(_, rest)| rest)
        .and_then(|rest| rest.split_once('/'))
        .map(|(_, db)| db)
        .unwrap_or_default();
    let raw = format!("tidemark_{source_db}_{database}");
    let mut name: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    name.truncate(63);
    name
}

/// Decoded rows read per chunk (`TIDEMARK_PG_CHUNK_CHANGES`, default 10000):
/// the slot is confirmed after each chunk's files are written.
pub fn chunk_changes() -> u32 {
    std::env::var("TIDEMARK_PG_CHUNK_CHANGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(10_000)
}

/// `'text'` as a SQL literal.
pub(crate) fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// `name` as a quoted SQL identifier.
pub(crate) fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_names_are_per_source_database_and_pipeline() {
        assert_eq!(
            slot_name("postgres://u:p@h:5432/Shop-1?sslmode=disable", "demo"),
            "tidemark_shop_1_demo"
        );
        assert_eq!(slot_name("postgres://h", "demo"), "tidemark__demo");
    }

    #[test]
    fn quoting() {
        assert_eq!(literal("it's"), "'it''s'");
        assert_eq!(ident("a\"b"), "\"a\"\"b\"");
    }
}
