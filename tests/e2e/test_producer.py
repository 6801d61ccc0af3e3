"""The producer Lambda on its own: the real `producer` binary under `cargo lambda watch`, invoked
through the Lambda Invoke API, against the local stack (moto Glue registry with IAM enforcement,
tansu behind the TCP fault proxy). What lands on Kafka is read back with an independent client
(confluent-kafka) and decoded with the reference Python library (aws-glue-schema-registry).

Every test gets its own topic and schema name, so the tests do not see each other's messages or
schema versions; the module gets its own stack."""

from __future__ import annotations

import json
import time
import zlib
from uuid import UUID

import pytest
from aws_schema_registry import KafkaDeserializer, SchemaRegistryClient

from harness import (ROOT, KafkaFaultProxy, LambdaFunction, avro_to_json, create_topic, free_ports,
                     producer_env, read_topic, start_stack, stop_function_tree)

EVENTS = ROOT / "producer-account" / "events"
DEVICE = "000001"
DELIVERY_TIMEOUT_MS = 3000


def event(name: str):
    return json.loads((EVENTS / f"{name}.json").read_text())


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    d = tmp_path_factory.mktemp("producer")
    proxy, control = free_ports(2)
    s = start_stack(d / "stack", KAFKA_PROXY_PORT=proxy, KAFKA_PROXY_CONTROL_PORT=control)
    try:
        yield s
    finally:
        s.run("down", check=False, timeout=120)


@pytest.fixture
def producer(stack, tmp_path, request):
    """Starts a producer function on a fresh topic and schema name: producer(**env overrides)."""
    started: list[LambdaFunction] = []
    name = request.node.name.removeprefix("test_").replace("_", "-")

    def start(**overrides: str):
        env = stack.env
        topic = f"readings-{name}"
        create_topic(stack, topic)
        overrides = {"KAFKA_TOPIC": topic, "SCHEMA_NAME": f"readings-{name}",
                     "DELIVERY_TIMEOUT_MS": str(DELIVERY_TIMEOUT_MS), **overrides}
        fn = LambdaFunction("sensor-producer", "producer", producer_env(env, **overrides),
                            tmp_path / "logs")
        started.append(fn)
        fn.start()
        fn.topic, fn.schema_name = topic, overrides["SCHEMA_NAME"]
        return fn

    yield start
    for fn in started:
        stop_function_tree(fn)  # LambdaFunction.stop would stop other runs' producers too


def schema_versions(stack, schema_name: str) -> dict[int, str]:
    """{version number: schema version id} as the registry has them (producer admin; moto has no
    ListSchemaVersions, so: GetSchema for the count, GetSchemaVersion per number)."""
    env = stack.env
    glue = stack.client("glue", "producer_admin")
    schema_id = {"RegistryName": env["REGISTRY_NAME"], "SchemaName": schema_name}
    try:
        schema = glue.get_schema(SchemaId=schema_id)
    except glue.exceptions.EntityNotFoundException:
        return {}
    latest = schema["LatestSchemaVersion"]
    assert schema["NextSchemaVersion"] == latest + 1, schema
    return {n: glue.get_schema_version(SchemaId=schema_id, SchemaVersionNumber={"VersionNumber": n})
            ["SchemaVersionId"] for n in range(1, latest + 1)}


def deserializer(stack) -> KafkaDeserializer:
    """The reference library's deserializer, fetching writer schemas from the registry."""
    env = stack.env
    return KafkaDeserializer(SchemaRegistryClient(stack.client("glue", "producer_admin"),
                                                  registry_name=env["REGISTRY_NAME"]))


def invoke_ok(fn: LambdaFunction, payload) -> dict:
    ok, body = fn.invoke(payload)
    assert ok, body
    assert body["statusCode"] == 200, body
    return body


def landed(body: dict) -> list[tuple[int, int]]:
    return [(r["partition"], r["offset"]) for r in body["records"]]


def test_demo_sequence_two_versions_three_framed_messages(stack, producer):
    fn = producer()
    t0 = int(time.time() * 1000)
    answers = [invoke_ok(fn, event(n)) for n in ("empty", "temperature", "empty")]
    t1 = int(time.time() * 1000)

    versions = schema_versions(stack, fn.schema_name)
    assert sorted(versions) == [1, 2], versions
    assert [a["schemaVersionNumber"] for a in answers] == [1, 2, 2]
    assert [a["schemaVersionId"] for a in answers] == [versions[1], versions[2], versions[2]]

    messages = read_topic(stack.env["KAFKA_BOOTSTRAP_SERVERS"], fn.topic)
    assert len(messages) == 3, messages
    by_place = {(m.partition, m.offset): m for m in messages}
    assert sorted(by_place) == sorted(p for a in answers for p in landed(a))
    de = deserializer(stack)
    expected = [{}, {"temperature": 30}, {"temperature": None}]
    for answer, want in zip(answers, expected):
        (place,) = landed(answer)
        m = by_place[place]
        assert m.key == DEVICE.encode()
        assert m.value[0] == 0x03 and m.value[1] == 0x00, m.value[:2]
        assert str(UUID(bytes=m.value[2:18])) == answer["schemaVersionId"]
        got = avro_to_json(de.deserialize(fn.topic, m.value).data)
        assert t0 <= got.pop("timestamp") <= t1
        assert got == {"deviceId": DEVICE, **want}


def test_batch_of_1000_lands_1000_messages(stack, producer):
    fn = producer()
    batch = [{"seq": i, "temperature": 20 + i / 100} for i in range(1000)]
    body = invoke_ok(fn, batch)
    assert body["message"] == "1000 reading(s) delivered"
    places = landed(body)
    assert len(places) == 1000 and len(set(places)) == 1000

    messages = read_topic(stack.env["KAFKA_BOOTSTRAP_SERVERS"], fn.topic)
    assert len(messages) == 1000
    assert {(m.partition, m.offset) for m in messages} == set(places)
    de = deserializer(stack)
    # Every double comes back bit for bit (20 + 524 / 100 = 25.240000000000002 must not become
    # 25.24), every seq once.
    seqs = {}
    for m in messages:
        assert str(UUID(bytes=m.value[2:18])) == body["schemaVersionId"]
        got = avro_to_json(de.deserialize(fn.topic, m.value).data)
        seqs[got["seq"]] = got["temperature"]
    assert seqs == {e["seq"]: e["temperature"] for e in batch}


def test_broker_down_is_a_retryable_error_then_recovers(stack, producer):
    fn = producer()
    env = stack.env
    kafka = KafkaFaultProxy(env)
    warm = invoke_ok(fn, {"temperature": 1})  # cold start and schema registration done here
    # Same shape as the warm-up (no registry call needed); the timestamp marks it on the topic.
    marker = {"temperature": 2, "timestamp": 1_700_000_004_242}
    try:
        assert kafka.fault("refuse")["mode"] == "refuse"  # returns once connections are refused
        t = time.monotonic()
        ok, doc = fn.invoke(marker)
        elapsed = time.monotonic() - t
        assert not ok, f"acknowledged while the broker was unreachable: {doc}"
        assert "delivery to Kafka failed" in doc["errorMessage"], doc
        # The class Lambda, CloudWatch and callers see, and the retry hint.
        assert doc["errorType"] == "DeliveryFailed", doc
        assert doc["errorMessage"].startswith("retryable: "), doc
        # Delivery is awaited up to DELIVERY_TIMEOUT_MS (librdkafka's timeout scan may add ~1 s).
        assert DELIVERY_TIMEOUT_MS / 1000 * 0.9 <= elapsed <= DELIVERY_TIMEOUT_MS / 1000 + 2, elapsed
    finally:
        assert kafka.heal()["mode"] == "pass"  # returns once the proxy accepts again

    # The caller retries. On tansu the first attempt after an outage can fail as well: tansu
    # fences the epoch bump librdkafka makes after timed-out deliveries, and the sink then
    # replaces its producer. Every failure must be a Lambda error, never a false 200.
    attempts = []
    for _ in range(2):
        ok, body = fn.invoke(marker)
        attempts.append(body)
        if ok:
            break
        assert "delivery to Kafka failed" in body["errorMessage"], attempts
    assert ok and body["statusCode"] == 200, attempts

    messages = read_topic(env["KAFKA_BOOTSTRAP_SERVERS"], fn.topic)
    assert {(m.partition, m.offset) for m in messages} == set(landed(warm) + landed(body))
    de = deserializer(stack)
    stamps = [avro_to_json(de.deserialize(fn.topic, m.value).data)["timestamp"] for m in messages]
    # The failed attempts left nothing behind: the marker is on the topic once, from the success.
    assert stamps.count(marker["timestamp"]) == 1, stamps


def test_bad_requests_are_400s_and_produce_nothing(stack, producer):
    fn = producer()
    ok, body = fn.invoke(json.dumps("not an object"))
    assert ok, body
    assert body["statusCode"] == 400, body
    assert "found string" in body["message"], body
    assert body["records"] == []
    assert schema_versions(stack, fn.schema_name) == {}

    first = invoke_ok(fn, event("temperature"))
    ok, body = fn.invoke({"temperature": "hot"})
    assert ok, body
    assert body["statusCode"] == 400, body
    assert "type conflict at `temperature`" in body["message"], body
    assert "schemaVersionId" not in body

    assert sorted(schema_versions(stack, fn.schema_name)) == [1]
    messages = read_topic(stack.env["KAFKA_BOOTSTRAP_SERVERS"], fn.topic)
    assert [(m.partition, m.offset) for m in messages] == landed(first)


def test_zlib_frames_decode_with_the_reference_library(stack, producer):
    fn = producer(ZLIB_COMPRESSION="true")
    readings = [event("location"), event("tags"), event("humidity")]
    body = invoke_ok(fn, readings)
    messages = read_topic(stack.env["KAFKA_BOOTSTRAP_SERVERS"], fn.topic)
    assert {(m.partition, m.offset) for m in messages} == set(landed(body))
    de = deserializer(stack)
    decoded = []
    for m in messages:
        assert m.value[0] == 0x03 and m.value[1] == 0x05, m.value[:2]
        assert str(UUID(bytes=m.value[2:18])) == body["schemaVersionId"]
        zlib.decompress(m.value[18:])  # a real zlib stream, not a flag on a plain body
        decoded.append(avro_to_json(de.deserialize(fn.topic, m.value).data))
    fields = {"temperature", "location", "tags", "humidity", "pressure"}
    for got, want in zip(sorted(decoded, key=lambda r: r["temperature"]),
                         sorted(readings, key=lambda r: r["temperature"])):
        assert got["deviceId"] == DEVICE
        assert {k: got[k] for k in fields if got.get(k) is not None} == want
