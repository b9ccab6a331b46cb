//! The local pipeline: local adapters wired into [`Ports`], the six steps as
//! the interpreter's Lambda functions, and one execution of the production
//! state machine.

use crate::catalog::FileCatalog;
use crate::duckdb::DuckDbEngine;
use crate::fs_store::FsStore;
use crate::metadata_source::MetadataDir;
use crate::metering::LocalMetering;
use crate::notifier::ConsoleNotifier;
use crate::postgres::{PgMetadata, PgReplicator, PgSource};
use crate::replay::{ExistingLanding, ReplaySource};
use async_trait::async_trait;
use chrono::NaiveDate;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tidemark_asl::{Execution, Interpreter, StateMachine, TaskFailure, TaskInvoker};
use tidemark_core::config::{MetadataFrom, PipelineConfig, TableMode};
use tidemark_core::cost::Runtime::Local;
use tidemark_core::error::{Error, ReplicationError};
use tidemark_core::events::ExecutionInput;
use tidemark_core::metadata::OverriddenMetadataSource;
use tidemark_core::ports::{MetadataSource, ObjectStore, Ports, Replication};
use tidemark_core::steps::{self, Step, metered};

/// The production definition, compiled in.
pub const DEFINITION: &str = include_str!("../../../statemachines/daily-pipeline.asl.json");

/// The definition with each `${...}FunctionArn` replaced by a local ARN.
pub fn local_definition() -> String {
    Step::ALL.iter().fold(DEFINITION.to_string(), |def, step| {
        def.replace(
            &format!("${{{}}}", step.placeholder()),
            &format!("arn:aws:lambda:local:000000000000:function:{step}"),
        )
    })
}

#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error(transparent)]
    Config(#[from] tidemark_core::config::ConfigError),
    #[error("{0}")]
    Io(String),
    #[error(transparent)]
    Engine(#[from] tidemark_core::error::EngineError),
    #[error("state machine definition: {0}")]
    Definition(String),
    /// Another process kept the lake's warehouse for longer than the wait.
    #[error("{0}")]
    Busy(String),
}

/// Opens the lake's DuckDB warehouse. DuckDB lets one process at a time
/// write a database file, so a second `tidemark run` on the same lake waits
/// for the first (up to `wait`), then fails having changed nothing.
fn open_warehouse(lake: &Path, wait: std::time::Duration) -> Result<DuckDbEngine, LocalError> {
    let path = lake.join("warehouse.duckdb");
    let started = std::time::Instant::now();
    let mut announced = false;
    loop {
        match DuckDbEngine::open(&path, lake) {
            Err(tidemark_core::error::EngineError::Query { message, .. })
                if message.contains("Could not set lock on file") =>
            {
                if started.elapsed() >= wait {
                    return Err(LocalError::Busy(format!(
                        "another tidemark process holds {} and did not finish within {} s ([local] warehouse_wait_seconds); nothing was changed, run again when it is done. DuckDB: {message}",
                        path.display(),
                        wait.as_secs()
                    )));
                }
                if !announced {
                    tracing::warn!(warehouse = %path.display(), wait_seconds = wait.as_secs(), "another tidemark process is using the lake; waiting for it");
                    announced = true;
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            other => return Ok(other?),
        }
    }
}

/// Where the local pipeline reads and writes.
#[derive(Debug, Clone, Default)]
pub struct LocalOptions {
    pub config_path: PathBuf,
    /// The lake folder; the config's `local.lake` when `None`.
    pub lake: Option<PathBuf>,
    /// Run over files already in the DMS layout here instead of the replay source.
    pub landing: Option<PathBuf>,
    /// Replay days up to and including this date.
    pub replay_through: Option<NaiveDate>,
    /// A PostgreSQL source (`postgres://...`): replicate it with logical
    /// decoding and read its metadata from its catalog, instead of the replay
    /// source and the metadata folder.
    pub source: Option<String>,
}

/// The lake, the landing area and the replication of a local pipeline,
/// without its warehouse: what `tidemark status`, `pause` and `resume` read
/// while a run holds the warehouse.
pub struct LocalLake {
    pub config: PipelineConfig,
    /// The folder of the config file, which its relative paths start from.
    pub base: PathBuf,
    pub dir: PathBuf,
    pub lake: Arc<dyn ObjectStore>,
    pub landing: Arc<dyn ObjectStore>,
    pub replication: Arc<dyn Replication>,
}

impl LocalLake {
    pub fn open(options: &LocalOptions) -> Result<LocalLake, LocalError> {
        let io = |what: &str, p: &Path, e: std::io::Error| {
            LocalError::Io(format!("{what} {}: {e}", p.display()))
        };
        let text = std::fs::read_to_string(&options.config_path)
            .map_err(|e| io("cannot read", &options.config_path, e))?;
        let config = PipelineConfig::from_toml(&options.config_path.display().to_string(), &text)?;
        let base = options
            .config_path
            .parent()
            .unwrap_or(Path::new("."))
            .to_path_buf();
        let lake_dir = options
            .lake
            .clone()
            .unwrap_or_else(|| PathBuf::from(&config.local.lake));
        let lake_store =
            FsStore::new(&lake_dir).map_err(|e| io("cannot create the lake", &lake_dir, e))?;
        let dir = lake_store.root().to_path_buf();
        let landing_dir = options
            .landing
            .clone()
            .unwrap_or_else(|| dir.join("landing"));
        let landing: Arc<dyn ObjectStore> = Arc::new(
            FsStore::new(&landing_dir)
                .map_err(|e| io("cannot open the landing folder", &landing_dir, e))?,
        );
        if options.source.is_some()
            && let Some(t) = config.tables.iter().find(|t| t.mode != TableMode::Cdc)
        {
            return Err(LocalError::Io(format!(
                "table {} is mode = \"snapshot\": a PostgreSQL source replicates cdc tables only",
                t.name
            )));
        }
        let replication: Arc<dyn Replication> =
            match (&options.source, &options.landing, &config.local.replay_dir) {
                (Some(url), _, _) => Arc::new(PgReplicator {
                    url: url.clone(),
                    schema: config.source.schema.clone(),
                    tables: config.tables.iter().map(|t| t.name.clone()).collect(),
                    landing: landing.clone(),
                    control: config.source.control_columns.clone(),
                    slot: crate::postgres::slot_name(url, &config.source.database),
                    chunk_changes: crate::postgres::chunk_changes(),
                }),
                (None, None, Some(dir)) => Arc::new(ReplaySource {
                    dir: base.join(dir),
                    landing: landing.clone(),
                    through: options.replay_through,
                }),
                _ => Arc::new(ExistingLanding),
            };
        Ok(LocalLake {
            config,
            base,
            dir,
            lake: Arc::new(lake_store),
            landing,
            replication,
        })
    }
}

/// The local backends, built once.
pub struct LocalBackend {
    pub ports: Ports,
    pub lake: PathBuf,
    pub engine: DuckDbEngine,
    metering: LocalMetering,
}

impl LocalBackend {
    pub fn open(options: &LocalOptions) -> Result<LocalBackend, LocalError> {
        let LocalLake {
            mut config,
            base,
            dir: lake,
            lake: lake_store,
            landing,
            replication,
        } = LocalLake::open(options)?;
        let engine = open_warehouse(
            &lake,
            std::time::Duration::from_secs(config.local.warehouse_wait_seconds),
        )?;
        if let Ok(url) = std::env::var("TIDEMARK_SLACK_WEBHOOK_URL") {
            config.alerts.slack_webhook_url = Some(url).filter(|u| !u.is_empty());
        }
        config.alerts.rerun_command.get_or_insert_with(|| {
            let source = options
                .source
                .as_deref()
                .map(|url| format!(" --source {}", crate::postgres::redact(url)))
                .unwrap_or_default();
            format!(
                "tidemark run --config {} --lake {}{source}",
                options.config_path.display(),
                lake.display()
            )
        });
        let metering = LocalMetering::new(lake_store.clone());
        let ports = Ports {
            metering: Arc::new(metering.clone()),
            landing,
            lake: lake_store.clone(),
            engine: Arc::new(engine.clone()),
            catalog: Arc::new(FileCatalog {
                store: lake_store.clone(),
                engine: engine.clone(),
            }),
            deadline: Default::default(),
            secrets: Arc::new(crate::secrets::LakeSecrets {
                store: lake_store.clone(),
            }),
            notifier: Arc::new(ConsoleNotifier {
                store: lake_store,
                slack_webhook_url: config.alerts.slack_webhook_url.clone(),
            }),
            replication,
            metadata: metadata_source(&config, options.source.as_deref(), &base)?,
            config: Arc::new(config),
        };
        Ok(LocalBackend {
            ports,
            lake,
            engine,
            metering,
        })
    }

    /// Runs the daily pipeline once, as execution `execution_name`.
    pub async fn run(
        &self,
        execution_name: &str,
        input: &ExecutionInput,
        time_scale: f64,
    ) -> Result<Execution, LocalError> {
        let machine = StateMachine::from_json(&local_definition())
            .map_err(|e| LocalError::Definition(e.to_string()))?;
        let interpreter = Interpreter::new(Arc::new(StepInvoker {
            ports: self.ports.clone(),
        }))
        .with_time_scale(time_scale)
        .with_observer(self.metering.observer());
        Ok(interpreter
            .execute(&machine, execution_name, input.0.clone())
            .await)
    }
}

/// Runs the daily pipeline the way the schedule would have: with a replay
/// source, one execution per replay day not delivered yet (named
/// `<name>-<day>`); otherwise — or when every day is delivered — one execution.
/// Returns the last backend (for queries) and each execution, oldest first.
pub async fn run_catching_up(
    options: &LocalOptions,
    name: &str,
    input: &ExecutionInput,
    time_scale: f64,
) -> Result<(LocalBackend, Vec<Execution>), LocalError> {
    // The days to replay come from the landing area alone: the warehouse is
    // opened once per execution, not once more to find them.
    let lake = LocalLake::open(options)?;
    let replay_dir = match (
        &options.source,
        &options.landing,
        &lake.config.local.replay_dir,
    ) {
        (None, None, Some(dir)) => Some(lake.base.join(dir)),
        _ => None,
    };
    let mut days = Vec::new();
    if let Some(dir) = replay_dir {
        let replay_err = |e: ReplicationError| LocalError::Io(e.to_string());
        let delivered = crate::replay::delivered_through(lake.landing.as_ref())
            .await
            .map_err(replay_err)?;
        days = crate::replay::replay_days(&dir)
            .map_err(replay_err)?
            .into_iter()
            .filter(|d| {
                delivered.is_none_or(|t| *d > t) && options.replay_through.is_none_or(|t| *d <= t)
            })
            .collect();
    }
    drop(lake);
    if days.is_empty() {
        let backend = LocalBackend::open(options)?;
        let execution = backend.run(name, input, time_scale).await?;
        return Ok((backend, vec![execution]));
    }
    let mut executions = Vec::with_capacity(days.len());
    let mut backend = None;
    for day in days {
        // One DuckDB connection at a time: the previous backend closes first.
        drop(backend.take());
        let opened = LocalBackend::open(&LocalOptions {
            replay_through: Some(day),
            ..options.clone()
        })?;
        executions.push(
            opened
                .run(&format!("{name}-{day}"), input, time_scale)
                .await?,
        );
        backend = Some(opened);
    }
    let backend = backend.expect("at least one day was replayed");
    Ok((backend, executions))
}

/// Resolves a Lambda function name to its step, exactly as a Lambda binary would run it.
pub struct StepInvoker {
    pub ports: Ports,
}

#[async_trait]
impl TaskInvoker for StepInvoker {
    async fn invoke(&self, resource: &str, payload: Value) -> Result<Value, TaskFailure> {
        invoke_step(&self.ports, resource, payload).await
    }
}

/// Calls the step `function` names (its name or ARN) with a JSON payload,
/// mapping errors the way the Lambda runtime reports them to Step Functions.
pub async fn invoke_step(
    ports: &Ports,
    function: &str,
    payload: Value,
) -> Result<Value, TaskFailure> {
    let Some(step) = Step::from_name(function) else {
        return Err(failure(
            "Lambda.ResourceNotFoundException",
            &format!("no local function named {function:?}"),
        ));
    };
    if let Some(delay) = test_delay(step) {
        // Widens the window between two steps, so that a test can kill the
        // process there (tests/postgres_workload.rs).
        tokio::time::sleep(delay).await;
    }
    // Each step as its Lambda runs it: metered, its usage recorded.
    macro_rules! call {
        ($step_fn:path) => {{
            let event = parse(payload)?;
            let ran = metered(ports, step, Local, event, |p, e| async move {
                $step_fn(&p, e).await
            });
            respond(step, ran.await)
        }};
    }
    let response = match step {
        Step::StartReplication => call!(steps::start_replication),
        Step::ExtractMetadata => call!(steps::extract_metadata),
        Step::ValidateLanded => call!(steps::validate_landed),
        Step::MergeHistory => call!(steps::merge_history),
        Step::PublishCatalog => call!(steps::publish_catalog),
        Step::Notify => call!(steps::notify),
    };
    release_freed_memory();
    response
}

/// Hands the heap's free pages back to the system after each step. Here the
/// steps share one process (on Lambda each is a process of its own), and
/// glibc keeps what a step's threads freed: validation's batches stayed
/// resident through the MERGE after it (a 200,000-change CDC day: peak RSS
/// 392-401 -> 377-378 MiB). DuckDB's memory is its own allocator's.
fn release_freed_memory() {
    // SAFETY: malloc_trim takes no pointer and only returns free pages of
    // the heap to the kernel; no live allocation is touched.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    unsafe {
        libc::malloc_trim(0);
    }
}

/// `TIDEMARK_TEST_DELAY=<step>:<ms>`: wait that long before each call of the step.
fn test_delay(step: Step) -> Option<std::time::Duration> {
    let value = std::env::var("TIDEMARK_TEST_DELAY").ok()?;
    let (name, ms) = value.split_once(':')?;
    (name == step.to_string())
        .then(|| ms.parse().ok().map(std::time::Duration::from_millis))
        .flatten()
}

fn failure(error: &str, message: &str) -> TaskFailure {
    let cause = serde_json::json!({ "errorType": error, "errorMessage": message }).to_string();
    TaskFailure {
        error: error.to_string(),
        cause,
    }
}

fn parse<E: DeserializeOwned>(payload: Value) -> Result<E, TaskFailure> {
    serde_json::from_value(payload).map_err(|e| {
        failure(
            tidemark_core::ErrorName::InvalidInput.as_str(),
            &format!("the event does not match the step's input: {e}"),
        )
    })
}

/// The step's output as JSON, or its error under its `Tidemark.*` name. An
/// output that does not serialise is a bug of the step, not a failure of the
/// table's data: it is named for what it is, with the step.
fn respond<O: Serialize>(step: Step, result: Result<O, Error>) -> Result<Value, TaskFailure> {
    match result {
        Ok(out) => serde_json::to_value(out).map_err(|e| {
            failure(
                "Runtime.SerializationError",
                &format!("{step}: its output cannot be serialised: {e}"),
            )
        }),
        Err(e) => Err(failure(e.name().as_str(), &e.to_string())),
    }
}

/// Ports for a Lambda binary running over the local adapters: the
/// configuration file in `TIDEMARK_CONFIG`, the lake folder in `TIDEMARK_LAKE`.
pub fn ports_from_env() -> Result<Ports, LocalError> {
    let var = |name: &str| {
        std::env::var(name)
            .map_err(|_| LocalError::Io(format!("environment variable {name} is not set")))
    };
    let options = LocalOptions {
        config_path: PathBuf::from(var("TIDEMARK_CONFIG")?),
        lake: Some(PathBuf::from(var("TIDEMARK_LAKE")?)),
        ..Default::default()
    };
    Ok(LocalBackend::open(&options)?.ports)
}

/// Where each table's metadata comes from (`[metadata] from`): the source's
/// catalog, with `<metadata_dir>/overrides/` laid over it when that folder
/// exists, or the documents in `metadata_dir`.
fn metadata_source(
    config: &PipelineConfig,
    source: Option<&str>,
    base: &Path,
) -> Result<Arc<dyn MetadataSource>, LocalError> {
    let dir = base.join(&config.local.metadata_dir);
    match (config.metadata.from, source) {
        (Some(MetadataFrom::Documents), _) | (None, None) => Ok(Arc::new(MetadataDir { dir })),
        (Some(MetadataFrom::Catalog), None) => Err(LocalError::Io(
            "[metadata] from = \"catalog\" reads the source database's catalog: run with --source postgres://…".into(),
        )),
        (_, Some(url)) => {
            let catalog = Arc::new(PgMetadata {
                source: PgSource::from_url(url).map_err(|e| LocalError::Io(e.to_string()))?,
                schema: config.source.schema.clone(),
            });
            let overrides = dir.join("overrides");
            if !overrides.is_dir() {
                return Ok(catalog);
            }
            Ok(Arc::new(OverriddenMetadataSource {
                base: catalog,
                overrides: Arc::new(FsStore::new(&overrides).map_err(|e| {
                    LocalError::Io(format!("{}: {e}", overrides.display()))
                })?),
            }))
        }
    }
}
