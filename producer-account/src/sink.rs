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
        // librdkafka calls this from its own thread, outside the async runtime.
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
    /// certificates are checked against `trust` (`ssl.ca.pem`; librdkafka's default roots for
    /// [`TrustStore::System`]). With SASL/IAM, `signer` signs the tokens.
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
        if let (true, Some(pem)) = (protocol != SecurityProtocol::Plaintext, trust.pem()) {
            c.set("ssl.ca.pem", pem);
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
    /// (delivery errors) say the broker refuses its producer id, epoch or sequence.
    fn replace_if_broken(
        &self,
        used: &Arc<FutureProducer<MskContext>>,
        codes: &[Option<RDKafkaErrorCode>],
    ) {
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
            (None, None) => return,
        };
        let mut slot = self.producer.write().unwrap();
        if !Arc::ptr_eq(&slot, used) {
            return; // another invocation replaced it already
        }
        match Self::create(&self.config, self.signer.clone()) {
            Ok(fresh) => {
                tracing::warn!(error = ?code, reason = %reason, "Kafka producer cannot deliver again; replaced by a new one");
                *slot = Arc::new(fresh);
            }
            Err(e) => {
                tracing::error!(error = %e, "Kafka producer cannot deliver again and cannot be replaced")
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
            self.replace_if_broken(&producer, &codes);
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

    /// librdkafka parses its trust store when the client is created, so a PEM it cannot read
    /// fails here rather than at the first TLS handshake.
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
            assert_eq!(
                sink.config.get("ssl.ca.pem"),
                Some(sensor_shared::aws::AWS_ROOTS_PEM)
            );
        }
        let system = KafkaSink::new(
            "127.0.0.1:9",
            "t",
            SecurityProtocol::Ssl,
            Duration::from_secs(1),
            TrustStore::System,
            None,
        )
        .unwrap();
        assert_eq!(system.config.get("ssl.ca.pem"), None);
        let plain = KafkaSink::new(
            "127.0.0.1:9",
            "t",
            SecurityProtocol::Plaintext,
            Duration::from_secs(1),
            TrustStore::Aws,
            None,
        )
        .unwrap();
        assert_eq!(plain.config.get("ssl.ca.pem"), None);
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

    /// The token is the MSK IAM one (a presigned `kafka-cluster:Connect` URL, base64url),
    /// signed with the credentials of the configuration it is given: no configuration of its own.
    #[tokio::test(flavor = "multi_thread")]
    async fn iam_tokens_are_signed_with_the_functions_credentials() {
        use aws_credential_types::Credentials;
        use base64::Engine;
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
        let token = tokio::task::spawn_blocking(move || {
            ctx.generate_oauth_token(None).map_err(|e| e.to_string())
        })
        .await
        .unwrap()
        .expect("a token");
        let url = String::from_utf8(
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(&token.token)
                .expect("base64url"),
        )
        .unwrap();
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
        assert!(token.lifetime_ms > before_ms, "expires in the future");

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
}
