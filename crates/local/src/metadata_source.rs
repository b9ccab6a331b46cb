//! Table metadata read from a folder of mojap-metadata documents (`<table>.json`).

use async_trait::async_trait;
use std::path::PathBuf;
use tidemark_core::error::SourceError;
use tidemark_core::metadata::TableMetadata;
use tidemark_core::ports::MetadataSource;

pub struct MetadataDir {
    pub dir: PathBuf,
}

#[async_trait]
impl MetadataSource for MetadataDir {
    async fn read(&self, table: &str) -> Result<TableMetadata, SourceError> {
        let path = self.dir.join(format!("{table}.json"));
        let text = std::fs::read_to_string(&path).map_err(|e| SourceError::NotFound {
            table: table.to_string(),
            message: format!("cannot read {}: {e}", path.display()),
        })?;
        Ok(TableMetadata::from_json(
            &path.display().to_string(),
            &text,
        )?)
    }
}
