//! One writer per table: a lease object created with a conditional put and
//! an expiry. The daily run and a manual rerun cannot merge one table at once.

use crate::error::{Error, StoreError};
use crate::ports::{Condition, ObjectStore};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct LeaseBody {
    owner: String,
    expires_at: DateTime<Utc>,
}

/// A held lease; give it back with [`Lease::release`].
#[derive(Debug)]
pub struct Lease {
    key: String,
    etag: String,
}

impl Lease {
    /// Takes the lease for `owner` (a run id), or renews it if `owner` holds it.
    /// An expired lease is taken over; a live one held by another run fails with
    /// `Tidemark.Concurrency`.
    pub async fn acquire(
        store: &dyn ObjectStore,
        key: &str,
        table: &str,
        owner: &str,
        ttl_seconds: u64,
    ) -> Result<Lease, Error> {
        let now = Utc::now();
        let body = LeaseBody {
            owner: owner.to_string(),
            expires_at: now + chrono::Duration::seconds(ttl_seconds as i64),
        };
        let bytes = Bytes::from(serde_json::to_vec(&body).unwrap_or_default());
        let lost = |holder: &LeaseBody| Error::Concurrency {
            table: table.to_string(),
            owner: holder.owner.clone(),
            expires_at: holder.expires_at.to_rfc3339(),
        };
        match store.put(key, bytes.clone(), Some(Condition::Absent)).await {
            Ok(etag) => {
                return Ok(Lease {
                    key: key.to_string(),
                    etag,
                });
            }
            Err(StoreError::PreconditionFailed { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        let (current, etag) = match store.get(key).await {
            Ok(found) => found,
            // Released between our two calls: someone else is about to take it.
            Err(StoreError::NotFound { .. }) => {
                return Err(Error::Concurrency {
                    table: table.into(),
                    owner: "another run".into(),
                    expires_at: "now".into(),
                });
            }
            Err(e) => return Err(e.into()),
        };
        let holder: LeaseBody = serde_json::from_slice(&current).unwrap_or(LeaseBody {
            owner: "unreadable lease".into(),
            expires_at: DateTime::<Utc>::MIN_UTC,
        });
        if holder.owner != owner && holder.expires_at > now {
            return Err(lost(&holder));
        }
        match store.put(key, bytes, Some(Condition::Matches(etag))).await {
            Ok(etag) => Ok(Lease {
                key: key.to_string(),
                etag,
            }),
            Err(StoreError::PreconditionFailed { .. }) => Err(lost(&holder)),
            Err(e) => Err(e.into()),
        }
    }

    /// Who holds the lease at `key` and until when, if anyone holds it now.
    pub async fn holder(
        store: &dyn ObjectStore,
        key: &str,
    ) -> Result<Option<(String, DateTime<Utc>)>, Error> {
        match store.get(key).await {
            Ok((bytes, _)) => Ok(serde_json::from_slice::<LeaseBody>(&bytes)
                .ok()
                .filter(|l| l.expires_at > Utc::now())
                .map(|l| (l.owner, l.expires_at))),
            Err(StoreError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Gives the lease back after the work it guarded, and returns that
    /// work's result: the work's own error wins over a failed release (which
    /// only delays the next run until the lease expires).
    pub async fn release_after<T>(
        self,
        store: &dyn ObjectStore,
        result: Result<T, Error>,
    ) -> Result<T, Error> {
        let key = self.key.clone();
        match (result, self.release(store).await) {
            (Err(e), Err(release)) => {
                tracing::warn!(lease = %key, error = %release, "the lease was not released; it expires on its own");
                Err(e)
            }
            (Err(e), Ok(())) => Err(e),
            (Ok(_), Err(release)) => Err(release),
            (Ok(value), Ok(())) => Ok(value),
        }
    }

    /// Gives the lease back (only if it is still ours).
    pub async fn release(self, store: &dyn ObjectStore) -> Result<(), Error> {
        match store.delete(&self.key, &self.etag).await {
            Ok(())
            | Err(StoreError::NotFound { .. })
            | Err(StoreError::PreconditionFailed { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}
