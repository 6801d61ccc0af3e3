#!/usr/bin/env python3
"""End-to-end benchmark of the whole local pipeline: producer Lambda → Glue registry (moto) →
Kafka (tansu) → local event source mapping → consumer Lambda (assumed role) → DynamoDB.

    .venv/bin/python scripts/bench-pipeline.py N [--batch 500] [--esm-batch-size 500]

Builds the binaries, starts a stack of its own on free ports with the HTTP fault proxy in front
of moto (MOTO_PROXY_PORT), points both functions and the ESM at the proxy so that every AWS call
is counted, and starts the producer and consumer under `cargo lambda watch` and the ESM. One
warm-up reading starts every process and registers the first schema version; then N readings
(two shapes, so a second version is registered mid-run) go through the producer in batches. It
waits until the ESM has committed past every acknowledged record (it commits only after the
consumer stored the batch), checks that N+1 items are stored, prints the rates and the AWS calls
(totals and per 1,000 readings), and stops everything it started.

Expected: Glue and STS calls are a constant (cold starts, one lookup per schema version), not a
function of N; DynamoDB requests are about N/25 (BatchWriteItem takes 25 items).
Debug builds under `cargo lambda watch` on a laptop-class machine: compare runs with each other,
not with Lambda.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from harness import (EventSourceMapping, FaultProxy, LambdaFunction, build_binaries,
                     consumer_env, count_items, free_ports, producer_env, start_stack,
                     stop_function_tree, wait_committed)

BASE_TS = 1_800_000_000_000
GROUP = "bench-pipeline"


def reading(i: int, wider: bool) -> dict:
    e = {"deviceId": f"bench-{i % 101:03d}", "timestamp": BASE_TS + i,
         "temperature": round(18.5 + (i % 97) / 10, 2)}
    if wider:
        e["humidity"] = round(0.35 + (i % 40) / 100, 2)
    return e


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("n", type=int, help="readings to send (after one warm-up reading)")
    p.add_argument("--batch", type=int, default=500, help="readings per producer invocation (500)")
    p.add_argument("--esm-batch-size", type=int, default=500, help="records per consumer invocation (500)")
    p.add_argument("--esm-window-ms", type=int, default=300, help="ESM batching window (300)")
    p.add_argument("--timeout", type=float, default=900, help="seconds to wait for the readings (900)")
    p.add_argument("--no-build", action="store_true", help="use the binaries as built")
    p.add_argument("--keep", metavar="DIR", help="keep the stack directory and logs in DIR")
    args = p.parse_args(argv)
    if args.n < 1 or args.batch < 1:
        p.error("N and --batch must be positive")

    if not args.no_build:
        print("building the functions and the ESM ...", file=sys.stderr, flush=True)
        build_binaries()
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    work.mkdir(parents=True, exist_ok=True)
    logs = work / "logs"
    stack = None
    started: list = []
    try:
        print(f"starting the stack in {work} ...", file=sys.stderr, flush=True)
        stack = start_stack(work / "stack", MOTO_PROXY_PORT=free_ports(1)[0])
        env = stack.env
        proxy = FaultProxy(env)
        proxy.reset()
        via = env["AWS_PROXY_ENDPOINT_URL"]
        producer = LambdaFunction("sensor-producer", "producer", producer_env(env, aws_endpoint=via), logs)
        started.append(producer.start())
        consumer = LambdaFunction("sensor-consumer", "consumer", consumer_env(env, aws_endpoint=via), logs)
        started.append(consumer.start())
        esm = EventSourceMapping(env, consumer, logs, batch_size=args.esm_batch_size,
                                 window_ms=args.esm_window_ms, group_id=GROUP, aws_endpoint=via)
        started.append(esm.start())

        def send(events: list[dict]) -> list[tuple[int, int]]:
            ok, body = producer.invoke(events)
            if not ok or body.get("statusCode") != 200:
                raise SystemExit(f"producer invocation failed: {body}")
            return [(d["partition"], d["offset"]) for d in body["records"]]

        t0 = time.monotonic()
        warm = send([reading(-1, wider=False)])
        if not wait_committed(env, GROUP, warm, 180):
            raise SystemExit("the warm-up reading was not stored within 180 s")
        t_warm = time.monotonic() - t0
        print(f"warm: every process started and one reading stored in {t_warm:.1f} s; "
              f"sending {args.n} readings ...", file=sys.stderr, flush=True)

        coords: list[tuple[int, int]] = []
        t1 = time.monotonic()
        for start in range(0, args.n, args.batch):
            idx = range(start, min(start + args.batch, args.n))
            coords += send([reading(i, wider=i >= args.n // 2) for i in idx])
        t_sent = time.monotonic() - t1
        if not wait_committed(env, GROUP, coords, args.timeout, interval=0.1):
            raise SystemExit(f"not every reading was stored within {args.timeout} s")
        t_done = time.monotonic() - t1
        stored = count_items(stack)
        if stored != args.n + 1:
            raise SystemExit(f"{stored} items stored, expected {args.n + 1}")

        calls = Counter()
        for label, count in proxy.state()["passed"].items():
            calls[label] += count
        by_service = Counter()
        for label, count in calls.items():
            by_service[label.split(":", 1)[0]] += count
        per_k = {s: round(by_service[s] * 1000 / args.n, 2) for s in ("glue", "sts", "dynamodb")}
        ddb_expected = math.ceil(args.n / 25)

        print(f"\nreadings            {args.n} (+1 warm-up), producer batches of {args.batch}, "
              f"ESM batches of up to {args.esm_batch_size}")
        print(f"end to end          {args.n / t_done:10.1f} readings/s  ({t_done:.2f} s from the first "
              "invocation to the last commit)")
        print(f"producer            {args.n / t_sent:10.1f} readings/s  ({t_sent:.2f} s of invocations)")
        print(f"warm-up             {t_warm:10.2f} s (cold starts, first version, consumer group join)")
        print(f"\n{'AWS calls':<20}{'total':>8}{'per 1,000 readings':>22}")
        for s in ("glue", "sts", "dynamodb", "sqs", "secretsmanager"):
            print(f"{s:<20}{by_service[s]:>8}{by_service[s] * 1000 / args.n:>22.2f}")
        print(f"(DynamoDB at 25 items per request: {ddb_expected} requests)")
        print("\nby operation: " + ", ".join(f"{k} {v}" for k, v in sorted(calls.items())))
        print(json.dumps({"readings": args.n, "batch": args.batch, "esm_batch_size": args.esm_batch_size,
                          "end_to_end_readings_per_s": round(args.n / t_done, 1),
                          "producer_readings_per_s": round(args.n / t_sent, 1),
                          "end_to_end_seconds": round(t_done, 3), "warm_up_seconds": round(t_warm, 3),
                          "calls": dict(by_service), "calls_per_1000_readings": per_k,
                          "dynamodb_requests_at_25_per_request": ddb_expected,
                          "calls_by_operation": dict(sorted(calls.items()))}))
        return 0
    finally:
        for proc in reversed(started):
            if isinstance(proc, LambdaFunction):
                stop_function_tree(proc)
            else:
                proc.stop()
        if stack is not None:
            stack.run("down", check=False, timeout=120)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
