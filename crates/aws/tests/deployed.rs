//! The deployed shape, offline: the six function binaries as `provided.al2023`
//! Lambda functions in the emulator, the production state machine
//! (`statemachines/daily-pipeline.asl.json`, its function ARNs substituted as
//! Terraform does) created in the emulator's Step Functions, and one
//! execution per demo day. Days 1–3 succeed; day 4 lands the malformed orders
//! file, so its execution fails with `Tidemark.TablesFailed` after the alert
//! reaches SNS. The history, read back through Athena, is the golden one.
//! Then reruns: a typo refused, a reprocess of day 4 after its fix, and two
//! rebuilds of orders, each swapped in through Glue. A second emulator runs
//! executions that overlap: a manual one fails, a scheduled one skips.
//!
//! What is substituted, and why:
//! - **DMS**: no emulator serves it (ministack has none; moto's dates do not
//!   deserialize in the Rust SDK). `start-replication` calls a scripted DMS
//!   in this test ([`ScriptedDms`]) that answers `DescribeReplicationTasks`
//!   and `DescribeTableStatistics` in AWS's shape: the CDC task running with
//!   its full load done, the snapshot task's full load finished now. The test
//!   lands each day's files in S3 itself, as DMS would have, and publishes the
//!   CDC latency to the emulator's CloudWatch, as DMS would have.
//! - **Athena's Iceberg tables** live in DuckDB inside the emulator
//!   (`tools/emulator/tidemark_emulator.py`): ministack refuses Iceberg tables
//!   and keeps nothing between queries, so a MERGE would have nowhere to go.
//! - **The zip** holds a `bootstrap` script that `exec`s the function's debug
//!   binary from the target directory, instead of a copy of the 200 MB binary.
//!   `make build` makes the real zips.

mod support;

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::Emulator;
use support::demo::{DemoLake, days, golden_history, workspace};
use tidemark_core::ports::QueryEngine;
use tidemark_core::steps::Step;

const CDC_TASK: &str = "arn:aws:dms:us-east-1:000000000000:task:CDC";
const SNAPSHOT_TASK: &str = "arn:aws:dms:us-east-1:000000000000:task:SNAPSHOT";

/// DMS answering the adapter's questions the way AWS documents them, and
/// recording which operations were called.
struct ScriptedDms {
    endpoint: String,
    calls: Arc<Mutex<Vec<String>>>,
}

impl ScriptedDms {
    fn start() -> ScriptedDms {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let calls = Arc::new(Mutex::new(Vec::new()));
        let recorded = calls.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let recorded = recorded.clone();
                std::thread::spawn(move || serve_dms(stream, &recorded));
            }
        });
        ScriptedDms { endpoint, calls }
    }
}

fn serve_dms(stream: std::net::TcpStream, calls: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    loop {
        let (mut target, mut length) = (String::new(), 0usize);
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            let (name, value) = header.split_once(':').unwrap_or((header, ""));
            match name.to_ascii_lowercase().as_str() {
                "x-amz-target" => target = value.trim().to_string(),
                "content-length" => length = value.trim().parse().unwrap_or(0),
                _ => {}
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let operation = target.rsplit('.').next().unwrap_or_default().to_string();
        // The CDC task runs until stopped, and again once started.
        let cdc_stopped = {
            let mut calls = calls.lock().unwrap();
            calls.push(operation.clone());
            calls
                .iter()
                .rev()
                .find(|c| *c == "StopReplicationTask" || *c == "StartReplicationTask")
                .is_some_and(|c| c == "StopReplicationTask")
        };
        let now = chrono::Utc::now().timestamp_millis() as f64 / 1000.0;
        let (status, answer) = match operation.as_str() {
            "DescribeReplicationTasks" => {
                let arn = request["Filters"][0]["Values"][0]
                    .as_str()
                    .unwrap_or_default();
                let task = if arn == SNAPSHOT_TASK {
                    json!({
                        "ReplicationTaskArn": arn, "MigrationType": "full-load",
                        "Status": "stopped", "StopReason": "Stop Reason FULL_LOAD_ONLY_FINISHED",
                        "ReplicationTaskStartDate": now,
                        "ReplicationTaskStats": {"FullLoadProgressPercent": 100, "TablesErrored": 0,
                            "FullLoadStartDate": now, "FullLoadFinishDate": now}
                    })
                } else if cdc_stopped {
                    json!({
                        "ReplicationTaskArn": arn, "MigrationType": "full-load-and-cdc",
                        "Status": "stopped", "StopReason": "Stop Reason STOPPED_BY_USER",
                        "ReplicationTaskStartDate": now - 86400.0,
                        "ReplicationTaskStats": {"FullLoadProgressPercent": 100, "TablesErrored": 0,
                            "FullLoadStartDate": now - 86400.0, "FullLoadFinishDate": now - 86000.0}
                    })
                } else {
                    json!({
                        "ReplicationTaskArn": arn, "MigrationType": "full-load-and-cdc",
                        "Status": "running", "ReplicationTaskStartDate": now - 86400.0,
                        "ReplicationTaskStats": {"FullLoadProgressPercent": 100, "TablesErrored": 0,
                            "FullLoadStartDate": now - 86400.0, "FullLoadFinishDate": now - 86000.0}
                    })
                };
                (200, json!({"ReplicationTasks": [task]}))
            }
            "DescribeTableStatistics" => (200, json!({"TableStatistics": []})),
            "StopReplicationTask" | "StartReplicationTask" => (
                200,
                json!({"ReplicationTask": {"ReplicationTaskArn": request["ReplicationTaskArn"], "Status": "stopping"}}),
            ),
            other => (
                400,
                json!({"__type": "InvalidParameterValueException", "message": format!("the scripted DMS has no {other}")}),
            ),
        };
        let text = answer.to_string();
        let reply = format!(
            "HTTP/1.1 {status} X\r\ncontent-type: application/x-amz-json-1.1\r\ncontent-length: {}\r\n\r\n{text}",
            text.len()
        );
        if writer.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

/// The erasure key's secret in the emulator's Secrets Manager.
const ERASURE_KEY: &str = "tidemark-demo-erasure-key";

/// Where the function binaries are: next to this test's `deps/` folder.
fn binary(function: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe.parent().unwrap().parent().unwrap().join(function);
    assert!(
        path.exists(),
        "{} is missing: `make test` builds the function binaries first (cargo build --workspace --bins --tests)",
        path.display()
    );
    path
}

/// Creates the function in the emulator's Lambda, as Terraform would: its
/// zip's `bootstrap` runs the function binary.
fn create_function(endpoint: &str, dir: &Path, function: &str, environment: &Value) -> String {
    let script = format!("#!/bin/sh\nexec '{}' \"$@\"\n", binary(function).display());
    let zip = support::bootstrap_zip(&dir.join(function), &script);
    let body = json!({
        "FunctionName": function,
        "Runtime": "provided.al2023",
        "Handler": "bootstrap",
        "Role": "arn:aws:iam::000000000000:role/tidemark-lambda",
        "Architectures": ["x86_64"],
        "Timeout": 120,
        "MemorySize": 1024,
        "Code": {"ZipFile": aws_smithy_types::base64::encode(zip)},
        "Environment": {"Variables": environment},
    });
    support::create_function(endpoint, &body)
}

/// The deployed shape in an emulator: the demo's buckets, catalog and
/// workgroup, the six functions as Lambdas, the state machine, a scripted DMS.
struct Deployed {
    lake: DemoLake,
    dms: ScriptedDms,
    sfn: aws_sdk_sfn::Client,
    machine: String,
    _functions: tempfile::TempDir,
    emulator: Emulator,
}

impl Deployed {
    /// Deploys into a new emulator started with `environment` added to its own.
    async fn start(environment: &[(&str, &str)]) -> Deployed {
        let emulator = Emulator::start_with(
            "s3,glue,athena,sns,sqs,lambda,states,cloudwatch,secretsmanager,scheduler,sts",
            environment,
        );
        let lake = DemoLake::deploy(&emulator, "").await;
        let dms = ScriptedDms::start();
        let dir = tempfile::tempdir().unwrap();
        // DMS publishes the CDC task's latency to CloudWatch; start-replication reads it.
        let latency_dimensions = [
            ("ReplicationInstanceIdentifier", "tidemark-demo"),
            ("ReplicationTaskIdentifier", "CDC"),
        ];
        aws_sdk_cloudwatch::Client::new(&lake.sdk)
            .put_metric_data()
            .namespace("AWS/DMS")
            .metric_data(
                aws_sdk_cloudwatch::types::MetricDatum::builder()
                    .metric_name("CDCLatencyTarget")
                    .set_dimensions(Some(
                        latency_dimensions
                            .iter()
                            .map(|(n, v)| {
                                aws_sdk_cloudwatch::types::Dimension::builder()
                                    .name(*n)
                                    .value(*v)
                                    .build()
                            })
                            .collect(),
                    ))
                    .value(7.0)
                    .unit(aws_sdk_cloudwatch::types::StandardUnit::Seconds)
                    .timestamp(std::time::SystemTime::now().into())
                    .build(),
            )
            .send()
            .await
            .unwrap();

        // The erasure key's secret, created without a value as Terraform does.
        aws_sdk_secretsmanager::Client::new(&lake.sdk)
            .create_secret()
            .name(ERASURE_KEY)
            .send()
            .await
            .unwrap();

        let env = &lake.env;
        let mut definition =
            std::fs::read_to_string(workspace().join("statemachines/daily-pipeline.asl.json"))
                .unwrap();
        for step in Step::ALL {
            let function = step.name();
            let mut environment = json!({
                "TIDEMARK_CONFIG": env.config,
                "TIDEMARK_LANDING": format!("s3://{}/{}", env.landing.bucket, env.landing.prefix),
                "TIDEMARK_LAKE": format!("s3://{}/{}", env.lake.bucket, env.lake.prefix),
                "TIDEMARK_ATHENA_WORKGROUP": env.workgroup,
                "TIDEMARK_GLUE_DATABASE": env.glue_database,
                "AWS_ENDPOINT_URL": emulator.endpoint,
                "RUST_LOG": "info",
                "TIDEMARK_ERASURE_KEY_SECRET": ERASURE_KEY,
            });
            let extra = match function {
                "start-replication" => json!({
                    "TIDEMARK_REPLICATION_MODE": "instance",
                    "TIDEMARK_REPLICATION_ARNS": json!({"cdc": CDC_TASK, "snapshot": SNAPSHOT_TASK}).to_string(),
                    "AWS_ENDPOINT_URL_DATABASE_MIGRATION_SERVICE": dms.endpoint,
                    "TIDEMARK_CDC_LATENCY_DIMENSIONS": Value::Object(
                        latency_dimensions.iter().map(|(n, v)| (n.to_string(), json!(v))).collect()
                    ).to_string(),
                }),
                "extract-metadata" => json!({
                    "TIDEMARK_METADATA_SOURCE": format!("s3://{}/{}", env.metadata_source.as_ref().unwrap().bucket, env.metadata_source.as_ref().unwrap().prefix),
                }),
                "notify" => json!({"TIDEMARK_ALERT_TOPIC_ARN": env.alert_topic_arn}),
                _ => json!({}),
            };
            environment
                .as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            let arn = create_function(&emulator.endpoint, dir.path(), function, &environment);
            definition = definition.replace(&format!("${{{}}}", step.placeholder()), &arn);
        }
        assert!(
            !definition.contains("${"),
            "an unsubstituted variable: {definition}"
        );

        let sfn = aws_sdk_sfn::Client::new(&lake.sdk);
        let machine = sfn
            .create_state_machine()
            .name("tidemark-demo-daily")
            .definition(definition)
            .role_arn("arn:aws:iam::000000000000:role/tidemark-states")
            .send()
            .await
            .unwrap()
            .state_machine_arn;
        Deployed {
            lake,
            dms,
            sfn,
            machine,
            _functions: dir,
            emulator,
        }
    }

    /// Starts an execution named `name` with `input`; returns its ARN.
    async fn start_execution(&self, name: &str, input: &Value) -> String {
        self.sfn
            .start_execution()
            .state_machine_arn(&self.machine)
            .name(name)
            .input(input.to_string())
            .send()
            .await
            .unwrap()
            .execution_arn
    }

    /// Waits for the execution to end (at most 4 minutes).
    async fn wait_for(
        &self,
        execution: &str,
    ) -> aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput {
        let started = Instant::now();
        loop {
            let out = self
                .sfn
                .describe_execution()
                .execution_arn(execution)
                .send()
                .await
                .unwrap();
            if out.status != aws_sdk_sfn::types::ExecutionStatus::Running {
                return out;
            }
            assert!(
                started.elapsed() < Duration::from_secs(240),
                "{execution} still runs after 4 minutes"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Starts an execution and waits for it to end.
    async fn run(
        &self,
        name: &str,
        input: Value,
    ) -> aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput {
        let execution = self.start_execution(name, &input).await;
        self.wait_for(&execution).await
    }

    /// The states the execution entered, in order, each with the table its
    /// input names (a Map iteration's states).
    async fn entered(&self, execution: &str) -> Vec<(String, Option<String>)> {
        let mut entered = Vec::new();
        let mut pages = self
            .sfn
            .get_execution_history()
            .execution_arn(execution)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            for event in page.unwrap().events() {
                if let Some(details) = event.state_entered_event_details() {
                    let table = details
                        .input()
                        .and_then(|i| serde_json::from_str::<Value>(i).ok())
                        .and_then(|v| v.pointer("/work/table")?.as_str().map(String::from));
                    entered.push((details.name().to_string(), table));
                }
            }
        }
        entered
    }

    /// The alerts that reached the SNS topic's subscriber since the last call.
    async fn alerts(&self) -> Vec<String> {
        aws_sdk_sqs::Client::new(&self.lake.sdk)
            .receive_message()
            .queue_url(&self.lake.alerts_queue)
            .max_number_of_messages(10)
            .wait_time_seconds(2)
            .send()
            .await
            .unwrap()
            .messages
            .unwrap_or_default()
            .into_iter()
            .map(|m| m.body.unwrap_or_default())
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_six_lambdas_under_the_emulators_step_functions_make_the_golden_history() {
    let deployed = Deployed::start(&[]).await;
    let Deployed {
        lake,
        emulator,
        dms,
        ..
    } = &deployed;
    for (i, day) in days().iter().enumerate() {
        lake.land(day).await;
        let out = deployed
            .run(&format!("demo-day-{}", i + 1), json!({}))
            .await;
        let output: Value = out
            .output
            .as_deref()
            .map(|o| serde_json::from_str(o).unwrap())
            .unwrap_or(Value::Null);
        if i < 3 {
            assert_eq!(
                out.status,
                aws_sdk_sfn::types::ExecutionStatus::Succeeded,
                "day {}: {:?} {:?}\n{}",
                i + 1,
                out.error,
                out.cause,
                emulator.log_text()
            );
            // Real outputs, not empty payloads: every table merged, the
            // replication's state and latency as DMS and CloudWatch said.
            assert_eq!(
                output["results"],
                json!([
                    {"table": "customers", "status": "succeeded"},
                    {"table": "orders", "status": "succeeded"},
                    {"table": "products", "status": "succeeded"}
                ]),
                "{output}"
            );
            assert_eq!(
                output["replication"]["state"], "cdc=running,snapshot=stopped",
                "{output}"
            );
            assert_eq!(output["replication"]["cdc_latency_seconds"], 7, "{output}");
            if i == 0 {
                check_costs(&deployed, &out).await;
            }
            // Athena created each table's view on day 1; on day 2, with the
            // same metadata, publish-catalog leaves it alone.
            assert_eq!(
                views_created(&deployed, &out).await,
                [(i == 0) as usize; 3],
                "day {}",
                i + 1
            );
        } else {
            assert_eq!(
                out.status,
                aws_sdk_sfn::types::ExecutionStatus::Failed,
                "{output}"
            );
            assert_eq!(
                out.error.as_deref(),
                Some("Tidemark.TablesFailed"),
                "{:?}",
                out.cause
            );
        }
    }
    assert!(
        dms.calls
            .lock()
            .unwrap()
            .iter()
            .any(|c| c == "DescribeReplicationTasks"),
        "start-replication never asked DMS"
    );

    // The alert of day 4 reached SNS, and its subscriber.
    let alerts = deployed.alerts().await;
    assert_eq!(alerts.len(), 1, "one alert: {alerts:?}");
    let alert = &alerts[0];
    for expected in [
        "orders",
        "Tidemark.Validation",
        "demo-day-4",
        "tidemark rerun",
        "cost $",
    ] {
        assert!(
            alert.contains(expected),
            "the alert lacks {expected:?}:\n{alert}"
        );
    }

    assert_eq!(lake.history().await, golden_history());

    // Reruns on the deployed shape, each a manual execution.
    let rerun = async |name: &str, input: Value| deployed.run(name, input).await;
    let failed = aws_sdk_sfn::types::ExecutionStatus::Failed;
    let succeeded = aws_sdk_sfn::types::ExecutionStatus::Succeeded;
    // Bad input fails before anything is read.
    let out = rerun("typo", json!({"tabels": ["orders"]})).await;
    assert_eq!(out.status, failed, "typo: {:?}", out.output);
    assert_eq!(lake.history().await, golden_history(), "typo");
    // The fix for day 4's malformed orders file, then a reprocess of that day.
    let fixed = std::fs::read_to_string(workspace().join("examples/demo/metadata/orders.json"))
        .unwrap()
        .replacen(
            "\"nullable\": false,\n      \"description\": \"Current fulfilment",
            "\"nullable\": true,\n      \"description\": \"Current fulfilment",
            1,
        );
    assert!(
        fixed.contains("\"nullable\": true"),
        "the demo's orders.json changed shape"
    );
    lake.put(
        &format!("{}orders.json", support::demo::METADATA),
        fixed.into_bytes(),
    )
    .await;
    let reprocess = json!({"mode": "reprocess", "tables": ["orders"], "from": "2026-11-04", "to": "2026-11-04"});
    let out = rerun("reprocess", reprocess.clone()).await;
    assert_eq!(
        out.status,
        succeeded,
        "{:?} {:?}\n{}",
        out.error,
        out.cause,
        emulator.log_text()
    );
    let reprocessed = lake.history().await;
    assert_ne!(reprocessed, golden_history());
    assert!(reprocessed.contains("2026-11-04"), "{reprocessed}");
    let out = rerun("reprocess-again", reprocess).await;
    assert_eq!(out.status, succeeded, "{:?}", out.cause);
    assert_eq!(lake.history().await, reprocessed, "nothing is merged twice");

    // A rebuild recomputes the orders history from every landed file and
    // swaps it in through Glue: the versions are the day-by-day ones (only
    // the batch ids differ: one batch now), and the replaced history is kept
    // as orders__previous. A second rebuild stages its table in a folder of
    // its own and replaces what the first one kept.
    let rows = |history: String| history.split_once('\n').unwrap().1.to_string();
    let glue = aws_sdk_glue::Client::new(&lake.sdk);
    let location = async |table: &str| {
        glue.get_table()
            .database_name(support::demo::DATABASE)
            .name(table)
            .send()
            .await
            .ok()
            .and_then(|t| t.table?.storage_descriptor?.location)
    };
    let day_by_day = lake.table_history("orders", &[]).await;
    let versions = lake.table_history("orders", &["batch_id"]).await;
    let others = async || {
        (
            lake.table_history("customers", &[]).await,
            lake.table_history("products", &[]).await,
        )
    };
    let untouched = others().await;
    let mut replaced = day_by_day;
    for (generation, name) in [(1, "rebuild"), (2, "rebuild-again")] {
        let out = rerun(name, json!({"mode": "rebuild", "tables": ["orders"]})).await;
        assert_eq!(
            out.status,
            succeeded,
            "{name}: {:?} {:?}\n{}",
            out.error,
            out.cause,
            emulator.log_text()
        );
        assert_eq!(
            lake.table_history("orders", &["batch_id"]).await,
            versions,
            "{name}"
        );
        let rebuilt = lake.table_history("orders", &[]).await;
        assert_ne!(rebuilt, replaced, "{name}: the history was not swapped");
        assert_eq!(
            rows(lake.table_history("orders__previous", &[]).await),
            rows(replaced),
            "{name}: orders__previous is the replaced history"
        );
        assert_eq!(
            location("orders").await.as_deref(),
            Some(format!("s3://tm-lake/history/demo/orders.g{generation}/").as_str())
        );
        assert_eq!(location("orders__rebuild").await, None, "{name}");
        assert_eq!(others().await, untouched, "{name}: only orders is rebuilt");
        replaced = rebuilt;
    }

    // A data subject's erasure, as a manual execution: the order leaves the
    // history and the replaced history (Iceberg DELETEs), and the change log
    // (its files rewritten in S3); the erasure log holds its hash. The first
    // forget gives the erasure key's secret its value.
    let engine = lake.engine();
    let order = engine
        .execute("SELECT max(order_id) AS n FROM \"demo\".\"orders\"")
        .await
        .unwrap()
        .int("n")
        .unwrap();
    let count = async |table: &str| {
        engine
            .execute(&format!(
                "SELECT count(*) AS n FROM \"demo\".\"{table}\" WHERE order_id = {order}"
            ))
            .await
            .unwrap()
            .int("n")
            .unwrap()
    };
    assert!(count("orders").await > 0 && count("orders__previous").await > 0);
    let forget = json!({"mode": "forget", "tables": ["orders"], "keys": [order], "requested_by": "DPO ticket 7"});
    let out = rerun("forget", forget).await;
    assert_eq!(
        out.status,
        succeeded,
        "{:?} {:?}\n{:?}",
        out.error,
        out.cause,
        deployed.alerts().await
    );
    assert_eq!(
        (count("orders").await, count("orders__previous").await),
        (0, 0)
    );
    let store = tidemark_aws::s3::S3Store::new(
        tidemark_aws::backend::s3_client(&lake.sdk),
        lake.env.lake.clone(),
    );
    let (entry, _) =
        tidemark_core::ports::ObjectStore::get(&store, "erasures/demo/orders/forget.json")
            .await
            .unwrap();
    let entry: Value = serde_json::from_slice(&entry).unwrap();
    assert_eq!(entry["requested_by"], "DPO ticket 7");
    assert!(
        entry["removed"]["change_log"].as_u64().unwrap() > 0,
        "{entry:#}"
    );
    assert!(entry["completed_at"].is_string(), "{entry:#}");
    let key = aws_sdk_secretsmanager::Client::new(&lake.sdk)
        .get_secret_value()
        .secret_id(ERASURE_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(key.secret_string().map(str::len), Some(64));
    // The next rebuild validates every landed file again and leaves the order out.
    let out = rerun(
        "rebuild-after-forget",
        json!({"mode": "rebuild", "tables": ["orders"]}),
    )
    .await;
    assert_eq!(out.status, succeeded, "{:?} {:?}", out.error, out.cause);
    assert_eq!(count("orders").await, 0);
}

/// Each table's run record carries what it cost on AWS: its transitions are
/// the states its Map iteration entered in the execution's history, its
/// Lambda time is at the functions' memory, its MERGEs report the bytes
/// Athena scanned; the run's total names its three tables.
async fn check_costs(
    deployed: &Deployed,
    out: &aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput,
) {
    let mut entered: std::collections::BTreeMap<String, u64> = Default::default();
    for (_, table) in deployed.entered(out.execution_arn()).await {
        if let Some(table) = table {
            *entered.entry(table).or_default() += 1;
        }
    }
    let lake = deployed.lake.ports().await.lake;
    let read = async |key: String| lake.get(&key).await.unwrap().0;
    for table in ["customers", "orders", "products"] {
        let record: tidemark_core::run_record::RunRecord = serde_json::from_slice(
            &read(format!("runs/{}/demo/{table}.json", out.name().unwrap())).await,
        )
        .unwrap();
        let cost = record.cost.unwrap_or_else(|| panic!("{table} has no cost"));
        assert!(!cost.estimate, "{table}: measured on AWS");
        assert_eq!(Some(&cost.state_transitions), entered.get(table), "{table}");
        assert!(cost.state_transitions >= 4, "{table}: {entered:?}");
        for l in &cost.lambda {
            // The functions have 1,024 MB: a GB-second per second.
            assert!(
                (l.gb_seconds - l.duration_ms as f64 / 1000.0).abs() < 1e-9,
                "{l:?}"
            );
        }
        let merges: Vec<_> = cost
            .statements
            .iter()
            .filter(|s| ["MERGE INTO", "INSERT INTO"].contains(&s.usage.statement.as_str()))
            .collect();
        assert!(!merges.is_empty(), "{table}: {cost:?}");
        assert!(
            merges.iter().all(|s| s.usage.bytes_scanned > Some(0)),
            "{table}: {merges:?}"
        );
        assert!(cost.usd.athena > 0.0 && cost.usd.total > cost.usd.athena);
    }
    let run: tidemark_core::cost::RunCost =
        serde_json::from_slice(&read(format!("runs/{}/demo.cost.json", out.name().unwrap())).await)
            .unwrap();
    assert!(!run.estimate);
    assert_eq!(run.top.len(), 3, "{run:?}");
}

/// How many `CREATE OR REPLACE VIEW` statements each demo table's run ran,
/// from its run record.
async fn views_created(
    deployed: &Deployed,
    out: &aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput,
) -> [usize; 3] {
    let lake = deployed.lake.ports().await.lake;
    let mut created = [0; 3];
    for (n, table) in created.iter_mut().zip(["customers", "orders", "products"]) {
        let key = format!("runs/{}/demo/{table}.json", out.name().unwrap());
        let record: tidemark_core::run_record::RunRecord =
            serde_json::from_slice(&lake.get(&key).await.unwrap().0).unwrap();
        *n = record
            .cost
            .unwrap_or_else(|| panic!("{table} has no cost"))
            .statements
            .iter()
            .filter(|s| s.usage.statement == "CREATE OR REPLACE VIEW")
            .count();
    }
    created
}

/// Two executions at once on the deployed shape. While the first still merges
/// (its Athena MERGEs held RUNNING by the emulator), a manual execution that
/// touches the same table fails it with `Tidemark.Concurrency`, naming the
/// holder, after waiting for it; a scheduled one gives every table up at
/// once, records it as skipped, alerts nobody, and the next scheduled run
/// merges what it validated. The state machine's waits run at 1/50 of their
/// time (ministack's `SFN_WAIT_SCALE`), so the holder outlasts the waits.
#[tokio::test(flavor = "multi_thread")]
async fn overlapping_executions_on_the_emulator_fail_or_skip_and_lose_nothing() {
    let hold = tempfile::NamedTempFile::new().unwrap();
    let hold_path = hold.path().to_str().unwrap().to_string();
    let deployed = Deployed::start(&[
        ("SFN_WAIT_SCALE", "0.02"),
        ("TIDEMARK_EMULATOR_HOLD_MERGES", &hold_path),
    ])
    .await;
    let lake = &deployed.lake;
    let s3 = aws_sdk_s3::Client::new(&lake.sdk);
    let days = days();
    let status = |out: &aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput| {
        format!(
            "{:?} {:?} {:?}\n{}",
            out.status,
            out.error,
            out.output,
            deployed.emulator.log_text()
        )
    };

    lake.land(&days[0]).await;
    let holder = deployed.start_execution("holder", &json!({})).await;
    let started = Instant::now();
    while s3
        .head_object()
        .bucket("tm-lake")
        .key("state/demo/orders/lease.json")
        .send()
        .await
        .is_err()
    {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the first execution never took the orders lease\n{}",
            deployed.emulator.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // A manual execution for orders: it fails the table, naming the holder.
    let manual = deployed
        .run(
            "manual",
            json!({"mode": "incremental", "tables": ["orders"]}),
        )
        .await;
    assert_eq!(
        manual.error.as_deref(),
        Some("Tidemark.TablesFailed"),
        "{}",
        status(&manual)
    );
    // It waited for the holder three times (60, 120, 240 s, at 1/50), then failed.
    let waits = deployed.entered(manual.execution_arn()).await;
    let waits = waits.iter().filter(|(state, _)| state == "WaitForLease");
    assert_eq!(waits.count(), 3, "{}", status(&manual));
    // Its alert names the table, the error, the holder and when the lease expires.
    let alerts = deployed.alerts().await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    for expected in [
        "orders",
        "Tidemark.Concurrency",
        "locked by run holder until",
        "manual",
    ] {
        assert!(alerts[0].contains(expected), "{expected:?}: {}", alerts[0]);
    }

    // A scheduled execution, with day 2 landed: it validates, then skips.
    lake.land(&days[1]).await;
    let scheduled = deployed.run("scheduled", json!({})).await;
    assert_eq!(
        scheduled.status,
        aws_sdk_sfn::types::ExecutionStatus::Succeeded,
        "{}",
        status(&scheduled)
    );
    let output: Value = serde_json::from_str(scheduled.output.as_deref().unwrap()).unwrap();
    for result in output["results"].as_array().unwrap() {
        assert_eq!(result["status"], "skipped", "{output}");
        assert_eq!(result["error"], "Tidemark.Concurrency", "{output}");
    }
    assert_eq!(output["results"].as_array().unwrap().len(), 3, "{output}");
    assert_eq!(deployed.alerts().await, Vec::<String>::new(), "no alert");
    // Each table was given up at once: one merge-history call, no wait.
    let entered = deployed.entered(scheduled.execution_arn()).await;
    for table in ["customers", "orders", "products"] {
        let merges = entered
            .iter()
            .filter(|(state, t)| t.as_deref() == Some(table) && state.starts_with("Merge"))
            .map(|(state, _)| state.as_str());
        assert_eq!(merges.collect::<Vec<_>>(), ["MergeHistory"], "{table}");
    }
    assert!(!entered.iter().any(|(state, _)| state == "WaitForLease"));

    // The holder finishes; the next scheduled run merges what was skipped,
    // and the days after it make the golden history: nothing lost, nothing
    // merged twice.
    drop(hold);
    let out = deployed.wait_for(&holder).await;
    assert_eq!(
        out.status,
        aws_sdk_sfn::types::ExecutionStatus::Succeeded,
        "{}",
        status(&out)
    );
    let out = deployed.run("next", json!({})).await;
    assert_eq!(
        out.status,
        aws_sdk_sfn::types::ExecutionStatus::Succeeded,
        "{}",
        status(&out)
    );
    for (i, day) in days.iter().enumerate().skip(2) {
        lake.land(day).await;
        deployed
            .run(&format!("demo-day-{}", i + 1), json!({}))
            .await;
    }
    assert_eq!(lake.history().await, golden_history());
}

impl Deployed {
    /// Runs the `tidemark` binary against this deployment: (exit code, stdout, stderr).
    fn tidemark(&self, args: &[&str]) -> (i32, String, String) {
        let out = std::process::Command::new(binary("tidemark"))
            .args(args)
            .env("AWS_ENDPOINT_URL", &self.emulator.endpoint)
            .env(
                "AWS_ENDPOINT_URL_DATABASE_MIGRATION_SERVICE",
                &self.dms.endpoint,
            )
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("TIDEMARK_LOG", "error")
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn dms_calls(&self, operation: &str) -> usize {
        let calls = self.dms.calls.lock().unwrap();
        calls.iter().filter(|c| *c == operation).count()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn status_pause_and_resume_drive_the_deployed_schedule_and_replication() {
    let deny = tempfile::tempdir().unwrap();
    let deny = deny.path().join("deny");
    let deployed = Deployed::start(&[("TIDEMARK_EMULATOR_DENY", deny.to_str().unwrap())]).await;
    // The schedules Terraform creates: both start the state machine's alias,
    // the frequent one with {"cadence": "frequent"}.
    let scheduler = aws_sdk_scheduler::Client::new(&deployed.lake.sdk);
    const SCHEDULES: [(&str, &str, &str); 2] = [
        ("tidemark-demo-daily", "cron(0 3 1 1 ? 2099)", "{}"),
        (
            "tidemark-demo-frequent",
            "cron(0/15 * 1 1 ? 2099)",
            r#"{"cadence":"frequent"}"#,
        ),
    ];
    for (name, expression, input) in SCHEDULES {
        scheduler
            .create_schedule()
            .name(name)
            .schedule_expression(expression)
            .schedule_expression_timezone("Europe/London")
            .flexible_time_window(
                aws_sdk_scheduler::types::FlexibleTimeWindow::builder()
                    .mode(aws_sdk_scheduler::types::FlexibleTimeWindowMode::Off)
                    .build()
                    .unwrap(),
            )
            .target(
                aws_sdk_scheduler::types::Target::builder()
                    .arn(format!("{}:live", deployed.machine))
                    .role_arn("arn:aws:iam::000000000000:role/tidemark-scheduler")
                    .input(input)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
    }
    let schedule_states = || async {
        let mut states = Vec::new();
        for (name, _, _) in SCHEDULES {
            let s = scheduler.get_schedule().name(name).send().await.unwrap();
            assert_eq!(s.schedule_expression_timezone(), Some("Europe/London"));
            states.push(s.state().cloned().unwrap());
        }
        states
    };
    // And a table's freshness alarm, as Terraform's on notify's metric.
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&deployed.lake.sdk);
    let dimension = |n: &str, v: &str| {
        aws_sdk_cloudwatch::types::Dimension::builder()
            .name(n)
            .value(v)
            .build()
    };
    cloudwatch
        .put_metric_alarm()
        .alarm_name("tidemark-demo-customers-stale")
        .namespace("Tidemark")
        .metric_name("Merged")
        .dimensions(dimension("Database", "demo"))
        .dimensions(dimension("Table", "customers"))
        .statistic(aws_sdk_cloudwatch::types::Statistic::Maximum)
        .period(3600)
        .evaluation_periods(26)
        .threshold(1.0)
        .comparison_operator(aws_sdk_cloudwatch::types::ComparisonOperator::LessThanThreshold)
        .alarm_actions(deployed.lake.env.alert_topic_arn.clone().unwrap())
        .send()
        .await
        .unwrap();
    let alarm_actions = || async {
        cloudwatch
            .describe_alarms()
            .alarm_names("tidemark-demo-customers-stale")
            .send()
            .await
            .unwrap()
            .metric_alarms()[0]
            .actions_enabled()
    };
    let run = deployed.run("first", json!({})).await;
    assert_ne!(run.status, aws_sdk_sfn::types::ExecutionStatus::Running);
    let machine = deployed.machine.as_str();

    let (code, json, err) = deployed.tidemark(&["status", "--state-machine", machine, "--json"]);
    assert!(code == 0 || code == 1, "{json}{err}");
    let report: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(report["schedules"][0]["name"], "tidemark-demo-daily");
    assert_eq!(report["schedules"][1]["name"], "tidemark-demo-frequent");
    assert!(
        report["schedules"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["enabled"] == true),
        "{json}"
    );
    assert_eq!(
        report["replication"]["state"],
        "cdc=running,snapshot=stopped"
    );
    let tables = report["tables"].as_array().unwrap();
    assert_eq!(tables.len(), 3);
    assert!(
        tables.iter().all(|t| t["up_to_date_by"] == "first"),
        "{json}"
    );

    // Pause, with the replication: the schedule off, the CDC task stopped,
    // who and why recorded.
    let (code, said, err) = deployed.tidemark(&[
        "pause",
        "--state-machine",
        machine,
        "--replication",
        "--reason",
        "source upgrade",
    ]);
    assert_eq!(code, 0, "{said}{err}");
    assert_eq!(
        schedule_states().await,
        [const { aws_sdk_scheduler::types::ScheduleState::Disabled }; 2]
    );
    assert_eq!(deployed.dms_calls("StopReplicationTask"), 1);
    assert!(
        said.contains("freshness alarms: 1, their actions off while paused"),
        "{said}"
    );
    assert_eq!(alarm_actions().await, Some(false));
    let (_, text, _) = deployed.tidemark(&["status", "--state-machine", machine]);
    assert!(text.starts_with("demo: PAUSED by arn:aws:"), "{text}");
    for line in [
        "schedule: tidemark-demo-daily cron(0 3 1 1 ? 2099) (disabled)",
        "schedule: tidemark-demo-frequent cron(0/15 * 1 1 ? 2099) (disabled)",
    ] {
        assert!(text.contains(line), "{text}");
    }
    assert!(text.contains("replication: cdc=stopped"), "{text}");
    let (code, _, err) = deployed.tidemark(&["pause", "--state-machine", machine]);
    assert_eq!(code, 2);
    assert!(err.contains("paused already: by arn:aws:"), "{err}");

    // A manual run while paused neither resumes the replication nor fails.
    let starts = deployed.dms_calls("StartReplicationTask");
    let run = deployed
        .run("manual", json!({"tables": ["customers"]}))
        .await;
    assert_eq!(
        run.status,
        aws_sdk_sfn::types::ExecutionStatus::Succeeded,
        "{run:?}"
    );
    assert_eq!(deployed.dms_calls("StartReplicationTask"), starts);

    // Resume: the schedule on, the replication resumed, the record gone.
    let (code, said, err) = deployed.tidemark(&["resume", "--state-machine", machine]);
    assert_eq!(code, 0, "{said}{err}");
    assert!(
        said.contains("demo resumed (it was paused by arn:aws:"),
        "{said}"
    );
    assert!(said.contains("The next run merges"), "{said}");
    assert_eq!(
        schedule_states().await,
        [const { aws_sdk_scheduler::types::ScheduleState::Enabled }; 2]
    );
    assert_eq!(deployed.dms_calls("StartReplicationTask"), starts + 1);
    assert_eq!(alarm_actions().await, Some(true));
    let (_, said, _) = deployed.tidemark(&["resume", "--state-machine", machine]);
    assert!(said.contains("demo is not paused"), "{said}");

    // Bad input, answered before anything changes.
    let unknown = machine.replace("tidemark-demo-daily", "no-such-pipeline");
    let (code, _, err) = deployed.tidemark(&["pause", "--state-machine", &unknown]);
    assert_eq!(code, 2);
    assert!(
        err.contains("states:DescribeStateMachine on") && err.contains("no-such-pipeline"),
        "{err}"
    );
    let (code, _, err) = deployed.tidemark(&["status", "--state-machine", "tidemark-demo-daily"]);
    assert_eq!(code, 2);
    assert!(err.contains("is not a state machine ARN"), "{err}");
    // A caller who may not update the schedules, or one of them: refused,
    // naming the permission; nothing is paused or stopped, and a schedule
    // already disabled is set back.
    let stops = deployed.dms_calls("StopReplicationTask");
    for (denied, refused) in [
        ("scheduler:UpdateSchedule", "tidemark-demo-daily"),
        (
            "scheduler:UpdateSchedule tidemark-demo-frequent",
            "tidemark-demo-frequent",
        ),
    ] {
        std::fs::write(&deny, format!("{denied}\n")).unwrap();
        let (code, _, err) =
            deployed.tidemark(&["pause", "--state-machine", machine, "--replication"]);
        assert_eq!(code, 2);
        assert!(
            err.contains(&format!(
                "not allowed to scheduler:UpdateSchedule on {refused}"
            )) && err.contains("The operator's role needs scheduler:UpdateSchedule"),
            "{err}"
        );
        assert_eq!(deployed.dms_calls("StopReplicationTask"), stops);
        assert_eq!(
            schedule_states().await,
            [const { aws_sdk_scheduler::types::ScheduleState::Enabled }; 2]
        );
        let (_, text, _) = deployed.tidemark(&["status", "--state-machine", machine]);
        assert!(text.starts_with("demo: not paused"), "{text}");
    }
    std::fs::remove_file(&deny).unwrap();

    // The frequent schedule's run: the cdc tables only, and the snapshot
    // replication left alone (only the cdc task is described).
    let described = deployed.dms_calls("DescribeReplicationTasks");
    let run = deployed
        .run("frequent", json!({"cadence": "frequent"}))
        .await;
    assert_eq!(
        run.status,
        aws_sdk_sfn::types::ExecutionStatus::Succeeded,
        "{run:?}"
    );
    let output: Value = serde_json::from_str(run.output.as_deref().unwrap()).unwrap();
    let tables: Vec<&str> = output["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["table"].as_str().unwrap())
        .collect();
    assert_eq!(tables, ["customers", "orders"], "{output}");
    assert_eq!(
        deployed.dms_calls("DescribeReplicationTasks"),
        described + 1
    );
}
