//! Serving one pipeline step as a Lambda function.

use crate::backend::{AwsBackend, Needs};
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::future::Future;
use tidemark_core::error::Error;
use tidemark_core::ports::Ports;

/// Maps a step error to what Step Functions sees: `error_type` is the stable
/// `Tidemark.*` name its Retry and Catch match.
pub fn diagnostic(error: &Error) -> Diagnostic {
    Diagnostic {
        error_type: error.name().as_str().to_string(),
        error_message: error.to_string(),
    }
}

/// Builds the AWS ports once (at cold start) from the environment, then
/// serves `step` for every event. A missing or wrong variable stops the cold
/// start with a message naming it.
pub async fn serve<E, O, F, Fut>(needs: Needs, step: F) -> Result<(), lambda_runtime::Error>
where
    E: DeserializeOwned + Send + 'static,
    O: Serialize + 'static,
    F: Fn(Ports, E) -> Fut,
    Fut: Future<Output = Result<O, Error>>,
{
    lambda_runtime::tracing::init_default_subscriber();
    let backend = AwsBackend::from_env(needs).await.map_err(|e| {
        tracing::error!(error = %e, "cold start failed");
        format!("cold start failed: {e}")
    })?;
    let backend = &backend;
    let step = &step;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<E>| async move {
        backend.deadline.set_epoch_ms(event.context.deadline);
        step(backend.ports.clone(), event.payload)
            .await
            .map_err(|e| {
                tracing::error!(error_type = e.name().as_str(), error = %e, "step failed");
                diagnostic(&e)
            })
    }))
    .await
}
