"""Schemas registered by a producer that is not ours, end to end on the local stack.

A Python producer (the reference `aws-glue-schema-registry` serializer, fastavro underneath)
registers `shared/tests/fixtures/avro/wide.avsc` — every Avro construct, a `timestamp-micros`
key — and writes readings to the topic; bodies written by Apache's `avro` package are framed
with the same version id. Our ESM + consumer store them with the attribute types the README
documents (checked on the raw DynamoDB items); poison ones go to the dead-letter queue with their
reasons: a reading before 1970, a schema whose `timestamp` is a double, an enum index past the
symbols.
"""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from aws_schema_registry import KafkaSerializer
from aws_schema_registry.avro import AvroSchema
from aws_schema_registry.codec import decode, encode
from aws_schema_registry.serde import DataAndSchema

from harness import (assert_aggregates_match, produce_raw, receive_all, scan_pages, start_consuming,
                     wait_committed)
from test_interop import registry_client

import avro_reference as ref  # the reference records and writers
import bench_python_glue as peer

GROUP = "sensor-consumer-esm"
WIDE = json.loads((ref.FIXTURES / "wide.avsc").read_text())
# Attribute type of every wide-schema field that always has a value (README table).
TYPES = {"deviceId": "S", "timestamp": "N", "b": "BOOL", "i": "N", "l": "N", "f": "N", "s": "S",
         "y": "B", "kind": "S", "kind2": "S", "md5": "B", "md5b": "B", "tags": "L", "readings": "M",
         "home": "M", "chain": "M", "price": "N", "priceFixed": "N", "huge": "S", "id": "S",
         "idFixed": "S", "day": "N", "tMillis": "N", "tMicros": "N", "tsMillis": "N", "tsNanos": "N",
         "ltsMillis": "N", "ltsMicros": "N", "ltsNanos": "N", "span": "M", "other": "S",
         "withDefaults": "M"}


def zigzag(v: int) -> bytes:
    z, out = (v << 1) ^ (v >> 63), bytearray()
    while z >= 0x80:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


def raw_items(stack) -> list[dict]:
    """The readings as DynamoDB JSON, as stored."""
    return [i for page in scan_pages(stack, stack.env["READINGS_TABLE"]) for i in page["Items"]]


@pytest.mark.parametrize("zlib", [pytest.param(False, id="none"), pytest.param(True, id="zlib")])
def test_foreign_schema_readings_are_stored_with_documented_types(clean, zlib):
    stack, logs, started = clean
    env = stack.env
    start_consuming(env, logs, started, GROUP, batch_size=50)

    client = registry_client(stack)
    serializer = KafkaSerializer(client, compatibility_mode="BACKWARD",
                                 schema_naming_strategy=peer.fixed_name("foreign-wide"))
    frame_of = lambda body, vid: encode(body, vid, compression=zlib)  # noqa: E731
    messages, expected, poison = [], [], {}
    version_id = None
    for fa, av, exp in ref.wide_records():
        framed = serializer.serialize(env["KAFKA_TOPIC"], DataAndSchema(fa, AvroSchema(WIDE)))
        body, version_id = decode(framed)
        for writer, b in (("fastavro", body), ("avro", ref.avro_body(WIDE, av))):
            messages.append((exp["deviceId"].encode(), frame_of(b, version_id)))
            if exp["timestamp"] < 0:
                poison[len(messages) - 1] = "timestamp must be epoch milliseconds"
            else:
                expected.append((len(messages) - 1, writer, exp))
    # An enum index past the symbols: deviceId, timestamp, b, i, l, f, d, s, y, then `kind` 7 of 3.
    hostile = (b"\x0adev-0" + zigzag(1_767_225_600_000_000) + b"\x00\x00\x00" + bytes(12)
               + b"\x00\x00" + zigzag(7))
    messages.append((b"dev-0", frame_of(hostile, version_id)))
    poison[len(messages) - 1] = "enum index 7 out of range"
    # A schema whose `timestamp` is a double.
    double_key = {"type": "record", "name": "DoubleKey", "fields": [
        {"name": "deviceId", "type": "string"}, {"name": "timestamp", "type": "double"}]}
    other = KafkaSerializer(client, compatibility_mode="BACKWARD",
                            schema_naming_strategy=peer.fixed_name("foreign-double-key"))
    framed = other.serialize(env["KAFKA_TOPIC"], DataAndSchema({"deviceId": "dk", "timestamp": 1.5e12},
                                                               AvroSchema(double_key)))
    body, vid = decode(framed)
    messages.append((b"dk", frame_of(body, vid)))
    poison[len(messages) - 1] = "timestamp is a floating-point number"

    coords = produce_raw(env["KAFKA_BOOTSTRAP_SERVERS"], env["KAFKA_TOPIC"], messages)
    assert wait_committed(env, GROUP, coords, 180), "the ESM did not get through the records"

    letters = receive_all(stack, env["DEAD_LETTER_QUEUE_URL"])
    items = {(i["_kafkaPartition"]["N"], i["_kafkaOffset"]["N"]): i for i in raw_items(stack)}
    assert len(items) == len(expected), [l["reason"] for l in letters]
    for index, writer, exp in expected:
        p, o = coords[index]
        item = items[(str(p), str(o))]
        for field, tag in TYPES.items():
            if field == "d":
                continue
            assert list(item[field]) == [tag], (writer, field, item[field])
        assert item["price"]["N"] == exp["price"] and item["priceFixed"]["N"] == exp["priceFixed"]
        assert item["huge"] == {"S": exp["huge"]}
        assert item["kind"] == {"S": exp["kind"]} and item["id"] == {"S": exp["id"]}
        assert item["md5"]["B"] == exp["md5"].encode("latin-1")
        assert item["timestamp"] == {"N": str(exp["timestamp"])}
        ms = exp["timestamp"] // 1000
        assert item["_readingId"]["S"] == f"{ms:013d}#{env['KAFKA_TOPIC']}#{p}#{o}"
        assert item["span"]["M"]["days"] == {"N": str(exp["span"]["days"])}
        assert "n" not in item, "a null field is left out"
        assert Decimal(item["tsNanos"]["N"]) == exp["tsNanos"]
    by_coords = {(l["partition"], l["offset"]): l for l in letters}
    assert len(letters) == len(poison), [l["reason"] for l in letters]
    for index, why in poison.items():
        p, o = coords[index]
        assert why in by_coords[(p, o)]["reason"], by_coords[(p, o)]["reason"]
    # The aggregates step counts these readings too: every window of the stored items, and nothing
    # of the dead-lettered ones.
    assert assert_aggregates_match(stack) >= 1
