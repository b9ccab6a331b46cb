//! The notifier port on SNS: one publish per alert, `MessageStructure=json`,
//! so each subscriber gets its own format: plain text for e-mail (and any
//! other protocol), and an AWS Chatbot custom notification for the Slack
//! channel that Chatbot subscribes over HTTPS.

use crate::error::{describe, kind};
use async_trait::async_trait;
use aws_sdk_sns::Client;
use serde_json::json;
use tidemark_core::alert::Alert;
use tidemark_core::error::{Error, NotifyError};
use tidemark_core::events::TableStatus;
use tidemark_core::ports::Notifier;

pub struct SnsNotifier {
    client: Client,
    topic_arn: String,
}

impl SnsNotifier {
    pub fn new(client: Client, topic_arn: String) -> Self {
        SnsNotifier { client, topic_arn }
    }
}

/// SNS subjects are at most 100 ASCII characters, with no line breaks.
fn subject(alert: &Alert) -> String {
    let s: String = alert
        .subject()
        .chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() {
                c
            } else {
                ' '
            }
        })
        .collect();
    s.chars().take(100).collect()
}

/// An AWS Chatbot custom notification: a title, a Markdown description and
/// the rerun command as a copyable next step.
pub fn chatbot_message(alert: &Alert) -> serde_json::Value {
    let mut lines = Vec::new();
    for t in &alert.tables {
        match t.status {
            TableStatus::Failed => {
                let mut line = format!(
                    "• `{}` failed with *{}*",
                    t.table,
                    t.error.as_deref().unwrap_or("an unknown error")
                );
                if let Some(m) = &t.message {
                    line.push_str(&format!(": {}", m.lines().next().unwrap_or_default()));
                }
                if let Some(report) = t.record.as_ref().and_then(|r| r.report.as_deref()) {
                    line.push_str(&format!("\n   report: {report}"));
                }
                lines.push(line);
            }
            TableStatus::Succeeded => match t.erasure() {
                Some(e) => lines.push(format!(
                    "• `{}` succeeded: {}",
                    t.table,
                    tidemark_core::alert::erasure_line(e)
                )),
                None => lines.push(format!("• `{}` succeeded", t.table)),
            },
            TableStatus::Skipped => lines.push(format!(
                "• `{}` skipped: {}",
                t.table,
                t.message.as_deref().unwrap_or("another run holds it")
            )),
        }
    }
    if let Some(r) = &alert.replication {
        lines.push(format!("replication: {} ({})", r.state, r.message));
    }
    let mut content = json!({
        "textType": "client-markdown",
        "title": alert.subject(),
        "description": lines.join("\n"),
    });
    if alert.failed {
        let steps: Vec<String> = alert
            .rerun
            .lines()
            .map(|c| format!("Rerun: `{c}`"))
            .collect();
        content["nextSteps"] = json!(steps);
    }
    json!({
        "version": "1.0",
        "source": "custom",
        "id": alert.run_id,
        "content": content,
        "metadata": {
            "threadId": format!("tidemark-{}", alert.database),
            "summary": alert.subject(),
            "additionalContext": { "run_id": alert.run_id, "database": alert.database },
        },
    })
}

/// The message of one publish: a text per protocol.
pub fn message(alert: &Alert) -> String {
    let text = alert.to_text();
    json!({
        "default": text,
        "email": text,
        "https": chatbot_message(alert).to_string(),
    })
    .to_string()
}

#[async_trait]
impl Notifier for SnsNotifier {
    async fn send(&self, alert: &Alert) -> Result<Vec<String>, Error> {
        let out = self
            .client
            .publish()
            .topic_arn(&self.topic_arn)
            .message_structure("json")
            .subject(subject(alert))
            .message(message(alert))
            .send()
            .await
            .map_err(|e| NotifyError {
                target: self.topic_arn.clone(),
                message: format!("SNS Publish: {}", describe(&e)),
                kind: kind(&e),
            })?;
        Ok(vec![format!(
            "{} (message {})",
            self.topic_arn,
            out.message_id().unwrap_or("?")
        )])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tidemark_core::alert::AlertTable;
    use tidemark_core::events::ErasureOutput;
    use tidemark_core::run_record::RunRecord;

    #[test]
    fn the_chatbot_notification_says_what_an_erasure_removed() {
        let alert = Alert {
            run_id: "forget-1".into(),
            database: "shop".into(),
            failed: false,
            input: Default::default(),
            replication: None,
            tables: vec![AlertTable {
                table: "customers".into(),
                status: TableStatus::Succeeded,
                error: None,
                message: None,
                record: Some(RunRecord {
                    erasure: Some(ErasureOutput {
                        keys: 1,
                        removed: [("customers".to_string(), 3)].into_iter().collect(),
                        log: "s3://lake/erasures/shop/customers/forget-1.json".into(),
                        unreadable: Vec::new(),
                    }),
                    ..Default::default()
                }),
            }],
            rerun: String::new(),
            cost: None,
        };
        let message = chatbot_message(&alert);
        assert_eq!(message["source"], "custom");
        assert_eq!(
            message["content"]["description"],
            "• `customers` succeeded: forgot 1 key(s): 3 row(s) removed (customers 3); log: s3://lake/erasures/shop/customers/forget-1.json"
        );
        assert!(message["content"].get("nextSteps").is_none());
    }
}
