"""Runs the real pipeline on the local stack: the two Lambda binaries under `cargo lambda watch`
(one process per function, each with its own account's credentials), and the local event source
mapping (`local-esm`). Used by the end-to-end tests, the demo and the pipeline benchmark."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections import defaultdict
from decimal import ROUND_HALF_EVEN, Context, Decimal
from pathlib import Path

from stackhelpers import ROOT, Stack, free_ports, wait_until

VENV_BIN = ROOT / ".venv" / "bin"
TARGET_DIR = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))

__all__ = ["Stack", "free_ports", "wait_until", "build_binaries", "start_stack", "LambdaFunction",
           "EventSourceMapping", "producer_env", "consumer_env", "count_items", "wait_for_items", "ROOT"]


def build_binaries() -> None:
    """Builds the two functions and the tools (local ESM, sensorctl) once, so no invoke waits for
    a compile."""
    subprocess.run(["cargo", "build", "--quiet", "-p", "sensor-producer", "-p", "sensor-consumer",
                    "-p", "sensor-tools", "--bins"], cwd=ROOT, check=True)


def start_stack(stack_dir: Path, **extra_ports: int) -> Stack:
    """A fresh stack on free ports; extra ports (MOTO_PROXY_PORT, KAFKA_PROXY_PORT) on request."""
    moto, kafka = free_ports(2)
    ports = {"MOTO_PORT": moto, "KAFKA_PORT": kafka, **extra_ports}
    s = Stack(stack_dir, ports)
    s.run("up")
    return s


def _wait_port(port: int, timeout: float) -> None:
    def up():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            return False
    if not wait_until(up, timeout):
        raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def producer_env(env: dict, aws_endpoint: str | None = None, **overrides: str) -> dict:
    out = {
        "AWS_ENDPOINT_URL": aws_endpoint or env["AWS_ENDPOINT_URL"],
        "AWS_REGION": env["AWS_REGION"],
        "AWS_ACCESS_KEY_ID": env["PRODUCER_ACCESS_KEY_ID"],
        "AWS_SECRET_ACCESS_KEY": env["PRODUCER_SECRET_ACCESS_KEY"],
        "KAFKA_BOOTSTRAP_SERVERS": env["KAFKA_BOOTSTRAP_SERVERS"],
        "KAFKA_SECURITY_PROTOCOL": "PLAINTEXT",
        "KAFKA_TOPIC": env["KAFKA_TOPIC"],
        "REGISTRY_NAME": env["REGISTRY_NAME"],
        "SCHEMA_NAME": env["SCHEMA_NAME"],
        "DEVICE_ID": "000001",
    }
    out.update(overrides)
    return out


def consumer_env(env: dict, aws_endpoint: str | None = None, **overrides: str) -> dict:
    out = {
        "AWS_ENDPOINT_URL": aws_endpoint or env["AWS_ENDPOINT_URL"],
        "AWS_REGION": env["AWS_REGION"],
        "AWS_ACCESS_KEY_ID": env["CONSUMER_ACCESS_KEY_ID"],
        "AWS_SECRET_ACCESS_KEY": env["CONSUMER_SECRET_ACCESS_KEY"],
        "SCHEMA_READER_ROLE_ARN": env["SCHEMA_READER_ROLE_ARN"],
        "SCHEMA_READER_EXTERNAL_ID": env["SCHEMA_READER_EXTERNAL_ID"],
        "PRODUCER_REGION": env["AWS_REGION"],
        "READINGS_TABLE": env["READINGS_TABLE"],
        "AGGREGATES_TABLE": env["AGGREGATES_TABLE"],
        "DEAD_LETTER_QUEUE_URL": env["DEAD_LETTER_QUEUE_URL"],
    }
    out.update(overrides)
    return out


class LambdaFunction:
    """One function under `cargo lambda watch`, invoked through the Lambda Invoke API."""

    def __init__(self, package: str, binary: str, env: dict, log_dir: Path):
        self.package, self.binary, self.env = package, binary, env
        self.log_dir = log_dir
        self.port = free_ports(1)[0]
        self.proc: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 120) -> "LambdaFunction":
        self.log_dir.mkdir(parents=True, exist_ok=True)
        env_file = self.log_dir / f"{self.binary}.env"
        env_file.write_text("".join(f"{k}={v}\n" for k, v in self.env.items()))
        log = open(self.log_dir / f"{self.binary}.log", "ab")
        proc_env = {**os.environ, "PATH": f"{VENV_BIN}:{os.environ['PATH']}", "RUST_LOG": "info"}
        self.proc = subprocess.Popen(
            [str(VENV_BIN / "cargo-lambda"), "lambda", "watch", "-p", self.package, "--bin",
             self.binary, "-A", "127.0.0.1", "-P", str(self.port), "--ignore-changes",
             "--env-file", str(env_file)],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=proc_env, start_new_session=True)
        _wait_port(self.port, timeout)
        return self

    def invoke(self, payload, timeout: float = 180) -> tuple[bool, dict | list | str]:
        """(succeeded, answer): a function error comes back as (False, error document)."""
        data = payload if isinstance(payload, (bytes, str)) else json.dumps(payload)
        if isinstance(data, str):
            data = data.encode()
        req = urllib.request.Request(
            f"{self.endpoint}/2015-03-31/functions/{self.binary}/invocations", data=data,
            method="POST", headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                body = r.read().decode()
                failed = r.headers.get("X-Amz-Function-Error") is not None
        except urllib.error.HTTPError as e:
            body, failed = e.read().decode(), True
        try:
            doc = json.loads(body)
        except ValueError:
            doc = body
        return (not failed, doc)

    def function_pids(self) -> list[int]:
        """The running function processes (below this watch only)."""
        return function_process_pids(self)

    def stop(self) -> None:
        """Stops this watch and everything it started, and nothing else."""
        stop_function_tree(self)


class EventSourceMapping:
    """The local event source mapping, reading brokers from the producer's broker-map secret."""

    def __init__(self, env: dict, consumer: LambdaFunction, log_dir: Path, *, batch_size: int = 100,
                 window_ms: int = 300, group_id: str = "sensor-consumer-esm",
                 aws_endpoint: str | None = None):
        self.env, self.consumer, self.log_dir = env, consumer, log_dir
        self.args = ["--lambda-endpoint", consumer.endpoint, "--function", consumer.binary,
                     "--broker-secret-arn", env["BROKER_SECRET_ARN"],
                     "--role-arn", env["SCHEMA_READER_ROLE_ARN"],
                     "--external-id", env["SCHEMA_READER_EXTERNAL_ID"],
                     "--topic", env["KAFKA_TOPIC"], "--group-id", group_id,
                     "--batch-size", str(batch_size), "--batching-window-ms", str(window_ms)]
        self.proc_env = {**os.environ,
                         "AWS_ENDPOINT_URL": aws_endpoint or env["AWS_ENDPOINT_URL"],
                         "AWS_REGION": env["AWS_REGION"],
                         "AWS_ACCESS_KEY_ID": env["CONSUMER_ACCESS_KEY_ID"],
                         "AWS_SECRET_ACCESS_KEY": env["CONSUMER_SECRET_ACCESS_KEY"],
                         # JSON lines, which the tests read fields from.
                         "AWS_LAMBDA_LOG_FORMAT": "JSON"}
        self.proc: subprocess.Popen | None = None

    def start(self, assigned_within: float | None = 120) -> "EventSourceMapping":
        """Starts the mapping and, unless `assigned_within` is None, waits until its consumer has
        joined the group and been given its partitions (a restarted mapping may wait for the
        old member's session to time out)."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        path = self.log_dir / "local-esm.log"
        self._log_offset = path.stat().st_size if path.exists() else 0
        self.ready_file.unlink(missing_ok=True)
        log = open(path, "ab")
        self.proc = subprocess.Popen([str(TARGET_DIR / "debug" / "local-esm"), *self.args,
                                      "--ready-file", str(self.ready_file)],
                                     cwd=ROOT, env=self.proc_env, stdout=log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        if assigned_within is not None:
            self.wait_assigned(assigned_within)
        return self

    @property
    def ready_file(self) -> Path:
        """Written by local-esm once the group assigned it its partitions (their names inside)."""
        return self.log_dir / "local-esm.ready"

    def _new_log(self) -> str:
        with open(self.log_dir / "local-esm.log", "rb") as f:
            f.seek(self._log_offset)
            return f.read().decode(errors="replace")

    def wait_assigned(self, timeout: float) -> str:
        """Waits for the ready file of this run; returns the assigned partitions it names."""
        def assigned() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"local-esm exited with {self.proc.returncode}:\n{self._new_log()[-3000:]}")
            return self.ready_file.exists()

        if not wait_until(assigned, timeout, interval=0.2):
            raise AssertionError(f"local-esm was given no partitions within {timeout} s:\n{self._new_log()[-3000:]}")
        return self.ready_file.read_text().strip()

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def count_items(stack: Stack) -> int:
    """Items in the stack's readings table."""
    return count_table(stack, stack.env["READINGS_TABLE"])


def wait_for_items(stack: Stack, n: int, timeout: float) -> int:
    """Polls the readings table until it holds at least n items (or the timeout); returns the count."""
    return wait_for_count(stack, stack.env["READINGS_TABLE"], n, timeout)


# ---------------------------------------------------------------------------------------------
# Helpers of tests/e2e/test_consumer.py, usable by any test that shares one stack between
# tests (a table, queue and topic of its own per test) or drives the AWS fault proxy.

def descendant_pids(pid: int) -> list[int]:
    """Every process below `pid` (children, grandchildren, ...), read from /proc."""
    children: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(d.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def stop_function_tree(fn: "LambdaFunction") -> None:
    """Stops one `cargo lambda watch` and the processes it started, and nothing else
    (`LambdaFunction.stop` also kills functions of the same name that other runs started)."""
    if fn.proc is None:
        return
    tree = descendant_pids(fn.proc.pid)
    for pid in tree:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if fn.proc.poll() is None:
        try:
            os.killpg(fn.proc.pid, signal.SIGTERM)
            fn.proc.wait(timeout=10)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(fn.proc.pid, signal.SIGKILL)
            fn.proc.wait()


def start_consuming(env: dict, logs: Path, started: list, group: str,
                    batch_size: int) -> tuple[LambdaFunction, EventSourceMapping]:
    """The consumer function and an event source mapping feeding it (consumer group `group`),
    appended to `started` for `stop_started`."""
    consumer = LambdaFunction("sensor-consumer", "consumer", consumer_env(env), logs)
    started.append(consumer.start())
    esm = EventSourceMapping(env, consumer, logs, batch_size=batch_size, window_ms=200,
                             group_id=group)
    started.append(esm.start())
    return consumer, esm


def stop_started(started: list) -> None:
    """Stops what a test started, last first: functions with `stop_function_tree`, anything
    else (event source mappings) with its own `stop`."""
    for p in reversed(started):
        if isinstance(p, LambdaFunction):
            stop_function_tree(p)
        else:
            p.stop()


class FaultProxy:
    """Control of the HTTP fault proxy in front of moto (a stack started with MOTO_PROXY_PORT;
    see scripts/stack/faultproxy.py). Counters are keyed "service:Operation"."""

    def __init__(self, env: dict):
        self.endpoint = env["AWS_PROXY_ENDPOINT_URL"]
        self.control = env["AWS_PROXY_CONTROL_URL"]

    def _call(self, path: str = "", spec: dict | None = None) -> dict:
        data = None if spec is None else json.dumps(spec).encode()
        req = urllib.request.Request(self.control + path, data=data, method="GET" if data is None else "POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())

    def fault(self, mode: str, match: str | list[str] | None = None, **extra) -> dict:
        """E.g. fault("throttle", "dynamodb"), fault("refuse", ["sts", "glue"], for_seconds=5)."""
        return self._call("", {"mode": mode, **({"match": match} if match else {}), **extra})

    def heal(self) -> dict:
        return self._call("", {"mode": "pass"})

    def reset(self) -> dict:
        """Mode pass, counters zero."""
        return self._call("/reset", {})

    def state(self) -> dict:
        return self._call()

    def count(self, kind: str, prefix: str) -> int:
        """Requests "passed" or "faulted" whose label starts with prefix ("glue:", "sts:AssumeRole")."""
        return sum(n for label, n in self.state()[kind].items() if label.startswith(prefix))


def scan_pages(stack: Stack, table: str, **kwargs):
    """Every page of a Scan of `table` (consumer account), following LastEvaluatedKey."""
    ddb = stack.client("dynamodb", "consumer_admin")
    kwargs["TableName"] = table
    while True:
        page = ddb.scan(**kwargs)
        yield page
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def count_table(stack: Stack, table: str) -> int:
    """Items in `table` (consumer account), by Scan with Select=COUNT over every page."""
    return sum(page["Count"] for page in scan_pages(stack, table, Select="COUNT"))


def wait_for_count(stack: Stack, table: str, n: int, timeout: float) -> int:
    """Polls `table` until it holds at least n items (or the timeout); returns the count."""
    deadline = time.monotonic() + timeout
    while True:
        c = count_table(stack, table)
        if c >= n or time.monotonic() > deadline:
            return c
        time.sleep(0.3)


def create_readings_table(stack: Stack, table: str) -> str:
    """A table shaped like the readings table, in the consumer account."""
    ddb = stack.client("dynamodb", "consumer_admin")
    ddb.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "deviceId", "KeyType": "HASH"},
                                {"AttributeName": "_readingId", "KeyType": "RANGE"}],
                     AttributeDefinitions=[{"AttributeName": "deviceId", "AttributeType": "S"},
                                           {"AttributeName": "_readingId", "AttributeType": "S"}])
    ddb.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 0.2, "MaxAttempts": 50})
    return table


def create_queue(stack: Stack, name: str) -> str:
    """A queue in the consumer account, with the 256 KiB message limit of the deployed one;
    returns its URL."""
    return stack.client("sqs", "consumer_admin").create_queue(
        QueueName=name, Attributes={"MaximumMessageSize": "262144"})["QueueUrl"]


def create_topic(stack: Stack, topic: str, partitions: int = 3, timeout: float = 60) -> str:
    subprocess.run([str(VENV_BIN / "python"), str(ROOT / "scripts" / "stack" / "stackctl.py"), "kafka-topic",
                    "--bootstrap", stack.env["KAFKA_BOOTSTRAP_SERVERS"], "--topic", topic,
                    "--partitions", str(partitions), "--timeout", str(timeout)],
                   check=True, capture_output=True, timeout=timeout + 30)
    return topic


def receive_all(stack: Stack, queue_url: str) -> list[dict]:
    """Every message visible in the queue (as the consumer account's admin), bodies parsed as
    JSON; received messages stay hidden for five minutes, so none is returned twice."""
    sqs = stack.client("sqs", "consumer_admin")
    out = []
    while True:
        msgs = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=300,
                                   WaitTimeSeconds=0).get("Messages", [])
        if not msgs:
            return out
        out.extend(json.loads(m["Body"]) for m in msgs)


def queue_depth(stack: Stack, queue_url: str) -> int:
    """Messages in the queue, visible or in flight."""
    a = stack.client("sqs", "consumer_admin").get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages",
                                            "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return int(a["ApproximateNumberOfMessages"]) + int(a["ApproximateNumberOfMessagesNotVisible"])


def committed_offsets(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    """The offsets consumer group `group` committed on `topic`, by partition (-1: none yet). The
    ESM commits only after the function succeeded, so a committed offset past a record means
    that record was handled. (Compare with the offsets the producers were given: tansu 0.6's
    ListOffsets answers "latest" wrongly, so high watermarks cannot be trusted.)"""
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
                  "log_level": 3})
    try:
        parts = c.list_topics(topic, timeout=10).topics[topic].partitions
        tps = c.committed([TopicPartition(topic, p) for p in parts], timeout=10)
        return {tp.partition: max(tp.offset, -1) for tp in tps}
    finally:
        c.close()


def rewind_group(bootstrap: str, group: str, topic: str, by: int, timeout: float = 90) -> dict[int, int]:
    """Moves the committed offsets of `group` on `topic` back by `by` records per partition, as
    an operator restarting a mapping from older offsets would: joins the group (its mapping
    stopped), commits the older offsets as a member, and leaves. Returns them by partition."""
    from confluent_kafka import Consumer, TopicPartition

    now = committed_offsets(bootstrap, group, topic)
    back = {p: max(o - by, 0) for p, o in now.items() if o >= 0}
    assigned: list = []
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
                  "session.timeout.ms": 6000, "heartbeat.interval.ms": 500, "log_level": 3})
    try:
        c.subscribe([topic], on_assign=lambda _c, parts: assigned.extend(parts))
        deadline = time.monotonic() + timeout
        while not assigned and time.monotonic() < deadline:
            c.poll(0.2)
        if not assigned:
            raise AssertionError(f"no partitions of {topic} assigned in group {group} within {timeout} s")
        c.commit(offsets=[TopicPartition(topic, p, o) for p, o in back.items()], asynchronous=False)
    finally:
        c.close()
    assert committed_offsets(bootstrap, group, topic) == {**now, **back}
    return back


# ---------------------------------------------------------------------------------------------
# Helpers of tests/e2e/test_faults.py, test_interop.py and scripts/bench-pipeline.py.

def function_process_pids(fn: "LambdaFunction") -> list[int]:
    """The function processes `cargo lambda watch` runs for `fn` (it starts them as
    `target/debug/<binary>`, a relative path, so `LambdaFunction.function_pids` misses them)."""
    if fn.proc is None:
        return []
    out = []
    for pid in descendant_pids(fn.proc.pid):
        try:
            argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0", 1)[0].decode(errors="replace")
        except OSError:
            continue
        if os.path.basename(argv0) == fn.binary:
            out.append(pid)
    return out


def replace_function(fn: "LambdaFunction", timeout: float = 120) -> "LambdaFunction":
    """What Lambda does after an execution environment crashed: a new one on the same endpoint.
    `cargo lambda watch` does not restart a function process that was killed (every later invoke
    would hang), so the watch is killed with everything it started and started again; callers
    whose invocations were in flight see the connection close and retry."""
    for pid in function_process_pids(fn):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if fn.proc is not None and fn.proc.poll() is None:
        try:
            os.killpg(fn.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        fn.proc.wait()
    return fn.start(timeout)


class KafkaFaultProxy(FaultProxy):
    """Control of the TCP fault proxy in front of tansu (a stack started with KAFKA_PROXY_PORT):
    fault("refuse", for_seconds=S) makes the broker unreachable; counters: accepted, dropped."""

    def __init__(self, env: dict):
        self.endpoint = env["KAFKA_BOOTSTRAP_SERVERS"]
        self.control = env["KAFKA_PROXY_CONTROL_URL"]


def produce_raw(bootstrap: str, topic: str, messages: list[tuple[bytes | None, bytes | None]],
                timeout: float = 30) -> list[tuple[int, int]]:
    """Writes (key, value) messages as they are, past the producer Lambda (poison records, records
    of another serializer); returns the (partition, offset) of each, in order."""
    from confluent_kafka import Producer

    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
                  "log_level": 3})
    out: list = [None] * len(messages)

    def delivered(i):
        def cb(err, msg):
            out[i] = err or (msg.partition(), msg.offset())
        return cb
    for i, (key, value) in enumerate(messages):
        p.produce(topic, key=key, value=value, on_delivery=delivered(i))
        p.poll(0)
    left = p.flush(timeout)
    bad = [r for r in out if not isinstance(r, tuple)]
    if left or bad:
        raise RuntimeError(f"{left} message(s) undelivered, errors: {bad[:3]}")
    return out


def scan_items(stack: Stack, table: str | None = None, attrs: tuple[str, ...] = ()) -> list[dict]:
    """Every item of the readings table (or `table`) as plain Python values (numbers are
    Decimal); only `attrs` when given."""
    from boto3.dynamodb.types import TypeDeserializer

    kwargs: dict = {}
    if attrs:
        names = {f"#a{i}": a for i, a in enumerate(attrs)}
        kwargs.update(ProjectionExpression=", ".join(names), ExpressionAttributeNames=names)
    de = TypeDeserializer()
    pages = scan_pages(stack, table or stack.env["READINGS_TABLE"], **kwargs)
    return [{k: de.deserialize(v) for k, v in i.items()} for page in pages for i in page["Items"]]


def wait_committed(env: dict, group: str, coordinates, timeout: float, interval: float = 0.5) -> bool:
    """Waits until consumer group `group` has committed past every (partition, offset) in
    `coordinates` on the topic of `env`: the ESM commits only after the function succeeded."""
    want: dict[int, int] = {}
    for p, o in coordinates:
        want[p] = max(want.get(p, 0), o + 1)

    def done():
        got = committed_offsets(env["KAFKA_BOOTSTRAP_SERVERS"], group, env["KAFKA_TOPIC"])
        return all(got.get(p, -1) >= o for p, o in want.items())
    return bool(wait_until(done, timeout, interval=interval))


# ---------------------------------------------------------------------------------------------
# Helpers of tests/e2e/test_producer.py: what is on a topic, read with an independent client,
# and values decoded by the reference Python library as JSON carries them.

# --- Aggregates against the readings --------------------------------------------------------------

# Coordinates of the stored reading that are not its fields.
NOT_FIELDS = {"timestamp", "_kafkaPartition", "_kafkaOffset"}
EXACT = Context(prec=200)
AVERAGE = Context(prec=38, rounding=ROUND_HALF_EVEN)
WINDOW_MS = 60_000  # the stack's AGGREGATE_WINDOW_SECONDS


def reference(items: list[dict]) -> dict:
    """The aggregates computed from stored readings, by (deviceId, windowStart): the count, the
    first and last timestamps and, per numeric field, its count, min, max, sum and average (sum /
    count to 38 significant digits, half to even)."""
    out: dict = {}
    for item in items:
        ts = int(item["_readingId"][:13])
        key = (item["deviceId"], ts - ts % WINDOW_MS)
        w = out.setdefault(key, {"count": 0, "first": ts, "last": ts, "fields": defaultdict(list)})
        w["count"] += 1
        w["first"], w["last"] = min(w["first"], ts), max(w["last"], ts)
        for name, v in item.items():
            if isinstance(v, Decimal) and name not in NOT_FIELDS:
                w["fields"][name].append(v)
    return out


def assert_aggregates_match(stack) -> int:
    """Every aggregate equals the reference from the readings table; returns the windows."""
    ref = reference(scan_items(stack))
    stored = {(a["deviceId"], int(a["windowStart"])): a
              for a in scan_items(stack, stack.env["AGGREGATES_TABLE"])}
    assert set(stored) == set(ref), (sorted(set(ref) - set(stored))[:5], sorted(set(stored) - set(ref))[:5])
    for key, w in ref.items():
        a = stored[key]
        assert (a["count"], a["firstTimestamp"], a["lastTimestamp"], a["windowEnd"]) == (
            w["count"], w["first"], w["last"], key[1] + WINDOW_MS), key
        assert set(a["fields"]) == set(w["fields"]), key
        for name, values in w["fields"].items():
            f = a["fields"][name]
            total = sum(values, EXACT.create_decimal(0))
            assert f["count"] == len(values), (key, name)
            assert (f["min"], f["max"]) == (min(values), max(values)), (key, name)
            assert f["sum"] == total, (key, name, f["sum"], total)
            assert f["avg"] == AVERAGE.divide(total, len(values)), (key, name, f["avg"])
    return len(ref)


from typing import NamedTuple  # noqa: E402

READ_FENCE_KEY = b"__e2e-read-fence__"


class KafkaMessage(NamedTuple):
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


def read_topic(bootstrap: str, topic: str, timeout: float = 60) -> list[KafkaMessage]:
    """Every message on the topic, in partition order, read with confluent-kafka (partitions
    assigned from the beginning: no group rebalance to wait for).

    The end of each partition is marked by a fence: a record with key READ_FENCE_KEY (left out of
    the result, and out of later reads) produced here first, so everything acknowledged before the
    call is below the fence. Watermarks cannot mark the end: tansu 0.6's ListOffsets(latest)
    answers the last batch's base offset + 1, so a batch of 1,000 records looks like one."""
    import uuid

    from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Producer, TopicPartition

    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "log_level": 3})
    meta = p.list_topics(topic, timeout=10).topics[topic]
    if meta.error is not None:
        raise KafkaException(meta.error)
    fences: dict[int, int] = {}

    def delivered(err, msg):
        if err is None:
            fences[msg.partition()] = msg.offset()

    for part in meta.partitions:
        p.produce(topic, key=READ_FENCE_KEY, value=b"", partition=part, on_delivery=delivered)
    if p.flush(timeout) or len(fences) != len(meta.partitions):
        raise TimeoutError(f"{topic}: read fences not delivered to every partition ({fences})")

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"e2e-reader-{uuid.uuid4()}",
                  "enable.auto.commit": False, "auto.offset.reset": "earliest",
                  "session.timeout.ms": 6000, "heartbeat.interval.ms": 500, "log_level": 3})
    try:
        c.assign([TopicPartition(topic, part, OFFSET_BEGINNING) for part in fences])
        out: list[KafkaMessage] = []
        left = dict(fences)
        deadline = time.monotonic() + timeout
        while left:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic}: partitions {sorted(left)} not read up to {left}")
            m = c.poll(0.5)
            if m is None:
                continue
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    continue
                raise KafkaException(m.error())
            if m.partition() in left and m.offset() >= left[m.partition()]:
                del left[m.partition()]
            if m.key() != READ_FENCE_KEY and m.offset() < fences[m.partition()]:
                out.append(KafkaMessage(m.partition(), m.offset(), m.key(), m.value()))
        return sorted(out)
    finally:
        c.close()


def avro_to_json(v):
    """A value decoded by the reference library (fastavro) as JSON carries it: timestamp-millis
    comes back as an aware datetime, here epoch milliseconds again."""
    import datetime as dt

    if isinstance(v, dt.datetime):
        if v.tzinfo is None:
            v = v.replace(tzinfo=dt.timezone.utc)
        return round(v.timestamp() * 1000)
    if isinstance(v, dict):
        return {k: avro_to_json(x) for k, x in v.items()}
    if isinstance(v, list):
        return [avro_to_json(x) for x in v]
    return v
