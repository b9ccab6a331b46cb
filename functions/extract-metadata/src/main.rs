//! Lambda `extract-metadata`: Refreshes each table's metadata and classifies schema drift.
//!
//! The AWS ports are built once per cold start from the environment
//! (see `tidemark_aws::backend`); the handler is the same
//! `tidemark_core::steps::extract_metadata` the local interpreter calls.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tidemark_aws::lambda::serve(
        tidemark_aws::lambda::ExtractMetadata,
        |ports, event| async move { tidemark_core::steps::extract_metadata(&ports, event).await },
    )
    .await
}
