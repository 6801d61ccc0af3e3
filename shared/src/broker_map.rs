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
    #[serde(default)]
    pub topic: Option<String>,
    #[serde(default)]
    pub brokers: Vec<Broker>,
}

fn default_protocol() -> String {
    "SSL".into()
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
        assert!(BrokerMap::parse(r#"{"bootstrap_servers":""}"#).is_err());
        assert!(BrokerMap::parse("nope").is_err());
    }
}
