//! Configuration from environment variables, read and validated once at cold start.

use std::time::Duration;

use sensor_shared::aws::TrustStore;
use sensor_shared::Compatibility;
use thiserror::Error;

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

/// A setting is missing or malformed; the function cannot start.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("environment variable {0} is required")]
    Missing(&'static str),
    #[error("environment variable {var}: {reason}")]
    Invalid { var: &'static str, reason: String },
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads settings through `get` (the environment, or a map in tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |k: &str| {
            get(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let bootstrap_servers = get("KAFKA_BOOTSTRAP_SERVERS")
            .ok_or(ConfigError::Missing("KAFKA_BOOTSTRAP_SERVERS"))?;
        let invalid = |var, reason: String| ConfigError::Invalid { var, reason };
        let security_protocol = match get("KAFKA_SECURITY_PROTOCOL") {
            Some(s) => {
                SecurityProtocol::parse(&s).map_err(|r| invalid("KAFKA_SECURITY_PROTOCOL", r))?
            }
            None => SecurityProtocol::Ssl,
        };
        let compatibility = match get("SCHEMA_COMPATIBILITY") {
            Some(s) => s
                .parse::<Compatibility>()
                .map_err(|r| invalid("SCHEMA_COMPATIBILITY", r))?,
            None => Compatibility::Backward,
        };
        let zlib = match get("ZLIB_COMPRESSION").as_deref() {
            None => false,
            Some(v) => parse_bool(v).ok_or_else(|| {
                invalid("ZLIB_COMPRESSION", format!("{v:?} is not true or false"))
            })?,
        };
        let event_envelope = match get("EVENT_ENVELOPE").as_deref() {
            None => false,
            Some(v) => parse_bool(v)
                .ok_or_else(|| invalid("EVENT_ENVELOPE", format!("{v:?} is not true or false")))?,
        };
        let delivery_timeout = match get("DELIVERY_TIMEOUT_MS") {
            None => Duration::from_secs(10),
            Some(v) => Duration::from_millis(
                v.parse::<u64>()
                    .ok()
                    .filter(|ms| (1_000..=300_000).contains(ms))
                    .ok_or_else(|| {
                        invalid("DELIVERY_TIMEOUT_MS", format!("{v:?} is not 1000..=300000"))
                    })?,
            ),
        };
        let max_batch =
            match get("MAX_BATCH") {
                None => 10_000,
                Some(v) => v.parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(|| {
                    invalid("MAX_BATCH", format!("{v:?} is not a positive number"))
                })?,
            };
        let device_id = get("DEVICE_ID").ok_or(ConfigError::Missing("DEVICE_ID"))?;
        let trust_store = TrustStore::parse(get(TrustStore::VAR).as_deref()).map_err(|reason| {
            ConfigError::Invalid {
                var: TrustStore::VAR,
                reason,
            }
        })?;
        Ok(Config {
            bootstrap_servers,
            topic: get("KAFKA_TOPIC").unwrap_or_else(|| "sensor-readings".into()),
            security_protocol,
            registry_name: get("REGISTRY_NAME").ok_or(ConfigError::Missing("REGISTRY_NAME"))?,
            schema_name: get("SCHEMA_NAME").ok_or(ConfigError::Missing("SCHEMA_NAME"))?,
            device_id,
            compatibility,
            zlib,
            delivery_timeout,
            max_batch,
            event_envelope,
            trust_store,
        })
    }
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| m.get(k).cloned())
    }

    const BASE: [(&str, &str); 4] = [
        ("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
        ("REGISTRY_NAME", "r"),
        ("SCHEMA_NAME", "s"),
        ("DEVICE_ID", "000001"),
    ];

    #[test]
    fn trust_store() {
        assert_eq!(cfg(&BASE).unwrap().trust_store, TrustStore::Aws);
        let mut with = BASE.to_vec();
        with.push(("TLS_TRUST_STORE", "system"));
        assert_eq!(cfg(&with).unwrap().trust_store, TrustStore::System);
        with.pop();
        with.push(("TLS_TRUST_STORE", "native"));
        let err = cfg(&with);
        assert!(
            matches!(
                err,
                Err(ConfigError::Invalid {
                    var: "TLS_TRUST_STORE",
                    ..
                })
            ),
            "{err:?}"
        );
    }

    #[test]
    fn defaults() {
        let c = cfg(&BASE).unwrap();
        assert_eq!(c.bootstrap_servers, "127.0.0.1:9092");
        assert_eq!(c.topic, "sensor-readings");
        assert_eq!(c.security_protocol, SecurityProtocol::Ssl);
        assert_eq!(c.compatibility, Compatibility::Backward);
        assert!(!c.zlib);
    }

    #[test]
    fn settings_and_errors() {
        let mut set = BASE.to_vec();
        set.extend([
            ("KAFKA_SECURITY_PROTOCOL", "sasl_ssl"),
            ("ZLIB_COMPRESSION", "true"),
            ("SCHEMA_COMPATIBILITY", "FULL"),
        ]);
        let c = cfg(&set).unwrap();
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
