//! The Avro schema model (the whole Avro 1.12 specification as far as a writer schema goes):
//! parsed from a registered definition, written back as canonical text, and checked for
//! compatibility with apache-avro.
//!
//! Canonical text is compact JSON with a fixed key order, so the same model always yields a
//! byte-identical definition (Glue matches definitions as exact strings). Attributes outside the
//! specification (other than `jsonKey`) and logical types the model does not know are not kept:
//! such a type is read as its underlying type, as the specification prescribes.
//!
//! A named type (record, enum, fixed) is defined once, where it first appears; later uses are
//! [`Type::Ref`] by full name, which is how recursive types (a `Node` with `children`) are held.

use std::collections::HashMap;
use std::fmt::Write as _;

use serde_json::{Map, Value};
use thiserror::Error;

/// Field attribute that keeps a JSON key that is not a valid Avro name.
pub const JSON_KEY_ATTR: &str = "jsonKey";
/// The record's device key field.
pub const DEVICE_ID: &str = "deviceId";
/// The record's time key field (epoch milliseconds, logical type `timestamp-millis`).
pub const TIMESTAMP: &str = "timestamp";
/// Glue's limit on the length of a schema definition.
pub const GLUE_MAX_DEFINITION_LEN: usize = 170_000;
/// The largest precision a decimal may declare: its unscaled value is at most this many digits.
pub const MAX_DECIMAL_PRECISION: u32 = 256;

/// An Avro type.
#[derive(Debug, Clone, PartialEq)]
pub enum Type {
    Null,
    Boolean,
    Int,
    Long,
    Float,
    Double,
    String,
    Bytes,
    /// `long` with logical type `timestamp-millis`.
    TimestampMillis,
    Record(Record),
    Array(Box<Type>),
    Map(Box<Type>),
    /// The union `["null", T]`; `T` is never `Null` nor a union.
    Optional(Box<Type>),
    /// Every other union: any arity, any order, `null` anywhere or nowhere.
    Union(Vec<Type>),
    Enum(Enum),
    Fixed(Fixed),
    /// `decimal` on `bytes` (`fixed: None`) or on a `fixed`.
    Decimal(Decimal),
    /// `uuid` on `string` (`None`) or on a `fixed` of 16 bytes.
    Uuid(Option<Fixed>),
    /// `int` with `date`: days since the Unix epoch.
    Date,
    /// `int` with `time-millis`: milliseconds after midnight.
    TimeMillis,
    /// `long` with `time-micros`: microseconds after midnight.
    TimeMicros,
    /// `long` with `timestamp-micros` or `timestamp-nanos`.
    Timestamp(TimeUnit),
    /// `long` with `local-timestamp-millis|micros|nanos`.
    LocalTimestamp(TimeUnit),
    /// `fixed` of 12 bytes with `duration`: months, days, milliseconds.
    Duration(Fixed),
    /// A named type defined earlier, by its full name.
    Ref(String),
}

/// The unit of a timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeUnit {
    Millis,
    Micros,
    Nanos,
}

impl TimeUnit {
    fn suffix(self) -> &'static str {
        match self {
            TimeUnit::Millis => "millis",
            TimeUnit::Micros => "micros",
            TimeUnit::Nanos => "nanos",
        }
    }

    /// `v` in this unit as whole milliseconds (rounded down).
    pub fn to_millis(self, v: i64) -> i64 {
        match self {
            TimeUnit::Millis => v,
            TimeUnit::Micros => v.div_euclid(1_000),
            TimeUnit::Nanos => v.div_euclid(1_000_000),
        }
    }
}

/// What named types have besides their kind.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Names {
    pub doc: Option<String>,
    pub aliases: Vec<String>,
}

/// A named Avro record.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub name: String,
    /// The namespace as written (`namespace` or the prefix of a dotted name); `None` inherits
    /// the enclosing one.
    pub namespace: Option<String>,
    pub fields: Vec<Field>,
    pub names: Names,
}

/// A record field: its Avro name, the JSON key it stands for, its type and its default.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub name: String,
    pub json_key: String,
    pub ty: Type,
    /// The default as Avro JSON (`Some(Value::Null)` is `"default": null`).
    pub default: Option<Value>,
    pub doc: Option<String>,
    pub order: Option<String>,
    pub aliases: Vec<String>,
}

/// An enum.
#[derive(Debug, Clone, PartialEq)]
pub struct Enum {
    pub name: String,
    pub namespace: Option<String>,
    pub symbols: Vec<String>,
    pub default: Option<String>,
    pub names: Names,
}

/// A fixed.
#[derive(Debug, Clone, PartialEq)]
pub struct Fixed {
    pub name: String,
    pub namespace: Option<String>,
    pub size: usize,
    pub names: Names,
}

/// A decimal: `precision` digits, `scale` of them after the point.
#[derive(Debug, Clone, PartialEq)]
pub struct Decimal {
    pub precision: u32,
    pub scale: u32,
    pub fixed: Option<Fixed>,
}

impl Field {
    /// A field of our own inference: `"default": null` or none.
    pub fn new(name: &str, json_key: &str, ty: Type, default_null: bool) -> Field {
        Field {
            name: name.to_string(),
            json_key: json_key.to_string(),
            ty,
            default: default_null.then_some(Value::Null),
            doc: None,
            order: None,
            aliases: Vec::new(),
        }
    }

    /// Whether the field has `"default": null`.
    pub fn default_null(&self) -> bool {
        matches!(self.default, Some(Value::Null))
    }
}

impl Record {
    /// A record without doc or aliases.
    pub fn new(name: &str, namespace: Option<String>, fields: Vec<Field>) -> Record {
        Record {
            name: name.to_string(),
            namespace,
            fields,
            names: Names::default(),
        }
    }
}

impl Type {
    /// A short human name for messages: `long`, `record Reading_location`, `array<string>`, ...
    pub fn describe(&self) -> String {
        match self {
            Type::Null => "null".into(),
            Type::Boolean => "boolean".into(),
            Type::Int => "int".into(),
            Type::Long => "long".into(),
            Type::Float => "float".into(),
            Type::Double => "double".into(),
            Type::String => "string".into(),
            Type::Bytes => "bytes".into(),
            Type::TimestampMillis => "timestamp-millis".into(),
            Type::Record(r) => format!("record {}", r.name),
            Type::Array(t) => format!("array<{}>", t.describe()),
            Type::Map(t) => format!("map<{}>", t.describe()),
            Type::Optional(t) => format!("nullable {}", t.describe()),
            Type::Union(ts) => format!(
                "union [{}]",
                ts.iter().map(Type::describe).collect::<Vec<_>>().join(", ")
            ),
            Type::Enum(e) => format!("enum {}", e.name),
            Type::Fixed(f) => format!("fixed {} ({} bytes)", f.name, f.size),
            Type::Decimal(d) => format!("decimal({}, {})", d.precision, d.scale),
            Type::Uuid(_) => "uuid".into(),
            Type::Date => "date".into(),
            Type::TimeMillis => "time-millis".into(),
            Type::TimeMicros => "time-micros".into(),
            Type::Timestamp(u) => format!("timestamp-{}", u.suffix()),
            Type::LocalTimestamp(u) => format!("local-timestamp-{}", u.suffix()),
            Type::Duration(_) => "duration".into(),
            Type::Ref(name) => name.clone(),
        }
    }

    /// The kind for the rule that a union holds each unnamed kind once (named types by name).
    fn union_kind(&self) -> String {
        match self {
            Type::Record(r) => format!("record {}", r.name),
            Type::Enum(e) => format!("enum {}", e.name),
            Type::Fixed(f) | Type::Duration(f) => format!("fixed {}", f.name),
            Type::Decimal(Decimal { fixed: Some(f), .. }) | Type::Uuid(Some(f)) => {
                format!("fixed {}", f.name)
            }
            Type::Ref(n) => format!("named {n}"),
            Type::Decimal(_) => "bytes".into(),
            Type::Uuid(None) => "string".into(),
            Type::Date | Type::TimeMillis => "int".into(),
            Type::TimestampMillis
            | Type::TimeMicros
            | Type::Timestamp(_)
            | Type::LocalTimestamp(_) => "long".into(),
            Type::Array(_) => "array".into(),
            Type::Map(_) => "map".into(),
            other => other.describe(),
        }
    }
}

/// Why a definition could not be read into the model.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum SchemaError {
    #[error("schema definition is not JSON: {0}")]
    NotJson(String),
    #[error("schema definition is not valid Avro: {0}")]
    InvalidAvro(String),
    #[error("unsupported Avro construct at {path}: {what}")]
    Unsupported { path: String, what: String },
    #[error("the default of {path} does not match its type: {why}")]
    BadDefault { path: String, why: String },
    #[error("the top-level schema must be a record")]
    NotARecord,
}

impl Record {
    /// Parses a definition (Avro JSON) whose top-level type is a record.
    pub fn parse(definition: &str) -> Result<Record, SchemaError> {
        match parse_definition(definition)? {
            Type::Record(r) => Ok(r),
            _ => Err(SchemaError::NotARecord),
        }
    }

    /// The canonical definition text.
    pub fn to_definition(&self) -> String {
        let mut out = String::with_capacity(256);
        write_record(self, &mut out);
        out
    }

    /// Looks up a field by its JSON key.
    pub fn field_by_key(&self, key: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.json_key == key)
    }

    /// Counts the fields of this record and of every record nested in it (a record used again
    /// by name is not counted again).
    pub fn total_fields(&self) -> usize {
        self.fields
            .iter()
            .map(|f| 1 + nested_fields(&f.ty))
            .sum::<usize>()
    }
}

fn nested_fields(t: &Type) -> usize {
    match t {
        Type::Record(r) => r.total_fields(),
        Type::Array(t) | Type::Map(t) | Type::Optional(t) => nested_fields(t),
        Type::Union(ts) => ts.iter().map(nested_fields).sum(),
        _ => 0,
    }
}

/// Parses any Avro definition (a record, or any other type at the top).
pub fn parse_definition(definition: &str) -> Result<Type, SchemaError> {
    let json: Value =
        serde_json::from_str(definition).map_err(|e| SchemaError::NotJson(e.to_string()))?;
    let mut p = Parser::default();
    p.parse_type(&json, "$", None)
}

/// Every named type of `t`, by full name (as [`Type::Ref`] names them).
pub fn named_types(t: &Type) -> HashMap<String, Type> {
    let mut out = HashMap::new();
    collect_named(t, None, &mut out);
    out
}

fn collect_named(t: &Type, ns: Option<&str>, out: &mut HashMap<String, Type>) {
    let (name, own_ns) = match t {
        Type::Record(r) => (&r.name, &r.namespace),
        Type::Enum(e) => (&e.name, &e.namespace),
        Type::Fixed(f) | Type::Duration(f) => (&f.name, &f.namespace),
        Type::Decimal(Decimal { fixed: Some(f), .. }) | Type::Uuid(Some(f)) => {
            (&f.name, &f.namespace)
        }
        Type::Array(t) | Type::Map(t) | Type::Optional(t) => return collect_named(t, ns, out),
        Type::Union(ts) => {
            for t in ts {
                collect_named(t, ns, out);
            }
            return;
        }
        _ => return,
    };
    let ns = own_ns.as_deref().or(ns);
    out.insert(full_name(name, ns), t.clone());
    if let Type::Record(r) = t {
        let inner = ns.filter(|s| !s.is_empty());
        for f in &r.fields {
            collect_named(&f.ty, inner, out);
        }
    }
}

fn full_name(name: &str, ns: Option<&str>) -> String {
    match ns {
        Some(ns) if !ns.is_empty() => format!("{ns}.{name}"),
        _ => name.to_string(),
    }
}

fn unsupported(path: &str, what: impl Into<String>) -> SchemaError {
    SchemaError::Unsupported {
        path: path.to_string(),
        what: what.into(),
    }
}

fn invalid(path: &str, what: impl std::fmt::Display) -> SchemaError {
    SchemaError::InvalidAvro(format!("{path}: {what}"))
}

/// Whether `s` is an Avro name: `[A-Za-z_][A-Za-z0-9_]*`.
pub fn is_valid_name(s: &str) -> bool {
    let mut b = s.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

fn primitive(name: &str) -> Option<Type> {
    Some(match name {
        "null" => Type::Null,
        "boolean" => Type::Boolean,
        "int" => Type::Int,
        "long" => Type::Long,
        "float" => Type::Float,
        "double" => Type::Double,
        "string" => Type::String,
        "bytes" => Type::Bytes,
        _ => return None,
    })
}

/// Named types seen so far, by full name, for references and defaults.
#[derive(Default)]
struct Parser {
    named: HashMap<String, Type>,
}

impl Parser {
    fn parse_type(
        &mut self,
        json: &Value,
        path: &str,
        ns: Option<&str>,
    ) -> Result<Type, SchemaError> {
        match json {
            Value::String(s) => match primitive(s) {
                Some(t) => Ok(t),
                None => self.reference(s, path, ns),
            },
            Value::Array(branches) => self.parse_union(branches, path, ns),
            Value::Object(obj) => {
                let ty = obj
                    .get("type")
                    .ok_or_else(|| invalid(path, "missing \"type\""))?;
                let base = match ty {
                    Value::String(t) => match t.as_str() {
                        "record" | "error" => Type::Record(self.parse_record(obj, path, ns)?),
                        "enum" => Type::Enum(self.parse_enum(obj, path, ns)?),
                        "fixed" => {
                            let f = self.parse_fixed(obj, path, ns)?;
                            let t = logical_fixed(obj, f);
                            self.define(&t, path, ns)?;
                            return Ok(t);
                        }
                        "array" => {
                            let items = obj
                                .get("items")
                                .ok_or_else(|| invalid(path, "array without items"))?;
                            Type::Array(Box::new(self.parse_type(
                                items,
                                &format!("{path}[]"),
                                ns,
                            )?))
                        }
                        "map" => {
                            let values = obj
                                .get("values")
                                .ok_or_else(|| invalid(path, "map without values"))?;
                            Type::Map(Box::new(self.parse_type(
                                values,
                                &format!("{path}{{}}"),
                                ns,
                            )?))
                        }
                        other => match primitive(other) {
                            Some(t) => t,
                            None => self.reference(other, path, ns)?,
                        },
                    },
                    // `{"type": {...}}` and `{"type": [...]}` wrap a type.
                    other => return self.parse_type(other, path, ns),
                };
                Ok(logical(obj, base))
            }
            other => Err(invalid(path, format_args!("{other} is not a type"))),
        }
    }

    fn reference(&self, name: &str, path: &str, ns: Option<&str>) -> Result<Type, SchemaError> {
        let candidates = if name.contains('.') {
            vec![name.to_string()]
        } else {
            vec![full_name(name, ns), name.to_string()]
        };
        candidates
            .into_iter()
            .find(|c| self.named.contains_key(c))
            .map(Type::Ref)
            .ok_or_else(|| invalid(path, format_args!("unknown type {name:?}")))
    }

    /// Registers a named type under its full name; a second definition is an error.
    fn define(&mut self, t: &Type, path: &str, ns: Option<&str>) -> Result<(), SchemaError> {
        let (name, own) = match t {
            Type::Record(r) => (&r.name, &r.namespace),
            Type::Enum(e) => (&e.name, &e.namespace),
            Type::Fixed(f) | Type::Duration(f) => (&f.name, &f.namespace),
            Type::Decimal(Decimal { fixed: Some(f), .. }) | Type::Uuid(Some(f)) => {
                (&f.name, &f.namespace)
            }
            _ => return Ok(()),
        };
        let full = full_name(name, own.as_deref().or(ns));
        if primitive(name).is_some() {
            return Err(invalid(
                path,
                format_args!("{name:?} is a primitive type name"),
            ));
        }
        if self.named.insert(full.clone(), t.clone()).is_some() && !matches!(t, Type::Record(_)) {
            return Err(invalid(path, format_args!("{full:?} is defined twice")));
        }
        Ok(())
    }

    /// `name`, `namespace`, `doc`, `aliases` of a named type.
    fn names(
        obj: &Map<String, Value>,
        path: &str,
        what: &str,
    ) -> Result<(String, Option<String>, Names), SchemaError> {
        let name = obj
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid(path, format_args!("{what} without name")))?;
        let (namespace, name) = match name.rsplit_once('.') {
            Some((ns, n)) => (Some(ns.to_string()), n.to_string()),
            None => (
                match obj.get("namespace") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(s)) => Some(s.clone()),
                    Some(other) => return Err(invalid(path, format_args!("namespace {other}"))),
                },
                name.to_string(),
            ),
        };
        if !is_valid_name(&name) {
            return Err(invalid(path, format_args!("{name:?} is not a valid name")));
        }
        if let Some(ns) = namespace.as_deref().filter(|s| !s.is_empty()) {
            if !ns.split('.').all(is_valid_name) {
                return Err(invalid(
                    path,
                    format_args!("{ns:?} is not a valid namespace"),
                ));
            }
        }
        Ok((namespace, name, Self::doc_aliases(obj, path)?)).map(|(ns, n, names)| (n, ns, names))
    }

    fn doc_aliases(obj: &Map<String, Value>, path: &str) -> Result<Names, SchemaError> {
        let doc = obj.get("doc").and_then(Value::as_str).map(str::to_string);
        let aliases = match obj.get("aliases") {
            None => Vec::new(),
            Some(Value::Array(a)) => a
                .iter()
                .map(|x| {
                    x.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| invalid(path, "an alias that is not a string"))
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(invalid(path, "aliases must be an array of strings")),
        };
        Ok(Names { doc, aliases })
    }

    fn parse_enum(
        &mut self,
        obj: &Map<String, Value>,
        path: &str,
        ns: Option<&str>,
    ) -> Result<Enum, SchemaError> {
        let (name, namespace, names) = Self::names(obj, path, "enum")?;
        let symbols: Vec<String> = obj
            .get("symbols")
            .and_then(Value::as_array)
            .ok_or_else(|| invalid(path, "enum without symbols"))?
            .iter()
            .map(|s| {
                s.as_str()
                    .filter(|s| is_valid_name(s))
                    .map(str::to_string)
                    .ok_or_else(|| invalid(path, format_args!("enum symbol {s} is not a name")))
            })
            .collect::<Result<_, _>>()?;
        for (i, s) in symbols.iter().enumerate() {
            if symbols[..i].contains(s) {
                return Err(invalid(
                    path,
                    format_args!("enum symbol {s:?} appears twice"),
                ));
            }
        }
        let default = match obj.get("default") {
            None => None,
            Some(Value::String(d)) if symbols.contains(d) => Some(d.clone()),
            Some(d) => {
                return Err(SchemaError::BadDefault {
                    path: path.to_string(),
                    why: format!("{d} is not one of the enum's symbols"),
                })
            }
        };
        let e = Enum {
            name,
            namespace,
            symbols,
            default,
            names,
        };
        self.define(&Type::Enum(e.clone()), path, ns)?;
        Ok(e)
    }

    fn parse_fixed(
        &mut self,
        obj: &Map<String, Value>,
        path: &str,
        _ns: Option<&str>,
    ) -> Result<Fixed, SchemaError> {
        let (name, namespace, names) = Self::names(obj, path, "fixed")?;
        let size = obj
            .get("size")
            .and_then(Value::as_u64)
            .and_then(|s| usize::try_from(s).ok())
            .filter(|s| *s <= 1 << 24)
            .ok_or_else(|| invalid(path, "fixed without a size (a number up to 16 MiB)"))?;
        Ok(Fixed {
            name,
            namespace,
            size,
            names,
        })
    }

    fn parse_union(
        &mut self,
        branches: &[Value],
        path: &str,
        ns: Option<&str>,
    ) -> Result<Type, SchemaError> {
        let mut parsed = Vec::with_capacity(branches.len());
        for (i, b) in branches.iter().enumerate() {
            let t = self.parse_type(b, &format!("{path}|{i}"), ns)?;
            if matches!(t, Type::Union(_) | Type::Optional(_)) {
                return Err(invalid(path, "a union directly inside a union"));
            }
            let kind = t.union_kind();
            if parsed.iter().any(|p: &Type| p.union_kind() == kind) {
                return Err(invalid(path, format_args!("the union holds {kind} twice")));
            }
            parsed.push(t);
        }
        if parsed.is_empty() {
            return Err(invalid(path, "an empty union"));
        }
        Ok(match <[Type; 2]>::try_from(parsed) {
            Ok([Type::Null, t]) => Type::Optional(Box::new(t)),
            Ok(pair) => Type::Union(pair.into()),
            Err(other) => Type::Union(other),
        })
    }

    fn parse_record(
        &mut self,
        obj: &Map<String, Value>,
        path: &str,
        ns: Option<&str>,
    ) -> Result<Record, SchemaError> {
        let (name, namespace, names) = Self::names(obj, path, "record")?;
        let fields_json = obj
            .get("fields")
            .and_then(Value::as_array)
            .ok_or_else(|| invalid(path, "record without fields"))?;
        // Defined before its fields, so that they may refer to it.
        let mut record = Record {
            name,
            namespace,
            fields: Vec::new(),
            names,
        };
        let own_ns = record.namespace.clone().or(ns.map(str::to_string));
        let full = full_name(&record.name, own_ns.as_deref());
        if self.named.contains_key(&full) {
            return Err(invalid(path, format_args!("{full:?} is defined twice")));
        }
        self.define(&Type::Record(record.clone()), path, ns)?;
        let inner_ns = own_ns.as_deref().filter(|s| !s.is_empty());
        let mut fields = Vec::with_capacity(fields_json.len());
        for f in fields_json {
            let fname = f
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid(path, "field without name"))?;
            let fpath = format!("{path}.{fname}");
            if !is_valid_name(fname) {
                return Err(invalid(&fpath, "the field name is not a valid name"));
            }
            if fields.iter().any(|g: &Field| g.name == fname) {
                return Err(invalid(&fpath, "a second field of this name"));
            }
            let ty = self.parse_type(
                f.get("type")
                    .ok_or_else(|| invalid(&fpath, "field without type"))?,
                &fpath,
                inner_ns,
            )?;
            let default = f.get("default").cloned();
            if let Some(d) = &default {
                self.check_default(&ty, d, 0)
                    .map_err(|why| SchemaError::BadDefault {
                        path: fpath.clone(),
                        why,
                    })?;
            }
            let json_key = match f.get(JSON_KEY_ATTR) {
                None => fname.to_string(),
                Some(Value::String(k)) => k.clone(),
                Some(_) => return Err(invalid(&fpath, "jsonKey must be a string")),
            };
            // Two fields for one JSON key would make encoding ambiguous.
            if fields.iter().any(|g: &Field| g.json_key == json_key) {
                return Err(unsupported(
                    &fpath,
                    format!("a second field for JSON key {json_key:?}"),
                ));
            }
            let order = match f.get("order") {
                None => None,
                Some(Value::String(o))
                    if ["ascending", "descending", "ignore"].contains(&o.as_str()) =>
                {
                    Some(o.clone())
                }
                Some(o) => return Err(invalid(&fpath, format_args!("order {o}"))),
            };
            let more = Self::doc_aliases(
                f.as_object().expect("a field with a name is an object"),
                &fpath,
            )?;
            fields.push(Field {
                name: fname.to_string(),
                json_key,
                ty,
                default,
                doc: more.doc,
                order,
                aliases: more.aliases,
            });
        }
        record.fields = fields;
        // The full definition replaces the one registered before the fields.
        self.named.insert(full, Type::Record(record.clone()));
        Ok(record)
    }

    /// Whether `d` (Avro JSON) is a value of `t`: `Err` says why not.
    fn check_default(&self, t: &Type, d: &Value, depth: usize) -> Result<(), String> {
        if depth > 64 {
            return Err("nested deeper than 64 levels".into());
        }
        let ok = match t {
            Type::Null => d.is_null(),
            Type::Boolean => d.is_boolean(),
            Type::Int | Type::Date | Type::TimeMillis => {
                d.as_i64().is_some_and(|i| i32::try_from(i).is_ok())
            }
            Type::Long
            | Type::TimestampMillis
            | Type::TimeMicros
            | Type::Timestamp(_)
            | Type::LocalTimestamp(_) => d.is_i64(),
            Type::Float | Type::Double => d.is_number(),
            Type::String | Type::Uuid(None) => d.is_string(),
            Type::Bytes | Type::Decimal(Decimal { fixed: None, .. }) => d
                .as_str()
                .is_some_and(|s| s.chars().all(|c| u32::from(c) < 256)),
            Type::Fixed(f)
            | Type::Duration(f)
            | Type::Uuid(Some(f))
            | Type::Decimal(Decimal { fixed: Some(f), .. }) => d.as_str().is_some_and(|s| {
                s.chars().all(|c| u32::from(c) < 256) && s.chars().count() == f.size
            }),
            Type::Enum(e) => d.as_str().is_some_and(|s| e.symbols.iter().any(|x| x == s)),
            Type::Array(items) => match d.as_array() {
                Some(a) => {
                    for x in a {
                        self.check_default(items, x, depth + 1)?;
                    }
                    true
                }
                None => false,
            },
            Type::Map(values) => match d.as_object() {
                Some(m) => {
                    for x in m.values() {
                        self.check_default(values, x, depth + 1)?;
                    }
                    true
                }
                None => false,
            },
            Type::Record(r) => match d.as_object() {
                Some(m) => {
                    for f in &r.fields {
                        match m.get(&f.name) {
                            Some(x) => self.check_default(&f.ty, x, depth + 1)?,
                            None if f.default.is_some() => {}
                            None => return Err(format!("field {} is missing", f.name)),
                        }
                    }
                    true
                }
                None => false,
            },
            Type::Optional(inner) => d.is_null() || self.check_default(inner, d, depth + 1).is_ok(),
            Type::Union(ts) => ts
                .iter()
                .any(|b| self.check_default(b, d, depth + 1).is_ok()),
            Type::Ref(name) => match self.named.get(name) {
                Some(t) => return self.check_default(t, d, depth + 1),
                None => false,
            },
        };
        if ok {
            Ok(())
        } else {
            Err(format!("{d} is not a {}", t.describe()))
        }
    }
}

/// The logical type of a non-fixed type, or `base` when there is none or it does not apply.
fn logical(obj: &Map<String, Value>, base: Type) -> Type {
    let Some(l) = obj.get("logicalType").and_then(Value::as_str) else {
        return base;
    };
    match (l, &base) {
        ("timestamp-millis", Type::Long) => Type::TimestampMillis,
        ("timestamp-micros", Type::Long) => Type::Timestamp(TimeUnit::Micros),
        ("timestamp-nanos", Type::Long) => Type::Timestamp(TimeUnit::Nanos),
        ("local-timestamp-millis", Type::Long) => Type::LocalTimestamp(TimeUnit::Millis),
        ("local-timestamp-micros", Type::Long) => Type::LocalTimestamp(TimeUnit::Micros),
        ("local-timestamp-nanos", Type::Long) => Type::LocalTimestamp(TimeUnit::Nanos),
        ("time-micros", Type::Long) => Type::TimeMicros,
        ("date", Type::Int) => Type::Date,
        ("time-millis", Type::Int) => Type::TimeMillis,
        ("uuid", Type::String) => Type::Uuid(None),
        ("decimal", Type::Bytes) => match decimal_params(obj, None) {
            Some((precision, scale)) => Type::Decimal(Decimal {
                precision,
                scale,
                fixed: None,
            }),
            None => base,
        },
        _ => base,
    }
}

/// A fixed with its logical type, when it has one that applies.
fn logical_fixed(obj: &Map<String, Value>, f: Fixed) -> Type {
    match obj.get("logicalType").and_then(Value::as_str) {
        Some("decimal") => match decimal_params(obj, Some(f.size)) {
            Some((precision, scale)) => Type::Decimal(Decimal {
                precision,
                scale,
                fixed: Some(f),
            }),
            None => Type::Fixed(f),
        },
        Some("uuid") if f.size == 16 => Type::Uuid(Some(f)),
        Some("duration") if f.size == 12 => Type::Duration(f),
        _ => Type::Fixed(f),
    }
}

/// `precision` and `scale` when they are valid (else the decimal is ignored, as the
/// specification says): 0 < precision, 0 ≤ scale ≤ precision, and a fixed of `size` bytes holds
/// `precision` digits.
fn decimal_params(obj: &Map<String, Value>, size: Option<usize>) -> Option<(u32, u32)> {
    let precision = u32::try_from(obj.get("precision")?.as_u64()?).ok()?;
    let scale = match obj.get("scale") {
        None => 0,
        Some(s) => u32::try_from(s.as_u64()?).ok()?,
    };
    if precision == 0 || scale > precision || precision > MAX_DECIMAL_PRECISION {
        return None;
    }
    if let Some(size) = size {
        // Digits of the largest signed value in `size` bytes: floor(log10(2^(8·size−1) − 1)).
        let bits = (8.0 * size as f64 - 1.0).max(0.0);
        let max_digits = (bits * std::f64::consts::LOG10_2).floor() as u32;
        if precision > max_digits {
            return None;
        }
    }
    Some((precision, scale))
}

pub(crate) fn push_json_str(out: &mut String, s: &str) {
    // serde_json's escaping, so the text is valid JSON for every key.
    out.push_str(&serde_json::to_string(s).expect("string serialises"));
}

fn write_names(
    out: &mut String,
    kind: &str,
    name: &str,
    namespace: &Option<String>,
    names: &Names,
) {
    let _ = write!(out, "{{\"type\":\"{kind}\",\"name\":");
    push_json_str(out, name);
    if let Some(ns) = namespace {
        out.push_str(",\"namespace\":");
        push_json_str(out, ns);
    }
    if let Some(doc) = &names.doc {
        out.push_str(",\"doc\":");
        push_json_str(out, doc);
    }
    write_aliases(out, &names.aliases);
}

fn write_aliases(out: &mut String, aliases: &[String]) {
    if !aliases.is_empty() {
        out.push_str(",\"aliases\":[");
        for (i, a) in aliases.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            push_json_str(out, a);
        }
        out.push(']');
    }
}

fn write_record(r: &Record, out: &mut String) {
    write_names(out, "record", &r.name, &r.namespace, &r.names);
    out.push_str(",\"fields\":[");
    for (i, f) in r.fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"name\":");
        push_json_str(out, &f.name);
        out.push_str(",\"type\":");
        write_type(&f.ty, out);
        if let Some(doc) = &f.doc {
            out.push_str(",\"doc\":");
            push_json_str(out, doc);
        }
        if let Some(d) = &f.default {
            out.push_str(",\"default\":");
            out.push_str(&serde_json::to_string(d).expect("JSON serialises"));
        }
        if let Some(o) = &f.order {
            out.push_str(",\"order\":");
            push_json_str(out, o);
        }
        write_aliases(out, &f.aliases);
        if f.json_key != f.name {
            let _ = write!(out, ",\"{JSON_KEY_ATTR}\":");
            push_json_str(out, &f.json_key);
        }
        out.push('}');
    }
    out.push_str("]}");
}

fn write_fixed(f: &Fixed, logical: &str, out: &mut String) {
    write_names(out, "fixed", &f.name, &f.namespace, &f.names);
    let _ = write!(out, ",\"size\":{}", f.size);
    if !logical.is_empty() {
        let _ = write!(out, ",\"logicalType\":\"{logical}\"");
    }
}

fn write_type(t: &Type, out: &mut String) {
    match t {
        Type::Null => out.push_str("\"null\""),
        Type::Boolean => out.push_str("\"boolean\""),
        Type::Int => out.push_str("\"int\""),
        Type::Long => out.push_str("\"long\""),
        Type::Float => out.push_str("\"float\""),
        Type::Double => out.push_str("\"double\""),
        Type::String => out.push_str("\"string\""),
        Type::Bytes => out.push_str("\"bytes\""),
        Type::TimestampMillis => {
            out.push_str("{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}")
        }
        Type::Record(r) => write_record(r, out),
        Type::Array(items) => {
            out.push_str("{\"type\":\"array\",\"items\":");
            write_type(items, out);
            out.push('}');
        }
        Type::Map(values) => {
            out.push_str("{\"type\":\"map\",\"values\":");
            write_type(values, out);
            out.push('}');
        }
        Type::Optional(inner) => {
            out.push_str("[\"null\",");
            write_type(inner, out);
            out.push(']');
        }
        Type::Union(ts) => {
            out.push('[');
            for (i, t) in ts.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_type(t, out);
            }
            out.push(']');
        }
        Type::Enum(e) => {
            write_names(out, "enum", &e.name, &e.namespace, &e.names);
            out.push_str(",\"symbols\":[");
            for (i, s) in e.symbols.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_json_str(out, s);
            }
            out.push(']');
            if let Some(d) = &e.default {
                out.push_str(",\"default\":");
                push_json_str(out, d);
            }
            out.push('}');
        }
        Type::Fixed(f) => {
            write_fixed(f, "", out);
            out.push('}');
        }
        Type::Decimal(d) => {
            match &d.fixed {
                Some(f) => write_fixed(f, "decimal", out),
                None => out.push_str("{\"type\":\"bytes\",\"logicalType\":\"decimal\""),
            }
            let _ = write!(
                out,
                ",\"precision\":{},\"scale\":{}}}",
                d.precision, d.scale
            );
        }
        Type::Uuid(None) => out.push_str("{\"type\":\"string\",\"logicalType\":\"uuid\"}"),
        Type::Uuid(Some(f)) => {
            write_fixed(f, "uuid", out);
            out.push('}');
        }
        Type::Duration(f) => {
            write_fixed(f, "duration", out);
            out.push('}');
        }
        Type::Date => out.push_str("{\"type\":\"int\",\"logicalType\":\"date\"}"),
        Type::TimeMillis => out.push_str("{\"type\":\"int\",\"logicalType\":\"time-millis\"}"),
        Type::TimeMicros => out.push_str("{\"type\":\"long\",\"logicalType\":\"time-micros\"}"),
        Type::Timestamp(u) => {
            let _ = write!(
                out,
                "{{\"type\":\"long\",\"logicalType\":\"timestamp-{}\"}}",
                u.suffix()
            );
        }
        Type::LocalTimestamp(u) => {
            let _ = write!(
                out,
                "{{\"type\":\"long\",\"logicalType\":\"local-timestamp-{}\"}}",
                u.suffix()
            );
        }
        Type::Ref(name) => push_json_str(out, name),
    }
}

/// Schema compatibility modes, as the Glue Schema Registry names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compatibility {
    None,
    Disabled,
    #[default]
    Backward,
    BackwardAll,
    Forward,
    ForwardAll,
    Full,
    FullAll,
}

impl Compatibility {
    /// Glue's name of the mode.
    pub fn as_str(self) -> &'static str {
        match self {
            Compatibility::None => "NONE",
            Compatibility::Disabled => "DISABLED",
            Compatibility::Backward => "BACKWARD",
            Compatibility::BackwardAll => "BACKWARD_ALL",
            Compatibility::Forward => "FORWARD",
            Compatibility::ForwardAll => "FORWARD_ALL",
            Compatibility::Full => "FULL",
            Compatibility::FullAll => "FULL_ALL",
        }
    }

    /// New readers must read old data (BACKWARD, FULL and their _ALL forms).
    pub fn checks_backward(self) -> bool {
        matches!(
            self,
            Compatibility::Backward
                | Compatibility::BackwardAll
                | Compatibility::Full
                | Compatibility::FullAll
        )
    }

    /// Old readers must read new data (FORWARD, FULL and their _ALL forms).
    pub fn checks_forward(self) -> bool {
        matches!(
            self,
            Compatibility::Forward
                | Compatibility::ForwardAll
                | Compatibility::Full
                | Compatibility::FullAll
        )
    }

    /// Whether the check runs against every earlier version rather than the latest only.
    pub fn checks_all_versions(self) -> bool {
        matches!(
            self,
            Compatibility::BackwardAll | Compatibility::ForwardAll | Compatibility::FullAll
        )
    }

    /// Whether a type may widen (`long` → `double`, `null` → `["null", T]`): only when old
    /// readers need not read new data.
    pub fn allows_widening(self) -> bool {
        !self.checks_forward()
    }
}

impl std::str::FromStr for Compatibility {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.to_ascii_uppercase().as_str() {
            "NONE" => Compatibility::None,
            "DISABLED" => Compatibility::Disabled,
            "BACKWARD" => Compatibility::Backward,
            "BACKWARD_ALL" => Compatibility::BackwardAll,
            "FORWARD" => Compatibility::Forward,
            "FORWARD_ALL" => Compatibility::ForwardAll,
            "FULL" => Compatibility::Full,
            "FULL_ALL" => Compatibility::FullAll,
            other => return Err(format!(
                "unknown compatibility mode {other:?} (expected NONE, DISABLED, BACKWARD, BACKWARD_ALL, FORWARD, FORWARD_ALL, FULL or FULL_ALL)"
            )),
        })
    }
}

impl std::fmt::Display for Compatibility {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A new definition is not compatible with an earlier one under the configured mode.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("{direction} incompatible under {mode}: {reason}")]
pub struct Incompatible {
    pub mode: Compatibility,
    pub direction: &'static str,
    pub reason: String,
}

/// Checks `next` against `previous` with apache-avro's schema resolution rules for `mode`.
/// Only full compatibility counts: a union branch that cannot be read fails the check.
pub fn check_compatibility(
    previous: &str,
    next: &str,
    mode: Compatibility,
) -> Result<(), Incompatible> {
    use apache_avro::schema_compatibility::{Compatibility as Level, SchemaCompatibility};
    let fail = |direction: &'static str, reason: String| Incompatible {
        mode,
        direction,
        reason,
    };
    if !mode.checks_backward() && !mode.checks_forward() {
        return Ok(());
    }
    let prev = apache_avro::Schema::parse_str(previous)
        .map_err(|e| fail("parse", format!("previous definition: {e}")))?;
    let new = apache_avro::Schema::parse_str(next)
        .map_err(|e| fail("parse", format!("new definition: {e}")))?;
    let check = |writer, reader, direction| match SchemaCompatibility::can_read(writer, reader) {
        Ok(Level::Full) => Ok(()),
        Ok(Level::Partial) => Err(fail(direction, "only some union branches resolve".into())),
        Err(e) => Err(fail(direction, e.to_string())),
    };
    if mode.checks_backward() {
        check(&prev, &new, "backward")?;
    }
    if mode.checks_forward() {
        check(&new, &prev, "forward")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVT: &str = r#"{"type":"record","name":"Evt","namespace":"ex","fields":[{"name":"id","type":"string"},{"name":"n","type":"long"}]}"#;

    #[test]
    fn parses_and_writes_canonical_text() {
        let r = Record::parse(EVT).unwrap();
        assert_eq!(r.name, "Evt");
        assert_eq!(r.namespace.as_deref(), Some("ex"));
        assert_eq!(r.fields[1].ty, Type::Long);
        assert_eq!(r.to_definition(), EVT);
    }

    #[test]
    fn reads_unions_logical_types_and_json_keys() {
        let def = r#"{"type":"record","name":"R","fields":[
            {"name":"ts","type":{"type":"long","logicalType":"timestamp-millis"}},
            {"name":"temp__C","type":["null","double"],"default":null,"jsonKey":"temp °C"},
            {"name":"tags","type":[{"type":"array","items":"string"},"null"]},
            {"name":"m","type":{"type":"map","values":"int"}}]}"#;
        let r = Record::parse(def).unwrap();
        assert_eq!(r.fields[0].ty, Type::TimestampMillis);
        assert_eq!(r.fields[1].json_key, "temp °C");
        assert!(r.fields[1].default_null());
        // `[T, "null"]` keeps its order: index 0 is T in the body.
        assert_eq!(
            r.fields[2].ty,
            Type::Union(vec![Type::Array(Box::new(Type::String)), Type::Null])
        );
        assert_eq!(r.fields[3].ty, Type::Map(Box::new(Type::Int)));
        let text = r.to_definition();
        assert!(text.contains(r#""jsonKey":"temp °C""#));
        assert_eq!(Record::parse(&text).unwrap(), r);
        apache_avro::Schema::parse_str(&text).expect("canonical text is valid Avro");
    }

    #[test]
    fn rejects_what_is_not_avro() {
        let field = |ty: &str| {
            format!(r#"{{"type":"record","name":"R","fields":[{{"name":"u","type":{ty}}}]}}"#)
        };
        for bad in [
            r#"["int","int"]"#,
            r#"["null",["int"]]"#,
            r#"[]"#,
            r#""Nowhere""#,
            r#"{"type":"enum","name":"E","symbols":["A","A"]}"#,
            r#"{"type":"enum","name":"E","symbols":["1x"]}"#,
            r#"{"type":"fixed","name":"F"}"#,
            r#"{"type":"record","name":"bad-name","fields":[]}"#,
            r#"{"type":"array"}"#,
        ] {
            assert!(
                matches!(Record::parse(&field(bad)), Err(SchemaError::InvalidAvro(_))),
                "{bad}: {:?}",
                Record::parse(&field(bad))
            );
        }
        assert!(matches!(
            Record::parse(
                r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"a","type":"int"}]}"#
            ),
            Err(SchemaError::InvalidAvro(_))
        ));
        assert_eq!(
            Record::parse(r#"{"type":"enum","name":"E","symbols":["A"]}"#),
            Err(SchemaError::NotARecord)
        );
        assert_eq!(Record::parse(r#""long""#), Err(SchemaError::NotARecord));
        assert!(matches!(Record::parse("{"), Err(SchemaError::NotJson(_))));
    }

    #[test]
    fn defaults_of_the_wrong_type_are_refused() {
        let field = |ty: &str, d: &str| {
            format!(
                r#"{{"type":"record","name":"R","fields":[{{"name":"f","type":{ty},"default":{d}}}]}}"#
            )
        };
        for (ty, d) in [
            (r#""int""#, r#""3""#),
            (r#""int""#, "3000000000"),
            (r#""long""#, "1.5"),
            (r#""string""#, "null"),
            (r#"["null","int"]"#, r#""x""#),
            (r#"{"type":"enum","name":"E","symbols":["A"]}"#, r#""B""#),
            (r#"{"type":"fixed","name":"F","size":2}"#, r#""abc""#),
            (r#""bytes""#, r#""\u0100""#),
            (r#"{"type":"array","items":"int"}"#, r#"[1,"x"]"#),
            (
                r#"{"type":"record","name":"S","fields":[{"name":"x","type":"int"}]}"#,
                "{}",
            ),
        ] {
            match Record::parse(&field(ty, d)) {
                Err(SchemaError::BadDefault { path, why }) => {
                    assert_eq!(path, "$.f", "{ty} {d}");
                    assert!(!why.is_empty());
                }
                other => panic!("{ty} default {d}: {other:?}"),
            }
        }
        for (ty, d) in [
            (r#""int""#, "3"),
            (r#"["null","int"]"#, "3"),
            (r#"["int","null"]"#, "null"),
            (
                r#"{"type":"enum","name":"E","symbols":["A","B"]}"#,
                r#""B""#,
            ),
            (
                r#"{"type":"fixed","name":"F","size":2}"#,
                r#""\u00ff\u0000""#,
            ),
            (
                r#"{"type":"map","values":["null","double"]}"#,
                r#"{"a":1.5,"b":null}"#,
            ),
            (
                r#"{"type":"record","name":"S","fields":[{"name":"x","type":"int","default":1}]}"#,
                "{}",
            ),
            (
                r#"{"type":"bytes","logicalType":"decimal","precision":4,"scale":2}"#,
                r#""\u0001""#,
            ),
        ] {
            let r = Record::parse(&field(ty, d)).unwrap_or_else(|e| panic!("{ty} {d}: {e}"));
            assert_eq!(
                r.fields[0].default,
                Some(serde_json::from_str::<Value>(d).unwrap())
            );
            assert_eq!(Record::parse(&r.to_definition()).unwrap(), r);
        }
    }

    #[test]
    fn named_types_by_name_and_full_name() {
        let def = r#"{"type":"record","name":"Node","namespace":"org.x","doc":"a tree","aliases":["Tree"],"fields":[
            {"name":"label","type":"string","doc":"its text","order":"descending","aliases":["l"]},
            {"name":"kind","type":{"type":"enum","name":"Kind","namespace":"other","symbols":["LEAF","INNER"],"default":"LEAF"}},
            {"name":"k2","type":"other.Kind"},
            {"name":"md5","type":{"type":"fixed","name":"MD5","size":16}},
            {"name":"h","type":"MD5"},
            {"name":"h2","type":"org.x.MD5"},
            {"name":"children","type":{"type":"array","items":"Node"},"default":[]}]}"#;
        let r = Record::parse(def).unwrap();
        assert_eq!(r.fields[2].ty, Type::Ref("other.Kind".into()));
        assert_eq!(r.fields[4].ty, Type::Ref("org.x.MD5".into()));
        assert_eq!(r.fields[5].ty, Type::Ref("org.x.MD5".into()));
        assert_eq!(
            r.fields[6].ty,
            Type::Array(Box::new(Type::Ref("org.x.Node".into())))
        );
        let named = named_types(&Type::Record(r.clone()));
        let mut names: Vec<_> = named.keys().cloned().collect();
        names.sort();
        assert_eq!(names, ["org.x.MD5", "org.x.Node", "other.Kind"]);
        let text = r.to_definition();
        assert_eq!(Record::parse(&text).unwrap(), r);
        assert!(
            text.contains(r#""doc":"a tree","aliases":["Tree"]"#),
            "{text}"
        );
        assert!(text.contains(r#""default":"LEAF""#), "{text}");
        apache_avro::Schema::parse_str(&text).expect("valid Avro");
        // A name used before it is defined, or defined twice, is not Avro.
        assert!(Record::parse(
            r#"{"type":"record","name":"R","fields":[{"name":"a","type":"E"},
            {"name":"b","type":{"type":"enum","name":"E","symbols":["A"]}}]}"#
        )
        .is_err());
        assert!(Record::parse(
            r#"{"type":"record","name":"R","fields":[
            {"name":"a","type":{"type":"enum","name":"E","symbols":["A"]}},
            {"name":"b","type":{"type":"enum","name":"E","symbols":["A"]}}]}"#
        )
        .is_err());
    }

    #[test]
    fn logical_types_and_their_fallbacks() {
        let t = |ty: &str| {
            let r = Record::parse(&format!(
                r#"{{"type":"record","name":"R","fields":[{{"name":"f","type":{ty}}}]}}"#
            ))
            .unwrap();
            let text = r.to_definition();
            assert_eq!(Record::parse(&text).unwrap(), r, "{text}");
            r.fields[0].ty.clone()
        };
        assert_eq!(t(r#"{"type":"int","logicalType":"date"}"#), Type::Date);
        assert_eq!(
            t(r#"{"type":"int","logicalType":"time-millis"}"#),
            Type::TimeMillis
        );
        assert_eq!(
            t(r#"{"type":"long","logicalType":"time-micros"}"#),
            Type::TimeMicros
        );
        assert_eq!(
            t(r#"{"type":"long","logicalType":"timestamp-nanos"}"#),
            Type::Timestamp(TimeUnit::Nanos)
        );
        assert_eq!(
            t(r#"{"type":"long","logicalType":"local-timestamp-micros"}"#),
            Type::LocalTimestamp(TimeUnit::Micros)
        );
        assert_eq!(
            t(r#"{"type":"string","logicalType":"uuid"}"#),
            Type::Uuid(None)
        );
        assert!(matches!(
            t(r#"{"type":"fixed","name":"U","size":16,"logicalType":"uuid"}"#),
            Type::Uuid(Some(_))
        ));
        assert!(matches!(
            t(r#"{"type":"fixed","name":"D","size":12,"logicalType":"duration"}"#),
            Type::Duration(_)
        ));
        assert_eq!(
            t(r#"{"type":"bytes","logicalType":"decimal","precision":9,"scale":2}"#),
            Type::Decimal(Decimal {
                precision: 9,
                scale: 2,
                fixed: None
            })
        );
        // Unknown logical types, or ones on the wrong type or with bad attributes, fall back
        // to the underlying type.
        assert_eq!(
            t(r#"{"type":"string","logicalType":"iso-date"}"#),
            Type::String
        );
        assert_eq!(t(r#"{"type":"string","logicalType":"date"}"#), Type::String);
        assert_eq!(
            t(r#"{"type":"bytes","logicalType":"decimal","precision":2,"scale":3}"#),
            Type::Bytes
        );
        assert!(matches!(
            t(r#"{"type":"fixed","name":"F","size":2,"logicalType":"decimal","precision":5}"#),
            Type::Fixed(_)
        ));
        assert!(matches!(
            t(r#"{"type":"fixed","name":"F","size":8,"logicalType":"uuid"}"#),
            Type::Fixed(_)
        ));
    }

    #[test]
    fn compatibility_modes() {
        let v1 = r#"{"type":"record","name":"R","fields":[{"name":"a","type":["null","long"],"default":null}]}"#;
        let widened = r#"{"type":"record","name":"R","fields":[{"name":"a","type":["null","double"],"default":null}]}"#;
        let added = r#"{"type":"record","name":"R","fields":[{"name":"a","type":["null","long"],"default":null},{"name":"b","type":["null","string"],"default":null}]}"#;
        let required = r#"{"type":"record","name":"R","fields":[{"name":"a","type":["null","long"],"default":null},{"name":"b","type":"string"}]}"#;
        assert!(check_compatibility(v1, widened, Compatibility::Backward).is_ok());
        assert!(check_compatibility(v1, widened, Compatibility::Forward).is_err());
        assert!(check_compatibility(v1, widened, Compatibility::Full).is_err());
        assert!(check_compatibility(v1, added, Compatibility::Full).is_ok());
        let e = check_compatibility(v1, required, Compatibility::Backward).unwrap_err();
        assert_eq!(e.direction, "backward");
        assert!(check_compatibility(v1, required, Compatibility::Forward).is_ok());
        assert!(check_compatibility(v1, required, Compatibility::None).is_ok());
    }

    #[test]
    fn compatibility_names_round_trip() {
        for m in [
            Compatibility::None,
            Compatibility::Disabled,
            Compatibility::Backward,
            Compatibility::BackwardAll,
            Compatibility::Forward,
            Compatibility::ForwardAll,
            Compatibility::Full,
            Compatibility::FullAll,
        ] {
            assert_eq!(m.as_str().parse::<Compatibility>().unwrap(), m);
        }
        assert!("SIDEWAYS".parse::<Compatibility>().is_err());
    }
}
