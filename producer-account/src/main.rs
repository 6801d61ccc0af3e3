//! Wiring only: logging, configuration, clients built once per container.

use std::sync::Mutex;

use lambda_runtime::{service_fn, Diagnostic, Error, LambdaEvent};
use sensor_producer::config::Config;
use sensor_producer::sink::{IamSigner, KafkaSink};
use sensor_producer::{metric_lines, now_ms, InvocationStats, Producer, ProducerSchemas};
use sensor_shared::aws::{
    glue_client, load_base_config, CallCounter, GlueRegistry, GlueRegistryConfig,
};
use sensor_shared::wire::Compression;
use sensor_shared::InferOptions;
use serde_json::Value;

// One thread: Lambda gives a container one invocation at a time, and the I/O of an invocation
// (Glue calls, Kafka acknowledgements from librdkafka's threads) is waited on, not computed. A
// multi-threaded runtime would start a worker per CPU before the first event (BENCHMARKS.md,
// "Levers, fourth round").
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    sensor_shared::logging::init();

    let config = Config::from_env()?;
    let aws = load_base_config(config.trust_store).await;
    let mut registry_config = GlueRegistryConfig::new(&config.registry_name, &config.schema_name);
    registry_config.compatibility = config.compatibility;
    let glue_calls = CallCounter::new();
    let registry = GlueRegistry::new(glue_client(&aws, Some(&glue_calls)), registry_config);
    let sink = KafkaSink::new(
        &config.bootstrap_servers,
        &config.topic,
        config.security_protocol,
        config.delivery_timeout,
        config.trust_store,
        IamSigner::from_config(&aws),
    )?;
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
        envelope: config.event_envelope,
        clock: now_ms,
    };
    tracing::info!(topic = %config.topic, registry = %config.registry_name, schema = %config.schema_name, "producer ready");
    let producer = &producer;
    let glue_calls = &glue_calls;
    // Glue calls counted up to the end of the last invocation: metrics are per invocation.
    let last = &Mutex::new((0u64, 0u64));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let mut stats = InvocationStats::default();
        let result = producer.handle_counted(event.payload, &mut stats).await;
        let (calls, registered) = {
            let total = glue_calls.service_total("Glue");
            let registered = glue_calls.count("Glue", "RegisterSchemaVersion")
                + glue_calls.count("Glue", "CreateSchema");
            let mut last = last.lock().unwrap();
            let delta = (total - last.0, registered - last.1);
            *last = (total, registered);
            delta
        };
        match result {
            Ok(response) => {
                for line in metric_lines("producer", &stats, calls, registered) {
                    println!("{line}");
                }
                Ok(response)
            }
            Err(e) => {
                let failure = e.failure();
                println!(
                    "{}",
                    sensor_shared::metrics::failure_line("producer", failure.class, "Duration", stats.elapsed)
                );
                tracing::error!(error = %e, error_type = failure.class, retryable = failure.retryable, "invocation failed");
                Err(Diagnostic::from(e))
            }
        }
    }))
    .await
}
