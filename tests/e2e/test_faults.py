"""The whole pipeline under load and under faults: producer Lambda → Glue registry (moto) → Kafka
(tansu, behind a TCP fault proxy) → local event source mapping → consumer Lambda (assumed role)
→ DynamoDB, poison records → SQS dead-letter queue.

Every test starts from a clean state (`stack.sh reset`: new accounts, keys, empty broker) with
its own function and ESM processes. What every fault test shows at the end:

- every acknowledged reading (the producer answered 200 with its partition and offset) is in the
  table exactly once, written from the very record the producer acknowledged;
- every reading whose invocation failed was reported to the caller as a function error; such a
  reading may or may not have been stored (at-least-once), nothing else is in the table;
- the poison records injected during the run are in the dead-letter queue, and nothing else is.

Deliberate outages last OUTAGE_SECONDS (the broker BROKER_OUTAGE_SECONDS); everything else waits
on a condition.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest

from harness import (EventSourceMapping, FaultProxy, KafkaFaultProxy, LambdaFunction, Stack,
                     committed_offsets, consumer_env, count_items, function_process_pids,
                     produce_raw, producer_env, receive_all, replace_function, scan_items,
                     stop_started, wait_committed, wait_until)

BASE_TS = 1_790_000_000_000
GROUP = "sensor-consumer-esm"
OUTAGE_SECONDS = 5
# Longer than the producer's delivery timeout (3 s here) plus a pause, so that some invocations
# run entirely inside the broker outage.
BROKER_OUTAGE_SECONDS = 8
SETTLE_TIMEOUT = 240
ESM_RETRY = "invocation failed; retrying the batch"
ESM_DONE = "batch processed"
FAILED_BATCH = "batch failed; the event source mapping will retry it"


def readings(start: int, n: int, shape: int) -> list[dict]:
    """Readings start..start+n-1, keys (deviceId, timestamp) distinct for distinct i; shape 0 is
    the keys alone, each further shape adds one field and needs a new schema version."""
    out = []
    for i in range(start, start + n):
        e = {"deviceId": f"dev-{i % 53:03d}", "timestamp": BASE_TS + i}
        if shape >= 1:
            e["temperature"] = 15.25 + (i % 200) / 8
        if shape >= 2:
            e["humidity"] = 0.305 + (i % 50) / 100
        if shape >= 3:
            e["location"] = {"lat": 59.25 + (i % 10) / 100, "lon": 18.5, "site": f"s{i % 3}"}
        if shape >= 4:
            e["tags"] = ["indoor" if i % 2 else "outdoor", "calibrated"]
        out.append(e)
    return out


def key(e: dict) -> tuple[str, int]:
    return e["deviceId"], int(e["timestamp"])


def log_lines(path: Path, text: str) -> list[str]:
    if not path.exists():
        return []
    return [ln for ln in path.read_text(errors="replace").splitlines() if text in ln]


def esm_processed(log: Path) -> int:
    """Records the ESM handed to the function successfully, from its log."""
    n = 0
    for ln in log_lines(log, ESM_DONE):
        n += json.loads(ln)["records"]
    return n


def allow_sqs_batch_in_moto(stack: Stack) -> None:
    """AWS authorises SendMessageBatch with sqs:SendMessage (what the consumer's policy grants);
    moto checks an action "sqs:SendMessageBatch" instead, so the local identity gets it too."""
    user = stack.env["CONSUMER_LAMBDA_USER_ARN"].rsplit("/", 1)[1]
    stack.client("iam", "consumer_admin").put_user_policy(
        UserName=user, PolicyName="moto-sqs-send-message-batch",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "sqs:SendMessageBatch", "Resource": "*"}]}))


class Run:
    """One test's processes, and the ledger of what the producer acknowledged or failed."""

    def __init__(self, stack: Stack, logs: Path):
        self.stack, self.logs = stack, logs
        self.env = stack.env
        self.started: list = []
        self.acked: dict[tuple[str, int], tuple[int, int]] = {}
        self.unacked: set[tuple[str, int]] = set()
        self.failures: list = []
        self.poison: list[tuple[int, int]] = []
        self.lock = threading.Lock()

    # -- processes -------------------------------------------------------------------------
    def start_producer(self, **overrides: str) -> LambdaFunction:
        f = LambdaFunction("sensor-producer", "producer", producer_env(self.env, **overrides), self.logs)
        self.started.append(f)
        return f.start()

    def start_consumer(self, via_proxy: bool = False) -> LambdaFunction:
        endpoint = self.env["AWS_PROXY_ENDPOINT_URL"] if via_proxy else None
        f = LambdaFunction("sensor-consumer", "consumer", consumer_env(self.env, endpoint), self.logs)
        self.started.append(f)
        return f.start()

    def start_esm(self, consumer: LambdaFunction, name: str = "esm", batch_size: int = 250,
                  via_proxy: bool = False) -> EventSourceMapping:
        endpoint = self.env["AWS_PROXY_ENDPOINT_URL"] if via_proxy else None
        esm = EventSourceMapping(self.env, consumer, self.logs / name, batch_size=batch_size,
                                 window_ms=200, group_id=GROUP, aws_endpoint=endpoint)
        # A lost invocation fails after 30 s instead of the deployed function's 120 s.
        esm.args += ["--function-timeout-ms", "30000"]
        self.started.append(esm)
        return esm.start()

    def stop(self) -> None:
        stop_started(self.started)

    # -- traffic ---------------------------------------------------------------------------
    def send(self, producer: LambdaFunction, events: list[dict]) -> tuple[bool, dict | str]:
        """Invokes the producer; acknowledged readings are recorded with their coordinates,
        failed ones as unacknowledged."""
        ok, body = producer.invoke(events)
        with self.lock:
            if ok:
                assert body["statusCode"] == 200, body
                assert len(body["records"]) == len(events), body["message"]
                for e, d in zip(events, body["records"]):
                    self.acked[key(e)] = (d["partition"], d["offset"])
            else:
                self.unacked.update(key(e) for e in events)
                self.failures.append(body)
        return ok, body

    def inject_poison(self, known_version: str, tag: str) -> list[tuple[int, int]]:
        """Three records that can never be stored: not Glue framing, an unknown schema version,
        a known version with a corrupt body."""
        messages = [
            (f"poison-{tag}-1".encode(), b"not a glue frame"),
            (f"poison-{tag}-2".encode(), bytes([3, 0]) + uuid.uuid4().bytes + b"\x02"),
            (f"poison-{tag}-3".encode(), bytes([3, 0]) + uuid.UUID(known_version).bytes + b"\xff\xff\xff"),
        ]
        coords = produce_raw(self.env["KAFKA_BOOTSTRAP_SERVERS"], self.env["KAFKA_TOPIC"], messages)
        self.poison.extend(coords)
        return coords

    # -- outcome ---------------------------------------------------------------------------
    def settle(self, timeout: float = SETTLE_TIMEOUT) -> None:
        """Waits until the ESM has committed past every acknowledged and poison record (it
        commits only after the function succeeded)."""
        coords = list(self.acked.values()) + self.poison
        assert wait_committed(self.env, GROUP, coords, timeout), (
            f"not everything was handled in {timeout}s: committed "
            f"{committed_offsets(self.env['KAFKA_BOOTSTRAP_SERVERS'], GROUP, self.env['KAFKA_TOPIC'])}, "
            f"{count_items(self.stack)} items for {len(self.acked)} acknowledged readings")

    def verify(self, *extra_attrs: str) -> list[dict]:
        """The invariants of the module docstring; returns the items."""
        items = scan_items(self.stack, attrs=("deviceId", "timestamp", "_kafkaPartition", "_kafkaOffset",
                                              *extra_attrs))
        stored = {(i["deviceId"], int(i["timestamp"])): (int(i["_kafkaPartition"]), int(i["_kafkaOffset"]))
                  for i in items}
        assert len(stored) == len(items)
        missing = [k for k in self.acked if k not in stored]
        assert not missing, f"{len(missing)} acknowledged readings not stored, e.g. {missing[:5]}"
        moved = {k: (self.acked[k], stored[k]) for k in self.acked if stored[k] != self.acked[k]}
        assert not moved, f"{len(moved)} readings not stored from their acknowledged record: {list(moved.items())[:5]}"
        unexpected = set(stored) - set(self.acked) - self.unacked
        assert not unexpected, f"items nobody sent: {sorted(unexpected)[:5]}"
        twice = [c for c, n in Counter(stored.values()).items() if n > 1]
        assert not twice, f"records stored under two keys: {twice[:5]}"
        assert len(items) == len(self.acked) + len(self.unacked & set(stored))

        letters = receive_all(self.stack, self.env["DEAD_LETTER_QUEUE_URL"])
        dead = {(d["partition"], d["offset"]) for d in letters}
        assert set(self.poison) <= dead, f"poison records not dead-lettered: {set(self.poison) - dead}"
        assert dead <= set(self.poison), f"good records dead-lettered: {dead - set(self.poison)}"
        assert all(d["reason"] for d in letters)
        return items


# The stack (conftest) with the fault proxies in front of moto and of the broker.
STACK_PROXY_PORTS = ("MOTO_PROXY_PORT", "KAFKA_PROXY_PORT", "KAFKA_PROXY_CONTROL_PORT")


@pytest.fixture
def run(stack, tmp_path):
    stack.run("reset", timeout=300)
    allow_sqs_batch_in_moto(stack)
    r = Run(stack, tmp_path / "logs")
    try:
        yield r
    finally:
        FaultProxy(r.env).reset()
        KafkaFaultProxy(r.env).reset()
        r.stop()


def wait_pass(proxy: FaultProxy, timeout: float = OUTAGE_SECONDS + 30) -> None:
    """Waits until a timed fault has run out."""
    assert wait_until(lambda: proxy.state()["mode"] == "pass", timeout, interval=0.2)


# ------------------------------------------------------------------------------------------

def test_consumer_killed_mid_batch(run):
    """The consumer function is SIGKILLed twice while the ESM is delivering (writes are slowed
    down so an invocation is always in flight), and Lambda replaces the environment: the ESM
    retries the batch, partial writes are overwritten, nothing is lost or doubled."""
    aws = FaultProxy(run.env)
    producer = run.start_producer()
    consumer = run.start_consumer(via_proxy=True)
    esm = run.start_esm(consumer, batch_size=250)

    ok, first = run.send(producer, readings(0, 500, 1))
    assert ok, first
    run.inject_poison(first["schemaVersionId"], "a1")
    for b in range(1, 8):
        assert run.send(producer, readings(b * 500, 500, 1))[0]

    aws.fault("delay", "dynamodb:BatchWriteItem", delay_ms=1500)
    killed = []
    for threshold in (250, 1000):
        assert wait_until(lambda: count_items(run.stack) >= threshold, 120, interval=0.2), \
            f"fewer than {threshold} items"
        # The process `cargo lambda watch` runs may be between starts; wait for it.
        pids = wait_until(lambda: function_process_pids(consumer), 30, interval=0.1)
        assert pids, "no consumer function process to kill"
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        killed += pids
        assert count_items(run.stack) < len(run.acked), "killed after everything was stored"
        replace_function(consumer)
    aws.heal()

    # A new shape after the crashes: the replacement fetches the new version and goes on.
    ok, later = run.send(producer, readings(4000, 500, 2))
    assert ok, later
    run.inject_poison(later["schemaVersionId"], "a2")

    run.settle()
    run.verify()
    retries = log_lines(esm.log_dir / "local-esm.log", ESM_RETRY)
    assert len(retries) >= 2, "the killed invocations were not retried"
    assert not set(killed) & set(function_process_pids(consumer))


def test_esm_restarted_resumes_from_committed_offsets(run):
    """The ESM is SIGKILLed mid-run and a new one joins with the same group id: it starts at
    the committed offsets (it handles what was left, not the whole topic), and the batch that was
    in flight at the kill is delivered again and overwritten."""
    aws = FaultProxy(run.env)
    producer = run.start_producer()
    consumer = run.start_consumer(via_proxy=True)
    first_esm = run.start_esm(consumer, "esm-1", batch_size=250)

    ok, first = run.send(producer, readings(0, 500, 1))
    assert ok, first
    run.inject_poison(first["schemaVersionId"], "b1")
    for b in range(1, 8):
        assert run.send(producer, readings(b * 500, 500, 1))[0]
    total = len(run.acked) + len(run.poison)

    aws.fault("delay", "dynamodb:BatchWriteItem", delay_ms=1000)
    assert wait_until(lambda: esm_processed(first_esm.log_dir / "local-esm.log") >= 500, 120, interval=0.2)
    first_esm.stop(signal.SIGKILL)
    handled = esm_processed(first_esm.log_dir / "local-esm.log")
    assert handled < total, "the ESM was killed after it had handled everything"
    committed = committed_offsets(run.env["KAFKA_BOOTSTRAP_SERVERS"], GROUP, run.env["KAFKA_TOPIC"])
    ends: dict[int, int] = {}
    for p, o in list(run.acked.values()) + run.poison:
        ends[p] = max(ends.get(p, 0), o + 1)
    left = sum(end - max(committed.get(p, -1), 0) for p, end in ends.items())
    assert 0 < left < total, (committed, ends)
    aws.heal()

    second_esm = run.start_esm(consumer, "esm-2", batch_size=250)
    ok, later = run.send(producer, readings(4000, 500, 2))
    assert ok, later
    run.inject_poison(later["schemaVersionId"], "b2")
    run.settle()
    run.verify()
    resumed = esm_processed(second_esm.log_dir / "local-esm.log")
    # Everything after the committed offsets, plus the 503 sent since; not the whole topic again.
    assert left + 503 <= resumed < total + 503, (left, resumed, total)


def test_aws_endpoints_failing(run):
    """Behind the HTTP fault proxy the consumer sees DynamoDB throttled, then refusing
    connections, then Glue throttled while a new schema version and a record of an unknown
    version arrive. Failed batches are retried; none is dead-lettered for an outage."""
    aws = FaultProxy(run.env)
    producer = run.start_producer()
    consumer = run.start_consumer(via_proxy=True)
    run.start_esm(consumer, batch_size=250, via_proxy=True)
    consumer_log = run.logs / "consumer.log"

    ok, first = run.send(producer, readings(0, 500, 1))
    assert ok, first
    run.inject_poison(first["schemaVersionId"], "c1")
    assert wait_until(lambda: count_items(run.stack) >= 500, 120, interval=0.3)

    n = 500
    for mode, code in (("throttle", "ProvisionedThroughputExceededException"), ("refuse", None)):
        before = aws.count("faulted", "dynamodb:BatchWriteItem")
        aws.fault(mode, "dynamodb", for_seconds=OUTAGE_SECONDS, **({"code": code} if code else {}))
        assert run.send(producer, readings(n, 1000, 1))[0]
        n += 1000
        assert wait_until(lambda: aws.count("faulted", "dynamodb:BatchWriteItem") > before, 30)
        wait_pass(aws)
    assert log_lines(consumer_log, "BatchWriteItem: service error: ProvisionedThroughputExceededException")
    assert log_lines(consumer_log, "BatchWriteItem: dispatch failure")

    before = aws.count("faulted", "glue:GetSchemaVersion")
    aws.fault("throttle", "glue", for_seconds=OUTAGE_SECONDS)
    ok, later = run.send(producer, readings(n, 1000, 2))  # a new version: the consumer must look it up
    assert ok, later
    assert later["schemaVersionId"] != first["schemaVersionId"]
    run.inject_poison(later["schemaVersionId"], "c2")
    assert wait_until(lambda: aws.count("faulted", "glue:GetSchemaVersion") > before, 30)
    wait_pass(aws)
    assert log_lines(consumer_log, "registry unavailable: GetSchemaVersion")

    run.settle()
    run.verify()
    assert len(log_lines(consumer_log, FAILED_BATCH)) >= 3


def test_broker_unreachable_for_the_producer(run):
    """While the broker is unreachable, invocations fail (the caller gets a function error and
    must not count those readings); afterwards invocations succeed again, and the ESM, which
    lost the broker too, carries on."""
    kafka = KafkaFaultProxy(run.env)
    producer = run.start_producer(DELIVERY_TIMEOUT_MS="3000")
    consumer = run.start_consumer()
    esm = run.start_esm(consumer)

    ok, first = run.send(producer, readings(0, 100, 1))
    assert ok, first
    run.inject_poison(first["schemaVersionId"], "d1")

    outcomes: list[tuple[float, float, bool]] = []  # (start, end, acknowledged)
    errors: list[Exception] = []
    stop = threading.Event()

    def sender():
        i = 100
        try:
            while not stop.is_set():
                t = time.monotonic()
                ok, _ = run.send(producer, readings(i, 50, 1))
                outcomes.append((t, time.monotonic(), ok))
                i += 50
                time.sleep(0.1)  # pacing, about ten invocations a second
        except Exception as e:  # reported by the test thread
            errors.append(e)

    th = threading.Thread(target=sender, daemon=True)
    th.start()
    try:
        assert wait_until(lambda: sum(o[2] for o in outcomes) >= 5, 60)
        kafka.fault("refuse", for_seconds=BROKER_OUTAGE_SECONDS)
        outage_start = time.monotonic()
        wait_pass(kafka, BROKER_OUTAGE_SECONDS + 30)
        outage_end = time.monotonic()
        assert wait_until(lambda: errors or sum(o[2] for o in outcomes if o[0] > outage_end) >= 5, 90), \
            f"invocations still failing after the outage: {run.failures[-1:]}"
    finally:
        stop.set()
        th.join(60)
    assert not errors, errors
    run.inject_poison(first["schemaVersionId"], "d2")

    failed = [o for o in outcomes if not o[2]]
    assert failed, "no invocation failed while the broker was unreachable"
    assert all(o[1] > outage_start for o in failed)  # only invocations that overlapped the outage
    inside = [o for o in outcomes if o[0] >= outage_start and o[1] <= outage_start + BROKER_OUTAGE_SECONDS]
    assert inside and not any(o[2] for o in inside), inside
    assert all("delivery to Kafka failed" in str(f) for f in run.failures), run.failures[:3]
    assert all(o[2] for o in outcomes[-5:])
    assert esm.proc.poll() is None, "the ESM died while the broker was away"
    assert run.unacked

    run.settle()
    items = run.verify()
    landed = len(run.unacked & {key(i) for i in items})
    print(f"{len(run.acked)} acknowledged, {len(run.unacked)} failed of which {landed} landed anyway")
