//! Avro binary encoding and decoding driven by the schema model (decoding with the writer
//! schema: every type of the Avro 1.12 specification).
//!
//! A [`CompiledSchema`] is built once per schema version (parse + check) and then encodes JSON
//! events and decodes bodies without touching the definition text again. Decoding is one walk
//! that reports to a [`Visitor`], so the same walk produces `serde_json` values or JSON text for
//! people and DynamoDB JSON for the consumer, without an intermediate tree.
//!
//! JSON for each Avro type, both ways (events the producer encodes, and what the walk reports):
//! numbers as numbers, enum symbols and uuids as strings, bytes and fixed as strings with one
//! character per byte (ISO-8859-1, Avro's JSON encoding), a decimal as a number with its exact
//! digits (encoding also takes a string of digits), date and times and timestamps as the
//! number Avro holds (days, or units since midnight or the epoch), a duration as
//! `{"months", "days", "milliseconds"}`, a union as the value of its branch (untagged; encoding
//! takes the first branch the value fits). A field missing from an event takes its default.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Number, Value};
use thiserror::Error;

use crate::decimal::{self, DecimalError};
use crate::infer::json_kind;
use crate::schema::{
    named_types, parse_definition, Decimal, Field, Record, SchemaError, TimeUnit, Type,
};

/// How deep named types may nest in themselves in one body (a `Node` in the `children` of a
/// `Node`, ...), so that a hostile body cannot exhaust the stack.
pub const MAX_RECURSION: usize = 64;

/// Why an event does not fit a schema. The producer answers it by inferring a new version.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum EncodeError {
    #[error("event must be a JSON object, found {0}")]
    NotAnObject(&'static str),
    #[error("`{0}` is not in the schema")]
    UnknownKey(String),
    #[error("`{0}` is required by the schema but missing")]
    Missing(String),
    #[error("`{path}` is {found}, the schema wants {expected}")]
    Mismatch {
        path: String,
        expected: String,
        found: &'static str,
    },
    #[error("`{path}` cannot be written as {expected}: {why}")]
    Invalid {
        path: String,
        expected: String,
        why: String,
    },
}

/// Why a body could not be decoded with a writer schema. Permanent for the bytes at hand.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DecodeError {
    #[error("body ends early")]
    Truncated,
    #[error("variable-length integer is longer than 10 bytes")]
    VarintOverflow,
    #[error("negative length {0}")]
    NegativeLength(i64),
    #[error("string is not UTF-8")]
    InvalidUtf8,
    #[error("int {0} is outside the 32-bit range")]
    IntOutOfRange(i64),
    #[error("union index {0} out of range")]
    BadUnionIndex(i64),
    #[error("enum index {index} out of range (the enum has {symbols} symbols)")]
    BadEnumIndex { index: i64, symbols: usize },
    #[error("boolean byte {0} is neither 0 nor 1")]
    BadBoolean(u8),
    #[error("collection claims {0} items, more than the body can hold")]
    TooManyItems(i64),
    #[error("{0} bytes left after the record")]
    TrailingBytes(usize),
    #[error("{0}")]
    Decimal(String),
    #[error("named types nest deeper than {0} levels")]
    TooDeep(usize),
    #[error("the schema refers to an unknown type {0}")]
    UnknownType(String),
}

/// A schema version ready for the hot paths.
#[derive(Debug, Clone, PartialEq)]
pub struct CompiledSchema {
    record: Record,
    definition: String,
    /// The named types references resolve to; shared by the clones of a schema.
    named: Arc<HashMap<String, Type>>,
}

impl CompiledSchema {
    /// Parses a definition once.
    pub fn parse(definition: &str) -> Result<Self, SchemaError> {
        let ty = parse_definition(definition)?;
        let named = Arc::new(named_types(&ty));
        let Type::Record(record) = ty else {
            return Err(SchemaError::NotARecord);
        };
        Ok(CompiledSchema {
            record,
            definition: definition.to_string(),
            named,
        })
    }

    /// Wraps a record from the inference together with its canonical text.
    pub fn from_record(record: Record) -> Self {
        let definition = record.to_definition();
        let root = Type::Record(record);
        let named = Arc::new(named_types(&root));
        let Type::Record(record) = root else {
            unreachable!("built from a record")
        };
        CompiledSchema {
            record,
            definition,
            named,
        }
    }

    pub fn record(&self) -> &Record {
        &self.record
    }

    /// The definition text this schema was built from.
    pub fn definition(&self) -> &str {
        &self.definition
    }

    /// The unit of the top-level `timestamp` field when it is a timestamp type other than
    /// milliseconds (`timestamp-micros`, `local-timestamp-nanos`, nullable or not).
    pub fn timestamp_unit(&self) -> Option<TimeUnit> {
        let f = self
            .record
            .fields
            .iter()
            .find(|f| f.json_key == crate::schema::TIMESTAMP)?;
        let unit = |t: &Type| match t {
            Type::Timestamp(u) | Type::LocalTimestamp(u) if *u != TimeUnit::Millis => Some(*u),
            _ => None,
        };
        match &f.ty {
            Type::Optional(t) => unit(t),
            Type::Union(ts) => ts.iter().find_map(unit),
            t => unit(t),
        }
    }

    /// The named type a [`Type::Ref`] stands for.
    pub fn resolve<'s>(&'s self, t: &'s Type) -> &'s Type {
        match t {
            Type::Ref(name) => self.named.get(name).unwrap_or(t),
            t => t,
        }
    }

    /// Appends the Avro body of `event` to `out`. On error `out` may hold a partial body: callers
    /// truncate it.
    pub fn encode(&self, event: &Value, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let obj = event
            .as_object()
            .ok_or_else(|| EncodeError::NotAnObject(json_kind(event)))?;
        let mut cx = Enc {
            named: &self.named,
            depth: 0,
        };
        cx.record(&self.record, obj, &Path::Root, out, Keys::Json)
    }

    /// Encodes `event` into a new body.
    pub fn encode_to_vec(&self, event: &Value) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::with_capacity(64);
        self.encode(event, &mut out)?;
        Ok(out)
    }

    /// Walks a body through `visitor`; the whole body must be one record. On error the visitor
    /// has seen part of the body.
    pub fn visit<V: Visitor>(&self, body: &[u8], visitor: &mut V) -> Result<(), DecodeError> {
        let mut r = Reader {
            buf: body,
            pos: 0,
            named: &self.named,
            depth: 0,
            scratch: String::new(),
            empty_items: 0,
        };
        decode_record(&self.record, &mut r, visitor)?;
        if r.pos != body.len() {
            return Err(DecodeError::TrailingBytes(body.len() - r.pos));
        }
        Ok(())
    }

    /// Decodes a body to JSON with the original keys restored; `null` fields are kept. A
    /// decimal becomes the nearest double here; [`decode_to_json`](Self::decode_to_json) keeps
    /// its exact digits.
    pub fn decode(&self, body: &[u8]) -> Result<Value, DecodeError> {
        let mut v = ValueVisitor::default();
        self.visit(body, &mut v)?;
        Ok(v.done.take().unwrap_or(Value::Null))
    }

    /// Decodes a body to JSON text (indented when `pretty`), decimals with their exact digits.
    pub fn decode_to_json(&self, body: &[u8], pretty: bool) -> Result<String, DecodeError> {
        let mut w = JsonText {
            pretty,
            ..JsonText::default()
        };
        self.visit(body, &mut w)?;
        Ok(String::from_utf8(w.out).expect("JSON text is UTF-8"))
    }
}

// ---------------------------------------------------------------------------------------------
// Encoding

/// Where a value sits in the event (`loc.tags[]`), kept as borrowed segments on the stack and
/// rendered only for an error message, so the success path formats nothing.
#[derive(Clone, Copy)]
enum Path<'a> {
    Root,
    Key(&'a Path<'a>, &'a str),
    Item(&'a Path<'a>),
}

impl Path<'_> {
    fn render(&self) -> String {
        let mut s = String::new();
        self.write(&mut s);
        s
    }

    fn write(&self, s: &mut String) {
        match self {
            Path::Root => {}
            Path::Key(parent, key) => {
                parent.write(s);
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(key);
            }
            Path::Item(parent) => {
                parent.write(s);
                s.push_str("[]");
            }
        }
    }
}

#[inline]
fn write_long(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

#[inline]
fn write_bytes(out: &mut Vec<u8>, b: &[u8]) {
    write_long(out, b.len() as i64);
    out.extend_from_slice(b);
}

/// Which names a record's JSON uses: the events' JSON keys, or the field names (Avro's JSON, as
/// in defaults).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Keys {
    Json,
    Avro,
}

struct Enc<'a> {
    named: &'a HashMap<String, Type>,
    depth: usize,
}

fn latin1(s: &str) -> Option<Vec<u8>> {
    s.chars().map(|c| u8::try_from(u32::from(c)).ok()).collect()
}

fn mismatch(t: &Type, v: &Value, path: &Path<'_>) -> EncodeError {
    EncodeError::Mismatch {
        path: path.render(),
        expected: t.describe(),
        found: json_kind(v),
    }
}

fn invalid(t: &Type, path: &Path<'_>, why: impl std::fmt::Display) -> EncodeError {
    EncodeError::Invalid {
        path: path.render(),
        expected: t.describe(),
        why: why.to_string(),
    }
}

/// The decimal text of a JSON number or string (the shortest text of a double that reads back
/// the same).
fn number_text(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) if n.is_f64() => {
            let f = n.as_f64()?;
            Some(ryu::Buffer::new().format_finite(f).to_string())
        }
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

impl Enc<'_> {
    fn record(
        &mut self,
        r: &Record,
        obj: &Map<String, Value>,
        path: &Path<'_>,
        out: &mut Vec<u8>,
        keys: Keys,
    ) -> Result<(), EncodeError> {
        let key = |f: &'_ Field| -> String {
            match keys {
                Keys::Json => f.json_key.clone(),
                Keys::Avro => f.name.clone(),
            }
        };
        let mut matched = 0usize;
        for f in &r.fields {
            let k = match keys {
                Keys::Json => f.json_key.as_str(),
                Keys::Avro => f.name.as_str(),
            };
            match obj.get(k) {
                Some(v) => {
                    matched += 1;
                    self.value(&f.ty, v, &Path::Key(path, k), out, keys)?;
                }
                None => match (&f.ty, &f.default) {
                    (Type::Optional(_), None) => out.push(0),
                    (Type::Null, _) => {}
                    (t, Some(d)) => self.value(t, d, &Path::Key(path, k), out, Keys::Avro)?,
                    (Type::Union(ts), None) if ts.contains(&Type::Null) => {
                        let i = ts.iter().position(|t| *t == Type::Null).expect("has null");
                        write_long(out, i as i64);
                    }
                    _ => return Err(EncodeError::Missing(Path::Key(path, k).render())),
                },
            }
        }
        if matched != obj.len() {
            let unknown = obj
                .keys()
                .find(|k| !r.fields.iter().any(|f| &key(f) == *k))
                .expect("a key without a field exists");
            return Err(EncodeError::UnknownKey(Path::Key(path, unknown).render()));
        }
        Ok(())
    }

    fn value(
        &mut self,
        t: &Type,
        v: &Value,
        path: &Path<'_>,
        out: &mut Vec<u8>,
        keys: Keys,
    ) -> Result<(), EncodeError> {
        match (t, v) {
            (Type::Optional(_), Value::Null) => out.push(0),
            (Type::Optional(inner), v) => {
                out.push(2); // union index 1, zigzag
                self.value(inner, v, path, out, keys)?;
            }
            (Type::Null, Value::Null) => {}
            (Type::Boolean, Value::Bool(b)) => out.push(*b as u8),
            (
                Type::Long
                | Type::TimestampMillis
                | Type::TimeMicros
                | Type::Timestamp(_)
                | Type::LocalTimestamp(_),
                Value::Number(n),
            ) => match n.as_i64() {
                Some(i) => write_long(out, i),
                None => return Err(mismatch(t, v, path)),
            },
            (Type::Int | Type::Date | Type::TimeMillis, Value::Number(n)) => {
                match n.as_i64().filter(|i| i32::try_from(*i).is_ok()) {
                    Some(i) => write_long(out, i),
                    None => return Err(mismatch(t, v, path)),
                }
            }
            (Type::Double, Value::Number(n)) => {
                let f = n.as_f64().expect("JSON numbers convert to f64");
                out.extend_from_slice(&f.to_le_bytes());
            }
            (Type::Float, Value::Number(n)) => {
                let f = n.as_f64().expect("JSON numbers convert to f64") as f32;
                out.extend_from_slice(&f.to_le_bytes());
            }
            (Type::String, Value::String(s)) => write_bytes(out, s.as_bytes()),
            (Type::Bytes, Value::String(s)) => match latin1(s) {
                // Avro's JSON encoding of bytes: one character per byte (ISO-8859-1).
                Some(raw) => write_bytes(out, &raw),
                None => return Err(mismatch(t, v, path)),
            },
            (Type::Record(r), Value::Object(obj)) => self.record(r, obj, path, out, keys)?,
            (Type::Array(items), Value::Array(values)) => {
                if !values.is_empty() {
                    write_long(out, values.len() as i64);
                    let p = Path::Item(path);
                    for item in values {
                        self.value(items, item, &p, out, keys)?;
                    }
                }
                out.push(0);
            }
            (Type::Map(values), Value::Object(obj)) => {
                if !obj.is_empty() {
                    write_long(out, obj.len() as i64);
                    for (k, item) in obj {
                        write_bytes(out, k.as_bytes());
                        self.value(values, item, &Path::Key(path, k), out, keys)?;
                    }
                }
                out.push(0);
            }
            (Type::Union(branches), v) => {
                let mark = out.len();
                for (i, b) in branches.iter().enumerate() {
                    write_long(out, i as i64);
                    if self.value(b, v, path, out, keys).is_ok() {
                        return Ok(());
                    }
                    out.truncate(mark);
                }
                return Err(mismatch(t, v, path));
            }
            (Type::Enum(e), Value::String(s)) => match e.symbols.iter().position(|x| x == s) {
                Some(i) => write_long(out, i as i64),
                None => {
                    return Err(invalid(
                        t,
                        path,
                        format_args!("{s:?} is not one of its symbols"),
                    ))
                }
            },
            (Type::Fixed(f), Value::String(s)) => match latin1(s) {
                Some(raw) if raw.len() == f.size => out.extend_from_slice(&raw),
                Some(raw) => {
                    return Err(invalid(
                        t,
                        path,
                        format_args!("{} bytes, not {}", raw.len(), f.size),
                    ))
                }
                None => return Err(mismatch(t, v, path)),
            },
            (Type::Decimal(d), v) => self.decimal(t, d, v, path, out, keys)?,
            (Type::Uuid(fixed), Value::String(s)) => {
                let u = uuid::Uuid::parse_str(s)
                    .map_err(|e| invalid(t, path, format_args!("{s:?}: {e}")))?;
                match fixed {
                    None => write_bytes(out, s.as_bytes()),
                    Some(_) => out.extend_from_slice(u.as_bytes()),
                }
            }
            (Type::Duration(_), Value::String(s)) if keys == Keys::Avro => match latin1(s) {
                Some(raw) if raw.len() == 12 => out.extend_from_slice(&raw),
                _ => return Err(invalid(t, path, "not 12 bytes")),
            },
            (Type::Duration(_), Value::Object(obj)) => {
                let part = |k: &str| {
                    obj.get(k)
                        .and_then(Value::as_u64)
                        .and_then(|n| u32::try_from(n).ok())
                        .ok_or_else(|| {
                            invalid(
                                t,
                                path,
                                format_args!("`{k}` must be an integer from 0 to 2^32−1"),
                            )
                        })
                };
                if let Some(k) = obj
                    .keys()
                    .find(|k| !["months", "days", "milliseconds"].contains(&k.as_str()))
                {
                    return Err(EncodeError::UnknownKey(Path::Key(path, k).render()));
                }
                for k in ["months", "days", "milliseconds"] {
                    out.extend_from_slice(&part(k)?.to_le_bytes());
                }
            }
            (Type::Ref(name), v) => {
                let named = self
                    .named
                    .get(name)
                    .ok_or_else(|| invalid(t, path, "unknown type"))?;
                if self.depth >= MAX_RECURSION {
                    return Err(invalid(
                        t,
                        path,
                        format_args!("named types nest deeper than {MAX_RECURSION} levels"),
                    ));
                }
                self.depth += 1;
                let res = self.value(named, v, path, out, keys);
                self.depth -= 1;
                res?;
            }
            _ => return Err(mismatch(t, v, path)),
        }
        Ok(())
    }

    fn decimal(
        &mut self,
        t: &Type,
        d: &Decimal,
        v: &Value,
        path: &Path<'_>,
        out: &mut Vec<u8>,
        keys: Keys,
    ) -> Result<(), EncodeError> {
        // Defaults hold the bytes themselves, as Avro's JSON does.
        if let (Keys::Avro, Value::String(s)) = (keys, v) {
            let raw = latin1(s).ok_or_else(|| mismatch(t, v, path))?;
            return match &d.fixed {
                None => {
                    write_bytes(out, &raw);
                    Ok(())
                }
                Some(f) if raw.len() == f.size => {
                    out.extend_from_slice(&raw);
                    Ok(())
                }
                Some(f) => Err(invalid(
                    t,
                    path,
                    format_args!("{} bytes, not {}", raw.len(), f.size),
                )),
            };
        }
        let text = number_text(v).ok_or_else(|| mismatch(t, v, path))?;
        let twos = decimal::from_text(&text, d.scale, d.precision).map_err(|e| match e {
            DecimalError::NotANumber => invalid(t, path, format_args!("{text:?} is not a number")),
            e => invalid(t, path, e),
        })?;
        match &d.fixed {
            None => write_bytes(out, &twos),
            Some(f) => match decimal::extend_to(&twos, f.size) {
                Some(b) => out.extend_from_slice(&b),
                None => {
                    return Err(invalid(
                        t,
                        path,
                        format_args!("does not fit {} bytes", f.size),
                    ))
                }
            },
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Decoding

/// Receives a decoded body as a stream of events in the order of the bytes, keys before their
/// values, so that text can be written straight away without building a tree. [`CompiledSchema::decode`]
/// builds `serde_json` values through one; the consumer writes DynamoDB JSON through another.
///
/// A body is one record: `begin_record`, then `key` and one value per field, then `end_record`.
/// A value is a scalar call, an array (`begin_array`, values, `end_array`), a record, or an Avro
/// map (`begin_map`, then `key` and value per entry in the body's order, then `end_map`; a map's
/// keys come from the data and may repeat). Enum symbols and uuids arrive as strings, fixed as
/// bytes, a union as its branch's value, a duration as a record of `months`, `days` and
/// `milliseconds`.
pub trait Visitor {
    fn null(&mut self);
    fn boolean(&mut self, v: bool);
    fn long(&mut self, v: i64);
    fn double(&mut self, v: f64);
    fn string(&mut self, v: &str);
    /// Avro `bytes` and `fixed`.
    fn bytes(&mut self, v: &[u8]);
    /// A decimal as its exact text (`-12.30`), of a type that declares `precision` digits.
    fn decimal(&mut self, text: &str, precision: u32) {
        let _ = precision;
        self.string(text);
    }
    /// A timestamp (`timestamp-*`, or `local-timestamp-*` when `local`) in its unit.
    fn timestamp(&mut self, v: i64, unit: TimeUnit, local: bool) {
        let _ = (unit, local);
        self.long(v);
    }
    /// A `date` (days since the epoch), `time-millis` or `time-micros` (since midnight), named
    /// by `kind` ("a date", "a time").
    fn temporal(&mut self, v: i64, kind: &'static str) {
        let _ = kind;
        self.long(v);
    }
    fn begin_array(&mut self);
    fn end_array(&mut self);
    fn begin_record(&mut self);
    fn end_record(&mut self);
    fn begin_map(&mut self);
    fn end_map(&mut self);
    /// The next value's key in the innermost record or map.
    fn key(&mut self, key: &str);
}

/// Builds a `serde_json` value; bytes become ISO-8859-1 strings as in Avro's JSON encoding, a
/// key repeated in an Avro map keeps its last value.
#[derive(Debug, Default)]
struct ValueVisitor {
    stack: Vec<Open>,
    done: Option<Value>,
}

#[derive(Debug)]
enum Open {
    Object(Map<String, Value>, Option<String>),
    Array(Vec<Value>),
}

impl ValueVisitor {
    fn push(&mut self, v: Value) {
        match self.stack.last_mut() {
            Some(Open::Object(m, key)) => {
                m.insert(key.take().unwrap_or_default(), v);
            }
            Some(Open::Array(a)) => a.push(v),
            None => self.done = Some(v),
        }
    }

    fn close(&mut self) {
        match self.stack.pop() {
            Some(Open::Object(m, _)) => self.push(Value::Object(m)),
            Some(Open::Array(a)) => self.push(Value::Array(a)),
            None => {}
        }
    }
}

impl Visitor for ValueVisitor {
    fn null(&mut self) {
        self.push(Value::Null);
    }
    fn boolean(&mut self, v: bool) {
        self.push(Value::Bool(v));
    }
    fn long(&mut self, v: i64) {
        self.push(Value::Number(v.into()));
    }
    fn double(&mut self, v: f64) {
        self.push(Number::from_f64(v).map_or(Value::Null, Value::Number));
    }
    fn string(&mut self, v: &str) {
        self.push(Value::String(v.to_string()));
    }
    fn bytes(&mut self, v: &[u8]) {
        self.push(Value::String(v.iter().map(|&b| char::from(b)).collect()));
    }
    fn decimal(&mut self, text: &str, _precision: u32) {
        let n = match text.parse::<i64>() {
            Ok(i) => Some(Number::from(i)),
            Err(_) => text.parse::<f64>().ok().and_then(Number::from_f64),
        };
        self.push(n.map_or(Value::Null, Value::Number));
    }
    fn begin_array(&mut self) {
        self.stack.push(Open::Array(Vec::new()));
    }
    fn end_array(&mut self) {
        self.close();
    }
    fn begin_record(&mut self) {
        self.stack.push(Open::Object(Map::new(), None));
    }
    fn end_record(&mut self) {
        self.close();
    }
    fn begin_map(&mut self) {
        self.begin_record();
    }
    fn end_map(&mut self) {
        self.close();
    }
    fn key(&mut self, key: &str) {
        if let Some(Open::Object(_, k)) = self.stack.last_mut() {
            *k = Some(key.to_string());
        }
    }
}

/// Writes compact JSON text: the CLI's output. NaN and ±Infinity (which JSON has not) become
/// `null`; a key an Avro map repeats is written each time it comes.
#[derive(Debug, Default)]
pub struct JsonText {
    pub out: Vec<u8>,
    /// Two spaces of indent per level and one entry per line.
    pub pretty: bool,
    /// Per open container: whether it has an entry yet.
    first: Vec<bool>,
    after_key: bool,
}

impl JsonText {
    fn newline(&mut self) {
        if self.pretty {
            self.out.push(b'\n');
            self.out
                .extend(std::iter::repeat_n(b' ', 2 * self.first.len()));
        }
    }

    fn sep(&mut self) {
        if self.after_key {
            self.after_key = false;
            return;
        }
        if let Some(first) = self.first.last_mut() {
            if !*first {
                self.out.push(b',');
            }
            *first = false;
            self.newline();
        }
    }
    fn raw(&mut self, s: &[u8]) {
        self.sep();
        self.out.extend_from_slice(s);
    }
    fn open(&mut self, c: u8) {
        self.sep();
        self.out.push(c);
        self.first.push(true);
    }
    fn close(&mut self, c: u8) {
        if self.first.pop() == Some(false) {
            self.newline();
        }
        self.out.push(c);
    }
}

impl Visitor for JsonText {
    fn null(&mut self) {
        self.raw(b"null");
    }
    fn boolean(&mut self, v: bool) {
        self.raw(if v { b"true" } else { b"false" });
    }
    fn long(&mut self, v: i64) {
        self.raw(itoa::Buffer::new().format(v).as_bytes());
    }
    fn double(&mut self, v: f64) {
        if v.is_finite() {
            self.raw(ryu::Buffer::new().format_finite(v).as_bytes());
        } else {
            self.null();
        }
    }
    fn string(&mut self, v: &str) {
        self.sep();
        serde_json::to_writer(&mut self.out, v).expect("writing to a Vec cannot fail");
    }
    fn bytes(&mut self, v: &[u8]) {
        let s: String = v.iter().map(|&b| char::from(b)).collect();
        self.string(&s);
    }
    fn decimal(&mut self, text: &str, _precision: u32) {
        self.raw(text.as_bytes());
    }
    fn begin_array(&mut self) {
        self.open(b'[');
    }
    fn end_array(&mut self) {
        self.close(b']');
    }
    fn begin_record(&mut self) {
        self.open(b'{');
    }
    fn end_record(&mut self) {
        self.close(b'}');
    }
    fn begin_map(&mut self) {
        self.open(b'{');
    }
    fn end_map(&mut self) {
        self.close(b'}');
    }
    fn key(&mut self, key: &str) {
        self.string(key);
        self.out
            .extend_from_slice(if self.pretty { b": " } else { b":" });
        self.after_key = true;
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    named: &'a HashMap<String, Type>,
    depth: usize,
    scratch: String,
    /// Items of empty encoding seen so far in the body.
    empty_items: i64,
}

impl<'a> Reader<'a> {
    #[inline]
    fn byte(&mut self) -> Result<u8, DecodeError> {
        let b = *self.buf.get(self.pos).ok_or(DecodeError::Truncated)?;
        self.pos += 1;
        Ok(b)
    }

    #[inline]
    fn long(&mut self) -> Result<i64, DecodeError> {
        // One byte (union indices, short lengths, small numbers) is the common case.
        if let Some(&b) = self.buf.get(self.pos) {
            if b < 0x80 {
                self.pos += 1;
                return Ok(i64::from(b >> 1) ^ -i64::from(b & 1));
            }
        }
        let mut z: u64 = 0;
        let mut shift = 0;
        loop {
            let b = self.byte()?;
            if shift == 63 && b > 1 {
                return Err(DecodeError::VarintOverflow);
            }
            z |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok((z >> 1) as i64 ^ -((z & 1) as i64));
            }
            shift += 7;
            if shift > 63 {
                return Err(DecodeError::VarintOverflow);
            }
        }
    }

    #[inline]
    fn int(&mut self) -> Result<i64, DecodeError> {
        let n = self.long()?;
        if i32::try_from(n).is_err() {
            return Err(DecodeError::IntOutOfRange(n));
        }
        Ok(n)
    }

    #[inline]
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(n).ok_or(DecodeError::Truncated)?;
        let s = self.buf.get(self.pos..end).ok_or(DecodeError::Truncated)?;
        self.pos = end;
        Ok(s)
    }

    #[inline]
    fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = self.long()?;
        if len < 0 {
            return Err(DecodeError::NegativeLength(len));
        }
        self.take(len as usize)
    }

    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Reads a block count; a negative count is followed by the block's byte size.
    fn block_count(&mut self) -> Result<i64, DecodeError> {
        let n = self.long()?;
        if n < 0 {
            let _size = self.long()?;
            n.checked_neg().ok_or(DecodeError::TooManyItems(n))
        } else {
            Ok(n)
        }
    }
}

/// Items with an empty encoding (`null`, a record of `null`s) could be claimed in any number;
/// cap them, over the whole body (nested arrays of them would multiply otherwise).
pub const MAX_EMPTY_ITEMS: i64 = 1 << 16;

/// Whether a value of `t` can take no bytes at all (references followed a few levels; a type
/// that refers to itself takes bytes to end the recursion).
fn encodes_empty(t: &Type, named: &HashMap<String, Type>, depth: usize) -> bool {
    match t {
        Type::Null => true,
        Type::Fixed(f) => f.size == 0,
        Type::Record(r) => r.fields.iter().all(|f| encodes_empty(&f.ty, named, depth)),
        Type::Ref(name) if depth < 8 => named
            .get(name)
            .is_some_and(|t| encodes_empty(t, named, depth + 1)),
        _ => false,
    }
}

/// A block of `block` items: items that take bytes cannot outnumber the bytes left; empty ones
/// are capped in all the body.
fn check_count(block: i64, item: &Type, r: &mut Reader<'_>) -> Result<(), DecodeError> {
    if encodes_empty(item, r.named, 0) {
        r.empty_items = r.empty_items.saturating_add(block);
        if r.empty_items > MAX_EMPTY_ITEMS {
            return Err(DecodeError::TooManyItems(r.empty_items));
        }
    } else if block > r.remaining() as i64 {
        return Err(DecodeError::TooManyItems(block));
    }
    Ok(())
}

fn decode_record<V: Visitor>(
    rec: &Record,
    r: &mut Reader<'_>,
    v: &mut V,
) -> Result<(), DecodeError> {
    v.begin_record();
    for f in &rec.fields {
        v.key(&f.json_key);
        decode_value(&f.ty, r, v)?;
    }
    v.end_record();
    Ok(())
}

fn decode_value<V: Visitor>(t: &Type, r: &mut Reader<'_>, v: &mut V) -> Result<(), DecodeError> {
    match t {
        Type::Null => v.null(),
        Type::Boolean => match r.byte()? {
            0 => v.boolean(false),
            1 => v.boolean(true),
            other => return Err(DecodeError::BadBoolean(other)),
        },
        Type::Int => v.long(r.int()?),
        Type::Long => v.long(r.long()?),
        Type::Date => v.temporal(r.int()?, "a date"),
        Type::TimeMillis | Type::TimeMicros => {
            let n = if matches!(t, Type::TimeMillis) {
                r.int()?
            } else {
                r.long()?
            };
            v.temporal(n, "a time of day")
        }
        Type::TimestampMillis => v.timestamp(r.long()?, TimeUnit::Millis, false),
        Type::Timestamp(unit) => v.timestamp(r.long()?, *unit, false),
        Type::LocalTimestamp(unit) => v.timestamp(r.long()?, *unit, true),
        Type::Float => {
            let raw = r.take(4)?;
            v.double(f64::from(f32::from_le_bytes(
                raw.try_into().expect("4 bytes"),
            )))
        }
        Type::Double => {
            let raw = r.take(8)?;
            v.double(f64::from_le_bytes(raw.try_into().expect("8 bytes")))
        }
        Type::String | Type::Uuid(None) => {
            let raw = r.bytes()?;
            v.string(std::str::from_utf8(raw).map_err(|_| DecodeError::InvalidUtf8)?)
        }
        Type::Bytes => v.bytes(r.bytes()?),
        Type::Record(rec) => decode_record(rec, r, v)?,
        Type::Optional(inner) => match r.long()? {
            0 => v.null(),
            1 => decode_value(inner, r, v)?,
            other => return Err(DecodeError::BadUnionIndex(other)),
        },
        Type::Array(item) => {
            v.begin_array();
            loop {
                let n = r.block_count()?;
                if n == 0 {
                    break;
                }
                check_count(n, item, r)?;
                for _ in 0..n {
                    decode_value(item, r, v)?;
                }
            }
            v.end_array();
        }
        Type::Map(values) => {
            v.begin_map();
            loop {
                let n = r.block_count()?;
                if n == 0 {
                    break;
                }
                // Every entry holds at least its key's length byte.
                if n > r.remaining() as i64 {
                    return Err(DecodeError::TooManyItems(n));
                }
                for _ in 0..n {
                    let k = r.bytes()?;
                    v.key(std::str::from_utf8(k).map_err(|_| DecodeError::InvalidUtf8)?);
                    decode_value(values, r, v)?;
                }
            }
            v.end_map();
        }
        Type::Union(branches) => {
            let i = r.long()?;
            match usize::try_from(i).ok().and_then(|i| branches.get(i)) {
                Some(b) => decode_value(b, r, v)?,
                None => return Err(DecodeError::BadUnionIndex(i)),
            }
        }
        Type::Enum(e) => {
            let i = r.int()?;
            match usize::try_from(i).ok().and_then(|i| e.symbols.get(i)) {
                Some(s) => v.string(s),
                None => {
                    return Err(DecodeError::BadEnumIndex {
                        index: i,
                        symbols: e.symbols.len(),
                    })
                }
            }
        }
        Type::Fixed(f) => v.bytes(r.take(f.size)?),
        Type::Decimal(d) => {
            let raw = match &d.fixed {
                None => r.bytes()?,
                Some(f) => r.take(f.size)?,
            };
            let mut text = std::mem::take(&mut r.scratch);
            text.clear();
            let res = decimal::to_text(raw, d.scale, d.precision, &mut text);
            if let Err(e) = res {
                return Err(DecodeError::Decimal(e.to_string()));
            }
            v.decimal(&text, d.precision);
            r.scratch = text;
        }
        Type::Uuid(Some(_)) => {
            let raw = r.take(16)?;
            let u = uuid::Uuid::from_slice(raw).expect("16 bytes");
            v.string(
                u.hyphenated()
                    .encode_lower(&mut uuid::Uuid::encode_buffer()),
            );
        }
        Type::Duration(_) => {
            let raw = r.take(12)?;
            v.begin_record();
            for (i, k) in ["months", "days", "milliseconds"].into_iter().enumerate() {
                v.key(k);
                let part = u32::from_le_bytes(raw[4 * i..4 * i + 4].try_into().expect("4 bytes"));
                v.long(i64::from(part));
            }
            v.end_record();
        }
        Type::Ref(name) => {
            let named = r.named;
            let t = named
                .get(name)
                .ok_or_else(|| DecodeError::UnknownType(name.clone()))?;
            if r.depth >= MAX_RECURSION {
                return Err(DecodeError::TooDeep(MAX_RECURSION));
            }
            r.depth += 1;
            decode_value(t, r, v)?;
            r.depth -= 1;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const EVT: &str = r#"{"type":"record","name":"Evt","namespace":"ex","fields":[{"name":"id","type":"string"},{"name":"n","type":"long"}]}"#;

    #[test]
    fn reference_body() {
        let s = CompiledSchema::parse(EVT).unwrap();
        let body = s.encode_to_vec(&json!({"id": "abc", "n": 42})).unwrap();
        assert_eq!(body, [0x06, 0x61, 0x62, 0x63, 0x54]);
        assert_eq!(s.decode(&body).unwrap(), json!({"id": "abc", "n": 42}));
    }

    #[test]
    fn fit_errors() {
        let s = CompiledSchema::parse(EVT).unwrap();
        assert_eq!(
            s.encode_to_vec(&json!({"id": "a", "n": 1, "x": 2})),
            Err(EncodeError::UnknownKey("x".into()))
        );
        assert_eq!(
            s.encode_to_vec(&json!({"id": "a"})),
            Err(EncodeError::Missing("n".into()))
        );
        assert_eq!(
            s.encode_to_vec(&json!({"id": "a", "n": 1.5})),
            Err(EncodeError::Mismatch {
                path: "n".into(),
                expected: "long".into(),
                found: "number"
            })
        );
        assert_eq!(
            s.encode_to_vec(&json!([])),
            Err(EncodeError::NotAnObject("array"))
        );
    }

    #[test]
    fn decode_errors() {
        let s = CompiledSchema::parse(EVT).unwrap();
        assert_eq!(s.decode(&[0x06, 0x61]), Err(DecodeError::Truncated));
        assert_eq!(s.decode(&[0x01]), Err(DecodeError::NegativeLength(-1)));
        assert_eq!(s.decode(&[0x02, 0xff, 0x02]), Err(DecodeError::InvalidUtf8));
        assert_eq!(
            s.decode(&[0x00, 0x02, 0x00]),
            Err(DecodeError::TrailingBytes(1))
        );
        assert_eq!(
            s.decode(&[0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]),
            Err(DecodeError::VarintOverflow)
        );
        let opt = CompiledSchema::parse(
            r#"{"type":"record","name":"R","fields":[{"name":"a","type":["null",{"type":"array","items":"null"}]}]}"#,
        )
        .unwrap();
        assert_eq!(opt.decode(&[0x04]), Err(DecodeError::BadUnionIndex(2)));
        // Arrays and maps written in several blocks (as blocking encoders write them), one with
        // a negative count followed by its byte size.
        let blocks = CompiledSchema::parse(
            r#"{"type":"record","name":"R","fields":[{"name":"m","type":{"type":"map","values":"long"}},
            {"name":"a","type":{"type":"array","items":"long"}}]}"#,
        )
        .unwrap();
        // By the second array block, more items have come than bytes are left: only each
        // block's own count is checked against the bytes.
        let body = [
            0x02, 0x02, b'x', 0x0c, // map block of 1: x → 6
            0x02, 0x02, b'y', 0x0e, // map block of 1: y → 7
            0x00, // end of the map
            0x06, 0x02, 0x04, 0x06, // array block of 3: 1, 2, 3
            0x03, 0x04, 0x08, 0x0a, // block of -2 (2 items, 2 bytes): 4, 5
            0x00, // end of the array
        ];
        assert_eq!(
            blocks.decode(&body).unwrap(),
            json!({"a": [1, 2, 3, 4, 5], "m": {"x": 6, "y": 7}})
        );
        // A billion null items in a few bytes is refused, not allocated.
        assert!(matches!(
            opt.decode(&[0x02, 0x80, 0xa8, 0xd6, 0xb9, 0x07, 0x00]),
            Err(DecodeError::TooManyItems(_))
        ));
    }

    #[test]
    fn agrees_with_apache_avro_both_ways() {
        let def = r#"{"type":"record","name":"R","fields":[
            {"name":"s","type":"string"},{"name":"t","type":{"type":"long","logicalType":"timestamp-millis"}},
            {"name":"d","type":["null","double"],"default":null},{"name":"b","type":["null","boolean"],"default":null},
            {"name":"a","type":["null",{"type":"array","items":"string"}],"default":null},
            {"name":"o","type":["null",{"type":"record","name":"O","fields":[{"name":"x","type":["null","long"],"default":null}]}],"default":null},
            {"name":"m","type":{"type":"map","values":"int"}},{"name":"f","type":"float"},{"name":"y","type":"bytes"}]}"#;
        let s = CompiledSchema::parse(def).unwrap();
        let event = json!({"s": "dev", "t": 1_700_000_000_000i64, "d": -2.5, "b": null,
            "a": ["x", "yz"], "o": {"x": -7}, "m": {"k": 3}, "f": 1.5, "y": "\u{00ff}\u{0001}"});
        let body = s.encode_to_vec(&event).unwrap();
        let avro = apache_avro::Schema::parse_str(def).unwrap();
        let mut slice = &body[..];
        let theirs = apache_avro::reader::datum::GenericDatumReader::builder(&avro)
            .build()
            .unwrap()
            .read_value(&mut slice)
            .unwrap();
        assert!(slice.is_empty());
        let reencoded = apache_avro::writer::datum::GenericDatumWriter::builder(&avro)
            .build()
            .unwrap()
            .write_value_to_vec(theirs)
            .unwrap();
        assert_eq!(reencoded, body);
        assert_eq!(s.decode(&body).unwrap(), event);
    }
}
