//! Metadata documents kept in an object store (`<table>.json` under a prefix):
//! the metadata store `extract-metadata` reads when the source's own catalog
//! is not where the schema comes from (on AWS: a prefix of S3).

use super::TableMetadata;
use crate::error::{ErrorKind, SourceError, StoreError};
use crate::ports::{MetadataSource, ObjectStore};
use async_trait::async_trait;
use std::sync::Arc;

pub struct StoreMetadataSource {
    pub store: Arc<dyn ObjectStore>,
}

#[async_trait]
impl MetadataSource for StoreMetadataSource {
    async fn read(&self, table: &str) -> Result<TableMetadata, SourceError> {
        let key = format!("{table}.json");
        let uri = self.store.uri(&key);
        let bytes = match self.store.get(&key).await {
            Ok((bytes, _)) => bytes,
            Err(StoreError::NotFound { .. }) => {
                return Err(SourceError::NotFound {
                    table: table.to_string(),
                    message: format!("{uri} does not exist"),
                });
            }
            Err(e) => return Err(e.into()),
        };
        let text = std::str::from_utf8(&bytes).map_err(|_| SourceError::Unreadable {
            message: format!("{uri} is not UTF-8"),
            kind: ErrorKind::InvalidInput,
        })?;
        Ok(TableMetadata::from_json(&uri, text)?)
    }
}
