//! Where framed records go: Kafka in production, memory in tests.

use std::future::Future;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use aws_credential_types::provider::SharedCredentialsProvider;
use rdkafka::client::OAuthToken;
use rdkafka::config::ClientConfig;
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer, ProducerContext};
use rdkafka::ClientContext;
use sensor_shared::aws::TrustStore;
use thiserror::Error;

use crate::config::SecurityProtocol;

/// One record to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutRecord {
    pub key: String,
    pub payload: Vec<u8>,
    /// Kafka headers (name, value), in order.
    pub headers: Vec<(String, String)>,
}

/// Where a record landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Delivery {
    pub partition: i32,
    pub offset: i64,
}

/// Records were not all delivered; the caller must treat the whole batch as failed.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("{failed} of {total} records not delivered: {reason}")]
pub struct SinkError {
    pub failed: usize,
    pub total: usize,
    pub reason: String,
}

/// Sends records and waits until each one is acknowledged.
pub trait RecordSink: Send + Sync {
    fn send_all(
        &self,
        records: Vec<OutRecord>,
    ) -> impl Future<Output = Result<Vec<Delivery>, SinkError>> + Send;
}

/// What MSK IAM tokens are signed with: the function's region and the credentials provider of
/// its AWS configuration (the one its Glue client uses), so a token costs no configuration load.
#[derive(Debug, Clone)]
pub struct IamSigner {
    pub region: aws_config::Region,
    pub credentials: SharedCredentialsProvider,
}

impl IamSigner {
    /// From the function's AWS configuration; `None` without a region or credentials.
    pub fn from_config(config: &aws_config::SdkConfig) -> Option<Self> {
        Some(IamSigner {
            region: config.region()?.clone(),
            credentials: config.credentials_provider()?,
        })
    }
}

/// Signs MSK IAM tokens (SASL/OAUTHBEARER) when the protocol asks for it.
pub struct MskContext {
    signer: Option<IamSigner>,
    runtime: Option<tokio::runtime::Handle>,
}

impl ClientContext for MskContext {
    const ENABLE_REFRESH_OAUTH_TOKEN: bool = true;

    fn generate_oauth_token(
        &self,
        _config: Option<&str>,
    ) -> Result<OAuthToken, Box<dyn std::error::Error>> {
        let (Some(signer), Some(rt)) = (self.signer.clone(), self.runtime.clone()) else {
            return Err("MSK IAM authentication needs a region and credentials (AWS_REGION and the function's role)".into());
        };
        // librdkafka calls this from its own thread, outside the async runtime. On the function's
        // one-thread runtime, I/O the provider does is driven by the function's thread while it
        // awaits; it never blocks on a producer (see `send_all`), so it is always there to drive.
        let credentials = std::thread::spawn(move || {
            use aws_credential_types::provider::ProvideCredentials;
            rt.block_on(signer.credentials.provide_credentials())
        })
        .join()
        .map_err(|_| "the credentials provider panicked")?
        .map_err(|e| format!("no credentials for the MSK IAM token: {e}"))?;
        let (token, expiry_ms) = crate::msk_iam::auth_token(
            signer.region.as_ref(),
            &credentials,
            std::time::SystemTime::now(),
        )?;
        Ok(OAuthToken {
            token,
            principal_name: String::new(),
            lifetime_ms: expiry_ms,
        })
    }
}

impl ProducerContext for MskContext {
    type DeliveryOpaque = ();
    fn delivery(&self, _: &rdkafka::message::DeliveryResult<'_>, _: ()) {}
}

/// The librdkafka setting for `trust`'s roots, `None` for librdkafka's default (the system's).
/// The built-in roots go as a hashed directory under `base` (the temporary directory), read only
/// when a handshake needs one ([`crate::kafka_roots`]); if that directory cannot be used, as
/// `ssl.ca.pem`, all decoded when the client is created.
fn librdkafka_roots(trust: TrustStore, base: &std::path::Path) -> Option<(&'static str, String)> {
    let pem = trust.pem()?;
    let dir = crate::kafka_roots::aws_roots_dir(base).and_then(|dir| {
        dir.into_os_string()
            .into_string()
            .map_err(|_| std::io::Error::other("the path is not UTF-8"))
    });
    Some(match dir {
        Ok(dir) => ("ssl.ca.location", dir),
        Err(e) => {
            tracing::warn!(error = %e, "the built-in roots go to librdkafka as ssl.ca.pem: no directory for them");
            ("ssl.ca.pem", pem.to_string())
        }
    })
}

/// An idempotent Kafka producer (`acks=all`), one per container. A producer whose idempotence
/// state the broker rejects (fenced or unknown producer id, epoch or sequence refused: seen after
/// deliveries time out in an outage, when librdkafka bumps the epoch) or that librdkafka declares
/// fatally failed never delivers again, so it is replaced by a fresh one.
pub struct KafkaSink {
    producer: RwLock<Arc<FutureProducer<MskContext>>>,
    config: ClientConfig,
    signer: Option<IamSigner>,
    topic: String,
    timeout: Duration,
}

impl KafkaSink {
    /// Builds the producer; nothing connects until the first send. Over TLS the brokers'
    /// certificates are checked against `trust` (see [`librdkafka_roots`]; librdkafka's default
    /// roots for [`TrustStore::System`]). With SASL/IAM, `signer` signs the tokens.
    pub fn new(
        bootstrap: &str,
        topic: &str,
        protocol: SecurityProtocol,
        delivery_timeout: Duration,
        trust: TrustStore,
        signer: Option<IamSigner>,
    ) -> Result<Self, String> {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", bootstrap)
            .set("acks", "all")
            .set("enable.idempotence", "true")
            .set("linger.ms", "2")
            .set(
                "message.timeout.ms",
                delivery_timeout.as_millis().to_string(),
            )
            .set("socket.connection.setup.timeout.ms", "5000")
            // librdkafka 2.12 scans for timed-out records only when the broker thread wakes, and
            // while the broker is unreachable it sleeps up to this reconnect backoff (default 10 s):
            // a 3 s delivery timeout then fails after 8-10 s. Capping it keeps failures within
            // ~1 s of the timeout and reconnects promptly once the broker is back.
            .set("reconnect.backoff.max.ms", "1000");
        match protocol {
            SecurityProtocol::Plaintext => c.set("security.protocol", "plaintext"),
            SecurityProtocol::Ssl => c.set("security.protocol", "ssl"),
            SecurityProtocol::SaslSslIam => c
                .set("security.protocol", "sasl_ssl")
                .set("sasl.mechanism", "OAUTHBEARER"),
        };
        if protocol != SecurityProtocol::Plaintext {
            if let Some((key, value)) = librdkafka_roots(trust, &std::env::temp_dir()) {
                c.set(key, value);
            }
        }
        let producer = Self::create(&c, signer.clone())?;
        Ok(KafkaSink {
            producer: RwLock::new(Arc::new(producer)),
            config: c,
            signer,
            topic: topic.to_string(),
            timeout: delivery_timeout,
        })
    }

    fn create(
        c: &ClientConfig,
        signer: Option<IamSigner>,
    ) -> Result<FutureProducer<MskContext>, String> {
        let ctx = MskContext {
            signer,
            runtime: tokio::runtime::Handle::try_current().ok(),
        };
        c.create_with_context(ctx)
            .map_err(|e| format!("cannot create the Kafka producer: {e}"))
    }

    fn current(&self) -> Arc<FutureProducer<MskContext>> {
        self.producer.read().unwrap().clone()
    }

    /// Replaces `used` by a new producer if it cannot deliver again: fatally failed, or `codes`
    /// (delivery errors) say the broker refuses its producer id, epoch or sequence. `true` if
    /// `used` was replaced (now or by another invocation).
    fn replace_if_broken(
        &self,
        used: &Arc<FutureProducer<MskContext>>,
        codes: &[Option<RDKafkaErrorCode>],
    ) -> bool {
        let identity_refused = codes.iter().flatten().find(|c| {
            matches!(
                c,
                RDKafkaErrorCode::ProducerFenced
                    | RDKafkaErrorCode::InvalidProducerEpoch
                    | RDKafkaErrorCode::UnknownProducerId
                    | RDKafkaErrorCode::OutOfOrderSequenceNumber
                    | RDKafkaErrorCode::InvalidProducerIdMapping
            )
        });
        let (code, reason) = match (used.client().fatal_error(), identity_refused) {
            (Some(fatal), _) => fatal,
            (None, Some(code)) => (*code, "delivery refused".to_string()),
            (None, None) => return false,
        };
        let mut slot = self.producer.write().unwrap();
        if !Arc::ptr_eq(&slot, used) {
            return true; // another invocation replaced it already
        }
        match Self::create(&self.config, self.signer.clone()) {
            Ok(fresh) => {
                tracing::warn!(error = ?code, reason = %reason, "Kafka producer cannot deliver again; replaced by a new one");
                // The old one is dropped with the caller's last reference to it.
                *slot = Arc::new(fresh);
                true
            }
            Err(e) => {
                tracing::error!(error = %e, "Kafka producer cannot deliver again and cannot be replaced");
                false
            }
        }
    }
}

impl RecordSink for KafkaSink {
    async fn send_all(&self, records: Vec<OutRecord>) -> Result<Vec<Delivery>, SinkError> {
        let total = records.len();
        let producer = self.current();
        let sends = records.iter().map(|r| {
            let mut record = FutureRecord::to(&self.topic)
                .key(r.key.as_bytes())
                .payload(&r.payload);
            if !r.headers.is_empty() {
                let headers = r
                    .headers
                    .iter()
                    .fold(OwnedHeaders::new(), |h, (name, value)| {
                        h.insert(Header {
                            key: name,
                            value: Some(value.as_bytes()),
                        })
                    });
                record = record.headers(headers);
            }
            producer.send(record, self.timeout)
        });
        let results = futures::future::join_all(sends).await;
        let mut deliveries = Vec::with_capacity(total);
        let mut failed = 0;
        let mut reason = String::new();
        let mut codes = Vec::new();
        for r in results {
            match r {
                Ok(d) => deliveries.push(Delivery {
                    partition: d.partition,
                    offset: d.offset,
                }),
                Err((e, _)) => {
                    failed += 1;
                    codes.push(e.rdkafka_error_code());
                    if reason.is_empty() {
                        reason = e.to_string();
                    }
                }
            }
        }
        if failed > 0 {
            if self.replace_if_broken(&producer, &codes) {
                // Destroying a librdkafka client waits for its threads, one of which may be
                // waiting for this thread (a token refresh's I/O): not on the runtime's thread.
                std::thread::spawn(move || drop(producer));
            }
            Err(SinkError {
                failed,
                total,
                reason,
            })
        } else {
            Ok(deliveries)
        }
    }
}

/// Keeps records in memory; can be told to fail.
#[derive(Debug, Default)]
pub struct MemorySink {
    pub records: Mutex<Vec<OutRecord>>,
    pub fail: Mutex<Option<String>>,
}

impl RecordSink for MemorySink {
    async fn send_all(&self, records: Vec<OutRecord>) -> Result<Vec<Delivery>, SinkError> {
        if let Some(reason) = self.fail.lock().unwrap().clone() {
            return Err(SinkError {
                failed: records.len(),
                total: records.len(),
                reason,
            });
        }
        let mut held = self.records.lock().unwrap();
        let start = held.len() as i64;
        let n = records.len();
        held.extend(records);
        Ok((0..n as i64)
            .map(|i| Delivery {
                partition: 0,
                offset: start + i,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With TLS the built-in roots go to librdkafka as their hashed directory; without TLS, or
    /// with the system's store, librdkafka is given no roots.
    #[tokio::test]
    async fn librdkafka_takes_the_built_in_roots() {
        for protocol in [SecurityProtocol::Ssl, SecurityProtocol::SaslSslIam] {
            let sink = KafkaSink::new(
                "127.0.0.1:9",
                "t",
                protocol,
                Duration::from_secs(1),
                TrustStore::Aws,
                None,
            )
            .unwrap_or_else(|e| panic!("{protocol:?}: {e}"));
            let dir = sink
                .config
                .get("ssl.ca.location")
                .expect("a roots directory");
            let expected = crate::kafka_roots::aws_roots_dir(&std::env::temp_dir()).unwrap();
            assert_eq!(std::path::Path::new(dir), expected);
            assert_eq!(sink.config.get("ssl.ca.pem"), None);
        }
        for (protocol, trust) in [
            (SecurityProtocol::Ssl, TrustStore::System),
            (SecurityProtocol::Plaintext, TrustStore::Aws),
        ] {
            let sink = KafkaSink::new(
                "127.0.0.1:9",
                "t",
                protocol,
                Duration::from_secs(1),
                trust,
                None,
            )
            .unwrap();
            assert_eq!(
                sink.config.get("ssl.ca.pem"),
                None,
                "{protocol:?} {trust:?}"
            );
            assert_eq!(
                sink.config.get("ssl.ca.location"),
                None,
                "{protocol:?} {trust:?}"
            );
        }
    }

    /// Where no directory can be made, the roots go as PEM text, which librdkafka parses when
    /// the client is created (so a PEM it cannot read fails there, next test).
    #[tokio::test]
    async fn without_a_roots_directory_the_roots_go_as_pem() {
        let file = std::env::temp_dir().join(format!("not-a-directory-{}", std::process::id()));
        std::fs::write(&file, "").unwrap();
        let roots = librdkafka_roots(TrustStore::Aws, &file);
        std::fs::remove_file(&file).unwrap();
        let (key, value) = roots.expect("roots");
        assert_eq!(key, "ssl.ca.pem");
        assert_eq!(value, sensor_shared::aws::AWS_ROOTS_PEM);
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", "127.0.0.1:9")
            .set("security.protocol", "ssl")
            .set(key, value);
        assert!(KafkaSink::create(&c, None).is_ok());
        assert_eq!(librdkafka_roots(TrustStore::System, &file), None);
    }

    /// A producer whose epoch the broker refuses never delivers again: the sink replaces it and
    /// the next batch goes out on the new one. On a one-thread runtime, as in the function, so the
    /// old client, destroyed off this thread, cannot stall it.
    #[tokio::test]
    async fn a_producer_the_broker_refuses_is_replaced() {
        use rdkafka::mocking::MockCluster;
        use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
        let cluster = MockCluster::new(1).unwrap();
        cluster.create_topic("t", 1, 1).unwrap();
        let sink = KafkaSink::new(
            &cluster.bootstrap_servers(),
            "t",
            SecurityProtocol::Plaintext,
            Duration::from_secs(5),
            TrustStore::Aws,
            None,
        )
        .unwrap();
        let record = OutRecord {
            key: "k".into(),
            payload: b"v".to_vec(),
            headers: vec![],
        };
        let first = sink
            .send_all(vec![record.clone()])
            .await
            .expect("delivered");
        let used = sink.current();
        cluster.request_errors(
            RDKafkaApiKey::Produce,
            &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH],
        );
        let err = sink.send_all(vec![record.clone()]).await.unwrap_err();
        assert!(err.reason.contains("epoch"), "{err}");
        assert!(
            !Arc::ptr_eq(&used, &sink.current()),
            "not replaced after: {err}"
        );
        drop(used);
        let after = sink
            .send_all(vec![record])
            .await
            .expect("the new producer delivers");
        assert!(
            after[0].offset > first[0].offset,
            "{first:?} then {after:?}"
        );
    }

    #[tokio::test]
    async fn a_pem_librdkafka_cannot_read_fails_at_creation() {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", "127.0.0.1:9")
            .set("security.protocol", "ssl")
            .set(
                "ssl.ca.pem",
                "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n",
            );
        assert!(KafkaSink::create(&c, None).is_err());
    }

    /// A token refresh as librdkafka makes it (on a thread of its own): the URL the token
    /// encodes (base64url) and when it expires.
    async fn refreshed_token(ctx: MskContext) -> (String, i64) {
        use base64::Engine;
        let token = tokio::task::spawn_blocking(move || {
            ctx.generate_oauth_token(None).map_err(|e| e.to_string())
        })
        .await
        .unwrap()
        .expect("a token");
        let url = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&token.token)
            .expect("base64url");
        (String::from_utf8(url).unwrap(), token.lifetime_ms)
    }

    /// The token is the MSK IAM one (a presigned `kafka-cluster:Connect` URL, base64url),
    /// signed with the credentials of the configuration it is given: no configuration of its own.
    #[tokio::test(flavor = "multi_thread")]
    async fn iam_tokens_are_signed_with_the_functions_credentials() {
        use aws_credential_types::Credentials;
        let config = aws_config::SdkConfig::builder()
            .region(aws_config::Region::new("eu-west-1"))
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                "AKIDFUNCTIONROLE",
                "secret",
                Some("session".into()),
                None,
                "test",
            )))
            .build();
        let signer = IamSigner::from_config(&config).expect("region and credentials");
        let ctx = MskContext {
            signer: Some(signer),
            runtime: Some(tokio::runtime::Handle::current()),
        };
        let before_ms = chrono::Utc::now().timestamp_millis();
        let (url, lifetime_ms) = refreshed_token(ctx).await;
        assert!(
            url.starts_with("https://kafka.eu-west-1.amazonaws.com/?"),
            "{url}"
        );
        assert!(url.contains("Action=kafka-cluster%3AConnect"), "{url}");
        assert!(
            url.contains("X-Amz-Credential=AKIDFUNCTIONROLE%2F"),
            "{url}"
        );
        assert!(
            url.contains("%2Feu-west-1%2Fkafka-cluster%2Faws4_request"),
            "{url}"
        );
        assert!(url.contains("X-Amz-Security-Token=session"), "{url}");
        assert!(lifetime_ms > before_ms, "expires in the future");

        let none = IamSigner::from_config(&aws_config::SdkConfig::builder().build());
        assert!(none.is_none(), "no region, no signer");
        let unsigned = MskContext {
            signer: None,
            runtime: Some(tokio::runtime::Handle::current()),
        };
        let Err(err) = unsigned.generate_oauth_token(None) else {
            panic!("signed without a signer");
        };
        let err = err.to_string();
        assert!(err.contains("region and credentials"), "{err}");
    }

    /// The function runs on a one-thread runtime. A token refresh (on librdkafka's thread) whose
    /// credentials provider needs that runtime's drivers (here a timer) still completes, because
    /// the runtime's thread is free to drive them.
    #[tokio::test]
    async fn a_token_refresh_completes_on_a_one_thread_runtime() {
        use aws_credential_types::provider::{future, ProvideCredentials};
        use aws_credential_types::Credentials;
        #[derive(Debug)]
        struct Slow;
        impl ProvideCredentials for Slow {
            fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
            where
                Self: 'a,
            {
                future::ProvideCredentials::new(async {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    Ok(Credentials::new(
                        "AKIDSLOWPROVIDER",
                        "secret",
                        None,
                        None,
                        "slow",
                    ))
                })
            }
        }
        assert_eq!(
            tokio::runtime::Handle::current().runtime_flavor(),
            tokio::runtime::RuntimeFlavor::CurrentThread
        );
        let ctx = MskContext {
            signer: Some(IamSigner {
                region: aws_config::Region::new("eu-west-1"),
                credentials: SharedCredentialsProvider::new(Slow),
            }),
            runtime: Some(tokio::runtime::Handle::current()),
        };
        let (url, _) = refreshed_token(ctx).await;
        assert!(
            url.contains("X-Amz-Credential=AKIDSLOWPROVIDER%2F"),
            "{url}"
        );
    }
}
