//! Local adapters of tidemark's ports — a folder for S3, DuckDB for Athena,
//! a file catalog for Glue, a console/file/webhook notifier for SNS, a replay
//! source or a PostgreSQL replicator for DMS — and the local wiring that runs
//! the production state machine on them with `tidemark-asl`.

pub mod catalog;
pub mod duckdb;
pub mod fs_store;
pub mod metadata_source;
pub mod metering;
pub mod notifier;
pub mod pipeline;
pub mod postgres;
pub mod replay;
pub mod secrets;

pub use pipeline::{LocalBackend, LocalError, LocalOptions};
