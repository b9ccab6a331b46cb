//! How fresh each table is: when a run last brought it up to date. The step
//! that finishes a table writes it (publish-catalog, or validate-landed
//! when nothing landed); notify reads it for freshness alerts, `tidemark
//! status` shows it, and validate-landed reads which metadata version the
//! catalog holds, so a table with nothing new costs no query.

use crate::error::{Error, StoreError};
use crate::ports::ObjectStore;
use crate::validate::OpCounts;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Freshness {
    /// When a run last finished the table: it merged what had landed, or
    /// found that nothing had. History holds every change landed before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checked_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checked_by: Option<String>,
    /// When a run last merged changes into history, and their rows by op.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_by: Option<String>,
    #[serde(default)]
    pub merged_ops: OpCounts,
    /// The metadata version the catalog entry was last published with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_version: Option<u32>,
    /// When a run last alerted that the table failed or was stale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alerted_at: Option<DateTime<Utc>>,
}

impl Freshness {
    /// The table's record; an empty one when no run has finished it yet.
    pub async fn load(store: &dyn ObjectStore, key: &str) -> Result<Freshness, Error> {
        match store.get(key).await {
            // An unreadable record is rewritten by the next run that finishes the table.
            Ok((bytes, _)) => Ok(serde_json::from_slice(&bytes).unwrap_or_default()),
            Err(StoreError::NotFound { .. }) => Ok(Freshness::default()),
            Err(e) => Err(e.into()),
        }
    }

    /// Records that `run_id` finished the table at `now`, having merged
    /// `merged` rows (none: nothing new had landed).
    pub async fn record(
        store: &dyn ObjectStore,
        key: &str,
        run_id: &str,
        now: DateTime<Utc>,
        merged: Option<OpCounts>,
        published_version: Option<u32>,
    ) -> Result<(), Error> {
        let mut fresh = Freshness::load(store, key).await?;
        // Two runs may finish one table in either order: keep the later.
        if fresh.checked_at.is_none_or(|t| t <= now) {
            fresh.checked_at = Some(now);
            fresh.checked_by = Some(run_id.to_string());
        }
        if let Some(ops) = merged
            && fresh.merged_at.is_none_or(|t| t <= now)
        {
            fresh.merged_at = Some(now);
            fresh.merged_by = Some(run_id.to_string());
            fresh.merged_ops = ops;
        }
        if published_version.is_some() {
            fresh.published_version = published_version;
        }
        fresh.save(store, key).await
    }

    /// Records that a run alerted about the table at `now`.
    pub async fn record_alert(
        store: &dyn ObjectStore,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        let mut fresh = Freshness::load(store, key).await?;
        fresh.alerted_at = Some(now);
        fresh.save(store, key).await
    }

    async fn save(&self, store: &dyn ObjectStore, key: &str) -> Result<(), Error> {
        let body = Bytes::from(serde_json::to_vec_pretty(self).unwrap_or_default());
        store.put(key, body, None).await?;
        Ok(())
    }

    /// Whether a scheduled run that failed or skipped the table alerts
    /// about it, under a freshness target: only once the table is older
    /// than the target (or no run ever finished it), and then once per
    /// target, so a frequent schedule that recovers by itself stays quiet.
    pub fn alert_due(&self, now: DateTime<Utc>, target_minutes: u32) -> bool {
        let target = chrono::Duration::minutes(target_minutes.into());
        let stale = self.checked_at.is_none_or(|t| now - t > target);
        let quiet_since = match (self.alerted_at, self.checked_at) {
            // Alerted before the table was last up to date: a new episode.
            (Some(alerted), Some(checked)) if alerted < checked => true,
            (Some(alerted), _) => now - alerted >= target,
            (None, _) => true,
        };
        stale && quiet_since
    }

    /// How long ago a run last finished the table (`None`: never).
    pub fn age(&self, now: DateTime<Utc>) -> Option<chrono::Duration> {
        self.checked_at.map(|t| now - t)
    }

    /// Whether the table is older than `target_minutes` at `now`; a table
    /// no run has finished yet is not (its first run's outcome alerts).
    pub fn is_stale(&self, now: DateTime<Utc>, target_minutes: u32) -> bool {
        self.age(now)
            .is_some_and(|age| age > chrono::Duration::minutes(target_minutes.into()))
    }
}

/// A duration as a person reads it: `42 s`, `17 min`, `3 h 05 min`, `2 d 4 h`.
pub fn human_age(age: chrono::Duration) -> String {
    let s = age.num_seconds().max(0);
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        3600..86400 => format!("{} h {:02} min", s / 3600, s % 3600 / 60),
        _ => format!("{} d {} h", s / 86400, s % 86400 / 3600),
    }
}

/// A size as a person reads it: `812 B`, `14.2 MB`, `3.1 GB` (powers of 1000).
pub fn human_bytes(n: u64) -> String {
    match n {
        0..1_000 => format!("{n} B"),
        1_000..1_000_000 => format!("{:.1} kB", n as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1} MB", n as f64 / 1e6),
        _ => format!("{:.1} GB", n as f64 / 1e9),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_is_stale_only_past_its_target_and_only_once_a_run_finished_it() {
        let now = Utc::now();
        let never = Freshness::default();
        assert!(!never.is_stale(now, 30));
        let fresh = Freshness {
            checked_at: Some(now - chrono::Duration::minutes(29)),
            ..Default::default()
        };
        assert!(!fresh.is_stale(now, 30));
        assert!(fresh.is_stale(now, 28));
    }

    #[test]
    fn a_failing_table_alerts_once_stale_then_once_per_target() {
        let now = Utc::now();
        let min = chrono::Duration::minutes;
        let mut fresh = Freshness {
            checked_at: Some(now - min(20)),
            ..Default::default()
        };
        assert!(!fresh.alert_due(now, 30), "within its target");
        assert!(fresh.alert_due(now + min(11), 30), "past it");
        fresh.alerted_at = Some(now + min(11));
        assert!(!fresh.alert_due(now + min(20), 30), "alerted 9 minutes ago");
        assert!(fresh.alert_due(now + min(41), 30), "alerted a target ago");
        // Up to date again after the alert, then stale again: a new episode.
        fresh.checked_at = Some(now + min(50));
        assert!(!fresh.alert_due(now + min(60), 30));
        assert!(fresh.alert_due(now + min(81), 30));
        // No run ever finished it: its failures alert, once per target.
        let never = Freshness::default();
        assert!(never.alert_due(now, 30));
        let alerted = Freshness {
            alerted_at: Some(now - min(5)),
            ..Default::default()
        };
        assert!(!alerted.alert_due(now, 30));
    }

    #[test]
    fn ages_read_as_a_person_says_them() {
        let d = chrono::Duration::seconds;
        assert_eq!(human_age(d(42)), "42 s");
        assert_eq!(human_age(d(17 * 60 + 5)), "17 min");
        assert_eq!(human_age(d(3 * 3600 + 5 * 60)), "3 h 05 min");
        assert_eq!(human_age(d(2 * 86400 + 4 * 3600 + 59)), "2 d 4 h");
        assert_eq!(human_bytes(812), "812 B");
        assert_eq!(human_bytes(14_230_000), "14.2 MB");
    }
}
