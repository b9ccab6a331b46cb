//! The source database's catalog as `extract-metadata`'s metadata source on
//! AWS: the function connects from inside the VPC with the user and password
//! of the Secrets Manager secret DMS uses, over TLS as `ssl_mode` says, and
//! reads the catalog with the same code as the local CLI (`tidemark-postgres`).
//! The secret is read on every run, so a rotated password is picked up.

use crate::error::{describe, is_code, is_transient};
use async_trait::async_trait;
use aws_sdk_secretsmanager::Client;
use tidemark_core::error::{ErrorKind, SourceError};
use tidemark_core::metadata::TableMetadata;
use tidemark_core::ports::{DdlLog, MetadataSource};
use tidemark_postgres::{PgMetadata, PgSource, SslMode};

/// Where the source database is (the function's `TIDEMARK_SOURCE_*`).
#[derive(Debug, Clone, PartialEq)]
pub struct SourceDatabase {
    pub host: String,
    pub port: u16,
    pub database: String,
    pub secret_arn: String,
    pub ssl_mode: SslMode,
    /// The CAs that may sign the server's certificate (PEM), and where they
    /// were read from.
    pub ca_bundle: Option<(String, Vec<u8>)>,
}

/// The DMS source engines whose catalog tidemark reads.
pub const CATALOG_ENGINES: &[&str] = &["postgres", "aurora-postgresql"];

pub struct CatalogMetadata {
    pub secrets: Client,
    pub database: SourceDatabase,
    pub schema: String,
}

impl CatalogMetadata {
    /// The user and password of the secret (DMS's keys: `username`, `password`).
    async fn credentials(&self) -> Result<(String, String), SourceError> {
        let arn = &self.database.secret_arn;
        let unreadable = |message: String, kind| SourceError::Unreadable { message, kind };
        let out = self
            .secrets
            .get_secret_value()
            .secret_id(arn)
            .send()
            .await
            .map_err(|e| {
                let kind = if is_code(&e, &["ResourceNotFoundException"]) {
                    ErrorKind::NotFound
                } else if is_transient(&e) {
                    ErrorKind::Transient
                } else {
                    ErrorKind::InvalidInput
                };
                unreadable(
                    format!(
                        "the source's secret {arn} (TIDEMARK_SOURCE_SECRET_ARN) cannot be read: {}",
                        describe(&e)
                    ),
                    kind,
                )
            })?;
        let invalid = |what: &str| {
            unreadable(
                format!(
                    "the source's secret {arn} {what}: it must be the JSON DMS reads, with \"username\" and \"password\""
                ),
                ErrorKind::InvalidInput,
            )
        };
        let value: serde_json::Value = serde_json::from_str(
            out.secret_string()
                .ok_or_else(|| invalid("has no text value"))?,
        )
        .map_err(|_| invalid("is not JSON"))?;
        let field = |name: &str| {
            value[name]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| invalid(&format!("has no \"{name}\"")))
        };
        Ok((field("username")?, field("password")?))
    }

    /// The catalog reader, with the secret's user and password.
    async fn reader(&self) -> Result<PgMetadata, SourceError> {
        let (user, password) = self.credentials().await?;
        let db = &self.database;
        let mut source = PgSource::new(
            &db.host,
            db.port,
            &db.database,
            &user,
            &password,
            db.ssl_mode,
        )
        .with_unreachable_hint(
            "check TIDEMARK_SOURCE_HOST and _PORT, and that the source's security group admits extract-metadata's",
        );
        if let Some((origin, pem)) = &db.ca_bundle {
            source = source.with_ca_bundle(origin.clone(), pem.clone());
        }
        Ok(PgMetadata {
            source,
            schema: self.schema.clone(),
        })
    }
}

#[async_trait]
impl MetadataSource for CatalogMetadata {
    async fn read(&self, table: &str) -> Result<TableMetadata, SourceError> {
        self.reader().await?.read(table).await
    }

    async fn read_with_storage(
        &self,
        table: &str,
    ) -> Result<(TableMetadata, Option<String>), SourceError> {
        self.reader().await?.read_with_storage(table).await
    }

    async fn ddl_log(&self, after: i64) -> Result<Option<DdlLog>, SourceError> {
        self.reader().await?.ddl_log(after).await
    }
}
