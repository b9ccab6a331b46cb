//! The replay source: delivers a folder of day-by-day DMS-format files
//! (`<dir>/<YYYY-MM-DD>/<schema>/<table>/<file>`) into the landing store, as
//! DMS would have by the end of each day.

use async_trait::async_trait;
use bytes::Bytes;
use chrono::NaiveDate;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use tidemark_core::config::TableMode;
use tidemark_core::error::{ReplicationError, StoreError};
use tidemark_core::events::{ReplicationStatus, StartReplicationEvent};
use tidemark_core::ports::{ObjectStore, Replication};

/// The landing-store key that remembers the last day delivered.
const MARKER: &str = ".replay-delivered-through";

pub struct ReplaySource {
    pub dir: PathBuf,
    pub landing: Arc<dyn ObjectStore>,
    /// Deliver days up to and including this one; all days when `None`.
    pub through: Option<NaiveDate>,
}

/// The days in a replay folder, oldest first.
pub fn replay_days(dir: &std::path::Path) -> Result<Vec<NaiveDate>, ReplicationError> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        ReplicationError::Unhealthy(format!("replay folder {}: {e}", dir.display()))
    })?;
    let mut days: Vec<NaiveDate> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            NaiveDate::parse_from_str(&e.file_name().to_string_lossy(), "%Y-%m-%d").ok()
        })
        .collect();
    days.sort();
    Ok(days)
}

/// The last day a replay delivered into `landing`, if any.
pub async fn delivered_through(
    landing: &dyn ObjectStore,
) -> Result<Option<NaiveDate>, ReplicationError> {
    match landing.get(MARKER).await {
        Ok((bytes, _)) => {
            Ok(NaiveDate::parse_from_str(String::from_utf8_lossy(&bytes).trim(), "%Y-%m-%d").ok())
        }
        Err(StoreError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

impl ReplaySource {
    /// The landing area as of `through`: for each key, the newest day's file
    /// (a full-load-only task reloads into the same key).
    fn landing_as_of(
        &self,
    ) -> Result<(BTreeMap<String, PathBuf>, Vec<NaiveDate>), ReplicationError> {
        let read = |p: &PathBuf| {
            std::fs::read_dir(p).map_err(|e| {
                ReplicationError::Unhealthy(format!("replay folder {}: {e}", p.display()))
            })
        };
        let days: Vec<(NaiveDate, PathBuf)> = replay_days(&self.dir)?
            .into_iter()
            .filter(|day| self.through.is_none_or(|t| *day <= t))
            .map(|day| (day, self.dir.join(day.to_string())))
            .collect();
        let mut files = BTreeMap::new();
        for (_, day_dir) in &days {
            let mut stack = vec![day_dir.clone()];
            while let Some(dir) = stack.pop() {
                for entry in read(&dir)? {
                    let path = entry
                        .map_err(|e| ReplicationError::Unhealthy(e.to_string()))?
                        .path();
                    if path.is_dir() {
                        stack.push(path);
                    } else if let Ok(rel) = path.strip_prefix(day_dir) {
                        let key = rel
                            .components()
                            .map(|c| c.as_os_str().to_string_lossy())
                            .collect::<Vec<_>>()
                            .join("/");
                        files.insert(key, path);
                    }
                }
            }
        }
        Ok((files, days.into_iter().map(|(day, _)| day).collect()))
    }
}

#[async_trait]
impl Replication for ReplaySource {
    async fn start(
        &self,
        _event: &StartReplicationEvent,
        _tables: &[(String, TableMode)],
    ) -> Result<ReplicationStatus, ReplicationError> {
        let (files, days) = self.landing_as_of()?;
        let last_day = days.last().copied();
        let mut delivered = 0;
        for (key, path) in &files {
            let bytes = std::fs::read(path)
                .map_err(|e| ReplicationError::Unhealthy(format!("{}: {e}", path.display())))?;
            let same = match self.landing.get(key).await {
                Ok((existing, _)) => existing == bytes,
                Err(StoreError::NotFound { .. }) => false,
                Err(e) => return Err(e.into()),
            };
            if !same {
                self.landing.put(key, Bytes::from(bytes), None).await?;
                delivered += 1;
            }
        }
        if let Some(day) = last_day
            && delivered_through(self.landing.as_ref())
                .await?
                .is_none_or(|d| d < day)
        {
            self.landing
                .put(MARKER, Bytes::from(day.to_string()), None)
                .await?;
        }
        Ok(ReplicationStatus::ready(
            "replayed",
            format!(
                "replayed {} day(s) from {}: {delivered} new or changed file(s)",
                days.len(),
                self.dir.display()
            ),
        ))
    }

    async fn observe(&self) -> Result<ReplicationStatus, ReplicationError> {
        let days = replay_days(&self.dir)?;
        let through = delivered_through(self.landing.as_ref()).await?;
        let waiting = days
            .iter()
            .filter(|d| through.is_none_or(|t| **d > t))
            .count();
        let delivered = match through {
            Some(day) => format!("delivered through {day}"),
            None => "nothing delivered yet".into(),
        };
        Ok(ReplicationStatus::ready(
            "replay",
            format!(
                "{delivered}; {waiting} of {} day(s) in {} still to deliver",
                days.len(),
                self.dir.display()
            ),
        ))
    }
}

/// Replication for `--landing DIR`: the files are already there.
pub struct ExistingLanding;

#[async_trait]
impl Replication for ExistingLanding {
    async fn start(
        &self,
        _event: &StartReplicationEvent,
        _tables: &[(String, TableMode)],
    ) -> Result<ReplicationStatus, ReplicationError> {
        self.observe().await
    }

    async fn observe(&self) -> Result<ReplicationStatus, ReplicationError> {
        Ok(ReplicationStatus::ready(
            "external",
            "files are landed by something else (--landing)".into(),
        ))
    }
}
