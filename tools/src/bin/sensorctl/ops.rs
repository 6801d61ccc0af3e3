//! Wiring of the commands that talk to AWS and Kafka: clients and configuration in, the
//! library's functions called, results printed.

use std::time::Duration;

use serde_json::Value;

use sensor_consumer::aggregate::{AggregateStore, DynamoAggregates, MemoryAggregates};
use sensor_consumer::config::Config;
use sensor_consumer::dlq::{DeadLetterError, MemoryDeadLetters};
use sensor_consumer::store::{BatchWriter, DynamoStore, MemoryStore};
use sensor_consumer::{dead_letter_reason, Backoff, Consumer};
use sensor_shared::aws::{
    assume_role_config, glue_client, load_base_config, AssumeRole, GlueRegistry, TrustStore,
};
use sensor_shared::registry::SchemaCache;
use sensor_tools::dlq::{listing, listing_text, schema_version_id, LetterQueue, Queued, SqsQueue};
use sensor_tools::kafka::{bootstrap_from_secret, KafkaRecords};
use sensor_tools::plan::{plan as plan_lines, plan_text, GlueView, PlanOptions};
use sensor_tools::redrive::{redrive, report_text, RedriveOptions};

use crate::{write_stdout, DlqCommand, Failure, Outcome, PlanArgs};

/// How long letters being listed or redriven stay invisible to other readers of the queue.
const HOLD: Duration = Duration::from_secs(300);

fn sqs_queue(base: &aws_config::SdkConfig, queue_url: &str) -> SqsQueue {
    SqsQueue {
        client: aws_sdk_sqs::Client::new(base),
        queue_url: queue_url.to_string(),
    }
}

/// Every message of the queue, read and given back at once (held meanwhile, so that the read
/// reaches the end of the queue).
async fn look(queue: &SqsQueue) -> Result<Vec<Queued>, DeadLetterError> {
    let queued = queue.receive_all(HOLD).await?;
    let receipts: Vec<String> = queued.iter().map(|q| q.receipt.clone()).collect();
    queue.give_back(&receipts).await?;
    Ok(queued)
}

fn print_json(v: &impl serde::Serialize) -> Outcome {
    let text = serde_json::to_string(v).map_err(|e| Failure::from(("writing JSON", e)))?;
    write_stdout(format!("{text}\n").as_bytes())
}

pub async fn dlq(command: DlqCommand) -> Outcome {
    let base = load_base_config(TrustStore::System).await;
    match command {
        DlqCommand::List {
            filters,
            queue_url,
            json,
        } => {
            let selection = filters.selection()?;
            let queued = look(&sqs_queue(&base, &queue_url))
                .await
                .map_err(|e| Failure(e.to_string()))?;
            let l = listing(&queued, &selection);
            if json {
                print_json(&l)
            } else {
                write_stdout(listing_text(&l).as_bytes())
            }
        }
        DlqCommand::Show { filters, queue_url } => {
            let selection = filters.selection()?;
            let mut queued = look(&sqs_queue(&base, &queue_url))
                .await
                .map_err(|e| Failure(e.to_string()))?;
            queued.sort_by_key(|q| {
                q.letter
                    .as_ref()
                    .map(|l| (l.topic.clone(), l.partition, l.offset))
                    .ok()
            });
            let mut out = String::new();
            for q in &queued {
                let Ok(l) = &q.letter else { continue };
                if !selection.matches(l) {
                    continue;
                }
                let mut v = serde_json::to_value(l).map_err(|e| Failure::from(("JSON", e)))?;
                if let Value::Object(o) = &mut v {
                    o.insert("class".into(), dead_letter_reason(&l.reason).into());
                    o.insert(
                        "schemaVersionId".into(),
                        schema_version_id(l).map(|i| i.to_string()).into(),
                    );
                    o.insert("messageId".into(), q.message_id.clone().into());
                }
                out.push_str(&v.to_string());
                out.push('\n');
            }
            write_stdout(out.as_bytes())
        }
        DlqCommand::Redrive {
            filters,
            queue_url,
            dry_run,
            batch_size,
            bootstrap_servers,
            broker_secret_arn,
            json,
        } => {
            let selection = filters.selection()?;
            // The consumer's own configuration, from the variables the function is given.
            let config = Config::from_lookup(|k| match k {
                "DEAD_LETTER_QUEUE_URL" => Some(queue_url.clone()),
                _ => std::env::var(k).ok(),
            })
            .map_err(|e| Failure(format!("the consumer's configuration: {e}")))?;
            let mut role = AssumeRole::new(&config.schema_reader_role_arn, "sensorctl-redrive");
            role.external_id = config.schema_reader_external_id.clone();
            role.region = config.producer_region.clone();
            role.session_length = config.session_length;
            let bootstrap = match (bootstrap_servers, broker_secret_arn) {
                (Some(b), _) => Some(b),
                (None, Some(arn)) => Some(
                    bootstrap_from_secret(&base, &role, &arn)
                        .await
                        .map_err(|e| Failure(format!("the broker-map secret: {e}")))?,
                ),
                (None, None) => None,
            };
            let records = bootstrap.map(|b| KafkaRecords::new(b, Duration::from_secs(30)));
            let opts = RedriveOptions {
                selection,
                dry_run,
                batch_size,
                hold: HOLD,
            };
            let queue = sqs_queue(&base, &config.dead_letter_queue_url);
            let report = if dry_run {
                run_redrive(
                    &base,
                    &config,
                    &role,
                    (MemoryStore::default(), MemoryAggregates::default()),
                    &queue,
                    records.as_ref(),
                    &opts,
                )
                .await
            } else {
                let dynamodb = aws_sdk_dynamodb::Client::new(&base);
                let stores = (
                    DynamoStore {
                        client: dynamodb.clone(),
                        table: config.readings_table.clone(),
                    },
                    DynamoAggregates {
                        client: dynamodb,
                        table: config.aggregates_table.clone(),
                        backoff: Backoff::default(),
                    },
                );
                run_redrive(
                    &base,
                    &config,
                    &role,
                    stores,
                    &queue,
                    records.as_ref(),
                    &opts,
                )
                .await
            }
            .map_err(Failure)?;
            if json {
                print_json(&report)?;
            } else {
                write_stdout(report_text(&report).as_bytes())?;
            }
            match &report.error {
                Some(e) => Err(Failure(format!("redrive stopped: {e}"))),
                None => Ok(()),
            }
        }
    }
}

/// The consumer as its `main` builds it, with dead letters caught in memory, and the redrive.
async fn run_redrive<W: BatchWriter, A: AggregateStore>(
    base: &aws_config::SdkConfig,
    config: &Config,
    role: &AssumeRole,
    (store, aggregates): (W, A),
    queue: &SqsQueue,
    records: Option<&KafkaRecords>,
    opts: &RedriveOptions,
) -> Result<sensor_tools::redrive::Report, String> {
    let producer_side = assume_role_config(base, role).await;
    let consumer = Consumer {
        schemas: SchemaCache::new(
            GlueRegistry::versions_by_id(glue_client(&producer_side, None)),
            config.schema_cache_capacity,
        ),
        store,
        aggregates,
        window_ms: config.aggregate_window.as_millis() as i64,
        dead_letters: MemoryDeadLetters::default(),
        max_inflated: config.max_inflated_bytes,
        backoff: Backoff::default(),
    };
    redrive(&consumer, queue, records, opts).await
}

/// The invocations in `text`: the whole text when it is one JSON value (an event, or an array
/// of events, over several lines or not), else one per non-blank line.
pub fn invocations(text: &str) -> Result<Vec<(usize, Value)>, Failure> {
    if text.trim().is_empty() {
        return Err(Failure(
            "no events (expected a JSON object, or one per line)".into(),
        ));
    }
    if let Ok(v) = serde_json::from_str::<Value>(text) {
        return Ok(vec![(1, v)]);
    }
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l)
                .map(|v| (i + 1, v))
                .map_err(|e| Failure(format!("line {} is not valid JSON: {e}", i + 1)))
        })
        .collect()
}

pub async fn plan(args: PlanArgs) -> Outcome {
    let text = match &args.file {
        Some(p) => crate::read_file(p, "events file")?,
        None => String::from_utf8(crate::read_stdin()?)
            .map_err(|e| Failure(format!("stdin is not UTF-8: {e}")))?,
    };
    let lines = invocations(&text)?;
    let base = load_base_config(TrustStore::System).await;
    let config = match &args.role_arn {
        Some(arn) => {
            let mut role = AssumeRole::new(arn, "sensorctl-plan");
            role.external_id = args.external_id.clone();
            assume_role_config(&base, &role).await
        }
        None => base,
    };
    let view = GlueView::new(
        glue_client(&config, None),
        args.registry_name,
        args.schema_name,
    );
    let options = PlanOptions {
        compatibility: args.compatibility,
        max_batch: args.max_batch,
        device_id: args.device_id,
        topic: args.topic,
        envelope: args.envelope,
    };
    let steps = plan_lines(view, &lines, &options).await.map_err(Failure)?;
    if args.json {
        let mut out = String::new();
        for s in &steps {
            out.push_str(&serde_json::to_string(s).map_err(|e| Failure::from(("JSON", e)))?);
            out.push('\n');
        }
        write_stdout(out.as_bytes())
    } else {
        write_stdout(plan_text(&steps).as_bytes())
    }
}
