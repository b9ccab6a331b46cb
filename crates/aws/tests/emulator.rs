//! The AWS adapters against a real AWS-API emulator (ministack) started on a
//! free loopback port by each test: S3 (the object-store contract every
//! adapter meets), SNS, Glue, Athena and Step Functions.

mod support;

use aws_sdk_glue::types::{Column, SerDeInfo, StorageDescriptor, TableInput};
use bytes::Bytes;
use std::sync::Arc;
use support::{Emulator, glue_with_database};
use tidemark_aws::athena::{AthenaEngine, Deadline, Polling};
use tidemark_aws::backend::s3_client;
use tidemark_aws::glue::GlueCatalog;
use tidemark_aws::s3::{S3Location, S3Store};
use tidemark_aws::sfn::Reruns;
use tidemark_aws::sns::SnsNotifier;
use tidemark_core::alert::{Alert, AlertTable};
use tidemark_core::error::EngineError;
use tidemark_core::events::{RunRequest, TableSelection, TableStatus};
use tidemark_core::ports::{
    Catalog, CatalogColumn, CatalogEntry, Notifier, ObjectStore, QueryEngine, SqlValue,
};

async fn bucket(sdk: &aws_config::SdkConfig, name: &str) -> aws_sdk_s3::Client {
    let s3 = s3_client(sdk);
    s3.create_bucket()
        .bucket(name)
        .send()
        .await
        .expect("create bucket");
    s3
}

#[tokio::test]
async fn the_s3_store_meets_the_object_store_contract() {
    let emulator = Emulator::start("s3");
    let sdk = emulator.sdk().await;
    let s3 = bucket(&sdk, "tidemark-lake").await;
    // Under a prefix, as the landing store is: keys stay relative to it.
    let store = Arc::new(S3Store::new(
        s3.clone(),
        S3Location::parse("s3://tidemark-lake/some/prefix/").unwrap(),
    ));
    tidemark_core::store_contract::check(store.clone()).await;
    assert_eq!(
        store.uri("a/x.bin"),
        "s3://tidemark-lake/some/prefix/a/x.bin"
    );
    let outside = s3
        .list_objects_v2()
        .bucket("tidemark-lake")
        .send()
        .await
        .unwrap();
    assert!(
        outside
            .contents()
            .iter()
            .all(|o| o.key().unwrap().starts_with("some/prefix/")),
        "every key lives under the store's prefix"
    );
}

#[tokio::test]
async fn listing_pages_through_more_than_a_thousand_keys() {
    let emulator = Emulator::start("s3");
    let sdk = emulator.sdk().await;
    let s3 = bucket(&sdk, "tidemark-landing").await;
    let store = S3Store::new(s3, S3Location::parse("s3://tidemark-landing").unwrap());
    let puts = (0..1100).map(|i| {
        let store = &store;
        async move {
            store
                .put(&format!("public/orders/{i:05}.csv"), Bytes::from("x"), None)
                .await
                .unwrap()
        }
    });
    futures::future::join_all(puts).await;
    let listed = store.list("public/orders/").await.unwrap();
    assert_eq!(listed.len(), 1100);
    assert_eq!(listed[1099].key, "public/orders/01099.csv");
}

async fn glue_table(
    glue: &aws_sdk_glue::Client,
    database: &str,
    name: &str,
) -> aws_sdk_glue::types::Table {
    glue.get_table()
        .database_name(database)
        .name(name)
        .send()
        .await
        .unwrap()
        .table
        .unwrap()
}

fn alert() -> Alert {
    Alert {
        run_id: "daily-2026-11-21".into(),
        database: "shop".into(),
        failed: true,
        input: Default::default(),
        replication: None,
        tables: vec![
            AlertTable {
                stale: None,
                table: "orders".into(),
                status: TableStatus::Failed,
                error: Some("Tidemark.Validation".into()),
                message: Some("1 file quarantined: row 2, column status, null, not_null".into()),
                record: None,
            },
            AlertTable {
                stale: None,
                table: "customers".into(),
                status: TableStatus::Succeeded,
                error: None,
                message: None,
                record: None,
            },
        ],
        rerun: "tidemark rerun --state-machine arn:aws:states:us-east-1:000000000000:stateMachine:p --tables orders".into(),
        cost: None,
    }
}

#[tokio::test]
async fn an_alert_is_one_publish_that_subscribers_receive_as_text() {
    let emulator = Emulator::start("sns,sqs");
    let sdk = emulator.sdk().await;
    let sns = aws_sdk_sns::Client::new(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let topic = sns.create_topic().name("alerts").send().await.unwrap();
    let topic = topic.topic_arn().unwrap().to_string();
    let queue_url = support::queue_subscribed_to(&sdk, &topic, "inbox", false).await;

    let delivered = SnsNotifier::new(sns, topic.clone())
        .send(&alert())
        .await
        .unwrap();
    assert!(delivered[0].starts_with(&topic), "{delivered:?}");

    let mut received = Vec::new();
    for _ in 0..20 {
        let out = sqs
            .receive_message()
            .queue_url(&queue_url)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        received.extend(
            out.messages()
                .iter()
                .filter_map(|m| m.body().map(str::to_string)),
        );
        if !received.is_empty() {
            break;
        }
    }
    assert_eq!(received.len(), 1, "one publish, one message: {received:?}");
    let envelope: serde_json::Value = serde_json::from_str(&received[0]).unwrap();
    assert_eq!(
        envelope["Subject"],
        "tidemark shop: 1 of 2 table(s) failed in run daily-2026-11-21"
    );
    let text = envelope["Message"].as_str().unwrap();
    assert_eq!(
        text,
        alert().to_text(),
        "non-HTTPS subscribers get the plain text"
    );
    assert!(text.contains("Tidemark.Validation") && text.contains("rerun: tidemark rerun"));
}

#[tokio::test]
async fn publishing_describes_the_table_and_view_and_keeps_what_athena_wrote() {
    let emulator = Emulator::start("glue");
    let sdk = emulator.sdk().await;
    let glue = glue_with_database(&sdk, "shop").await;
    // What Athena's CTAS and CREATE VIEW leave in Glue.
    for (name, table_type, params) in [
        (
            "orders",
            "EXTERNAL_TABLE",
            vec![
                ("table_type", "ICEBERG"),
                (
                    "metadata_location",
                    "s3://lake/history/shop/orders/metadata/00001.json",
                ),
            ],
        ),
        (
            "orders_current",
            "VIRTUAL_VIEW",
            vec![("presto_view", "true")],
        ),
    ] {
        let mut input = TableInput::builder()
            .name(name)
            .table_type(table_type)
            .storage_descriptor(
                StorageDescriptor::builder()
                    .columns(
                        Column::builder()
                            .name("order_id")
                            .r#type("bigint")
                            .build()
                            .unwrap(),
                    )
                    .columns(
                        Column::builder()
                            .name("status")
                            .r#type("string")
                            .build()
                            .unwrap(),
                    )
                    .location("s3://lake/history/shop/orders")
                    .build(),
            );
        for (k, v) in params {
            input = input.parameters(k, v);
        }
        if table_type == "VIRTUAL_VIEW" {
            input = input.view_original_text("/* Presto View: e30= */");
        }
        glue.create_table()
            .database_name("shop")
            .table_input(input.build().unwrap())
            .send()
            .await
            .unwrap();
    }
    let entry = CatalogEntry {
        database: "shop".into(),
        table: "orders".into(),
        current_view: "orders_current".into(),
        description: "Orders placed in the shop.".into(),
        primary_key: vec!["order_id".into()],
        columns: vec![
            CatalogColumn {
                name: "order_id".into(),
                column_type: "bigint".into(),
                description: "The order's id.".into(),
            },
            CatalogColumn {
                name: "status".into(),
                column_type: "string".into(),
                description: "Where the order is.".into(),
            },
        ],
        metadata_version: 3,
        view_digest: "0123456789abcdef0123456789abcdef".into(),
    };
    let catalog = GlueCatalog::new(glue.clone());
    catalog.publish(&entry).await.unwrap();
    let versions = || async {
        let mut ids = Vec::new();
        for name in ["orders", "orders_current"] {
            let table = glue_table(&glue, "shop", name).await;
            ids.push(table.version_id().map(str::to_string));
        }
        ids
    };
    let published = versions().await;
    catalog
        .publish(&entry)
        .await
        .expect("publishing again is safe");
    // Nothing changed: no update, no new table version.
    assert_eq!(versions().await, published);

    let table = glue_table(&glue, "shop", "orders").await;
    assert_eq!(table.description(), Some("Orders placed in the shop."));
    let params = table.parameters().unwrap();
    assert_eq!(params["table_type"], "ICEBERG");
    assert_eq!(
        params["metadata_location"],
        "s3://lake/history/shop/orders/metadata/00001.json"
    );
    assert_eq!(params["tidemark.primary_key"], "order_id");
    assert_eq!(params["tidemark.metadata_version"], "3");
    let comments: Vec<_> = table
        .storage_descriptor()
        .unwrap()
        .columns()
        .iter()
        .map(|c| {
            (
                c.name(),
                c.r#type().unwrap(),
                c.comment().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        comments,
        [
            ("order_id", "bigint", "The order's id."),
            ("status", "string", "Where the order is.")
        ]
    );
    let view = glue_table(&glue, "shop", "orders_current").await;
    assert_eq!(view.view_original_text(), Some("/* Presto View: e30= */"));
    assert_eq!(view.table_type(), Some("VIRTUAL_VIEW"));
    assert!(
        view.description()
            .unwrap()
            .starts_with("The current version of each row of shop.orders")
    );

    // The view records the digest of the statement that created it, which
    // publish-catalog compares before it runs the statement again ...
    assert_eq!(
        catalog.view_digest(&entry).await.unwrap(),
        Some(entry.view_digest.clone())
    );
    assert_eq!(
        view.parameters().unwrap()["tidemark.view_digest"],
        entry.view_digest
    );
    let no_view = CatalogEntry {
        current_view: "orders_gone".into(),
        ..entry.clone()
    };
    assert_eq!(catalog.view_digest(&no_view).await.unwrap(), None);
    // ... and a view Athena created again (its parameters written anew)
    // has none, so the next publish creates it once more.
    let recreated = TableInput::builder()
        .name("orders_current")
        .table_type("VIRTUAL_VIEW")
        .set_view_original_text(view.view_original_text().map(str::to_string))
        .set_storage_descriptor(view.storage_descriptor().cloned())
        .parameters("presto_view", "true")
        .build()
        .unwrap();
    glue.update_table()
        .database_name("shop")
        .table_input(recreated)
        .send()
        .await
        .unwrap();
    assert_eq!(catalog.view_digest(&entry).await.unwrap(), None);
    catalog.publish(&entry).await.unwrap();
    assert_eq!(
        catalog.view_digest(&entry).await.unwrap(),
        Some(entry.view_digest.clone())
    );
    let published = versions().await;

    // A changed description is written.
    let redescribed = CatalogEntry {
        description: "Orders, as placed.".into(),
        ..entry.clone()
    };
    catalog.publish(&redescribed).await.unwrap();
    let updated = versions().await;
    assert!(
        updated
            .iter()
            .zip(&published)
            .all(|(now, then)| now != then),
        "{updated:?} after {published:?}"
    );
    let table = glue_table(&glue, "shop", "orders").await;
    assert_eq!(table.description(), Some("Orders, as placed."));

    let missing = CatalogEntry {
        table: "nope".into(),
        current_view: "nope_current".into(),
        ..entry
    };
    // A missing table: NotFound, naming it; a person must act (not retried).
    let e = catalog.publish(&missing).await.unwrap_err();
    assert!(
        matches!(&e, tidemark_core::Error::Catalog(c)
            if c.kind == tidemark_core::error::ErrorKind::NotFound && c.table == "shop.nope"),
        "{e:?}"
    );
    assert!(
        e.to_string().contains("shop.nope: not in the Glue catalog"),
        "{e}"
    );
    assert_eq!(e.name(), tidemark_core::ErrorName::InvalidInput);
}

#[tokio::test]
async fn athena_runs_statements_in_the_workgroup_and_types_the_rows() {
    let emulator = Emulator::start("s3,glue,athena");
    let sdk = emulator.sdk().await;
    let s3 = bucket(&sdk, "tidemark-lake").await;
    s3.put_object()
        .bucket("tidemark-lake")
        .key("history/shop/orders/part-0.csv")
        .body(Bytes::from("1,paid,12.5,true\n2,shipped,,false\n").into())
        .send()
        .await
        .unwrap();
    s3.create_bucket()
        .bucket("tidemark-results")
        .send()
        .await
        .unwrap();
    let glue = glue_with_database(&sdk, "shop").await;
    let column = |n: &str, t: &str| Column::builder().name(n).r#type(t).build().unwrap();
    glue.create_table()
        .database_name("shop")
        .table_input(
            TableInput::builder()
                .name("orders")
                .table_type("EXTERNAL_TABLE")
                .storage_descriptor(
                    StorageDescriptor::builder()
                        .columns(column("order_id", "bigint"))
                        .columns(column("status", "string"))
                        .columns(column("total", "double"))
                        .columns(column("paid", "boolean"))
                        .location("s3://tidemark-lake/history/shop/orders/")
                        .serde_info(
                            SerDeInfo::builder()
                                .serialization_library("org.apache.hadoop.hive.serde2.OpenCSVSerde")
                                .build(),
                        )
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let athena = support::athena_workgroup(&sdk, "tidemark", "s3://tidemark-results/").await;
    let engine = AthenaEngine::new(
        athena,
        "tidemark".into(),
        "s3://tidemark-lake".into(),
        Polling {
            first: std::time::Duration::from_millis(50),
            ..Polling::default()
        },
        Deadline::default(),
    );
    let result = engine
        .execute("SELECT order_id, status, total, paid FROM shop.orders ORDER BY order_id")
        .await
        .unwrap();
    assert_eq!(result.columns, ["order_id", "status", "total", "paid"]);
    assert_eq!(
        result.rows,
        [
            vec![
                SqlValue::Int(1),
                SqlValue::Text("paid".into()),
                SqlValue::Float(12.5),
                SqlValue::Bool(true)
            ],
            vec![
                SqlValue::Int(2),
                SqlValue::Text("shipped".into()),
                SqlValue::Null,
                SqlValue::Bool(false)
            ],
        ]
    );
    assert!(result.bytes_scanned.is_some() && result.engine_ms.is_some());
    assert_eq!(
        engine
            .execute("SELECT count(*) AS row_count FROM shop.orders")
            .await
            .unwrap()
            .int("row_count"),
        Some(2)
    );

    let failed = engine.execute("SELECT nope FROM shop.orders").await;
    match failed {
        Err(EngineError::Query { statement, message }) => {
            assert_eq!(statement, "SELECT nope FROM shop.orders");
            assert!(message.contains("failed"), "{message}");
        }
        other => panic!("a bad statement is a query error, not {other:?}"),
    }
}

#[tokio::test]
async fn a_rerun_starts_one_execution_however_often_it_is_submitted() {
    let emulator = Emulator::start("stepfunctions");
    let sdk = emulator.sdk().await;
    let sfn = aws_sdk_sfn::Client::new(&sdk);
    let machine = sfn
        .create_state_machine()
        .name("tidemark-dev-shop")
        .definition(r#"{"StartAt":"Done","States":{"Done":{"Type":"Pass","End":true}}}"#)
        .role_arn("arn:aws:iam::000000000000:role/tidemark")
        .send()
        .await
        .unwrap();
    let reruns = Reruns::new(sfn.clone(), machine.state_machine_arn().to_string());
    let request = RunRequest {
        tables: Some(TableSelection::Named(vec!["orders".into()])),
        ..RunRequest::default()
    };
    let first = reruns.submit(&request, "rerun-a-1").await.unwrap();
    assert!(first.started);
    let second = reruns.submit(&request, "rerun-a-1").await.unwrap();
    assert!(!second.started, "the same name starts nothing");
    assert_eq!(first.execution_arn, second.execution_arn);

    let bad = RunRequest {
        mode: Some(tidemark_core::events::RunMode::Reprocess),
        ..request.clone()
    };
    let e = reruns.submit(&bad, "rerun-b-1").await.unwrap_err();
    assert!(
        matches!(&e, tidemark_aws::sfn::RerunError::Invalid(_))
            && e.to_string()
                .contains("mode reprocess needs \"from\" and \"to\""),
        "{e}"
    );

    let runs = reruns.recent(10).await.unwrap();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].name, "rerun-a-1");
    assert_eq!(runs[0].execution_arn, first.execution_arn);
    let input = sfn
        .describe_execution()
        .execution_arn(&first.execution_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(input.input(), Some(r#"{"tables":["orders"]}"#));
}

/// A history table as Athena's CTAS leaves it: an Iceberg table at its own
/// location, with one row per `(order_id, status)`.
async fn iceberg_table(engine: &AthenaEngine, name: &str, folder: &str, rows: &[(i64, &str)]) {
    let values: Vec<String> = rows
        .iter()
        .map(|(id, status)| format!("({id}, '{status}')"))
        .collect();
    engine
        .execute(&format!(
            "CREATE TABLE \"shop\".\"{name}\"\nWITH (table_type = 'ICEBERG', is_external = false, location = 's3://tidemark-lake/history/shop/{folder}/', format = 'PARQUET', write_compression = 'ZSTD')\nAS SELECT * FROM (VALUES {}) AS t(order_id, status)",
            values.join(", ")
        ))
        .await
        .unwrap();
}

/// The rows of a table, read through Athena, as `id status`.
async fn rows(engine: &AthenaEngine, name: &str) -> Vec<String> {
    engine
        .execute(&format!(
            "SELECT order_id, status FROM \"shop\".\"{name}\" ORDER BY order_id"
        ))
        .await
        .unwrap_or_else(|e| panic!("reading shop.{name}: {e}"))
        .rows
        .iter()
        .map(|r| match (&r[0], &r[1]) {
            (SqlValue::Int(id), SqlValue::Text(status)) => format!("{id} {status}"),
            other => panic!("{other:?}"),
        })
        .collect()
}

async fn glue_entry(glue: &aws_sdk_glue::Client, name: &str) -> Option<aws_sdk_glue::types::Table> {
    match glue
        .get_table()
        .database_name("shop")
        .name(name)
        .send()
        .await
    {
        Ok(out) => out.table,
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_entity_not_found_exception()) =>
        {
            None
        }
        Err(e) => panic!("GetTable shop.{name}: {e:?}"),
    }
}

fn parameter<'a>(table: &'a aws_sdk_glue::types::Table, name: &str) -> &'a str {
    table.parameters().unwrap()[name].as_str()
}

/// The emulator's Glue, Athena over it, and the catalog under test.
async fn swap_setup(emulator: &Emulator) -> (aws_sdk_glue::Client, AthenaEngine, GlueCatalog) {
    let sdk = emulator.sdk().await;
    bucket(&sdk, "tidemark-lake").await;
    bucket(&sdk, "tidemark-results").await;
    let glue = glue_with_database(&sdk, "shop").await;
    let athena = support::athena_workgroup(&sdk, "tidemark", "s3://tidemark-results/").await;
    let engine = AthenaEngine::new(
        athena,
        "tidemark".into(),
        "s3://tidemark-lake".into(),
        Polling {
            first: std::time::Duration::from_millis(20),
            ..Polling::default()
        },
        Deadline::default(),
    );
    (glue.clone(), engine, GlueCatalog::new(glue))
}

#[tokio::test]
async fn a_rebuilt_history_swaps_in_on_glue_and_the_replaced_one_is_kept() {
    let emulator = Emulator::start("s3,glue,athena");
    let (glue, engine, catalog) = swap_setup(&emulator).await;
    assert!(catalog.swaps_history());
    iceberg_table(&engine, "orders", "orders", &[(1, "paid"), (2, "paid")]).await;
    iceberg_table(&engine, "orders__previous", "orders.old", &[(9, "older")]).await;
    iceberg_table(&engine, "orders__rebuild", "orders.g1", &[(1, "shipped")]).await;
    let live = glue_entry(&glue, "orders").await.unwrap();
    let staged = glue_entry(&glue, "orders__rebuild").await.unwrap();
    assert_ne!(
        parameter(&live, "metadata_location"),
        parameter(&staged, "metadata_location"),
        "each CTAS writes a metadata file of its own"
    );

    catalog
        .swap_history("shop", "orders", "orders__rebuild", "orders__previous")
        .await
        .unwrap();

    assert_eq!(rows(&engine, "orders").await, ["1 shipped"]);
    assert_eq!(
        rows(&engine, "orders__previous").await,
        ["1 paid", "2 paid"]
    );
    assert!(glue_entry(&glue, "orders__rebuild").await.is_none());
    let swapped = glue_entry(&glue, "orders").await.unwrap();
    assert_eq!(
        parameter(&swapped, "metadata_location"),
        parameter(&staged, "metadata_location")
    );
    assert_eq!(
        parameter(&swapped, "previous_metadata_location"),
        parameter(&live, "metadata_location")
    );
    assert_eq!(parameter(&swapped, "table_type"), "ICEBERG");
    assert_eq!(
        swapped.storage_descriptor().unwrap().location(),
        Some("s3://tidemark-lake/history/shop/orders.g1/")
    );
    let previous = glue_entry(&glue, "orders__previous").await.unwrap();
    assert_eq!(
        parameter(&previous, "metadata_location"),
        parameter(&live, "metadata_location")
    );
    assert_eq!(
        previous.storage_descriptor().unwrap().location(),
        Some("s3://tidemark-lake/history/shop/orders/")
    );

    // Repeated (the ledger still says pending after a kill): nothing changes.
    catalog
        .swap_history("shop", "orders", "orders__rebuild", "orders__previous")
        .await
        .unwrap();
    assert_eq!(rows(&engine, "orders").await, ["1 shipped"]);
    assert_eq!(
        rows(&engine, "orders__previous").await,
        ["1 paid", "2 paid"]
    );
    for (name, before) in [("orders", &swapped), ("orders__previous", &previous)] {
        let after = glue_entry(&glue, name).await.unwrap();
        assert_eq!(
            after.version_id(),
            before.version_id(),
            "{name} was written"
        );
    }

    // A first history: the staged table becomes the live one.
    iceberg_table(&engine, "returns__rebuild", "returns.g1", &[(5, "back")]).await;
    catalog
        .swap_history("shop", "returns", "returns__rebuild", "returns__previous")
        .await
        .unwrap();
    assert_eq!(rows(&engine, "returns").await, ["5 back"]);
    assert!(glue_entry(&glue, "returns__rebuild").await.is_none());
    assert!(glue_entry(&glue, "returns__previous").await.is_none());
}

#[tokio::test]
async fn a_glue_swap_killed_midway_is_completed_by_the_next_call() {
    let emulator = Emulator::start("s3,glue,athena");
    let (glue, engine, catalog) = swap_setup(&emulator).await;

    // Killed after `previous` was created: the live entry is still the old one.
    iceberg_table(&engine, "orders", "orders", &[(1, "paid")]).await;
    iceberg_table(&engine, "orders__rebuild", "orders.g1", &[(1, "shipped")]).await;
    let live = glue_entry(&glue, "orders").await.unwrap();
    let sd = live.storage_descriptor().unwrap();
    glue.create_table()
        .database_name("shop")
        .table_input(
            TableInput::builder()
                .name("orders__previous")
                .set_table_type(live.table_type().map(str::to_string))
                .storage_descriptor(
                    StorageDescriptor::builder()
                        .set_columns(Some(sd.columns().to_vec()))
                        .set_location(sd.location().map(str::to_string))
                        .build(),
                )
                .set_parameters(live.parameters().cloned())
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(rows(&engine, "orders__previous").await, ["1 paid"]);
    let previous = glue_entry(&glue, "orders__previous").await.unwrap();
    catalog
        .swap_history("shop", "orders", "orders__rebuild", "orders__previous")
        .await
        .unwrap();
    assert_eq!(rows(&engine, "orders").await, ["1 shipped"]);
    assert_eq!(rows(&engine, "orders__previous").await, ["1 paid"]);
    assert!(glue_entry(&glue, "orders__rebuild").await.is_none());
    assert_eq!(
        glue_entry(&glue, "orders__previous")
            .await
            .unwrap()
            .version_id(),
        previous.version_id(),
        "the kept history is not written again"
    );

    // Killed after the live entry was updated: only the staged entry is left.
    iceberg_table(&engine, "customers", "customers", &[(7, "old")]).await;
    iceberg_table(&engine, "customers__rebuild", "customers.g1", &[(7, "new")]).await;
    let live = glue_entry(&glue, "customers").await.unwrap();
    let staged = glue_entry(&glue, "customers__rebuild").await.unwrap();
    glue.create_table()
        .database_name("shop")
        .table_input(
            TableInput::builder()
                .name("customers__previous")
                .set_table_type(live.table_type().map(str::to_string))
                .set_storage_descriptor(live.storage_descriptor().cloned())
                .set_parameters(live.parameters().cloned())
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    glue.update_table()
        .database_name("shop")
        .table_input(tidemark_aws::glue::swapped(&live, &staged).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(rows(&engine, "customers").await, ["7 new"]);
    let updated = glue_entry(&glue, "customers").await.unwrap();
    catalog
        .swap_history(
            "shop",
            "customers",
            "customers__rebuild",
            "customers__previous",
        )
        .await
        .unwrap();
    assert!(glue_entry(&glue, "customers__rebuild").await.is_none());
    assert_eq!(rows(&engine, "customers").await, ["7 new"]);
    assert_eq!(rows(&engine, "customers__previous").await, ["7 old"]);
    assert_eq!(
        glue_entry(&glue, "customers").await.unwrap().version_id(),
        updated.version_id()
    );
}
