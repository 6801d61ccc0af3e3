//! `sensorctl` as people run it: the built binary, stdin in, stdout/stderr/exit code out.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_sensorctl");

const EVT: &str = r#"{"type":"record","name":"Evt","namespace":"ex","fields":[{"name":"id","type":"string"},{"name":"n","type":"long"}]}"#;
const ID: &str = "636cb0bb-7243-43f0-b309-7a25a8f19df2";
const RECORD: &str = r#"{"id":"abc","n":42}"#;
const PLAIN: [u8; 23] = [
    0x03, 0x00, 0x63, 0x6c, 0xb0, 0xbb, 0x72, 0x43, 0x43, 0xf0, 0xb3, 0x09, 0x7a, 0x25, 0xa8, 0xf1,
    0x9d, 0xf2, 0x06, 0x61, 0x62, 0x63, 0x54,
];
const ZLIB: [u8; 31] = [
    0x03, 0x05, 0x63, 0x6c, 0xb0, 0xbb, 0x72, 0x43, 0x43, 0xf0, 0xb3, 0x09, 0x7a, 0x25, 0xa8, 0xf1,
    0x9d, 0xf2, 0x78, 0x9c, 0x63, 0x4b, 0x4c, 0x4a, 0x0e, 0x01, 0x00, 0x03, 0xe7, 0x01, 0x81,
];
/// The issue's spelling of the plain message.
const PLAIN_HEX_SPACED: &str =
    "03 00 63 6c b0 bb 72 43 43 f0 b3 09 7a 25 a8 f1 9d f2 06 61 62 63 54";

struct Run {
    code: i32,
    stdout: Vec<u8>,
    stderr: String,
}

impl Run {
    fn text(&self) -> &str {
        std::str::from_utf8(&self.stdout).expect("stdout is UTF-8")
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {:?}", self.text()))
    }

    /// Asserts success and returns self.
    fn ok(self) -> Self {
        assert_eq!(self.code, 0, "stderr: {}", self.stderr);
        self
    }

    /// Asserts a bad-input failure (exit 1) with `needle` in the message, and nothing on stdout.
    fn bad_input(&self, needle: &str) {
        assert_eq!(
            self.code,
            1,
            "stdout: {:?} stderr: {}",
            self.text(),
            self.stderr
        );
        assert!(self.stdout.is_empty(), "stdout: {:?}", self.text());
        // The error is the last line (decode reports the version id before the body fails).
        let last = self.stderr.lines().last().unwrap_or_default();
        assert!(
            last.starts_with("sensorctl: error: "),
            "stderr: {}",
            self.stderr
        );
        assert!(
            last.contains(needle),
            "expected {needle:?} in stderr: {}",
            self.stderr
        );
        assert!(!self.stderr.contains("panicked"), "{}", self.stderr);
    }

    /// Asserts a usage failure (exit 2) with `needle` in the message.
    fn usage(&self, needle: &str) {
        assert_eq!(self.code, 2, "stderr: {}", self.stderr);
        assert!(self.stdout.is_empty(), "stdout: {:?}", self.text());
        assert!(
            self.stderr.contains(needle),
            "expected {needle:?} in stderr: {}",
            self.stderr
        );
    }
}

fn run(args: &[&str], stdin: &[u8]) -> Run {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sensorctl starts");
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    // A writer thread, so a child that stops reading early cannot block us.
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().expect("sensorctl finishes");
    writer.join().unwrap();
    Run {
        code: out.status.code().expect("exited, not killed by a signal"),
        stdout: out.stdout,
        stderr: String::from_utf8(out.stderr).expect("stderr is UTF-8"),
    }
}

/// Writes `content` to a fresh file and returns its path.
fn file(content: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("sensorctl-cli");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!(
        "{}-{}.json",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(&path, content).unwrap();
    path
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// `sensorctl encode` of `input` under the schema in `schema`, as version [`ID`], with `flags`.
fn encode(schema: &Path, flags: &[&str], input: &[u8]) -> Run {
    let mut args = vec!["encode", "--schema", p(schema), "--version-id", ID];
    args.extend_from_slice(flags);
    run(&args, input)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// ---------------------------------------------------------------------------------------------
// encode

#[test]
fn encode_writes_the_reference_bytes() {
    let schema = file(EVT);
    let raw = encode(&schema, &[], RECORD.as_bytes()).ok();
    assert_eq!(raw.stdout, PLAIN);
    let zlib = encode(&schema, &["--zlib"], RECORD.as_bytes()).ok();
    assert_eq!(zlib.stdout, ZLIB);
    let hexed = encode(&schema, &["--hex"], RECORD.as_bytes()).ok();
    assert_eq!(hexed.text(), format!("{}\n", hex(&PLAIN)));
    assert_eq!(
        hexed.text().trim(),
        PLAIN_HEX_SPACED.replace(' ', ""),
        "the issue's bytes"
    );
    let zhex = encode(&schema, &["--zlib", "--hex"], RECORD.as_bytes()).ok();
    assert_eq!(zhex.text(), format!("{}\n", hex(&ZLIB)));
}

#[test]
fn encode_refuses_events_that_do_not_fit() {
    let schema = file(EVT);
    let encode = |input: &[u8]| encode(&schema, &[], input);
    encode(br#"{"id":"abc","n":1.5}"#).bad_input("`n` is number, the schema wants long");
    encode(br#"{"id":"abc"}"#).bad_input("`n` is required");
    encode(br#"{"id":"abc","n":1,"extra":true}"#).bad_input("`extra` is not in the schema");
    encode(b"[1]").bad_input("must be a JSON object");
    encode(b"{\"id\":").bad_input("not valid JSON");
    encode(b"  \n").bad_input("no event on stdin");
}

#[test]
fn encode_refuses_bad_schemas() {
    let missing = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("no-such-schema.json");
    encode(&missing, &[], RECORD.as_bytes()).bad_input("reading the schema file");
    let not_avro = file(r#"{"type":"record","name":"R"}"#);
    encode(&not_avro, &[], RECORD.as_bytes()).bad_input("the schema in");
    let not_json = file("{");
    encode(&not_json, &[], RECORD.as_bytes()).bad_input("the schema in");
    // Two fields for one JSON key: refused up front, not a panic on the first event.
    let ambiguous = file(
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":"long","jsonKey":"x"},{"name":"x","type":"long"}]}"#,
    );
    encode(&ambiguous, &[], br#"{"x":1}"#).bad_input("JSON key \"x\"");
}

#[test]
fn encode_usage_errors() {
    let schema = file(EVT);
    run(
        &[
            "encode",
            "--schema",
            p(&schema),
            "--version-id",
            "not-a-uuid",
        ],
        RECORD.as_bytes(),
    )
    .usage("--version-id");
    run(&["encode", "--version-id", ID], RECORD.as_bytes()).usage("--schema");
    run(&["encode", "--schema", p(&schema)], RECORD.as_bytes()).usage("--version-id");
}

// ---------------------------------------------------------------------------------------------
// decode

#[test]
fn decode_reads_the_reference_bytes() {
    let schema = file(EVT);
    for (input, args, compression) in [
        (PLAIN.to_vec(), vec![], "none"),
        (ZLIB.to_vec(), vec![], "zlib"),
        (PLAIN_HEX_SPACED.as_bytes().to_vec(), vec!["--hex"], "none"),
        (
            format!("{}\n", hex(&ZLIB)).into_bytes(),
            vec!["--hex"],
            "zlib",
        ),
        (
            hex(&ZLIB).to_uppercase().into_bytes(),
            vec!["--hex"],
            "zlib",
        ),
    ] {
        let mut a = vec!["decode", "--schema", p(&schema)];
        a.extend(args);
        let r = run(&a, &input).ok();
        assert_eq!(r.json(), json!({"id": "abc", "n": 42}));
        assert_eq!(r.text(), format!("{RECORD}\n"));
        assert!(r.stderr.contains(ID), "{}", r.stderr);
        assert!(r.stderr.contains(compression), "{}", r.stderr);
    }
    let pretty = run(&["decode", "--schema", p(&schema), "--pretty"], &PLAIN).ok();
    assert_eq!(pretty.json(), json!({"id": "abc", "n": 42}));
    assert!(
        pretty.text().contains("\n  \"id\": \"abc\""),
        "{}",
        pretty.text()
    );
}

#[test]
fn decode_refuses_bad_messages() {
    let schema = file(EVT);
    let args = ["decode", "--schema", p(&schema)];
    run(&args, &PLAIN[..17]).bad_input("17 bytes, shorter than the 18-byte Glue header");
    run(&args, b"").bad_input("0 bytes");
    let mut confluent = PLAIN;
    confluent[0] = 0x00;
    run(&args, &confluent).bad_input("header version byte 0x00");
    let mut snappy = PLAIN;
    snappy[1] = 0x01;
    run(&args, &snappy).bad_input("compression byte 0x01");
    let mut broken = ZLIB;
    broken[30] ^= 0xff;
    run(&args, &broken).bad_input("broken zlib stream");
    // The body is fine for another schema, not this one.
    run(&args, &PLAIN[..PLAIN.len() - 1]).bad_input("body ends early");
    let mut trailing = PLAIN.to_vec();
    trailing.push(0);
    run(&args, &trailing).bad_input("1 bytes left after the record");
    let mut hex_args = args.to_vec();
    hex_args.push("--hex");
    run(&hex_args, b"03 00 6").bad_input("odd number of hex digits");
    run(&hex_args, b"zz").bad_input("'z' is not a hex digit");
}

#[test]
fn decode_caps_inflated_bodies() {
    let schema = file(r#"{"type":"record","name":"R","fields":[{"name":"s","type":"string"}]}"#);
    let big = json!({ "s": "x".repeat(100_000) }).to_string();
    let framed = encode(&schema, &["--zlib"], big.as_bytes()).ok().stdout;
    assert!(framed.len() < 2_000, "compresses well: {}", framed.len());
    run(
        &["decode", "--schema", p(&schema), "--max-inflated", "4096"],
        &framed,
    )
    .bad_input("inflated body exceeds the 4096-byte cap");
    let r = run(
        &["decode", "--schema", p(&schema), "--max-inflated", "200000"],
        &framed,
    )
    .ok();
    assert_eq!(r.json()["s"].as_str().unwrap().len(), 100_000);
    run(
        &["decode", "--schema", p(&schema), "--max-inflated", "lots"],
        &framed,
    )
    .usage("--max-inflated");
}

#[test]
fn decode_usage_errors() {
    run(&["decode"], &PLAIN).usage("--schema");
    run(&["decode", "--schema"], &PLAIN).usage("--schema");
}

// ---------------------------------------------------------------------------------------------
// peek

#[test]
fn peek_prints_version_id_and_compression() {
    let r = run(&["peek"], &PLAIN).ok();
    assert_eq!(
        r.text(),
        format!("schema-version-id: {ID}\ncompression: none\n")
    );
    let r = run(&["peek", "--hex"], hex(&ZLIB).as_bytes()).ok();
    assert_eq!(
        r.text(),
        format!("schema-version-id: {ID}\ncompression: zlib\n")
    );
    // Only the header is read: a broken body still peeks.
    let mut broken = ZLIB;
    broken[25] ^= 0xff;
    let r = run(&["peek"], &broken).ok();
    assert!(r.text().contains("compression: zlib"));
}

#[test]
fn peek_refuses_bad_headers() {
    run(&["peek"], &PLAIN[..10]).bad_input("10 bytes, shorter than the 18-byte Glue header");
    let mut m = PLAIN;
    m[1] = 0x07;
    run(&["peek"], &m).bad_input("unknown Glue compression byte 0x07");
    run(&["peek", "--hex"], b"0g").bad_input("not a hex digit");
}

// ---------------------------------------------------------------------------------------------
// infer

const EMPTY_DEF: &str = r#"{"type":"record","name":"Reading","namespace":"sensor","fields":[{"name":"deviceId","type":"string"},{"name":"timestamp","type":{"type":"long","logicalType":"timestamp-millis"}}]}"#;

#[test]
fn infer_prints_the_canonical_schema() {
    let r = run(&["infer"], br#"{"timestamp": 1, "deviceId": "d"}"#).ok();
    assert_eq!(r.text(), format!("{EMPTY_DEF}\n"));
    assert!(r.stderr.contains("new schema"), "{}", r.stderr);

    let event =
        br#"{"deviceId":"d","timestamp":1,"temp \u00b0C":21.5,"loc":{"lat":1.5},"tags":["a"]}"#;
    let a = run(&["infer"], event).ok();
    let def = a.text().trim_end().to_string();
    apache_avro::Schema::parse_str(&def).expect("valid Avro");
    assert!(
        def.contains(
            r#""name":"temp__C","type":["null","double"],"default":null,"jsonKey":"temp °C""#
        ),
        "{def}"
    );
    assert!(def.contains(r#""name":"Reading_loc""#), "{def}");
    // Same event, keys in another order and other spacing: byte-identical.
    let b = run(
        &["infer"],
        br#"{ "tags": ["b"], "loc": {"lat": 2.5}, "temp \u00b0C": 3.25, "timestamp": 9, "deviceId": "e" }"#,
    )
    .ok();
    assert_eq!(a.stdout, b.stdout);
}

#[test]
fn infer_names_the_record() {
    let r = run(
        &["infer", "--record-name", "Evt", "--namespace", "ex"],
        br#"{"deviceId":"d","timestamp":1}"#,
    )
    .ok();
    assert!(
        r.text()
            .starts_with(r#"{"type":"record","name":"Evt","namespace":"ex","fields":"#),
        "{}",
        r.text()
    );
}

#[test]
fn infer_merges_with_the_previous_version() {
    let v1 = run(
        &["infer"],
        br#"{"deviceId":"d","timestamp":1,"temperature":30}"#,
    )
    .ok();
    let prev = file(v1.text());
    // `{}` after `{"temperature": 30}` maps to the existing version.
    let same = run(
        &["infer", "--previous", p(&prev)],
        br#"{"deviceId":"d","timestamp":2}"#,
    )
    .ok();
    assert_eq!(same.stdout, v1.stdout);
    assert!(same.stderr.contains("unchanged"), "{}", same.stderr);
    // A new field: a new version that keeps the old one.
    let v2 = run(
        &["infer", "--previous", p(&prev)],
        br#"{"deviceId":"d","timestamp":2,"humidity":40.5}"#,
    )
    .ok();
    assert!(v2.stderr.contains("changed"), "{}", v2.stderr);
    assert!(v2.stderr.contains("BACKWARD"), "{}", v2.stderr);
    assert!(v2.text().contains(r#""name":"humidity""#));
    assert!(v2.text().contains(r#""name":"temperature""#));
    // long → double widens under BACKWARD, not under FULL.
    let wide = run(
        &[
            "infer",
            "--previous",
            p(&prev),
            "--compatibility",
            "backward",
        ],
        br#"{"deviceId":"d","timestamp":2,"temperature":30.5}"#,
    )
    .ok();
    assert!(wide
        .text()
        .contains(r#"{"name":"temperature","type":["null","double"],"default":null}"#));
    run(
        &["infer", "--previous", p(&prev), "--compatibility", "FULL"],
        br#"{"deviceId":"d","timestamp":2,"temperature":30.5}"#,
    )
    .bad_input("type conflict at `temperature`: schema has long, event has number (widening is not allowed under FULL)");
    // A real conflict under any mode.
    run(
        &["infer", "--previous", p(&prev), "--compatibility", "NONE"],
        br#"{"deviceId":"d","timestamp":2,"temperature":"hot"}"#,
    )
    .bad_input("schema has long, event has string");
}

#[test]
fn infer_refuses_bad_events_and_files() {
    run(&["infer"], b"{").bad_input("not valid JSON");
    run(&["infer"], b"").bad_input("no event on stdin");
    run(&["infer"], b"[]").bad_input("must be a JSON object");
    run(&["infer"], br#"{"timestamp":1}"#).bad_input("no `deviceId` field");
    run(&["infer"], br#"{"deviceId":"d","timestamp":"now"}"#).bad_input("`timestamp` must be");
    let missing = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("no-such-previous.json");
    run(
        &["infer", "--previous", p(&missing)],
        br#"{"deviceId":"d","timestamp":1}"#,
    )
    .bad_input("reading the previous schema");
    let bad = file(r#"{"type":"enum","name":"E","symbols":["A"]}"#);
    run(
        &["infer", "--previous", p(&bad)],
        br#"{"deviceId":"d","timestamp":1}"#,
    )
    .bad_input("the previous schema in");
}

#[test]
fn infer_usage_errors() {
    run(
        &["infer", "--compatibility", "SIDEWAYS"],
        br#"{"deviceId":"d","timestamp":1}"#,
    )
    .usage("unknown compatibility mode");
    run(&["infer", "--previous"], b"{}").usage("--previous");
}

// ---------------------------------------------------------------------------------------------
// the tool as a whole

#[test]
fn usage_and_help() {
    run(&[], b"").usage("Usage");
    run(&["transmogrify"], b"").usage("unrecognized subcommand");
    let help = run(&["--help"], b"").ok();
    for cmd in ["infer", "encode", "decode", "peek", "dlq", "plan"] {
        assert!(help.text().contains(cmd), "{}", help.text());
    }
    let help = run(&["encode", "--help"], b"").ok();
    assert!(help.text().contains("--version-id"), "{}", help.text());
    let help = run(&["dlq", "redrive", "--help"], b"").ok();
    for flag in [
        "--dry-run",
        "--reason",
        "--partition",
        "--from-offset",
        "--broker-secret-arn",
    ] {
        assert!(help.text().contains(flag), "{}", help.text());
    }
}

/// Input and usage errors of the commands that talk to AWS, found before any call.
#[test]
fn operations_refuse_bad_input_before_calling_aws() {
    // No endpoint answers here: a command that got as far as AWS would fail differently.
    let offline = [
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:9"),
        ("AWS_REGION", "eu-west-1"),
    ];
    let run_env = |args: &[&str], stdin: &[u8]| {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .env_remove("DEAD_LETTER_QUEUE_URL")
            .envs(offline)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let _ = child.stdin.take().unwrap().write_all(stdin);
        let out = child.wait_with_output().unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: out.stdout,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    };
    run_env(&["plan"], b"  \n").bad_input("no events");
    run_env(&["plan"], b"{}\n{\"a\": \n").bad_input("line 2 is not valid JSON");
    run_env(&["plan", "/no/such/events.jsonl"], b"").bad_input("reading the events file");
    run_env(&["plan", "--compatibility", "SIDEWAYS"], b"{}").usage("SIDEWAYS");
    run_env(&["dlq", "list"], b"").usage("--queue-url");
    run_env(
        &[
            "dlq",
            "redrive",
            "--queue-url",
            "http://q",
            "--reason",
            "Poison",
        ],
        b"",
    )
    .bad_input("unknown reason \"Poison\": one of BadValue, NotGlueFraming");
    run_env(
        &[
            "dlq",
            "show",
            "--queue-url",
            "http://q",
            "--from-offset",
            "5",
            "--to-offset",
            "4",
        ],
        b"",
    )
    .bad_input("--from-offset 5 is past --to-offset 4");
}

/// infer → encode → peek → decode through the tool gives the event back, for both compressions.
#[test]
fn round_trip_through_the_tool() {
    let event = json!({"deviceId": "000001", "timestamp": 1_700_000_000_000i64,
        "temperature": 21.5, "humidity": null, "pressure": 1013,
        "location": {"lat": 52.52, "lon": 13.405}, "tags": ["indoor", "calibrated"],
        "a-b": {"1st": true}});
    let text = event.to_string();
    let schema = file(run(&["infer"], text.as_bytes()).ok().text());
    for zlib in [false, true] {
        let flags: &[&str] = if zlib {
            &["--hex", "--zlib"]
        } else {
            &["--hex"]
        };
        let framed = encode(&schema, flags, text.as_bytes()).ok();
        let peek = run(&["peek", "--hex"], &framed.stdout).ok();
        assert!(peek.text().contains(if zlib { "zlib" } else { "none" }));
        let decoded = run(&["decode", "--schema", p(&schema), "--hex"], &framed.stdout).ok();
        assert_eq!(decoded.json(), event);
    }
}

// ---------------------------------------------------------------------------------------------
// schemas written elsewhere

fn avro_fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/tests/fixtures/avro")
        .join(name)
}

fn reference_frames(name: &str) -> Vec<Value> {
    std::fs::read_to_string(avro_fixture(name))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// `got` holds `want`'s values; decimals, strings of digits in the fixtures, are printed with
/// exactly those digits.
fn same(want: &Value, got: &Value, text: &str, at: &str) {
    match (want, got) {
        (Value::String(digits), Value::Number(_)) => {
            assert!(
                text.contains(&format!(":{digits}")),
                "{at}: {digits} in {text}"
            )
        }
        (Value::Object(w), Value::Object(g)) => {
            assert_eq!(w.len(), g.len(), "{at}");
            for (k, x) in w {
                same(x, &g[k], text, &format!("{at}.{k}"));
            }
        }
        (w, g) => assert_eq!(g, w, "{at}"),
    }
}

#[test]
fn decode_and_peek_take_the_interop_and_wide_schemas() {
    for (schema, frames) in [
        ("interop.avsc", "interop.frames.jsonl"),
        ("wide.avsc", "wide.frames.jsonl"),
    ] {
        let path = avro_fixture(schema);
        for row in reference_frames(frames) {
            let frame = row["frame"].as_str().unwrap();
            let out = run(&["decode", "--schema", p(&path), "--hex"], frame.as_bytes()).ok();
            let got = out.json();
            let want = &row["expected"];
            same(want, &got, out.text(), schema);
            assert!(out.stderr.contains(row["versionId"].as_str().unwrap()));
            let peek = run(&["peek", "--hex"], frame.as_bytes()).ok();
            assert!(peek.text().contains(&format!(
                "compression: {}",
                row["compression"].as_str().unwrap()
            )));
        }
    }
}

#[test]
fn infer_merges_into_a_foreign_previous_version() {
    let wide = avro_fixture("wide.avsc");
    let out = run(
        &["infer", "--previous", p(&wide)],
        br#"{"deviceId": "d", "timestamp": 1, "kind": "HUMIDITY", "brandNew": 2.5}"#,
    )
    .ok();
    let def = out.text().trim();
    assert!(def.contains(r#"{"name":"brandNew","type":["null","double"],"default":null}"#));
    assert!(def.contains(r#""logicalType":"timestamp-micros""#), "{def}");
    assert!(out.stderr.contains("changed"), "{}", out.stderr);
    let prev = run(
        &["infer", "--previous", p(&wide)],
        br#"{"deviceId": "d", "timestamp": 1}"#,
    )
    .ok();
    assert!(prev.stderr.contains("unchanged"), "{}", prev.stderr);
    // An enum field takes a string, not a number.
    run(
        &["infer", "--previous", p(&wide)],
        br#"{"deviceId": "d", "timestamp": 1, "kind": 3}"#,
    )
    .bad_input("type conflict at `kind`: schema has enum Kind, event has integer");
}

#[test]
fn bad_schemas_and_hostile_bodies_are_exit_1() {
    let bad_default =
        file(r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int","default":"x"}]}"#);
    run(&["decode", "--schema", p(&bad_default), "--hex"], b"0300")
        .bad_input("the default of $.a does not match its type");
    let tree = file(
        r#"{"type":"record","name":"Node","fields":[{"name":"label","type":"string"},
        {"name":"children","type":{"type":"array","items":"Node"}}]}"#,
    );
    let mut message = vec![0x03, 0x00];
    message.extend_from_slice(&[0u8; 16]);
    for _ in 0..100_000 {
        message.extend_from_slice(&[0x00, 0x02]);
    }
    run(&["decode", "--schema", p(&tree)], &message)
        .bad_input("named types nest deeper than 64 levels");
    let union = file(
        r#"{"type":"record","name":"R","fields":[{"name":"u","type":["int","string","null"]}]}"#,
    );
    let mut message = vec![0x03, 0x00];
    message.extend_from_slice(&[0u8; 16]);
    message.push(0x08);
    run(&["decode", "--schema", p(&union)], &message).bad_input("union index 4 out of range");
}
