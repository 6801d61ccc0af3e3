//! Wiring only: tracing, configuration, clients built once per container.

use std::sync::atomic::{AtomicU64, Ordering};

use aws_lambda_events::kafka::KafkaEvent;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use sensor_consumer::config::Config;
use sensor_consumer::dlq::SqsDeadLetters;
use sensor_consumer::store::DynamoStore;
use sensor_consumer::{emf_line, Backoff, Consumer};
use sensor_shared::aws::{assume_role_config, glue_client, load_base_config, AssumeRole};
use sensor_shared::registry::{GlueRegistry, SchemaCache};

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
    let base = load_base_config().await;
    let mut role = AssumeRole::new(&config.producer_role_arn);
    role.external_id = config.producer_role_external_id.clone();
    role.region = config.producer_region.clone();
    role.session_length = config.session_length;
    role.session_name = "sensor-consumer-lambda".into();
    let producer_side = assume_role_config(&base, &role).await;
    let registry = GlueRegistry::versions_by_id(glue_client(&producer_side, None));
    let consumer = Consumer {
        schemas: SchemaCache::new(registry, config.schema_cache_capacity),
        store: DynamoStore {
            client: aws_sdk_dynamodb::Client::new(&base),
            table: config.readings_table.clone(),
        },
        dead_letters: SqsDeadLetters {
            client: aws_sdk_sqs::Client::new(&base),
            queue_url: config.dead_letter_queue_url.clone(),
        },
        max_inflated: config.max_inflated_bytes,
        backoff: Backoff::default(),
    };
    tracing::info!(table = %config.readings_table, role = %config.producer_role_arn, "consumer ready");
    let consumer = &consumer;
    let last_fetches = &AtomicU64::new(0);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<KafkaEvent>| async move {
        match consumer.handle(&event.payload).await {
            Ok(summary) => {
                let mut stats = consumer.schemas.stats();
                let total = stats.fetches;
                stats.fetches = total - last_fetches.swap(total, Ordering::Relaxed);
                println!("{}", emf_line("consumer", &summary, stats));
                tracing::info!(received = summary.received, stored = summary.stored, dead_lettered = summary.dead_lettered, "batch stored");
                Ok(summary)
            }
            Err(e) => {
                tracing::error!(error = %e, "batch failed; the event source mapping will retry it");
                Err(Error::from(e.to_string()))
            }
        }
    }))
    .await
}
