//! The DMS adapter on HTTP-level replays of DMS responses in the shape AWS
//! documents (JSON 1.1, dates as epoch seconds); the CDC latency it reads from
//! CloudWatch on scripted SDK responses (aws-smithy-mocks).
//!
//! Why not an emulator: ministack has no DMS, and moto's DMS returns dates as
//! ISO strings where the SDK expects epoch numbers, so `DescribeReplicationTasks`
//! fails to deserialize once a task exists. A replay pins every request the
//! adapter sends (operation and body) and answers it the way DMS does.

use aws_sdk_cloudwatch::operation::get_metric_data::{GetMetricDataError, GetMetricDataOutput};
use aws_sdk_cloudwatch::types::MetricDataResult;
use aws_sdk_databasemigration::config::{Credentials, Region};
use aws_smithy_http_client::test_util::{ReplayEvent, StaticReplayClient};
use aws_smithy_mocks::{mock, mock_client};
use aws_smithy_types::body::SdkBody;
use serde_json::{Value, json};
use tidemark_aws::dms::{CdcLatency, DmsMode, DmsReplication, DmsReplicationRef};
use tidemark_core::config::TableMode;
use tidemark_core::error::{Error, ErrorName};
use tidemark_core::events::{ExecutionInput, StartReplicationEvent};
use tidemark_core::ports::{ReloadRequest, Replication};

const TASK: &str = "arn:aws:dms:eu-west-2:123456789012:task:CDC";
const SNAPSHOT: &str = "arn:aws:dms:eu-west-2:123456789012:task:SNAP";
const CONFIG: &str = "arn:aws:dms:eu-west-2:123456789012:replication-config:CFG";

/// One DMS call: the operation named in `X-Amz-Target`, its JSON body, and the answer.
fn call(operation: &str, request: Value, response: Value) -> ReplayEvent {
    ReplayEvent::new(
        http::Request::builder()
            .method("POST")
            .uri("https://dms.eu-west-2.amazonaws.com/")
            .header("x-amz-target", format!("AmazonDMSv20160101.{operation}"))
            .body(SdkBody::from(request.to_string()))
            .unwrap(),
        http::Response::builder()
            .status(200)
            .header("content-type", "application/x-amz-json-1.1")
            .body(SdkBody::from(response.to_string()))
            .unwrap(),
    )
}

fn adapter(
    mode: DmsMode,
    refs: &[(&str, &str)],
    events: Vec<ReplayEvent>,
) -> (DmsReplication, StaticReplayClient) {
    let http = StaticReplayClient::new(events);
    let config = aws_sdk_databasemigration::Config::builder()
        .behavior_version(aws_sdk_databasemigration::config::BehaviorVersion::latest())
        .region(Region::new("eu-west-2"))
        .credentials_provider(Credentials::new("AKID", "SECRET", None, None, "test"))
        .http_client(http.clone())
        .build();
    let dms = DmsReplication::new(
        aws_sdk_databasemigration::Client::from_conf(config),
        mode,
        refs.iter()
            .map(|(kind, arn)| DmsReplicationRef {
                kind: kind.to_string(),
                arn: arn.to_string(),
            })
            .collect(),
    );
    (dms, http)
}

fn describe_task(arn: &str) -> Value {
    json!({
        "Filters": [{"Name": "replication-task-arn", "Values": [arn]}],
        "WithoutSettings": true
    })
}

fn event(started_at: &str) -> StartReplicationEvent {
    StartReplicationEvent {
        input: ExecutionInput::default(),
        run_id: String::new(),
        started_at: Some(started_at.into()),
        previous: None,
    }
}

/// The bodies the adapter sent, in order, as JSON.
/// A run of a cdc and a snapshot table: it needs both replications.
fn both_kinds() -> Vec<(String, TableMode)> {
    vec![
        ("orders".into(), TableMode::Cdc),
        ("products".into(), TableMode::Snapshot),
    ]
}

fn sent(http: &StaticReplayClient) -> Vec<(String, Value)> {
    http.actual_requests()
        .map(|r| {
            let target = r
                .headers()
                .get("x-amz-target")
                .unwrap_or_default()
                .to_string();
            let body = serde_json::from_slice(r.body().bytes().unwrap()).unwrap();
            (target, body)
        })
        .collect()
}

#[tokio::test]
async fn a_stopped_cdc_task_is_resumed_and_its_table_errors_reported() {
    let (dms, http) = adapter(
        DmsMode::Instance,
        &[("cdc", TASK)],
        vec![
            call(
                "DescribeReplicationTasks",
                describe_task(TASK),
                json!({"ReplicationTasks": [{
                    "ReplicationTaskArn": TASK,
                    "ReplicationTaskIdentifier": "tidemark-dev-shop-cdc",
                    "MigrationType": "full-load-and-cdc",
                    "Status": "stopped",
                    "StopReason": "Stop Reason RECOVERABLE_ERROR",
                    "ReplicationTaskCreationDate": 1763510400.0,
                    "ReplicationTaskStartDate": 1763514000.0,
                    "ReplicationTaskStats": {
                        "FullLoadProgressPercent": 100,
                        "ElapsedTimeMillis": 3600000,
                        "TablesLoaded": 3, "TablesLoading": 0, "TablesQueued": 0, "TablesErrored": 1,
                        "FreshStartDate": 1763514000.0,
                        "StartDate": 1763514000.0,
                        "StopDate": 1763600000.0,
                        "FullLoadStartDate": 1763514005.0,
                        "FullLoadFinishDate": 1763517600.0
                    }
                }]}),
            ),
            call(
                "StartReplicationTask",
                json!({"ReplicationTaskArn": TASK, "StartReplicationTaskType": "resume-processing"}),
                json!({"ReplicationTask": {"ReplicationTaskArn": TASK, "Status": "starting"}}),
            ),
            call(
                "DescribeTableStatistics",
                json!({"ReplicationTaskArn": TASK}),
                json!({"ReplicationTaskArn": TASK, "TableStatistics": [
                    {"SchemaName": "public", "TableName": "orders", "TableState": "Table completed",
                     "Inserts": 10, "Updates": 2, "Deletes": 1, "LastUpdateTime": 1763600000.0},
                    {"SchemaName": "public", "TableName": "payments", "TableState": "Table error",
                     "LastUpdateTime": 1763600000.0}
                ], "Marker": "page-2"}),
            ),
            call(
                "DescribeTableStatistics",
                json!({"ReplicationTaskArn": TASK, "Marker": "page-2"}),
                json!({"ReplicationTaskArn": TASK, "TableStatistics": [
                    {"SchemaName": "public", "TableName": "refunds", "TableState": "Table suspended"}
                ]}),
            ),
        ],
    );
    let status = dms
        .start(&event("2026-11-21T06:00:00Z"), &both_kinds())
        .await
        .unwrap();
    assert!(
        status.ready,
        "CDC goes on while the task resumes: {status:?}"
    );
    assert_eq!(status.state, "cdc=stopped");
    assert_eq!(
        status.message,
        "cdc: resumed processing (it stopped: Stop Reason RECOVERABLE_ERROR)"
    );
    assert_eq!(
        status.tables_in_error,
        [
            "public.payments (Table error)",
            "public.refunds (Table suspended)"
        ]
    );
    http.relaxed_requests_match();
    let bodies = sent(&http);
    assert_eq!(bodies.len(), 4);
    assert_eq!(bodies[1].0, "AmazonDMSv20160101.StartReplicationTask");
    assert_eq!(bodies[1].1["StartReplicationTaskType"], "resume-processing");
}

#[tokio::test]
async fn a_snapshot_reload_starts_once_and_the_run_waits_for_it() {
    let stats = |status: &str, start: f64, progress: i64| {
        json!({"ReplicationTasks": [{
            "ReplicationTaskArn": SNAPSHOT,
            "MigrationType": "full-load",
            "Status": status,
            "StopReason": "Stop Reason FULL_LOAD_ONLY_FINISHED",
            "ReplicationTaskStartDate": start,
            "ReplicationTaskStats": {
                "FullLoadProgressPercent": progress,
                "TablesLoaded": 1, "TablesLoading": 0, "TablesQueued": 0, "TablesErrored": 0,
                "StartDate": start, "FullLoadStartDate": start
            }
        }]})
    };
    let no_errors = || {
        call(
            "DescribeTableStatistics",
            json!({"ReplicationTaskArn": SNAPSHOT}),
            json!({"ReplicationTaskArn": SNAPSHOT, "TableStatistics": []}),
        )
    };
    // 2026-11-21T06:00:00Z is 1795240800.
    let (dms, http) = adapter(
        DmsMode::Instance,
        &[("snapshot", SNAPSHOT)],
        vec![
            // First call of the execution: yesterday's extract → reload.
            call(
                "DescribeReplicationTasks",
                describe_task(SNAPSHOT),
                stats("stopped", 1795154400.0, 100),
            ),
            call(
                "StartReplicationTask",
                json!({"ReplicationTaskArn": SNAPSHOT, "StartReplicationTaskType": "reload-target"}),
                json!({"ReplicationTask": {"ReplicationTaskArn": SNAPSHOT, "Status": "starting"}}),
            ),
            no_errors(),
            // After the Wait: this run's reload is loading → wait again, start nothing.
            call(
                "DescribeReplicationTasks",
                describe_task(SNAPSHOT),
                stats("running", 1795240830.0, 40),
            ),
            no_errors(),
            // Then it finished → ready.
            call(
                "DescribeReplicationTasks",
                describe_task(SNAPSHOT),
                stats("stopped", 1795240830.0, 100),
            ),
            no_errors(),
        ],
    );
    let run = event("2026-11-21T06:00:00Z");
    let first = dms.start(&run, &both_kinds()).await.unwrap();
    assert!(!first.ready);
    assert_eq!(first.wait_seconds, 300);
    assert_eq!(
        first.message,
        "snapshot: started a full extract for this run"
    );
    let second = dms.start(&run, &both_kinds()).await.unwrap();
    assert_eq!(
        (second.ready, second.message.as_str()),
        (false, "snapshot: this run's extract is loading")
    );
    let third = dms.start(&run, &both_kinds()).await.unwrap();
    assert!(third.ready, "{third:?}");
    assert_eq!(third.wait_seconds, 0);
    http.relaxed_requests_match();
    let starts = sent(&http)
        .into_iter()
        .filter(|(t, _)| t.ends_with("StartReplicationTask"))
        .count();
    assert_eq!(starts, 1, "one reload per execution");
}

#[tokio::test]
async fn serverless_replications_are_described_and_a_failed_one_fails_the_step() {
    let (dms, http) = adapter(
        DmsMode::Serverless,
        &[("cdc", CONFIG)],
        vec![call(
            "DescribeReplications",
            json!({"Filters": [{"Name": "replication-config-arn", "Values": [CONFIG]}]}),
            json!({"Replications": [{
                "ReplicationConfigIdentifier": "tidemark-dev-shop-cdc",
                "ReplicationConfigArn": CONFIG,
                "Status": "failed",
                "StopReason": "FATAL_ERROR",
                "FailureMessages": ["Error connecting to the source: password authentication failed"],
                "ReplicationType": "full-load-and-cdc",
                "StartReplicationType": "start-replication",
                "ReplicationCreateTime": 1763510400.0,
                "ReplicationUpdateTime": 1763600000.0,
                "ReplicationLastStopTime": 1763600000.0,
                "ReplicationStats": {"FullLoadProgressPercent": 100, "TablesLoaded": 2, "TablesLoading": 0,
                                     "TablesQueued": 0, "TablesErrored": 0, "StartDate": 1763514000.0}
            }]}),
        )],
    );
    let e = dms
        .start(&event("2026-11-21T06:00:00Z"), &both_kinds())
        .await
        .unwrap_err();
    let e = Error::from(e);
    assert_eq!(e.name(), ErrorName::Replication);
    assert!(
        e.to_string().contains("password authentication failed")
            && e.to_string().contains("FATAL_ERROR"),
        "{e}"
    );
    http.relaxed_requests_match();
}

/// A running CDC task whose full load is done, with no table in error.
fn running_cdc_task() -> Vec<ReplayEvent> {
    vec![
        call(
            "DescribeReplicationTasks",
            describe_task(TASK),
            json!({"ReplicationTasks": [{
                "ReplicationTaskArn": TASK,
                "MigrationType": "full-load-and-cdc",
                "Status": "running",
                "ReplicationTaskStartDate": 1763514000.0,
                "ReplicationTaskStats": {"FullLoadProgressPercent": 100, "TablesLoaded": 3,
                    "FullLoadStartDate": 1763514005.0, "FullLoadFinishDate": 1763517600.0}
            }]}),
        ),
        call(
            "DescribeTableStatistics",
            json!({"ReplicationTaskArn": TASK}),
            json!({"ReplicationTaskArn": TASK, "TableStatistics": []}),
        ),
    ]
}

fn latency(rule: &aws_smithy_mocks::Rule) -> CdcLatency {
    CdcLatency {
        client: mock_client!(aws_sdk_cloudwatch, [rule]),
        dimensions: [
            ("ReplicationInstanceIdentifier", "tidemark-dev-shop"),
            ("ReplicationTaskIdentifier", "CDC"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
    }
}

/// The frequent schedule's run takes cdc tables only: it checks the cdc
/// task and leaves the snapshot task alone (no describe, no full extract).
#[tokio::test]
async fn a_run_of_cdc_tables_only_leaves_the_snapshot_replication_alone() {
    let (dms, http) = adapter(
        DmsMode::Instance,
        &[("cdc", TASK), ("snapshot", SNAPSHOT)],
        running_cdc_task(),
    );
    let status = dms
        .start(
            &event("2026-11-21T06:00:00Z"),
            &[("orders".into(), TableMode::Cdc)],
        )
        .await
        .unwrap();
    assert!(status.ready, "{status:?}");
    assert_eq!(status.state, "cdc=running");
    http.relaxed_requests_match();
    let sent = sent(&http);
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(
        sent.iter()
            .all(|(_, body)| !body.to_string().contains("SNAP")),
        "{sent:?}"
    );
}

#[tokio::test]
async fn a_running_cdc_task_reports_its_latency_from_cloudwatch() {
    let rule = mock!(aws_sdk_cloudwatch::Client::get_metric_data)
        .match_requests(|r| {
            let q = &r.metric_data_queries()[0];
            let stat = q.metric_stat().unwrap();
            let metric = stat.metric().unwrap();
            let dims: Vec<(&str, &str)> = metric
                .dimensions()
                .iter()
                .map(|d| (d.name().unwrap(), d.value().unwrap()))
                .collect();
            metric.namespace() == Some("AWS/DMS")
                && metric.metric_name() == Some("CDCLatencyTarget")
                && stat.stat() == Some("Maximum")
                && dims
                    == [
                        ("ReplicationInstanceIdentifier", "tidemark-dev-shop"),
                        ("ReplicationTaskIdentifier", "CDC"),
                    ]
        })
        .then_output(|| {
            GetMetricDataOutput::builder()
                .metric_data_results(
                    MetricDataResult::builder()
                        .id("cdc_latency_target")
                        .values(41.6)
                        .values(300.0)
                        .build(),
                )
                .build()
        });
    let (dms, _) = adapter(DmsMode::Instance, &[("cdc", TASK)], running_cdc_task());
    let status = dms
        .with_latency(latency(&rule))
        .start(&event("2026-11-21T06:00:00Z"), &both_kinds())
        .await
        .unwrap();
    assert!(status.ready, "{status:?}");
    assert_eq!(status.cdc_latency_seconds, Some(42), "the newest datapoint");
    assert_eq!(status.message, "cdc: running; CDC latency 42 s");
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn a_latency_cloudwatch_refuses_is_said_and_the_pipeline_goes_on() {
    let rule = mock!(aws_sdk_cloudwatch::Client::get_metric_data).then_error(|| {
        GetMetricDataError::generic(
            aws_sdk_cloudwatch::error::ErrorMetadata::builder()
                .code("AccessDenied")
                .message("not authorized to perform cloudwatch:GetMetricData")
                .build(),
        )
    });
    let (dms, _) = adapter(DmsMode::Instance, &[("cdc", TASK)], running_cdc_task());
    let status = dms
        .with_latency(latency(&rule))
        .start(&event("2026-11-21T06:00:00Z"), &both_kinds())
        .await
        .unwrap();
    assert!(status.ready);
    assert_eq!(status.cdc_latency_seconds, None);
    assert!(
        status
            .message
            .starts_with("cdc: running; CDC latency unknown (")
            && status.message.contains("cloudwatch:GetMetricData"),
        "{}",
        status.message
    );
}

/// A reload of `tables` by an execution that started at 2026-11-21T06:00:00Z
/// (1795240800).
fn reload_of(tables: &[(&str, TableMode)]) -> ReloadRequest {
    ReloadRequest {
        schema: "public".into(),
        tables: tables.iter().map(|(t, m)| (t.to_string(), *m)).collect(),
        since: chrono::DateTime::parse_from_rfc3339("2026-11-21T06:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc),
    }
}

/// One table's statistics: its state and full load's start and end.
fn table_stats(table: &str, state: &str, start: Option<f64>, end: Option<f64>) -> Value {
    let mut t = json!({"SchemaName": "public", "TableName": table, "TableState": state,
                       "FullLoadRows": 1200, "LastUpdateTime": 1795240900.0});
    if let Some(start) = start {
        t["FullLoadStartTime"] = json!(start);
    }
    if let Some(end) = end {
        t["FullLoadEndTime"] = json!(end);
        t["FullLoadReloaded"] = json!(true);
    }
    t
}

#[tokio::test]
async fn an_instance_reload_asks_reload_tables_and_waits_for_a_load_since_the_execution() {
    let stats = |orders: Value| {
        call(
            "DescribeTableStatistics",
            json!({"ReplicationTaskArn": TASK}),
            json!({"ReplicationTaskArn": TASK, "TableStatistics": [orders]}),
        )
    };
    let (dms, http) = adapter(
        DmsMode::Instance,
        &[("cdc", TASK), ("snapshot", SNAPSHOT)],
        vec![
            call(
                "ReloadTables",
                json!({
                    "ReplicationTaskArn": TASK,
                    "TablesToReload": [{"SchemaName": "public", "TableName": "orders"}],
                    "ReloadOption": "data-reload"
                }),
                json!({"ReplicationTaskArn": TASK}),
            ),
            // Right after the ask: the statistics still show the first full
            // load, a year old, on the second page.
            call(
                "DescribeTableStatistics",
                json!({"ReplicationTaskArn": TASK}),
                json!({"ReplicationTaskArn": TASK, "Marker": "page-2", "TableStatistics": [
                    table_stats("customers", "Table completed", Some(1763514005.0), Some(1763517600.0))
                ]}),
            ),
            call(
                "DescribeTableStatistics",
                json!({"ReplicationTaskArn": TASK, "Marker": "page-2"}),
                json!({"ReplicationTaskArn": TASK, "TableStatistics": [
                    table_stats("orders", "Table completed", Some(1763514005.0), Some(1763517600.0))
                ]}),
            ),
            // Loading: the old end time, or none, is not this run's.
            stats(table_stats(
                "orders",
                "Full load",
                Some(1795240830.0),
                Some(1763517600.0),
            )),
            stats(table_stats("orders", "Before load", None, None)),
            // Landed.
            stats(table_stats(
                "orders",
                "Table completed",
                Some(1795240830.0),
                Some(1795242600.0),
            )),
        ],
    );
    let request = reload_of(&[
        ("orders", TableMode::Cdc),
        ("price_list", TableMode::Snapshot),
    ]);
    dms.reload(&request).await.unwrap();
    assert_eq!(dms.reloading(&request).await.unwrap(), ["orders"]);
    assert_eq!(dms.reloading(&request).await.unwrap(), ["orders"]);
    assert_eq!(dms.reloading(&request).await.unwrap(), ["orders"]);
    assert!(dms.reloading(&request).await.unwrap().is_empty());
    http.relaxed_requests_match();
    let bodies = sent(&http);
    assert_eq!(
        bodies[0],
        (
            "AmazonDMSv20160101.ReloadTables".to_string(),
            json!({
                "ReplicationTaskArn": TASK,
                "TablesToReload": [{"SchemaName": "public", "TableName": "orders"}],
                "ReloadOption": "data-reload"
            })
        ),
        "the cdc table only, by the cdc task"
    );
    assert!(
        bodies[1..]
            .iter()
            .all(|(t, b)| t == "AmazonDMSv20160101.DescribeTableStatistics"
                && b["ReplicationTaskArn"] == TASK),
        "{bodies:?}"
    );
}

#[tokio::test]
async fn a_serverless_reload_asks_reload_replication_tables() {
    let (dms, http) = adapter(
        DmsMode::Serverless,
        &[("cdc", CONFIG)],
        vec![
            call(
                "ReloadReplicationTables",
                json!({
                    "ReplicationConfigArn": CONFIG,
                    "TablesToReload": [
                        {"SchemaName": "public", "TableName": "orders"},
                        {"SchemaName": "public", "TableName": "customers"}
                    ],
                    "ReloadOption": "data-reload"
                }),
                json!({"ReplicationConfigArn": CONFIG}),
            ),
            call(
                "DescribeReplicationTableStatistics",
                json!({"ReplicationConfigArn": CONFIG}),
                json!({"ReplicationConfigArn": CONFIG, "ReplicationTableStatistics": [
                    table_stats("orders", "Table completed", Some(1795240830.0), Some(1795242600.0)),
                    table_stats("customers", "Table is being reloaded", Some(1795240830.0), None)
                ]}),
            ),
        ],
    );
    let request = reload_of(&[("orders", TableMode::Cdc), ("customers", TableMode::Cdc)]);
    dms.reload(&request).await.unwrap();
    assert_eq!(
        dms.reloading(&request).await.unwrap(),
        ["customers"],
        "orders landed; customers did not yet"
    );
    http.relaxed_requests_match();
    let targets: Vec<String> = sent(&http).into_iter().map(|(t, _)| t).collect();
    assert_eq!(
        targets,
        [
            "AmazonDMSv20160101.ReloadReplicationTables",
            "AmazonDMSv20160101.DescribeReplicationTableStatistics"
        ]
    );
}

#[tokio::test]
async fn a_reloaded_table_in_error_fails_the_run_instead_of_waiting() {
    let (dms, http) = adapter(
        DmsMode::Instance,
        &[("cdc", TASK)],
        vec![call(
            "DescribeTableStatistics",
            json!({"ReplicationTaskArn": TASK}),
            json!({"ReplicationTaskArn": TASK, "TableStatistics": [
                table_stats("orders", "Table error", Some(1795240830.0), None)
            ]}),
        )],
    );
    let e = dms
        .reloading(&reload_of(&[("orders", TableMode::Cdc)]))
        .await
        .unwrap_err();
    let e = Error::from(e);
    assert_eq!(e.name(), ErrorName::Replication);
    let message = e.to_string();
    assert!(
        message.contains("public.orders") && message.contains("Table error"),
        "{message}"
    );
    http.relaxed_requests_match();
}

#[tokio::test]
async fn dms_refusing_a_reload_of_a_stopped_task_says_what_to_do() {
    let refused = ReplayEvent::new(
        http::Request::builder()
            .method("POST")
            .uri("https://dms.eu-west-2.amazonaws.com/")
            .header("x-amz-target", "AmazonDMSv20160101.ReloadTables")
            .body(SdkBody::from(
                json!({
                    "ReplicationTaskArn": TASK,
                    "TablesToReload": [{"SchemaName": "public", "TableName": "orders"}],
                    "ReloadOption": "data-reload"
                })
                .to_string(),
            ))
            .unwrap(),
        http::Response::builder()
            .status(400)
            .header("content-type", "application/x-amz-json-1.1")
            .body(SdkBody::from(
                json!({"__type": "InvalidResourceStateFault",
                       "message": "Replication task is not running"})
                .to_string(),
            ))
            .unwrap(),
    );
    let (dms, http) = adapter(DmsMode::Instance, &[("cdc", TASK)], vec![refused]);
    let e = dms
        .reload(&reload_of(&[("orders", TableMode::Cdc)]))
        .await
        .unwrap_err();
    let e = Error::from(e);
    assert_eq!(e.name(), ErrorName::Replication);
    let message = e.to_string();
    assert!(
        message.contains("Replication task is not running")
            && message.contains("nothing was reloaded"),
        "{message}"
    );
    http.relaxed_requests_match();
}

#[tokio::test]
async fn a_reload_without_a_cdc_replication_is_refused_before_any_request() {
    let (dms, http) = adapter(DmsMode::Instance, &[("snapshot", SNAPSHOT)], vec![]);
    let snapshots = reload_of(&[("price_list", TableMode::Snapshot)]);
    dms.reload(&snapshots).await.unwrap();
    assert!(dms.reloading(&snapshots).await.unwrap().is_empty());
    let request = reload_of(&[
        ("orders", TableMode::Cdc),
        ("price_list", TableMode::Snapshot),
    ]);
    let e = dms.reload(&request).await.unwrap_err();
    let e = Error::from(e);
    assert_eq!(e.name(), ErrorName::InvalidInput);
    let message = e.to_string();
    assert!(
        message.contains("orders")
            && !message.contains("price_list")
            && message.contains("nothing was changed"),
        "{message}"
    );
    assert_eq!(
        Error::from(dms.reloading(&request).await.unwrap_err()).name(),
        ErrorName::InvalidInput
    );
    assert_eq!(http.actual_requests().count(), 0, "no request sent");
}

/// A DMS Serverless replication as `DescribeReplications` returns it.
fn serverless(status: &str, extra: Value, stats: Value) -> Value {
    let mut r = json!({
        "ReplicationConfigIdentifier": "tidemark-dev-shop-cdc",
        "ReplicationConfigArn": CONFIG,
        "Status": status,
        "ReplicationType": "full-load-and-cdc",
        "ReplicationCreateTime": 1763510400.0,
        "ReplicationStats": stats,
    });
    r.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    json!({"Replications": [r]})
}

fn describe_serverless(response: Value) -> ReplayEvent {
    call(
        "DescribeReplications",
        json!({"Filters": [{"Name": "replication-config-arn", "Values": [CONFIG]}]}),
        response,
    )
}

fn serverless_table_stats() -> ReplayEvent {
    call(
        "DescribeReplicationTableStatistics",
        json!({"ReplicationConfigArn": CONFIG}),
        json!({"ReplicationConfigArn": CONFIG, "ReplicationTableStatistics": [
            table_stats("orders", "Table completed", Some(1763514005.0), Some(1763517600.0))
        ]}),
    )
}

/// DMS Serverless, from a replication never started to one running: start
/// it and wait; while it provisions and loads, wait and start nothing; once
/// the full load is done, go on.
#[tokio::test]
async fn a_serverless_replication_is_started_then_waited_for_until_its_full_load_is_done() {
    let loading = json!({"FullLoadProgressPercent": 40, "TablesLoaded": 1, "TablesLoading": 1,
                         "TablesQueued": 0, "TablesErrored": 0, "StartDate": 1763514000.0});
    let loaded = json!({"FullLoadProgressPercent": 100, "TablesLoaded": 2, "TablesLoading": 0,
                        "TablesQueued": 0, "TablesErrored": 0, "StartDate": 1763514000.0});
    let (dms, http) = adapter(
        DmsMode::Serverless,
        &[("cdc", CONFIG)],
        vec![
            describe_serverless(serverless("created", json!({}), json!({}))),
            call(
                "StartReplication",
                json!({"ReplicationConfigArn": CONFIG, "StartReplicationType": "start-replication"}),
                json!({"Replication": {"ReplicationConfigArn": CONFIG, "Status": "starting"}}),
            ),
            serverless_table_stats(),
            describe_serverless(serverless(
                "starting",
                json!({"StartReplicationType": "start-replication"}),
                json!({}),
            )),
            serverless_table_stats(),
            describe_serverless(serverless(
                "running",
                json!({"StartReplicationType": "start-replication"}),
                loading,
            )),
            serverless_table_stats(),
            describe_serverless(serverless(
                "running",
                json!({"StartReplicationType": "start-replication"}),
                loaded,
            )),
            serverless_table_stats(),
        ],
    );
    let run = event("2026-11-21T06:00:00Z");
    let mut seen = Vec::new();
    for _ in 0..4 {
        let s = dms.start(&run, &both_kinds()).await.unwrap();
        seen.push((s.state, s.ready, s.message));
    }
    let s =
        |state: &str, ready: bool, message: &str| (state.to_string(), ready, message.to_string());
    assert_eq!(
        seen,
        [
            s("cdc=created", false, "cdc: started the full load"),
            s("cdc=starting", false, "cdc: starting"),
            s("cdc=running", false, "cdc: the full load is running"),
            s("cdc=running", true, "cdc: running"),
        ]
    );
    http.relaxed_requests_match();
    let starts: Vec<Value> = sent(&http)
        .into_iter()
        .filter(|(t, _)| t.ends_with(".StartReplication"))
        .map(|(_, body)| body)
        .collect();
    assert_eq!(starts.len(), 1, "started once: {starts:?}");
}

/// A DMS Serverless replication that stopped is resumed, and the run goes
/// on (its full load was done): CDC catches up while the run validates.
#[tokio::test]
async fn a_stopped_serverless_replication_is_resumed() {
    let (dms, http) = adapter(
        DmsMode::Serverless,
        &[("cdc", CONFIG)],
        vec![
            describe_serverless(serverless(
                "stopped",
                json!({"StartReplicationType": "start-replication", "StopReason": "NORMAL",
                       "ReplicationLastStopTime": 1763600000.0}),
                json!({"FullLoadProgressPercent": 100, "TablesLoaded": 2, "TablesLoading": 0,
                       "TablesQueued": 0, "TablesErrored": 0, "StartDate": 1763514000.0}),
            )),
            call(
                "StartReplication",
                json!({"ReplicationConfigArn": CONFIG, "StartReplicationType": "resume-processing"}),
                json!({"Replication": {"ReplicationConfigArn": CONFIG, "Status": "starting"}}),
            ),
            serverless_table_stats(),
        ],
    );
    let status = dms
        .start(&event("2026-11-21T06:00:00Z"), &both_kinds())
        .await
        .unwrap();
    assert!(status.ready, "{status:?}");
    assert_eq!(status.state, "cdc=stopped");
    assert_eq!(
        status.message,
        "cdc: resumed processing (it stopped: NORMAL)"
    );
    http.relaxed_requests_match();
    assert_eq!(
        sent(&http)[1].1["StartReplicationType"],
        "resume-processing"
    );
}
