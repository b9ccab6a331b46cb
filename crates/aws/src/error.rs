//! Reading AWS SDK errors: the service's error code, a message a person can
//! act on, and whether retrying can help.

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use std::error::Error as _;

/// The service's error code (`NoSuchKey`, `ThrottlingException`, …), if it answered.
pub fn code<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> Option<&str> {
    match e {
        SdkError::ServiceError(s) => s.err().code(),
        _ => None,
    }
}

/// True when the service answered with one of `codes`. S3 answers a HEAD-like
/// miss with a bare 404 whose code is `NotFound`.
pub fn is_code<E: ProvideErrorMetadata, R: std::fmt::Debug>(
    e: &SdkError<E, R>,
    codes: &[&str],
) -> bool {
    code(e).is_some_and(|c| codes.contains(&c))
}

/// Codes any AWS service uses for "slow down" or "try again".
const RETRYABLE: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "ProvisionedThroughputExceededException",
    "SlowDown",
    "InternalServerException",
    "InternalServerError",
    "InternalFailure",
    "InternalError",
    "ServiceUnavailable",
    "ServiceUnavailableException",
];

/// Worth retrying: throttling, a service-side failure, or no answer at all
/// (timeouts, connection resets).
pub fn is_transient<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
    match e {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(s) => s.err().code().is_some_and(|c| RETRYABLE.contains(&c)),
        _ => false,
    }
}

/// `Code: message`, or the transport error with its causes.
pub fn describe<E, R>(e: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    if let SdkError::ServiceError(s) = e {
        let err = s.err();
        return match (err.code(), err.message()) {
            (Some(c), Some(m)) => format!("{c}: {m}"),
            (Some(c), None) => c.to_string(),
            _ => err.to_string(),
        };
    }
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
