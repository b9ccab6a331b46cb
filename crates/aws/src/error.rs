//! Reading AWS SDK errors: the service's error code, a message a person can
//! act on, and what the failure means ([`kind`]): from the error code and the
//! HTTP status, never from the message text.

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use std::error::Error as _;
use tidemark_core::error::ErrorKind;

/// The service's error code (`NoSuchKey`, `ThrottlingException`, …), if it answered.
fn code<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> Option<&str> {
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
    // Glue: an update that named the entry's version lost to another; read it again.
    "ConcurrentModificationException",
];

/// Codes for "what you named does not exist".
const NOT_FOUND: &[&str] = &[
    "NoSuchKey",
    "NotFound",
    "EntityNotFoundException",
    "ResourceNotFoundException",
    "ResourceNotFoundFault",
];

/// Codes for "another writer won".
const CONFLICT: &[&str] = &[
    "PreconditionFailed",
    "ConditionalRequestConflict",
    "AlreadyExistsException",
];

/// Codes for "the request is wrong, or not allowed": a person must act.
const INVALID: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "AccessDeniedFault",
    "InvalidInputException",
    "InvalidRequestException",
    "InvalidParameter",
    "InvalidParameterException",
    "InvalidParameterValueException",
    "InvalidParameterValueFault",
    "ValidationException",
    "InvalidResourceStateFault",
    "AuthorizationError",
    "NoSuchBucket",
];

/// What the failure means: a known error code decides; otherwise the HTTP
/// status (429 and 5xx transient, 404 not found, 409 and 412 a lost race,
/// 400 and 403 a wrong request); no answer at all (a timeout, a reset
/// connection, an unreadable response) is transient.
pub fn kind<E: ProvideErrorMetadata>(e: &SdkError<E, HttpResponse>) -> ErrorKind {
    let service = match e {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            return ErrorKind::Transient;
        }
        SdkError::ServiceError(s) => s,
        _ => return ErrorKind::Fatal,
    };
    let by_code = service.err().code().and_then(|code| {
        [
            (RETRYABLE, ErrorKind::Transient),
            (NOT_FOUND, ErrorKind::NotFound),
            (CONFLICT, ErrorKind::Concurrency),
            (INVALID, ErrorKind::InvalidInput),
        ]
        .into_iter()
        .find(|(codes, _)| codes.contains(&code))
        .map(|(_, kind)| kind)
    });
    by_code.unwrap_or(match service.raw().status().as_u16() {
        429 | 500..=599 => ErrorKind::Transient,
        404 => ErrorKind::NotFound,
        409 | 412 => ErrorKind::Concurrency,
        400 | 403 => ErrorKind::InvalidInput,
        _ => ErrorKind::Fatal,
    })
}

/// Worth retrying: [`kind`] says transient.
pub fn is_transient<E: ProvideErrorMetadata>(e: &SdkError<E, HttpResponse>) -> bool {
    kind(e) == ErrorKind::Transient
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
