//! Local event source mapping: Kafka consumer group → `KafkaEvent` → Lambda Invoke API, offsets
//! committed only after a successful invocation.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use aws_sdk_lambda::primitives::Blob;
use clap::Parser;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::ClientContext;
use rdkafka::{Offset, TopicPartitionList};
use sensor_shared::aws::{load_base_config, AssumeRole, TrustStore};
use sensor_tools::esm::{event_json, next_offsets, Batching, RawRecord};
use sensor_tools::kafka::{bootstrap_from_secret, raw_record};

#[derive(Parser, Debug)]
#[command(about = "Local stand-in for Lambda's self-managed Kafka event source mapping")]
struct Args {
    /// Function to invoke.
    #[arg(long, default_value = "consumer")]
    function: String,
    /// Lambda Invoke API endpoint of the local runtime, e.g. http://127.0.0.1:9000.
    #[arg(long)]
    lambda_endpoint: String,
    /// Bootstrap servers; or read them from the broker-map secret.
    #[arg(long)]
    bootstrap_servers: Option<String>,
    /// Broker-map secret in the producer account, read through the assumed role.
    #[arg(long)]
    broker_secret_arn: Option<String>,
    #[arg(long)]
    role_arn: Option<String>,
    #[arg(long)]
    external_id: Option<String>,
    #[arg(long, default_value = "sensor-readings")]
    topic: String,
    #[arg(long, default_value = "sensor-consumer-esm")]
    group_id: String,
    #[arg(long, default_value_t = 100)]
    batch_size: usize,
    #[arg(long, default_value_t = 500)]
    batching_window_ms: u64,
    /// TRIM_HORIZON (earliest) or LATEST.
    #[arg(long, default_value = "TRIM_HORIZON")]
    starting_position: String,
    /// Longest wait between retries of a failed batch.
    #[arg(long, default_value_t = 2000)]
    max_retry_backoff_ms: u64,
    /// An invocation without an answer after this long failed (Lambda's function timeout; the
    /// consumer's is 120 s). A local runtime whose function process died never answers.
    #[arg(long, default_value_t = 120_000)]
    function_timeout_ms: u64,
    /// Written (atomically, with the assigned partitions) once the group has given this mapping
    /// its partitions: from then on it reads the topic. Whoever waits for the mapping watches
    /// for this file instead of reading logs.
    #[arg(long, value_name = "PATH")]
    ready_file: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    sensor_shared::logging::init();
    let args = Args::parse();
    // A ready file left by an earlier run would say ready before this one is.
    if let Some(path) = &args.ready_file {
        match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(
                    format!("cannot remove the old ready file {}: {e}", path.display()).into(),
                )
            }
            _ => {}
        }
    }
    let base = load_base_config(TrustStore::System).await;

    let bootstrap = match (&args.bootstrap_servers, &args.broker_secret_arn) {
        (Some(b), _) => b.clone(),
        (None, Some(arn)) => {
            let role_arn = args
                .role_arn
                .clone()
                .ok_or("--role-arn is needed to read the broker-map secret")?;
            let mut role = AssumeRole::new(role_arn, "sensor-local-esm");
            role.external_id = args.external_id.clone();
            // A stand-in for Lambda's mapping on the local stack: no TLS, no SASL.
            bootstrap_from_secret(&base, &role, arn).await?
        }
        (None, None) => return Err("give --bootstrap-servers or --broker-secret-arn".into()),
    };
    let reset = match args.starting_position.to_ascii_uppercase().as_str() {
        "TRIM_HORIZON" | "EARLIEST" => "earliest",
        "LATEST" => "latest",
        other => return Err(format!("unknown starting position {other}").into()),
    };
    let consumer: StreamConsumer<GroupLog> = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", &args.group_id)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", reset)
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "500")
        .set("max.poll.interval.ms", "600000")
        .create_with_context(GroupLog {
            ready_file: args.ready_file.clone(),
        })?;
    consumer.subscribe(&[&args.topic])?;

    // The retry loop below is the mapping's retry policy. The SDK must not retry on its own:
    // the local runtime answers a function error with HTTP 500 (Lambda: 200 with
    // X-Amz-Function-Error), which the SDK would silently invoke twice more.
    let lambda = aws_sdk_lambda::Client::from_conf(
        aws_sdk_lambda::config::Builder::from(&base)
            .endpoint_url(&args.lambda_endpoint)
            .retry_config(aws_sdk_lambda::config::retry::RetryConfig::disabled())
            .build(),
    );
    let batching = Batching {
        batch_size: args.batch_size.max(1),
        window: Duration::from_millis(args.batching_window_ms),
    };
    tracing::info!(bootstrap = %bootstrap, topic = %args.topic, group = %args.group_id, "event source mapping polling");

    loop {
        let batch = next_batch(&consumer, batching).await?;
        if batch.is_empty() {
            continue;
        }
        let event = serde_json::to_vec(&event_json(&batch, &bootstrap))?;
        let mut backoff = Duration::from_millis(100);
        loop {
            let timeout = Duration::from_millis(args.function_timeout_ms);
            let outcome = tokio::time::timeout(timeout, invoke(&lambda, &args.function, &event))
                .await
                .unwrap_or_else(|_| Err(format!("no answer within {} ms", timeout.as_millis())));
            match outcome {
                Ok(result) => {
                    let mut tpl = TopicPartitionList::new();
                    for ((topic, partition), next) in next_offsets(&batch) {
                        tpl.add_partition_offset(&topic, partition, Offset::Offset(next))?;
                    }
                    // A failed commit (broker unreachable, rebalance) is not fatal: the records
                    // are delivered again from the last committed offsets after a restart or
                    // rebalance, and writes are idempotent; the next commit covers them otherwise.
                    match consumer.commit(&tpl, CommitMode::Sync) {
                        Ok(()) => {
                            tracing::info!(records = batch.len(), result = %result, "batch processed, offsets committed")
                        }
                        Err(e) => {
                            tracing::warn!(records = batch.len(), result = %result, error = %e, "batch processed, offsets not committed")
                        }
                    }
                    break;
                }
                Err(e) => {
                    tracing::warn!(records = batch.len(), error = %e, retry_in_ms = backoff.as_millis() as u64, "invocation failed; retrying the batch");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_millis(args.max_retry_backoff_ms));
                }
            }
        }
    }
}

/// Up to `batch_size` records, waiting at most `window` after the first one.
async fn next_batch(
    consumer: &StreamConsumer<GroupLog>,
    batching: Batching,
) -> Result<Vec<RawRecord>, rdkafka::error::KafkaError> {
    let mut batch = Vec::new();
    let mut deadline: Option<Instant> = None;
    while batch.len() < batching.batch_size {
        let wait = match deadline {
            Some(d) => d.saturating_duration_since(Instant::now()),
            None => Duration::from_secs(1),
        };
        if deadline.is_some() && wait.is_zero() {
            break;
        }
        match tokio::time::timeout(wait, consumer.recv()).await {
            Err(_) if deadline.is_none() => return Ok(batch),
            Err(_) => break,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "poll error");
                continue;
            }
            Ok(Ok(m)) => {
                batch.push(raw_record(&m));
                deadline.get_or_insert_with(|| Instant::now() + batching.window);
            }
        }
    }
    Ok(batch)
}

async fn invoke(
    lambda: &aws_sdk_lambda::Client,
    function: &str,
    event: &[u8],
) -> Result<String, String> {
    let out = lambda
        .invoke()
        .function_name(function)
        .payload(Blob::new(event))
        .send()
        .await
        .map_err(|e| format!("{}", aws_sdk_lambda::error::DisplayErrorContext(e)))?;
    let body = out
        .payload()
        .map(|b| String::from_utf8_lossy(b.as_ref()).into_owned())
        .unwrap_or_default();
    if out.function_error().is_some() || out.status_code() != 200 {
        return Err(format!("function error: {body}"));
    }
    Ok(body)
}

/// Logs every change of the group's partition assignment and, on each assignment, writes the
/// ready file: until the first one, the mapping has joined no group and reads nothing.
struct GroupLog {
    ready_file: Option<PathBuf>,
}

impl GroupLog {
    fn mark_ready(&self, partitions: &str) {
        let Some(path) = &self.ready_file else {
            return;
        };
        if let Err(e) = sensor_tools::esm::write_ready_file(path, partitions) {
            tracing::error!(path = %path.display(), error = %e, "cannot write the ready file");
        }
    }
}

impl ClientContext for GroupLog {}

impl ConsumerContext for GroupLog {
    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let list = |tpl: &TopicPartitionList| {
            tpl.elements()
                .iter()
                .map(|e| format!("{}-{}", e.topic(), e.partition()))
                .collect::<Vec<_>>()
                .join(",")
        };
        match rebalance {
            Rebalance::Assign(tpl) => {
                let partitions = list(tpl);
                tracing::info!(partitions = %partitions, "partitions assigned");
                self.mark_ready(&partitions);
            }
            Rebalance::Revoke(tpl) => {
                tracing::info!(partitions = %list(tpl), "partitions revoked")
            }
            Rebalance::Error(e) => tracing::warn!(error = %e, "rebalance failed"),
        }
    }
}
