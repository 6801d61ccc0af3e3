"""Interoperability with an independent implementation of the Glue Schema Registry wire format
and client: the reference Python package `aws-glue-schema-registry` (fastavro underneath),
driven as in scripts/bench_python_glue.py, against the producer account's registry in moto.

- What our producer Lambda wrote to Kafka, the package decodes: same readings, and the writer
  schema it fetched by the frame's version id is the version our producer registered.
- What the package serialized (and registered under a schema of its own), our ESM + consumer
  store: one item per record with the same values.
Both with and without zlib (producer: ZLIB_COMPRESSION=true; package: its codec's compression).
Every test starts from a clean state (`stack.sh reset`).
"""

from __future__ import annotations

import time
from decimal import Decimal
from uuid import UUID

import boto3
import pytest
from aws_schema_registry import KafkaDeserializer, KafkaSerializer, SchemaRegistryClient
from aws_schema_registry.avro import AvroSchema
from aws_schema_registry.codec import decode, encode
from aws_schema_registry.serde import DataAndSchema
from confluent_kafka import Consumer, TopicPartition

from harness import (LambdaFunction, produce_raw, producer_env, scan_items, start_consuming,
                     wait_committed)
import bench_python_glue as peer  # the reference package's driver

GROUP = "sensor-consumer-esm"
PEER_SCHEMA_NAME = "interop-python-peer"
COMPRESSION = [pytest.param(False, id="none"), pytest.param(True, id="zlib")]
ZLIB_BYTE, NONE_BYTE = 5, 0


def registry_client(stack) -> SchemaRegistryClient:
    """The package's client on a boto3 Glue client with the producer account admin's keys."""
    env = stack.env
    glue = boto3.client("glue", endpoint_url=env["AWS_ENDPOINT_URL"], region_name=env["AWS_REGION"],
                        **stack.creds("producer_admin"))
    return SchemaRegistryClient(glue, registry_name=env["REGISTRY_NAME"], wait_interval_seconds=0.1)


def fetch(env: dict, coords: list[tuple[int, int]], timeout: float = 60) -> dict[tuple[int, int], bytes]:
    """The values of the records at these (partition, offset) coordinates, read from Kafka."""
    first: dict[int, int] = {}
    for p, o in coords:
        first[p] = min(first.get(p, o), o)
    c = Consumer({"bootstrap.servers": env["KAFKA_BOOTSTRAP_SERVERS"], "group.id": "interop-reader",
                  "enable.auto.commit": False, "log_level": 3})
    try:
        c.assign([TopicPartition(env["KAFKA_TOPIC"], p, o) for p, o in first.items()])
        want, got = set(coords), {}
        deadline = time.monotonic() + timeout
        while want - got.keys() and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None or m.error():
                continue
            if (m.partition(), m.offset()) in want:
                got[(m.partition(), m.offset())] = m.value()
        assert not want - got.keys(), f"records not read back: {sorted(want - got.keys())[:5]}"
        return got
    finally:
        c.close()


def norm(v):
    """Numbers as floats, nulls dropped from records: what survives JSON, Avro and DynamoDB."""
    if isinstance(v, dict):
        return {k: norm(x) for k, x in v.items() if x is not None}
    if isinstance(v, list):
        return [norm(x) for x in v]
    if isinstance(v, (int, float, Decimal)) and not isinstance(v, bool):
        return float(v)
    return v


def producer_events(start: int, n: int, wider: bool) -> list[dict]:
    """Readings as a device sends them; `wider` adds fields (a second schema version)."""
    out = []
    for i in range(start, start + n):
        e = {"deviceId": f"peer-{i % 7}", "timestamp": 1_767_225_600_000 + i * 1000,
             "temperature": -12.5 + i * 0.37, "ok": i % 3 != 0, "count": 123_456_789_012 + i,
             "site": "Göteborg – tak ✓", "tags": ["outdoor", f"t{i % 4}"][: i % 3]}
        if wider:
            e["humidity"] = 0.41 + (i % 10) / 100
            e["location"] = {"lat": 57.70887 + i / 1e5, "lon": 11.97456, "floor": i % 5}
        out.append(e)
    return out


@pytest.mark.parametrize("zlib", COMPRESSION)
def test_reference_package_decodes_what_our_producer_wrote(clean, zlib):
    stack, logs, started = clean
    env = stack.env
    producer = LambdaFunction("sensor-producer", "producer",
                              producer_env(env, ZLIB_COMPRESSION="true" if zlib else "false"), logs)
    started.append(producer.start())

    sent: list[tuple[dict, tuple[int, int], str]] = []  # (event, coordinates, version id)
    versions = []
    for events in (producer_events(0, 40, wider=False), producer_events(40, 40, wider=True)):
        ok, body = producer.invoke(events)
        assert ok and body["statusCode"] == 200, body
        versions.append(body["schemaVersionNumber"])
        sent += [(e, (d["partition"], d["offset"]), body["schemaVersionId"])
                 for e, d in zip(events, body["records"])]
    assert versions == [1, 2]

    values = fetch(env, [c for _, c, _ in sent])
    client = registry_client(stack)
    deserializer = KafkaDeserializer(client)
    for event, coords, version_id in sent:
        value = values[coords]
        assert value[0] == 3 and value[1] == (ZLIB_BYTE if zlib else NONE_BYTE), value[:2]
        _, frame_version = decode(value)
        assert str(frame_version) == version_id
        data, schema = deserializer.deserialize(env["KAFKA_TOPIC"], value)
        assert norm(peer.to_json_value(data)) == norm(event)
        registered = client.get_schema_version(UUID(version_id)).definition
        assert schema == AvroSchema(registered)


@pytest.mark.parametrize("zlib", COMPRESSION)
def test_our_consumer_stores_what_the_reference_package_serialized(clean, zlib):
    stack, logs, started = clean
    env = stack.env
    start_consuming(env, logs, started, GROUP, batch_size=100)

    serializer = KafkaSerializer(registry_client(stack), compatibility_mode="BACKWARD",
                                 schema_naming_strategy=peer.fixed_name(PEER_SCHEMA_NAME))
    schema = AvroSchema(peer.SCHEMA)
    records = peer.make_records(300, seed=11)
    frames = []
    for r in records:
        framed = serializer.serialize(env["KAFKA_TOPIC"], DataAndSchema(r, schema))
        if zlib:  # the package's codec compresses; its serializer has no switch for it
            body, version_id = decode(framed)
            framed = encode(body, version_id, compression=True)
        frames.append(framed)
    assert {f[1] for f in frames} == {ZLIB_BYTE if zlib else NONE_BYTE}
    version_ids = {str(decode(f)[1]) for f in frames}
    assert len(version_ids) == 1

    coords = produce_raw(env["KAFKA_BOOTSTRAP_SERVERS"], env["KAFKA_TOPIC"],
                         [(r["deviceId"].encode(), f) for r, f in zip(records, frames)])
    assert wait_committed(env, GROUP, coords, 180), "the ESM did not get through the records"

    items = {(i["deviceId"], int(i["timestamp"])): i for i in scan_items(stack)}
    assert len(items) == len(records)
    for r, (partition, offset) in zip(records, coords):
        item = items.pop((r["deviceId"], r["timestamp"]))
        assert item["_schemaVersionId"] in version_ids
        assert (int(item["_kafkaPartition"]), int(item["_kafkaOffset"])) == (partition, offset)
        assert norm({k: v for k, v in item.items() if not k.startswith("_")}) == norm(r)
    assert not items
