#!/usr/bin/env python3
"""Baseline and interop peer: the reference Python Glue Schema Registry library.

Uses PyPI `aws-glue-schema-registry` (KafkaSerializer / KafkaDeserializer over a boto3 Glue
client) against moto: a running local stack (`--stack-env .local/stack/stack.env`, or the
variables of a sourced stack.env, or --endpoint with keys), or, with none of those, a moto
server started in this process on 127.0.0.1.

Benchmark (default): serialize and deserialize N sensor readings with a warm schema cache and
print one JSON line per operation, e.g.
  {"impl": "python-aws-glue-schema-registry", "op": "decode", "compression": "none",
   "records": 20000, "records_per_s": 61234.5, ...}
The library's KafkaSerializer has no compression option; the "zlib" lines frame with the
library's own codec (aws_schema_registry.codec.encode(..., compression=True), byte 0x05),
and KafkaDeserializer decodes them as usual.

Interop files (one hex-encoded Glue-framed message per line, plus a sidecar JSON
PATH.schema.json = {"format": "glue-framed-hex-v1", "schema_definition": "...",
"schema_version_id": "uuid", "registry_name": "...", "schema_name": "...",
"compression": "none"|"zlib", "records": [...]}, records with timestamp as epoch millis):
  --write-framed PATH   serialize --framed-records records with the library and write them
  --read-framed PATH    decode a file of framed messages with the library; compares with the
                        sidecar's "records" when present (exit 1 on a difference) and checks
                        that the registry's writer schema equals "schema_definition".
                        --offline takes the writer schema from the sidecar instead of Glue.
  --out PATH            (with --read-framed) write the decoded records as JSON lines
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import sys
import time
from pathlib import Path
from uuid import UUID

IMPL = "python-aws-glue-schema-registry"

SCHEMA = {
    "type": "record", "name": "SensorReading", "namespace": "com.example.sensors",
    "fields": [
        {"name": "deviceId", "type": "string"},
        {"name": "timestamp", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "temperature", "type": ["null", "double"], "default": None},
        {"name": "humidity", "type": ["null", "double"], "default": None},
        {"name": "pressure", "type": ["null", "double"], "default": None},
        {"name": "location", "type": ["null", {
            "type": "record", "name": "Location",
            "fields": [{"name": "lat", "type": "double"}, {"name": "lon", "type": "double"}]}],
         "default": None},
        {"name": "tags", "type": ["null", {"type": "array", "items": "string"}], "default": None},
    ],
}


def make_records(n: int, seed: int = 7) -> list[dict]:
    rnd = random.Random(seed)
    base = 1_700_000_000_000
    tags = ["indoor", "outdoor", "roof", "basement", "calibrated", "battery-low"]
    out = []
    for i in range(n):
        out.append({
            "deviceId": f"{rnd.randrange(1, 1000):06d}",
            "timestamp": base + i * 1000,
            "temperature": None if rnd.random() < 0.1 else round(rnd.uniform(-20, 40), 2),
            "humidity": None if rnd.random() < 0.1 else round(rnd.uniform(0, 100), 2),
            "pressure": None if rnd.random() < 0.1 else round(rnd.uniform(950, 1050), 1),
            "location": None if rnd.random() < 0.2 else {"lat": rnd.uniform(-90, 90), "lon": rnd.uniform(-180, 180)},
            "tags": None if rnd.random() < 0.3 else rnd.sample(tags, rnd.randrange(0, 4)),
        })
    return out


def to_json_value(v):
    """Decoded Avro value -> JSON-friendly (timestamp-millis comes back as datetime)."""
    if isinstance(v, dt.datetime):
        if v.tzinfo is None:
            v = v.replace(tzinfo=dt.timezone.utc)
        return int(round(v.timestamp() * 1000))
    if isinstance(v, dict):
        return {k: to_json_value(x) for k, x in v.items()}
    if isinstance(v, list):
        return [to_json_value(x) for x in v]
    return v


def load_env_file(path: str) -> dict[str, str]:
    out = {}
    for line in Path(path).read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#") and "=" in line:
            k, _, v = line.partition("=")
            if len(v) >= 2 and v[0] == v[-1] == "'":
                v = v[1:-1]
            out[k.strip()] = v
    return out


class Registry:
    """A boto3 Glue client on moto: given, from a stack, or an in-process moto server."""

    def __init__(self, args):
        import boto3

        self.server = None
        env = dict(os.environ)
        if args.stack_env:
            env.update(load_env_file(args.stack_env))
        endpoint = args.endpoint or (env.get("AWS_ENDPOINT_URL") if (args.stack_env or args.use_env) else None)
        if endpoint:
            key = args.access_key or env.get("PRODUCER_ACCESS_KEY_ID")
            secret = args.secret_key or env.get("PRODUCER_SECRET_ACCESS_KEY")
            if not (key and secret):
                raise SystemExit("an endpoint needs --access-key/--secret-key (or a stack.env)")
            self.registry_name = args.registry or env.get("REGISTRY_NAME") or "sensor-registry"
            region = args.region or env.get("AWS_REGION") or "eu-west-1"
            self.where = endpoint
        else:
            import logging

            from moto.server import ThreadedMotoServer

            logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
            self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
            self.server.start()
            host, port = self.server.get_host_and_port()
            endpoint, key, secret, region = f"http://{host}:{port}", "bench", "bench", args.region or "eu-west-1"
            self.registry_name = args.registry or "sensor-registry"
            self.where = f"in-process moto {endpoint}"
        self.glue = boto3.client("glue", endpoint_url=endpoint, region_name=region,
                                 aws_access_key_id=key, aws_secret_access_key=secret)
        if self.server is not None:
            self.glue.create_registry(RegistryName=self.registry_name)

    def close(self):
        if self.server is not None:
            self.server.stop()


def fixed_name(name: str):
    return lambda topic, is_key, schema: name


def serde(registry: Registry, schema_name: str):
    from aws_schema_registry import KafkaDeserializer, KafkaSerializer, SchemaRegistryClient

    client = SchemaRegistryClient(registry.glue, registry_name=registry.registry_name,
                                  wait_interval_seconds=0.1)
    ser = KafkaSerializer(client, compatibility_mode="BACKWARD", schema_naming_strategy=fixed_name(schema_name))
    return client, ser, KafkaDeserializer(client)


def timed(fn, items, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for x in items:
            fn(x)
        best = min(best, time.perf_counter() - t0)
    return best


def bench(args) -> int:
    from aws_schema_registry.avro import AvroSchema
    from aws_schema_registry.codec import encode
    from aws_schema_registry.serde import DataAndSchema

    registry = Registry(args)
    try:
        topic = "bench"
        schema = AvroSchema(SCHEMA)
        client, ser, de = serde(registry, args.schema_name)
        records = make_records(args.records)
        # Warm the caches: registers (or finds) the schema once, fetches it once.
        first = ser.serialize(topic, DataAndSchema(records[0], schema))
        de.deserialize(topic, first)
        version_id = ser._get_schema_version(topic, schema).version_id
        version = {"impl": IMPL, "library_version": lib_version(), "registry": registry.where}

        for compression in ("none", "zlib") if args.compression == "both" else (args.compression,):
            if compression == "none":
                def enc(r):
                    return ser.serialize(topic, DataAndSchema(r, schema))
            else:
                # No compression option on KafkaSerializer: frame with the library's codec.
                def enc(r):
                    return encode(schema.write(r), version_id, compression=True)
            framed = [enc(r) for r in records]
            assert to_json_value(de.deserialize(topic, framed[1]).data) == records[1]
            t_enc = timed(enc, records, args.repeat)
            t_dec = timed(lambda m: de.deserialize(topic, m), framed, args.repeat)
            size = sum(map(len, framed)) / len(framed)
            for op, secs in (("encode", t_enc), ("decode", t_dec)):
                print(json.dumps({**version, "op": op, "compression": compression, "records": len(records),
                                  "seconds": round(secs, 4), "records_per_s": round(len(records) / secs, 1),
                                  "avg_framed_bytes": round(size, 1), "repeat_best_of": args.repeat}),
                      flush=True)
        return 0
    finally:
        registry.close()


def lib_version() -> str:
    from importlib.metadata import version

    return version("aws-glue-schema-registry")


def sidecar_path(path: str) -> Path:
    return Path(path + ".schema.json")


def write_framed(args) -> int:
    from aws_schema_registry.avro import AvroSchema
    from aws_schema_registry.codec import encode
    from aws_schema_registry.serde import DataAndSchema

    registry = Registry(args)
    try:
        schema = AvroSchema(SCHEMA)
        _, ser, _ = serde(registry, args.schema_name)
        records = make_records(args.framed_records, seed=args.seed)
        version = ser._get_schema_version("interop", schema)
        with open(args.write_framed, "w") as f:
            for r in records:
                if args.compression == "zlib":
                    msg = encode(schema.write(r), version.version_id, compression=True)
                else:
                    msg = ser.serialize("interop", DataAndSchema(r, schema))
                f.write(msg.hex() + "\n")
        sidecar_path(args.write_framed).write_text(json.dumps({
            "format": "glue-framed-hex-v1", "writer": IMPL, "library_version": lib_version(),
            "schema_definition": version.definition, "schema_version_id": str(version.version_id),
            "registry_name": registry.registry_name, "schema_name": args.schema_name,
            "compression": args.compression, "records": records}, indent=1))
        print(json.dumps({"impl": IMPL, "op": "write-framed", "path": args.write_framed,
                          "messages": len(records), "schema_version_id": str(version.version_id),
                          "compression": args.compression}))
        return 0
    finally:
        registry.close()


class SidecarClient:
    """Stands in for SchemaRegistryClient with --offline: the writer schema comes from the sidecar."""

    def __init__(self, meta: dict):
        self.meta = meta

    def get_schema_version(self, version_id: UUID):
        from aws_schema_registry import SchemaVersion

        if str(version_id) != self.meta["schema_version_id"]:
            raise LookupError(f"schema version {version_id} is not the sidecar's {self.meta['schema_version_id']}")
        return SchemaVersion(schema_name=self.meta.get("schema_name", ""), version_id=version_id,
                             definition=self.meta["schema_definition"], data_format="AVRO", status="AVAILABLE")


def read_framed(args) -> int:
    from aws_schema_registry import KafkaDeserializer
    from aws_schema_registry.codec import decode

    side = sidecar_path(args.read_framed)
    meta = json.loads(side.read_text()) if side.exists() else None
    lines = [ln.strip() for ln in Path(args.read_framed).read_text().splitlines() if ln.strip()]
    messages = [bytes.fromhex(ln) for ln in lines]
    registry = None
    if args.offline:
        if meta is None:
            raise SystemExit(f"--offline needs the sidecar {side}")
        de = KafkaDeserializer(SidecarClient(meta))
    else:
        registry = Registry(args)
        _, _, de = serde(registry, args.schema_name)
    problems = []
    try:
        decoded, version_ids = [], set()
        for i, m in enumerate(messages):
            try:
                result = de.deserialize("interop", m)
            except Exception as e:  # report every bad message, not just the first
                problems.append(f"message {i}: {type(e).__name__}: {e} (cause: {e.__cause__!r})")
                decoded.append(None)
                continue
            version_ids.add(str(decode(m)[1]))
            decoded.append(to_json_value(result.data))
            if meta and "schema_definition" in meta and not args.offline:
                if json.loads(str(result.schema)) != json.loads(meta["schema_definition"]):
                    problems.append(f"message {i}: registry writer schema differs from the sidecar's")
        if meta and "records" in meta:
            expected = meta["records"]
            if len(expected) != len(decoded):
                problems.append(f"{len(decoded)} messages, sidecar lists {len(expected)} records")
            for i, (got, want) in enumerate(zip(decoded, expected)):
                if got is not None and got != want:
                    problems.append(f"message {i}: decoded {got!r} != expected {want!r}")
        if meta and meta.get("schema_version_id") and version_ids - {meta["schema_version_id"]}:
            problems.append(f"frames name schema versions {sorted(version_ids)}, sidecar {meta['schema_version_id']}")
        if args.out:
            with open(args.out, "w") as f:
                for rec in decoded:
                    f.write(json.dumps(rec) + "\n")
        for p in problems[:20]:
            print(p, file=sys.stderr)
        print(json.dumps({"impl": IMPL, "op": "read-framed", "path": args.read_framed, "messages": len(messages),
                          "decoded": sum(r is not None for r in decoded), "schema_version_ids": sorted(version_ids),
                          "compared_with_sidecar": bool(meta and "records" in meta), "ok": not problems}))
        return 1 if problems else 0
    finally:
        if registry is not None:
            registry.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("-n", "--records", type=int, default=20000, help="records per benchmark run (20000)")
    p.add_argument("--repeat", type=int, default=3, help="timed runs per operation; the best counts (3)")
    p.add_argument("--compression", choices=("none", "zlib", "both"), default=None,
                   help="benchmark: both (default); --write-framed: none (default) or zlib")
    p.add_argument("--stack-env", help="a stack.env of scripts/stack.sh (uses the producer identity)")
    p.add_argument("--use-env", action="store_true",
                   help="take AWS_ENDPOINT_URL, PRODUCER_* keys, REGISTRY_NAME from the environment")
    p.add_argument("--endpoint", help="moto endpoint URL")
    p.add_argument("--access-key")
    p.add_argument("--secret-key")
    p.add_argument("--region")
    p.add_argument("--registry", help="registry name (default: REGISTRY_NAME or sensor-registry)")
    p.add_argument("--schema-name", default="sensor-readings-python-peer",
                   help="schema the library registers (default keeps clear of the producer's SCHEMA_NAME)")
    p.add_argument("--write-framed", metavar="PATH")
    p.add_argument("--framed-records", type=int, default=100)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--read-framed", metavar="PATH")
    p.add_argument("--offline", action="store_true", help="--read-framed without a registry")
    p.add_argument("--out", help="--read-framed: decoded records as JSON lines")
    args = p.parse_args(argv)
    if args.write_framed and args.read_framed:
        p.error("one of --write-framed / --read-framed at a time")
    if args.write_framed:
        args.compression = args.compression or "none"
        if args.compression == "both":
            p.error("--write-framed takes --compression none or zlib")
        return write_framed(args)
    if args.read_framed:
        return read_framed(args)
    args.compression = args.compression or "both"
    return bench(args)


if __name__ == "__main__":
    sys.exit(main())
