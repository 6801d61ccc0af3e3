//! The subset of Avro that readings use, as a small typed model: parsed from a registered
//! definition, written back as canonical text, and checked for compatibility with apache-avro.
//!
//! Canonical text is compact JSON with a fixed key order, so the same model always yields a
//! byte-identical definition (Glue matches definitions as exact strings).

use std::fmt::Write as _;

use serde_json::Value;
use thiserror::Error;

/// Field attribute that keeps a JSON key that is not a valid Avro name.
pub const JSON_KEY_ATTR: &str = "jsonKey";
/// The record's device key field.
pub const DEVICE_ID: &str = "deviceId";
/// The record's time key field (epoch milliseconds, logical type `timestamp-millis`).
pub const TIMESTAMP: &str = "timestamp";
/// Glue's limit on the length of a schema definition.
pub const GLUE_MAX_DEFINITION_LEN: usize = 170_000;

/// An Avro type of the supported subset.
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
    /// The union `["null", T]`; `T` is never `Null` nor `Optional`.
    Optional(Box<Type>),
}

/// A named Avro record.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub name: String,
    pub namespace: Option<String>,
    pub fields: Vec<Field>,
}

/// A record field: its Avro name, the JSON key it stands for, its type and whether it has
/// `"default": null`.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub name: String,
    pub json_key: String,
    pub ty: Type,
    pub default_null: bool,
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
    #[error("the top-level schema must be a record")]
    NotARecord,
}

impl Record {
    /// Parses a definition (Avro JSON). Unions other than `["null", T]`/`[T, "null"]`, enums,
    /// fixed and named references are outside the model.
    pub fn parse(definition: &str) -> Result<Record, SchemaError> {
        let json: Value =
            serde_json::from_str(definition).map_err(|e| SchemaError::NotJson(e.to_string()))?;
        match parse_type(&json, "$")? {
            Type::Record(r) => Ok(r),
            _ => Err(SchemaError::NotARecord),
        }
    }

    /// The canonical definition text.
    pub fn to_definition(&self) -> String {
        let mut out = String::with_capacity(256);
        write_record(self, true, &mut out);
        out
    }

    /// Looks up a field by its JSON key.
    pub fn field_by_key(&self, key: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.json_key == key)
    }

    /// Counts the fields of this record and of every record nested in it.
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
        _ => 0,
    }
}

fn unsupported(path: &str, what: impl Into<String>) -> SchemaError {
    SchemaError::Unsupported {
        path: path.to_string(),
        what: what.into(),
    }
}

fn parse_type(json: &Value, path: &str) -> Result<Type, SchemaError> {
    match json {
        Value::String(s) => primitive(s).ok_or_else(|| unsupported(path, format!("type {s}"))),
        Value::Array(branches) => parse_union(branches, path),
        Value::Object(obj) => {
            let ty = obj
                .get("type")
                .ok_or_else(|| SchemaError::InvalidAvro(format!("{path}: missing \"type\"")))?;
            if let Some(logical) = obj.get("logicalType").and_then(Value::as_str) {
                if logical == "timestamp-millis" && ty == "long" {
                    return Ok(Type::TimestampMillis);
                }
                // Other logical types are read as their underlying type, as Avro prescribes.
            }
            match ty {
                Value::String(t) if t == "record" => parse_record(obj, path).map(Type::Record),
                Value::String(t) if t == "array" => {
                    let items = obj.get("items").ok_or_else(|| {
                        SchemaError::InvalidAvro(format!("{path}: array without items"))
                    })?;
                    Ok(Type::Array(Box::new(parse_type(
                        items,
                        &format!("{path}[]"),
                    )?)))
                }
                Value::String(t) if t == "map" => {
                    let values = obj.get("values").ok_or_else(|| {
                        SchemaError::InvalidAvro(format!("{path}: map without values"))
                    })?;
                    Ok(Type::Map(Box::new(parse_type(
                        values,
                        &format!("{path}{{}}"),
                    )?)))
                }
                Value::String(t) => {
                    primitive(t).ok_or_else(|| unsupported(path, format!("type {t}")))
                }
                other => parse_type(other, path),
            }
        }
        other => Err(SchemaError::InvalidAvro(format!(
            "{path}: {other} is not a type"
        ))),
    }
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

fn parse_union(branches: &[Value], path: &str) -> Result<Type, SchemaError> {
    let parsed = branches
        .iter()
        .map(|b| parse_type(b, path))
        .collect::<Result<Vec<_>, _>>()?;
    match parsed.as_slice() {
        [t] => Ok(t.clone()),
        [Type::Null, t] | [t, Type::Null] if !matches!(t, Type::Null | Type::Optional(_)) => {
            Ok(Type::Optional(Box::new(t.clone())))
        }
        _ => Err(unsupported(path, "union other than [\"null\", T]")),
    }
}

fn parse_record(obj: &serde_json::Map<String, Value>, path: &str) -> Result<Record, SchemaError> {
    let name = obj
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| SchemaError::InvalidAvro(format!("{path}: record without name")))?;
    let (namespace, name) = match name.rsplit_once('.') {
        Some((ns, n)) => (Some(ns.to_string()), n.to_string()),
        None => (
            obj.get("namespace")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            name.to_string(),
        ),
    };
    let fields_json = obj
        .get("fields")
        .and_then(Value::as_array)
        .ok_or_else(|| SchemaError::InvalidAvro(format!("{path}: record without fields")))?;
    let mut fields = Vec::with_capacity(fields_json.len());
    for f in fields_json {
        let fname = f
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| SchemaError::InvalidAvro(format!("{path}: field without name")))?;
        let fpath = format!("{path}.{fname}");
        let ty = parse_type(
            f.get("type")
                .ok_or_else(|| SchemaError::InvalidAvro(format!("{fpath}: field without type")))?,
            &fpath,
        )?;
        let default_null = matches!(f.get("default"), Some(Value::Null));
        if let Some(d) = f.get("default") {
            if !d.is_null() {
                return Err(unsupported(&fpath, "non-null default"));
            }
        }
        let json_key = f
            .get(JSON_KEY_ATTR)
            .and_then(Value::as_str)
            .unwrap_or(fname)
            .to_string();
        // Two fields for one JSON key would make encoding ambiguous.
        if fields.iter().any(|g: &Field| g.json_key == json_key) {
            return Err(unsupported(
                &fpath,
                format!("a second field for JSON key {json_key:?}"),
            ));
        }
        fields.push(Field {
            name: fname.to_string(),
            json_key,
            ty,
            default_null,
        });
    }
    Ok(Record {
        name,
        namespace,
        fields,
    })
}

fn push_json_str(out: &mut String, s: &str) {
    // serde_json's escaping, so the text is valid JSON for every key.
    out.push_str(&serde_json::to_string(s).expect("string serialises"));
}

fn write_record(r: &Record, top: bool, out: &mut String) {
    out.push_str("{\"type\":\"record\",\"name\":");
    push_json_str(out, &r.name);
    if top {
        if let Some(ns) = &r.namespace {
            out.push_str(",\"namespace\":");
            push_json_str(out, ns);
        }
    }
    out.push_str(",\"fields\":[");
    for (i, f) in r.fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"name\":");
        push_json_str(out, &f.name);
        out.push_str(",\"type\":");
        write_type(&f.ty, out);
        if f.default_null {
            out.push_str(",\"default\":null");
        }
        if f.json_key != f.name {
            let _ = write!(out, ",\"{JSON_KEY_ATTR}\":");
            push_json_str(out, &f.json_key);
        }
        out.push('}');
    }
    out.push_str("]}");
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
        Type::Record(r) => write_record(r, false, out),
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
        assert!(r.fields[1].default_null);
        assert_eq!(
            r.fields[2].ty,
            Type::Optional(Box::new(Type::Array(Box::new(Type::String))))
        );
        assert_eq!(r.fields[3].ty, Type::Map(Box::new(Type::Int)));
        let text = r.to_definition();
        assert!(text.contains(r#""jsonKey":"temp °C""#));
        assert_eq!(Record::parse(&text).unwrap(), r);
        apache_avro::Schema::parse_str(&text).expect("canonical text is valid Avro");
    }

    #[test]
    fn rejects_what_the_model_cannot_hold() {
        assert!(matches!(
            Record::parse(
                r#"{"type":"record","name":"R","fields":[{"name":"u","type":["int","string"]}]}"#
            ),
            Err(SchemaError::Unsupported { .. })
        ));
        assert!(matches!(
            Record::parse(r#"{"type":"enum","name":"E","symbols":["A"]}"#),
            Err(SchemaError::Unsupported { .. })
        ));
        assert_eq!(Record::parse(r#""long""#), Err(SchemaError::NotARecord));
        assert!(matches!(Record::parse("{"), Err(SchemaError::NotJson(_))));
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
