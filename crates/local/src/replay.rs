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
/// The landing-store key that remembers each file delivered: what the
/// replay file was (size and modification time) and the landed copy's ETag.
/// A file unchanged on both sides is not read again: each run would
/// otherwise read every day's files so far, twice.
const DELIVERED: &str = ".replay-delivered.json";

/// Each landing key delivered: (the replay file's fingerprint, the ETag of
/// what was landed).
type Delivered = BTreeMap<String, (String, String)>;

/// A replay file's size and modification time, which change when it does.
fn fingerprint(path: &std::path::Path) -> Result<String, ReplicationError> {
    let meta = std::fs::metadata(path)
        .map_err(|e| ReplicationError::Unhealthy(format!("{}: {e}", path.display())))?;
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .unwrap_or_default();
    Ok(format!(
        "{} bytes, modified {}",
        meta.len(),
        modified.as_nanos()
    ))
}

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
        let mut known: Delivered = match self.landing.get(DELIVERED).await {
            Ok((bytes, _)) => serde_json::from_slice(&bytes).unwrap_or_default(),
            Err(StoreError::NotFound { .. }) => Delivered::new(),
            Err(e) => return Err(e.into()),
        };
        let landed: BTreeMap<String, String> = self
            .landing
            .list("")
            .await?
            .into_iter()
            .map(|o| (o.key, o.etag))
            .collect();
        let (mut delivered, mut recorded) = (0, false);
        for (key, path) in &files {
            let source = fingerprint(path)?;
            if known
                .get(key)
                .is_some_and(|(was, etag)| *was == source && landed.get(key) == Some(etag))
            {
                continue;
            }
            let bytes = std::fs::read(path)
                .map_err(|e| ReplicationError::Unhealthy(format!("{}: {e}", path.display())))?;
            let etag = match self.landing.get(key).await {
                Ok((existing, etag)) if existing == bytes => etag,
                Ok(_) | Err(StoreError::NotFound { .. }) => {
                    delivered += 1;
                    self.landing.put(key, Bytes::from(bytes), None).await?
                }
                Err(e) => return Err(e.into()),
            };
            known.insert(key.clone(), (source, etag));
            recorded = true;
        }
        if recorded {
            let json = serde_json::to_vec(&known)
                .map_err(|e| ReplicationError::Unhealthy(format!("{DELIVERED}: {e}")))?;
            self.landing.put(DELIVERED, Bytes::from(json), None).await?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs_store::FsStore;
    use std::fs::{self, File};
    use std::path::Path;
    use std::time::SystemTime;

    const KEY: &str = "public/t/20261101-000000000.parquet";

    /// Starts the replay; how many files it delivered and what is landed.
    async fn start(replay: &ReplaySource) -> (String, String) {
        let status = replay.start(&Default::default(), &[]).await.unwrap();
        let count = status.message.split(": ").last().unwrap().to_string();
        let landed = replay.landing.get(KEY).await.unwrap().0;
        (count, String::from_utf8(landed.to_vec()).unwrap())
    }

    fn write(path: &Path, text: &str, modified: Option<SystemTime>) {
        fs::write(path, text).unwrap();
        if let Some(t) = modified {
            File::options()
                .write(true)
                .open(path)
                .unwrap()
                .set_modified(t)
                .unwrap();
        }
    }

    #[tokio::test]
    async fn a_file_is_read_again_only_when_it_or_its_landed_copy_changed() {
        let dir = tempfile::tempdir().unwrap();
        let day = dir.path().join("replay/2026-11-01/public/t");
        fs::create_dir_all(&day).unwrap();
        let file = day.join("20261101-000000000.parquet");
        write(&file, "one", None);
        let replay = ReplaySource {
            dir: dir.path().join("replay"),
            landing: Arc::new(FsStore::new(dir.path().join("landing")).unwrap()),
            through: None,
        };
        let delivered =
            |n: &str, text: &str| (format!("{n} new or changed file(s)"), text.to_string());
        assert_eq!(start(&replay).await, delivered("1", "one"));
        assert_eq!(start(&replay).await, delivered("0", "one"));

        // Same size and modification time: taken as unchanged, not read.
        let modified = fs::metadata(&file).unwrap().modified().unwrap();
        write(&file, "two", Some(modified));
        assert_eq!(start(&replay).await, delivered("0", "one"));
        // A new modification time: read, and delivered since it differs.
        write(
            &file,
            "two",
            Some(modified + std::time::Duration::from_secs(1)),
        );
        assert_eq!(start(&replay).await, delivered("1", "two"));

        // The landed copy rewritten (its size, so its ETag, differs), then
        // removed: delivered again each time.
        replay
            .landing
            .put(KEY, Bytes::from("four"), None)
            .await
            .unwrap();
        assert_eq!(start(&replay).await, delivered("1", "two"));
        fs::remove_file(dir.path().join("landing").join(KEY)).unwrap();
        assert_eq!(start(&replay).await, delivered("1", "two"));
        assert_eq!(start(&replay).await, delivered("0", "two"));

        // Killed after landing a file, before recording it: the next start
        // reads and compares it, and lands nothing again.
        fs::remove_file(dir.path().join("landing").join(DELIVERED)).unwrap();
        assert_eq!(start(&replay).await, delivered("0", "two"));
        assert!(dir.path().join("landing").join(DELIVERED).exists());
    }
}
