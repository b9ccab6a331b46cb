//! A real PostgreSQL source, locally: metadata from its catalog
//! ([`PgMetadata`]) and replication through logical decoding into the DMS S3
//! layout ([`PgReplicator`]). See `docs/postgres.md`.

mod metadata;
mod replicator;
mod text;

pub use metadata::{PgMetadata, arrow_type_name};
pub use replicator::{PgReplicator, STATE_KEY};

use tidemark_core::error::{ErrorKind, ReplicationError, SourceError};
use tokio_postgres::{Client, NoTls};

/// What went wrong talking to the source database.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    #[error(
        "cannot connect to PostgreSQL at {url}: {source} (is it running? `make pg` starts one)"
    )]
    Connect {
        url: String,
        #[source]
        source: tokio_postgres::Error,
    },
    #[error("PostgreSQL: {what}: {}", db_message(.source))]
    Query {
        what: String,
        #[source]
        source: tokio_postgres::Error,
    },
    #[error("PostgreSQL: {0}")]
    Setup(String),
    #[error("logical decoding output: {0}")]
    Decode(String),
}

/// The source cannot be read: a person must look (its message says what to
/// do: start the server, fix the URL, grant the rights).
impl From<PgError> for ReplicationError {
    fn from(e: PgError) -> ReplicationError {
        ReplicationError::Unhealthy(e.to_string())
    }
}

impl From<PgError> for SourceError {
    fn from(e: PgError) -> SourceError {
        SourceError::Unreadable {
            message: e.to_string(),
            kind: ErrorKind::Fatal,
        }
    }
}

/// The server's own message (and hint) rather than tokio-postgres' "db error".
fn db_message(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => match db.hint() {
            Some(hint) => format!("{} (hint: {hint})", db.message()),
            None => db.message().to_string(),
        },
        None => e.to_string(),
    }
}

pub(crate) fn query_err(what: impl Into<String>) -> impl FnOnce(tokio_postgres::Error) -> PgError {
    let what = what.into();
    move |source| PgError::Query { what, source }
}

/// The URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// Connects, with the session in UTC so timestamps print without an offset
/// we would have to interpret.
pub(crate) async fn connect(url: &str) -> Result<Client, PgError> {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .map_err(|source| PgError::Connect {
            url: redact(url),
            source,
        })?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "PostgreSQL connection closed");
        }
    });
    client
        .batch_execute("SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'iso_8601'; SET extra_float_digits = 3")
        .await
        .map_err(query_err("session settings"))?;
    Ok(client)
}

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
    fn passwords_never_reach_messages() {
        assert_eq!(
            redact("postgres://app:s3cret@db:5432/shop"),
            "postgres://app:***@db:5432/shop"
        );
        assert_eq!(
            redact("postgres://postgres@127.0.0.1:54329/postgres"),
            "postgres://postgres@127.0.0.1:54329/postgres"
        );
    }

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
