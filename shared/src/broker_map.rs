//! The broker map that the producer account publishes (Secrets Manager secret) so the consumer
//! account knows how to reach the brokers. Terraform and the local stack write the same shape.

use serde::{Deserialize, Serialize};

/// One broker as the consumer account sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Broker {
    #[serde(default)]
    pub broker_id: Option<i64>,
    /// The broker's host name (resolved in the consumer VPC to its interface endpoint).
    pub endpoint_url: String,
    pub broker_port: u16,
    /// The VPC endpoint service that fronts this broker.
    pub service_name: String,
}

/// The secret's JSON document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerMap {
    pub bootstrap_servers: String,
    #[serde(default = "default_protocol")]
    pub security_protocol: String,
    /// With `SASL_SSL`: `SCRAM-SHA-512` or `AWS_MSK_IAM`, the listener's mechanism (MSK has a
    /// port for each, so the bootstrap list above belongs to one of them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sasl_mechanism: Option<String>,
    #[serde(default)]
    pub topic: Option<String>,
    #[serde(default)]
    pub brokers: Vec<Broker>,
}

fn default_protocol() -> String {
    "SSL".into()
}

/// How a client must connect to the brokers a map names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Plaintext,
    Tls,
    /// SASL/SCRAM-SHA-512 over TLS (credentials in a Secrets Manager secret of the client).
    Scram512,
    /// MSK IAM (SASL/OAUTHBEARER with a signed token) over TLS.
    MskIam,
}

impl BrokerMap {
    /// Parses the secret string, checking that it names at least one broker.
    pub fn parse(secret: &str) -> Result<Self, String> {
        let map: BrokerMap = serde_json::from_str(secret)
            .map_err(|e| format!("broker map secret is not valid: {e}"))?;
        if map.bootstrap_servers.trim().is_empty() && map.brokers.is_empty() {
            return Err("broker map secret names no brokers".into());
        }
        Ok(map)
    }

    /// How to connect, from `security_protocol` and `sasl_mechanism`.
    pub fn access(&self) -> Result<Access, String> {
        let mechanism = self.sasl_mechanism.as_deref().map(str::to_ascii_uppercase);
        match (
            self.security_protocol.to_ascii_uppercase().as_str(),
            mechanism.as_deref(),
        ) {
            ("PLAINTEXT", None) => Ok(Access::Plaintext),
            ("SSL", None) => Ok(Access::Tls),
            ("SASL_SSL", Some("SCRAM-SHA-512")) => Ok(Access::Scram512),
            ("SASL_SSL", Some("AWS_MSK_IAM")) => Ok(Access::MskIam),
            ("SASL_SSL", None) => Err(
                "broker map: security_protocol SASL_SSL needs sasl_mechanism (SCRAM-SHA-512 or AWS_MSK_IAM)"
                    .into(),
            ),
            (p @ ("PLAINTEXT" | "SSL"), Some(m)) => Err(format!(
                "broker map: sasl_mechanism {m} does not go with security_protocol {p}"
            )),
            ("SASL_SSL", Some(m)) => Err(format!("broker map: unknown sasl_mechanism {m}")),
            (p, _) => Err(format!("broker map: unknown security_protocol {p}")),
        }
    }

    /// The bootstrap list: `bootstrap_servers`, or built from the brokers.
    pub fn bootstrap(&self) -> String {
        if !self.bootstrap_servers.trim().is_empty() {
            return self.bootstrap_servers.clone();
        }
        self.brokers
            .iter()
            .map(|b| format!("{}:{}", b.endpoint_url, b.broker_port))
            .collect::<Vec<_>>()
            .join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_contract_shape() {
        let m = BrokerMap::parse(
            r#"{"bootstrap_servers":"","security_protocol":"SSL","topic":"t","brokers":[
            {"broker_id":1,"endpoint_url":"b-1.c.kafka.eu-west-1.amazonaws.com","broker_port":9094,"service_name":"com.amazonaws.vpce.eu-west-1.vpce-svc-1"},
            {"broker_id":2,"endpoint_url":"b-2.c.kafka.eu-west-1.amazonaws.com","broker_port":9094,"service_name":"com.amazonaws.vpce.eu-west-1.vpce-svc-2"}]}"#,
        )
        .unwrap();
        assert_eq!(
            m.bootstrap(),
            "b-1.c.kafka.eu-west-1.amazonaws.com:9094,b-2.c.kafka.eu-west-1.amazonaws.com:9094"
        );
        assert_eq!(m.topic.as_deref(), Some("t"));
        assert_eq!(m.access(), Ok(Access::Tls));
        assert!(BrokerMap::parse(r#"{"bootstrap_servers":""}"#).is_err());
        assert!(BrokerMap::parse("nope").is_err());
    }

    #[test]
    fn access_follows_protocol_and_mechanism() {
        let access = |p: &str, m: Option<&str>| {
            let mut map = BrokerMap::parse(r#"{"bootstrap_servers":"h:1"}"#).unwrap();
            map.security_protocol = p.into();
            map.sasl_mechanism = m.map(Into::into);
            map.access()
        };
        assert_eq!(access("PLAINTEXT", None), Ok(Access::Plaintext));
        assert_eq!(access("ssl", None), Ok(Access::Tls));
        assert_eq!(
            access("SASL_SSL", Some("SCRAM-SHA-512")),
            Ok(Access::Scram512)
        );
        assert_eq!(access("SASL_SSL", Some("aws_msk_iam")), Ok(Access::MskIam));
        for (p, m, needle) in [
            ("SASL_SSL", None, "needs sasl_mechanism"),
            ("SASL_SSL", Some("PLAIN"), "unknown sasl_mechanism PLAIN"),
            ("SSL", Some("AWS_MSK_IAM"), "does not go with"),
            ("SASL_PLAINTEXT", None, "unknown security_protocol"),
        ] {
            let e = access(p, m).unwrap_err();
            assert!(e.contains(needle), "{p} {m:?}: {e}");
        }
        // Written without the field when there is no mechanism, as the local stack writes it.
        let plain =
            BrokerMap::parse(r#"{"bootstrap_servers":"h:1","security_protocol":"PLAINTEXT"}"#)
                .unwrap();
        assert!(!serde_json::to_string(&plain)
            .unwrap()
            .contains("sasl_mechanism"));
    }
}
