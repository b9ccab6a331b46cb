//! Lambda `notify`: Sends the run's alert (failures, or a summary on success).
//!
//! The AWS ports are built once per cold start from the environment
//! (see `tidemark_aws::backend`); the handler is the same
//! `tidemark_core::steps::notify` the local interpreter calls.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tidemark_aws::lambda::serve(tidemark_aws::lambda::Notify, |ports, event| async move {
        tidemark_core::steps::notify(&ports, event).await
    })
    .await
}
