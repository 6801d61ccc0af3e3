//! How calls fail, in one place for every AWS client (Glue, STS, DynamoDB, SQS, Secrets
//! Manager), and how a function's failure is named for Lambda.
//!
//! [`classify`] turns an SDK error into a [`SdkFailure`]: its [`FailureKind`] (throttled,
//! unavailable, access denied, not found, already exists, invalid) from the error code, the HTTP
//! status and the kind of failure (timeouts and dispatch failures are outages), and a message
//! that keeps the whole cause chain.
//!
//! [`Failure`] is what a function reports to Lambda: a class name (the `errorType`) and whether
//! a retry can help. Class names follow one rule: those ending in `Unavailable`, `Throttled` or
//! `Failed` are outages a retry may fix; every other class (`AccessDenied`, `…Refused`,
//! `…NotFound`, `SchemaUnreadable`) needs someone to change something first. The message says
//! it too: it starts with `retryable: ` or `not retryable: `, then the cause.

use std::error::Error as StdError;
use std::fmt;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// What kind of failure an AWS call met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The service throttled the call (429, throttling codes). A retry later may succeed.
    Throttled,
    /// 5xx, timeouts, connection failures, unreadable answers, credentials that could not be
    /// fetched. A retry may succeed.
    Unavailable,
    /// IAM, a trust policy, an external id, unknown keys. Retrying does not help.
    AccessDenied,
    /// The resource does not exist.
    NotFound,
    /// The resource exists already (a create lost a race).
    AlreadyExists,
    /// The service refused the request itself (validation, limits). Retrying does not help.
    Invalid,
}

impl FailureKind {
    /// Whether the same call may succeed later without anyone changing anything.
    pub fn is_retryable(self) -> bool {
        matches!(self, FailureKind::Throttled | FailureKind::Unavailable)
    }
}

/// One failed AWS call, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdkFailure {
    pub kind: FailureKind,
    /// The service's error code, when it answered with one.
    pub code: Option<String>,
    /// The HTTP status, when there was an answer.
    pub status: Option<u16>,
    /// `Operation: cause: cause's cause: …`.
    pub message: String,
}

impl fmt::Display for SdkFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "SlowDown",
    "PriorRequestNotComplete",
    "TransactionInProgressException",
];

const UNAVAILABLE_CODES: &[&str] = &[
    "InternalServiceException",
    "InternalServerError",
    "InternalServerException",
    "InternalFailure",
    "InternalError",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "RequestTimeout",
    "RequestTimeoutException",
    "ConcurrentModificationException",
    "IDPCommunicationError",
    "ExpiredToken",
    "ExpiredTokenException",
];

const ACCESS_DENIED_CODES: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "IncompleteSignature",
    "MissingAuthenticationToken",
    "AuthFailure",
    "KMSAccessDeniedException",
];

const NOT_FOUND_CODES: &[&str] = &[
    "EntityNotFoundException",
    "ResourceNotFoundException",
    "NoSuchEntity",
    "QueueDoesNotExist",
    "AWS.SimpleQueueService.NonExistentQueue",
];

const ALREADY_EXISTS_CODES: &[&str] = &["AlreadyExistsException", "ResourceExistsException"];

/// The kind of failure an error code and HTTP status say; codes first, then the status.
pub fn kind_of(code: Option<&str>, status: Option<u16>) -> FailureKind {
    let is = |list: &[&str]| code.is_some_and(|c| list.contains(&c));
    if is(THROTTLING_CODES) {
        FailureKind::Throttled
    } else if is(UNAVAILABLE_CODES) {
        FailureKind::Unavailable
    } else if is(ACCESS_DENIED_CODES) {
        FailureKind::AccessDenied
    } else if is(NOT_FOUND_CODES) {
        FailureKind::NotFound
    } else if is(ALREADY_EXISTS_CODES) {
        FailureKind::AlreadyExists
    } else {
        match status {
            Some(429) => FailureKind::Throttled,
            Some(s) if s >= 500 => FailureKind::Unavailable,
            Some(401 | 403) => FailureKind::AccessDenied,
            Some(404) => FailureKind::NotFound,
            Some(_) => FailureKind::Invalid,
            None => FailureKind::Unavailable,
        }
    }
}

/// Classifies one failed call of operation `op`, for any AWS SDK client.
pub fn classify<E>(op: &str, err: &SdkError<E, HttpResponse>) -> SdkFailure
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
{
    let message = format!("{op}: {}", error_chain(err));
    let (kind, code, status) = match err {
        SdkError::ServiceError(ctx) => {
            let status = ctx.raw().status().as_u16();
            let code = ctx.err().code().map(str::to_owned);
            (kind_of(code.as_deref(), Some(status)), code, Some(status))
        }
        SdkError::ResponseError(ctx) => {
            let status = ctx.raw().status().as_u16();
            (kind_of(None, Some(status)), None, Some(status))
        }
        // Credentials are resolved before the request is sent: a role STS refused shows up
        // here, and is a permission problem rather than an outage.
        SdkError::ConstructionFailure(_) => match credential_failure(err) {
            Some(f) => f,
            None => (FailureKind::Invalid, None, None),
        },
        // Timeouts, connection failures: the service or STS may answer later.
        _ => credential_failure(err).unwrap_or((FailureKind::Unavailable, None, None)),
    };
    SdkFailure {
        kind,
        code,
        status,
        message,
    }
}

/// An STS answer inside the chain of causes (the assumed role's credentials could not be
/// fetched): classified like any other answer.
fn credential_failure(
    err: &(dyn StdError + 'static),
) -> Option<(FailureKind, Option<String>, Option<u16>)> {
    use aws_sdk_sts::operation::assume_role::AssumeRoleError;
    let mut cur: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(SdkError::ServiceError(ctx)) =
            e.downcast_ref::<SdkError<AssumeRoleError, HttpResponse>>()
        {
            let status = ctx.raw().status().as_u16();
            let code = ctx.err().code().map(str::to_owned);
            return Some((kind_of(code.as_deref(), Some(status)), code, Some(status)));
        }
        cur = e.source();
    }
    None
}

/// `error: its source: the source's source: …`, without Debug dumps.
pub fn error_chain(e: &(dyn StdError + 'static)) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        let text = inner.to_string();
        // Some errors repeat their source's text in their own.
        if !s.ends_with(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        src = inner.source();
    }
    s
}

/// A function's failure as Lambda reports it: `class` is the `errorType`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub class: &'static str,
    pub retryable: bool,
    pub cause: String,
}

impl Failure {
    pub fn new(class: &'static str, retryable: bool, cause: impl Into<String>) -> Self {
        Failure {
            class,
            retryable,
            cause: cause.into(),
        }
    }

    /// The `errorMessage`: `retryable: …` or `not retryable: …`, then the cause.
    pub fn message(&self) -> String {
        let hint = if self.retryable {
            "retryable"
        } else {
            "not retryable"
        };
        format!("{hint}: {}", self.cause)
    }

    /// Whether `class` names an outage by the naming rule of this module.
    pub fn class_is_retryable(class: &str) -> bool {
        ["Unavailable", "Throttled", "Failed"]
            .iter()
            .any(|s| class.ends_with(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_glue::operation::get_schema_version::GetSchemaVersionError;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    fn service_error(code: &str, status: u16) -> SdkError<GetSchemaVersionError, HttpResponse> {
        let meta = ErrorMetadata::builder().code(code).message("m").build();
        let err = GetSchemaVersionError::generic(meta);
        let raw = HttpResponse::new(status.try_into().unwrap(), SdkBody::empty());
        SdkError::service_error(err, raw)
    }

    #[test]
    fn service_errors_by_code_then_status() {
        let k = |code, status| classify("Op", &service_error(code, status)).kind;
        assert_eq!(k("ThrottlingException", 400), FailureKind::Throttled);
        assert_eq!(
            k("ProvisionedThroughputExceededException", 400),
            FailureKind::Throttled
        );
        assert_eq!(k("RequestThrottled", 403), FailureKind::Throttled);
        assert_eq!(k("Whatever", 429), FailureKind::Throttled);
        assert_eq!(k("InternalServiceException", 500), FailureKind::Unavailable);
        assert_eq!(k("Whatever", 503), FailureKind::Unavailable);
        assert_eq!(k("AccessDeniedException", 400), FailureKind::AccessDenied);
        assert_eq!(k("", 403), FailureKind::AccessDenied);
        assert_eq!(k("EntityNotFoundException", 400), FailureKind::NotFound);
        assert_eq!(k("AlreadyExistsException", 400), FailureKind::AlreadyExists);
        assert_eq!(k("ValidationException", 400), FailureKind::Invalid);
        let f = classify(
            "GetSchemaVersion",
            &service_error("ThrottlingException", 400),
        );
        assert_eq!(f.code.as_deref(), Some("ThrottlingException"));
        assert_eq!(f.status, Some(400));
        assert!(
            f.message.starts_with("GetSchemaVersion: service error"),
            "{}",
            f.message
        );
        assert!(f.message.contains("ThrottlingException"), "{}", f.message);
    }

    #[test]
    fn transport_failures_are_outages() {
        let e: SdkError<GetSchemaVersionError, HttpResponse> = SdkError::timeout_error("slow");
        let f = classify("GetSchemaVersion", &e);
        assert_eq!(f.kind, FailureKind::Unavailable);
        assert!(f.kind.is_retryable());
        assert!(f.message.contains("slow"), "{}", f.message);
        let e: SdkError<GetSchemaVersionError, HttpResponse> =
            SdkError::construction_failure("no region");
        assert_eq!(classify("X", &e).kind, FailureKind::Invalid);
    }

    #[test]
    fn an_sts_refusal_inside_a_dispatch_failure_is_access_denied() {
        use aws_sdk_sts::operation::assume_role::AssumeRoleError;
        let meta = ErrorMetadata::builder().code("AccessDenied").build();
        let raw = HttpResponse::new(403.try_into().unwrap(), SdkBody::empty());
        let sts: SdkError<AssumeRoleError, HttpResponse> =
            SdkError::service_error(AssumeRoleError::generic(meta), raw);
        let connector =
            aws_smithy_runtime_api::client::result::ConnectorError::other(Box::new(sts), None);
        let e: SdkError<GetSchemaVersionError, HttpResponse> =
            SdkError::dispatch_failure(connector);
        let f = classify("GetSchemaVersion", &e);
        assert_eq!(f.kind, FailureKind::AccessDenied);
        assert_eq!(f.code.as_deref(), Some("AccessDenied"));
    }

    #[test]
    fn failures_carry_class_retry_hint_and_cause() {
        let f = Failure::new("StoreThrottled", true, "BatchWriteItem: slow down");
        assert_eq!(f.message(), "retryable: BatchWriteItem: slow down");
        let f = Failure::new("AccessDenied", false, "no");
        assert_eq!(f.message(), "not retryable: no");
        for class in ["RegistryUnavailable", "StoreThrottled", "DeliveryFailed"] {
            assert!(Failure::class_is_retryable(class), "{class}");
        }
        for class in ["AccessDenied", "StoreRefused", "SchemaUnreadable"] {
            assert!(!Failure::class_is_retryable(class), "{class}");
        }
    }
}
