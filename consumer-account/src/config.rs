//! Configuration from environment variables, read and validated once at cold start.

use std::time::Duration;

use sensor_shared::aws::TrustStore;
pub use sensor_shared::config::ConfigError;
use sensor_shared::config::Settings;

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

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let s = Settings::new(get);
        let schema_reader_role_arn = s.required("SCHEMA_READER_ROLE_ARN")?;
        if !schema_reader_role_arn.starts_with("arn:") || !schema_reader_role_arn.contains(":role/")
        {
            return Err(ConfigError::Invalid {
                var: "SCHEMA_READER_ROLE_ARN",
                reason: format!("{schema_reader_role_arn:?} is not an IAM role ARN"),
            });
        }
        Ok(Config {
            schema_reader_role_arn,
            schema_reader_external_id: s.get("SCHEMA_READER_EXTERNAL_ID"),
            producer_region: s.get("PRODUCER_REGION"),
            readings_table: s.required("READINGS_TABLE")?,
            aggregates_table: s.required("AGGREGATES_TABLE")?,
            aggregate_window: Duration::from_secs(s.number(
                "AGGREGATE_WINDOW_SECONDS",
                crate::aggregate::DEFAULT_WINDOW_SECONDS,
                1..,
            )?),
            dead_letter_queue_url: s.required("DEAD_LETTER_QUEUE_URL")?,
            schema_cache_capacity: s.number("SCHEMA_CACHE_CAPACITY", 1000, 1..)?,
            max_inflated_bytes: s.number("MAX_INFLATED_BYTES", 4 * 1024 * 1024, 1024..)?,
            session_length: Duration::from_secs(s.number(
                "SCHEMA_READER_SESSION_SECONDS",
                3600,
                900..,
            )?),
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
        assert_eq!(c.trust_store, TrustStore::Aws);
        assert_eq!(c.schema_cache_capacity, 1000);
        assert_eq!(c.aggregate_window, Duration::from_secs(60));
        let mut with = ok.to_vec();
        with.push(("TLS_TRUST_STORE", "system"));
        assert_eq!(cfg(&with).unwrap().trust_store, TrustStore::System);
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
