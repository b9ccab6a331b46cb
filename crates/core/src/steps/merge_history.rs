use super::{layout, load_metadata, swap, sync_history_schema, table_config, table_lease};
use crate::batch_id::BatchId;
use crate::config::TableMode;
use crate::error::{EngineError, Error};
use crate::events::{LEASE_WAITS, Maintenance, MergeEvent, MergeOutput};
use crate::layout::snapshot_diff_prefix;
use crate::ledger::{Batch, BatchStatus, Ledger, StoredLedger};
use crate::ports::Ports;
use crate::scd2::{HistoryTarget, MergePlan, SnapshotParams, refused_deletes};
use crate::validate::CurrentDigest;

/// Merges the next unmerged batch of the validation into history with one
/// MERGE (on DuckDB, its steps in one transaction), under the table's
/// lease. Returns `done: false` while batches remain, so the state machine
/// calls it again (each invocation stays short), at most `[pipeline]
/// max_merge_invocations` times. Mode `forget` erases keys instead
/// (`forget.rs`), within the same bound. A rebuild merges into its staged
/// table and, after its last batch, swaps that table in.
pub async fn merge_history(ports: &Ports, event: MergeEvent) -> Result<MergeOutput, Error> {
    let table = event.work.table.as_str();
    let mut progress = event.merge.clone().unwrap_or_default();
    progress.invocations += 1;
    let started = progress
        .started_at
        .get_or_insert_with(|| chrono::Utc::now().to_rfc3339())
        .clone();
    let bound = ports.config.pipeline.max_merge_invocations;
    if progress.invocations > bound {
        return Err(Error::Timeout {
            step: "merge-history",
            table: Some(table.to_string()),
            waited_seconds: chrono::DateTime::parse_from_rfc3339(&started)
                .map(|t| (chrono::Utc::now() - t.with_timezone(&chrono::Utc)).num_seconds())
                .unwrap_or_default()
                .max(0) as u64,
            attempts: progress.invocations - 1,
            setting: "max_merge_invocations",
            bound: bound.into(),
        });
    }
    progress.lease_wait_seconds = None;
    match merge_next(ports, &event, &mut progress).await {
        Err(held @ Error::Concurrency { .. }) => wait_for_lease(&event, progress, held),
        Err(e) => Err(e),
        Ok(()) => Ok(progress),
    }
}

/// Another execution holds the table. A scheduled run gives it up at once:
/// the state machine records it skipped, and the next run merges what this
/// one validated. A manual run waits ([`LEASE_WAITS`]), then fails naming
/// the holder.
fn wait_for_lease(
    event: &MergeEvent,
    mut progress: MergeOutput,
    held: Error,
) -> Result<MergeOutput, Error> {
    let Some(seconds) = LEASE_WAITS.get(progress.lease_waits as usize) else {
        return Err(held);
    };
    if event.scheduled {
        return Err(held);
    }
    tracing::info!(table = %event.work.table, reason = %held, seconds, "waiting for the table's lease");
    progress.lease_wait_seconds = Some(*seconds);
    progress.lease_waits += 1;
    progress.done = false;
    Ok(progress)
}

/// One invocation's work: the next batch, a forget, or the swap and the
/// maintenance after the last batch.
async fn merge_next(
    ports: &Ports,
    event: &MergeEvent,
    progress: &mut MergeOutput,
) -> Result<(), Error> {
    let table = event.work.table.as_str();
    if event.work.run_mode == crate::events::RunMode::Forget {
        return super::forget::forget(ports, event, progress).await;
    }
    let Some(batch_id) = event
        .validation
        .batches
        .iter()
        .find(|b| !progress.merged.contains(b))
        .copied()
    else {
        if event.work.run_mode.rebuilds() && !progress.rebuilt {
            // A rerun of a rebuild killed after its last merge and before the
            // swap: nothing is left to merge, the swap is still to do.
            progress.rebuilt = swap_in_rebuilt(ports, event).await?;
        }
        maintain_if_due(ports, event, progress).await?;
        progress.done = true;
        return Ok(());
    };
    let lease = table_lease(ports, table, &event.run_id).await?;
    let result = merge_batch(ports, event, batch_id, progress).await;
    if let Ok(Merge::StillRunning) = result {
        // Keep the lease: the MERGE runs on. The next invocation (same run)
        // renews it and waits for the query instead of starting another.
        progress.done = false;
        return Ok(());
    }
    match lease.release_after(ports.lake.as_ref(), result).await? {
        Merge::Stale => progress.merged = event.validation.batches.clone(),
        _ => progress.merged.push(batch_id),
    }
    progress.done = event
        .validation
        .batches
        .iter()
        .all(|b| progress.merged.contains(b));
    if progress.done {
        maintain_if_due(ports, event, progress).await?;
    }
    Ok(())
}

/// The live table's housekeeping, once the run's batches are merged, when
/// `[maintenance] every_days` have passed or, after merges, when its files
/// call for it (docs/merge.md, "Maintenance"), under the table's lease so
/// it never overlaps a merge. It never fails the
/// table's data: a failure is recorded in `progress.maintenance` (the run
/// record and the alert show it) and the next run tries again. A transient
/// engine error (an Iceberg commit conflict, throttling) fails the
/// invocation, which the state machine retries.
async fn maintain_if_due(
    ports: &Ports,
    event: &MergeEvent,
    progress: &mut MergeOutput,
) -> Result<(), Error> {
    let table = event.work.table.as_str();
    let every = ports.config.maintenance.every_days;
    let key = layout(ports).ledger_key(table);
    if progress.maintenance.is_some() || event.work.run_mode.rebuilds() {
        return Ok(());
    }
    let seen = StoredLedger::load(ports.lake.as_ref(), &key).await?;
    let reason = if seen.ledger.maintenance_due(chrono::Utc::now(), every) {
        Some(format!("every_days = {every}"))
    } else if progress.merged.len() > progress.unchanged.len() {
        files_call_for_it(ports, table).await
    } else {
        None
    };
    let Some(reason) = reason else {
        return Ok(());
    };
    let lease = match table_lease(ports, table, &event.run_id).await {
        Ok(lease) => lease,
        // Another run took the table since this one merged: the
        // maintenance waits for a run that holds the table alone.
        Err(e @ Error::Concurrency { .. }) => {
            tracing::info!(table, reason = %e, "maintenance left to a later run");
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    let result = async {
        let mut ledger = StoredLedger::load(ports.lake.as_ref(), &key).await?;
        if ledger.ledger.maintained_at != seen.ledger.maintained_at {
            // Another run maintained it meanwhile.
            return Ok(None);
        }
        let meta = load_metadata(ports, table, event.work.metadata_version).await?;
        let dialect = ports.engine.dialect();
        let statements = crate::scd2::maintenance(
            dialect.as_ref(),
            &ports.config.source.database,
            table,
            &meta.primary_key,
            retained_from(ports, table),
        );
        let mut outcome = Maintenance::Done;
        for statement in statements {
            match ports.engine.execute(&statement.sql).await {
                Ok(_) => {}
                Err(EngineError::StillRunning { query_id }) => {
                    outcome = Maintenance::Running { query_id };
                    break;
                }
                Err(e @ EngineError::Transient(_)) => {
                    return Err(Error::Merge {
                        table: table.to_string(),
                        source: e,
                    });
                }
                Err(e) => {
                    tracing::warn!(table, error = %e, "maintenance failed; the table's data is merged, the next run tries again");
                    return Ok(Some(Maintenance::Failed {
                        message: e.to_string(),
                    }));
                }
            }
        }
        ledger.ledger.maintained_at = Some(chrono::Utc::now().to_rfc3339());
        ledger.save(ports.lake.as_ref()).await?;
        tracing::info!(table, %reason, outcome = ?outcome, "maintained");
        Ok(Some(outcome))
    }
    .await;
    progress.maintenance = lease.release_after(ports.lake.as_ref(), result).await?;
    Ok(())
}

/// Why the table's files call for maintenance now, if they do: at least
/// `[maintenance] small_files` small data files, or delete files at least
/// `delete_file_ratio` of its data files. A look that fails is logged and
/// calls for nothing (the time cadence still holds).
async fn files_call_for_it(ports: &Ports, table: &str) -> Option<String> {
    let m = &ports.config.maintenance;
    if m.small_files == 0 && m.delete_file_ratio == 0.0 {
        return None;
    }
    let statement = ports
        .engine
        .dialect()
        .file_layout(&ports.config.source.database, table);
    let layout = match ports.engine.execute(&statement.sql).await {
        Ok(layout) => layout,
        Err(e) => {
            tracing::warn!(table, error = %e, "cannot see how the table's files stand; maintenance keeps to every_days");
            return None;
        }
    };
    let small = layout.int("small_files").unwrap_or_default();
    let share = layout.float("deleted_share").unwrap_or_default();
    if m.small_files > 0 && small >= i64::from(m.small_files) {
        Some(format!(
            "{small} small files (small_files = {})",
            m.small_files
        ))
    } else if m.delete_file_ratio > 0.0 && share >= m.delete_file_ratio {
        Some(format!(
            "{share:.2} deletes per data file (delete_file_ratio = {})",
            m.delete_file_ratio
        ))
    } else {
        None
    }
}

/// Swaps a rebuild's staged table in once every batch of its generation is
/// merged, under the table's lease. Returns whether it did.
async fn swap_in_rebuilt(ports: &Ports, event: &MergeEvent) -> Result<bool, Error> {
    let table = event.work.table.as_str();
    let layout = layout(ports);
    let lease = table_lease(ports, table, &event.run_id).await?;
    let result = async {
        let mut ledger = StoredLedger::load(ports.lake.as_ref(), &layout.ledger_key(table)).await?;
        swap::finish(ports, table, &mut ledger).await?;
        let generation = event.validation.generation;
        if generation != ledger.ledger.generation + 1 || !rebuilt(&ledger, generation) {
            return Ok(false);
        }
        swap::swap_in(ports, table, generation, &event.run_id, &mut ledger).await?;
        Ok(true)
    }
    .await;
    lease.release_after(ports.lake.as_ref(), result).await
}

/// Whether a rebuild's `generation` has merged batches and none left to merge.
fn rebuilt(ledger: &StoredLedger, generation: u32) -> bool {
    let ledger = &ledger.ledger;
    ledger.pending(generation).is_empty()
        && ledger
            .batches_of(generation)
            .any(|b| b.status == BatchStatus::Merged)
}

/// How far one invocation got with a batch.
enum Merge {
    Done,
    /// The engine handed back before the MERGE finished (`progress.running_query`).
    StillRunning,
    /// A rebuild swapped another generation in since this run validated:
    /// its batches are not merged (the next run validates their files again).
    Stale,
}

async fn merge_batch(
    ports: &Ports,
    event: &MergeEvent,
    batch_id: BatchId,
    progress: &mut MergeOutput,
) -> Result<Merge, Error> {
    let table = event.work.table.as_str();
    let config = table_config(ports, table)?;
    let layout = layout(ports);
    let mut ledger = StoredLedger::load(ports.lake.as_ref(), &layout.ledger_key(table)).await?;
    swap::finish(ports, table, &mut ledger).await?;
    let generation = event.validation.generation;
    let live = ledger.ledger.generation;
    let staged = event.work.run_mode.rebuilds() && generation == live + 1;
    if generation != live && !staged {
        tracing::warn!(
            table,
            generation,
            live,
            "a rebuild made another history generation live since this run validated; its batches are left to the next run"
        );
        return Ok(Merge::Stale);
    }
    let batch = ledger.ledger.batch(batch_id).cloned().ok_or_else(|| {
        Error::InvalidInput(format!("batch {batch_id} of {table} is not in the ledger"))
    })?;
    let meta = load_metadata(ports, table, event.work.metadata_version).await?;
    let snapshot = (config.mode == TableMode::Snapshot).then(|| SnapshotParams {
        extract_time: batch.max_valid_from.unwrap_or_default(),
        max_delete_fraction: config.max_delete_fraction,
        distinct_keys: batch.distinct_keys,
        diff: false,
    });
    let plan = MergePlan {
        retained_from: retained_from(ports, table),
        since: ledger.ledger.since(batch_id),
        database: &ports.config.source.database,
        meta: &meta,
        batch_id,
        snapshot,
        target: HistoryTarget { generation, staged },
        row_hash: ledger.ledger.row_hash_format(generation),
    };
    let dialect = ports.engine.dialect();
    let merge_err = |source: EngineError| Error::Merge {
        table: table.to_string(),
        source,
    };
    let refused = |deletes: u64, current: u64| {
        Error::Validation(format!(
            "{table}: the extract in batch {batch_id} would delete {deletes} of {current} current rows, more than max_delete_fraction = {}; nothing was deleted. If the source really lost those rows, raise max_delete_fraction for this table and rerun.",
            config.max_delete_fraction
        ))
    };
    let fresh_start = staged
        && !ledger
            .ledger
            .batches_of(generation)
            .any(|b| b.status == BatchStatus::Merged);
    if fresh_start && progress.running_query.is_none() {
        // What an earlier, unfinished attempt of this rebuild left staged.
        let drop = dialect.drop_table(plan.database, &plan.history_name());
        ports.engine.execute(&drop.sql).await.map_err(merge_err)?;
    }
    let mut erased_since = false;
    if progress.running_query.is_none() && batch.status == BatchStatus::Validated {
        erased_since = super::forget::forget_in_batch(ports, &meta, generation, &batch).await?;
    }
    sync_history_schema(ports, &plan).await?;
    progress.schema_synced |= !staged;
    let count =
        |r: &crate::ports::QueryResult, col: &str| r.int(col).unwrap_or_default().max(0) as u64;
    let count_rows = async || {
        let r = ports
            .engine
            .execute(&plan.count_rows())
            .await
            .map_err(merge_err)?;
        Ok::<_, Error>(count(&r, "row_count"))
    };
    // A MERGE an earlier invocation left running: its guard and counts are done.
    let resuming = progress.running_query.take();
    let rows_before = match resuming {
        Some(_) => None,
        None => Some(count_rows().await?),
    };
    if let Some(n) = rows_before {
        progress.rows_before.get_or_insert(n);
    }
    let first_load = rows_before.and_then(|n| plan.first_load(dialect.as_ref(), n));
    let inserts_only = first_load.is_some();
    // A snapshot extract with the rows of the one merged before it changes
    // nothing: no key is new, changed or missing.
    let unchanged = snapshot.is_some() && ledger.ledger.repeats_last_merged(batch_id);
    if unchanged && batch.status == BatchStatus::Validated {
        tracing::info!(table, batch = %batch_id, "the extract holds the rows of the last one merged; nothing to merge");
        progress.unchanged.push(batch_id);
    }
    // What the merge changed, where the engine reports it.
    let mut merged = None;
    if batch.status == BatchStatus::Validated && batch.ops.total() > 0 && !unchanged {
        if let (None, Some(guard), Some(s)) =
            (&resuming, plan.delete_guard(dialect.as_ref()), snapshot)
        {
            let r = ports.engine.execute(&guard).await.map_err(merge_err)?;
            let (deletes, current) = (count(&r, "deletes"), count(&r, "current_rows"));
            if !s.allows(deletes, current) {
                return Err(refused(deletes, current));
            }
        }
        let applied = match &resuming {
            Some(query_id) => match ports.engine.resume(query_id).await {
                // The query failed after all (e.g. an Iceberg commit conflict).
                // Step Functions retries with this same input, naming that
                // failed query: run the MERGE afresh instead (it is
                // idempotent, whatever the failed statement left behind).
                Err(EngineError::Transient(reason)) => {
                    tracing::warn!(table, batch = %batch_id, query_id, %reason, "the running MERGE failed; starting it again");
                    plan.merge(dialect.as_ref())
                        .apply(ports.engine.as_ref())
                        .await
                }
                other => other.map(|r| (vec![r], None)),
            },
            None => match first_load {
                Some(windowed) => {
                    // Validation found each key once when the batch is
                    // one full-load file; otherwise the engine counts
                    // (a 2M-key full load: 0.2 s).
                    let distinct = batch.distinct_keys || {
                        let query = plan.repeated_keys(dialect.as_ref());
                        let r = ports.engine.execute(&query).await.map_err(merge_err)?;
                        count(&r, "repeated") == 0
                    };
                    let insert = if distinct {
                        plan.first_load_distinct(dialect.as_ref())
                    } else {
                        windowed
                    };
                    ports.engine.execute(&insert).await.map(|r| (vec![r], None))
                }
                None => {
                    let diffed = match plan.snapshot {
                        Some(s)
                            if !erased_since
                                && diff_applies(ports, &plan, &ledger.ledger, &batch).await? =>
                        {
                            let from_diff = MergePlan {
                                snapshot: Some(SnapshotParams { diff: true, ..s }),
                                ..plan.clone()
                            };
                            Some(
                                from_diff
                                    .merge(dialect.as_ref())
                                    .apply(ports.engine.as_ref())
                                    .await,
                            )
                        }
                        _ => None,
                    };
                    let diffed = match diffed {
                        // A refusal of the guard, or a query still running, is
                        // the merge's outcome; any other failure (the diff's
                        // files unreadable, say) leaves the join to do it.
                        Some(Err(e))
                            if refused_deletes(&e).is_none()
                                && !matches!(e, EngineError::StillRunning { .. }) =>
                        {
                            tracing::warn!(table, batch = %batch_id, error = %e, "the merge from the snapshot diff failed; joining the whole extract");
                            None
                        }
                        Some(outcome) => {
                            if outcome.as_ref().err().and_then(refused_deletes).is_none() {
                                progress.diffed.push(batch_id);
                            }
                            Some(outcome)
                        }
                        None => None,
                    };
                    match diffed {
                        Some(outcome) => outcome,
                        None => {
                            plan.merge(dialect.as_ref())
                                .apply(ports.engine.as_ref())
                                .await
                        }
                    }
                }
            },
        };
        // A staged merge checks the guard inside its transaction.
        if let Err(e) = &applied
            && let Some((deletes, current)) = refused_deletes(e)
        {
            return Err(refused(deletes, current));
        }
        let (results, counts) = match applied {
            Err(EngineError::StillRunning { query_id }) => {
                tracing::info!(
                    table,
                    batch = %batch_id,
                    query_id,
                    "the MERGE is still running; the next invocation waits for it"
                );
                progress.running_query = Some(query_id);
                return Ok(Merge::StillRunning);
            }
            other => other.map_err(merge_err)?,
        };
        merged = counts;
        for r in &results {
            if let Some(b) = r.bytes_scanned {
                *progress.bytes_scanned.get_or_insert(0) += b;
            }
            if let Some(ms) = r.engine_ms {
                *progress.engine_ms.get_or_insert(0) += ms;
            }
        }
    }
    let rows_after = count_rows().await?;
    if inserts_only {
        progress.versions_inserted += rows_after;
    } else if let Some(counts) = merged {
        progress.versions_inserted += counts.inserted;
        progress.versions_updated += counts.updated;
        progress.versions_removed += counts.removed;
    }
    progress.rows_after = Some(rows_after);

    if let Some(b) = ledger.ledger.batches.iter_mut().find(|b| b.id == batch_id) {
        b.status = BatchStatus::Merged;
        b.merged_at
            .get_or_insert_with(|| chrono::Utc::now().to_rfc3339());
    }
    ledger.save(ports.lake.as_ref()).await?;
    if snapshot.is_some() {
        remove_snapshot_diff(ports, table, generation, batch_id).await;
    }
    tracing::info!(
        table,
        batch = %batch_id,
        inserted = progress.versions_inserted,
        updated = progress.versions_updated,
        removed = progress.versions_removed,
        rows = ?progress.rows_after,
        "merged"
    );
    if staged && rebuilt(&ledger, generation) {
        swap::swap_in(ports, table, generation, &event.run_id, &mut ledger).await?;
        progress.rebuilt = true;
    }
    Ok(Merge::Done)
}

/// Whether `batch`'s snapshot diff stands for the merge's join of the
/// extract with the current rows: it was found against the batch merged
/// last, its files are there, the engine reads them, and the current rows
/// add up to that batch's rows (a merge of this batch that committed but
/// was not recorded, or an erasure since, changed them: then the join).
async fn diff_applies(
    ports: &Ports,
    plan: &MergePlan<'_>,
    ledger: &Ledger,
    batch: &Batch,
) -> Result<bool, Error> {
    let Some(diff) = batch.snapshot_diff else {
        return Ok(false);
    };
    let (table, generation) = (&plan.meta.name, plan.target.generation);
    let readable = ports
        .engine
        .dialect()
        .snapshot_diff(plan.database, plan.meta, generation, batch.id)
        .is_some();
    if !readable || !batch.distinct_keys || ledger.last_merged(generation) != Some(diff.base) {
        return Ok(false);
    }
    let prefix = snapshot_diff_prefix(plan.database, table, generation, batch.id);
    if ports.lake.list(&prefix).await?.len() != 2 {
        return Ok(false);
    }
    let current = ports
        .engine
        .execute(&plan.current_digest())
        .await
        .map_err(|source| Error::Merge {
            table: table.clone(),
            source,
        })?;
    let applies = CurrentDigest::of_listing(&current) == Some(diff.current);
    tracing::debug!(table, batch = %batch.id, base = %diff.base, applies, "snapshot diff");
    Ok(applies)
}

/// Removes a merged batch's snapshot diff: only its merge reads it. One
/// left behind (a failure here) is only a file, never read again.
async fn remove_snapshot_diff(ports: &Ports, table: &str, generation: u32, batch: BatchId) {
    let prefix = snapshot_diff_prefix(&ports.config.source.database, table, generation, batch);
    if let Err(e) = super::remove_under(ports, &prefix).await {
        tracing::warn!(table, %batch, error = %e, "cannot remove the batch's snapshot diff");
    }
}

/// The table's retention cutoff now ([`crate::config::TableConfig::retained_from`]).
fn retained_from(ports: &Ports, table: &str) -> Option<i64> {
    ports.config.table(table)?.retained_from(chrono::Utc::now())
}
