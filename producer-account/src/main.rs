//! Wiring only: tracing, configuration, clients built once per container.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use sensor_producer::config::{Brokers, Config, SecurityProtocol};
use sensor_producer::sink::KafkaSink;
use sensor_producer::{now_ms, Producer, ProducerSchemas};
use sensor_shared::aws::{glue_client, load_base_config};
use sensor_shared::broker_map::{Access, BrokerMap};
use sensor_shared::registry::{GlueRegistry, GlueRegistryConfig};
use sensor_shared::wire::Compression;
use sensor_shared::InferOptions;
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_current_span(false)
        .without_time()
        .with_target(false)
        .init();

    let config = Config::from_env()?;
    let aws = load_base_config().await;
    let (bootstrap, protocol) = match &config.brokers {
        Brokers::List(list) => (list.clone(), config.security_protocol),
        Brokers::Secret(arn) => {
            let sm = aws_sdk_secretsmanager::Client::new(&aws);
            let secret = sm.get_secret_value().secret_id(arn).send().await?;
            let map = BrokerMap::parse(secret.secret_string().unwrap_or_default())?;
            let protocol = match map.access()? {
                Access::Plaintext => SecurityProtocol::Plaintext,
                Access::Tls => SecurityProtocol::Ssl,
                Access::MskIam => SecurityProtocol::SaslSslIam,
                Access::Scram512 => {
                    return Err(
                        "the broker map names a SCRAM listener; the producer authenticates \
                        with MSK IAM: give KAFKA_BOOTSTRAP_SERVERS (the IAM bootstrap brokers) \
                        or a broker map with sasl_mechanism AWS_MSK_IAM"
                            .into(),
                    )
                }
            };
            (map.bootstrap(), protocol)
        }
    };
    let mut registry_config = GlueRegistryConfig::new(&config.registry_name, &config.schema_name);
    registry_config.compatibility = config.compatibility;
    let registry = GlueRegistry::new(glue_client(&aws, None), registry_config);
    let sink = KafkaSink::new(&bootstrap, &config.topic, protocol, config.delivery_timeout)?;
    let producer = Producer {
        schemas: ProducerSchemas::new(
            registry,
            InferOptions {
                compatibility: config.compatibility,
                ..InferOptions::default()
            },
        ),
        sink,
        device_id: config.device_id.clone(),
        compression: if config.zlib {
            Compression::Zlib
        } else {
            Compression::None
        },
        max_batch: config.max_batch,
        topic: config.topic.clone(),
        clock: now_ms,
    };
    tracing::info!(topic = %config.topic, registry = %config.registry_name, schema = %config.schema_name, "producer ready");
    let producer = &producer;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        producer.handle(event.payload).await.map_err(|e| {
            tracing::error!(error = %e, retryable = e.is_retryable(), "invocation failed");
            Error::from(e.to_string())
        })
    }))
    .await
}
