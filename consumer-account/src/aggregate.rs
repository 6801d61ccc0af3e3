//! Windowed per-device aggregates: for each (deviceId, window) a batch touches, the count, the
//! first and last reading timestamps and, for every numeric field, its count, min, max, sum and
//! average — kept exact under redelivery and concurrent batches (ARCHITECTURE.md, "Aggregates").
//!
//! An aggregate carries, per Kafka topic-partition, the highest offset it has counted (its
//! watermark). The event source mapping hands a partition's records over in offset order and
//! retries a failed batch whole, so every reading of a partition at or below the watermark has
//! been counted: a redelivered reading is recognised by its offset and skipped. Each batch reads
//! the windows it touches (consistent reads), adds what they have not counted, and writes each
//! window once with a condition on the version it read; a concurrent writer (another partition's
//! batch) makes the condition fail, and the window is read and merged again.
//!
//! Numbers are decimals, as DynamoDB holds them: a field that is a long in one schema version
//! and a double in the next aggregates as one number, sums do not depend on the order readings
//! arrive in, and every value is kept to DynamoDB's 38 significant digits (rounded half to even
//! past them).

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::num::NonZeroU64;
use std::str::FromStr;
use std::sync::Mutex;

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use bigdecimal::{BigDecimal, RoundingMode};
use futures::StreamExt;
use sensor_shared::aws::{classify, SdkFailure};
use sensor_shared::failure::FailureKind;
use sensor_shared::item::{Item, ATTR_OFFSET, ATTR_PARTITION, ATTR_READING_ID, ATTR_TOPIC};
use sensor_shared::schema::{DEVICE_ID, TIMESTAMP};
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};

use crate::store::{Attributes, Backoff, StoreError, MAX_IN_FLIGHT};

/// The default window length (`AGGREGATE_WINDOW_SECONDS`).
pub const DEFAULT_WINDOW_SECONDS: u64 = 60;
/// DynamoDB's limit on keys in one BatchGetItem.
pub const MAX_BATCH_GET: usize = 100;
/// DynamoDB's precision: significant digits of a number.
pub const MAX_DIGITS: u64 = 38;

/// Attribute names of an aggregate item.
pub const ATTR_WINDOW_START: &str = "windowStart";
pub const ATTR_WINDOW_END: &str = "windowEnd";
pub const ATTR_COUNT: &str = "count";
pub const ATTR_FIRST_TIMESTAMP: &str = "firstTimestamp";
pub const ATTR_LAST_TIMESTAMP: &str = "lastTimestamp";
pub const ATTR_FIELDS: &str = "fields";
pub const ATTR_WATERMARKS: &str = "_offsets";
pub const ATTR_VERSION: &str = "_version";

/// Numeric attributes of a stored reading that are not its own fields.
const NOT_FIELDS: [&str; 3] = [TIMESTAMP, ATTR_PARTITION, ATTR_OFFSET];

/// An aggregate's key: the device and the window's start (epoch milliseconds).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WindowKey {
    pub device_id: String,
    pub window_start: i64,
}

/// What an aggregate needs of one stored reading.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    pub device_id: String,
    /// Epoch milliseconds (the time in the reading's sort key).
    pub timestamp_ms: i64,
    /// `<topic>#<partition>`: the watermark it counts against.
    pub partition: String,
    pub offset: i64,
    /// The reading's top-level numeric fields.
    pub fields: Vec<(String, BigDecimal)>,
}

/// One numeric field over a window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldStats {
    /// Readings of the window that have the field as a number.
    pub count: u64,
    pub min: BigDecimal,
    pub max: BigDecimal,
    /// `None` once the sum has left DynamoDB's range (a magnitude of 1e126 or more).
    pub sum: Option<BigDecimal>,
}

impl FieldStats {
    fn new(v: &BigDecimal) -> Self {
        FieldStats {
            count: 1,
            min: v.clone(),
            max: v.clone(),
            sum: Some(v.clone()),
        }
    }

    fn add(&mut self, v: &BigDecimal) {
        self.count += 1;
        if *v < self.min {
            self.min = v.clone();
        }
        if *v > self.max {
            self.max = v.clone();
        }
        self.sum = self.sum.take().and_then(|s| storable(&(s + v)));
    }

    /// `sum / count`, to DynamoDB's precision.
    pub fn avg(&self) -> Option<BigDecimal> {
        let sum = self.sum.as_ref()?;
        storable(&(sum / BigDecimal::from(self.count)))
    }
}

/// `v` rounded to DynamoDB's 38 digits; magnitudes below 1e-130 are 0 (as readings store them),
/// `None` at 1e126 or more, which DynamoDB cannot hold.
pub fn storable(v: &BigDecimal) -> Option<BigDecimal> {
    let v = v.normalized();
    if v == 0 {
        return Some(BigDecimal::from(0));
    }
    let v = if v.digits() > MAX_DIGITS {
        v.with_precision_round(NonZeroU64::new(MAX_DIGITS).unwrap(), RoundingMode::HalfEven)
            .normalized()
    } else {
        v
    };
    // The decimal exponent of the leading digit.
    let (_, scale) = v.as_bigint_and_exponent();
    let exponent = v.digits() as i64 - 1 - scale;
    if exponent >= 126 {
        None
    } else if exponent < -130 {
        Some(BigDecimal::from(0))
    } else {
        Some(v)
    }
}

/// The aggregate of one device over one window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aggregate {
    pub key: WindowKey,
    pub window_end: i64,
    pub count: u64,
    pub first_timestamp: i64,
    pub last_timestamp: i64,
    pub fields: BTreeMap<String, FieldStats>,
    /// Highest offset counted, by `<topic>#<partition>`.
    pub watermarks: BTreeMap<String, i64>,
    /// Incremented by every write; what the conditional write checks. 0: not stored yet.
    pub version: u64,
}

impl Aggregate {
    /// An empty aggregate of `key`'s window.
    pub fn empty(key: WindowKey, window_ms: i64) -> Self {
        Aggregate {
            window_end: key.window_start + window_ms,
            key,
            count: 0,
            first_timestamp: i64::MAX,
            last_timestamp: i64::MIN,
            fields: BTreeMap::new(),
            watermarks: BTreeMap::new(),
            version: 0,
        }
    }

    /// Counts the readings past their partition's watermark (the others were counted before);
    /// `readings` are in offset order within each partition. Returns how many it counted.
    pub fn add(&mut self, readings: &[Reading]) -> usize {
        let mut added = 0;
        for r in readings {
            if self
                .watermarks
                .get(&r.partition)
                .is_some_and(|w| r.offset <= *w)
            {
                continue;
            }
            self.watermarks.insert(r.partition.clone(), r.offset);
            self.count += 1;
            self.first_timestamp = self.first_timestamp.min(r.timestamp_ms);
            self.last_timestamp = self.last_timestamp.max(r.timestamp_ms);
            for (name, v) in &r.fields {
                match self.fields.get_mut(name) {
                    Some(s) => s.add(v),
                    None => {
                        self.fields.insert(name.clone(), FieldStats::new(v));
                    }
                }
            }
            added += 1;
        }
        added
    }

    /// The item stored for this aggregate.
    pub fn to_attributes(&self) -> Attributes {
        let n = |v: i64| AttributeValue::N(v.to_string());
        let d = |v: &BigDecimal| AttributeValue::N(v.to_string());
        let fields = self
            .fields
            .iter()
            .map(|(name, s)| {
                let mut m = HashMap::from([
                    ("count".to_string(), AttributeValue::N(s.count.to_string())),
                    ("min".to_string(), d(&s.min)),
                    ("max".to_string(), d(&s.max)),
                ]);
                if let (Some(sum), Some(avg)) = (&s.sum, s.avg()) {
                    m.insert("sum".into(), d(sum));
                    m.insert("avg".into(), d(&avg));
                }
                (name.clone(), AttributeValue::M(m))
            })
            .collect();
        let watermarks = self
            .watermarks
            .iter()
            .map(|(p, o)| (p.clone(), n(*o)))
            .collect();
        HashMap::from([
            (
                DEVICE_ID.into(),
                AttributeValue::S(self.key.device_id.clone()),
            ),
            (ATTR_WINDOW_START.into(), n(self.key.window_start)),
            (ATTR_WINDOW_END.into(), n(self.window_end)),
            (ATTR_COUNT.into(), AttributeValue::N(self.count.to_string())),
            (ATTR_FIRST_TIMESTAMP.into(), n(self.first_timestamp)),
            (ATTR_LAST_TIMESTAMP.into(), n(self.last_timestamp)),
            (ATTR_FIELDS.into(), AttributeValue::M(fields)),
            (ATTR_WATERMARKS.into(), AttributeValue::M(watermarks)),
            (
                ATTR_VERSION.into(),
                AttributeValue::N(self.version.to_string()),
            ),
        ])
    }

    /// An aggregate read back from its item.
    pub fn from_attributes(item: &Attributes) -> Result<Self, String> {
        fn num<T: FromStr>(item: &Attributes, name: &str) -> Result<T, String> {
            match item.get(name) {
                Some(AttributeValue::N(n)) => n
                    .parse()
                    .map_err(|_| format!("aggregate attribute {name} is not a number: {n}")),
                _ => Err(format!("aggregate item has no {name} (N)")),
            }
        }
        let map = |name: &str| match item.get(name) {
            Some(AttributeValue::M(m)) => Ok(m),
            _ => Err(format!("aggregate item has no {name} (M)")),
        };
        let Some(AttributeValue::S(device_id)) = item.get(DEVICE_ID) else {
            return Err(format!("aggregate item has no {DEVICE_ID} (S)"));
        };
        let mut fields = BTreeMap::new();
        for (name, v) in map(ATTR_FIELDS)? {
            let AttributeValue::M(s) = v else {
                return Err(format!("aggregate field {name} is not a map"));
            };
            let decimal = |k: &str| -> Result<Option<BigDecimal>, String> {
                match s.get(k) {
                    None => Ok(None),
                    Some(AttributeValue::N(n)) => BigDecimal::from_str(n)
                        .map(Some)
                        .map_err(|e| format!("aggregate field {name}.{k}: {e}")),
                    Some(_) => Err(format!("aggregate field {name}.{k} is not a number")),
                }
            };
            let missing = || format!("aggregate field {name} lacks min or max");
            fields.insert(
                name.clone(),
                FieldStats {
                    count: num(s, "count")?,
                    min: decimal("min")?.ok_or_else(missing)?,
                    max: decimal("max")?.ok_or_else(missing)?,
                    sum: decimal("sum")?,
                },
            );
        }
        let watermarks = map(ATTR_WATERMARKS)?
            .iter()
            .map(|(p, o)| match o {
                AttributeValue::N(n) => n
                    .parse()
                    .map(|o| (p.clone(), o))
                    .map_err(|_| format!("watermark {p} is not an offset: {n}")),
                _ => Err(format!("watermark {p} is not a number")),
            })
            .collect::<Result<_, _>>()?;
        Ok(Aggregate {
            key: WindowKey {
                device_id: device_id.clone(),
                window_start: num(item, ATTR_WINDOW_START)?,
            },
            window_end: num(item, ATTR_WINDOW_END)?,
            count: num(item, ATTR_COUNT)?,
            first_timestamp: num(item, ATTR_FIRST_TIMESTAMP)?,
            last_timestamp: num(item, ATTR_LAST_TIMESTAMP)?,
            fields,
            watermarks,
            version: num(item, ATTR_VERSION)?,
        })
    }
}

/// The start of the window holding `timestamp_ms`.
pub fn window_start(timestamp_ms: i64, window_ms: i64) -> i64 {
    timestamp_ms - timestamp_ms.rem_euclid(window_ms)
}

/// What an aggregate needs of a stored reading, read from the item's DynamoDB JSON: the key,
/// the time in the sort key, the Kafka coordinates and every top-level `N` attribute but
/// `timestamp` and the coordinates.
pub fn reading_of(item: &Item) -> Result<Reading, String> {
    let top: TopLevel = serde_json::from_slice(item.json()).map_err(|e| e.to_string())?;
    let missing = |what: &str| format!("stored item has no {what}");
    let reading_id = top.reading_id.ok_or_else(|| missing(ATTR_READING_ID))?;
    let timestamp_ms = reading_id
        .get(..13)
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| format!("{ATTR_READING_ID} does not start with a timestamp"))?;
    let topic = top.topic.ok_or_else(|| missing(ATTR_TOPIC))?;
    let partition = top.partition.ok_or_else(|| missing(ATTR_PARTITION))?;
    Ok(Reading {
        device_id: top.device_id.ok_or_else(|| missing(DEVICE_ID))?,
        timestamp_ms,
        partition: format!("{topic}#{partition}"),
        offset: top
            .offset
            .and_then(|o| o.parse().ok())
            .ok_or_else(|| missing(ATTR_OFFSET))?,
        fields: top.numbers,
    })
}

/// The readings of a batch by the window they fall in, each window's in the batch's order
/// (offset order within a partition).
pub fn by_window(
    items: &[Item],
    window_ms: i64,
) -> Result<BTreeMap<WindowKey, Vec<Reading>>, String> {
    let mut out: BTreeMap<WindowKey, Vec<Reading>> = BTreeMap::new();
    for item in items {
        let r = reading_of(item)?;
        let key = WindowKey {
            device_id: r.device_id.clone(),
            window_start: window_start(r.timestamp_ms, window_ms),
        };
        out.entry(key).or_default().push(r);
    }
    Ok(out)
}

/// The top-level attributes of a stored reading that aggregates read.
#[derive(Default)]
struct TopLevel {
    device_id: Option<String>,
    reading_id: Option<String>,
    topic: Option<String>,
    partition: Option<String>,
    offset: Option<String>,
    numbers: Vec<(String, BigDecimal)>,
}

/// A DynamoDB JSON value: the text of an `S` or `N`, nothing of the other types.
enum Scalar {
    S(String),
    N(String),
    Other,
}

impl<'de> de::Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a DynamoDB attribute value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Scalar, A::Error> {
                let mut out = Scalar::Other;
                while let Some(tag) = m.next_key::<std::borrow::Cow<'de, str>>()? {
                    out = match &*tag {
                        "S" => Scalar::S(m.next_value()?),
                        "N" => Scalar::N(m.next_value()?),
                        _ => {
                            m.next_value::<IgnoredAny>()?;
                            Scalar::Other
                        }
                    };
                }
                Ok(out)
            }
        }
        d.deserialize_map(V)
    }
}

impl<'de> de::Deserialize<'de> for TopLevel {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = TopLevel;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a stored reading")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<TopLevel, A::Error> {
                let mut top = TopLevel::default();
                while let Some(name) = m.next_key::<std::borrow::Cow<'de, str>>()? {
                    let v: Scalar = m.next_value()?;
                    match (&*name, v) {
                        (DEVICE_ID, Scalar::S(s)) => top.device_id = Some(s),
                        (ATTR_READING_ID, Scalar::S(s)) => top.reading_id = Some(s),
                        (ATTR_TOPIC, Scalar::S(s)) => top.topic = Some(s),
                        (ATTR_PARTITION, Scalar::N(n)) => top.partition = Some(n),
                        (ATTR_OFFSET, Scalar::N(n)) => top.offset = Some(n),
                        (name, Scalar::N(n)) if !NOT_FIELDS.contains(&name) => {
                            // Every N the item writer writes parses; should one not, the
                            // field is left out of the aggregate rather than the batch failed.
                            match BigDecimal::from_str(&n) {
                                Ok(v) => top.numbers.push((name.to_string(), v)),
                                Err(e) => {
                                    tracing::warn!(field = %name, number = %n, error = %e, "number left out of the aggregate")
                                }
                            }
                        }
                        _ => {}
                    }
                }
                Ok(top)
            }
        }
        d.deserialize_map(V)
    }
}

/// The outcome of a conditional write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Put {
    Written,
    /// The stored aggregate is no longer at the version the write expected.
    Conflict,
}

/// The aggregates table.
pub trait AggregateStore: Send + Sync {
    /// The stored aggregates of `keys` (at most [`MAX_BATCH_GET`]), read consistently; windows
    /// without one are absent.
    fn get_many(
        &self,
        keys: Vec<WindowKey>,
    ) -> impl Future<Output = Result<Vec<Aggregate>, StoreError>> + Send;

    /// Writes `next` if the stored aggregate is still at version `expected` (0: none stored).
    fn put(
        &self,
        next: &Aggregate,
        expected: u64,
    ) -> impl Future<Output = Result<Put, StoreError>> + Send;
}

/// What [`apply`] did, also when it failed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AggregateStats {
    /// Windows the batch touched.
    pub windows: usize,
    /// Conditional writes that went through.
    pub writes: usize,
    /// Conditional writes refused because another batch wrote the window first (each followed
    /// by a read and a merge again).
    pub conflicts: usize,
    /// Windows that had counted every reading of the batch already (a redelivery): not written.
    pub unchanged: usize,
}

/// Brings the aggregates of `windows` up to date: one read of each window (BatchGetItem, 100
/// at a time), one conditional write of each window that gains readings, at most
/// [`MAX_IN_FLIGHT`] at a time; a conflict reads that window again and merges, up to
/// `backoff.attempts` times. The first failure ends the update (what was written stays correct:
/// the retried batch counts only what is missing).
pub async fn apply<A: AggregateStore>(
    store: &A,
    windows: BTreeMap<WindowKey, Vec<Reading>>,
    window_ms: i64,
    backoff: Backoff,
    stats: &mut AggregateStats,
) -> Result<(), StoreError> {
    stats.windows += windows.len();
    let windows: Vec<(WindowKey, Vec<Reading>)> = windows.into_iter().collect();
    let mut stored: HashMap<WindowKey, Aggregate> = HashMap::with_capacity(windows.len());
    let reads = windows
        .chunks(MAX_BATCH_GET)
        .map(|c| store.get_many(c.iter().map(|(k, _)| k.clone()).collect()));
    let mut reads = futures::stream::iter(reads).buffer_unordered(MAX_IN_FLIGHT);
    while let Some(r) = reads.next().await {
        stored.extend(r?.into_iter().map(|a| (a.key.clone(), a)));
    }
    drop(reads);
    let updates = windows.into_iter().map(|(key, readings)| {
        let current = stored.remove(&key);
        update(store, key, readings, current, window_ms, backoff)
    });
    let mut updates = futures::stream::iter(updates).buffer_unordered(MAX_IN_FLIGHT);
    let mut result = Ok(());
    while let Some(r) = updates.next().await {
        match r {
            Ok(done) => {
                stats.writes += usize::from(done.written);
                stats.unchanged += usize::from(!done.written);
                stats.conflicts += done.conflicts;
            }
            Err((e, conflicts)) => {
                stats.conflicts += conflicts;
                result = Err(e);
                break;
            }
        }
    }
    result
}

struct Updated {
    written: bool,
    conflicts: usize,
}

async fn update<A: AggregateStore>(
    store: &A,
    key: WindowKey,
    readings: Vec<Reading>,
    mut current: Option<Aggregate>,
    window_ms: i64,
    backoff: Backoff,
) -> Result<Updated, (StoreError, usize)> {
    let mut conflicts = 0;
    let mut delay = backoff.first;
    loop {
        let mut next = current
            .clone()
            .unwrap_or_else(|| Aggregate::empty(key.clone(), window_ms));
        if next.add(&readings) == 0 {
            return Ok(Updated {
                written: false,
                conflicts,
            });
        }
        let expected = next.version;
        next.version += 1;
        match store
            .put(&next, expected)
            .await
            .map_err(|e| (e, conflicts))?
        {
            Put::Written => {
                return Ok(Updated {
                    written: true,
                    conflicts,
                })
            }
            Put::Conflict => {
                conflicts += 1;
                if conflicts as u32 >= backoff.attempts {
                    return Err((
                        StoreError::Throttled(format!(
                            "aggregate of {} at {} changed under {conflicts} writes in a row",
                            key.device_id, key.window_start
                        )),
                        conflicts,
                    ));
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(backoff.max);
                current = store
                    .get_many(vec![key.clone()])
                    .await
                    .map_err(|e| (e, conflicts))?
                    .pop();
            }
        }
    }
}

fn store_error(op: &str, f: SdkFailure) -> StoreError {
    let message = format!("aggregates {op}: {}", f.message);
    match f.kind {
        FailureKind::Throttled => StoreError::Throttled(message),
        FailureKind::Unavailable => StoreError::Unavailable(message),
        FailureKind::AccessDenied => StoreError::AccessDenied(message),
        FailureKind::NotFound | FailureKind::AlreadyExists | FailureKind::Invalid => {
            StoreError::Refused(message)
        }
    }
}

/// The aggregates table in DynamoDB (PK `deviceId` S, SK `windowStart` N).
#[derive(Debug, Clone)]
pub struct DynamoAggregates {
    pub client: aws_sdk_dynamodb::Client,
    pub table: String,
    pub backoff: Backoff,
}

impl AggregateStore for DynamoAggregates {
    async fn get_many(&self, keys: Vec<WindowKey>) -> Result<Vec<Aggregate>, StoreError> {
        let mut pending: Vec<Attributes> = keys
            .iter()
            .map(|k| {
                HashMap::from([
                    (
                        DEVICE_ID.to_string(),
                        AttributeValue::S(k.device_id.clone()),
                    ),
                    (
                        ATTR_WINDOW_START.to_string(),
                        AttributeValue::N(k.window_start.to_string()),
                    ),
                ])
            })
            .collect();
        let mut out = Vec::with_capacity(keys.len());
        let mut delay = self.backoff.first;
        let mut attempt = 0;
        while !pending.is_empty() {
            let request = KeysAndAttributes::builder()
                .set_keys(Some(std::mem::take(&mut pending)))
                .consistent_read(true)
                .build()
                .map_err(|e| StoreError::Refused(e.to_string()))?;
            let response = self
                .client
                .batch_get_item()
                .request_items(&self.table, request)
                .send()
                .await
                .map_err(|e| store_error("BatchGetItem", classify("BatchGetItem", &e)))?;
            for item in response
                .responses
                .unwrap_or_default()
                .into_values()
                .flatten()
            {
                out.push(Aggregate::from_attributes(&item).map_err(StoreError::Refused)?);
            }
            pending = response
                .unprocessed_keys
                .unwrap_or_default()
                .into_values()
                .flat_map(|k| k.keys)
                .collect();
            if pending.is_empty() {
                break;
            }
            attempt += 1;
            if attempt >= self.backoff.attempts {
                return Err(StoreError::Throttled(format!(
                    "aggregates BatchGetItem: {} keys still unprocessed after {attempt} attempts",
                    pending.len()
                )));
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(self.backoff.max);
        }
        Ok(out)
    }

    async fn put(&self, next: &Aggregate, expected: u64) -> Result<Put, StoreError> {
        // A new window must not exist yet; a stored one must still be at the version read.
        let (condition, name, values) = if expected == 0 {
            ("attribute_not_exists(#k)", DEVICE_ID, None)
        } else {
            let v = HashMap::from([(":v".to_string(), AttributeValue::N(expected.to_string()))]);
            ("#k = :v", ATTR_VERSION, Some(v))
        };
        let written = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(next.to_attributes()))
            .condition_expression(condition)
            .expression_attribute_names("#k", name)
            .set_expression_attribute_values(values)
            .send()
            .await;
        match written {
            Ok(_) => Ok(Put::Written),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(Put::Conflict)
            }
            Err(e) => Err(store_error("PutItem", classify("PutItem", &e))),
        }
    }
}

/// An in-memory aggregates table that stores items as the real one does (through
/// [`Aggregate::to_attributes`]), with scripted conflicts and failures.
#[derive(Debug, Default)]
pub struct MemoryAggregates {
    pub items: Mutex<BTreeMap<WindowKey, Attributes>>,
    /// Readings another batch adds to a window between this batch's read and its write (as a
    /// concurrent batch of another partition would): one list popped per write to that window,
    /// which then finds a newer version and conflicts.
    pub interleave: Mutex<HashMap<WindowKey, Vec<Vec<Reading>>>>,
    /// Fails the write numbered `.0` (counting from 0) with `.1`.
    pub fail_put: Mutex<Option<(usize, StoreError)>>,
    pub fail_get: Mutex<Option<StoreError>>,
    pub puts: Mutex<usize>,
    pub gets: Mutex<Vec<usize>>,
}

impl MemoryAggregates {
    /// The stored aggregates.
    pub fn all(&self) -> Vec<Aggregate> {
        self.items
            .lock()
            .unwrap()
            .values()
            .map(|a| Aggregate::from_attributes(a).unwrap())
            .collect()
    }
}

impl AggregateStore for MemoryAggregates {
    async fn get_many(&self, keys: Vec<WindowKey>) -> Result<Vec<Aggregate>, StoreError> {
        if let Some(e) = self.fail_get.lock().unwrap().clone() {
            return Err(e);
        }
        if keys.len() > MAX_BATCH_GET {
            return Err(StoreError::Refused(format!(
                "{} keys in one BatchGetItem",
                keys.len()
            )));
        }
        self.gets.lock().unwrap().push(keys.len());
        let items = self.items.lock().unwrap();
        keys.iter()
            .filter_map(|k| items.get(k))
            .map(|a| Aggregate::from_attributes(a).map_err(StoreError::Refused))
            .collect()
    }

    async fn put(&self, next: &Aggregate, expected: u64) -> Result<Put, StoreError> {
        let n = {
            let mut puts = self.puts.lock().unwrap();
            *puts += 1;
            *puts - 1
        };
        if let Some((at, e)) = self.fail_put.lock().unwrap().clone() {
            if at == n {
                return Err(e);
            }
        }
        let mut items = self.items.lock().unwrap();
        let between = self
            .interleave
            .lock()
            .unwrap()
            .get_mut(&next.key)
            .and_then(Vec::pop);
        if let Some(readings) = between {
            let window_ms = next.window_end - next.key.window_start;
            let mut other = match items.get(&next.key) {
                Some(a) => Aggregate::from_attributes(a).map_err(StoreError::Refused)?,
                None => Aggregate::empty(next.key.clone(), window_ms),
            };
            other.add(&readings);
            other.version += 1;
            items.insert(next.key.clone(), other.to_attributes());
        }
        let stored = match items.get(&next.key) {
            Some(a) => {
                Aggregate::from_attributes(a)
                    .map_err(StoreError::Refused)?
                    .version
            }
            None => 0,
        };
        if stored != expected {
            return Ok(Put::Conflict);
        }
        items.insert(next.key.clone(), next.to_attributes());
        Ok(Put::Written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &str) -> BigDecimal {
        BigDecimal::from_str(s).unwrap()
    }

    #[test]
    fn storable_keeps_38_digits_and_dynamodbs_range() {
        let long = "1234567890123456789012345678901234567891";
        assert_eq!(
            storable(&dec(long)).unwrap().to_string(),
            dec("1234567890123456789012345678901234567900").to_string()
        );
        assert_eq!(
            storable(&dec("0.1000")).unwrap(),
            dec("0.1"),
            "trailing zeros go"
        );
        assert_eq!(storable(&dec("1e126")), None);
        assert!(storable(&dec("9.99e125")).is_some());
        assert_eq!(storable(&dec("1e-131")).unwrap(), dec("0"));
        // Half to even at the 38th digit.
        let tie = format!("{}5", "1".repeat(37) + "2");
        assert!(storable(&dec(&tie)).unwrap().to_string().contains("112"));
    }

    #[test]
    fn a_field_that_turns_from_long_to_double_aggregates_as_one_number() {
        let r = |offset, v: &str| Reading {
            device_id: "d".into(),
            timestamp_ms: 1000 + offset,
            partition: "t#0".into(),
            offset,
            fields: vec![("t".into(), dec(v))],
        };
        let mut a = Aggregate::empty(
            WindowKey {
                device_id: "d".into(),
                window_start: 0,
            },
            60_000,
        );
        assert_eq!(a.add(&[r(1, "30"), r(2, "30.5"), r(3, "-0.1")]), 3);
        let t = &a.fields["t"];
        assert_eq!(
            (t.count, &t.min, &t.max, t.sum.as_ref()),
            (3, &dec("-0.1"), &dec("30.5"), Some(&dec("60.4")))
        );
        // 38 significant digits.
        assert_eq!(
            t.avg().unwrap().to_string(),
            format!("20.1{}", "3".repeat(35))
        );
        // Redelivered readings are not counted again; a later one is.
        assert_eq!(a.add(&[r(2, "30.5"), r(3, "-0.1"), r(4, "1")]), 1);
        assert_eq!(
            (a.count, a.first_timestamp, a.last_timestamp),
            (4, 1001, 1004)
        );
        let back = Aggregate::from_attributes(&a.to_attributes()).unwrap();
        assert_eq!(back, a);
    }

    #[test]
    fn a_reading_gives_its_numbers_key_and_coordinates() {
        let json = br#"{"deviceId":{"S":"d"},"timestamp":{"N":"1767225612345"},"t":{"N":"1e125"},"n":{"N":"-0.5"},"s":{"S":"7"},"m":{"M":{"x":{"N":"1"}}},"_readingId":{"S":"1767225612345#topic#2#9"},"_schemaVersionId":{"S":"u"},"_kafkaTopic":{"S":"topic"},"_kafkaPartition":{"N":"2"},"_kafkaOffset":{"N":"9"}}"#;
        let text = std::str::from_utf8(json).unwrap();
        let device = text.find("\"d\"").unwrap() + 1;
        let id = text.find("1767225612345#").unwrap();
        let item = Item::from_parts(json.to_vec(), device..device + 1, id..id + 23);
        let r = reading_of(&item).unwrap();
        assert_eq!(
            r,
            Reading {
                device_id: "d".into(),
                timestamp_ms: 1_767_225_612_345,
                partition: "topic#2".into(),
                offset: 9,
                fields: vec![("t".into(), dec("1e125")), ("n".into(), dec("-0.5"))],
            }
        );
    }

    #[test]
    fn windows_start_on_multiples_of_their_length() {
        assert_eq!(window_start(59_999, 60_000), 0);
        assert_eq!(window_start(60_000, 60_000), 60_000);
        assert_eq!(window_start(1_767_225_612_345, 60_000), 1_767_225_600_000);
    }
}
