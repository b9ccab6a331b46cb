//! `extract-metadata` as a Lambda on the emulator, reading a real
//! PostgreSQL's catalog with the user and password of a secret in the
//! emulator's Secrets Manager, over TLS checked against a CA bundle
//! (`make pg`'s server: `scripts/pg.sh`). Drift at the source is classified
//! as the local path classifies it; a source that cannot be read fails the
//! step with an error naming the cause and the table, and writes no version.

#[path = "../../../tests/support/pg.rs"]
mod pg;
mod support;

use pg::TestDb;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use support::Emulator;
use support::demo::workspace;
use tidemark_aws::backend::s3_client;
use tidemark_core::events::ExtractMetadataOutput;
use tidemark_core::metadata::Drift;
use tidemark_core::run_plan::RunPlan;

const BUCKET: &str = "lake";
const CONFIG_KEY: &str = "config/tidemark.toml";
const CONFIG: &str = r#"
[source]
database = "shop"
schema = "public"

[[tables]]
name = "items"
mode = "cdc"

[[tables]]
name = "orders"
mode = "cdc"

[[tables]]
name = "ghost"
mode = "cdc"
"#;
/// `make pg`'s role that must log in with its password, over TLS.
const USER: &str = "tidemark_password";
const PASSWORD: &str = "reader-s3cret";

/// The CA that signed `make pg`'s certificate (for 127.0.0.1 only).
fn server_ca() -> PathBuf {
    pg::server_url();
    let out = std::process::Command::new("bash")
        .arg(workspace().join("scripts/pg.sh"))
        .arg("ca")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "make pg's server has no CA: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// The port of `make pg`'s server.
fn server_port() -> u16 {
    let url = pg::server_url();
    let authority = url.split('/').nth(2).unwrap();
    authority.rsplit(':').next().unwrap().parse().unwrap()
}

/// The emulator with the lake bucket, the configuration and the DMS secret.
struct Source {
    emulator: Emulator,
    sdk: aws_config::SdkConfig,
    s3: aws_sdk_s3::Client,
    secret_arn: String,
    functions: tempfile::TempDir,
}

impl Source {
    async fn start() -> Source {
        let emulator = Emulator::start("s3,lambda,secretsmanager");
        let sdk = emulator.sdk().await;
        let s3 = s3_client(&sdk);
        s3.create_bucket().bucket(BUCKET).send().await.unwrap();
        s3.put_object()
            .bucket(BUCKET)
            .key(CONFIG_KEY)
            .body(CONFIG.as_bytes().to_vec().into())
            .send()
            .await
            .unwrap();
        let secret_arn = secret(&sdk, "tidemark-source", PASSWORD).await;
        Source {
            emulator,
            sdk,
            s3,
            secret_arn,
            functions: tempfile::tempdir().unwrap(),
        }
    }

    /// `extract-metadata` as the Lambda `name`, reading `database` with the
    /// module's variables, `changes` laid over them.
    fn function(&self, name: &str, database: &str, changes: &[(&str, &str)]) -> String {
        let binary = std::env::current_exe()
            .unwrap()
            .parent()
            .unwrap()
            .parent()
            .unwrap()
            .join("extract-metadata");
        assert!(
            binary.exists(),
            "{} is missing: `make test` builds the function binaries first",
            binary.display()
        );
        let script = format!("#!/bin/sh\nexec '{}' \"$@\"\n", binary.display());
        let zip = support::bootstrap_zip(&self.functions.path().join(name), &script);
        let mut environment = json!({
            "TIDEMARK_CONFIG": format!("s3://{BUCKET}/{CONFIG_KEY}"),
            "TIDEMARK_LANDING": format!("s3://{BUCKET}/landing/"),
            "TIDEMARK_LAKE": format!("s3://{BUCKET}/"),
            "TIDEMARK_METADATA_SOURCE": format!("s3://{BUCKET}/metadata-source/"),
            "TIDEMARK_ATHENA_WORKGROUP": "tidemark",
            "TIDEMARK_GLUE_DATABASE": "shop",
            "TIDEMARK_SOURCE_ENGINE": "postgres",
            "TIDEMARK_SOURCE_HOST": "127.0.0.1",
            "TIDEMARK_SOURCE_PORT": server_port().to_string(),
            "TIDEMARK_SOURCE_DATABASE": database,
            "TIDEMARK_SOURCE_SECRET_ARN": self.secret_arn,
            "TIDEMARK_SOURCE_SSL_MODE": "verify-full",
            "TIDEMARK_SOURCE_CA_BUNDLE": server_ca().display().to_string(),
            "AWS_ENDPOINT_URL": self.emulator.endpoint,
            "RUST_LOG": "info",
        });
        for (name, value) in changes {
            environment[*name] = json!(value);
        }
        support::create_function(
            &self.emulator.endpoint,
            &json!({
                "FunctionName": name,
                "Runtime": "provided.al2023",
                "Handler": "bootstrap",
                "Role": "arn:aws:iam::000000000000:role/tidemark-extract-metadata",
                "Architectures": ["x86_64"],
                "Timeout": 60,
                "MemorySize": 256,
                "Code": {"ZipFile": aws_smithy_types::base64::encode(zip)},
                "Environment": {"Variables": environment},
            }),
        )
    }

    /// Invokes `function` on a daily run of `tables`: its output, or the
    /// error Step Functions would see (`errorType`, `errorMessage`).
    fn invoke(&self, function: &str, tables: &[&str]) -> Result<ExtractMetadataOutput, Value> {
        let event = json!({
            "plan": RunPlan::scheduled(tables.iter().map(|t| t.to_string()).collect()),
        });
        let mut response = ureq::post(&format!(
            "{}/2015-03-31/functions/{function}/invocations",
            self.emulator.endpoint
        ))
        .config()
        .http_status_as_error(false)
        .build()
        .send_json(&event)
        .unwrap();
        let failed = response.headers().get("X-Amz-Function-Error").is_some();
        let body: Value = response.body_mut().read_json().unwrap();
        if failed || body.get("errorType").is_some() {
            return Err(body);
        }
        Ok(serde_json::from_value(body.clone())
            .unwrap_or_else(|e| panic!("not extract-metadata's output ({e}): {body}")))
    }

    /// The metadata versions stored in the lake.
    async fn versions(&self) -> Vec<String> {
        self.s3
            .list_objects_v2()
            .bucket(BUCKET)
            .prefix("metadata/")
            .send()
            .await
            .unwrap()
            .contents
            .unwrap_or_default()
            .into_iter()
            .filter_map(|o| o.key)
            .collect()
    }

    async fn text(&self, key: &str) -> String {
        let out = self
            .s3
            .get_object()
            .bucket(BUCKET)
            .key(key)
            .send()
            .await
            .unwrap();
        String::from_utf8(out.body.collect().await.unwrap().to_vec()).unwrap()
    }
}

/// A secret as DMS reads it; returns its ARN.
async fn secret(sdk: &aws_config::SdkConfig, name: &str, password: &str) -> String {
    aws_sdk_secretsmanager::Client::new(sdk)
        .create_secret()
        .name(name)
        .secret_string(
            json!({"username": USER, "password": password, "engine": "postgres"}).to_string(),
        )
        .send()
        .await
        .unwrap()
        .arn
        .unwrap()
}

/// A database with `items` that the password role may read.
async fn database(test: &str) -> (TestDb, tokio_postgres::Client) {
    let db = TestDb::create(test).await;
    let client = db.client().await;
    client
        .batch_execute(&format!(
            "CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL, price numeric(10,2));
             COMMENT ON TABLE items IS 'What the shop sells';
             COMMENT ON COLUMN items.price IS 'In pounds';
             GRANT USAGE ON SCHEMA public TO {USER};
             ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO {USER};
             GRANT SELECT ON items TO {USER};"
        ))
        .await
        .unwrap();
    (db, client)
}

fn drift(output: &ExtractMetadataOutput, table: &str) -> (u32, Drift) {
    let work = output.tables.iter().find(|t| t.table == table).unwrap();
    (work.metadata_version, work.drift.clone())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_lambda_reads_the_catalog_over_tls_and_classifies_drift_at_the_source() {
    let (db, client) = database("srcmeta").await;
    let source = Source::start().await;
    // What the catalog cannot say comes from an override document.
    source
        .s3
        .put_object()
        .bucket(BUCKET)
        .key("metadata-source/overrides/items.json")
        .body(
            json!({"columns": [{"name": "name", "description": "As printed on the label"}]})
                .to_string()
                .into_bytes()
                .into(),
        )
        .send()
        .await
        .unwrap();
    let function = source.function("extract-metadata", &db.name, &[]);

    // Day 1: version 1, from the catalog. The first invocation starts the
    // function (its cold start: the environment, the configuration from S3).
    let started = std::time::Instant::now();
    let out = source.invoke(&function, &["items"]).unwrap();
    let cold = started.elapsed();
    assert_eq!(drift(&out, "items"), (1, Drift::None));
    let v1 = source.text("metadata/shop/items/v0001.json").await;
    for expected in [
        "\"primary_key\": [\n    \"id\"",
        "decimal128(10,2)",
        "What the shop sells",
        "In pounds",
        "As printed on the label",
    ] {
        assert!(v1.contains(expected), "{expected} is not in\n{v1}");
    }

    // The same catalog again: no new version.
    let started = std::time::Instant::now();
    let out = source.invoke(&function, &["items"]).unwrap();
    eprintln!(
        "extract-metadata on the emulator: first invocation (cold) {} ms, second (warm) {} ms",
        cold.as_millis(),
        started.elapsed().as_millis()
    );
    assert_eq!(drift(&out, "items"), (1, Drift::None));

    // A TRUNCATE lands no change: the table's storage at the source tells.
    // (validate-landed records the storage a run took; here, by hand.)
    let storage = out.tables[0]
        .source_storage
        .clone()
        .expect("a catalog knows it");
    assert_eq!(storage.changed_from, None);
    source
        .s3
        .put_object()
        .bucket(BUCKET)
        .key("state/shop/items/source-storage.json")
        .body(json!({"id": storage.id}).to_string().into_bytes().into())
        .send()
        .await
        .unwrap();
    client.batch_execute("TRUNCATE items").await.unwrap();
    let out = source.invoke(&function, &["items"]).unwrap();
    let truncated = out.tables[0].source_storage.clone().unwrap();
    assert_eq!(truncated.changed_from, Some(storage.id));

    // An added nullable column: additive, stored as version 2. A table added
    // at the source (and to the configuration): its first version.
    client
        .batch_execute(
            "ALTER TABLE items ADD COLUMN colour text;
             CREATE TABLE orders (id integer PRIMARY KEY, item bigint NOT NULL, placed timestamptz);",
        )
        .await
        .unwrap();
    let out = source.invoke(&function, &["items", "orders"]).unwrap();
    assert_eq!(
        drift(&out, "items"),
        (
            2,
            Drift::Additive {
                added: vec!["colour".into()]
            }
        )
    );
    assert_eq!(drift(&out, "orders"), (1, Drift::None));
    let orders = source.text("metadata/shop/orders/v0001.json").await;
    assert!(orders.contains("timestamp(us)"), "{orders}");

    // A retyped and a dropped column: breaking, and not stored.
    client
        .batch_execute(
            "ALTER TABLE items ALTER COLUMN price TYPE text;
             ALTER TABLE items DROP COLUMN colour;",
        )
        .await
        .unwrap();
    let out = source.invoke(&function, &["items"]).unwrap();
    let (version, Drift::Breaking { reasons }) = drift(&out, "items") else {
        panic!("a retyped and a dropped column must be breaking: {out:?}");
    };
    assert_eq!(version, 2, "the breaking version is not stored");
    let reasons = reasons.join("; ");
    assert!(
        reasons.contains("price") && reasons.contains("colour was dropped"),
        "{reasons}"
    );
    assert_eq!(
        source.versions().await,
        [
            "metadata/shop/items/v0001.json",
            "metadata/shop/items/v0002.json",
            "metadata/shop/orders/v0001.json"
        ]
    );
    drop(client);
    db.drop_all().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_source_that_cannot_be_read_fails_the_step_naming_the_cause_and_the_table() {
    let (db, client) = database("srcbad").await;
    let source = Source::start().await;
    let wrong_password = secret(&source.sdk, "tidemark-source-old", "not-it").await;
    let other_ca = other_ca(source.functions.path());
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let missing_secret = source
        .secret_arn
        .replace("tidemark-source", "tidemark-nothing");
    let other_ca = other_ca.display().to_string();
    let cases: [Case; 6] = [
        (
            "unreachable",
            vec![("TIDEMARK_SOURCE_PORT", &closed_port)],
            "items",
            &[
                "cannot connect to PostgreSQL at 127.0.0.1:",
                "Connection refused",
                "security group",
            ],
        ),
        (
            "wrong-password",
            vec![("TIDEMARK_SOURCE_SECRET_ARN", &wrong_password)],
            "items",
            &[
                "password authentication failed",
                "check the user and password",
            ],
        ),
        (
            "missing-secret",
            vec![("TIDEMARK_SOURCE_SECRET_ARN", &missing_secret)],
            "items",
            &[
                "tidemark-nothing",
                "TIDEMARK_SOURCE_SECRET_ARN",
                "cannot be read",
            ],
        ),
        (
            "not-this-host",
            vec![("TIDEMARK_SOURCE_HOST", "localhost")],
            "items",
            &[
                "certificate not valid for name \"localhost\"",
                "sslmode=verify-full",
            ],
        ),
        (
            "other-ca",
            vec![("TIDEMARK_SOURCE_CA_BUNDLE", &other_ca)],
            "items",
            &["invalid peer certificate", "other-ca.pem"],
        ),
        (
            "no-such-table",
            vec![],
            "ghost",
            &["has no table public.ghost", "its tables: items"],
        ),
    ];
    for (case, changes, table, expected) in cases {
        let function = source.function(case, &db.name, &changes);
        let error = source
            .invoke(&function, &[table])
            .expect_err(&format!("{case}: the step must fail"));
        let kind = error["errorType"].as_str().unwrap_or_default();
        let message = error["errorMessage"].as_str().unwrap_or_default();
        assert!(kind.starts_with("Tidemark."), "{case}: {error}");
        assert!(
            message.contains(table),
            "{case}: the table is not named: {message}"
        );
        for part in expected {
            assert!(
                message.contains(part),
                "{case}: {part:?} is not in {message}"
            );
        }
        assert!(
            !message.contains(PASSWORD) && !message.contains("not-it"),
            "{message}"
        );
    }
    // verify-ca accepts the certificate for another name: only the CA is checked.
    let function = source.function(
        "verify-ca",
        &db.name,
        &[
            ("TIDEMARK_SOURCE_HOST", "localhost"),
            ("TIDEMARK_SOURCE_SSL_MODE", "verify-ca"),
        ],
    );
    source.invoke(&function, &["items"]).unwrap();
    let mut versions = source.versions().await;
    assert_eq!(
        versions.pop().as_deref(),
        Some("metadata/shop/items/v0001.json")
    );
    assert!(versions.is_empty(), "a failed read wrote {versions:?}");
    drop(client);
    db.drop_all().await;
}

/// A failing read: the function, its variables' changes, the table, what the error says.
type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a str, &'a [&'a str]);

/// A CA that signed nothing the server has.
fn other_ca(dir: &Path) -> PathBuf {
    let path = dir.join("other-ca.pem");
    let status = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=not the server's CA", "-keyout"])
        .arg(dir.join("other-ca.key"))
        .arg("-out")
        .arg(&path)
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "openssl made no CA");
    path
}
