//! The AWS backend: each Lambda reads its environment once at cold start into
//! a typed [`AwsEnv`], fails fast naming the missing variable, and builds the
//! ports on the AWS adapters.
//!
//! | variable | used by | meaning |
//! |---|---|---|
//! | `TIDEMARK_CONFIG` | all | `s3://bucket/key` (or a path) of `tidemark.toml` |
//! | `TIDEMARK_LANDING` | all | `s3://bucket/prefix/` where DMS lands files |
//! | `TIDEMARK_LAKE` | all | `s3://bucket[/prefix]/` of the lake |
//! | `TIDEMARK_ATHENA_WORKGROUP` | all | the workgroup every query runs in |
//! | `TIDEMARK_GLUE_DATABASE` | all | must equal `source.database` of the config |
//! | `TIDEMARK_REPLICATION_MODE` | start-replication | `instance` or `serverless` |
//! | `TIDEMARK_REPLICATION_ARNS` | start-replication | JSON `{"cdc": arn, "snapshot": arn}` |
//! | `TIDEMARK_CDC_LATENCY_DIMENSIONS` | start-replication | optional JSON: the `cdc` replication's `AWS/DMS` CloudWatch dimensions, to report its CDC latency |
//! | `TIDEMARK_METADATA_SOURCE` | extract-metadata | `s3://bucket/prefix/` of the tables' metadata documents (and of the catalog's `overrides/`) |
//! | `TIDEMARK_SOURCE_ENGINE` | extract-metadata | the DMS source engine; `postgres` and `aurora-postgresql` catalogs are read |
//! | `TIDEMARK_SOURCE_HOST`, `_PORT`, `_DATABASE` | extract-metadata | where the source database is; unset: metadata documents only |
//! | `TIDEMARK_SOURCE_SECRET_ARN` | extract-metadata | the secret DMS uses (`username`, `password`) |
//! | `TIDEMARK_SOURCE_SSL_MODE` | extract-metadata | `none`, `require`, `verify-ca` or `verify-full` (the default) |
//! | `TIDEMARK_SOURCE_CA_BUNDLE` | extract-metadata | PEM file of the CAs of the source's certificate; default `rds-ca-bundle.pem` in the package |
//! | `TIDEMARK_ALERT_TOPIC_ARN` | notify | the SNS topic of alerts |
//!
//! The SDK's own variables choose the region, the credentials and, for the
//! emulator, the endpoints (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_S3`, …).

use crate::athena::{AthenaEngine, Deadline, Polling};
use crate::dms::{CdcLatency, DmsMode, DmsReplication, DmsReplicationRef};
use crate::glue::GlueCatalog;
use crate::metering::AwsMetering;
use crate::s3::{S3Location, S3Store};
use crate::secrets::SecretsManager;
use crate::sns::SnsNotifier;
use crate::source::{CATALOG_ENGINES, CatalogMetadata, SourceDatabase};
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::sync::Arc;
use tidemark_core::alert::Alert;
use tidemark_core::config::TableMode;
use tidemark_core::config::{MetadataFrom, PipelineConfig};
use tidemark_core::cost::Transitions;
use tidemark_core::erasure::ErasureKey;
use tidemark_core::error::{EngineError, Error, ErrorKind, ReplicationError, SourceError};
use tidemark_core::events::{ReplicationStatus, StartReplicationEvent};
use tidemark_core::metadata::{OverriddenMetadataSource, StoreMetadataSource, TableMetadata};
use tidemark_core::ports::{
    Catalog, CatalogEntry, MetadataSource, Metering, Notifier, ObjectStore, Ports, QueryEngine,
    QueryResult, Replication, Secrets,
};
use tidemark_core::scd2::{Athena, Dialect};
use tidemark_postgres::SslMode;

/// Why the AWS backend cannot start.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("environment variable {name} is not set ({meaning})")]
    Missing {
        name: &'static str,
        meaning: &'static str,
    },
    #[error("environment variable {name}: {message}")]
    Invalid { name: &'static str, message: String },
    #[error("{0}")]
    Config(String),
}

/// Which ports a function uses besides the config and the two stores. The
/// others are not built; the replication's, the metadata source's and the
/// notifier's variables are required only of the functions that use them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Needs {
    pub engine: bool,
    pub catalog: bool,
    pub replication: bool,
    pub metadata_source: bool,
    pub notifier: bool,
    pub metering: bool,
    pub secrets: bool,
}

impl Needs {
    pub const NONE: Needs = Needs {
        engine: false,
        catalog: false,
        replication: false,
        metadata_source: false,
        notifier: false,
        metering: false,
        secrets: false,
    };
}

/// A set of ports known when the binary is compiled. [`AwsBackend::build`]
/// branches on `NEEDS` as a constant, so a function's binary links neither
/// the adapters nor the SDK clients of the ports it does not use: its zip
/// stays small and its cold start short (docs/aws.md).
pub trait PortSet {
    const NEEDS: Needs;
}

/// Every port: what the tests wire up.
pub struct EveryPort;

impl PortSet for EveryPort {
    const NEEDS: Needs = Needs {
        engine: true,
        catalog: true,
        replication: true,
        metadata_source: true,
        notifier: true,
        metering: true,
        secrets: true,
    };
}

/// The environment of a function, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct AwsEnv {
    pub config: String,
    pub landing: S3Location,
    pub lake: S3Location,
    pub workgroup: String,
    pub glue_database: String,
    pub replication: Option<(DmsMode, Vec<DmsReplicationRef>)>,
    /// Empty: the CDC latency is not read.
    pub cdc_latency_dimensions: BTreeMap<String, String>,
    pub metadata_source: Option<S3Location>,
    /// The source database and its engine, when the function may read its catalog.
    pub source_database: Option<(String, SourceDatabase)>,
    pub alert_topic_arn: Option<String>,
    /// The erasure key's Secrets Manager secret (`docs/erasure.md`).
    pub erasure_key_secret: Option<String>,
}

impl AwsEnv {
    /// Reads the variables through `var` (`std::env::var` in a Lambda).
    pub fn read(needs: Needs, var: impl Fn(&str) -> Option<String>) -> Result<AwsEnv, SetupError> {
        let required = |name: &'static str, meaning: &'static str| {
            var(name)
                .filter(|v| !v.trim().is_empty())
                .ok_or(SetupError::Missing { name, meaning })
        };
        let location = |name: &'static str, meaning: &'static str| {
            S3Location::parse(&required(name, meaning)?)
                .map_err(|e| SetupError::Invalid { name, message: e.0 })
        };
        let replication = if needs.replication {
            let mode =
                match required("TIDEMARK_REPLICATION_MODE", "instance or serverless")?.as_str() {
                    "instance" => DmsMode::Instance,
                    "serverless" => DmsMode::Serverless,
                    other => {
                        return Err(SetupError::Invalid {
                            name: "TIDEMARK_REPLICATION_MODE",
                            message: format!("{other:?} is neither instance nor serverless"),
                        });
                    }
                };
            let arns: BTreeMap<String, String> = serde_json::from_str(&required(
                "TIDEMARK_REPLICATION_ARNS",
                "JSON object of replication ARNs by kind",
            )?)
            .map_err(|e| SetupError::Invalid {
                name: "TIDEMARK_REPLICATION_ARNS",
                message: format!("not a JSON object of strings: {e}"),
            })?;
            if arns.is_empty() {
                return Err(SetupError::Invalid {
                    name: "TIDEMARK_REPLICATION_ARNS",
                    message: "names no replication".into(),
                });
            }
            Some((
                mode,
                arns.into_iter()
                    .map(|(kind, arn)| DmsReplicationRef { kind, arn })
                    .collect(),
            ))
        } else {
            None
        };
        let cdc_latency_dimensions = match var("TIDEMARK_CDC_LATENCY_DIMENSIONS") {
            Some(text) if needs.replication && !text.trim().is_empty() => {
                serde_json::from_str(&text).map_err(|e| SetupError::Invalid {
                    name: "TIDEMARK_CDC_LATENCY_DIMENSIONS",
                    message: format!("not a JSON object of strings: {e}"),
                })?
            }
            _ => BTreeMap::new(),
        };
        let source_database = match var("TIDEMARK_SOURCE_HOST") {
            Some(host) if needs.metadata_source && !host.trim().is_empty() => {
                Some(source_database(host, &var, &required)?)
            }
            _ => None,
        };
        Ok(AwsEnv {
            erasure_key_secret: var("TIDEMARK_ERASURE_KEY_SECRET").filter(|v| !v.trim().is_empty()),
            cdc_latency_dimensions,
            config: required("TIDEMARK_CONFIG", "where tidemark.toml is: s3://bucket/key")?,
            landing: location(
                "TIDEMARK_LANDING",
                "s3://bucket/prefix/ where DMS lands files",
            )?,
            lake: location("TIDEMARK_LAKE", "s3://bucket/ of the lake")?,
            workgroup: required("TIDEMARK_ATHENA_WORKGROUP", "the Athena workgroup")?,
            glue_database: required("TIDEMARK_GLUE_DATABASE", "the Glue database of history")?,
            replication,
            // Optional beside a source database (its catalog's overrides).
            metadata_source: if needs.metadata_source
                && (source_database.is_none()
                    || var("TIDEMARK_METADATA_SOURCE").is_some_and(|v| !v.trim().is_empty()))
            {
                Some(location(
                    "TIDEMARK_METADATA_SOURCE",
                    "s3://bucket/prefix/ of the tables' metadata documents",
                )?)
            } else {
                None
            },
            source_database,
            alert_topic_arn: if needs.notifier {
                Some(required(
                    "TIDEMARK_ALERT_TOPIC_ARN",
                    "the SNS topic of alerts",
                )?)
            } else {
                None
            },
        })
    }
}

/// The source database of `TIDEMARK_SOURCE_*` (its host given).
fn source_database(
    host: String,
    var: &impl Fn(&str) -> Option<String>,
    required: &impl Fn(&'static str, &'static str) -> Result<String, SetupError>,
) -> Result<(String, SourceDatabase), SetupError> {
    let engine = required("TIDEMARK_SOURCE_ENGINE", "the DMS source engine")?;
    let port = required("TIDEMARK_SOURCE_PORT", "the source database's port")?;
    let port = port.parse().map_err(|_| SetupError::Invalid {
        name: "TIDEMARK_SOURCE_PORT",
        message: format!("{port:?} is not a TCP port"),
    })?;
    let ssl_mode = match var("TIDEMARK_SOURCE_SSL_MODE").filter(|v| !v.trim().is_empty()) {
        Some(mode) => mode.parse().map_err(|message| SetupError::Invalid {
            name: "TIDEMARK_SOURCE_SSL_MODE",
            message,
        })?,
        None => SslMode::VerifyFull,
    };
    // The bundle the package ships (`make build`), unless one is named.
    let named = var("TIDEMARK_SOURCE_CA_BUNDLE").filter(|v| !v.trim().is_empty());
    let shipped = var("LAMBDA_TASK_ROOT")
        .map(|root| std::path::Path::new(&root).join("rds-ca-bundle.pem"))
        .filter(|path| path.exists())
        .map(|path| path.display().to_string());
    let ca_bundle = match named.or(shipped) {
        Some(path) => Some((
            path.clone(),
            std::fs::read(&path).map_err(|e| SetupError::Invalid {
                name: "TIDEMARK_SOURCE_CA_BUNDLE",
                message: format!("{path} cannot be read: {e}"),
            })?,
        )),
        None => None,
    };
    Ok((
        engine,
        SourceDatabase {
            host,
            port,
            database: required("TIDEMARK_SOURCE_DATABASE", "the source database's name")?,
            secret_arn: required(
                "TIDEMARK_SOURCE_SECRET_ARN",
                "the secret DMS uses to connect to the source",
            )?,
            ssl_mode,
            ca_bundle,
        },
    ))
}

/// Where `extract-metadata` reads metadata (`[metadata] from`, `docs/aws.md`).
fn metadata_source(
    env: &AwsEnv,
    config: &PipelineConfig,
    sdk: &aws_config::SdkConfig,
    s3: &aws_sdk_s3::Client,
) -> Result<Arc<dyn MetadataSource>, SetupError> {
    let documents = |location: &S3Location| -> Arc<dyn ObjectStore> {
        Arc::new(S3Store::new(s3.clone(), location.clone()))
    };
    let catalog = match (&env.source_database, config.metadata.from) {
        (_, Some(MetadataFrom::Documents)) => None,
        (Some((engine, db)), _) if CATALOG_ENGINES.contains(&engine.as_str()) => Some(db),
        (Some((engine, _)), Some(MetadataFrom::Catalog)) => {
            return Err(SetupError::Config(format!(
                "[metadata] from = \"catalog\": tidemark reads the catalog of {} sources, not {engine:?}; set from = \"documents\" (docs/aws.md says what adding an engine takes)",
                CATALOG_ENGINES.join(" and ")
            )));
        }
        (None, Some(MetadataFrom::Catalog)) => {
            return Err(SetupError::Missing {
                name: "TIDEMARK_SOURCE_HOST",
                meaning: "[metadata] from = \"catalog\" reads the source database's catalog",
            });
        }
        (_, None) => None,
    };
    let Some(db) = catalog else {
        return Ok(match &env.metadata_source {
            Some(location) => Arc::new(StoreMetadataSource {
                store: documents(location),
            }),
            None => Arc::new(Unavailable("TIDEMARK_METADATA_SOURCE")),
        });
    };
    let reader = Arc::new(CatalogMetadata {
        secrets: aws_sdk_secretsmanager::Client::new(sdk),
        database: db.clone(),
        schema: config.source.schema.clone(),
    });
    Ok(match &env.metadata_source {
        Some(location) => Arc::new(OverriddenMetadataSource {
            base: reader,
            overrides: documents(&S3Location {
                bucket: location.bucket.clone(),
                prefix: format!("{}overrides/", location.prefix),
            }),
        }),
        None => reader,
    })
}

/// The ports on AWS, and the deadline of the invocation being served.
pub struct AwsBackend {
    pub ports: Ports,
    pub deadline: Deadline,
}

impl AwsBackend {
    /// Builds the ports from the environment and the SDK's default configuration.
    pub async fn from_env<P: PortSet>() -> Result<AwsBackend, SetupError> {
        let env = AwsEnv::read(P::NEEDS, |name| std::env::var(name).ok())?;
        let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        AwsBackend::build::<P>(&env, &sdk).await
    }

    /// The ports of `P`; the others answer that this function does not use them.
    pub async fn build<P: PortSet>(
        env: &AwsEnv,
        sdk: &aws_config::SdkConfig,
    ) -> Result<AwsBackend, SetupError> {
        // A constant: each `needs.<port>` test below, even where the
        // environment already says, is what lets the linker drop that port.
        let needs = P::NEEDS;
        let s3 = s3_client(sdk);
        let config = load_config(&s3, &env.config).await?;
        if config.source.database != env.glue_database {
            return Err(SetupError::Config(format!(
                "TIDEMARK_GLUE_DATABASE is {:?} but {} says source.database = {:?}: they must name the same database",
                env.glue_database, env.config, config.source.database
            )));
        }
        let lake: Arc<dyn ObjectStore> = Arc::new(S3Store::new(s3.clone(), env.lake.clone()));
        let landing: Arc<dyn ObjectStore> = Arc::new(S3Store::new(s3.clone(), env.landing.clone()));
        let deadline = Deadline::default();
        let lake_uri = format!("s3://{}/{}", env.lake.bucket, env.lake.prefix);
        let replication: Arc<dyn Replication> = match &env.replication {
            Some((mode, refs)) if needs.replication => {
                let dms = DmsReplication::new(
                    aws_sdk_databasemigration::Client::new(sdk),
                    *mode,
                    refs.clone(),
                );
                Arc::new(if env.cdc_latency_dimensions.is_empty() {
                    dms
                } else {
                    dms.with_latency(CdcLatency {
                        client: aws_sdk_cloudwatch::Client::new(sdk),
                        dimensions: env.cdc_latency_dimensions.clone(),
                    })
                })
            }
            _ => Arc::new(Unavailable("TIDEMARK_REPLICATION_MODE")),
        };
        let metadata = if needs.metadata_source {
            metadata_source(env, &config, sdk, &s3)?
        } else {
            Arc::new(Unavailable("TIDEMARK_METADATA_SOURCE"))
        };
        let notifier: Arc<dyn Notifier> = match &env.alert_topic_arn {
            Some(arn) if needs.notifier => {
                Arc::new(SnsNotifier::new(aws_sdk_sns::Client::new(sdk), arn.clone()))
            }
            _ => Arc::new(Unavailable("TIDEMARK_ALERT_TOPIC_ARN")),
        };
        let engine: Arc<dyn QueryEngine> = if needs.engine {
            Arc::new(
                AthenaEngine::new(
                    aws_sdk_athena::Client::new(sdk),
                    env.workgroup.clone(),
                    lake_uri,
                    Polling::default(),
                    deadline.clone(),
                )
                .with_maintenance(config.maintenance.clone()),
            )
        } else {
            Arc::new(Unavailable("TIDEMARK_ATHENA_WORKGROUP"))
        };
        let catalog: Arc<dyn Catalog> = if needs.catalog {
            Arc::new(GlueCatalog::new(aws_sdk_glue::Client::new(sdk)))
        } else {
            Arc::new(Unavailable("TIDEMARK_GLUE_DATABASE"))
        };
        let metering: Arc<dyn Metering> = if needs.metering {
            Arc::new(AwsMetering::new(aws_sdk_sfn::Client::new(sdk)))
        } else {
            Arc::new(Unavailable("Step Functions"))
        };
        let secrets: Arc<dyn Secrets> = if needs.secrets {
            Arc::new(SecretsManager::new(
                aws_sdk_secretsmanager::Client::new(sdk),
                env.erasure_key_secret.clone(),
            ))
        } else {
            Arc::new(Unavailable("TIDEMARK_ERASURE_KEY_SECRET"))
        };
        Ok(AwsBackend {
            ports: Ports {
                config: Arc::new(config),
                landing,
                lake,
                engine,
                catalog,
                notifier,
                replication,
                metadata,
                metering,
                deadline: deadline.clone(),
                secrets,
            },
            deadline,
        })
    }
}

/// S3 with path-style addressing when an endpoint is overridden (emulators
/// serve buckets under the path, not as subdomains).
pub fn s3_client(sdk: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    let path_style = sdk.endpoint_url().is_some()
        || std::env::var("AWS_ENDPOINT_URL_S3").is_ok_and(|v| !v.is_empty());
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(path_style)
            .build(),
    )
}

/// Reads `tidemark.toml` from S3 or a file.
async fn load_config(s3: &aws_sdk_s3::Client, uri: &str) -> Result<PipelineConfig, SetupError> {
    let text = if uri.starts_with("s3://") {
        let location = S3Location::parse(uri).map_err(|e| SetupError::Invalid {
            name: "TIDEMARK_CONFIG",
            message: e.0,
        })?;
        let key = location.prefix.trim_end_matches('/').to_string();
        let store = S3Store::new(
            s3.clone(),
            S3Location {
                bucket: location.bucket,
                prefix: String::new(),
            },
        );
        let (bytes, _) = store
            .get(&key)
            .await
            .map_err(|e| SetupError::Config(format!("reading TIDEMARK_CONFIG {uri}: {e}")))?;
        String::from_utf8(bytes.to_vec())
            .map_err(|_| SetupError::Config(format!("{uri} is not UTF-8 text")))?
    } else {
        std::fs::read_to_string(uri)
            .map_err(|e| SetupError::Config(format!("reading TIDEMARK_CONFIG {uri}: {e}")))?
    };
    PipelineConfig::from_toml(uri, &text).map_err(|e| SetupError::Config(e.to_string()))
}

/// A port this function does not use. Calling it is a wiring bug, reported
/// with the variable that would have configured it.
struct Unavailable(&'static str);

impl Unavailable {
    fn unconfigured(&self) -> String {
        format!(
            "this function was not configured with {}: it does not use this port",
            self.0
        )
    }
}

#[async_trait]
impl Replication for Unavailable {
    async fn start(
        &self,
        _: &StartReplicationEvent,
        _: &[(String, TableMode)],
    ) -> Result<ReplicationStatus, ReplicationError> {
        Err(ReplicationError::Invalid(self.unconfigured()))
    }
}

#[async_trait]
impl MetadataSource for Unavailable {
    async fn read(&self, _: &str) -> Result<TableMetadata, SourceError> {
        Err(SourceError::Unreadable {
            message: self.unconfigured(),
            kind: ErrorKind::InvalidInput,
        })
    }
}

#[async_trait]
impl Notifier for Unavailable {
    async fn send(&self, _: &Alert) -> Result<Vec<String>, Error> {
        Err(Error::InvalidInput(self.unconfigured()))
    }
}

#[async_trait]
impl QueryEngine for Unavailable {
    /// Athena's, so that SQL renders; nothing runs.
    fn dialect(&self) -> Arc<dyn Dialect> {
        Arc::new(Athena::default())
    }

    async fn execute(&self, sql: &str) -> Result<QueryResult, EngineError> {
        Err(EngineError::Query {
            statement: sql.to_string(),
            message: self.unconfigured(),
        })
    }

    async fn transaction(&self, statements: &[String]) -> Result<Vec<QueryResult>, EngineError> {
        self.execute(&statements.join(";\n")).await.map(|r| vec![r])
    }
}

#[async_trait]
impl Catalog for Unavailable {
    async fn publish(&self, _: &CatalogEntry) -> Result<(), Error> {
        Err(Error::InvalidInput(self.unconfigured()))
    }
}

#[async_trait]
impl Metering for Unavailable {
    async fn transitions(&self, _: &str) -> Result<Transitions, Error> {
        Err(Error::InvalidInput(self.unconfigured()))
    }

    async fn publish(&self, _: &[serde_json::Value]) -> Result<(), Error> {
        Err(Error::InvalidInput(self.unconfigured()))
    }
}

#[async_trait]
impl Secrets for Unavailable {
    async fn erasure_key(&self) -> Result<ErasureKey, Error> {
        Err(Error::InvalidInput(self.unconfigured()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn base() -> HashMap<&'static str, &'static str> {
        HashMap::from([
            ("TIDEMARK_CONFIG", "s3://artifacts/config/tidemark.toml"),
            ("TIDEMARK_LANDING", "s3://landing/dms/"),
            ("TIDEMARK_LAKE", "s3://lake/"),
            ("TIDEMARK_ATHENA_WORKGROUP", "tidemark"),
            ("TIDEMARK_GLUE_DATABASE", "shop"),
        ])
    }

    fn read(needs: Needs, env: &HashMap<&'static str, &'static str>) -> Result<AwsEnv, SetupError> {
        AwsEnv::read(needs, |n| env.get(n).map(|v| v.to_string()))
    }

    #[test]
    fn a_missing_variable_is_named_with_what_it_means() {
        let mut env = base();
        env.remove("TIDEMARK_LAKE");
        let e = read(Needs::NONE, &env).unwrap_err().to_string();
        assert_eq!(
            e,
            "environment variable TIDEMARK_LAKE is not set (s3://bucket/ of the lake)"
        );
        let e = read(
            Needs {
                notifier: true,
                ..Needs::NONE
            },
            &base(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("TIDEMARK_ALERT_TOPIC_ARN"), "{e}");
    }

    #[test]
    fn source_variables_name_the_database_its_secret_and_tls() {
        let needs = Needs {
            metadata_source: true,
            ..Needs::NONE
        };
        let e = read(needs, &base()).unwrap_err().to_string();
        assert!(
            e.contains("TIDEMARK_METADATA_SOURCE"),
            "documents without a database: {e}"
        );
        let mut env = base();
        env.extend([
            ("TIDEMARK_SOURCE_ENGINE", "postgres"),
            ("TIDEMARK_SOURCE_HOST", "db.internal"),
            ("TIDEMARK_SOURCE_PORT", "5432"),
            ("TIDEMARK_SOURCE_DATABASE", "shop"),
            (
                "TIDEMARK_SOURCE_SECRET_ARN",
                "arn:aws:secretsmanager:eu-west-2:1:secret:dms",
            ),
        ]);
        let (engine, db) = read(needs, &env).unwrap().source_database.unwrap();
        assert_eq!(engine, "postgres");
        assert_eq!((db.host.as_str(), db.port), ("db.internal", 5432));
        assert_eq!(db.ssl_mode, SslMode::VerifyFull, "the default");
        assert_eq!(db.ca_bundle, None);
        for (name, value, expected) in [
            (
                "TIDEMARK_SOURCE_PORT",
                "54x",
                "TIDEMARK_SOURCE_PORT: \"54x\" is not a TCP port",
            ),
            (
                "TIDEMARK_SOURCE_SSL_MODE",
                "strict",
                "sslmode \"strict\" is none of",
            ),
            (
                "TIDEMARK_SOURCE_CA_BUNDLE",
                "/nowhere/ca.pem",
                "/nowhere/ca.pem cannot be read",
            ),
            (
                "TIDEMARK_SOURCE_SECRET_ARN",
                "",
                "TIDEMARK_SOURCE_SECRET_ARN is not set",
            ),
        ] {
            let mut bad = env.clone();
            bad.insert(name, value);
            let e = read(needs, &bad).unwrap_err().to_string();
            assert!(e.contains(expected), "{name}={value}: {e}");
        }
    }

    #[test]
    fn replication_variables_parse_into_kinds() {
        let mut env = base();
        env.insert("TIDEMARK_REPLICATION_MODE", "serverless");
        env.insert(
            "TIDEMARK_REPLICATION_ARNS",
            r#"{"cdc":"arn:c","snapshot":"arn:s"}"#,
        );
        let parsed = read(
            Needs {
                replication: true,
                ..Needs::NONE
            },
            &env,
        )
        .unwrap();
        assert!(parsed.cdc_latency_dimensions.is_empty(), "optional");
        let (mode, refs) = parsed.replication.unwrap();
        assert_eq!(mode, DmsMode::Serverless);
        assert_eq!(
            refs[0],
            DmsReplicationRef {
                kind: "cdc".into(),
                arn: "arn:c".into()
            }
        );
        env.insert(
            "TIDEMARK_CDC_LATENCY_DIMENSIONS",
            r#"{"ReplicationConfigIdentifier":"shop-cdc"}"#,
        );
        let needs = Needs {
            replication: true,
            ..Needs::NONE
        };
        assert_eq!(
            read(needs, &env).unwrap().cdc_latency_dimensions,
            BTreeMap::from([("ReplicationConfigIdentifier".into(), "shop-cdc".into())])
        );
        env.insert("TIDEMARK_CDC_LATENCY_DIMENSIONS", "shop-cdc");
        let e = read(needs, &env).unwrap_err().to_string();
        assert!(
            e.contains("TIDEMARK_CDC_LATENCY_DIMENSIONS: not a JSON object"),
            "{e}"
        );
        env.remove("TIDEMARK_CDC_LATENCY_DIMENSIONS");
        env.insert("TIDEMARK_REPLICATION_MODE", "task");
        let e = read(
            Needs {
                replication: true,
                ..Needs::NONE
            },
            &env,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("\"task\" is neither instance nor serverless"),
            "{e}"
        );
        env.insert("TIDEMARK_LAKE", "lake");
        let e = read(Needs::NONE, &env).unwrap_err().to_string();
        assert!(
            e.contains("TIDEMARK_LAKE") && e.contains("not an s3:// URI"),
            "{e}"
        );
    }
}
