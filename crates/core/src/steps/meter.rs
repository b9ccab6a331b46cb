//! Metering a step invocation (docs/cost.md): its engine and stores wrapped
//! to count statements and requests, its usage saved under `usage/<run>/`.

use super::Step;
use crate::cost::{
    RUN_LEVEL, Runtime, S3Requests, StatementUsage, StepEvent, StepUsage, usage_prefix,
};
use crate::error::{EngineError, Error, StoreError};
use crate::ports::{
    Condition, ObjectInfo, ObjectStore, PartWriter, Ports, QueryEngine, QueryResult,
};
use crate::scd2::Dialect;
use async_trait::async_trait;
use bytes::Bytes;
use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::{Arc, Mutex};

/// Runs `step` on `ports` with its engine and stores metered, then saves what
/// it used (whether it succeeded or not: a failed invocation is billed too).
/// A usage record that cannot be saved is logged, never a failure of the step.
pub async fn metered<E, O, F, Fut>(
    ports: &Ports,
    step: Step,
    runtime: Runtime,
    event: E,
    run: F,
) -> Result<O, Error>
where
    E: StepEvent,
    F: FnOnce(Ports, E) -> Fut,
    Fut: std::future::Future<Output = Result<O, Error>>,
{
    let run_id = event.run_id().map(str::to_string);
    let table = event.table().map(str::to_string);
    let meter = Arc::new(Meter::default());
    let started = std::time::Instant::now();
    let result = run(meter.wrap(ports), event).await;
    let Some(run_id) = run_id else {
        return result;
    };
    let (memory_mb, estimate) = match runtime {
        Runtime::Lambda { memory_mb } => (memory_mb, false),
        Runtime::Local => (step.default_memory_mb(), true),
    };
    let usage = StepUsage {
        step: step.name().to_string(),
        table,
        // Lambda bills duration rounded up to the millisecond.
        duration_ms: (started.elapsed().as_micros() as u64).div_ceil(1000).max(1),
        memory_mb,
        estimate,
        statements: std::mem::take(&mut *lock(&meter.statements)),
        s3: *lock(&meter.s3),
    };
    let key = usage_key(&ports.config.source.database, &run_id, &usage);
    let body = Bytes::from(serde_json::to_vec(&usage).unwrap_or_default());
    if let Err(e) = ports.lake.put(&key, body, None).await {
        tracing::warn!(key = %key, error = %e, "the step's usage was not recorded");
    }
    result
}

fn usage_key(database: &str, run_id: &str, usage: &StepUsage) -> String {
    // Unique per invocation: a table's steps run one after another, so the
    // time (to the microsecond) and the process tell them apart.
    format!(
        "{}{}/{}-{}-{}.json",
        usage_prefix(database, run_id),
        usage.table.as_deref().unwrap_or(RUN_LEVEL),
        usage.step,
        chrono::Utc::now().format("%Y%m%dT%H%M%S%.6f"),
        std::process::id()
    )
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Counts what one invocation does through the engine and the stores.
#[derive(Default)]
struct Meter {
    statements: Mutex<Vec<StatementUsage>>,
    s3: Mutex<S3Requests>,
}

impl Meter {
    fn wrap(self: &Arc<Self>, ports: &Ports) -> Ports {
        Ports {
            engine: Arc::new(MeteredEngine {
                inner: ports.engine.clone(),
                meter: self.clone(),
            }),
            lake: Arc::new(MeteredStore {
                inner: ports.lake.clone(),
                meter: self.clone(),
            }),
            landing: Arc::new(MeteredStore {
                inner: ports.landing.clone(),
                meter: self.clone(),
            }),
            ..ports.clone()
        }
    }

    fn count(&self, f: impl FnOnce(&mut S3Requests)) {
        f(&mut lock(&self.s3));
    }

    fn statement(&self, statement: String, result: &QueryResult) {
        lock(&self.statements).push(StatementUsage {
            statement,
            bytes_scanned: result.bytes_scanned,
            engine_ms: result.engine_ms,
        });
    }
}

struct MeteredEngine {
    inner: Arc<dyn QueryEngine>,
    meter: Arc<Meter>,
}

#[async_trait]
impl QueryEngine for MeteredEngine {
    fn dialect(&self) -> Arc<dyn Dialect> {
        self.inner.dialect()
    }

    // Failed statements are not billed by Athena, so only results count.
    async fn execute(&self, sql: &str) -> Result<QueryResult, EngineError> {
        let result = self.inner.execute(sql).await?;
        self.meter
            .statement(crate::cost::statement_kind(sql), &result);
        Ok(result)
    }

    async fn transaction(&self, statements: &[String]) -> Result<Vec<QueryResult>, EngineError> {
        let results = self.inner.transaction(statements).await?;
        for (sql, result) in statements.iter().zip(&results) {
            self.meter
                .statement(crate::cost::statement_kind(sql), result);
        }
        Ok(results)
    }

    async fn resume(&self, query_id: &str) -> Result<QueryResult, EngineError> {
        let result = self.inner.resume(query_id).await?;
        self.meter.statement("(resumed)".into(), &result);
        Ok(result)
    }
}

struct MeteredStore {
    inner: Arc<dyn ObjectStore>,
    meter: Arc<Meter>,
}

#[async_trait]
impl ObjectStore for MeteredStore {
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StoreError> {
        let listed = self.inner.list(prefix).await?;
        // S3 lists 1,000 keys a request.
        let pages = (listed.len() as u64).div_ceil(1000).max(1);
        self.meter.count(|s| s.writes += pages);
        Ok(listed)
    }
    async fn get(&self, key: &str) -> Result<(Bytes, String), StoreError> {
        self.meter.count(|s| s.reads += 1);
        self.inner.get(key).await
    }
    async fn get_range(&self, key: &str, range: Range<u64>) -> Result<Bytes, StoreError> {
        self.meter.count(|s| s.reads += 1);
        self.inner.get_range(key, range).await
    }
    async fn put_parts(&self, key: &str) -> Result<Box<dyn PartWriter + '_>, StoreError> {
        // Create and complete a multipart upload; each part is counted as written.
        self.meter.count(|s| s.writes += 2);
        Ok(Box::new(MeteredParts {
            inner: self.inner.put_parts(key).await?,
            meter: &self.meter,
        }))
    }
    async fn put(
        &self,
        key: &str,
        bytes: Bytes,
        condition: Option<Condition>,
    ) -> Result<String, StoreError> {
        self.meter.count(|s| s.writes += 1);
        self.inner.put(key, bytes, condition).await
    }
    async fn copy(&self, from: &str, to: &str) -> Result<(), StoreError> {
        self.meter.count(|s| s.writes += 1);
        self.inner.copy(from, to).await
    }
    async fn delete(&self, key: &str, etag: &str) -> Result<(), StoreError> {
        self.meter.count(|s| s.deletes += 1);
        self.inner.delete(key, etag).await
    }
    fn uri(&self, key: &str) -> String {
        self.inner.uri(key)
    }
}

struct MeteredParts<'a> {
    inner: Box<dyn PartWriter + 'a>,
    meter: &'a Meter,
}

#[async_trait]
impl PartWriter for MeteredParts<'_> {
    async fn write_part(&mut self, part: Bytes) -> Result<(), StoreError> {
        self.meter.count(|s| s.writes += 1);
        self.inner.write_part(part).await
    }
    async fn finish(self: Box<Self>) -> Result<String, StoreError> {
        self.inner.finish().await
    }
    async fn abort(self: Box<Self>) -> Result<(), StoreError> {
        self.inner.abort().await
    }
}

/// Reads a run's usage records, by table (the run's own steps under [`RUN_LEVEL`]).
pub(crate) async fn load_usage(
    store: &dyn ObjectStore,
    database: &str,
    run_id: &str,
) -> Result<BTreeMap<String, Vec<StepUsage>>, Error> {
    let mut by_table: BTreeMap<String, Vec<StepUsage>> = BTreeMap::new();
    for info in store.list(&usage_prefix(database, run_id)).await? {
        let (bytes, _) = store.get(&info.key).await?;
        match serde_json::from_slice::<StepUsage>(&bytes) {
            Ok(u) => by_table
                .entry(u.table.clone().unwrap_or_else(|| RUN_LEVEL.into()))
                .or_default()
                .push(u),
            Err(e) => {
                tracing::warn!(key = %info.key, error = %e, "unreadable usage record skipped")
            }
        }
    }
    Ok(by_table)
}
