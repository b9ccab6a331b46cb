//! Lambda `merge-history`: Merges one validated batch into the table's SCD2 history.
//!
//! The AWS ports are built once per cold start from the environment
//! (see `tidemark_aws::backend`); the handler is the same
//! `tidemark_core::steps::merge_history` the local interpreter calls.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tidemark_aws::lambda::serve(
        tidemark_aws::lambda::MergeHistory,
        |ports, event| async move { tidemark_core::steps::merge_history(&ports, event).await },
    )
    .await
}
