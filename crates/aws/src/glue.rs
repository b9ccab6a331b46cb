//! The catalog port on Glue: descriptions of a history table and its
//! `_current` view, and the swap that ends a rebuild. Athena creates both
//! (the Iceberg CTAS in the merge, the view's DDL in publish-catalog), so Glue
//! already holds them, with parameters Athena and Iceberg depend on
//! (`metadata_location`, `presto_view`, …). Publishing reads each entry and
//! writes it back with only the descriptions and tidemark's own parameters
//! changed.
//!
//! An Athena Iceberg table is a Glue entry (`table_type = ICEBERG`) whose
//! `metadata_location` names the Iceberg metadata file that is the table:
//! two entries with the same `metadata_location` are the same table, and an
//! `UpdateTable` of that parameter replaces what readers of the entry see,
//! in one call. The swap is made of such calls only; Glue's `DeleteTable`
//! removes an entry and never its data (Athena's `DROP TABLE` of an Iceberg
//! table deletes the data too, so the swap never uses it).

use crate::error::{describe, kind};
use async_trait::async_trait;
use aws_sdk_glue::Client;
use aws_sdk_glue::config::http::HttpResponse;
use aws_sdk_glue::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_glue::types::builders::TableInputBuilder;
use aws_sdk_glue::types::{Column, StorageDescriptor, Table, TableInput};
use std::collections::HashMap;
use tidemark_core::error::{CatalogError, Error, ErrorKind};
use tidemark_core::ports::{Catalog, CatalogEntry};

/// The Glue parameter naming an Iceberg table's current metadata file.
const METADATA_LOCATION: &str = "metadata_location";
/// The one before it, as Iceberg's own Glue commits keep it.
const PREVIOUS_METADATA_LOCATION: &str = "previous_metadata_location";
/// Parameters publish-catalog writes from the metadata the history was built with.
const TIDEMARK_PARAMETERS: &str = "tidemark.";
/// The view's parameter holding [`CatalogEntry::view_digest`].
const VIEW_DIGEST: &str = "tidemark.view_digest";

pub struct GlueCatalog {
    client: Client,
}

/// A failed Glue call, its kind from the error code and HTTP status.
fn glue_error<E>(
    call: &'static str,
    database: &str,
    name: &str,
    e: SdkError<E, HttpResponse>,
) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    catalog_error(call, database, name, describe(&e), kind(&e))
}

fn catalog_error(
    operation: &'static str,
    database: &str,
    name: &str,
    message: String,
    kind: ErrorKind,
) -> Error {
    Error::Catalog(CatalogError {
        operation,
        table: format!("{database}.{name}"),
        message,
        kind,
    })
}

fn metadata_location(table: &Table) -> Option<&str> {
    table
        .parameters()
        .and_then(|p| p.get(METADATA_LOCATION))
        .map(String::as_str)
}

impl GlueCatalog {
    pub fn new(client: Client) -> Self {
        GlueCatalog { client }
    }

    /// The entry `database.name`, or `None` when Glue has none.
    async fn get(&self, database: &str, name: &str) -> Result<Option<Table>, Error> {
        match self
            .client
            .get_table()
            .database_name(database)
            .name(name)
            .send()
            .await
        {
            Ok(out) => Ok(Some(out.table.ok_or_else(|| {
                catalog_error(
                    "GetTable",
                    database,
                    name,
                    "Glue returned no table".into(),
                    ErrorKind::Fatal,
                )
            })?)),
            Err(e) if kind(&e) == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(glue_error("GetTable", database, name, e)),
        }
    }

    async fn create(&self, database: &str, input: TableInput) -> Result<(), Error> {
        let name = input.name().to_string();
        self.client
            .create_table()
            .database_name(database)
            .table_input(input)
            .send()
            .await
            .map_err(|e| glue_error("CreateTable", database, &name, e))?;
        Ok(())
    }

    /// Replaces the entry; refused (and retried) when it changed since
    /// `version` was read. With `archive`, Glue keeps the replaced entry as
    /// a table version (of which it holds 100,000 a table and a million an
    /// account).
    async fn update(
        &self,
        database: &str,
        input: TableInput,
        version: Option<&str>,
        archive: bool,
    ) -> Result<(), Error> {
        let name = input.name().to_string();
        self.client
            .update_table()
            .database_name(database)
            .table_input(input)
            .set_version_id(version.map(str::to_string))
            .skip_archive(!archive)
            .send()
            .await
            .map_err(|e| glue_error("UpdateTable", database, &name, e))?;
        Ok(())
    }

    /// Removes the entry, never its data; an entry already gone is fine.
    async fn delete(&self, database: &str, name: &str) -> Result<(), Error> {
        match self
            .client
            .delete_table()
            .database_name(database)
            .name(name)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if kind(&e) == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(glue_error("DeleteTable", database, name, e)),
        }
    }

    async fn describe_table(
        &self,
        database: &str,
        name: &str,
        description: &str,
        entry: &CatalogEntry,
        view_digest: Option<&str>,
    ) -> Result<(), Error> {
        let table = self.get(database, name).await?.ok_or_else(|| {
            catalog_error(
                "describe",
                database,
                name,
                "not in the Glue catalog: the merge creates the history table and publish-catalog its view; rerun the table".into(),
                ErrorKind::NotFound,
            )
        })?;
        let input = described(&table, description, entry, view_digest)?;
        // Described already (every run after the first, unless the
        // metadata changed or Athena created the view again): no update. A
        // description is not worth a table version either.
        if input == built(input_of(&table), name)? {
            return Ok(());
        }
        self.update(database, input, None, false).await
    }
}

/// `table` as the input that creates or updates it: every field Glue lets a
/// caller set, unchanged.
fn input_of(table: &Table) -> TableInputBuilder {
    TableInput::builder()
        .name(table.name())
        .set_description(table.description().map(str::to_string))
        .set_owner(table.owner().map(str::to_string))
        .set_retention(Some(table.retention()))
        .set_storage_descriptor(table.storage_descriptor().cloned())
        .set_partition_keys(Some(table.partition_keys().to_vec()))
        .set_view_original_text(table.view_original_text().map(str::to_string))
        .set_view_expanded_text(table.view_expanded_text().map(str::to_string))
        .set_table_type(table.table_type().map(str::to_string))
        .set_parameters(table.parameters().cloned())
        .set_target_table(table.target_table().cloned())
}

fn built(input: TableInputBuilder, name: &str) -> Result<TableInput, Error> {
    input
        .build()
        .map_err(|e| catalog_error("build", "", name, e.to_string(), ErrorKind::Fatal))
}

/// `table` as an update: the same entry, with the descriptions of `entry`
/// (and, for the view, the digest of the statement that created it).
pub fn described(
    table: &Table,
    description: &str,
    entry: &CatalogEntry,
    view_digest: Option<&str>,
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
        b.build().map_err(|e| {
            catalog_error(
                "describe",
                &entry.database,
                &entry.table,
                format!("column {}: {e}", c.name()),
                ErrorKind::Fatal,
            )
        })
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
    if let Some(digest) = view_digest {
        parameters.insert(VIEW_DIGEST.into(), digest.to_string());
    }
    let input = input_of(table)
        .description(description)
        .set_storage_descriptor(storage)
        .set_partition_keys(Some(
            table
                .partition_keys()
                .iter()
                .map(comment)
                .collect::<Result<_, _>>()?,
        ))
        .set_parameters(Some(parameters));
    built(input, table.name())
}

/// The update that makes `live` the history `staged` holds: `staged`'s
/// Iceberg table (its storage descriptor: location and columns; its
/// parameters: `metadata_location` …), with `previous_metadata_location`
/// naming what `live` was. What describes the table is kept from `live`
/// (its description, and the comment of each column it still has);
/// tidemark's parameters are not, as they record the metadata the replaced
/// history was built with: publish-catalog writes the new ones next.
pub fn swapped(live: &Table, staged: &Table) -> Result<TableInput, Error> {
    let comments: HashMap<String, &str> = live
        .storage_descriptor()
        .map(|sd| sd.columns())
        .unwrap_or_default()
        .iter()
        .filter_map(|c| Some((c.name().to_ascii_lowercase(), c.comment()?)))
        .collect();
    let storage = staged.storage_descriptor().map(|sd| {
        let mut sd = sd.clone();
        for c in sd.columns.iter_mut().flatten() {
            if c.comment.is_none() {
                c.comment = comments
                    .get(&c.name.to_ascii_lowercase())
                    .map(|d| d.to_string());
            }
        }
        sd
    });
    let mut parameters: HashMap<String, String> = staged
        .parameters()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, _)| !k.starts_with(TIDEMARK_PARAMETERS))
        .collect();
    parameters.remove(PREVIOUS_METADATA_LOCATION);
    if let Some(old) = metadata_location(live) {
        parameters.insert(PREVIOUS_METADATA_LOCATION.into(), old.to_string());
    }
    if let Some(comment) = live.parameters().and_then(|p| p.get("comment")) {
        parameters.insert("comment".into(), comment.clone());
    }
    let input = input_of(staged)
        .name(live.name())
        .set_description(live.description().map(str::to_string))
        .set_owner(live.owner().map(str::to_string))
        .set_storage_descriptor(storage)
        .set_parameters(Some(parameters));
    built(input, live.name())
}

#[async_trait]
impl Catalog for GlueCatalog {
    async fn publish(&self, entry: &CatalogEntry) -> Result<(), Error> {
        self.describe_table(
            &entry.database,
            &entry.table,
            &entry.description,
            entry,
            None,
        )
        .await?;
        let view = format!(
            "The current version of each row of {}.{} (not deleted). {}",
            entry.database, entry.table, entry.description
        );
        self.describe_table(
            &entry.database,
            &entry.current_view,
            view.trim_end(),
            entry,
            Some(&entry.view_digest),
        )
        .await
    }

    /// The view's `tidemark.view_digest`. Athena's `CREATE OR REPLACE VIEW`
    /// writes the view's parameters anew, so a view replaced since has none.
    async fn view_digest(&self, entry: &CatalogEntry) -> Result<Option<String>, Error> {
        let view = self.get(&entry.database, &entry.current_view).await?;
        Ok(view
            .as_ref()
            .and_then(Table::parameters)
            .and_then(|p| p.get(VIEW_DIGEST))
            .cloned())
    }

    fn swaps_history(&self) -> bool {
        true
    }

    /// Glue has no rename and no transaction, so the swap is a sequence of
    /// calls, each skipped when an earlier attempt already made it:
    ///
    /// 1. `previous` becomes a copy of the `live` entry (the same Iceberg
    ///    table): an older `previous` entry is deleted first (`DeleteTable`:
    ///    the entry only; its files stay in S3);
    /// 2. `UpdateTable` points `live` at `staged`'s Iceberg table: the one
    ///    step readers see, whole;
    /// 3. the `staged` entry is deleted.
    ///
    /// With no `live` entry (a first history), `live` is created from
    /// `staged`. With no `staged` entry, the swap was done.
    async fn swap_history(
        &self,
        database: &str,
        live: &str,
        staged: &str,
        previous: &str,
    ) -> Result<(), Error> {
        let Some(staged_table) = self.get(database, staged).await? else {
            return Ok(());
        };
        let staged_metadata = metadata_location(&staged_table).ok_or_else(|| {
            catalog_error(
                "swap",
                database,
                staged,
                format!("no {METADATA_LOCATION} in Glue: it is not the Iceberg table a rebuild stages; nothing was swapped"),
                ErrorKind::Fatal,
            )
        })?;
        match self.get(database, live).await? {
            None => {
                let input = built(input_of(&staged_table).name(live), live)?;
                self.create(database, input).await?;
            }
            Some(live_table) if metadata_location(&live_table) == Some(staged_metadata) => {
                // Swapped by an earlier attempt; only `staged` is left.
            }
            Some(live_table) => {
                let live_metadata = metadata_location(&live_table);
                let kept = match self.get(database, previous).await? {
                    Some(p) => {
                        let same =
                            live_metadata.is_some() && metadata_location(&p) == live_metadata;
                        if !same {
                            self.delete(database, previous).await?;
                        }
                        same
                    }
                    None => false,
                };
                if !kept {
                    let input = built(input_of(&live_table).name(previous), previous)?;
                    self.create(database, input).await?;
                }
                let input = swapped(&live_table, &staged_table)?;
                self.update(database, input, live_table.version_id(), true)
                    .await?;
            }
        }
        self.delete(database, staged).await?;
        tracing::info!(
            database,
            table = live,
            metadata_location = staged_metadata,
            "Glue: the staged history is live; the replaced one is kept as {previous}"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_glue::operation::get_table::GetTableOutput;
    use aws_sdk_glue::operation::update_table::UpdateTableOutput;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    /// A description is not worth one of the table versions Glue keeps:
    /// describing updates without archiving the entry it replaces.
    #[tokio::test]
    async fn describing_skips_the_archive() {
        let get = mock!(Client::get_table).then_output(|| {
            GetTableOutput::builder()
                .table(Table::builder().name("any").build().unwrap())
                .build()
        });
        let update = mock!(Client::update_table)
            .match_requests(|r| r.skip_archive() == Some(true))
            .then_output(|| UpdateTableOutput::builder().build());
        let client = mock_client!(aws_sdk_glue, RuleMode::MatchAny, [&get, &update]);
        let entry = CatalogEntry {
            database: "bank".into(),
            table: "accounts".into(),
            current_view: "accounts_current".into(),
            description: "Accounts, as the bank keeps them.".into(),
            primary_key: vec!["account_id".into()],
            columns: Vec::new(),
            metadata_version: 1,
            view_digest: String::new(),
        };
        GlueCatalog::new(client).publish(&entry).await.unwrap();
        assert_eq!(update.num_calls(), 2, "the table and its view, described");
    }
}
