//! The SASL/OAUTHBEARER token of Amazon MSK's IAM access control: a presigned
//! `kafka-cluster:Connect` URL of the cluster's region, base64url without padding.
//!
//! The token is what AWS's signers (`aws-msk-iam-sasl-signer-*`) build: a SigV4 query-string
//! signature (service `kafka-cluster`, 900 s) of `GET https://kafka.<region>.amazonaws.com/`,
//! with a `User-Agent` parameter added after signing. Signed here with `aws-sigv4` (the SDK's
//! signer), so the producer needs no AWS configuration or HTTP client of the signer's own.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
};
use aws_sigv4::sign::v4;
use base64::Engine;

/// How long a token is valid (the signers' default; MSK refreshes it before it expires).
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(900);

/// Names the producer to MSK, as the `User-Agent` of the token.
const USER_AGENT: &str = concat!("sensor-producer/", env!("CARGO_PKG_VERSION"));

/// A token for `region` signed with `credentials` at `now`, and when it expires (ms since the
/// epoch). Fails only on a region that cannot be a host name.
pub fn auth_token(
    region: &str,
    credentials: &Credentials,
    now: SystemTime,
) -> Result<(String, i64), String> {
    let mut url = url::Url::parse(&format!("https://kafka.{region}.amazonaws.com/"))
        .map_err(|e| format!("region {region:?} gives no MSK IAM endpoint: {e}"))?;
    url.query_pairs_mut()
        .append_pair("Action", "kafka-cluster:Connect");

    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(TOKEN_LIFETIME);
    let identity = credentials.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("kafka-cluster")
        .time(now)
        .settings(settings)
        .build()
        .map_err(|e| format!("MSK IAM signing parameters: {e}"))?;
    let request = SignableRequest::new(
        "GET",
        url.as_str(),
        std::iter::empty(),
        SignableBody::Bytes(&[]),
    )
    .map_err(|e| format!("MSK IAM request to sign: {e}"))?;
    let (instructions, _) = sign(request, &params.into())
        .map_err(|e| format!("MSK IAM signature: {e}"))?
        .into_parts();
    {
        let mut query = url.query_pairs_mut();
        for (name, value) in instructions.params() {
            query.append_pair(name, value);
        }
        query.append_pair("User-Agent", USER_AGENT);
    }
    // X-Amz-Date has whole seconds: the token expires TOKEN_LIFETIME after that second.
    let signed_s = now
        .duration_since(UNIX_EPOCH)
        .map_err(|_| "the clock is before 1970".to_string())?
        .as_secs() as i64;
    let expires_ms = (signed_s + TOKEN_LIFETIME.as_secs() as i64) * 1000;
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(url.as_str());
    Ok((token, expires_ms))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn decoded(token: &str) -> url::Url {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token)
            .expect("base64url without padding");
        url::Url::parse(std::str::from_utf8(&bytes).unwrap()).expect("a URL")
    }

    /// The same inputs signed by botocore 1.44's `SigV4QueryAuth` (service `kafka-cluster`,
    /// `expires=900`), which is how AWS's Python MSK IAM signer builds its tokens:
    /// `AWSRequest(method="GET", url="https://kafka.eu-west-1.amazonaws.com/",
    /// params={"Action": "kafka-cluster:Connect"})` at 2026-12-01T12:30:45Z.
    #[test]
    fn the_token_is_the_one_botocore_signs() {
        let credentials = Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            Some("session/token+=".into()),
            None,
            "test",
        );
        let now = UNIX_EPOCH + Duration::from_secs(1_796_128_245); // 2026-12-01T12:30:45Z
        let (token, expires_ms) = auth_token("eu-west-1", &credentials, now).unwrap();
        assert!(!token.contains('='), "no padding");
        let url = decoded(&token);
        assert_eq!(url.host_str(), Some("kafka.eu-west-1.amazonaws.com"));
        assert_eq!(url.path(), "/");
        let params: BTreeMap<String, String> = url.query_pairs().into_owned().collect();
        let botocore: BTreeMap<String, String> = [
            ("Action", "kafka-cluster:Connect"),
            ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
            (
                "X-Amz-Credential",
                "AKIDEXAMPLE/20261201/eu-west-1/kafka-cluster/aws4_request",
            ),
            ("X-Amz-Date", "20261201T123045Z"),
            ("X-Amz-Expires", "900"),
            ("X-Amz-SignedHeaders", "host"),
            ("X-Amz-Security-Token", "session/token+="),
            (
                "X-Amz-Signature",
                "4796c424dc52e06dd8047aabfa3e09cb43d11a8c9107e42f36b39ed6dbcfd7d1",
            ),
            ("User-Agent", USER_AGENT),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(params, botocore);
        // The User-Agent comes after the signature: it is not part of what was signed.
        assert_eq!(url.query_pairs().last().unwrap().0, "User-Agent");
        assert_eq!(expires_ms, (1_796_128_245 + 900) * 1000);
    }

    #[test]
    fn another_time_or_key_is_another_signature() {
        let a = Credentials::new("AKIDEXAMPLE", "secret-a", None, None, "test");
        let b = Credentials::new("AKIDEXAMPLE", "secret-b", None, None, "test");
        let now = UNIX_EPOCH + Duration::from_secs(1_796_128_245);
        let sig = |c: &Credentials, t: SystemTime| {
            let url = decoded(&auth_token("us-east-1", c, t).unwrap().0);
            let pairs: BTreeMap<String, String> = url.query_pairs().into_owned().collect();
            assert!(
                !pairs.contains_key("X-Amz-Security-Token"),
                "no session, no token"
            );
            pairs["X-Amz-Signature"].clone()
        };
        assert_ne!(sig(&a, now), sig(&b, now));
        assert_ne!(sig(&a, now), sig(&a, now + Duration::from_secs(1)));
        assert_eq!(sig(&a, now), sig(&a, now));
    }

    #[test]
    fn a_region_that_is_no_host_name_is_refused() {
        let c = Credentials::new("AKID", "secret", None, None, "test");
        let err = auth_token("eu west/1", &c, SystemTime::now()).unwrap_err();
        assert!(err.contains("\"eu west/1\""), "{err}");
    }
}
