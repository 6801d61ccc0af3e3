//! [`classify`]: any AWS SDK client's error as a [`SdkFailure`]: its [`FailureKind`] from the
//! error code, the HTTP status and the kind of failure (timeouts and dispatch failures are
//! outages, an STS refusal inside a credential error is access denied), and a message that keeps
//! the whole cause chain.

use std::error::Error as StdError;
use std::fmt;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::failure::{error_chain, kind_of, FailureKind};

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

/// A service error answer of Glue's GetSchemaVersion with this code and status, for tests.
#[cfg(test)]
pub(crate) fn service_error(
    code: &str,
    status: u16,
) -> SdkError<aws_sdk_glue::operation::get_schema_version::GetSchemaVersionError, HttpResponse> {
    use aws_sdk_glue::operation::get_schema_version::GetSchemaVersionError;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;
    let meta = ErrorMetadata::builder().code(code).message("m").build();
    let raw = HttpResponse::new(status.try_into().unwrap(), SdkBody::empty());
    SdkError::service_error(GetSchemaVersionError::generic(meta), raw)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_glue::operation::get_schema_version::GetSchemaVersionError;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    #[test]
    fn service_errors_by_code_then_status() {
        let k = |code, status| classify("Op", &service_error(code, status)).kind;
        assert_eq!(k("ThrottlingException", 400), FailureKind::Throttled);
        assert_eq!(k("Whatever", 503), FailureKind::Unavailable);
        assert_eq!(k("", 403), FailureKind::AccessDenied);
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
}
