use super::{layout, table_config};
use crate::config::Cadence;
use crate::error::Error;
use crate::error::StoreError;
use crate::events::{ExtractMetadataEvent, ExtractMetadataOutput, SourceStorage, TableWork};
use crate::metadata::{Drift, TableMetadata, classify_drift};
use crate::ports::{DdlLog, Ports};
use crate::run_plan::RunPlan;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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
    let reads = if plan.forget.is_none() {
        Some(Reads::load(ports, plan).await?)
    } else {
        None
    };
    for name in names.iter().cloned() {
        let config = table_config(ports, &name)?;
        let work = |metadata_version: u32, drift: Drift| TableWork {
            table: name.clone(),
            table_mode: config.mode,
            run_mode: plan.mode,
            metadata_version,
            drift,
            from: plan.from,
            to: plan.to,
            forget: None,
            source_storage: None,
            metadata_read_at: None,
        };
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
                forget: Some(forget.clone()),
                ..work(version, Drift::None)
            });
            continue;
        }
        let reads = reads.as_ref().expect("loaded unless forget");
        if let Some((version, read_at)) = reads.reusable(ports, &name).await? {
            tracing::info!(table = %name, version, read_at, "metadata read recently; not read again");
            tables.push(TableWork {
                metadata_read_at: Some(read_at),
                ..work(version, Drift::None)
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
        if !matches!(drift, Drift::Breaking { .. }) {
            // A breaking change is read again by every run until a rebuild.
            reads.record(ports, &name, version).await?;
        }
        tracing::info!(table = %name, version, drift = ?drift, source_storage = ?source_storage, "metadata");
        tables.push(TableWork {
            source_storage,
            ..work(version, drift)
        });
    }
    Ok(ExtractMetadataOutput { tables })
}

/// When a run last read a table's metadata at the source
/// ([`crate::layout::LakeLayout::metadata_read_key`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct MetadataRead {
    read_at: DateTime<Utc>,
    version: u32,
    /// The source's DDL log position just before that read, if it keeps one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ddl_position: Option<i64>,
}

/// This run's view of when each table's metadata was last read, and of the
/// source's DDL log (one query per run, before any metadata is read).
struct Reads {
    /// A frequent run: how long a read stays good.
    window: Option<chrono::Duration>,
    ddl: Option<DdlLog>,
    recorded: BTreeMap<String, MetadataRead>,
}

impl Reads {
    async fn load(ports: &Ports, plan: &RunPlan) -> Result<Reads, Error> {
        let layout = layout(ports);
        let mut recorded = BTreeMap::new();
        for table in &plan.tables {
            match ports.lake.get(&layout.metadata_read_key(table)).await {
                Ok((bytes, _)) => {
                    if let Ok(read) = serde_json::from_slice::<MetadataRead>(&bytes) {
                        recorded.insert(table.clone(), read);
                    }
                }
                Err(StoreError::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let after = recorded
            .values()
            .filter_map(|r| r.ddl_position)
            .min()
            .unwrap_or(0);
        let ddl = match ports.metadata.ddl_log(after).await {
            Ok(ddl) => ddl,
            // Not fatal: every read is then bounded by the window alone.
            Err(e) => {
                tracing::warn!(error = %e, "the source's DDL log could not be read");
                None
            }
        };
        let window = (plan.cadence == Some(Cadence::Frequent)).then(|| {
            chrono::Duration::minutes(ports.config.pipeline.metadata_every_minutes.into())
        });
        Ok(Reads {
            window,
            ddl,
            recorded,
        })
    }

    /// The version to use without reading the source, and when it was
    /// read: in a frequent run, for a table read within the window whose
    /// DDL log (if the source keeps one) has nothing newer.
    async fn reusable(&self, ports: &Ports, table: &str) -> Result<Option<(u32, String)>, Error> {
        let (Some(window), Some(read)) = (self.window, self.recorded.get(table)) else {
            return Ok(None);
        };
        if Utc::now() - read.read_at >= window {
            return Ok(None);
        }
        if let Some(ddl) = &self.ddl {
            let seen = read.ddl_position.unwrap_or(i64::MIN);
            if read.ddl_position.is_none() || ddl.tables.get(table).is_some_and(|p| *p > seen) {
                return Ok(None);
            }
        }
        // A newer version stored since (a rebuild): read again.
        match newest_version(ports, table).await? {
            (newest, Some(_)) if newest == read.version => {
                Ok(Some((read.version, read.read_at.to_rfc3339())))
            }
            _ => Ok(None),
        }
    }

    async fn record(&self, ports: &Ports, table: &str, version: u32) -> Result<(), Error> {
        MetadataRead {
            read_at: Utc::now(),
            version,
            ddl_position: self.ddl.as_ref().map(|d| d.position),
        }
        .save(ports, table)
        .await
    }
}

impl MetadataRead {
    async fn save(&self, ports: &Ports, table: &str) -> Result<(), Error> {
        let body = Bytes::from(serde_json::to_vec(self).unwrap_or_default());
        let key = layout(ports).metadata_read_key(table);
        ports.lake.put(&key, body, None).await?;
        Ok(())
    }
}

/// Makes the next run read `table`'s metadata at the source, whatever its
/// cadence: a landed file says the schema changed.
pub(crate) async fn read_again(ports: &Ports, table: &str) -> Result<(), Error> {
    MetadataRead {
        read_at: DateTime::UNIX_EPOCH,
        version: 0,
        ddl_position: None,
    }
    .save(ports, table)
    .await
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
