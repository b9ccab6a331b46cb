//! The demo deployed on the emulator the way Terraform deploys it (buckets,
//! the Glue database, the Athena workgroup, the alert topic with a queue
//! subscribed, the configuration and the metadata documents), its replay
//! days landed one at a time as DMS would land them, and its history read
//! back through Athena.

use super::Emulator;
use bytes::Bytes;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tidemark_aws::athena::{AthenaEngine, Deadline, Polling};
use tidemark_aws::backend::{AwsBackend, AwsEnv, EveryPort, s3_client};
use tidemark_aws::s3::{S3Location, S3Store};
use tidemark_core::ports::{ObjectStore, Ports, QueryEngine, SqlValue};

pub const LAKE: &str = "s3://tm-lake/";
pub const LANDING: &str = "s3://tm-landing/dms/";
pub const CONFIG: &str = "s3://tm-lake/config/tidemark.toml";
pub const METADATA: &str = "s3://tm-lake/metadata-source/";
pub const WORKGROUP: &str = "tidemark";
pub const DATABASE: &str = "demo";
const TABLES: [(&str, &str); 3] = [
    ("customers", "customer_id, valid_from, change_seq"),
    ("orders", "order_id, valid_from, change_seq"),
    ("products", "product_id, valid_from, change_seq"),
];

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The replay's days, oldest first.
pub fn days() -> Vec<PathBuf> {
    let mut days: Vec<PathBuf> = std::fs::read_dir(workspace().join("examples/demo/replay"))
        .unwrap()
        .map(|d| d.unwrap().path())
        .collect();
    days.sort();
    days
}

/// A replay day's files by landing key (`<schema>/<table>/<file>`).
pub fn day_files(day: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    for schema in std::fs::read_dir(day).unwrap() {
        for table in std::fs::read_dir(schema.unwrap().path()).unwrap() {
            for file in std::fs::read_dir(table.unwrap().path()).unwrap() {
                let path = file.unwrap().path();
                let key = path.strip_prefix(day).unwrap().display().to_string();
                files.push((key, std::fs::read(&path).unwrap()));
            }
        }
    }
    files
}

pub struct DemoLake {
    pub sdk: aws_config::SdkConfig,
    pub env: AwsEnv,
    /// The SQS queue subscribed to the alert topic.
    pub alerts_queue: String,
    s3: aws_sdk_s3::Client,
}

impl DemoLake {
    /// Deploys the demo with its configuration plus `extra_config` (TOML).
    pub async fn deploy(emulator: &Emulator, extra_config: &str) -> DemoLake {
        let sdk = emulator.sdk().await;
        let s3 = s3_client(&sdk);
        for bucket in ["tm-lake", "tm-landing", "tm-results"] {
            s3.create_bucket().bucket(bucket).send().await.unwrap();
        }
        super::glue_with_database(&sdk, DATABASE).await;
        super::athena_workgroup(&sdk, WORKGROUP, "s3://tm-results/").await;
        let topic = aws_sdk_sns::Client::new(&sdk)
            .create_topic()
            .name("tidemark-alerts")
            .send()
            .await
            .unwrap()
            .topic_arn
            .unwrap();
        let queue = super::queue_subscribed_to(&sdk, &topic, "alerts", true).await;

        let lake = DemoLake {
            env: AwsEnv {
                config: CONFIG.into(),
                landing: S3Location::parse(LANDING).unwrap(),
                lake: S3Location::parse(LAKE).unwrap(),
                workgroup: WORKGROUP.into(),
                glue_database: DATABASE.into(),
                replication: None,
                cdc_latency_dimensions: Default::default(),
                metadata_source: Some(S3Location::parse(METADATA).unwrap()),
                source_database: None,
                alert_topic_arn: Some(topic),
                erasure_key_secret: None,
            },
            sdk,
            alerts_queue: queue,
            s3,
        };
        let demo = workspace().join("examples/demo");
        let config = std::fs::read_to_string(demo.join("tidemark.toml")).unwrap();
        lake.put(CONFIG, format!("{config}\n{extra_config}").into_bytes())
            .await;
        for doc in std::fs::read_dir(demo.join("metadata")).unwrap() {
            let path = doc.unwrap().path();
            let name = path.file_name().unwrap().to_str().unwrap();
            lake.put(&format!("{METADATA}{name}"), std::fs::read(&path).unwrap())
                .await;
        }
        lake
    }

    pub async fn put(&self, uri: &str, bytes: Vec<u8>) {
        let location = S3Location::parse(uri).unwrap();
        self.s3
            .put_object()
            .bucket(&location.bucket)
            .key(location.prefix.trim_end_matches('/'))
            .body(Bytes::from(bytes).into())
            .send()
            .await
            .unwrap();
    }

    /// Lands one replay day's files, as DMS would have written them.
    pub async fn land(&self, day: &Path) {
        let landing = S3Store::new(self.s3.clone(), self.env.landing.clone());
        for (key, bytes) in day_files(day) {
            landing.put(&key, Bytes::from(bytes), None).await.unwrap();
        }
    }

    /// The ports a Lambda builds from this environment, with Athena polled
    /// every 20 ms and replication reporting the landed files ready.
    pub async fn ports(&self) -> Ports {
        let mut ports = AwsBackend::build::<EveryPort>(&self.env, &self.sdk)
            .await
            .unwrap()
            .ports;
        ports.engine = Arc::new(self.engine());
        ports.replication = Arc::new(tidemark_local::replay::ExistingLanding);
        ports
    }

    pub fn engine(&self) -> AthenaEngine {
        AthenaEngine::new(
            aws_sdk_athena::Client::new(&self.sdk),
            WORKGROUP.into(),
            LAKE.into(),
            Polling {
                first: Duration::from_millis(20),
                max: Duration::from_millis(200),
                ..Polling::default()
            },
            Deadline::default(),
        )
    }

    /// The three history tables through Athena, every column as text, in the
    /// layout of `tests/golden/demo_history.txt`.
    pub async fn history(&self) -> String {
        let mut out = String::new();
        for (table, _) in TABLES {
            out.push_str(&self.table_history(table, &[]).await);
        }
        out
    }

    /// One history table of the demo (or what a rebuild kept of it, as
    /// `<table>__previous`) in the layout of [`Self::history`], without the
    /// columns `except`.
    pub async fn table_history(&self, table: &str, except: &[&str]) -> String {
        let engine = self.engine();
        let base = table.split("__").next().unwrap_or(table);
        let (_, order) = TABLES
            .iter()
            .find(|(t, _)| *t == base)
            .unwrap_or_else(|| panic!("{table} is not a demo table"));
        let columns: Vec<String> = engine
            .execute(&format!("SELECT * FROM \"{DATABASE}\".\"{table}\" LIMIT 0"))
            .await
            .unwrap_or_else(|e| panic!("{DATABASE}.{table}: {e}"))
            .columns
            .into_iter()
            .filter(|c| !except.contains(&c.as_str()))
            .collect();
        let cast: Vec<String> = columns
            .iter()
            .map(|c| format!("CAST(\"{c}\" AS varchar) AS \"{c}\""))
            .collect();
        let sql = format!(
            "SELECT {} FROM \"{DATABASE}\".\"{table}\" ORDER BY {order}",
            cast.join(", ")
        );
        let result = engine
            .execute(&sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        let mut out = format!("# {DATABASE}.{table}\n{}\n", result.columns.join(" | "));
        for row in result.rows {
            let cells: Vec<String> = row
                .iter()
                .map(|v| match v {
                    SqlValue::Null => "NULL".to_string(),
                    SqlValue::Text(t) => t.clone(),
                    other => format!("{other:?}"),
                })
                .collect();
            out.push_str(&cells.join(" | "));
            out.push('\n');
        }
        out.push('\n');
        out
    }
}

/// The golden history of the demo after its four days.
pub fn golden_history() -> String {
    std::fs::read_to_string(workspace().join("tests/golden/demo_history.txt")).unwrap()
}
