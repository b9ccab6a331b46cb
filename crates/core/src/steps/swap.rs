//! The end of a rebuild: its staged history table becomes the live one.
//!
//! The ledger is the commit point. Swapping in first records the new
//! generation as live together with a [`PendingSwap`] (one conditional
//! write), then has the catalog swap the tables (one step readers see whole),
//! then clears the pending swap. A kill between the two leaves the old
//! history readable and the swap recorded: every step that touches the table
//! next completes it first, under the table's lease.

use super::{layout, table_lease};
use crate::error::Error;
use crate::ledger::{Ledger, PendingSwap, StoredLedger};
use crate::ports::Ports;
use crate::scd2::{previous_table_name, staged_table_name};

/// Makes `generation` live and swaps its staged table in (the caller holds
/// the table's lease).
pub(crate) async fn swap_in(
    ports: &Ports,
    table: &str,
    generation: u32,
    run_id: &str,
    ledger: &mut StoredLedger,
) -> Result<(), Error> {
    ledger.ledger.generation = generation;
    ledger.ledger.swap = Some(PendingSwap {
        staged_table: staged_table_name(table),
        run_id: run_id.to_string(),
    });
    ledger.save(ports.lake.as_ref()).await?;
    tracing::info!(
        table,
        generation,
        "rebuild committed; swapping the history in"
    );
    finish(ports, table, ledger).await
}

/// Completes a swap the ledger recorded but the catalog may not have done
/// (the caller holds the table's lease).
pub(crate) async fn finish(
    ports: &Ports,
    table: &str,
    ledger: &mut StoredLedger,
) -> Result<(), Error> {
    let Some(swap) = ledger.ledger.swap.clone() else {
        return Ok(());
    };
    ports
        .catalog
        .swap_history(
            &ports.config.source.database,
            table,
            &swap.staged_table,
            &previous_table_name(table),
        )
        .await?;
    ledger.ledger.swap = None;
    ledger.save(ports.lake.as_ref()).await?;
    tracing::info!(table, generation = ledger.ledger.generation, run = %swap.run_id, "rebuilt history swapped in");
    Ok(())
}

/// Completes a pending swap of `table`, if there is one, under its lease;
/// returns the table's ledger.
pub(crate) async fn finish_pending(
    ports: &Ports,
    table: &str,
    run_id: &str,
) -> Result<Ledger, Error> {
    let layout = layout(ports);
    let ledger = StoredLedger::load(ports.lake.as_ref(), &layout.ledger_key(table)).await?;
    if ledger.ledger.swap.is_none() {
        return Ok(ledger.ledger);
    }
    let lease = table_lease(ports, table, run_id).await?;
    // Reloaded under the lease: another run may have finished it meanwhile.
    let mut ledger = StoredLedger::load(ports.lake.as_ref(), &layout.ledger_key(table)).await?;
    let result = finish(ports, table, &mut ledger).await;
    lease.release_after(ports.lake.as_ref(), result).await?;
    Ok(ledger.ledger)
}
