//! tidemark's domain: metadata, the DMS file format, validation, SCD2
//! planning, batches and ledgers, and the six pipeline steps. It knows no
//! AWS and does no I/O of its own: everything outside goes through the ports.

pub mod alert;
pub mod batch_id;
pub mod config;
pub mod cost;
pub mod dms;
pub mod erasure;
pub mod error;
pub mod events;
pub mod freshness;
pub mod invalid;
pub mod layout;
pub mod lease;
pub mod ledger;
pub mod metadata;
pub mod pause;
pub mod ports;
pub mod run_plan;
pub mod run_record;
pub mod scd2;
pub mod status;
pub mod steps;
#[cfg(feature = "contract-tests")]
pub mod store_contract;
pub mod validate;

pub use error::{Error, ErrorName, Result};
