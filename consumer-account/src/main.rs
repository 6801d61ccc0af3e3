//! Wiring only: logging, configuration, clients built once per container.

use std::sync::Mutex;

use aws_lambda_events::kafka::KafkaEvent;
use lambda_runtime::{service_fn, Diagnostic, Error, LambdaEvent};
use sensor_consumer::aggregate::DynamoAggregates;
use sensor_consumer::config::Config;
use sensor_consumer::dlq::SqsDeadLetters;
use sensor_consumer::store::DynamoStore;
use sensor_consumer::{metric_lines, Backoff, BatchStats, Consumer};
use sensor_shared::aws::{
    assume_role_config, glue_client, load_base_config, AssumeRole, GlueRegistry,
};
use sensor_shared::registry::{CacheStats, SchemaCache};

#[tokio::main]
async fn main() -> Result<(), Error> {
    sensor_shared::logging::init();

    let config = Config::from_env()?;
    let base = load_base_config(config.trust_store).await;
    let mut role = AssumeRole::new(&config.schema_reader_role_arn, "sensor-consumer-lambda");
    role.external_id = config.schema_reader_external_id.clone();
    role.region = config.producer_region.clone();
    role.session_length = config.session_length;
    let producer_side = assume_role_config(&base, &role).await;
    let registry = GlueRegistry::versions_by_id(glue_client(&producer_side, None));
    let dynamodb = aws_sdk_dynamodb::Client::new(&base);
    let consumer = Consumer {
        schemas: SchemaCache::new(registry, config.schema_cache_capacity),
        store: DynamoStore {
            client: dynamodb.clone(),
            table: config.readings_table.clone(),
        },
        aggregates: DynamoAggregates {
            client: dynamodb,
            table: config.aggregates_table.clone(),
            backoff: Backoff::default(),
        },
        window_ms: config.aggregate_window.as_millis() as i64,
        dead_letters: SqsDeadLetters {
            client: aws_sdk_sqs::Client::new(&base),
            queue_url: config.dead_letter_queue_url.clone(),
        },
        max_inflated: config.max_inflated_bytes,
        backoff: Backoff::default(),
    };
    tracing::info!(table = %config.readings_table, aggregates = %config.aggregates_table, role = %config.schema_reader_role_arn, "consumer ready");
    let consumer = &consumer;
    // The cache's counters at the end of the last invocation: metrics are per invocation.
    let last = &Mutex::new(CacheStats::default());
    lambda_runtime::run(service_fn(move |event: LambdaEvent<KafkaEvent>| async move {
        let mut stats = BatchStats::default();
        let result = consumer.handle_counted(&event.payload, &mut stats).await;
        let cache = {
            let now = consumer.schemas.stats();
            let mut last = last.lock().unwrap();
            let delta = CacheStats {
                hits: now.hits - last.hits,
                fetches: now.fetches - last.fetches,
                ..now
            };
            *last = now;
            delta
        };
        match result {
            Ok(summary) => {
                for line in metric_lines("consumer", &summary, &stats, cache) {
                    println!("{line}");
                }
                tracing::info!(received = summary.received, stored = summary.stored, dead_lettered = summary.dead_lettered, "batch stored");
                Ok(summary)
            }
            Err(e) => {
                let failure = e.failure();
                println!(
                    "{}",
                    sensor_shared::metrics::failure_line("consumer", failure.class, "BatchTime", stats.elapsed)
                );
                tracing::error!(error = %e, error_type = failure.class, retryable = failure.retryable, "batch failed; the event source mapping will retry it");
                Err(Diagnostic::from(e))
            }
        }
    }))
    .await
}
