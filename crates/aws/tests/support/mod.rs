//! An AWS-API emulator (ministack, from PyPI, through
//! `tools/emulator/tidemark_emulator.py`, which keeps Athena's Iceberg tables
//! in DuckDB) started for one test on a free loopback port, and SDK
//! configuration pointing at it. The emulator runs in its venv (`make test`
//! sets `TIDEMARK_EMULATOR_PYTHON`); without it a test fails, saying how to
//! install it: it never skips.

#![allow(dead_code)]

pub mod demo;

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Emulator {
    child: Child,
    pub endpoint: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("TIDEMARK_EMULATOR_PYTHON") {
        return PathBuf::from(p);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tools/emulator/.venv/bin/python")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl Emulator {
    /// Starts ministack with `services` (e.g. `"s3,sns,sqs"`) and waits until it answers.
    pub fn start(services: &str) -> Emulator {
        Emulator::start_with(services, &[])
    }

    /// [`Emulator::start`], with more of the emulator's environment (e.g.
    /// ministack's `SFN_WAIT_SCALE`).
    pub fn start_with(services: &str, environment: &[(&str, &str)]) -> Emulator {
        let python = python();
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let log = dir.path().join("ministack.log");
        let out = std::fs::File::create(&log).expect("log file");
        let launcher = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../tools/emulator/tidemark_emulator.py");
        let child = Command::new(&python)
            .arg(&launcher)
            .env(
                "TIDEMARK_WAREHOUSE",
                dir.path().join("athena-iceberg.duckdb"),
            )
            .env("GATEWAY_PORT", port.to_string())
            .env("BIND_HOST", "127.0.0.1")
            .env("SERVICES", services)
            .env("IOT_MTLS_ENABLED", "0")
            .env("SFTP_ENABLED", "0")
            .env("TMPDIR", dir.path())
            .env("S3_DATA_DIR", dir.path().join("s3"))
            .envs(environment.iter().copied())
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log"))
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start the AWS emulator with {}: {e}. Run `make test` (it installs \
                     tools/emulator/requirements.txt into tools/emulator/.venv) or set \
                     TIDEMARK_EMULATOR_PYTHON to a Python that has ministack",
                    python.display()
                )
            });
        let mut emulator = Emulator {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            log,
            _dir: dir,
        };
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = emulator.child.try_wait() {
                panic!(
                    "the AWS emulator exited ({status}):\n{}",
                    emulator.log_text()
                );
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the AWS emulator did not listen within 60 s:\n{}",
                emulator.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        emulator
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SDK configuration for the emulator: its endpoint, a region, test credentials.
    pub async fn sdk(&self) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                "test",
                "test",
                None,
                None,
                "tidemark-tests",
            ))
            .load()
            .await
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A Lambda zip for the emulator's `provided.al2023` runtime: an executable
/// `bootstrap` holding `script`, written (with the zip) into `folder`.
pub fn bootstrap_zip(folder: &Path, script: &str) -> Vec<u8> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(folder).unwrap();
    let bootstrap = folder.join("bootstrap");
    std::fs::write(&bootstrap, script).unwrap();
    std::fs::set_permissions(&bootstrap, std::fs::Permissions::from_mode(0o755)).unwrap();
    let zip = folder.join("bootstrap.zip");
    let status = Command::new(python())
        .args(["-m", "zipfile", "-c"])
        .arg(&zip)
        .arg(&bootstrap)
        .status()
        .unwrap();
    assert!(status.success(), "zipping {}", bootstrap.display());
    std::fs::read(zip).unwrap()
}

/// Lambda `CreateFunction` with `body` (name, runtime, code, …) in the
/// emulator at `endpoint`; returns the function's ARN.
pub fn create_function(endpoint: &str, body: &serde_json::Value) -> String {
    let mut response = ureq::post(&format!("{endpoint}/2015-03-31/functions"))
        .config()
        .http_status_as_error(false)
        .build()
        .send_json(body)
        .unwrap();
    let answer: serde_json::Value = response.body_mut().read_json().unwrap();
    answer["FunctionArn"]
        .as_str()
        .unwrap_or_else(|| panic!("CreateFunction {}: {answer}", body["FunctionName"]))
        .to_string()
}

/// Creates the Glue database `name`; returns the client.
pub async fn glue_with_database(sdk: &aws_config::SdkConfig, name: &str) -> aws_sdk_glue::Client {
    let glue = aws_sdk_glue::Client::new(sdk);
    glue.create_database()
        .database_input(
            aws_sdk_glue::types::DatabaseInput::builder()
                .name(name)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    glue
}

/// Creates the Athena workgroup `name`, its results under `output_location`;
/// returns the client.
pub async fn athena_workgroup(
    sdk: &aws_config::SdkConfig,
    name: &str,
    output_location: &str,
) -> aws_sdk_athena::Client {
    let athena = aws_sdk_athena::Client::new(sdk);
    athena
        .create_work_group()
        .name(name)
        .configuration(
            aws_sdk_athena::types::WorkGroupConfiguration::builder()
                .result_configuration(
                    aws_sdk_athena::types::ResultConfiguration::builder()
                        .output_location(output_location)
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    athena
}

/// Creates the SQS queue `name` and subscribes it to `topic` (with SNS's
/// envelope, or the raw message); returns the queue's URL.
pub async fn queue_subscribed_to(
    sdk: &aws_config::SdkConfig,
    topic: &str,
    name: &str,
    raw_delivery: bool,
) -> String {
    use aws_sdk_sqs::types::QueueAttributeName;
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let queue = sqs
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let queue_arn = sqs
        .get_queue_attributes()
        .queue_url(&queue)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&QueueAttributeName::QueueArn]
        .clone();
    aws_sdk_sns::Client::new(sdk)
        .subscribe()
        .topic_arn(topic)
        .protocol("sqs")
        .endpoint(queue_arn)
        .attributes("RawMessageDelivery", raw_delivery.to_string())
        .send()
        .await
        .unwrap();
    queue
}
