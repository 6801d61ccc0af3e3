#!/usr/bin/env python3
"""Reference records for the Avro codec, written by implementations this project did not write.

For `shared/tests/fixtures/avro/{interop,wide}.avsc` it makes a few deterministic records, writes
each one's Avro body with fastavro (`schemaless_writer`) and with Apache's `avro` package
(`DatumWriter`), frames the body with the reference Glue codec (`aws_schema_registry.codec.encode`,
plain and zlib) and writes one JSON line per framed record to `<schema>.frames.jsonl`:

    {"schema", "writer", "compression", "versionId", "frame" (hex), "expected"}

`expected` is the value the record must decode to in the project's JSON mapping (README: "Avro
types in DynamoDB and in JSON"): bytes and fixed as ISO-8859-1 strings, decimals as strings of
their exact digits (JSON numbers would lose them), uuids as strings, dates, times and timestamps
as the number Avro holds, a duration as {"months", "days", "milliseconds"}, unions untagged.

Usage: .venv/bin/python scripts/avro_reference.py [--out DIR]
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import struct
import uuid
import warnings
from decimal import Decimal
from pathlib import Path

import avro.io
import avro.schema
import fastavro
from aws_schema_registry.codec import encode

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "shared" / "tests" / "fixtures" / "avro"
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
VERSION_IDS = {"interop": uuid.UUID("6b0c3a4e-0d5a-4c8e-9a39-1f2e3d4c5b6a"),
               "wide": uuid.UUID("0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0")}


def latin1(b: bytes) -> str:
    return b.decode("latin-1")


def interop_records() -> list[tuple[dict, dict]]:
    """(record for the writers, expected value)."""
    out = []
    for i in range(4):
        node = {"label": f"root{i}", "children": [
            {"label": "a", "children": []},
            {"label": "b", "children": [{"label": "b1", "children": [{"label": "deep", "children": []}]}]},
        ][: i % 3]}
        union = [True, -1.5e300, [b"\x00\x01", b"", "é".encode()], False][i]
        rec = {"intField": [0, -2147483648, 2147483647, 12345][i],
               "longField": [0, -9223372036854775808, 9223372036854775807, 1 << 40][i],
               "stringField": ["", "héllo ✓", "line\nbreak \"q\"", "x" * 300][i],
               "boolField": i % 2 == 0, "floatField": [0.0, 1.5, -3.25, 1e-3][i],
               "doubleField": [0.0, -2.5, 1e300, 0.1][i],
               "bytesField": [b"", b"\x00\xff", bytes(range(256)), b"abc"][i],
               "nullField": None, "arrayField": [[], [1.0], [0.5, -0.25, 3.0], [1e-10]][i],
               "mapField": [{}, {"one": {"label": "1"}}, {"k1": {"label": "x"}, "k2": {"label": "y"}}, {"": {"label": "empty key"}}][i],
               "unionField": union, "enumField": "ABC"[i % 3],
               "fixedField": bytes((i * 16 + j) % 256 for j in range(16)), "recordField": node}
        exp = dict(rec)
        exp["bytesField"] = latin1(rec["bytesField"])
        exp["fixedField"] = latin1(rec["fixedField"])
        exp["unionField"] = [latin1(b) for b in union] if isinstance(union, list) else union
        if i == 3:  # a float that is not exactly representable: what float32 holds
            exp["floatField"] = struct.unpack("<f", struct.pack("<f", 1e-3))[0]
        out.append((rec, exp))
    return out


def wide_records() -> list[tuple[dict, dict, dict]]:
    """(record for fastavro, record for avro, expected value)."""
    out = []
    for i in range(4):
        ts_us = [1_767_225_600_123_456, -1_500, 0, 1_767_225_600_999_999][i]
        ts_ms = [1_767_225_600_123, -86_400_001, 0, 253_402_300_799_999][i]
        day = [20454, -1, 0, 2_932_896][i]
        t_ms = [0, 86_399_999, 43_200_500, 1][i]
        t_us = [0, 86_399_999_999, 43_200_000_500, 1][i]
        ts_ns = [1_767_225_600_123_456_789, -1, 0, 9_223_372_036_854_775_807][i]
        lts_ms, lts_us, lts_ns = ts_ms + 7, ts_us + 7, ts_ns - 7 if i == 3 else ts_ns + 7
        price = [Decimal("12.30"), Decimal("-0.01"), Decimal("0.00"), Decimal("99999999.99")][i]
        price_f = [Decimal("1.2345"), Decimal("-99999999999999.9999"), Decimal("0.0000"), Decimal("3.1000")][i]
        huge = [Decimal("1234567890123456789012345678901234567890"), Decimal("-1"), Decimal("0"),
                Decimal("-9999999999999999999999999999999999999999")][i]
        uid = uuid.UUID(int=(0x1234567890ABCDEF << 64) + i * 977 + 1, version=4)
        uid2 = uuid.UUID(int=(0xFEDCBA0987654321 << 64) + i, version=4)
        span = (i * 3, [0, 31, 365, 1][i], [0, 1000, 86_400_000, 4_294_967_295][i])
        loc = [None, {"lat": 57.70887, "lon": 11.97456, "kind": "HUMIDITY"}, None, {"lat": -90.0, "lon": 180.0, "kind": "UNKNOWN"}][i]
        u3 = [5, None, "three", -2147483648][i]
        u4 = [False, 2.5, [b"\x01", b"zz"], "TEMPERATURE"][i]
        chain = {"value": i, "next": None}
        for v in range(i):
            chain = {"value": 100 + v, "next": chain}
        base = {"deviceId": f"dev-{i}", "b": i % 2 == 1, "i": [-7, 0, 2147483647, -2147483648][i],
                "l": [-(1 << 62), 0, (1 << 53) + 1, 42][i], "f": [0.5, -1.25, 3.0, 0.0][i],
                "d": [1.7976931348623157e308, -0.0, 5e-324, 123.456][i],
                "s": ["", "naïve ✓", "tab\tq\"", "s" * 50][i], "y": [b"", b"\x00", b"\xff\xfe", b"y" * 20][i],
                "n": None, "kind": ["UNKNOWN", "TEMPERATURE", "HUMIDITY", "TEMPERATURE"][i],
                "kind2": "HUMIDITY", "md5": bytes(range(16)), "md5b": bytes(255 - j for j in range(16)),
                "tags": [[], ["a"], ["b", "c", "b"], ["ü"]][i],
                "readings": [{}, {"t": 21.5, "h": None}, {"x": -1.0}, {"n": None}][i],
                "u3": u3, "u4": u4, "optLast": [None, "set", "none", None][i], "location": loc,
                "home": {"lat": 1.5, "lon": -2.5, "kind": "TEMPERATURE"}, "chain": chain,
                "price": price, "priceFixed": price_f, "huge": huge, "id": str(uid),
                "span": struct.pack("<III", *span), "other": f"opaque-{i}",
                "withDefaults": {"dn": None, "db": False, "di": i, "dl": -i, "df": 0.25, "dd": 8.5,
                                 "ds": "s", "dy": b"\x10", "de": "UNKNOWN", "dx": b"fedcba9876543210",
                                 "da": [i], "dm": {"a": "b"}, "du": None if i % 2 else 4, "du2": None if i % 2 else 5,
                                 "dr": {"lat": 0.0, "lon": 0.0, "kind": "UNKNOWN"}, "ddec": Decimal("-1.5"),
                                 "dday": 1}}
        raw_times = {"timestamp": ts_us, "day": day, "tMillis": t_ms, "tMicros": t_us, "tsMillis": ts_ms,
                     "tsNanos": ts_ns, "ltsMillis": lts_ms, "ltsMicros": lts_us, "ltsNanos": lts_ns}
        fa = dict(base, **raw_times, idFixed=uid2.bytes, span=struct.pack("<III", *span))
        fa["id"] = uid
        # Apache's package takes Python's date and time types for the logical types it knows.
        av = dict(base, **raw_times, idFixed=uid2.bytes)
        av["timestamp"] = EPOCH + dt.timedelta(microseconds=ts_us)
        av["tsMillis"] = EPOCH + dt.timedelta(milliseconds=ts_ms)
        av["day"] = dt.date(1970, 1, 1) + dt.timedelta(days=day)
        av["tMillis"] = (dt.datetime.min + dt.timedelta(milliseconds=t_ms)).time()
        av["tMicros"] = (dt.datetime.min + dt.timedelta(microseconds=t_us)).time()
        av["withDefaults"] = dict(base["withDefaults"], dday=dt.date(1970, 1, 2))
        exp = dict(base, **raw_times)
        exp.update({"y": latin1(base["y"]), "md5": latin1(base["md5"]), "md5b": latin1(base["md5b"]),
                    "u4": [latin1(b) for b in u4] if isinstance(u4, list) else u4,
                    "price": str(price), "priceFixed": str(price_f), "huge": str(huge),
                    "idFixed": str(uid2),
                    "span": {"months": span[0], "days": span[1], "milliseconds": span[2]},
                    "f": struct.unpack("<f", struct.pack("<f", base["f"]))[0]})
        exp["withDefaults"] = dict(base["withDefaults"], dy="\x10", dx="fedcba9876543210", ddec="-1.5")
        out.append((fa, av, exp))
    return out


def fastavro_body(schema: dict, rec: dict) -> bytes:
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, fastavro.parse_schema(schema), rec)
    return buf.getvalue()


def avro_body(schema: dict, rec: dict) -> bytes:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parsed = avro.schema.parse(json.dumps(schema))
    buf = io.BytesIO()
    avro.io.DatumWriter(parsed).write(rec, avro.io.BinaryEncoder(buf))
    return buf.getvalue()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=FIXTURES)
    args = ap.parse_args()
    for name in ("interop", "wide"):
        schema = json.loads((FIXTURES / f"{name}.avsc").read_text())
        if name == "interop":
            cases = [(r, r, e) for r, e in interop_records()]
        else:
            cases = wide_records()
        lines = []
        for fa_rec, av_rec, expected in cases:
            bodies = {"fastavro": fastavro_body(schema, fa_rec), "avro": avro_body(schema, av_rec)}
            for writer, body in bodies.items():
                want = dict(expected)
                for k in ("unionField", "u4"):
                    if writer == "avro" and isinstance(expected.get(k), bool):
                        # Apache's package picks the first branch a value validates against, and
                        # a Python bool is also a number: it writes True to the `double` branch.
                        want[k] = float(expected[k])
                for zlib in (False, True):
                    frame = encode(body, VERSION_IDS[name], compression=zlib)
                    lines.append(json.dumps({"schema": name, "writer": writer,
                                             "compression": "zlib" if zlib else "none",
                                             "versionId": str(VERSION_IDS[name]), "frame": frame.hex(),
                                             "expected": want}, ensure_ascii=False, sort_keys=True))
        (args.out / f"{name}.frames.jsonl").write_text("\n".join(lines) + "\n")
        print(f"{name}: {len(lines)} framed records")


if __name__ == "__main__":
    main()
