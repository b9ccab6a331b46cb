//! Serving one pipeline step as a Lambda function.

use crate::backend::{AwsBackend, Needs, PortSet};
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::future::Future;
use tidemark_core::cost::{Runtime, StepEvent};
use tidemark_core::error::Error;
use tidemark_core::ports::Ports;
use tidemark_core::steps::{Step, metered};

/// Maps a step error to what Step Functions sees: `error_type` is the stable
/// `Tidemark.*` name its Retry and Catch match.
pub fn diagnostic(error: &Error) -> Diagnostic {
    Diagnostic {
        error_type: error.name().as_str().to_string(),
        error_message: error.to_string(),
    }
}

/// One Lambda function: its step and the ports the step uses.
pub trait Function: PortSet {
    const STEP: Step;
}

macro_rules! functions {
    ($($name:ident: $($port:ident),*;)*) => {$(
        #[doc = concat!("The `", stringify!($name), "` function.")]
        pub struct $name;

        impl PortSet for $name {
            const NEEDS: Needs = Needs { $($port: true,)* ..Needs::NONE };
        }

        impl Function for $name {
            const STEP: Step = Step::$name;
        }
    )*};
}

// What each step reaches through its ports (the config and the stores are
// everyone's). A port missing here fails the step naming the port, and the
// emulator tests run every function binary through the pipeline.
functions! {
    StartReplication: replication;
    ExtractMetadata: metadata_source;
    ValidateLanded: catalog, secrets;
    MergeHistory: engine, catalog, secrets;
    PublishCatalog: engine, catalog;
    Notify: notifier, metering;
}

/// Builds the ports of `Func` once (at cold start) from the environment, then
/// serves `step` for every event, metered (`tidemark_core::cost`). A missing
/// or wrong variable stops the cold start with a message naming it.
pub async fn serve<Func, E, O, F, Fut>(_: Func, step: F) -> Result<(), lambda_runtime::Error>
where
    Func: Function,
    E: DeserializeOwned + StepEvent + Send + 'static,
    O: Serialize + 'static,
    F: Fn(Ports, E) -> Fut,
    Fut: Future<Output = Result<O, Error>>,
{
    let which = Func::STEP;
    // Set by the Lambda runtime; the module's default when it is not.
    let memory_mb = std::env::var("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| which.default_memory_mb());
    lambda_runtime::tracing::init_default_subscriber();
    let backend = AwsBackend::from_env::<Func>().await.map_err(|e| {
        tracing::error!(error = %e, "cold start failed");
        format!("cold start failed: {e}")
    })?;
    let backend = &backend;
    let step = &step;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<E>| async move {
        backend.deadline.set_epoch_ms(event.context.deadline);
        let runtime = Runtime::Lambda { memory_mb };
        metered(&backend.ports, which, runtime, event.payload, step)
            .await
            .map_err(|e| {
                tracing::error!(error_type = e.name().as_str(), error = %e, "step failed");
                diagnostic(&e)
            })
    }))
    .await
}
