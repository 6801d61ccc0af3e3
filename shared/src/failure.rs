//! How calls fail, in one place for every AWS client (Glue, STS, DynamoDB, SQS, Secrets
//! Manager), and how a function's failure is named for Lambda. Pure: the SDK errors themselves
//! are read by `aws::classify` (feature `aws`), which names their kind with [`kind_of`].
//!
//! [`FailureKind`]: throttled, unavailable, access denied, not found, already exists, invalid,
//! from the error code and the HTTP status ([`kind_of`]).
//!
//! [`Failure`] is what a function reports to Lambda: a class name (the `errorType`) and whether
//! a retry can help. Class names follow one rule: those ending in `Unavailable`, `Throttled` or
//! `Failed` are outages a retry may fix; every other class (`AccessDenied`, `…Refused`,
//! `…NotFound`, `SchemaUnreadable`) needs someone to change something first. The message says
//! it too: it starts with `retryable: ` or `not retryable: `, then the cause.

use std::error::Error as StdError;

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

    #[test]
    fn kinds_by_code_then_status() {
        let k = |code: &str, status| kind_of(Some(code).filter(|c| !c.is_empty()), Some(status));
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
        assert_eq!(kind_of(None, None), FailureKind::Unavailable);
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
