//! Lambda `validate-landed`: Checks newly landed files against metadata; quarantines bad ones.
//!
//! The AWS ports are built once per cold start from the environment
//! (see `tidemark_aws::backend`); the handler is the same
//! `tidemark_core::steps::validate_landed` the local interpreter calls.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tidemark_aws::lambda::serve(
        tidemark_aws::lambda::ValidateLanded,
        |ports, event| async move { tidemark_core::steps::validate_landed(&ports, event).await },
    )
    .await
}
