//! `redrive` with in-memory adapters: the consumer's own handler, a queue, Kafka records.

use std::sync::Mutex;
use std::time::Duration;

use sensor_consumer::aggregate::MemoryAggregates;
use sensor_consumer::dlq::MemoryDeadLetters;
use sensor_consumer::store::{BatchWriter, MemoryStore};
use sensor_consumer::testing::{self, letter};
use sensor_consumer::{Consumer, Item, StoreError};
use sensor_shared::registry::MemoryRegistry;
use sensor_shared::testing::frame;
use sensor_shared::wire::{self, Compression};
use sensor_shared::Compatibility;
use sensor_tools::dlq::{MemoryQueue, Selection};
use sensor_tools::esm::RawRecord;
use sensor_tools::kafka::MemoryRecords;
use sensor_tools::redrive::{redrive, RedriveOptions, Report};
use serde_json::{json, Value};
use uuid::Uuid;

/// A store that also keeps the order items reached it in, as (partition, offset).
#[derive(Default)]
struct Recorded {
    inner: MemoryStore,
    order: Mutex<Vec<String>>,
}

impl BatchWriter for Recorded {
    async fn batch_write(&self, items: Vec<Item>) -> Result<Vec<Item>, StoreError> {
        self.order.lock().unwrap().extend(
            items
                .iter()
                .map(|i| String::from_utf8_lossy(i.key().1).into_owned()),
        );
        self.inner.batch_write(items).await
    }
}

type TestConsumer = Consumer<MemoryRegistry, Recorded, MemoryDeadLetters, MemoryAggregates>;

fn consumer() -> TestConsumer {
    testing::consumer(
        MemoryRegistry::new(Compatibility::Backward),
        Recorded::default(),
    )
}

/// A reading's Glue frame with a version registered in the consumer's registry.
fn framed(c: &TestConsumer, event: &Value) -> (Vec<u8>, Uuid) {
    frame(c.schemas.source(), event, None, Compression::None)
}

/// The consumer's reason for the value `no`.
fn not_glue() -> String {
    format!(
        "not Glue framing: {}",
        wire::decode(b"no", 1 << 20).unwrap_err()
    )
}

fn reading(ts: i64, t: i64) -> Value {
    json!({"deviceId": "000001", "timestamp": ts, "temperature": t})
}

fn opts(selection: Selection) -> RedriveOptions {
    RedriveOptions {
        selection,
        dry_run: false,
        batch_size: 100,
        hold: Duration::from_secs(30),
    }
}

fn results(r: &Report) -> Vec<(i64, i64, &str)> {
    r.outcomes
        .iter()
        .map(|o| (o.partition, o.offset, o.result))
        .collect()
}

/// The queue after the consumer dead-lettered these records with reasons that no longer hold
/// (a schema version now readable, a record too large for the queue) and with ones that do.
struct Scene {
    consumer: TestConsumer,
    queue: MemoryQueue,
    kafka: MemoryRecords,
}

impl Scene {
    /// `redrive` over the scene's queue and Kafka records with these options.
    async fn redrive(&self, opts: &RedriveOptions) -> Report {
        redrive(&self.consumer, &self.queue, Some(&self.kafka), opts)
            .await
            .unwrap()
    }

    /// The queue's messages, held or not: (message id, body).
    fn messages(&self) -> Vec<(String, String)> {
        let messages = self.queue.messages.lock().unwrap();
        messages
            .iter()
            .map(|m| (m.0.clone(), m.1.clone()))
            .collect()
    }

    /// The queue's message bodies.
    fn bodies(&self) -> Vec<String> {
        self.messages().into_iter().map(|(_, body)| body).collect()
    }
}

fn scene() -> Scene {
    let consumer = consumer();
    let (good_a, id_a) = framed(&consumer, &reading(1_767_225_600_001, 20));
    let (good_b, _) = framed(&consumer, &reading(1_767_225_600_002, 21));
    let (big, id_big) = framed(&consumer, &reading(1_767_225_600_003, 22));
    let mut corrupt = good_a.clone();
    corrupt.truncate(good_a.len() - 1);
    let unknown = format!("schema version {id_a}: not found: no such version");
    let mut omitted = letter(&unknown, 0, 30, &big);
    omitted.key = None;
    omitted.value = None;
    omitted.omitted = Some("left out".into());
    assert_eq!(omitted.schema_version_id, Some(id_big));
    let letters = vec![
        // Listed out of order: redrive goes in partition-offset order.
        letter(&unknown, 2, 7, &good_b),
        letter(&not_glue(), 1, 3, b"no"),
        letter(&unknown, 0, 12, &good_a),
        // The same record dead-lettered twice (a batch retried after its letters were sent).
        letter(&unknown, 0, 12, &good_a),
        // Its reason then was the registry; now the body is found corrupt.
        letter(&unknown, 1, 9, &corrupt),
        omitted,
        letter(
            "key collision: a different record has the same key, at sensor-readings/2/7",
            2,
            7,
            &good_a,
        ),
    ];
    let kafka = MemoryRecords::default();
    kafka.records.lock().unwrap().push(RawRecord {
        topic: "sensor-readings".into(),
        partition: 0,
        offset: 30,
        timestamp_ms: 1_767_225_600_000,
        key: Some(b"000001".to_vec()),
        value: Some(big),
        headers: vec![("trace".into(), vec![1, 2])],
    });
    Scene {
        consumer,
        queue: MemoryQueue::with_letters(&letters),
        kafka,
    }
}

#[tokio::test]
async fn stores_what_now_decodes_and_keeps_what_still_fails_with_its_reason() {
    let s = scene();
    let r = s.redrive(&opts(Selection::default())).await;
    assert_eq!(r.error, None);
    assert_eq!(
        results(&r),
        [
            (0, 12, "stored"),
            (0, 30, "stored"),
            (1, 3, "failing"),
            (1, 9, "failing"),
            (2, 7, "skipped"),
            (2, 7, "stored"),
        ]
    );
    assert_eq!((r.selected, r.stored, r.failing, r.skipped), (7, 3, 2, 1));
    assert_eq!((r.fetched, r.copies_removed), (1, 0));
    // In partition-offset order, each record once.
    let order = s.consumer.store.order.lock().unwrap().clone();
    assert_eq!(
        order,
        [
            "1767225600001#sensor-readings#0#12",
            "1767225600003#sensor-readings#0#30",
            "1767225600002#sensor-readings#2#7",
        ]
    );
    assert_eq!(s.consumer.store.inner.items.lock().unwrap().len(), 3);
    assert_eq!(
        s.kafka.fetches.lock().unwrap().clone(),
        [("sensor-readings".to_string(), 0, 30)]
    );

    // Left in the queue: the record that still fails for the same reason (as it was), the one
    // that fails for another reason now (a new letter), the collision nobody selected.
    assert_eq!(s.queue.held(), 0, "nothing stays hidden");
    let mut left: Vec<(i64, i64, String)> = s
        .queue
        .letters()
        .into_iter()
        .map(|l| (l.partition, l.offset, l.reason))
        .collect();
    left.sort();
    assert_eq!(left.len(), 3, "{left:?}");
    assert_eq!((left[0].0, left[0].1, &left[0].2), (1, 3, &not_glue()));
    assert_eq!((left[1].0, left[1].1), (1, 9));
    assert!(left[1].2.starts_with("corrupt body"), "{}", left[1].2);
    assert!(left[2].2.starts_with("key collision"));
    let outcome = r.outcomes.iter().find(|o| o.offset == 9).unwrap();
    assert_eq!(outcome.reason.as_deref(), Some(left[1].2.as_str()));
    assert!(outcome.previous_reason.starts_with("schema version"));
}

#[tokio::test]
async fn a_second_redrive_stores_nothing_and_changes_nothing() {
    let s = scene();
    let all = opts(Selection::default());
    s.redrive(&all).await;
    let items = s.consumer.store.inner.items.lock().unwrap().clone();
    let calls = s.consumer.store.inner.calls.lock().unwrap().len();
    let bodies = s.bodies();

    let again = s.redrive(&all).await;
    assert_eq!((again.stored, again.failing, again.skipped), (0, 2, 1));
    assert_eq!(*s.consumer.store.inner.items.lock().unwrap(), items);
    assert_eq!(
        s.consumer.store.inner.calls.lock().unwrap().len(),
        calls,
        "no write at all"
    );
    let now = s.bodies();
    assert_eq!(now, bodies, "the letters that still fail stay as they are");
}

#[tokio::test]
async fn the_same_record_twice_is_stored_once_and_both_letters_go() {
    let s = scene();
    let only = Selection {
        partitions: vec![0],
        to_offset: Some(12),
        ..Selection::default()
    };
    let r = s.redrive(&opts(only)).await;
    assert_eq!(results(&r), [(0, 12, "stored")]);
    assert_eq!((r.selected, r.outcomes[0].letters), (2, 2));
    assert_eq!(s.consumer.store.inner.items.lock().unwrap().len(), 1);
    assert_eq!(s.queue.letters().len(), 5);
    assert!(s
        .queue
        .letters()
        .iter()
        .all(|l| (l.partition, l.offset) != (0, 12)));
}

#[tokio::test]
async fn a_dry_run_changes_nothing() {
    let s = scene();
    let before = s.messages();
    let mut o = opts(Selection::default());
    o.dry_run = true;
    let r = s.redrive(&o).await;
    assert_eq!(
        (r.stored, r.failing, r.skipped),
        (3, 2, 1),
        "what a redrive would do"
    );
    let after = s.messages();
    assert_eq!(after, before, "same messages, same ids");
    assert_eq!(s.queue.held(), 0);
}

#[tokio::test]
async fn filters_select_by_reason_and_coordinates() {
    let s = scene();
    let collisions = Selection {
        reasons: vec!["KeyCollision".into()],
        ..Selection::default()
    };
    let r = s.redrive(&opts(collisions)).await;
    assert_eq!(
        results(&r),
        [(2, 7, "stored")],
        "named, a collision is redriven"
    );
    assert_eq!(s.queue.letters().len(), 6);

    let s = scene();
    let p1 = Selection {
        partitions: vec![1],
        reasons: vec!["UnknownSchemaVersion".into()],
        ..Selection::default()
    };
    let r = s.redrive(&opts(p1)).await;
    assert_eq!(results(&r), [(1, 9, "failing")]);
}

#[tokio::test]
async fn letters_without_their_record_wait_for_kafka() {
    let s = scene();
    let r = redrive::<_, _, _, _, MemoryRecords>(
        &s.consumer,
        &s.queue,
        None,
        &opts(Selection::default()),
    )
    .await
    .unwrap();
    let o = r.outcomes.iter().find(|o| o.offset == 30).unwrap();
    assert_eq!(o.result, "skipped");
    assert!(o.note.as_deref().unwrap().contains("--bootstrap-servers"));
    assert!(s
        .queue
        .letters()
        .iter()
        .any(|l| l.offset == 30 && l.omitted.is_some()));

    // Gone from Kafka (retention): the letter stays.
    let s = scene();
    s.kafka.records.lock().unwrap().clear();
    let r = s.redrive(&opts(Selection::default())).await;
    let o = r.outcomes.iter().find(|o| o.offset == 30).unwrap();
    assert_eq!(o.result, "skipped");
    assert!(o
        .note
        .as_deref()
        .unwrap()
        .starts_with("record not in Kafka"));
    assert!(s.queue.letters().iter().any(|l| l.offset == 30));
}

#[tokio::test]
async fn an_outage_deletes_nothing_and_hides_nothing() {
    let s = scene();
    *s.consumer.store.inner.fail.lock().unwrap() =
        Some(StoreError::Unavailable("DynamoDB 503".into()));
    let before = s.queue.letters();
    let r = s.redrive(&opts(Selection::default())).await;
    let e = r.error.as_deref().unwrap();
    assert!(e.starts_with("StoreUnavailable"), "{e}");
    assert_eq!(r.stored, 0);
    assert!(r.outcomes.iter().any(|o| o.result == "error"));
    assert_eq!(s.queue.letters(), before);
    assert_eq!(s.queue.held(), 0);
}

#[tokio::test]
async fn records_too_large_for_the_queue_go_back_without_their_record() {
    let c = consumer();
    let mut huge = vec![3u8, 0];
    huge.extend(Uuid::from_u128(5).as_bytes());
    huge.extend(std::iter::repeat_n(0xffu8, 300 * 1024));
    let mut l = letter("schema version x: not found", 0, 1, &huge);
    l.value = None;
    l.omitted = Some("left out".into());
    let queue = MemoryQueue::with_letters(&[l]);
    let kafka = MemoryRecords::default();
    kafka.records.lock().unwrap().push(RawRecord {
        topic: "sensor-readings".into(),
        partition: 0,
        offset: 1,
        timestamp_ms: 5,
        key: None,
        value: Some(huge),
        headers: Vec::new(),
    });
    let r = redrive(&c, &queue, Some(&kafka), &opts(Selection::default()))
        .await
        .unwrap();
    assert_eq!(results(&r), [(0, 1, "failing")]);
    let left = queue.letters();
    assert_eq!(left.len(), 1);
    assert!(left[0].reason.contains("not found"), "{}", left[0].reason);
    assert!(left[0].omitted.is_some() && left[0].value.is_none());
    assert_eq!(left[0].schema_version_id, Some(Uuid::from_u128(5)));
}
