//! The roots TLS connections to AWS trust.
//!
//! By default the functions trust only the roots of Amazon Trust Services, built into the
//! bootstrap (`aws-roots.pem`): every AWS service endpoint and every Amazon MSK broker chains to
//! one of them. Loading the machine's store instead means reading and parsing a bundle and a
//! directory of some 150 certificates before the first invocation, most of the functions' init
//! time (BENCHMARKS.md, "Where init went"). `TLS_TRUST_STORE=system` trusts the machine's store
//! (`SSL_CERT_FILE` and `SSL_CERT_DIR` are honoured), for example behind a TLS-inspecting proxy.

use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode, TlsContext};
use aws_smithy_runtime_api::client::http::SharedHttpClient;

/// PEM text of the Amazon Trust Services roots (Amazon Root CA 1–4, Starfield Services Root
/// Certificate Authority – G2), also handed to librdkafka (the producer's `kafka_roots`).
pub const AWS_ROOTS_PEM: &str = include_str!("aws-roots.pem");

/// Which roots TLS connections trust (`TLS_TRUST_STORE`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TrustStore {
    /// The Amazon Trust Services roots built into the bootstrap (`aws`, the default).
    #[default]
    Aws,
    /// The machine's certificate store (`system`).
    System,
}

impl TrustStore {
    /// The environment variable that selects the store.
    pub const VAR: &'static str = "TLS_TRUST_STORE";

    /// `None` (unset) is the default; anything but `aws` or `system` is refused.
    pub fn parse(value: Option<&str>) -> Result<Self, String> {
        match value.map(str::trim) {
            None | Some("") | Some("aws") => Ok(TrustStore::Aws),
            Some("system") => Ok(TrustStore::System),
            Some(other) => Err(format!("{other:?} is neither \"aws\" nor \"system\"")),
        }
    }

    /// The PEM text to hand to a TLS library in place of its default roots; `None` = its default.
    pub fn pem(self) -> Option<&'static str> {
        match self {
            TrustStore::Aws => Some(AWS_ROOTS_PEM),
            TrustStore::System => None,
        }
    }
}

/// The SDK's HTTPS client (hyper 1, rustls on ring) trusting `store`: the only HTTP client of
/// every AWS configuration (no SDK crate is built with a default client).
pub fn https_client(store: TrustStore) -> SharedHttpClient {
    let trust = match store.pem() {
        Some(pem) => tls::TrustStore::empty().with_pem_certificate(pem.as_bytes()),
        None => tls::TrustStore::default(),
    };
    let context = TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .expect("a TLS context without extra server names always builds");
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .tls_context(context)
        .build_https()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_store_is_chosen_by_name() {
        assert_eq!(TrustStore::parse(None), Ok(TrustStore::Aws));
        assert_eq!(TrustStore::parse(Some(" ")), Ok(TrustStore::Aws));
        assert_eq!(TrustStore::parse(Some("aws")), Ok(TrustStore::Aws));
        assert_eq!(TrustStore::parse(Some("system")), Ok(TrustStore::System));
        let err = TrustStore::parse(Some("System")).unwrap_err();
        assert!(err.contains("\"System\""), "{err}");
        assert_eq!(TrustStore::System.pem(), None);
    }

    #[test]
    fn the_built_in_roots_are_the_five_amazon_trust_services_roots() {
        use rustls_pki_types::pem::PemObject;
        use rustls_pki_types::CertificateDer;
        let ders = CertificateDer::pem_slice_iter(AWS_ROOTS_PEM.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .expect("the built-in PEM parses");
        assert_eq!(ders.len(), 5);
        // Each one is a self-signed root a rustls store takes (the SDK's client adds them so).
        let mut roots = rustls::RootCertStore::empty();
        for der in ders {
            roots.add(der).expect("a valid trust anchor");
        }
        assert_eq!(roots.len(), 5);
        for name in [
            "Amazon Root CA 1",
            "Amazon Root CA 4",
            "Starfield Services Root",
        ] {
            assert!(AWS_ROOTS_PEM.contains(name), "{name}");
        }
    }
}
