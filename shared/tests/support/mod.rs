//! A private local stack per test: `scripts/stack.sh up` on free ports in a fresh `STACK_DIR`,
//! its `stack.env` parsed, AWS configs for each identity, the HTTP faultproxy's control endpoint,
//! and `scripts/stack.sh down` when the handle is dropped (also when the test panics; the
//! stack's folder, logs included, is then kept and its path printed, until a later run of a
//! test binary using this module sweeps up the folders of processes that are gone).

#![allow(dead_code)] // each test binary uses a different part of this module

use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_config::{BehaviorVersion, ConfigLoader, Region};
use aws_credential_types::Credentials;
use aws_smithy_async::time::TimeSource;
use serde_json::Value;

use sensor_shared::aws::AssumeRole;

/// The identities `stack.env` holds keys of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identity {
    /// The producer Lambda's user (Glue read and write, in the producer account).
    Producer,
    /// The consumer Lambda's user (no Glue permission; may call sts:AssumeRole).
    Consumer,
    /// Allow * on * in the producer account.
    ProducerAdmin,
    /// Allow * on * in the consumer account.
    ConsumerAdmin,
}

impl Identity {
    fn prefix(self) -> &'static str {
        match self {
            Identity::Producer => "PRODUCER",
            Identity::Consumer => "CONSUMER",
            Identity::ProducerAdmin => "PRODUCER_ADMIN",
            Identity::ConsumerAdmin => "CONSUMER_ADMIN",
        }
    }
}

/// Which endpoint a client talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// moto itself.
    Moto,
    /// The HTTP faultproxy in front of moto (the stack must be started with it).
    Proxy,
}

/// What to start besides moto and tansu.
#[derive(Debug, Clone, Copy, Default)]
pub struct StackOptions {
    /// The HTTP faultproxy in front of moto (`MOTO_PROXY_PORT`).
    pub moto_proxy: bool,
}

/// One running stack; `down` on drop.
#[derive(Debug)]
pub struct Stack {
    dir: PathBuf,
    env: HashMap<String, String>,
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the crate lives in the workspace")
        .to_path_buf()
}

/// Ports handed out by this process, so concurrent tests never pick the same one.
static HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
static SEQ: AtomicUsize = AtomicUsize::new(0);

/// `n` distinct ports free on 127.0.0.1 right now and not given to another test of this process.
fn free_ports(n: usize) -> Vec<u16> {
    let mut handed = HANDED_OUT.lock().unwrap();
    let handed = handed.get_or_insert_with(HashSet::new);
    let mut held = Vec::new();
    let mut ports = Vec::new();
    while ports.len() < n {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let p = l.local_addr().unwrap().port();
        if handed.insert(p) {
            ports.push(p);
        }
        held.push(l); // keep it bound so the next bind gets another port
    }
    ports
}

/// Parses `KEY=value` lines as bootstrap_accounts.py writes them (values may be single-quoted).
pub fn parse_env(text: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = if v.len() >= 2 && v.starts_with('\'') && v.ends_with('\'') {
            v[1..v.len() - 1].replace("'\\''", "'")
        } else {
            v.to_string()
        };
        out.insert(k.to_string(), v);
    }
    out
}

impl Stack {
    /// Starts a stack on free ports in a new folder under Cargo's target tmp dir. Panics with the
    /// script's output when it cannot start (after a few attempts with new ports, in case another
    /// process took a port between the choice and the bind).
    pub fn up(opts: StackOptions) -> Stack {
        static SWEEP: std::sync::Once = std::sync::Once::new();
        SWEEP.call_once(sweep_stale_stacks);
        let mut failures = Vec::new();
        for _attempt in 0..3 {
            let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
                "registry-stack-{}-{}",
                std::process::id(),
                SEQ.fetch_add(1, Ordering::SeqCst)
            ));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("create the stack folder");
            let ports = free_ports(3);
            let out = Command::new(root().join("scripts/stack.sh"))
                .arg("up")
                .current_dir(root())
                .env("STACK_DIR", &dir)
                .env("MOTO_PORT", ports[0].to_string())
                .env("KAFKA_PORT", ports[1].to_string())
                .env(
                    "MOTO_PROXY_PORT",
                    if opts.moto_proxy {
                        ports[2].to_string()
                    } else {
                        String::new()
                    },
                )
                .env("KAFKA_PROXY_PORT", "")
                .env("KAFKA_PROXY_CONTROL_PORT", "")
                .output()
                .expect("run scripts/stack.sh up");
            if out.status.success() {
                let text = std::fs::read_to_string(dir.join("stack.env"))
                    .expect("stack.sh up succeeded but wrote no stack.env");
                return Stack {
                    env: parse_env(&text),
                    dir,
                };
            }
            let failure = format!(
                "stack.sh up in {} failed ({}):\n{}{}",
                dir.display(),
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            eprintln!("{failure}");
            // Whatever the failed attempt left running is stopped; its folder stays for the logs.
            let _ = std::fs::write(dir.join("up-failure.log"), &failure);
            if let Err(e) = stack_down(&dir) {
                eprintln!("{e}");
            }
            failures.push(failure);
        }
        panic!("could not start the local stack:\n{}", failures.join("\n"));
    }

    /// A value of `stack.env`.
    pub fn var(&self, key: &str) -> &str {
        self.env
            .get(key)
            .unwrap_or_else(|| panic!("stack.env has no {key}"))
    }

    pub fn region(&self) -> &str {
        self.var("AWS_REGION")
    }

    pub fn registry_name(&self) -> &str {
        self.var("REGISTRY_NAME")
    }

    pub fn schema_name(&self) -> &str {
        self.var("SCHEMA_NAME")
    }

    pub fn endpoint(&self, via: Via) -> &str {
        match via {
            Via::Moto => self.var("AWS_ENDPOINT_URL"),
            Via::Proxy => self.var("AWS_PROXY_ENDPOINT_URL"),
        }
    }

    /// Static credentials of one identity.
    pub fn credentials(&self, who: Identity) -> Credentials {
        let p = who.prefix();
        Credentials::new(
            self.var(&format!("{p}_ACCESS_KEY_ID")),
            self.var(&format!("{p}_SECRET_ACCESS_KEY")),
            None,
            None,
            "local-stack",
        )
    }

    /// A config loader acting as `who` against `via`; add settings, then `.load().await`.
    pub fn loader(&self, who: Identity, via: Via) -> ConfigLoader {
        aws_config::defaults(BehaviorVersion::latest())
            .http_client(sensor_shared::aws::https_client(Default::default()))
            .endpoint_url(self.endpoint(via))
            .region(Region::new(self.region().to_string()))
            .credentials_provider(self.credentials(who))
    }

    /// The schema reader role with its external id, as the consumer Lambda assumes it.
    pub fn schema_reader_role(&self, session_name: &str) -> AssumeRole {
        AssumeRole {
            external_id: Some(self.var("SCHEMA_READER_EXTERNAL_ID").to_string()),
            session_length: Duration::from_secs(900),
            region: Some(self.var("PRODUCER_REGION").to_string()),
            ..AssumeRole::new(self.var("SCHEMA_READER_ROLE_ARN"), session_name)
        }
    }

    /// Sets the faultproxy's fault (`{"mode": "throttle", "match": "glue"}` etc.); returns its
    /// state.
    pub fn fault(&self, spec: Value) -> Value {
        let url = self.var("AWS_PROXY_CONTROL_URL").to_string();
        let (status, body) = http("POST", &url, Some(&spec.to_string()));
        assert_eq!(status, 200, "faultproxy refused {spec}: {body}");
        serde_json::from_str(&body).expect("faultproxy answers JSON")
    }

    /// The faultproxy's counters: `{"passed": {"glue:GetSchemaVersion": n, ...}, "faulted": {...}}`.
    pub fn proxy_counters(&self) -> Value {
        let url = format!("{}/counters", self.var("AWS_PROXY_CONTROL_URL"));
        let (status, body) = http("GET", &url, None);
        assert_eq!(status, 200, "faultproxy counters: {body}");
        serde_json::from_str(&body).expect("faultproxy answers JSON")
    }

    /// Requests of one label (`sts:AssumeRole`) the faultproxy forwarded.
    pub fn proxy_passed(&self, label: &str) -> u64 {
        self.proxy_counters()["passed"][label].as_u64().unwrap_or(0)
    }

    /// Requests of one label the faultproxy answered with a fault.
    pub fn proxy_faulted(&self, label: &str) -> u64 {
        self.proxy_counters()["faulted"][label]
            .as_u64()
            .unwrap_or(0)
    }
}

/// Stops stacks left by test processes that died before their `Drop` ran (killed, aborted).
fn sweep_stale_stacks() {
    let Ok(entries) = std::fs::read_dir(env!("CARGO_TARGET_TMPDIR")) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix("registry-stack-")
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists() {
            continue; // this process, or another test run still going
        }
        if stack_down(&entry.path()).is_ok() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// `scripts/stack.sh down` for one folder; the error says why it failed.
fn stack_down(dir: &Path) -> Result<(), String> {
    let out = Command::new(root().join("scripts/stack.sh"))
        .arg("down")
        .current_dir(root())
        .env("STACK_DIR", dir)
        .output()
        .map_err(|e| format!("stack.sh down in {}: {e}", dir.display()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "stack.sh down in {} failed ({}): {}",
            dir.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let ok = match stack_down(&self.dir) {
            Ok(()) => true,
            Err(e) => {
                eprintln!("{e}");
                false
            }
        };
        if ok && !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        } else {
            eprintln!("local stack folder kept: {}", self.dir.display());
        }
        if !ok && !std::thread::panicking() {
            panic!("scripts/stack.sh down failed: processes may be left running");
        }
    }
}

/// A bare HTTP/1.1 request to 127.0.0.1 (the faultproxy control endpoint): (status, body).
fn http(method: &str, url: &str, body: Option<&str>) -> (u16, String) {
    let rest = url
        .strip_prefix("http://")
        .unwrap_or_else(|| panic!("not an http:// URL: {url}"));
    let (hostport, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let mut s = TcpStream::connect(hostport).unwrap_or_else(|e| panic!("connect {hostport}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let body = body.unwrap_or("");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {hostport}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).expect("read the answer");
    let (head, body) = resp.split_once("\r\n\r\n").unwrap_or((&resp, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad HTTP answer from {url}: {head}"));
    (status, body.to_string())
}

/// A test clock for the SDK: the system clock plus an offset the test moves forward.
#[derive(Debug, Clone, Default)]
pub struct OffsetClock(Arc<AtomicU64>);

impl OffsetClock {
    pub fn set_offset(&self, d: Duration) {
        self.0.store(d.as_secs(), Ordering::SeqCst);
    }
}

impl TimeSource for OffsetClock {
    fn now(&self) -> SystemTime {
        SystemTime::now() + Duration::from_secs(self.0.load(Ordering::SeqCst))
    }
}
