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

/// What a Chatbot notification keeps within: Chatbot renders it into
/// Slack's Block Kit, whose header takes at most 150 characters and a
/// section's text 3,000; and a few next steps.
const TITLE_MAX: usize = 150;
const DESCRIPTION_MAX: usize = 3000;
const NEXT_STEPS_MAX: usize = 5;
/// One failed table's message in the description (its first line, cut).
const LINE_MAX: usize = 500;
/// SNS's largest message, every protocol's text together: 256 KiB.
const SNS_MESSAGE_MAX: usize = 256 * 1024;

/// `text` cut to at most `max` characters, ending with `…` when cut.
fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// An AWS Chatbot custom notification: a title, a Markdown description and
/// the rerun command as a copyable next step, within Chatbot's limits (the
/// e-mail carries every message whole).
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
                    let first = m.lines().next().unwrap_or_default();
                    line.push_str(&format!(": {}", clip(first, LINE_MAX)));
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
    for t in &alert.tables {
        if let Some(stale) = &t.stale {
            lines.push(format!("• `{}` stale: {}", t.table, clip(stale, LINE_MAX)));
        }
    }
    if let Some(r) = &alert.replication {
        lines.push(format!("replication: {} ({})", r.state, r.message));
    }
    // Whole lines while they fit, then how many more the e-mail has.
    let mut description = String::new();
    for (i, line) in lines.iter().enumerate() {
        let more = format!(
            "\n… {} more line(s): see the e-mail, or runs/{}/",
            lines.len() - i,
            alert.run_id
        );
        if description.chars().count() + line.chars().count() + 1 + more.chars().count()
            > DESCRIPTION_MAX
            && i + 1 < lines.len()
        {
            description.push_str(&more);
            break;
        }
        if !description.is_empty() {
            description.push('\n');
        }
        description.push_str(line);
    }
    let mut content = json!({
        "textType": "client-markdown",
        "title": clip(&alert.subject(), TITLE_MAX),
        "description": clip(&description, DESCRIPTION_MAX),
    });
    if alert.failed {
        let steps: Vec<String> = alert
            .rerun
            .lines()
            .take(NEXT_STEPS_MAX)
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

/// The message of one publish: a text per protocol, within SNS's size (a
/// text too long for it is cut, saying where the rest is).
pub fn message(alert: &Alert) -> String {
    let https = chatbot_message(alert).to_string();
    let full = alert.to_text();
    let mut text = full.clone();
    loop {
        let message = json!({"default": text, "email": text, "https": https}).to_string();
        if message.len() <= SNS_MESSAGE_MAX {
            return message;
        }
        let keep = text.chars().count() * SNS_MESSAGE_MAX / message.len() * 9 / 10;
        text = format!(
            "{}\n\n(cut to fit an SNS message: every table's result is in runs/{}/)",
            clip(&full, keep),
            alert.run_id
        );
    }
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

    fn failed(table: &str, error: &str, message: String) -> AlertTable {
        AlertTable {
            stale: None,
            table: table.into(),
            status: TableStatus::Failed,
            error: Some(error.into()),
            message: Some(message),
            record: None,
        }
    }

    fn alert(tables: Vec<AlertTable>) -> Alert {
        Alert {
            run_id: "daily-2026-12-05".into(),
            database: "shop".into(),
            failed: true,
            input: Default::default(),
            replication: None,
            tables,
            rerun: "tidemark rerun --pipeline arn:aws:states:eu-west-2:1:stateMachine:shop --tables items".into(),
            cost: None,
        }
    }

    /// What the pipeline alerts with, as Chatbot's custom notification and as
    /// e-mail text: the same facts in each, within Chatbot's and SNS's sizes.
    #[test]
    fn every_alert_reaches_chatbot_and_email_within_their_limits() {
        let long = format!("the engine said: {}", "x".repeat(10_000));
        let cases = [
            failed(
                "items",
                "Tidemark.SchemaDrift",
                "price: decimal128(10,2) became string; colour was dropped. Nothing was merged; run with mode \"rebuild\" once the history may be recomputed.".into(),
            ),
            failed(
                "orders",
                "Tidemark.Validation",
                "2 of 3 files quarantined: 20261205-101500000.parquet row 4 column amount: not a decimal128(12,2) (\"12,50\")\nreport: s3://lake/reports/shop/orders/7.html".into(),
            ),
            failed("customers", "States.Timeout", "the step ran past its 900 s timeout".into()),
            failed(
                "payments",
                "Tidemark.Concurrency",
                "another run (daily-2026-12-04) holds the table's lease until 10:15:00Z".into(),
            ),
            failed(
                "refunds",
                "Tidemark.Transient",
                "Athena throttled the MERGE (ThrottlingException) (transient: retried)".into(),
            ),
            failed("ledger", "Tidemark.Merge", long.clone()),
        ];
        for table in cases {
            let alert = alert(vec![table.clone()]);
            let chatbot = chatbot_message(&alert);
            assert_eq!(chatbot["version"], "1.0");
            assert_eq!(chatbot["source"], "custom");
            let content = &chatbot["content"];
            assert_eq!(content["textType"], "client-markdown");
            let title = content["title"].as_str().unwrap();
            let description = content["description"].as_str().unwrap();
            assert!(title.chars().count() <= TITLE_MAX, "{title}");
            assert!(
                description.chars().count() <= DESCRIPTION_MAX,
                "{description}"
            );
            let steps = content["nextSteps"].as_array().unwrap();
            assert!(!steps.is_empty() && steps.len() <= NEXT_STEPS_MAX);
            let error = table.error.as_deref().unwrap();
            let first = table.message.as_deref().unwrap().lines().next().unwrap();
            assert!(description.contains(&table.table) && description.contains(error));
            assert!(
                description.contains(&clip(first, LINE_MAX)),
                "{description}"
            );

            let published: serde_json::Value = serde_json::from_str(&message(&alert)).unwrap();
            assert!(message(&alert).len() <= SNS_MESSAGE_MAX);
            let email = published["email"].as_str().unwrap();
            assert_eq!(published["default"], published["email"]);
            assert_eq!(published["https"].as_str().unwrap(), chatbot.to_string());
            let message_lines = table.message.as_deref().unwrap().lines();
            for fact in [table.table.as_str(), error, &alert.rerun]
                .into_iter()
                .chain(message_lines)
            {
                assert!(email.contains(fact), "the e-mail lacks {fact:?}");
            }
        }
        assert!(
            chatbot_message(&alert(vec![failed("ledger", "Tidemark.Merge", long)]))["content"]
                ["description"]
                .as_str()
                .unwrap()
                .ends_with('…'),
            "a 10,000-character error is cut in Slack, whole in the e-mail"
        );
    }

    /// However many tables fail with however long errors, the publish fits
    /// SNS and the notification fits Chatbot, saying where the rest is.
    #[test]
    fn a_huge_alert_is_cut_to_fit_and_says_where_the_rest_is() {
        let tables = (0..400)
            .map(|i| failed(&format!("t{i}"), "Tidemark.Merge", "y".repeat(10_000)))
            .collect();
        let alert = alert(tables);
        let text = message(&alert);
        assert!(text.len() <= SNS_MESSAGE_MAX, "{} bytes", text.len());
        let published: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert!(
            published["email"]
                .as_str()
                .unwrap()
                .ends_with("every table's result is in runs/daily-2026-12-05/)")
        );
        let description = chatbot_message(&alert)["content"]["description"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(description.chars().count() <= DESCRIPTION_MAX);
        assert!(
            description.contains("more line(s): see the e-mail, or runs/daily-2026-12-05/"),
            "{description}"
        );
    }

    #[test]
    fn the_chatbot_notification_says_what_an_erasure_removed() {
        let alert = Alert {
            run_id: "forget-1".into(),
            database: "shop".into(),
            failed: false,
            input: Default::default(),
            replication: None,
            tables: vec![AlertTable {
                stale: None,
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

    #[test]
    fn a_stale_table_is_named_in_every_form_with_how_old_it_is() {
        let stale = "last up to date 1 h 00 min ago (run r-3), freshness target 30 min";
        let alert = Alert {
            run_id: "r-7".into(),
            database: "shop".into(),
            failed: false,
            input: Default::default(),
            replication: None,
            tables: vec![AlertTable {
                stale: Some(stale.into()),
                table: "orders".into(),
                status: TableStatus::Skipped,
                error: Some("Tidemark.Concurrency".into()),
                message: Some("held by r-6".into()),
                record: None,
            }],
            rerun: String::new(),
            cost: None,
        };
        let subject = "tidemark shop: 1 of 1 table(s) stale in run r-7";
        assert_eq!(alert.subject(), subject);
        let text = alert.to_text();
        assert!(text.contains(&format!("  ! stale: {stale}\n")), "{text}");
        let slack = alert.to_slack()["text"].as_str().unwrap().to_string();
        assert!(
            slack.contains(&format!("• `orders` — stale: {stale}")),
            "{slack}"
        );
        let chatbot = chatbot_message(&alert);
        assert_eq!(chatbot["content"]["title"], subject);
        let description = chatbot["content"]["description"].as_str().unwrap();
        assert!(
            description.contains(&format!("• `orders` stale: {stale}")),
            "{description}"
        );
    }
}
