//! Windowed aggregates through the handler, against in-memory tables with injected conflicts,
//! throttling and failures: every aggregate must equal the one computed from the readings table.

use std::collections::BTreeMap;
use std::str::FromStr;

use aws_lambda_events::kafka::KafkaEvent;
use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use bigdecimal::BigDecimal;
use sensor_consumer::aggregate::{self, Aggregate, MemoryAggregates, WindowKey};
use sensor_consumer::dlq::MemoryDeadLetters;
use sensor_consumer::item::item_from_attributes;
use sensor_consumer::store::MemoryStore;
use sensor_consumer::testing::WINDOW_MS;
use sensor_consumer::{
    metric_lines, testing, BatchStats, Consumer, ConsumerError, Item, StoreError,
};
use sensor_shared::registry::MemoryRegistry;
use sensor_shared::schema::Record;
use sensor_shared::testing::frame;
use sensor_shared::wire::Compression;
use sensor_shared::Compatibility;
use serde_json::{json, Value};

type TestConsumer = Consumer<MemoryRegistry, MemoryStore, MemoryDeadLetters, MemoryAggregates>;

fn consumer() -> TestConsumer {
    testing::consumer(
        MemoryRegistry::new(Compatibility::Backward),
        MemoryStore::default(),
    )
}

/// The Glue frame of `event` (base64) under its inferred schema merged into the latest
/// version, registered as needed.
fn framed(c: &TestConsumer, event: &Value) -> String {
    let reg = c.schemas.source();
    let previous = reg
        .versions()
        .last()
        .map(|v| Record::parse(&v.definition).unwrap());
    let (framed, _) = frame(reg, event, previous.as_ref(), Compression::None);
    base64::engine::general_purpose::STANDARD.encode(framed)
}

/// A Kafka event of `records`: (partition, offset, framed value).
fn event(records: &[(i64, i64, String)]) -> KafkaEvent {
    testing::event(
        records
            .iter()
            .map(|(partition, offset, value)| testing::record(*partition, *offset, value.clone())),
    )
}

/// `n` readings over 3 devices, 3 partitions and several windows; `temperature` a long in the
/// first half and a double in the second (a schema change), `humidity` only in some.
fn readings(c: &TestConsumer, n: i64) -> Vec<(i64, i64, String)> {
    (0..n)
        .map(|i| {
            let partition = i % 3;
            let offset = i / 3;
            let key = window_of(i);
            let mut e = json!({"deviceId": key.device_id, "timestamp": timestamp_of(i)});
            if i < n / 2 {
                e["temperature"] = json!(i % 41 - 10);
            } else {
                e["temperature"] = json!((i % 97) as f64 / 4.0 - 3.3);
            }
            if i % 5 == 0 {
                e["humidity"] = json!(i % 13);
            }
            (partition, offset, framed(c, &e))
        })
        .collect()
}

fn timestamp_of(i: i64) -> i64 {
    1_767_225_600_000 + i * 7_919
}

/// The window of the reading numbered `i` (partition `i % 3`, offset `i / 3`).
fn window_of(i: i64) -> WindowKey {
    WindowKey {
        device_id: format!("dev-{}", (i / 7) % 3),
        window_start: aggregate::window_start(timestamp_of(i), WINDOW_MS),
    }
}

fn dec(s: &str) -> BigDecimal {
    BigDecimal::from_str(s).unwrap()
}

/// The aggregates computed from the readings table, as (count, first, last, per field
/// (count, min, max, sum)).
type Reference = BTreeMap<
    WindowKey,
    (
        u64,
        i64,
        i64,
        BTreeMap<String, (u64, BigDecimal, BigDecimal, BigDecimal)>,
    ),
>;

fn reference(c: &TestConsumer) -> Reference {
    let mut out: Reference = BTreeMap::new();
    for ((device, reading_id), item) in c.store.items.lock().unwrap().iter() {
        let ts: i64 = reading_id[..13].parse().unwrap();
        let key = WindowKey {
            device_id: device.clone(),
            window_start: ts - ts % WINDOW_MS,
        };
        let w = out
            .entry(key)
            .or_insert((0, i64::MAX, i64::MIN, BTreeMap::new()));
        w.0 += 1;
        w.1 = w.1.min(ts);
        w.2 = w.2.max(ts);
        for (name, v) in item {
            let AttributeValue::N(n) = v else { continue };
            if ["timestamp", "_kafkaPartition", "_kafkaOffset"].contains(&name.as_str()) {
                continue;
            }
            let v = dec(n);
            let f =
                w.3.entry(name.clone())
                    .or_insert((0, v.clone(), v.clone(), dec("0")));
            f.0 += 1;
            if v < f.1 {
                f.1 = v.clone();
            }
            if v > f.2 {
                f.2 = v.clone();
            }
            f.3 += v;
        }
    }
    out
}

/// Every stored aggregate equals the reference, and every window has one.
fn assert_exact(c: &TestConsumer) {
    let stored: BTreeMap<WindowKey, Aggregate> = c
        .aggregates
        .all()
        .into_iter()
        .map(|a| (a.key.clone(), a))
        .collect();
    let reference = reference(c);
    assert_eq!(
        stored.keys().collect::<Vec<_>>(),
        reference.keys().collect::<Vec<_>>()
    );
    for (key, (count, first, last, fields)) in reference {
        let a = &stored[&key];
        assert_eq!(
            (a.count, a.first_timestamp, a.last_timestamp),
            (count, first, last),
            "{key:?}"
        );
        assert_eq!(a.window_end, key.window_start + WINDOW_MS);
        assert_eq!(a.fields.len(), fields.len(), "{key:?}");
        for (name, (n, min, max, sum)) in fields {
            let f = &a.fields[&name];
            assert_eq!((f.count, &f.min, &f.max), (n, &min, &max), "{key:?} {name}");
            assert_eq!(f.sum.as_ref(), Some(&sum.normalized()), "{key:?} {name}");
            let avg = (&sum / BigDecimal::from(n))
                .with_precision_round(38.try_into().unwrap(), bigdecimal::RoundingMode::HalfEven);
            assert_eq!(f.avg().unwrap(), avg.normalized(), "{key:?} {name}");
        }
    }
}

#[tokio::test]
async fn a_batch_writes_each_window_once_and_matches_the_readings() {
    let c = consumer();
    let records = readings(&c, 600);
    let s = c.handle(&event(&records)).await.unwrap();
    assert_eq!(s.stored, 600);
    assert_exact(&c);
    let windows = reference(&c).len();
    assert!(windows > 6, "several windows per device: {windows}");
    assert_eq!(s.aggregates_written, windows);
    assert_eq!(
        *c.aggregates.puts.lock().unwrap(),
        windows,
        "one write per window"
    );
    // One BatchGetItem per 100 windows.
    let gets = c.aggregates.gets.lock().unwrap().clone();
    assert_eq!(gets.iter().sum::<usize>(), windows);
    assert!(gets.iter().all(|n| *n <= aggregate::MAX_BATCH_GET));
    // The temperature became a double half way: one field all the same.
    let a = c.aggregates.all();
    assert!(a.iter().all(|a| a.fields.contains_key("temperature")));
    assert!(a
        .iter()
        .any(|a| a.fields["temperature"].min.fractional_digit_count() > 0));
}

#[tokio::test]
async fn a_redelivered_batch_counts_nothing_twice_and_writes_nothing() {
    let c = consumer();
    let e = event(&readings(&c, 300));
    c.handle(&e).await.unwrap();
    let before = c.aggregates.all();
    let puts = *c.aggregates.puts.lock().unwrap();
    let s = c.handle(&e).await.unwrap();
    assert_eq!((s.stored, s.aggregates_written), (300, 0));
    assert_eq!(*c.aggregates.puts.lock().unwrap(), puts);
    assert_eq!(c.aggregates.all(), before);
    assert_exact(&c);
}

#[tokio::test]
async fn a_batch_retried_after_a_partial_failure_counts_each_reading_once() {
    let c = consumer();
    let e = event(&readings(&c, 600));
    // The fourth window's write is throttled: three windows are written, the batch fails.
    *c.aggregates.fail_put.lock().unwrap() = Some((
        3,
        StoreError::Throttled("ProvisionedThroughputExceeded".into()),
    ));
    let err = c.handle(&e).await.unwrap_err();
    assert!(
        matches!(err, ConsumerError::Store(StoreError::Throttled(_))),
        "{err}"
    );
    assert_eq!(err.failure().class, "StoreThrottled");
    assert!(err.is_retryable());
    let partial = c.aggregates.all();
    assert!(!partial.is_empty() && partial.len() < reference(&c).len());
    *c.aggregates.fail_put.lock().unwrap() = None;
    let s = c.handle(&e).await.unwrap();
    assert_eq!(s.aggregates_written, reference(&c).len() - partial.len());
    assert_exact(&c);
}

#[tokio::test]
async fn throttled_reads_fail_the_batch_and_the_retry_is_exact() {
    let c = consumer();
    let e = event(&readings(&c, 200));
    *c.aggregates.fail_get.lock().unwrap() = Some(StoreError::Throttled("slow down".into()));
    let err = c.handle(&e).await.unwrap_err();
    assert_eq!(err.failure().class, "StoreThrottled");
    assert!(c.aggregates.all().is_empty());
    *c.aggregates.fail_get.lock().unwrap() = None;
    c.handle(&e).await.unwrap();
    assert_exact(&c);
}

#[tokio::test]
async fn a_mapping_restarted_from_older_offsets_adds_only_what_is_new() {
    let c = consumer();
    let records = readings(&c, 900);
    // Offsets 0..200 of each partition, then a restart from offset 100 up to 300.
    let part = |from: i64, to: i64| -> Vec<_> {
        records
            .iter()
            .filter(|(_, o, _)| (from..to).contains(o))
            .cloned()
            .collect()
    };
    c.handle(&event(&part(0, 200))).await.unwrap();
    c.handle(&event(&part(100, 300))).await.unwrap();
    assert_exact(&c);
    // And in batches that do not line up with the first ones.
    for from in (0..300).step_by(70) {
        c.handle(&event(&part(from, from + 70))).await.unwrap();
    }
    assert_exact(&c);
}

#[tokio::test]
async fn a_concurrent_write_to_the_same_window_is_merged_not_lost() {
    let c = consumer();
    let records = readings(&c, 300);
    let (p0, others): (Vec<_>, Vec<_>) = records.into_iter().partition(|(p, _, _)| *p == 0);
    // Partitions 1 and 2 are handled by "another batch" whose writes land between this batch's
    // read of each window and its write.
    c.handle(&event(&others)).await.unwrap();
    let stored: Vec<Item> = c
        .store
        .items
        .lock()
        .unwrap()
        .values()
        .map(|a| item_from_attributes(a).unwrap())
        .collect();
    // Windows both batches touch: their write is taken back and replayed between this batch's
    // read and write.
    let ours: std::collections::HashSet<WindowKey> =
        p0.iter().map(|(_, o, _)| window_of(o * 3)).collect();
    let theirs = aggregate::by_window(&stored, WINDOW_MS).unwrap();
    let shared: Vec<_> = theirs
        .into_iter()
        .filter(|(k, _)| ours.contains(k))
        .collect();
    assert!(shared.len() > 10, "{}", shared.len());
    for (k, _) in &shared {
        c.aggregates.items.lock().unwrap().remove(k);
    }
    *c.aggregates.puts.lock().unwrap() = 0;
    *c.aggregates.interleave.lock().unwrap() =
        shared.into_iter().map(|(k, rs)| (k, vec![rs])).collect();
    let mut stats = BatchStats::default();
    let s = c.handle_counted(&event(&p0), &mut stats).await.unwrap();
    assert_exact(&c);
    assert!(stats.aggregates.conflicts > 0, "{stats:?}");
    assert_eq!(stats.aggregates.writes, s.aggregates_written,);
    assert_eq!(
        *c.aggregates.puts.lock().unwrap(),
        stats.aggregates.writes + stats.aggregates.conflicts
    );
    // Metrics name the writes and conflicts.
    let lines = metric_lines("consumer", &s, &stats, Default::default());
    let metrics = sensor_shared::metrics::parse_emf(&lines[0]).unwrap();
    assert_eq!(metrics["AggregateWrites"], json!(stats.aggregates.writes));
    assert_eq!(
        metrics["AggregateConflicts"],
        json!(stats.aggregates.conflicts)
    );
}

#[tokio::test]
async fn a_window_that_keeps_changing_fails_the_batch_as_retryable() {
    let c = consumer();
    let records = readings(&c, 1);
    let e = event(&records);
    let key = WindowKey {
        device_id: "dev-0".into(),
        window_start: aggregate::window_start(1_767_225_600_000, WINDOW_MS),
    };
    // Every write finds another partition's new reading before it.
    let churn = (0..10)
        .map(|o| {
            vec![aggregate::Reading {
                device_id: "dev-0".into(),
                timestamp_ms: 1_767_225_600_000,
                partition: "other#9".into(),
                offset: 10 - o,
                fields: Vec::new(),
            }]
        })
        .collect();
    c.aggregates.interleave.lock().unwrap().insert(key, churn);
    let err = c.handle(&e).await.unwrap_err();
    assert_eq!(err.failure().class, "StoreThrottled");
    assert!(err.to_string().contains("changed under 5 writes"), "{err}");
    // The retry, once the window is quiet, counts the reading with the other batch's.
    c.aggregates.interleave.lock().unwrap().clear();
    c.handle(&e).await.unwrap();
    let a = c.aggregates.all();
    assert_eq!((a.len(), a[0].count), (1, 6));
}
