"""The schema-evolution demo, end to end on the local stack.

Starts both accounts (moto), the broker (tansu), the two functions under the local Lambda runtime
and the local event source mapping; invokes the producer with events/empty.json,
events/temperature.json and events/empty.json again; prints the registry's versions, the diff
between v1 and v2 and the readings stored in the consumer account. Exits non-zero if anything is
not as expected, and stops everything it started (unless --keep).
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
import time
from decimal import Decimal

from harness import (ROOT, EventSourceMapping, LambdaFunction, build_binaries,
                     consumer_env, producer_env, scan_items, start_stack,
                     wait_for_items, wait_until)

EVENTS = ROOT / "producer-account" / "events"
SCENARIO = ["empty", "temperature", "empty"]


class Failed(Exception):
    pass


def check(cond: bool, what: str) -> None:
    print(f"  [{'ok' if cond else 'FAIL'}] {what}")
    if not cond:
        raise Failed(what)


def title(text: str) -> None:
    print(f"\n== {text} ==")


def versions(stack) -> list[dict]:
    env = stack.env
    glue = stack.client("glue", "producer_admin")
    sid = {"RegistryName": env["REGISTRY_NAME"], "SchemaName": env["SCHEMA_NAME"]}
    latest = glue.get_schema_version(SchemaId=sid, SchemaVersionNumber={"LatestVersion": True})
    out = []
    for n in range(1, latest["VersionNumber"] + 1):
        v = glue.get_schema_version(SchemaId=sid, SchemaVersionNumber={"VersionNumber": n})
        out.append({"number": n, "id": v["SchemaVersionId"],
                    "definition": json.loads(v["SchemaDefinition"])})
    return out


def schema_lines(definition: dict) -> list[str]:
    """One line for the record header and one per field, for a readable diff."""
    head = {k: v for k, v in definition.items() if k != "fields"}
    return [json.dumps(head)] + ["  " + json.dumps(f) for f in definition["fields"]]


def plain(v):
    """A stored value with numbers as int or float."""
    if isinstance(v, Decimal):
        return int(v) if v == v.to_integral_value() else float(v)
    if isinstance(v, dict):
        return {k: plain(x) for k, x in sorted(v.items())}
    if isinstance(v, list):
        return [plain(x) for x in v]
    return v


def readings(stack) -> list[dict]:
    """The readings table as plain values."""
    items = [plain(i) for i in scan_items(stack)]
    return sorted(items, key=lambda i: (i["deviceId"], i["_readingId"]))


def aggregates(stack) -> list[dict]:
    """The aggregates table as plain values, without the bookkeeping (watermarks, version)."""
    items = [{k: v for k, v in plain(a).items() if not k.startswith("_")}
             for a in scan_items(stack, stack.env["AGGREGATES_TABLE"])]
    return sorted(items, key=lambda a: (a["deviceId"], a["windowStart"]))


def synthetic(producer, n: int, batch: int = 500) -> int:
    """Sends n readings; returns how many were acknowledged."""
    base = int(time.time() * 1000)
    sent = 0
    for start in range(0, n, batch):
        events = [{"deviceId": f"sim-{i % 10:03d}", "timestamp": base + i,
                   "temperature": round(15 + (i % 100) / 10, 1), "humidity": (i % 50) / 100}
                  for i in range(start, min(n, start + batch))]
        ok, body = producer.invoke(events)
        check(ok and body.get("statusCode") == 200, f"batch of {len(events)} acknowledged")
        sent += len(events)
    return sent


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keep", action="store_true", help="leave the stack and functions running")
    ap.add_argument("--synthetic", type=int, default=0, metavar="N",
                    help="also send N synthetic readings and wait until they are stored")
    args = ap.parse_args()

    work = ROOT / ".local" / "demo"
    print("building the functions and the local event source mapping ...", flush=True)
    build_binaries()
    print("starting the local stack: producer account 111111111111, consumer account 222222222222, "
          "Kafka broker ...", flush=True)
    stack = start_stack(work / "stack")
    env = stack.env
    started = []
    try:
        producer = LambdaFunction("sensor-producer", "producer", producer_env(env), work / "logs").start()
        started.append(producer)
        consumer = LambdaFunction("sensor-consumer", "consumer", consumer_env(env), work / "logs").start()
        started.append(consumer)
        esm = EventSourceMapping(env, consumer, work / "logs").start()
        started.append(esm)

        title("producer account: invoking the producer Lambda")
        answers = []
        for name in SCENARIO:
            event = json.loads((EVENTS / f"{name}.json").read_text())
            ok, body = producer.invoke(event)
            print(f"  events/{name}.json {json.dumps(event)} -> {json.dumps(body)}")
            check(ok and isinstance(body, dict) and body.get("statusCode") == 200,
                  f"events/{name}.json delivered")
            answers.append(body)

        title("producer account: Glue Schema Registry versions")
        vs = versions(stack)
        for v in vs:
            fields = ", ".join(f"{f['name']}: {json.dumps(f['type'])}" for f in v["definition"]["fields"])
            print(f"  v{v['number']} {v['id']}  fields: {fields}")
        check(len(vs) == 2, "exactly two versions (no v3 for the second empty event)")
        check([f["name"] for f in vs[0]["definition"]["fields"]] == ["deviceId", "timestamp"],
              "v1 has deviceId and timestamp")
        check([f["name"] for f in vs[1]["definition"]["fields"]] == ["deviceId", "timestamp", "temperature"],
              "v2 adds temperature")
        check([a["schemaVersionNumber"] for a in answers] == [1, 2, 2],
              "readings written with v1, v2, v2")

        title("diff v1 -> v2")
        for line in difflib.unified_diff(schema_lines(vs[0]["definition"]),
                                         schema_lines(vs[1]["definition"]), "v1", "v2", lineterm=""):
            print("  " + line)

        title("consumer account: readings in DynamoDB")
        n = wait_for_items(stack, len(SCENARIO), timeout=120)
        items = readings(stack)
        for i in items:
            print("  " + json.dumps(i))
        check(n == len(SCENARIO), f"{len(SCENARIO)} readings stored")
        check(sorted(i["_readingId"] for i in items) == sorted(r["readingId"] for a in answers for r in a["records"]),
              "each reading stored under the readingId the producer answered")
        temps = [i.get("temperature") for i in sorted(items, key=lambda i: i["timestamp"])]
        check(temps == [None, 30, None], "the second reading has temperature 30")

        title("consumer account: the aggregate of their window (deviceId, windowStart)")
        wait_until(lambda: sum(a["count"] for a in aggregates(stack)) >= len(SCENARIO), 60, interval=0.2)
        windows = aggregates(stack)
        for a in windows:
            print("  " + json.dumps(a))
        # Three readings a few seconds apart: one window, or two when a minute began between them.
        check(sum(a["count"] for a in windows) == len(SCENARIO) and 1 <= len(windows) <= 2,
              f"{len(SCENARIO)} readings counted in {len(windows)} window(s)")
        stamps = [i["timestamp"] for i in items]
        check(min(a["firstTimestamp"] for a in windows) == min(stamps)
              and max(a["lastTimestamp"] for a in windows) == max(stamps),
              "first and last timestamps are the readings'")
        temperature = [a["fields"]["temperature"] for a in windows if "temperature" in a["fields"]]
        check(temperature == [{"avg": 30, "count": 1, "max": 30, "min": 30, "sum": 30}],
              "temperature: count 1, min = max = sum = avg = 30")

        if args.synthetic:
            title(f"{args.synthetic} synthetic readings")
            t0 = time.monotonic()
            sent = synthetic(producer, args.synthetic)
            total = wait_for_items(stack, len(SCENARIO) + sent, timeout=600)
            dt = time.monotonic() - t0
            check(total == len(SCENARIO) + sent, f"{sent} synthetic readings stored ({sent / dt:.0f} readings/s end to end)")

        print("\nthe cross-account pipeline works.")
        if args.keep:
            print(f"\nstack kept running; its settings: {stack.dir / 'stack.env'}\n"
                  f"producer invoke API: {producer.endpoint}   consumer invoke API: {consumer.endpoint}\n"
                  f"stop it with: STACK_DIR={stack.dir} scripts/stack.sh down "
                  f"(and kill the functions: pkill -f 'cargo-lambda lambda watch'; pkill -f local-esm)")
        return 0
    except Failed:
        print(f"\ndemo failed; logs in {work / 'logs'} and {stack.dir / 'logs'}", file=sys.stderr)
        return 1
    finally:
        if not args.keep:
            for p in reversed(started):
                p.stop()
            stack.run("down")
            print("stopped everything it started.")


if __name__ == "__main__":
    sys.exit(main())
