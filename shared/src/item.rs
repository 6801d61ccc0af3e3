//! A reading as the DynamoDB item the consumer stores, written straight from the Avro bytes: the
//! codec's walk writes the item as DynamoDB JSON, the very text BatchWriteItem sends, with no
//! tree in between, and adds up its stored size on the way.
//!
//! Every Avro type has one attribute type (README, "Avro types in DynamoDB and in JSON"): string,
//! enum and uuid → S; int, long, float, double, date, times and timestamps → N (the number Avro
//! holds, exact text); decimal → N with its exact scaled digits (S when its type declares more
//! than DynamoDB's 38 digits); boolean → BOOL; bytes and fixed → B (base64 in the JSON); record,
//! map and duration → M; array → L; a union → its branch's value; null → omitted in records and
//! maps, NULL in lists; NaN, ±Infinity and doubles of 1e126 or more → treated as null.
//!
//! Key fields: `deviceId` must be a string; `timestamp` a long, an int or a timestamp type
//! (`timestamp-*`, `local-timestamp-*`), whose value in milliseconds (rounded down) is the
//! time in the sort key. Any other type makes the record poison, with a reason naming it.
//!
//! DynamoDB's limits live here too, so that the producer refuses at its door what the consumer
//! could never store: it writes each event's item with this same writer before it answers.
//!
//! A reading's key is (`deviceId`, `_readingId`), where `_readingId` is
//! `<timestamp: 13 digits of epoch milliseconds>#<topic>#<partition>#<offset>`: readings sort by
//! time within a device, two Kafka records never share an item, and a redelivered record
//! overwrites its own.

use std::collections::HashSet;
use std::ops::Range;

use base64::Engine;
use uuid::Uuid;

use crate::schema::{TimeUnit, DEVICE_ID, TIMESTAMP};
use crate::Visitor;

/// The sort key of a stored reading.
pub const ATTR_READING_ID: &str = "_readingId";
/// Attributes added to every stored reading besides its own fields.
pub const ATTR_SCHEMA_VERSION: &str = "_schemaVersionId";
pub const ATTR_TOPIC: &str = "_kafkaTopic";
pub const ATTR_PARTITION: &str = "_kafkaPartition";
pub const ATTR_OFFSET: &str = "_kafkaOffset";
/// The record's Kafka headers (only on records that have some): `M`, each header name → its
/// value as `S` (UTF-8) or `B` (other bytes); a name the record carries more than once → `L` of
/// its values in order.
pub const ATTR_HEADERS: &str = "_kafkaHeaders";
/// Names a record's own top-level fields may not give a value.
pub const RESERVED_ATTRIBUTES: &[&str] = &[
    ATTR_READING_ID,
    ATTR_SCHEMA_VERSION,
    ATTR_TOPIC,
    ATTR_PARTITION,
    ATTR_OFFSET,
    ATTR_HEADERS,
];

/// A Kafka header: its name and value.
pub type Header<'a> = (&'a str, &'a [u8]);

/// DynamoDB's item size limit.
pub const MAX_ITEM_BYTES: usize = 400 * 1024;
/// DynamoDB's limit on a partition key value (UTF-8 bytes).
pub const MAX_PARTITION_KEY_BYTES: usize = 2048;
/// DynamoDB's limit on a sort key value (UTF-8 bytes).
pub const MAX_SORT_KEY_BYTES: usize = 1024;
/// DynamoDB's nesting limit for maps and lists.
pub const MAX_NESTING: usize = 32;
/// DynamoDB's limit on requests in one BatchWriteItem.
pub const MAX_BATCH_WRITE: usize = 25;
/// The latest timestamp a key can hold: 13 digits of milliseconds (the year 2286).
pub const MAX_TIMESTAMP_MS: i64 = 9_999_999_999_999;
/// Kafka's limit on a topic name, which the sort key carries.
pub const MAX_TOPIC_BYTES: usize = 249;

/// Where a record sits in Kafka.
#[derive(Debug, Clone, Copy)]
pub struct Coordinates<'a> {
    pub topic: &'a str,
    pub partition: i64,
    pub offset: i64,
}

impl<'a> Coordinates<'a> {
    /// The coordinates with the longest text a record of `topic` can get: what the producer
    /// sizes an item with before Kafka has given it a partition and an offset.
    pub fn widest(topic: &'a str) -> Self {
        Coordinates {
            topic,
            partition: i64::from(i32::MIN),
            offset: i64::MIN,
        }
    }
}

/// Whether a `deviceId` of `len` UTF-8 bytes can be a partition key.
pub fn check_device_id(len: usize) -> Result<(), String> {
    if len == 0 || len > MAX_PARTITION_KEY_BYTES {
        return Err(format!(
            "{DEVICE_ID} must be 1 to {MAX_PARTITION_KEY_BYTES} bytes, not {len}"
        ));
    }
    Ok(())
}

/// Whether a timestamp (epoch milliseconds) can be keyed: 1970-01-01 to 2286-11-20.
pub fn check_timestamp(ms: i64) -> Result<(), String> {
    if !(0..=MAX_TIMESTAMP_MS).contains(&ms) {
        return Err(format!(
            "{TIMESTAMP} must be epoch milliseconds from 0 to {MAX_TIMESTAMP_MS}, not {ms}"
        ));
    }
    Ok(())
}

/// Whether an item of `size` bytes (by DynamoDB's rules) can be stored.
pub fn check_item_size(size: usize) -> Result<(), String> {
    if size > MAX_ITEM_BYTES {
        return Err(format!(
            "reading exceeds DynamoDB's {MAX_ITEM_BYTES}-byte item limit ({size} bytes)"
        ));
    }
    Ok(())
}

/// A reading's sort key: `<timestamp, 13 digits>#<topic>#<partition>#<offset>`.
pub fn reading_id(timestamp_ms: i64, at: Coordinates<'_>) -> String {
    let mut buf = Vec::with_capacity(40 + at.topic.len());
    push_reading_id(&mut buf, timestamp_ms, at);
    String::from_utf8(buf).expect("digits and a topic name")
}

/// Appends the sort key's text, JSON-escaped (a topic name needs no escaping: Kafka allows only
/// `[a-zA-Z0-9._-]`, but one from elsewhere is escaped all the same).
fn push_reading_id(buf: &mut Vec<u8>, timestamp_ms: i64, at: Coordinates<'_>) {
    let mut digits = itoa::Buffer::new();
    let ts = digits.format(timestamp_ms);
    for _ in ts.len()..13 {
        buf.push(b'0');
    }
    buf.extend_from_slice(ts.as_bytes());
    buf.push(b'#');
    let start = buf.len();
    push_json_str(buf, at.topic);
    // Without its quotes.
    buf.remove(start);
    buf.pop();
    buf.push(b'#');
    buf.extend_from_slice(itoa::Buffer::new().format(at.partition).as_bytes());
    buf.push(b'#');
    buf.extend_from_slice(itoa::Buffer::new().format(at.offset).as_bytes());
}

/// Writes the item of one reading: its Avro `body` under `schema`, walked by `writer` (whose
/// buffers are reused from call to call), with the consumer's attributes for `at`.
pub fn write_reading(
    schema: &crate::CompiledSchema,
    body: &[u8],
    schema_version_id: &Uuid,
    at: Coordinates<'_>,
    writer: &mut ItemWriter,
) -> Result<Written, String> {
    write_reading_with_headers(schema, body, schema_version_id, at, &[], writer)
}

/// [`write_reading`] for a record with Kafka headers, stored as [`ATTR_HEADERS`].
pub fn write_reading_with_headers(
    schema: &crate::CompiledSchema,
    body: &[u8],
    schema_version_id: &Uuid,
    at: Coordinates<'_>,
    headers: &[Header<'_>],
    writer: &mut ItemWriter,
) -> Result<Written, String> {
    writer.start();
    schema
        .visit(body, writer)
        .map_err(|e| format!("corrupt body for schema version {schema_version_id}: {e}"))?;
    writer.finish_reading_with_headers(schema_version_id, at, headers)
}

/// One reading as DynamoDB JSON (`{"deviceId":{"S":"d1"},…,"_readingId":{"S":"…"}}`), with its
/// key located in the text.
#[derive(Clone, PartialEq, Eq)]
pub struct Item {
    json: Box<[u8]>,
    device_id: Range<usize>,
    reading_id: Range<usize>,
}

impl std::fmt::Debug for Item {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.json))
    }
}

impl Item {
    /// An item from its DynamoDB JSON and where its key values stand in it: the JSON-escaped
    /// text of the `deviceId` and `_readingId` strings, quotes excluded.
    pub fn from_parts(json: Vec<u8>, device_id: Range<usize>, reading_id: Range<usize>) -> Item {
        assert!(device_id.end <= json.len() && reading_id.end <= json.len());
        Item {
            json: json.into(),
            device_id,
            reading_id,
        }
    }

    /// The item's DynamoDB JSON.
    pub fn json(&self) -> &[u8] {
        &self.json
    }

    /// The key as it stands in the JSON: `deviceId` and `_readingId`, JSON-escaped. Two items
    /// have the same DynamoDB key exactly when these are equal.
    pub fn key(&self) -> (&[u8], &[u8]) {
        (
            &self.json[self.device_id.clone()],
            &self.json[self.reading_id.clone()],
        )
    }
}

/// Writes one reading's DynamoDB JSON while the codec walks its body, adding up its stored size
/// by DynamoDB's rules on the way (attribute names plus values; a nested map or list costs 3
/// bytes and one byte per element besides its name and value). Reuse one writer for many items:
/// its buffers stay allocated.
#[derive(Debug, Default)]
pub struct ItemWriter {
    buf: Vec<u8>,
    stack: Vec<Level>,
    size: usize,
    /// Where the last key began (before its comma) and what its entry costs, so that a null
    /// value can take the key back out.
    key_start: usize,
    key_size: usize,
    top_key: TopKey,
    /// The last key, when it is a reserved top-level name: refused if a value follows (a null
    /// leaves nothing to refuse).
    key_reserved: Option<&'static str>,
    device_id: Option<Range<usize>>,
    device_id_len: usize,
    /// The top-level `timestamp`, in epoch milliseconds.
    timestamp: Option<i64>,
    /// Keys of the Avro maps being written, one set per open map (kept for reuse), to refuse a
    /// key a map repeats.
    map_keys: Vec<HashSet<String>>,
    maps_open: usize,
    error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Top,
    Record,
    Map,
    List,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum TopKey {
    #[default]
    Other,
    Device,
    Timestamp,
}

/// What [`ItemWriter::finish_reading`] hands back: the item and its stored size.
#[derive(Debug)]
pub struct Written {
    pub item: Item,
    pub size: usize,
    /// The `deviceId` in UTF-8 bytes.
    pub device_id_len: usize,
    /// The reading's `timestamp`, in epoch milliseconds.
    pub timestamp_ms: i64,
}

impl ItemWriter {
    /// A writer; it refuses records that give a value to a top-level field named like one of
    /// the [`RESERVED_ATTRIBUTES`].
    pub fn new() -> Self {
        ItemWriter {
            buf: Vec::with_capacity(1024),
            ..ItemWriter::default()
        }
    }

    /// Starts a new item, forgetting anything written before.
    pub fn start(&mut self) {
        self.buf.clear();
        self.stack.clear();
        self.maps_open = 0;
        self.size = 0;
        self.top_key = TopKey::Other;
        self.device_id = None;
        self.timestamp = None;
        self.error = None;
        self.key_reserved = None;
    }

    /// Adds a string attribute at the top level, after the record.
    fn add_string(&mut self, name: &str, value: &str) {
        self.top_attribute(name);
        self.string(value);
    }

    /// Adds a number attribute at the top level, after the record.
    fn add_number(&mut self, name: &str, value: i64) {
        self.top_attribute(name);
        self.long(value);
    }

    /// Adds [`ATTR_HEADERS`]: names in order of first appearance, a repeated name's values as
    /// a list.
    fn add_headers(&mut self, headers: &[Header<'_>]) -> Result<(), String> {
        if headers.iter().any(|(name, _)| name.is_empty()) {
            return Err(
                "a Kafka header has an empty name, which DynamoDB refuses as an attribute name"
                    .into(),
            );
        }
        let mut names: Vec<&str> = Vec::with_capacity(headers.len());
        for (name, _) in headers {
            if !names.contains(name) {
                names.push(name);
            }
        }
        self.top_attribute(ATTR_HEADERS);
        self.begin_map();
        for name in names {
            self.key(name);
            let mut values = headers.iter().filter(|(n, _)| *n == name).map(|(_, v)| *v);
            let repeated = headers.iter().filter(|(n, _)| *n == name).count() > 1;
            if repeated {
                self.begin_array();
            }
            for v in values.by_ref() {
                match std::str::from_utf8(v) {
                    Ok(text) => self.string(text),
                    Err(_) => self.bytes(v),
                }
            }
            if repeated {
                self.end_array();
            }
        }
        self.end_map();
        match self.error.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn top_attribute(&mut self, name: &str) {
        self.sep();
        push_json_str(&mut self.buf, name);
        self.buf.push(b':');
        self.key_size = name.len();
        self.key_reserved = None;
        self.top_key = TopKey::Other;
    }

    /// Marks the record as one that cannot be an item (the first reason stays).
    fn fail(&mut self, why: impl FnOnce() -> String) {
        if self.error.is_none() {
            self.error = Some(why());
        }
    }

    /// Ends the reading written since [`start`](Self::start): adds the attributes the consumer
    /// stores with every reading (its `_readingId` sort key, schema version id and Kafka
    /// coordinates) and checks the item against DynamoDB's limits. `Err` says why the record
    /// can never be stored.
    pub fn finish_reading(
        &mut self,
        schema_version_id: &Uuid,
        at: Coordinates<'_>,
    ) -> Result<Written, String> {
        self.finish_reading_with_headers(schema_version_id, at, &[])
    }

    /// [`finish_reading`](Self::finish_reading), storing the record's Kafka headers too.
    pub fn finish_reading_with_headers(
        &mut self,
        schema_version_id: &Uuid,
        at: Coordinates<'_>,
        headers: &[Header<'_>],
    ) -> Result<Written, String> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        let (Some(device_id), Some(timestamp)) = (self.device_id.clone(), self.timestamp) else {
            return Err(format!(
                "missing key fields {DEVICE_ID} (string) and {TIMESTAMP} (long)"
            ));
        };
        check_device_id(self.device_id_len)?;
        check_timestamp(timestamp)?;
        self.top_attribute(ATTR_READING_ID);
        self.buf.extend_from_slice(br#"{"S":""#);
        let start = self.buf.len();
        push_reading_id(&mut self.buf, timestamp, at);
        let end = self.buf.len();
        self.buf.extend_from_slice(br#""}"#);
        if end - start > MAX_SORT_KEY_BYTES {
            return Err(format!(
                "{ATTR_READING_ID} exceeds DynamoDB's {MAX_SORT_KEY_BYTES}-byte sort key limit"
            ));
        }
        self.size += ATTR_READING_ID.len() + (end - start);
        // Formatted without `Display` (its machinery costs more than the rest of these
        // attributes).
        let mut id = [0u8; uuid::fmt::Hyphenated::LENGTH];
        let id = schema_version_id.hyphenated().encode_lower(&mut id);
        self.add_string(ATTR_SCHEMA_VERSION, id);
        self.add_string(ATTR_TOPIC, at.topic);
        self.add_number(ATTR_PARTITION, at.partition);
        self.add_number(ATTR_OFFSET, at.offset);
        if !headers.is_empty() {
            self.add_headers(headers)?;
        }
        self.buf.push(b'}');
        check_item_size(self.size)?;
        Ok(Written {
            item: Item {
                json: self.buf.as_slice().into(),
                device_id,
                reading_id: start..end,
            },
            size: self.size,
            device_id_len: self.device_id_len,
            timestamp_ms: timestamp,
        })
    }

    fn sep(&mut self) {
        if self.buf.last() == Some(&b'}') {
            self.buf.push(b',');
        }
    }

    /// Opens a value: its separator in a list, its entry's size.
    fn entry(&mut self) {
        match self.stack.last() {
            Some(Level::List) => {
                self.sep();
                self.size += 1;
            }
            Some(_) => {
                if let Some(name) = self.key_reserved.take() {
                    self.fail(|| {
                        format!("field `{name}` is reserved for the attributes the consumer adds")
                    });
                }
                self.size += self.key_size;
            }
            None => {}
        }
    }

    fn at_top(&self) -> bool {
        self.stack.len() == 1
    }

    /// A top-level value of `kind` that is not a string or an integer: refused when it is a key
    /// field's.
    #[inline]
    fn not_a_key(&mut self, kind: &'static str) {
        if self.at_top() && self.top_key != TopKey::Other {
            self.wrong_key(kind);
        }
    }

    #[cold]
    fn wrong_key(&mut self, kind: &'static str) {
        match self.top_key {
            TopKey::Device => self.fail(|| format!("{DEVICE_ID} is {kind}; the key needs a string")),
            TopKey::Timestamp => self.fail(|| {
                format!("{TIMESTAMP} is {kind}; the key needs a long, an int or a timestamp (epoch milliseconds, micros or nanos)")
            }),
            TopKey::Other => {}
        }
    }

    fn number(&mut self, write: impl FnOnce(&mut Vec<u8>)) {
        self.entry();
        self.buf.extend_from_slice(br#"{"N":""#);
        let start = self.buf.len();
        write(&mut self.buf);
        let end = self.buf.len();
        self.buf.extend_from_slice(br#""}"#);
        self.size += number_size(&self.buf[start..end]);
    }

    fn open(&mut self, text: &[u8], level: Level) {
        self.not_a_key(match level {
            Level::List => "an array",
            _ => "a record or map",
        });
        self.entry();
        // The top level is not nested; DynamoDB takes 32 levels below it.
        if self.stack.len() > MAX_NESTING {
            self.fail(|| format!("nested deeper than DynamoDB's {MAX_NESTING} levels"));
        }
        if self.stack.is_empty() {
            self.buf.push(b'{');
            self.stack.push(Level::Top);
        } else {
            self.buf.extend_from_slice(text);
            self.size += 3;
            self.stack.push(level);
        }
    }

    fn close(&mut self, text: &[u8]) {
        // The top level stays open for the attributes added after the record; `finish` closes it.
        match self.stack.last() {
            None | Some(Level::Top) => return,
            Some(Level::Map) => self.maps_open -= 1,
            Some(_) => {}
        }
        self.stack.pop();
        self.buf.extend_from_slice(text);
    }
}

impl Visitor for ItemWriter {
    fn null(&mut self) {
        match self.stack.last() {
            Some(Level::List) => {
                self.entry();
                self.size += 1;
                self.buf.extend_from_slice(br#"{"NULL":true}"#);
            }
            // Left out: the key goes again.
            _ => self.buf.truncate(self.key_start),
        }
    }

    fn boolean(&mut self, v: bool) {
        self.not_a_key("a boolean");
        self.entry();
        self.size += 1;
        self.buf.extend_from_slice(if v {
            br#"{"BOOL":true}"#
        } else {
            br#"{"BOOL":false}"#
        });
    }

    fn long(&mut self, v: i64) {
        if self.at_top() && self.top_key != TopKey::Other {
            match self.top_key {
                TopKey::Timestamp => self.timestamp = Some(v),
                _ => self.wrong_key("a number"),
            }
        }
        self.number(|buf| buf.extend_from_slice(itoa::Buffer::new().format(v).as_bytes()));
    }

    fn timestamp(&mut self, v: i64, unit: TimeUnit, _local: bool) {
        if self.at_top() && self.top_key != TopKey::Other {
            match self.top_key {
                TopKey::Timestamp => self.timestamp = Some(unit.to_millis(v)),
                _ => self.wrong_key("a timestamp"),
            }
        }
        self.number(|buf| buf.extend_from_slice(itoa::Buffer::new().format(v).as_bytes()));
    }

    fn temporal(&mut self, v: i64, kind: &'static str) {
        self.not_a_key(kind);
        self.number(|buf| buf.extend_from_slice(itoa::Buffer::new().format(v).as_bytes()));
    }

    fn decimal(&mut self, text: &str, precision: u32) {
        self.not_a_key("a decimal");
        if precision <= MAX_NUMBER_DIGITS {
            self.number(|buf| buf.extend_from_slice(text.as_bytes()));
        } else {
            // More digits than DynamoDB's numbers hold: the exact text, as a string.
            self.entry();
            self.size += text.len();
            self.buf.extend_from_slice(br#"{"S":""#);
            self.buf.extend_from_slice(text.as_bytes());
            self.buf.extend_from_slice(br#""}"#);
        }
    }

    fn double(&mut self, v: f64) {
        self.not_a_key("a floating-point number");
        // DynamoDB numbers have no NaN or infinity, nor magnitudes of 1e126 and more: such a
        // value would fail the whole BatchWriteItem call and block the partition.
        if !v.is_finite() || v.abs() >= 1e126 {
            return self.null();
        }
        self.number(|buf| push_double(buf, v));
    }

    fn string(&mut self, v: &str) {
        if self.at_top() && self.top_key == TopKey::Timestamp {
            self.wrong_key("a string");
        }
        self.entry();
        self.size += v.len();
        self.buf.extend_from_slice(br#"{"S":"#);
        let start = self.buf.len();
        push_json_str(&mut self.buf, v);
        let end = self.buf.len();
        self.buf.push(b'}');
        if self.at_top() && self.top_key == TopKey::Device {
            self.device_id = Some(start + 1..end - 1);
            self.device_id_len = v.len();
        }
    }

    fn bytes(&mut self, v: &[u8]) {
        self.not_a_key("bytes");
        self.entry();
        self.size += v.len();
        self.buf.extend_from_slice(br#"{"B":""#);
        push_base64(&mut self.buf, v);
        self.buf.extend_from_slice(br#""}"#);
    }

    fn begin_array(&mut self) {
        self.open(br#"{"L":["#, Level::List);
    }

    fn end_array(&mut self) {
        self.close(b"]}");
    }

    fn begin_record(&mut self) {
        self.open(br#"{"M":{"#, Level::Record);
    }

    fn end_record(&mut self) {
        self.close(b"}}");
    }

    fn begin_map(&mut self) {
        if self.map_keys.len() == self.maps_open {
            self.map_keys.push(HashSet::new());
        }
        self.map_keys[self.maps_open].clear();
        self.maps_open += 1;
        self.open(br#"{"M":{"#, Level::Map);
    }

    fn end_map(&mut self) {
        self.close(b"}}");
    }

    fn key(&mut self, key: &str) {
        self.key_start = self.buf.len();
        match self.stack.last() {
            Some(Level::Top) => {
                self.key_size = key.len();
                self.top_key = match key {
                    DEVICE_ID => TopKey::Device,
                    TIMESTAMP => TopKey::Timestamp,
                    _ => TopKey::Other,
                };
                self.key_reserved = RESERVED_ATTRIBUTES.iter().copied().find(|r| *r == key);
            }
            Some(Level::Map) => {
                self.key_size = 1 + key.len();
                if !self.map_keys[self.maps_open - 1].insert(key.to_owned()) {
                    // The key is data: quoted with escapes, and cut short.
                    self.fail(|| format!("map key {:?} appears twice", short(key)));
                }
            }
            _ => self.key_size = 1 + key.len(),
        }
        if key.is_empty() {
            self.fail(|| "an attribute name is empty, which DynamoDB refuses".into());
        }
        self.sep();
        push_json_str(&mut self.buf, key);
        self.buf.push(b':');
    }
}

/// The significant digits of a DynamoDB number.
pub const MAX_NUMBER_DIGITS: u32 = 38;

/// DynamoDB's size of a number: about one byte per two significant digits, plus one, plus one
/// for a sign (from the text, which never undercounts the digits).
pub fn number_size(text: &[u8]) -> usize {
    text.len().div_ceil(2) + 1 + usize::from(text.first() == Some(&b'-'))
}

/// At most 64 characters of `s`.
fn short(s: &str) -> &str {
    s.char_indices().nth(64).map_or(s, |(i, _)| &s[..i])
}

/// The shortest text that reads back as the same double (exponent notation for very large and
/// small values, no `.0` on whole numbers). Magnitudes below 1e-130 become 0: DynamoDB refuses
/// them and 0 is the nearest number it holds. The caller has ruled out non-finite values.
fn push_double(buf: &mut Vec<u8>, v: f64) {
    if v.abs() < 1e-130 {
        buf.push(b'0');
        return;
    }
    let mut b = ryu::Buffer::new();
    let s = b.format_finite(v);
    buf.extend_from_slice(s.strip_suffix(".0").unwrap_or(s).as_bytes());
}

/// Appends `s` as a JSON string, quotes included.
pub fn push_json_str(buf: &mut Vec<u8>, s: &str) {
    // Without an early exit, so that the check runs over whole vectors.
    let plain = !s.bytes().fold(false, |bad, b| {
        bad | (b < 0x20) | (b == b'"') | (b == b'\\')
    });
    if plain {
        buf.push(b'"');
        buf.extend_from_slice(s.as_bytes());
        buf.push(b'"');
    } else {
        serde_json::to_writer(&mut *buf, s).expect("writing to a Vec cannot fail");
    }
}

pub fn push_base64(buf: &mut Vec<u8>, v: &[u8]) {
    let start = buf.len();
    buf.resize(
        start + base64::encoded_len(v.len(), true).expect("small"),
        0,
    );
    let n = base64::engine::general_purpose::STANDARD
        .encode_slice(v, &mut buf[start..])
        .expect("sized above");
    buf.truncate(start + n);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CompiledSchema;

    const DEF: &str = r#"{"type":"record","name":"R","fields":[
        {"name":"deviceId","type":"string"},{"name":"timestamp","type":"long"},
        {"name":"t","type":["null","double"],"default":null}]}"#;

    fn write(event: serde_json::Value, at: Coordinates<'_>) -> Result<Written, String> {
        let s = CompiledSchema::parse(DEF).unwrap();
        let body = s.encode_to_vec(&event).unwrap();
        write_reading(&s, &body, &Uuid::nil(), at, &mut ItemWriter::new())
    }

    const AT: Coordinates<'static> = Coordinates {
        topic: "sensor-readings",
        partition: 2,
        offset: 41,
    };

    #[test]
    fn the_sort_key_orders_by_time_and_names_the_record() {
        assert_eq!(reading_id(5, AT), "0000000000005#sensor-readings#2#41");
        assert_eq!(
            reading_id(MAX_TIMESTAMP_MS, AT),
            "9999999999999#sensor-readings#2#41"
        );
        // Text order is time order, whatever the coordinates.
        let mut ids: Vec<String> = [(1_700_000_000_001, 9), (999, 1), (1_700_000_000_000, 100)]
            .into_iter()
            .map(|(ts, offset)| reading_id(ts, Coordinates { offset, ..AT }))
            .collect();
        ids.sort();
        assert!(ids[0].starts_with("0000000000999#"), "{ids:?}");
        assert!(ids[2].starts_with("1700000000001#"), "{ids:?}");
        let w = write(serde_json::json!({"deviceId": "d", "timestamp": 5}), AT).unwrap();
        let json: serde_json::Value = serde_json::from_slice(w.item.json()).unwrap();
        assert_eq!(json[ATTR_READING_ID]["S"], reading_id(5, AT));
        assert_eq!(w.item.key(), (&b"d"[..], reading_id(5, AT).as_bytes()));
    }

    #[test]
    fn keys_dynamodb_or_the_sort_key_cannot_hold_are_refused() {
        let long = "x".repeat(MAX_PARTITION_KEY_BYTES);
        assert!(write(serde_json::json!({"deviceId": long, "timestamp": 1}), AT).is_ok());
        for device in [String::new(), "x".repeat(MAX_PARTITION_KEY_BYTES + 1)] {
            let e = write(serde_json::json!({"deviceId": device, "timestamp": 1}), AT).unwrap_err();
            assert!(e.contains("deviceId must be 1 to 2048 bytes"), "{e}");
        }
        for ts in [-1, MAX_TIMESTAMP_MS + 1, i64::MAX] {
            let e = write(serde_json::json!({"deviceId": "d", "timestamp": ts}), AT).unwrap_err();
            assert!(e.contains("timestamp must be epoch milliseconds"), "{e}");
        }
        let topic = "t".repeat(1100);
        let at = Coordinates {
            topic: &topic,
            ..AT
        };
        let e = write(serde_json::json!({"deviceId": "d", "timestamp": 1}), at).unwrap_err();
        assert!(e.contains("1024-byte sort key limit"), "{e}");
    }

    #[test]
    fn the_widest_coordinates_size_an_item_at_least_as_large() {
        let event =
            serde_json::json!({"deviceId": "d", "timestamp": 1_700_000_000_000_i64, "t": 2.5});
        let widest = write(event.clone(), Coordinates::widest("sensor-readings")).unwrap();
        for (partition, offset) in [(0, 0), (i64::from(i32::MAX), i64::MAX), (99, 123_456)] {
            let at = Coordinates {
                topic: "sensor-readings",
                partition,
                offset,
            };
            assert!(write(event.clone(), at).unwrap().size <= widest.size);
        }
    }

    #[test]
    fn doubles_fit_dynamodb() {
        let f = |v: f64| {
            let mut b = Vec::new();
            push_double(&mut b, v);
            String::from_utf8(b).unwrap()
        };
        assert_eq!(f(30.0), "30");
        assert_eq!(f(-2.0), "-2");
        assert_eq!(f(0.1), "0.1");
        assert_eq!(f(-273.15), "-273.15");
        assert_eq!(f(1e125), "1e125");
        assert_eq!(f(1.5e-7), "1.5e-7");
        assert_eq!(f(1e-200), "0");
        assert_eq!(f(0.0), "0");
        for v in [0.1, 1.0 / 3.0, 123456.789, 9.999e125, -1e-129, f64::EPSILON] {
            assert_eq!(f(v).parse::<f64>().unwrap(), v, "{v} round-trips");
            assert!(f(v).len() <= 38);
        }
    }
}
