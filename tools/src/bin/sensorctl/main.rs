//! `sensorctl`: look at what travels through the pipeline.
//!
//! ```text
//! sensorctl infer  [--previous FILE] [--compatibility MODE] [--record-name N] [--namespace NS]  < event.json
//! sensorctl encode --schema FILE --version-id UUID [--zlib] [--hex]                              < event.json
//! sensorctl decode --schema FILE [--hex] [--max-inflated BYTES] [--pretty]                       < message
//! sensorctl peek   [--hex]                                                                       < message
//! sensorctl dlq list|show [FILTERS] [--json]                 (consumer account: the dead-letter queue)
//! sensorctl dlq redrive   [FILTERS] [--dry-run] [--json]     (the consumer's configuration, from its environment)
//! sensorctl plan [FILE] [--json]                             (producer account: the live registry, read only)
//! ```
//!
//! Results go to stdout, diagnostics to stderr. Exit codes: 0 success, 1 bad input (the event,
//! the schema or the message) or a failed command (AWS, Kafka, configuration), 2 bad usage.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use serde_json::Value;
use uuid::Uuid;

use sensor_shared::codec::CompiledSchema;
use sensor_shared::infer::{infer, InferOptions};
use sensor_shared::schema::{Compatibility, Record};
use sensor_shared::wire::{self, Compression, DEFAULT_MAX_INFLATED};
use sensor_tools::dlq::Selection;

mod ops;

#[derive(Parser, Debug)]
#[command(
    name = "sensorctl",
    version,
    about = "Look at and operate the sensor pipeline: schemas, Glue-framed messages, dead letters, schema plans",
    long_about = "Look at and operate the sensor pipeline.\n\n\
                  infer, encode, decode, peek: schemas and Glue Schema Registry framed Avro \
                  messages (byte 0 = 0x03, byte 1 = 0x00 or 0x05 for zlib, bytes 2..18 = schema \
                  version id, then the Avro body), read from stdin.\n\n\
                  dlq list|show|redrive: the consumer account's dead-letter queue. plan: what \
                  the producer would register for some events, against the live registry.\n\n\
                  Results go to stdout and diagnostics to stderr. Exit status: 0 ok, 1 bad input \
                  or a failed command, 2 bad usage."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Infer the Avro schema of the event JSON on stdin and print its canonical definition.
    Infer {
        /// The previous schema version (a definition file) to merge the event into.
        #[arg(long, value_name = "FILE")]
        previous: Option<PathBuf>,
        /// Compatibility mode the new version must satisfy against --previous.
        #[arg(long, value_name = "MODE", default_value = "BACKWARD")]
        compatibility: Compatibility,
        /// Name of the top-level record (ignored with --previous, whose name stays).
        #[arg(long, value_name = "N")]
        record_name: Option<String>,
        /// Namespace of the top-level record (ignored with --previous).
        #[arg(long, value_name = "NS")]
        namespace: Option<String>,
    },
    /// Encode the event JSON on stdin into a Glue-framed message.
    Encode {
        /// The writer schema (a definition file).
        #[arg(long, value_name = "FILE")]
        schema: PathBuf,
        /// The schema version id to put in the frame.
        #[arg(long, value_name = "UUID")]
        version_id: Uuid,
        /// Compress the body with zlib (compression byte 0x05).
        #[arg(long)]
        zlib: bool,
        /// Write the message as hex text instead of raw bytes.
        #[arg(long)]
        hex: bool,
    },
    /// Decode the Glue-framed message on stdin to JSON (schema version id on stderr).
    Decode {
        /// The writer schema (a definition file).
        #[arg(long, value_name = "FILE")]
        schema: PathBuf,
        /// Read the message as hex text (whitespace ignored) instead of raw bytes.
        #[arg(long)]
        hex: bool,
        /// Refuse zlib bodies that inflate past this many bytes.
        #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_INFLATED)]
        max_inflated: usize,
        /// Pretty-print the JSON.
        #[arg(long)]
        pretty: bool,
    },
    /// Print the schema version id and compression of the Glue-framed message on stdin.
    Peek {
        /// Read the message as hex text (whitespace ignored) instead of raw bytes.
        #[arg(long)]
        hex: bool,
    },
    /// The consumer account's dead-letter queue: list, show and redrive letters.
    #[command(subcommand)]
    Dlq(DlqCommand),
    /// What the producer would do with events, against the live registry; registers nothing.
    ///
    /// For each invocation: reuse a version, register the next one (with the diff against the
    /// one before) or refuse (and why, under the producer's and the schema's compatibility
    /// modes). Registers and sends nothing. Input: one event (or array of events), or a file of
    /// them, one per line, each one invocation; later lines see what earlier ones would
    /// register. Credentials: the producer account's, or --role-arn.
    Plan(PlanArgs),
}

/// What `sensorctl plan` is given.
#[derive(clap::Args, Debug)]
struct PlanArgs {
    /// Events, one per line (default: stdin).
    file: Option<PathBuf>,
    #[arg(long, env = "REGISTRY_NAME", default_value = "sensor-registry")]
    registry_name: String,
    #[arg(long, env = "SCHEMA_NAME", default_value = "sensor-readings")]
    schema_name: String,
    /// The producer's mode: what it merges and checks with, and creates the schema with.
    /// An existing schema's own mode is checked too.
    #[arg(long, env = "SCHEMA_COMPATIBILITY", default_value = "BACKWARD")]
    compatibility: Compatibility,
    #[arg(long, env = "MAX_BATCH", default_value_t = 500)]
    max_batch: usize,
    #[arg(long, env = "DEVICE_ID", default_value = "sensorctl-plan")]
    device_id: String,
    #[arg(long, env = "KAFKA_TOPIC", default_value = "sensor-readings")]
    topic: String,
    /// Payloads are publish envelopes, as the producer's EVENT_ENVELOPE says.
    #[arg(long, env = "EVENT_ENVELOPE", value_name = "BOOL", default_value_t = false, action = clap::ArgAction::Set)]
    envelope: bool,
    /// Read the registry through this role (e.g. the schema reader role, from the consumer
    /// account).
    #[arg(long, value_name = "ARN")]
    role_arn: Option<String>,
    #[arg(long, value_name = "ID", requires = "role_arn")]
    external_id: Option<String>,
    /// One JSON object per line of input instead of text.
    #[arg(long)]
    json: bool,
}

/// Which letters: every filter given must match.
#[derive(clap::Args, Debug, Clone)]
struct Filters {
    /// A reason class (BadValue, NotGlueFraming, UnknownSchemaVersion, CorruptBody,
    /// KeyCollision, Unstorable); repeat for several.
    #[arg(long = "reason", value_name = "CLASS")]
    reasons: Vec<String>,
    #[arg(long)]
    topic: Option<String>,
    /// Repeat for several.
    #[arg(long = "partition", value_name = "P")]
    partitions: Vec<i64>,
    /// The first offset (inclusive).
    #[arg(long, value_name = "OFFSET")]
    from_offset: Option<i64>,
    /// The last offset (inclusive).
    #[arg(long, value_name = "OFFSET")]
    to_offset: Option<i64>,
}

impl Filters {
    fn selection(&self) -> Result<Selection, Failure> {
        let s = Selection {
            reasons: self.reasons.clone(),
            topic: self.topic.clone(),
            partitions: self.partitions.clone(),
            from_offset: self.from_offset,
            to_offset: self.to_offset,
        };
        s.check().map_err(Failure)?;
        Ok(s)
    }
}

#[derive(Subcommand, Debug)]
enum DlqCommand {
    /// The letters grouped by reason, with Kafka coordinates and schema version ids.
    ///
    /// By reason class and reason text, each group in partition-offset order. Letters are held
    /// invisible while they are read and given back at once.
    List {
        #[command(flatten)]
        filters: Filters,
        #[arg(long, env = "DEAD_LETTER_QUEUE_URL")]
        queue_url: String,
        #[arg(long)]
        json: bool,
    },
    /// Each letter in full, one JSON object per line, in partition-offset order.
    ///
    /// With its reason class, schema version id and message id added.
    Show {
        #[command(flatten)]
        filters: Filters,
        #[arg(long, env = "DEAD_LETTER_QUEUE_URL")]
        queue_url: String,
    },
    /// Sends letters' records through the consumer's decoding and writing again.
    ///
    /// In partition-offset order; a letter is deleted once its reading is stored; what still
    /// fails stays, with its reason now. Key collisions only when named (--reason
    /// KeyCollision): redriving one replaces the item stored at its coordinates. The consumer's
    /// configuration comes from its environment variables (READINGS_TABLE, SCHEMA_READER_ROLE_ARN,
    /// SCHEMA_READER_EXTERNAL_ID, PRODUCER_REGION, MAX_INFLATED_BYTES, ...), credentials from the
    /// usual chain (profile, environment): the queue and table with the consumer account's, the
    /// schemas through the role the consumer assumes.
    Redrive {
        #[command(flatten)]
        filters: Filters,
        #[arg(long, env = "DEAD_LETTER_QUEUE_URL")]
        queue_url: String,
        /// Decode and check, store nothing, leave the queue as it is.
        #[arg(long)]
        dry_run: bool,
        /// Records per call of the consumer.
        #[arg(long, default_value_t = 100)]
        batch_size: usize,
        /// Where to read records the letters left out (too large for the queue).
        #[arg(long, value_name = "HOST:PORT,...")]
        bootstrap_servers: Option<String>,
        /// Or read the brokers from the producer's broker-map secret (through the role).
        #[arg(long, value_name = "ARN", conflicts_with = "bootstrap_servers")]
        broker_secret_arn: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

/// A failure with the message for stderr; always bad input (exit 1).
struct Failure(String);

impl<E: std::fmt::Display> From<(&str, E)> for Failure {
    fn from((what, err): (&str, E)) -> Self {
        Failure(format!("{what}: {err}"))
    }
}

type Outcome = Result<(), Failure>;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // --help and --version print to stdout and exit 0; usage errors exit 2.
        Err(e) => e.exit(),
    };
    let result = match cli.command {
        Command::Infer {
            previous,
            compatibility,
            record_name,
            namespace,
        } => cmd_infer(previous.as_deref(), compatibility, record_name, namespace),
        Command::Encode {
            schema,
            version_id,
            zlib,
            hex,
        } => cmd_encode(&schema, version_id, zlib, hex),
        Command::Decode {
            schema,
            hex,
            max_inflated,
            pretty,
        } => cmd_decode(&schema, hex, max_inflated, pretty),
        Command::Peek { hex } => cmd_peek(hex),
        Command::Dlq(command) => run_async(ops::dlq(command)),
        Command::Plan(args) => run_async(ops::plan(args)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(msg)) => {
            eprintln!("sensorctl: error: {msg}");
            ExitCode::from(1)
        }
    }
}

fn run_async(f: impl std::future::Future<Output = Outcome>) -> Outcome {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::from(("starting the runtime", e)))?;
    rt.block_on(f)
}

fn read_stdin() -> Result<Vec<u8>, Failure> {
    let mut buf = Vec::new();
    std::io::stdin()
        .read_to_end(&mut buf)
        .map_err(|e| Failure::from(("reading stdin", e)))?;
    Ok(buf)
}

fn read_event() -> Result<Value, Failure> {
    let raw = read_stdin()?;
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Err(Failure(
            "no event on stdin (expected one JSON object)".into(),
        ));
    }
    serde_json::from_slice(&raw).map_err(|e| ("the event on stdin is not valid JSON", e).into())
}

fn read_message(hex: bool) -> Result<Vec<u8>, Failure> {
    let raw = read_stdin()?;
    if hex {
        from_hex(&raw).map_err(|e| Failure(format!("the message on stdin is not hex: {e}")))
    } else {
        Ok(raw)
    }
}

fn read_file(path: &Path, what: &str) -> Result<String, Failure> {
    std::fs::read_to_string(path)
        .map_err(|e| Failure(format!("reading the {what} {}: {e}", path.display())))
}

fn load_schema(path: &Path) -> Result<CompiledSchema, Failure> {
    let text = read_file(path, "schema file")?;
    CompiledSchema::parse(text.trim())
        .map_err(|e| Failure(format!("the schema in {}: {e}", path.display())))
}

fn write_stdout(bytes: &[u8]) -> Outcome {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .map_err(|e| ("writing stdout", e).into())
}

fn cmd_infer(
    previous: Option<&Path>,
    compatibility: Compatibility,
    record_name: Option<String>,
    namespace: Option<String>,
) -> Outcome {
    let previous = previous
        .map(|p| {
            let text = read_file(p, "previous schema")?;
            Record::parse(text.trim())
                .map_err(|e| Failure(format!("the previous schema in {}: {e}", p.display())))
        })
        .transpose()?;
    let event = read_event()?;
    let defaults = InferOptions::default();
    let opts = InferOptions {
        compatibility,
        record_name: record_name.unwrap_or(defaults.record_name.clone()),
        namespace: namespace.or(defaults.namespace.clone()),
        ..defaults
    };
    let inferred =
        infer(&event, previous.as_ref(), &opts).map_err(|e| ("cannot infer a schema", e))?;
    write_stdout(format!("{}\n", inferred.definition).as_bytes())?;
    let note = match (&previous, inferred.changed) {
        (None, _) => "new schema (no previous version given)".to_string(),
        (Some(_), false) => "unchanged: the event fits the previous version".to_string(),
        (Some(_), true) => format!(
            "changed: a new version, {} compatible with the previous one",
            compatibility
        ),
    };
    eprintln!("sensorctl: {note}");
    Ok(())
}

fn cmd_encode(schema: &Path, version_id: Uuid, zlib: bool, hex: bool) -> Outcome {
    let schema = load_schema(schema)?;
    let event = read_event()?;
    let body = schema
        .encode_to_vec(&event)
        .map_err(|e| ("the event does not fit the schema", e))?;
    let compression = if zlib {
        Compression::Zlib
    } else {
        Compression::None
    };
    let framed = wire::encode(&version_id, compression, &body);
    if hex {
        write_stdout(format!("{}\n", to_hex(&framed)).as_bytes())
    } else {
        write_stdout(&framed)
    }
}

fn cmd_decode(schema: &Path, hex: bool, max_inflated: usize, pretty: bool) -> Outcome {
    let schema = load_schema(schema)?;
    let message = read_message(hex)?;
    let frame = wire::decode(&message, max_inflated)
        .map_err(|e| ("the message is not a Glue-framed message", e))?;
    eprintln!(
        "sensorctl: schema version id {} ({})",
        frame.schema_version_id,
        compression_name(frame.compression)
    );
    let text = schema
        .decode_to_json(&frame.body, pretty)
        .map_err(|e| ("the body does not decode with the schema", e))?;
    write_stdout(format!("{text}\n").as_bytes())
}

fn cmd_peek(hex: bool) -> Outcome {
    let message = read_message(hex)?;
    let (id, compression) =
        wire::peek(&message).map_err(|e| ("the message is not a Glue-framed message", e))?;
    write_stdout(
        format!(
            "schema-version-id: {id}\ncompression: {}\n",
            compression_name(compression)
        )
        .as_bytes(),
    )
}

fn compression_name(c: Compression) -> &'static str {
    match c {
        Compression::None => "none",
        Compression::Zlib => "zlib",
    }
}

fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    s
}

/// Hex text to bytes; whitespace (also between the digits of a dump) is ignored.
fn from_hex(text: &[u8]) -> Result<Vec<u8>, String> {
    let digits: Vec<u8> = text
        .iter()
        .copied()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    if digits.len() % 2 != 0 {
        return Err(format!("odd number of hex digits ({})", digits.len()));
    }
    let nibble = |i: usize| -> Result<u8, String> {
        let c = digits[i];
        match c {
            b'0'..=b'9' => Ok(c - b'0'),
            b'a'..=b'f' => Ok(c - b'a' + 10),
            b'A'..=b'F' => Ok(c - b'A' + 10),
            _ => Err(format!(
                "{:?} is not a hex digit (digit {} of the input)",
                char::from(c),
                i + 1
            )),
        }
    };
    (0..digits.len() / 2)
        .map(|i| Ok(nibble(2 * i)? << 4 | nibble(2 * i + 1)?))
        .collect()
}
