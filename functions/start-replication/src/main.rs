//! Lambda `start-replication`: Starts or resumes the replication and reports its health.
//!
//! The AWS ports are built once per cold start from the environment
//! (see `tidemark_aws::backend`); the handler is the same
//! `tidemark_core::steps::start_replication` the local interpreter calls.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tidemark_aws::lambda::serve(
        tidemark_aws::lambda::StartReplication,
        |ports, event| async move { tidemark_core::steps::start_replication(&ports, event).await },
    )
    .await
}
