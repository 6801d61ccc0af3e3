//! Logging for both functions and the local tools, under Lambda's logging controls.
//!
//! - `AWS_LAMBDA_LOG_FORMAT`: `JSON` writes one JSON object per line (`timestamp`, `level`,
//!   `message`, the event's fields, then the fields of the spans it is in, so `requestId` and
//!   `xrayTraceId` of the runtime's invocation span are on every line of an invocation);
//!   anything else (Lambda's default, `Text`) writes tracing's text lines, the span and its
//!   request id in front of the message.
//! - `AWS_LAMBDA_LOG_LEVEL` (`TRACE`, `DEBUG`, `INFO`, `WARN`, `ERROR`, `FATAL`; `FATAL` keeps
//!   `ERROR` only, tracing's most severe level) takes precedence; without it `RUST_LOG`
//!   applies, and without either `INFO`. `RUST_LOG` holds comma-separated `level`, `target` or
//!   `target=level` directives (tracing-subscriber's [`Targets`]: a target matches by prefix);
//!   a directive that is not of that form (`EnvFilter`'s span and field filters) is skipped.
//!
//! This is the behaviour of `lambda_runtime::tracing::init_default_subscriber`, plus `FATAL`
//! (which that function reads as `INFO`) and top-level request ids in JSON, with a
//! [`Targets`] filter instead of an `EnvFilter`: the same directives for Lambda's controls, and
//! no regular-expression engine in the bootstraps (measured in BENCHMARKS.md).

use std::fmt;
use std::str::FromStr;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields, MakeWriter};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

/// The module of lambda_runtime that opens the span of each invocation (`requestId`,
/// `xrayTraceId`).
pub const INVOKE_SPAN_TARGET: &str = "lambda_runtime::layers::trace";

/// Output format of the log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Text,
}

/// What the environment asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSettings {
    pub format: LogFormat,
    /// Filter directives (`level`, `target`, `target=level`, comma-separated).
    pub filter: String,
}

impl LogSettings {
    /// From the values of `AWS_LAMBDA_LOG_FORMAT`, `AWS_LAMBDA_LOG_LEVEL` and `RUST_LOG`.
    pub fn from_values(format: Option<&str>, level: Option<&str>, rust_log: Option<&str>) -> Self {
        let format = match format {
            Some(f) if f.trim().eq_ignore_ascii_case("json") => LogFormat::Json,
            _ => LogFormat::Text,
        };
        let lambda_level = level.map(str::trim).filter(|l| !l.is_empty()).map(|l| {
            if l.eq_ignore_ascii_case("fatal") {
                LevelFilter::ERROR
            } else {
                LevelFilter::from_str(l).unwrap_or(LevelFilter::INFO)
            }
        });
        let filter = match (lambda_level, rust_log.map(str::trim)) {
            (Some(l), _) => l.to_string().to_lowercase(),
            (None, Some(r)) if !r.is_empty() => r.to_string(),
            _ => "info".to_string(),
        };
        LogSettings { format, filter }
    }

    /// The filter's directives: [`LogSettings::filter`], and the runtime's invocation span
    /// (an INFO span; its module logs nothing itself) at every level, so the request id is on
    /// the lines of an invocation even at `ERROR`.
    pub fn directives(&self) -> String {
        if self.filter.contains(INVOKE_SPAN_TARGET) {
            return self.filter.clone();
        }
        format!("{},{INVOKE_SPAN_TARGET}=info", self.filter)
    }

    /// [`LogSettings::directives`] as a filter: `INFO` unless a bare level says otherwise;
    /// directives that do not parse are skipped.
    pub fn targets(&self) -> Targets {
        let mut targets = Targets::new().with_default(LevelFilter::INFO);
        for directive in self.directives().split(',').map(str::trim) {
            let Ok(one) = directive.parse::<Targets>() else {
                continue;
            };
            if let Some(level) = one.default_level() {
                targets = targets.with_default(level);
            }
            targets.extend(
                one.iter()
                    .map(|(target, level)| (target.to_string(), level)),
            );
        }
        targets
    }

    /// From this process's environment.
    pub fn from_env() -> Self {
        let var = |k| std::env::var(k).ok();
        LogSettings::from_values(
            var("AWS_LAMBDA_LOG_FORMAT").as_deref(),
            var("AWS_LAMBDA_LOG_LEVEL").as_deref(),
            var("RUST_LOG").as_deref(),
        )
    }
}

/// Installs the global subscriber, writing to stdout as Lambda expects.
pub fn init() {
    init_with_writer(LogSettings::from_env(), std::io::stdout);
}

/// Installs the global subscriber with `settings`, writing to `writer`.
pub fn init_with_writer<W>(settings: LogSettings, writer: W)
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = settings.targets();
    let lines = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_writer(writer);
    let registry = tracing_subscriber::registry();
    match settings.format {
        LogFormat::Json => registry
            .with(
                lines
                    .fmt_fields(JsonFields::new())
                    .event_format(JsonLines)
                    .with_filter(filter),
            )
            .init(),
        LogFormat::Text => registry
            .with(lines.with_target(false).without_time().with_filter(filter))
            .init(),
    }
}

/// One flat JSON object per event: `timestamp`, `level`, `message`, the event's fields, then
/// the fields of every span it is in (outermost first; an event's own fields win).
struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut line = Map::new();
        line.insert("timestamp".into(), Value::String(rfc3339_now()));
        line.insert(
            "level".into(),
            Value::String(event.metadata().level().to_string()),
        );
        let mut fields = Map::new();
        event.record(&mut JsonVisitor(&mut fields));
        let message = fields.remove("message").unwrap_or(Value::Null);
        line.insert("message".into(), message);
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let ext = span.extensions();
                if let Some(f) = ext.get::<FormattedFields<N>>() {
                    if let Ok(Value::Object(m)) = serde_json::from_str::<Value>(f) {
                        for (k, v) in m {
                            line.insert(k, v);
                        }
                    }
                }
            }
        }
        for (k, v) in fields {
            line.insert(k, v);
        }
        line.insert(
            "target".into(),
            Value::String(event.metadata().target().to_string()),
        );
        let text = serde_json::to_string(&line).map_err(|_| fmt::Error)?;
        writeln!(writer, "{text}")
    }
}

struct JsonVisitor<'a>(&'a mut Map<String, Value>);

impl Visit for JsonVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0
            .insert(field.name().into(), Value::String(value.into()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().into(), Value::String(format!("{value:?}")));
    }
}

/// Now, UTC, as `2026-12-01T10:00:00.250Z`.
fn rfc3339_now() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        now.subsec_millis()
    )
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_controls_come_first() {
        let s = LogSettings::from_values(Some("JSON"), Some("ERROR"), Some("debug"));
        assert_eq!(
            s,
            LogSettings {
                format: LogFormat::Json,
                filter: "error".into()
            }
        );
        assert_eq!(
            LogSettings::from_values(Some("json"), Some("FATAL"), None).filter,
            "error"
        );
        assert_eq!(
            LogSettings::from_values(None, Some("TRACE"), None).filter,
            "trace"
        );
        let s = LogSettings::from_values(Some("Text"), None, Some("sensor=debug,warn"));
        assert_eq!(s.format, LogFormat::Text);
        assert_eq!(s.filter, "sensor=debug,warn");
        assert_eq!(LogSettings::from_values(None, None, None).filter, "info");
        assert_eq!(
            LogSettings::from_values(None, Some(""), None).filter,
            "info"
        );
    }

    fn level(targets: &Targets, target: &str) -> Option<tracing::Level> {
        [
            tracing::Level::TRACE,
            tracing::Level::DEBUG,
            tracing::Level::INFO,
            tracing::Level::WARN,
            tracing::Level::ERROR,
        ]
        .into_iter()
        .find(|l| targets.would_enable(target, l))
    }

    #[test]
    fn directives_filter_by_target_prefix_and_level() {
        use tracing::Level;
        let of = |rust_log: Option<&str>, lambda: Option<&str>| {
            LogSettings::from_values(None, lambda, rust_log).targets()
        };
        // Nothing set: INFO everywhere.
        let t = of(None, None);
        assert_eq!(level(&t, "sensor_consumer"), Some(Level::INFO));
        // A bare level and a target's own level, matched by prefix.
        let t = of(Some("warn,sensor_consumer=debug"), None);
        assert_eq!(level(&t, "sensor_consumer::store"), Some(Level::DEBUG));
        assert_eq!(level(&t, "aws_smithy_runtime"), Some(Level::WARN));
        // Lambda's level wins over RUST_LOG.
        let t = of(Some("debug"), Some("ERROR"));
        assert_eq!(level(&t, "sensor_producer"), Some(Level::ERROR));
        // The invocation span stays enabled at INFO whatever the level, for the request id.
        assert_eq!(level(&t, INVOKE_SPAN_TARGET), Some(Level::INFO));
        // EnvFilter's span and field filters are not directives here: skipped, the rest applies.
        let t = of(Some("sensor[handle{id=1}]=trace,sensor_shared=debug"), None);
        assert_eq!(level(&t, "sensor_shared"), Some(Level::DEBUG));
        assert_eq!(level(&t, "sensor_producer"), Some(Level::INFO));
        // `off` turns a target off.
        let t = of(Some("info,aws_config=off"), None);
        assert_eq!(level(&t, "aws_config::imds"), None);
        assert_eq!(level(&t, "sensor"), Some(Level::INFO));
    }

    #[test]
    fn dates_are_gregorian() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }
}
