//! The secrets port on AWS: the erasure key is a Secrets Manager secret
//! (`TIDEMARK_ERASURE_KEY_SECRET`), created empty by Terraform, so its value
//! is never in Terraform's state. The first `forget` gives it a value from
//! `GetRandomPassword`, written with a fixed client request token: two
//! functions that race to create it end with one value.

use crate::error::{describe, is_code, is_transient};
use async_trait::async_trait;
use aws_sdk_secretsmanager::Client;
use tidemark_core::erasure::ErasureKey;
use tidemark_core::error::Error;
use tidemark_core::ports::Secrets;

/// The version a first `PutSecretValue` creates (32 to 64 characters).
const FIRST_VERSION: &str = "tidemark-erasure-key-first-version";

pub struct SecretsManager {
    client: Client,
    /// The erasure key's secret (ARN or name); `None` where the function
    /// was not given one.
    erasure_key: Option<String>,
}

impl SecretsManager {
    pub fn new(client: Client, erasure_key: Option<String>) -> Self {
        SecretsManager {
            client,
            erasure_key,
        }
    }

    /// The secret's current value, `None` while it has none.
    async fn current(&self, secret: &str) -> Result<Option<String>, Error> {
        match self
            .client
            .get_secret_value()
            .secret_id(secret)
            .send()
            .await
        {
            Ok(out) => Ok(out.secret_string().map(str::to_string)),
            // The secret exists without a value (as Terraform creates it).
            Err(e)
                if is_code(&e, &["ResourceNotFoundException"]) && self.exists(secret).await? =>
            {
                Ok(None)
            }
            Err(e) => Err(failed(
                &format!("GetSecretValue of {secret}"),
                describe(&e),
                is_transient(&e),
            )),
        }
    }

    async fn exists(&self, secret: &str) -> Result<bool, Error> {
        match self.client.describe_secret().secret_id(secret).send().await {
            Ok(_) => Ok(true),
            Err(e) if is_code(&e, &["ResourceNotFoundException"]) => Ok(false),
            Err(e) => Err(failed(
                &format!("DescribeSecret of {secret}"),
                describe(&e),
                is_transient(&e),
            )),
        }
    }
}

fn failed(call: &str, reason: String, transient: bool) -> Error {
    let message = format!("the erasure key: {call}: {reason}");
    if transient {
        Error::Transient(message)
    } else {
        Error::InvalidInput(message)
    }
}

fn key(secret: &str, value: String) -> Result<ErasureKey, Error> {
    ErasureKey::new(value.into_bytes())
        .map_err(|e| Error::InvalidInput(format!("secret {secret}: {e}")))
}

#[async_trait]
impl Secrets for SecretsManager {
    async fn erasure_key(&self) -> Result<ErasureKey, Error> {
        let secret = self.erasure_key.as_deref().ok_or_else(|| {
            Error::InvalidInput(
                "this function was not configured with TIDEMARK_ERASURE_KEY_SECRET: it cannot read the erasure key".into(),
            )
        })?;
        if let Some(value) = self.current(secret).await? {
            return key(secret, value);
        }
        let random = self
            .client
            .get_random_password()
            .password_length(64)
            .exclude_punctuation(true)
            .send()
            .await
            .map_err(|e| failed("GetRandomPassword", describe(&e), is_transient(&e)))?;
        let value = random.random_password().unwrap_or_default().to_string();
        match self
            .client
            .put_secret_value()
            .secret_id(secret)
            .secret_string(value)
            .client_request_token(FIRST_VERSION)
            .send()
            .await
        {
            Ok(_) => {}
            // Another function created it first, with another value: use theirs.
            Err(e) if is_code(&e, &["ResourceExistsException"]) => {}
            Err(e) => {
                return Err(failed(
                    &format!("PutSecretValue of {secret}"),
                    describe(&e),
                    is_transient(&e),
                ));
            }
        }
        tracing::info!(secret, "erasure key created");
        let value = self.current(secret).await?.ok_or_else(|| {
            Error::Transient(format!(
                "secret {secret} has no value just after it was given one"
            ))
        })?;
        key(secret, value)
    }
}
