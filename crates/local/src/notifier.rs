//! The local notifier: the alert on the console, as JSON under
//! `<lake>/alerts/`, and on a Slack incoming webhook when one is configured.

use async_trait::async_trait;
use bytes::Bytes;
use std::sync::Arc;
use std::time::Duration;
use tidemark_core::alert::Alert;
use tidemark_core::error::{Error, ErrorKind, NotifyError};
use tidemark_core::ports::{Notifier, ObjectStore};

pub struct ConsoleNotifier {
    pub store: Arc<dyn ObjectStore>,
    pub slack_webhook_url: Option<String>,
}

#[async_trait]
impl Notifier for ConsoleNotifier {
    async fn send(&self, alert: &Alert) -> Result<Vec<String>, Error> {
        eprintln!("\n{}", alert.to_text());
        let key = format!("alerts/{}.json", alert.run_id);
        let body = serde_json::to_vec_pretty(alert).unwrap_or_default();
        self.store.put(&key, Bytes::from(body), None).await?;
        let mut delivered = vec!["console".to_string(), self.store.uri(&key)];
        if let Some(url) = self.slack_webhook_url.clone() {
            let message = alert.to_slack();
            let posted = tokio::task::spawn_blocking(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .timeout_global(Some(Duration::from_secs(10)))
                    .build()
                    .into();
                agent.post(&url).send_json(&message).map(|_| ())
            })
            .await
            .map_err(|e| NotifyError {
                target: "the Slack webhook".into(),
                message: e.to_string(),
                kind: ErrorKind::Fatal,
            })?;
            match posted {
                Ok(()) => delivered.push("slack".into()),
                // The alert is on the console and on disk already: a Slack outage
                // must not fail the run a second time. Retrying would duplicate those.
                Err(e) => {
                    tracing::error!(error = %e, "posting the alert to the Slack webhook failed")
                }
            }
        }
        Ok(delivered)
    }
}
