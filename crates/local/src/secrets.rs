//! The secrets port locally: the erasure key is a file of the lake folder,
//! `secrets/erasure-key` (64 hex digits from the system's random source),
//! created by the first `forget`. On one machine the lake folder is one
//! trust boundary; on AWS the key is a Secrets Manager secret outside the
//! lake bucket (docs/erasure.md).

use async_trait::async_trait;
use bytes::Bytes;
use std::io::Read;
use std::sync::Arc;
use tidemark_core::erasure::ErasureKey;
use tidemark_core::error::{Error, StoreError};
use tidemark_core::ports::{Condition, ObjectStore, Secrets};

/// Where the key is, in the lake store.
pub const ERASURE_KEY: &str = "secrets/erasure-key";

pub struct LakeSecrets {
    pub store: Arc<dyn ObjectStore>,
}

impl LakeSecrets {
    async fn stored(&self) -> Result<Option<ErasureKey>, Error> {
        match self.store.get(ERASURE_KEY).await {
            Ok((bytes, _)) => ErasureKey::new(bytes.trim_ascii().to_vec())
                .map(Some)
                .map_err(|e| Error::InvalidInput(format!("{}: {e}", self.store.uri(ERASURE_KEY)))),
            Err(StoreError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

#[async_trait]
impl Secrets for LakeSecrets {
    async fn erasure_key(&self) -> Result<ErasureKey, Error> {
        if let Some(key) = self.stored().await? {
            return Ok(key);
        }
        let mut random = [0u8; 32];
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut random))
            .map_err(|e| {
                Error::InvalidInput(format!("cannot read random bytes for the erasure key: {e}"))
            })?;
        let text: String = random.iter().map(|b| format!("{b:02x}")).collect();
        match self
            .store
            .put(ERASURE_KEY, Bytes::from(text), Some(Condition::Absent))
            .await
        {
            // Another process created it first: use theirs.
            Ok(_) | Err(StoreError::PreconditionFailed { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        self.stored().await?.ok_or_else(|| {
            Error::InvalidInput(format!(
                "{} vanished just after it was written",
                self.store.uri(ERASURE_KEY)
            ))
        })
    }
}
