//! A paused pipeline: `tidemark pause` records who paused it, when and why
//! in the lake; `tidemark resume` removes the record. While it is there no
//! scheduled run merges (the local follow loop waits; on AWS the schedule
//! is disabled as well) and no run alerts about freshness. A run that was
//! already going finishes: pausing never interrupts one.

use crate::error::{Error, StoreError};
use crate::ports::{Condition, ObjectStore};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pause {
    /// Who paused it: the user (locally) or the caller's identity (AWS).
    pub by: String,
    pub since: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Whether the replication was stopped too (`--replication`): the
    /// source then keeps its changes (a PostgreSQL slot grows) until resume.
    #[serde(default)]
    pub replication: bool,
}

impl Pause {
    pub async fn load(store: &dyn ObjectStore, key: &str) -> Result<Option<Pause>, Error> {
        match store.get(key).await {
            Ok((bytes, _)) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                Error::InvalidInput(format!(
                    "the pause record {} is unreadable ({e}); `tidemark resume` removes it",
                    store.uri(key)
                ))
            }),
            Err(StoreError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Records the pause; refused, naming who holds it, when the pipeline
    /// is paused already.
    pub async fn save(&self, store: &dyn ObjectStore, key: &str) -> Result<(), Error> {
        let body = Bytes::from(serde_json::to_vec_pretty(self).unwrap_or_default());
        match store.put(key, body, Some(Condition::Absent)).await {
            Ok(_) => Ok(()),
            Err(StoreError::PreconditionFailed { .. }) => {
                let held = Pause::load(store, key).await?;
                Err(Error::InvalidInput(match held {
                    Some(p) => format!("the pipeline is paused already: {}", p.describe()),
                    None => "the pipeline was paused and resumed meanwhile; pause again".into(),
                }))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Removes the record; returns the pause it ended (`None`: not paused).
    pub async fn clear(store: &dyn ObjectStore, key: &str) -> Result<Option<Pause>, Error> {
        let (bytes, etag) = match store.get(key).await {
            Ok(found) => found,
            Err(StoreError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        store.delete(key, &etag).await?;
        Ok(serde_json::from_slice(&bytes).ok())
    }

    /// `by ana since 2026-12-05 19:20 UTC (3 h 05 min): "source upgrade"`.
    pub fn describe(&self) -> String {
        let mut text = format!(
            "by {} since {} ({} ago)",
            self.by,
            self.since.format("%Y-%m-%d %H:%M UTC"),
            crate::freshness::human_age(Utc::now() - self.since)
        );
        if let Some(reason) = &self.reason {
            text.push_str(&format!(": {reason:?}"));
        }
        if self.replication {
            text.push_str("; the replication is stopped too");
        }
        text
    }
}
