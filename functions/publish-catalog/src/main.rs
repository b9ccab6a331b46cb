//! Lambda `publish-catalog`: Publishes the history table and its _current view to the catalog.
//!
//! The AWS ports are built once per cold start from the environment
//! (see `tidemark_aws::backend`); the handler is the same
//! `tidemark_core::steps::publish_catalog` the local interpreter calls.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tidemark_aws::lambda::serve(
        tidemark_aws::lambda::PublishCatalog,
        |ports, event| async move { tidemark_core::steps::publish_catalog(&ports, event).await },
    )
    .await
}
