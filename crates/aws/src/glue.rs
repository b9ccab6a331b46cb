//! The catalog port on Glue: descriptions of a history table and its
//! `_current` view. Athena creates both (the Iceberg CTAS in the merge, the
//! view's DDL in publish-catalog), so Glue already holds them, with
//! parameters Athena and Iceberg depend on (`metadata_location`,
//! `presto_view`, …). This adapter reads each entry and writes it back with
//! only the descriptions and tidemark's own parameters changed.

use crate::error::{describe, is_code};
use async_trait::async_trait;
use aws_sdk_glue::Client;
use aws_sdk_glue::types::{Column, StorageDescriptor, Table, TableInput};
use std::collections::HashMap;
use tidemark_core::error::Error;
use tidemark_core::ports::{Catalog, CatalogEntry};

pub struct GlueCatalog {
    client: Client,
}

impl GlueCatalog {
    pub fn new(client: Client) -> Self {
        GlueCatalog { client }
    }

    async fn describe_table(
        &self,
        database: &str,
        name: &str,
        description: &str,
        entry: &CatalogEntry,
    ) -> Result<(), Error> {
        let table = self
            .client
            .get_table()
            .database_name(database)
            .name(name)
            .send()
            .await
            .map_err(|e| {
                if is_code(&e, &["EntityNotFoundException"]) {
                    Error::Catalog(format!(
                        "{database}.{name} is not in the Glue catalog: the merge creates the history table and publish-catalog its view; rerun the table"
                    ))
                } else {
                    Error::Catalog(format!("Glue GetTable {database}.{name}: {}", describe(&e)))
                }
            })?
            .table
            .ok_or_else(|| Error::Catalog(format!("Glue returned no table for {database}.{name}")))?;
        let input = described(&table, description, entry)?;
        self.client
            .update_table()
            .database_name(database)
            .table_input(input)
            .send()
            .await
            .map_err(|e| {
                Error::Catalog(format!(
                    "Glue UpdateTable {database}.{name}: {}",
                    describe(&e)
                ))
            })?;
        Ok(())
    }
}

/// `table` as an update: the same entry, with the descriptions of `entry`.
pub fn described(
    table: &Table,
    description: &str,
    entry: &CatalogEntry,
) -> Result<TableInput, Error> {
    let comments: HashMap<String, &str> = entry
        .columns
        .iter()
        .map(|c| (c.name.to_ascii_lowercase(), c.description.as_str()))
        .collect();
    let comment = |c: &Column| -> Result<Column, Error> {
        let mut b = Column::builder()
            .name(c.name())
            .set_type(c.r#type().map(str::to_string))
            .set_parameters(c.parameters().cloned());
        b = match comments.get(&c.name().to_ascii_lowercase()) {
            Some(d) if !d.is_empty() => b.comment(*d),
            _ => b.set_comment(c.comment().map(str::to_string)),
        };
        b.build()
            .map_err(|e| Error::Catalog(format!("column {}: {e}", c.name())))
    };
    let storage = table
        .storage_descriptor()
        .map(|sd| -> Result<StorageDescriptor, Error> {
            let mut sd = sd.clone();
            sd.columns = Some(sd.columns().iter().map(comment).collect::<Result<_, _>>()?);
            Ok(sd)
        })
        .transpose()?;
    let mut parameters = table.parameters().cloned().unwrap_or_default();
    parameters.insert("tidemark.primary_key".into(), entry.primary_key.join(","));
    parameters.insert(
        "tidemark.metadata_version".into(),
        entry.metadata_version.to_string(),
    );
    parameters.insert("comment".into(), description.to_string());
    TableInput::builder()
        .name(table.name())
        .description(description)
        .set_owner(table.owner().map(str::to_string))
        .set_retention(Some(table.retention()))
        .set_storage_descriptor(storage)
        .set_partition_keys(Some(
            table
                .partition_keys()
                .iter()
                .map(comment)
                .collect::<Result<_, _>>()?,
        ))
        .set_view_original_text(table.view_original_text().map(str::to_string))
        .set_view_expanded_text(table.view_expanded_text().map(str::to_string))
        .set_table_type(table.table_type().map(str::to_string))
        .set_parameters(Some(parameters))
        .set_target_table(table.target_table().cloned())
        .build()
        .map_err(|e| Error::Catalog(format!("table {}: {e}", table.name())))
}

#[async_trait]
impl Catalog for GlueCatalog {
    async fn publish(&self, entry: &CatalogEntry) -> Result<(), Error> {
        self.describe_table(&entry.database, &entry.table, &entry.description, entry)
            .await?;
        let view = format!(
            "The current version of each row of {}.{} (not deleted). {}",
            entry.database, entry.table, entry.description
        );
        self.describe_table(&entry.database, &entry.current_view, view.trim_end(), entry)
            .await
    }
}
