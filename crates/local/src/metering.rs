//! The local [`Metering`]: state transitions as the in-process interpreter
//! records them, and cost metrics appended to `<lake>/metrics/<run>.jsonl` in
//! the Embedded Metric Format CloudWatch reads on AWS.

use async_trait::async_trait;
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tidemark_asl::{HistoryEvent, Observer};
use tidemark_core::cost::Transitions;
use tidemark_core::error::{Error, StoreError};
use tidemark_core::ports::{Metering, ObjectStore};

#[derive(Clone)]
pub struct LocalMetering {
    /// By execution ARN.
    executions: Arc<Mutex<HashMap<String, Transitions>>>,
    store: Arc<dyn ObjectStore>,
}

impl LocalMetering {
    pub fn new(store: Arc<dyn ObjectStore>) -> LocalMetering {
        LocalMetering {
            executions: Arc::default(),
            store,
        }
    }

    /// What the interpreter calls with each history event.
    pub fn observer(&self) -> Observer {
        let executions = self.executions.clone();
        Arc::new(move |execution: &str, event: &HistoryEvent| {
            let mut executions = executions.lock().unwrap_or_else(|e| e.into_inner());
            let transitions = executions.entry(execution.to_string()).or_default();
            match event.kind.as_str() {
                "Entered" => transitions.entered(event.detail.as_deref().unwrap_or_default()),
                "Retry" => transitions.retried(),
                _ => {}
            }
        })
    }
}

#[async_trait]
impl Metering for LocalMetering {
    async fn transitions(&self, execution: &str) -> Result<Transitions, Error> {
        let executions = self.executions.lock().unwrap_or_else(|e| e.into_inner());
        Ok(executions.get(execution).cloned().unwrap_or_default())
    }

    async fn publish(&self, documents: &[serde_json::Value]) -> Result<(), Error> {
        let Some(first) = documents.first() else {
            return Ok(());
        };
        let day = chrono::DateTime::from_timestamp_millis(
            first["_aws"]["Timestamp"].as_i64().unwrap_or_default(),
        )
        .unwrap_or_default()
        .format("%Y-%m-%d");
        let key = format!("metrics/{day}.jsonl");
        let mut text = match self.store.get(&key).await {
            Ok((bytes, _)) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(StoreError::NotFound { .. }) => String::new(),
            Err(e) => return Err(e.into()),
        };
        for document in documents {
            text.push_str(&document.to_string());
            text.push('\n');
        }
        self.store.put(&key, Bytes::from(text), None).await?;
        Ok(())
    }
}
