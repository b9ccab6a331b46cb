use super::{layout, table_config};
use crate::error::Error;
use crate::error::StoreError;
use crate::events::{ExtractMetadataEvent, ExtractMetadataOutput, SourceStorage, TableWork};
use crate::metadata::{Drift, TableMetadata, classify_drift};
use crate::ports::Ports;
use bytes::Bytes;

/// Reads each table's current schema, compares it with the newest stored
/// version, stores a new version when it changed, and classifies the drift.
/// A breaking change is not stored (the table fails with `Tidemark.SchemaDrift`
/// until a `rebuild` accepts it). A `forget` reads no source: it checks its
/// keys against the newest stored version, whose history it acts on.
pub async fn extract_metadata(
    ports: &Ports,
    event: ExtractMetadataEvent,
) -> Result<ExtractMetadataOutput, Error> {
    let plan = &event.plan;
    let names = &plan.tables;
    let mut tables = Vec::with_capacity(names.len());
    for name in names.iter().cloned() {
        let config = table_config(ports, &name)?;
        if let Some(forget) = &plan.forget {
            let (version, stored) = newest_version(ports, &name).await?;
            let meta = stored.ok_or_else(|| {
                Error::InvalidInput(format!(
                    "{name} has no history yet (no run has read its metadata): there is nothing to forget"
                ))
            })?;
            crate::erasure::resolve_keys(&meta, &forget.keys)
                .map_err(|e| Error::InvalidInput(format!("\"keys\" of {name}: {e}")))?;
            tables.push(TableWork {
                table: name,
                table_mode: config.mode,
                run_mode: plan.mode,
                metadata_version: version,
                drift: Drift::None,
                from: None,
                to: None,
                forget: Some(forget.clone()),
                source_storage: None,
            });
            continue;
        }
        let (current, storage_id) = ports
            .metadata
            .read_with_storage(&name)
            .await
            .map_err(|e| e.for_table(&name))?;
        if current.name != name {
            return Err(Error::InvalidInput(format!(
                "metadata for {name} names the table {:?}",
                current.name
            )));
        }
        let (stored_version, stored) = newest_version(ports, &name).await?;
        let (version, drift) = match stored {
            Some(old) if old == current => (stored_version, Drift::None),
            Some(old) => {
                let drift = classify_drift(&old, &current);
                if matches!(drift, Drift::Breaking { .. }) && !plan.mode.rebuilds() {
                    (stored_version, drift)
                } else {
                    (
                        store_version(ports, &current, stored_version + 1).await?,
                        drift,
                    )
                }
            }
            None => (store_version(ports, &current, 1).await?, Drift::None),
        };
        let source_storage = match storage_id {
            Some(id) => Some(source_storage(ports, &name, id).await?),
            None => None,
        };
        tracing::info!(table = %name, version, drift = ?drift, source_storage = ?source_storage, "metadata");
        tables.push(TableWork {
            table: name,
            table_mode: config.mode,
            run_mode: plan.mode,
            metadata_version: version,
            drift,
            from: plan.from,
            to: plan.to,
            forget: None,
            source_storage,
        });
    }
    Ok(ExtractMetadataOutput { tables })
}

/// The table's storage at the source, and what it was when a run last took
/// its changes, if that differs (validate-landed records the new one).
async fn source_storage(ports: &Ports, table: &str, id: String) -> Result<SourceStorage, Error> {
    let key = layout(ports).source_storage_key(table);
    let recorded = match ports.lake.get(&key).await {
        Ok((bytes, _)) => serde_json::from_slice::<SourceStorage>(&bytes)
            .ok()
            .map(|s| s.id),
        Err(StoreError::NotFound { .. }) => None,
        Err(e) => return Err(e.into()),
    };
    let changed_from = recorded.filter(|r| *r != id);
    Ok(SourceStorage { id, changed_from })
}

async fn newest_version(ports: &Ports, table: &str) -> Result<(u32, Option<TableMetadata>), Error> {
    let layout = layout(ports);
    let listed = ports.lake.list(&layout.metadata_prefix(table)).await?;
    let newest = listed
        .iter()
        .filter_map(|o| {
            crate::layout::base_name(&o.key)
                .strip_prefix('v')?
                .strip_suffix(".json")?
                .parse::<u32>()
                .ok()
        })
        .max();
    match newest {
        Some(v) => Ok((v, Some(super::load_metadata(ports, table, v).await?))),
        None => Ok((0, None)),
    }
}

async fn store_version(ports: &Ports, meta: &TableMetadata, version: u32) -> Result<u32, Error> {
    let key = layout(ports).metadata_key(&meta.name, version);
    // Conditional: two runs storing the same version race safely.
    match ports
        .lake
        .put(
            &key,
            Bytes::from(meta.to_json()),
            Some(crate::ports::Condition::Absent),
        )
        .await
    {
        Ok(_) | Err(crate::error::StoreError::PreconditionFailed { .. }) => Ok(version),
        Err(e) => Err(e.into()),
    }
}
