//! CloudWatch Embedded Metric Format (EMF) lines, written to stdout by both functions: CloudWatch
//! Logs turns each into metrics without any API call.
//!
//! One [`MetricSet`] is one line: the namespace, the dimension names and values, and the
//! metrics with their units and values. A metric broken down by a dimension of its own (for
//! example `Reason`) is a second set, one line per value of that dimension.

use serde_json::{Map, Value};

/// The namespace of every metric of the pipeline.
pub const NAMESPACE: &str = "SensorPipeline";

/// A metric's unit, as CloudWatch names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Milliseconds,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
        }
    }
}

/// The metrics of one EMF line.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricSet {
    namespace: String,
    dimensions: Vec<(String, String)>,
    metrics: Vec<(String, Unit, f64)>,
}

impl MetricSet {
    /// A set in [`NAMESPACE`] with the dimension `Function`.
    pub fn for_function(function: &str) -> Self {
        MetricSet {
            namespace: NAMESPACE.into(),
            dimensions: vec![("Function".into(), function.into())],
            metrics: Vec::new(),
        }
    }

    /// Adds a dimension (name and value).
    pub fn dimension(mut self, name: &str, value: &str) -> Self {
        self.dimensions.push((name.into(), value.into()));
        self
    }

    pub fn count(&mut self, name: &str, value: u64) -> &mut Self {
        self.metrics.push((name.into(), Unit::Count, value as f64));
        self
    }

    pub fn millis(&mut self, name: &str, value: std::time::Duration) -> &mut Self {
        self.metrics
            .push((name.into(), Unit::Milliseconds, value.as_secs_f64() * 1e3));
        self
    }

    /// The EMF line at `timestamp_ms` (milliseconds since the Unix epoch).
    pub fn line_at(&self, timestamp_ms: i64) -> String {
        let mut root = Map::new();
        let definitions: Vec<Value> = self
            .metrics
            .iter()
            .map(|(name, unit, _)| serde_json::json!({"Name": name, "Unit": unit.as_str()}))
            .collect();
        let names: Vec<&str> = self.dimensions.iter().map(|(n, _)| n.as_str()).collect();
        root.insert(
            "_aws".into(),
            serde_json::json!({
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": self.namespace,
                    "Dimensions": [names],
                    "Metrics": definitions,
                }]
            }),
        );
        for (name, value) in &self.dimensions {
            root.insert(name.clone(), Value::String(value.clone()));
        }
        for (name, _, value) in &self.metrics {
            let v = if value.fract() == 0.0 && value.abs() < 9e15 {
                Value::from(*value as i64)
            } else {
                Value::from(*value)
            };
            root.insert(name.clone(), v);
        }
        Value::Object(root).to_string()
    }

    /// The EMF line, stamped now.
    pub fn line(&self) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        self.line_at(now)
    }
}

/// Lines for counts broken down by `dimension` (one line per value with a count above zero),
/// each carrying `metric`.
pub fn breakdown<'a>(
    function: &str,
    dimension: &str,
    metric: &str,
    counts: impl IntoIterator<Item = (&'a str, u64)>,
) -> Vec<MetricSet> {
    counts
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(value, n)| {
            let mut set = MetricSet::for_function(function).dimension(dimension, value);
            set.count(metric, n);
            set
        })
        .collect()
}

/// The line of a failed invocation: `Failed` (1) and the invocation's time (`time_metric`:
/// `Duration` for the producer, `BatchTime` for the consumer), with the dimensions `Function` and
/// `ErrorType` (the class reported to Lambda).
pub fn failure_line(
    function: &str,
    error_type: &str,
    time_metric: &str,
    elapsed: std::time::Duration,
) -> String {
    let mut set = MetricSet::for_function(function).dimension("ErrorType", error_type);
    set.count("Failed", 1).millis(time_metric, elapsed);
    set.line()
}

/// Checks that `line` is an EMF document: `_aws.Timestamp`, one or more `CloudWatchMetrics`
/// directives each with a namespace, dimension sets whose names are all at the root, and metric
/// definitions whose values are numbers at the root. Returns the document.
pub fn parse_emf(line: &str) -> Result<Map<String, Value>, String> {
    let doc: Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    let root = doc.as_object().ok_or("not a JSON object")?;
    let aws = root
        .get("_aws")
        .and_then(Value::as_object)
        .ok_or("no _aws")?;
    aws.get("Timestamp")
        .and_then(Value::as_i64)
        .ok_or("no _aws.Timestamp")?;
    let directives = aws
        .get("CloudWatchMetrics")
        .and_then(Value::as_array)
        .filter(|d| !d.is_empty())
        .ok_or("no _aws.CloudWatchMetrics")?;
    for d in directives {
        d.get("Namespace")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .ok_or("a directive without Namespace")?;
        let sets = d
            .get("Dimensions")
            .and_then(Value::as_array)
            .ok_or("a directive without Dimensions")?;
        for set in sets {
            let names = set.as_array().ok_or("a dimension set is not an array")?;
            if names.len() > 30 {
                return Err("more than 30 dimensions in a set".into());
            }
            for n in names {
                let n = n.as_str().ok_or("a dimension name is not a string")?;
                root.get(n)
                    .and_then(Value::as_str)
                    .ok_or_else(|| format!("dimension {n} has no string value"))?;
            }
        }
        let metrics = d
            .get("Metrics")
            .and_then(Value::as_array)
            .filter(|m| !m.is_empty())
            .ok_or("a directive without Metrics")?;
        for m in metrics {
            let name = m
                .get("Name")
                .and_then(Value::as_str)
                .ok_or("a metric without Name")?;
            root.get(name)
                .filter(|v| v.is_number())
                .ok_or_else(|| format!("metric {name} has no numeric value"))?;
        }
    }
    Ok(root.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_set_is_one_valid_emf_line() {
        let mut set = MetricSet::for_function("producer");
        set.count("Readings", 3)
            .millis("DeliveryTime", Duration::from_micros(2500));
        let line = set.line_at(1_700_000_000_000);
        let doc = parse_emf(&line).unwrap();
        assert_eq!(doc["Function"], "producer");
        assert_eq!(doc["Readings"], 3);
        assert_eq!(doc["DeliveryTime"], 2.5);
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], NAMESPACE);
        assert_eq!(directive["Dimensions"], serde_json::json!([["Function"]]));
        assert_eq!(
            directive["Metrics"][1],
            serde_json::json!({"Name": "DeliveryTime", "Unit": "Milliseconds"})
        );
        assert_eq!(doc["_aws"]["Timestamp"], 1_700_000_000_000i64);
    }

    #[test]
    fn breakdowns_are_one_line_per_value_seen() {
        let sets = breakdown(
            "consumer",
            "Reason",
            "DeadLettered",
            [
                ("NotGlueFraming", 2),
                ("KeyCollision", 0),
                ("Unstorable", 1),
            ],
        );
        let docs: Vec<_> = sets.iter().map(|s| parse_emf(&s.line()).unwrap()).collect();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0]["Reason"], "NotGlueFraming");
        assert_eq!(docs[0]["DeadLettered"], 2);
        assert_eq!(
            docs[1]["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            serde_json::json!([["Function", "Reason"]])
        );
    }

    #[test]
    fn a_failure_is_counted_by_its_error_type() {
        let line = failure_line(
            "consumer",
            "StoreThrottled",
            "BatchTime",
            Duration::from_millis(7),
        );
        let doc = parse_emf(&line).unwrap();
        assert_eq!(
            (&doc["ErrorType"], &doc["Failed"], &doc["BatchTime"]),
            (
                &serde_json::json!("StoreThrottled"),
                &serde_json::json!(1),
                &serde_json::json!(7)
            )
        );
        assert_eq!(
            doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            serde_json::json!([["Function", "ErrorType"]])
        );
    }

    #[test]
    fn the_checker_refuses_what_cloudwatch_would_not_read() {
        assert!(parse_emf("{}").is_err());
        let no_value = r#"{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N",
            "Dimensions":[["Function"]],"Metrics":[{"Name":"A"}]}]},"Function":"f"}"#;
        assert!(parse_emf(no_value).unwrap_err().contains("metric A"));
        let no_dimension = r#"{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N",
            "Dimensions":[["Function"]],"Metrics":[{"Name":"A"}]}]},"A":1}"#;
        assert!(parse_emf(no_dimension)
            .unwrap_err()
            .contains("dimension Function"));
    }
}
