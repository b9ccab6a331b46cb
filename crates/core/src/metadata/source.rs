//! Metadata documents kept in an object store (`<table>.json` under a prefix):
//! the metadata store `extract-metadata` reads when the source's own catalog
//! is not where the schema comes from (on AWS: a prefix of S3).

use super::TableMetadata;
use crate::error::{Error, StoreError};
use crate::ports::{MetadataSource, ObjectStore};
use async_trait::async_trait;
use std::sync::Arc;

pub struct StoreMetadataSource {
    pub store: Arc<dyn ObjectStore>,
}

#[async_trait]
impl MetadataSource for StoreMetadataSource {
    async fn read(&self, table: &str) -> Result<TableMetadata, Error> {
        let key = format!("{table}.json");
        let uri = self.store.uri(&key);
        let bytes = match self.store.get(&key).await {
            Ok((bytes, _)) => bytes,
            Err(StoreError::NotFound { .. }) => {
                return Err(Error::InvalidInput(format!(
                    "metadata for {table}: {uri} does not exist"
                )));
            }
            Err(e) => return Err(e.into()),
        };
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| Error::InvalidInput(format!("metadata {uri} is not UTF-8")))?;
        Ok(TableMetadata::from_json(&uri, text)?)
    }
}
