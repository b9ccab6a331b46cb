//! The lease on the folder store, and the Slack webhook post.

use std::io::{BufRead, BufReader, Read, Write};
use std::sync::Arc;
use tidemark_core::alert::{Alert, AlertTable};
use tidemark_core::error::{Error, ErrorName};
use tidemark_core::events::TableStatus;
use tidemark_core::lease::Lease;
use tidemark_core::ports::{Notifier, ObjectStore};
use tidemark_local::fs_store::FsStore;
use tidemark_local::notifier::ConsoleNotifier;

#[tokio::test]
async fn a_second_run_cannot_take_a_live_lease_but_can_take_an_expired_one() {
    let dir = tempfile::tempdir().unwrap();
    let store = FsStore::new(dir.path()).unwrap();
    let daily = Lease::acquire(&store, "state/db/t/lease.json", "t", "daily", 600)
        .await
        .unwrap();
    let err = Lease::acquire(&store, "state/db/t/lease.json", "t", "rerun", 600)
        .await
        .unwrap_err();
    assert_eq!(err.name(), ErrorName::Concurrency);
    assert!(
        matches!(&err, Error::Concurrency { owner, .. } if owner == "daily"),
        "{err}"
    );
    // The holder may renew; after release anyone may take it.
    let daily = {
        drop(daily);
        Lease::acquire(&store, "state/db/t/lease.json", "t", "daily", 600)
            .await
            .unwrap()
    };
    daily.release(&store).await.unwrap();
    let rerun = Lease::acquire(&store, "state/db/t/lease.json", "t", "rerun", 0)
        .await
        .unwrap();
    drop(rerun); // held with a zero lifetime: expired at once
    Lease::acquire(&store, "state/db/t/lease.json", "t", "daily", 600)
        .await
        .unwrap();
}

#[tokio::test]
async fn alerts_go_to_the_console_a_file_and_the_slack_webhook() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let server = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream);
        let mut length = 0;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap();
            }
            if line == "\r\n" {
                break;
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        reader
            .get_mut()
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            .unwrap();
        String::from_utf8(body).unwrap()
    });
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn ObjectStore> = Arc::new(FsStore::new(dir.path()).unwrap());
    let notifier = ConsoleNotifier {
        store,
        slack_webhook_url: Some(url),
    };
    let alert = Alert {
        run_id: "run-1".into(),
        database: "demo".into(),
        failed: true,
        input: Default::default(),
        replication: None,
        tables: vec![AlertTable {
            stale: None,
            table: "orders".into(),
            status: TableStatus::Failed,
            error: Some("Tidemark.Validation".into()),
            message: Some("row 2 column status: [not_null]".into()),
            record: None,
        }],
        rerun: "tidemark run --tables orders".into(),
        cost: Some(tidemark_core::cost::RunCost {
            total_usd: 0.0312,
            estimate: true,
            top: vec![("orders".into(), 0.0301)],
            prices: "eu-west-2 prices of 2026-12-04".into(),
        }),
    };
    let delivered = notifier.send(&alert).await.unwrap();
    assert_eq!(delivered.len(), 3, "{delivered:?}");
    assert_eq!(delivered[2], "slack");
    let posted: serde_json::Value = serde_json::from_str(&server.join().unwrap()).unwrap();
    let text = posted["text"].as_str().unwrap();
    assert!(
        text.contains("`orders` — Tidemark.Validation: row 2 column status: [not_null]"),
        "{text}"
    );
    assert!(
        text.contains("Rerun: `tidemark run --tables orders`"),
        "{text}"
    );
    assert!(
        text.contains("_cost $0.03 (local estimate) — most: orders $0.03_"),
        "{text}"
    );
    let written: Alert =
        serde_json::from_slice(&std::fs::read(dir.path().join("alerts/run-1.json")).unwrap())
            .unwrap();
    assert_eq!(written, alert);
}
