//! Configuration from environment variables, read and validated once at cold start.

use std::time::Duration;

use sensor_shared::aws::TrustStore;
pub use sensor_shared::config::ConfigError;
use sensor_shared::config::Settings;
use sensor_shared::Compatibility;

/// How the function reaches Kafka.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityProtocol {
    /// Local runs only.
    Plaintext,
    /// TLS (MSK's TLS listener).
    Ssl,
    /// TLS with MSK IAM authentication (SASL/OAUTHBEARER).
    SaslSslIam,
}

impl SecurityProtocol {
    fn parse(s: &str) -> Result<Self, String> {
        match s.to_ascii_uppercase().as_str() {
            "PLAINTEXT" => Ok(SecurityProtocol::Plaintext),
            "SSL" | "TLS" => Ok(SecurityProtocol::Ssl),
            "SASL_SSL" | "IAM" => Ok(SecurityProtocol::SaslSslIam),
            other => Err(format!("{other:?} is not PLAINTEXT, SSL or SASL_SSL")),
        }
    }
}

/// The producer's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `KAFKA_BOOTSTRAP_SERVERS`: the brokers' `host:port` list.
    pub bootstrap_servers: String,
    pub topic: String,
    pub security_protocol: SecurityProtocol,
    pub registry_name: String,
    pub schema_name: String,
    pub device_id: String,
    pub compatibility: Compatibility,
    pub zlib: bool,
    /// How long a record may wait for delivery before the invocation fails.
    pub delivery_timeout: Duration,
    /// Largest batch accepted in one invocation.
    pub max_batch: usize,
    /// Whether payloads are publish envelopes (`EVENT_ENVELOPE`).
    pub event_envelope: bool,
    /// Roots TLS connections trust, the SDK's and librdkafka's (`TLS_TRUST_STORE`: `aws`, the
    /// default, or `system`).
    pub trust_store: TrustStore,
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads settings through `get` (the environment, or a map in tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let s = Settings::new(get);
        let bootstrap_servers = s.required("KAFKA_BOOTSTRAP_SERVERS")?;
        Ok(Config {
            bootstrap_servers,
            topic: s
                .get("KAFKA_TOPIC")
                .unwrap_or_else(|| "sensor-readings".into()),
            security_protocol: s.parsed(
                "KAFKA_SECURITY_PROTOCOL",
                SecurityProtocol::Ssl,
                SecurityProtocol::parse,
            )?,
            compatibility: s.parsed("SCHEMA_COMPATIBILITY", Compatibility::Backward, str::parse)?,
            zlib: s.flag("ZLIB_COMPRESSION")?,
            event_envelope: s.flag("EVENT_ENVELOPE")?,
            delivery_timeout: Duration::from_millis(s.number(
                "DELIVERY_TIMEOUT_MS",
                10_000,
                1_000..=300_000,
            )?),
            max_batch: s.number("MAX_BATCH", 10_000, 1..)?,
            device_id: s.required("DEVICE_ID")?,
            registry_name: s.required("REGISTRY_NAME")?,
            schema_name: s.required("SCHEMA_NAME")?,
            trust_store: s.trust_store()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sensor_shared::testing::lookup;

    fn cfg(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_lookup(lookup(vars))
    }

    const BASE: [(&str, &str); 4] = [
        ("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
        ("REGISTRY_NAME", "r"),
        ("SCHEMA_NAME", "s"),
        ("DEVICE_ID", "000001"),
    ];

    #[test]
    fn defaults() {
        let c = cfg(&BASE).unwrap();
        assert_eq!(c.bootstrap_servers, "127.0.0.1:9092");
        assert_eq!(c.topic, "sensor-readings");
        assert_eq!(c.security_protocol, SecurityProtocol::Ssl);
        assert_eq!(c.compatibility, Compatibility::Backward);
        assert!(!c.zlib);
        assert_eq!(c.trust_store, TrustStore::Aws);
    }

    #[test]
    fn settings_and_errors() {
        let mut set = BASE.to_vec();
        set.extend([
            ("KAFKA_SECURITY_PROTOCOL", "sasl_ssl"),
            ("ZLIB_COMPRESSION", "true"),
            ("SCHEMA_COMPATIBILITY", "FULL"),
            ("TLS_TRUST_STORE", "system"),
        ]);
        let c = cfg(&set).unwrap();
        assert_eq!(c.trust_store, TrustStore::System);
        assert_eq!(c.security_protocol, SecurityProtocol::SaslSslIam);
        assert!(c.zlib);
        assert_eq!(c.compatibility, Compatibility::Full);
        assert_eq!(
            cfg(&BASE[1..]),
            Err(ConfigError::Missing("KAFKA_BOOTSTRAP_SERVERS"))
        );
        let mut bad = BASE.to_vec();
        bad.push(("ZLIB_COMPRESSION", "maybe"));
        assert!(matches!(
            cfg(&bad),
            Err(ConfigError::Invalid {
                var: "ZLIB_COMPRESSION",
                ..
            })
        ));
        let mut bad = BASE.to_vec();
        bad.push(("SCHEMA_COMPATIBILITY", "SIDEWAYS"));
        assert!(matches!(
            cfg(&bad),
            Err(ConfigError::Invalid {
                var: "SCHEMA_COMPATIBILITY",
                ..
            })
        ));
    }
}
