//! Configuration from environment variables, read and validated once at cold start.

use std::time::Duration;

use sensor_shared::aws::TrustStore;
use thiserror::Error;

/// The consumer's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The schema reader role: the producer account's role that may read its schemas.
    pub schema_reader_role_arn: String,
    pub schema_reader_external_id: Option<String>,
    /// Region of the producer's registry (defaults to the function's region).
    pub producer_region: Option<String>,
    pub readings_table: String,
    /// Per-device windowed aggregates (PK `deviceId` S, SK `windowStart` N).
    pub aggregates_table: String,
    /// The aggregates' window length.
    pub aggregate_window: Duration,
    pub dead_letter_queue_url: String,
    pub schema_cache_capacity: usize,
    /// Cap on an inflated zlib body.
    pub max_inflated_bytes: usize,
    pub session_length: Duration,
    /// Roots TLS connections trust (`TLS_TRUST_STORE`: `aws`, the default, or `system`).
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
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |k: &str| {
            get(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let number =
            |var: &'static str, default: usize, min: usize| -> Result<usize, ConfigError> {
                match get(var) {
                    None => Ok(default),
                    Some(v) => {
                        v.parse::<usize>()
                            .ok()
                            .filter(|n| *n >= min)
                            .ok_or(ConfigError::Invalid {
                                var,
                                reason: format!("{v:?} is not a number >= {min}"),
                            })
                    }
                }
            };
        let schema_reader_role_arn =
            get("SCHEMA_READER_ROLE_ARN").ok_or(ConfigError::Missing("SCHEMA_READER_ROLE_ARN"))?;
        if !schema_reader_role_arn.starts_with("arn:") || !schema_reader_role_arn.contains(":role/")
        {
            return Err(ConfigError::Invalid {
                var: "SCHEMA_READER_ROLE_ARN",
                reason: format!("{schema_reader_role_arn:?} is not an IAM role ARN"),
            });
        }
        let trust_store = TrustStore::parse(get(TrustStore::VAR).as_deref()).map_err(|reason| {
            ConfigError::Invalid {
                var: TrustStore::VAR,
                reason,
            }
        })?;
        Ok(Config {
            schema_reader_role_arn,
            schema_reader_external_id: get("SCHEMA_READER_EXTERNAL_ID"),
            producer_region: get("PRODUCER_REGION"),
            readings_table: get("READINGS_TABLE").ok_or(ConfigError::Missing("READINGS_TABLE"))?,
            aggregates_table: get("AGGREGATES_TABLE")
                .ok_or(ConfigError::Missing("AGGREGATES_TABLE"))?,
            aggregate_window: Duration::from_secs(number(
                "AGGREGATE_WINDOW_SECONDS",
                crate::aggregate::DEFAULT_WINDOW_SECONDS as usize,
                1,
            )? as u64),
            dead_letter_queue_url: get("DEAD_LETTER_QUEUE_URL")
                .ok_or(ConfigError::Missing("DEAD_LETTER_QUEUE_URL"))?,
            schema_cache_capacity: number("SCHEMA_CACHE_CAPACITY", 1000, 1)?,
            max_inflated_bytes: number("MAX_INFLATED_BYTES", 4 * 1024 * 1024, 1024)?,
            session_length: Duration::from_secs(
                number("SCHEMA_READER_SESSION_SECONDS", 3600, 900)? as u64,
            ),
            trust_store,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let m: HashMap<_, _> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| m.get(k).cloned())
    }

    #[test]
    fn trust_store() {
        let ok = [
            ("SCHEMA_READER_ROLE_ARN", "arn:aws:iam::111111111111:role/r"),
            ("READINGS_TABLE", "t"),
            ("AGGREGATES_TABLE", "a"),
            ("DEAD_LETTER_QUEUE_URL", "http://q"),
        ];
        assert_eq!(cfg(&ok).unwrap().trust_store, TrustStore::Aws);
        let mut with = ok.to_vec();
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
    fn reads_and_validates() {
        let ok = [
            (
                "SCHEMA_READER_ROLE_ARN",
                "arn:aws:iam::111111111111:role/reader",
            ),
            ("SCHEMA_READER_EXTERNAL_ID", "x"),
            ("READINGS_TABLE", "t"),
            ("AGGREGATES_TABLE", "a"),
            ("DEAD_LETTER_QUEUE_URL", "http://q"),
        ];
        let c = cfg(&ok).unwrap();
        assert_eq!(c.schema_cache_capacity, 1000);
        assert_eq!(c.aggregate_window, Duration::from_secs(60));
        let mut with = ok.to_vec();
        with.push(("AGGREGATE_WINDOW_SECONDS", "300"));
        assert_eq!(
            cfg(&with).unwrap().aggregate_window,
            Duration::from_secs(300)
        );
        with.push(("AGGREGATE_WINDOW_SECONDS", "0"));
        let mut zero = ok.to_vec();
        zero.push(("AGGREGATE_WINDOW_SECONDS", "0"));
        assert!(matches!(
            cfg(&zero),
            Err(ConfigError::Invalid {
                var: "AGGREGATE_WINDOW_SECONDS",
                ..
            })
        ));
        let no_table: Vec<_> = ok
            .iter()
            .filter(|(k, _)| *k != "AGGREGATES_TABLE")
            .copied()
            .collect();
        assert_eq!(
            cfg(&no_table),
            Err(ConfigError::Missing("AGGREGATES_TABLE"))
        );
        assert_eq!(c.schema_reader_external_id.as_deref(), Some("x"));
        assert_eq!(
            cfg(&ok[1..]),
            Err(ConfigError::Missing("SCHEMA_READER_ROLE_ARN"))
        );
        let mut bad = ok.to_vec();
        bad[0] = ("SCHEMA_READER_ROLE_ARN", "reader");
        assert!(matches!(cfg(&bad), Err(ConfigError::Invalid { .. })));
        let mut bad = ok.to_vec();
        bad.push(("SCHEMA_CACHE_CAPACITY", "0"));
        assert!(matches!(cfg(&bad), Err(ConfigError::Invalid { .. })));
        let mut longer = ok.to_vec();
        longer.push(("SCHEMA_READER_SESSION_SECONDS", "1800"));
        assert_eq!(
            cfg(&longer).unwrap().session_length,
            Duration::from_secs(1800)
        );
        let mut short = ok.to_vec();
        short.push(("SCHEMA_READER_SESSION_SECONDS", "600"));
        assert!(matches!(
            cfg(&short),
            Err(ConfigError::Invalid {
                var: "SCHEMA_READER_SESSION_SECONDS",
                ..
            })
        ));
    }
}
