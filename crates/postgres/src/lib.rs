//! PostgreSQL as tidemark's source: one way to connect ([`PgSource`], TLS as
//! `sslmode` says, on rustls) and one reader of the catalog ([`PgMetadata`]),
//! shared by the local CLI (which also replicates from it) and the
//! `extract-metadata` Lambda. See `docs/postgres.md`.

mod metadata;
mod tls;

pub use metadata::{PgColumn, PgMetadata, arrow_type_name, read_columns};
pub use tls::SslMode;

use std::time::Duration;
use tidemark_core::error::{ErrorKind, ReplicationError, SourceError};
use tokio_postgres::Client;

/// What went wrong talking to the source database.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    #[error("cannot connect to PostgreSQL at {at}: {reason} ({hint})")]
    Connect {
        at: String,
        reason: String,
        hint: String,
        kind: ErrorKind,
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

impl PgError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            PgError::Connect { kind, .. } => *kind,
            _ => ErrorKind::Fatal,
        }
    }
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
            kind: e.kind(),
            message: e.to_string(),
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
        None => error_chain(e),
    }
}

/// `e` and its causes, `: `-separated.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let next = c.to_string();
        if !text.ends_with(&next) {
            text = format!("{text}: {next}");
        }
        cause = c.source();
    }
    text
}

pub fn query_err(what: impl Into<String>) -> impl FnOnce(tokio_postgres::Error) -> PgError {
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

/// Where and how to connect to a source database.
#[derive(Clone)]
pub struct PgSource {
    config: tokio_postgres::Config,
    ssl_mode: SslMode,
    /// The PEM bundle of the CAs that may sign the server's certificate,
    /// and where it came from (for messages).
    ca_bundle: Option<(String, Vec<u8>)>,
    /// Where, for messages: `host:port/database` (never the password).
    at: String,
    /// What to check when the server cannot be reached.
    unreachable_hint: String,
}

impl PgSource {
    /// From a `postgres://user:password@host:port/database?…` URL. Besides
    /// tokio-postgres' own parameters it takes libpq's `sslmode` (all six
    /// values) and `sslrootcert` (a PEM file of CAs).
    pub fn from_url(url: &str) -> Result<PgSource, PgError> {
        let invalid = |message: String| PgError::Setup(format!("{}: {message}", redact(url)));
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut ssl_mode = SslMode::Prefer;
        let mut ca_file = None;
        let mut rest = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("sslmode", value)) => ssl_mode = value.parse().map_err(invalid)?,
                Some(("sslrootcert", value)) => ca_file = Some(value.to_string()),
                _ => rest.push(pair),
            }
        }
        let plain = if rest.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", rest.join("&"))
        };
        let config: tokio_postgres::Config = plain
            .parse()
            .map_err(|e: tokio_postgres::Error| invalid(e.to_string()))?;
        let mut source = PgSource::with_config(config, ssl_mode);
        if let Some(file) = ca_file {
            let pem = std::fs::read(&file)
                .map_err(|e| invalid(format!("sslrootcert {file} cannot be read: {e}")))?;
            source = source.with_ca_bundle(file, pem);
        }
        Ok(source.with_unreachable_hint("is it running? `make pg` starts one"))
    }

    /// From its parts (on AWS: the function's variables and the secret DMS uses).
    pub fn new(
        host: &str,
        port: u16,
        database: &str,
        user: &str,
        password: &str,
        ssl_mode: SslMode,
    ) -> PgSource {
        let mut config = tokio_postgres::Config::new();
        config
            .host(host)
            .port(port)
            .dbname(database)
            .user(user)
            .password(password)
            .application_name("tidemark");
        PgSource::with_config(config, ssl_mode)
    }

    fn with_config(mut config: tokio_postgres::Config, ssl_mode: SslMode) -> PgSource {
        // A firewall that drops packets must not hold a Lambda until its timeout.
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        let hosts: Vec<String> = config
            .get_hosts()
            .iter()
            .map(|h| match h {
                tokio_postgres::config::Host::Tcp(name) => name.clone(),
                tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
            })
            .collect();
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let at = format!(
            "{}:{port}/{}",
            hosts.join(","),
            config.get_dbname().unwrap_or_default()
        );
        PgSource {
            config,
            ssl_mode,
            ca_bundle: None,
            at,
            unreachable_hint: "check the host, the port and that the network lets us reach it"
                .into(),
        }
    }

    /// The CAs (PEM) that may sign the server's certificate: required by
    /// `verify-ca` and `verify-full`.
    pub fn with_ca_bundle(mut self, origin: impl Into<String>, pem: Vec<u8>) -> PgSource {
        self.ca_bundle = Some((origin.into(), pem));
        self
    }

    /// What an unreachable server's message tells the reader to check.
    pub fn with_unreachable_hint(mut self, hint: impl Into<String>) -> PgSource {
        self.unreachable_hint = hint.into();
        self
    }

    /// `host:port/database`, for messages.
    pub fn at(&self) -> &str {
        &self.at
    }

    pub fn database(&self) -> &str {
        self.config.get_dbname().unwrap_or_default()
    }

    /// Connects, with the session in UTC so timestamps print without an
    /// offset we would have to interpret.
    pub async fn connect(&self) -> Result<Client, PgError> {
        let tls = tls::connector(self.ssl_mode, self.ca_bundle.as_ref()).map_err(|reason| {
            PgError::Connect {
                at: self.at.clone(),
                reason,
                hint: "check sslmode and the CA bundle".into(),
                kind: ErrorKind::InvalidInput,
            }
        })?;
        let mut config = self.config.clone();
        config.ssl_mode(self.ssl_mode.wire());
        let client = match tls {
            Some(tls) => config.connect(tls).await.map(spawn),
            None => config.connect(tokio_postgres::NoTls).await.map(spawn),
        }
        .map_err(|e| self.connect_error(&e))?;
        client
            .batch_execute("SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'iso_8601'; SET extra_float_digits = 3")
            .await
            .map_err(query_err("session settings"))?;
        Ok(client)
    }

    /// Names the cause (refused login, certificate, network) and what to check.
    fn connect_error(&self, e: &tokio_postgres::Error) -> PgError {
        let (kind, hint) = match e.code() {
            Some(code) if code.code().starts_with("28") => (
                ErrorKind::InvalidInput,
                format!(
                    "the server refused user {:?}: check the user and password",
                    self.config.get_user().unwrap_or_default()
                ),
            ),
            Some(code) if *code == tokio_postgres::error::SqlState::INVALID_CATALOG_NAME => {
                (ErrorKind::NotFound, "check the database name".to_string())
            }
            Some(_) => (ErrorKind::Fatal, "the server refused the connection".into()),
            None if tls::is_tls_error(e) => (
                ErrorKind::InvalidInput,
                format!(
                    "sslmode={}: the server's certificate must be signed by a CA in {} and name the host",
                    self.ssl_mode,
                    self.ca_bundle
                        .as_ref()
                        .map_or("the CA bundle", |(origin, _)| origin.as_str())
                ),
            ),
            None => (ErrorKind::Transient, self.unreachable_hint.clone()),
        };
        PgError::Connect {
            at: self.at.clone(),
            reason: db_message(e),
            hint,
            kind,
        }
    }
}

/// Drives the connection in the background; its end is logged, not fatal
/// (the next query reports it).
fn spawn<T>(
    (client, connection): (
        Client,
        tokio_postgres::Connection<tokio_postgres::Socket, T>,
    ),
) -> Client
where
    T: tokio_postgres::tls::TlsStream + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "PostgreSQL connection closed");
        }
    });
    client
}

/// Connects to the database a URL names (see [`PgSource::from_url`]).
pub async fn connect(url: &str) -> Result<Client, PgError> {
    PgSource::from_url(url)?.connect().await
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
        let source = PgSource::from_url("postgres://app:s3cret@db:5433/shop").unwrap();
        assert_eq!(source.at(), "db:5433/shop");
    }

    #[test]
    fn urls_take_libpq_ssl_modes() {
        let source =
            PgSource::from_url("postgres://u@h/db?sslmode=verify-full&application_name=x").unwrap();
        assert_eq!(source.ssl_mode, SslMode::VerifyFull);
        assert_eq!(source.database(), "db");
        assert_eq!(
            PgSource::from_url("postgres://u@h/db").unwrap().ssl_mode,
            SslMode::Prefer
        );
        let Err(e) = PgSource::from_url("postgres://u:pw@h/db?sslmode=sometimes") else {
            panic!("an unknown sslmode must be refused");
        };
        let message = e.to_string();
        assert!(
            message.contains("sometimes") && !message.contains("pw"),
            "{message}"
        );
        let Err(e) = PgSource::from_url("postgres://u@h/db?sslrootcert=/nowhere.pem") else {
            panic!("a missing CA file must be refused");
        };
        assert!(e.to_string().contains("/nowhere.pem"), "{e}");
    }
}
