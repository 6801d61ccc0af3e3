#!/usr/bin/env python3
"""Footprint of the release bootstraps, each under a minimal Lambda Runtime API on 127.0.0.1
(scripts/runtime_api.py): init time (spawn → first /next), resident memory after a warm
invocation (VmRSS) and at its peak (VmHWM), first and warm invocation time, binary size (as
built and stripped). Several runs; medians.

    cargo build --release -p sensor-producer -p sensor-consumer --bin producer --bin consumer
    python3 scripts/bench-footprint.py [--runs 7] [--target-dir DIR]
        [--baseline-dir DIR]   the same against bootstraps built elsewhere (another profile or
                               tree), runs interleaved, with the ratios baseline / this
        [--trust-stores]       each bootstrap with TLS_TRUST_STORE=system (the machine's roots)
                               and =aws (the built-in ones), runs interleaved, with the ratios

Init ends when the bootstrap's first /next reaches the Runtime API (its connection's accept); the
floor printed first is the init of a C bootstrap that does nothing but ask for its first event:
the part of every init figure that is spawning a process and this Runtime API.

No network: AWS endpoints point at a closed port and the invocations need no AWS call (the
consumer gets an event without records, the producer a payload it answers with a 400). Not a
test and not part of `make test`; figures go to BENCHMARKS.md.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
from runtime_api import RuntimeApi  # beside this script, so on sys.path

CLOSED = "http://127.0.0.1:9"
AWS = {"AWS_ENDPOINT_URL": CLOSED, "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "AKIDTEST",
       "AWS_SECRET_ACCESS_KEY": "secret", "AWS_EC2_METADATA_DISABLED": "true"}
FUNCTIONS = {
    "consumer": ({**AWS, "SCHEMA_READER_ROLE_ARN": "arn:aws:iam::111111111111:role/reader",
                  "SCHEMA_READER_EXTERNAL_ID": "x", "READINGS_TABLE": "readings", "AGGREGATES_TABLE": "aggregates",
                  "DEAD_LETTER_QUEUE_URL": f"{CLOSED}/222222222222/dlq"},
                 {"eventSource": "SelfManagedKafka", "records": {}}),
    "producer": ({**AWS, "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9", "REGISTRY_NAME": "r",
                  "SCHEMA_NAME": "s", "DEVICE_ID": "d1"},
                 "not an object"),
}


# The least a bootstrap can do: ask for its first event and wait. Its "init" is what spawning a
# process and this Runtime API add to every figure (the floor printed first).
FLOOR_C = r"""
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
int main(void) {
    char host[64], req[256], buf[4096];
    snprintf(host, sizeof host, "%s", getenv("AWS_LAMBDA_RUNTIME_API"));
    char *colon = strchr(host, ':');
    *colon = 0;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(atoi(colon + 1))};
    inet_pton(AF_INET, host, &sa.sin_addr);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(s, (struct sockaddr *)&sa, sizeof sa) != 0) return 1;
    int n = snprintf(req, sizeof req,
                     "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: %s\r\n\r\n", host);
    write(s, req, n);
    read(s, buf, sizeof buf);
    pause();
}
"""


def floor_ms(tmp: Path, runs: int) -> float | None:
    """Median init of FLOOR_C's bootstrap, None without a C compiler."""
    source, binary = tmp / "floor.c", tmp / "floor"
    source.write_text(FLOOR_C)
    if shutil.which("cc") is None or subprocess.run(
            ["cc", "-O2", "-o", str(binary), str(source)], capture_output=True).returncode != 0:
        return None
    times = []
    for _ in range(runs):
        api = RuntimeApi("floor").start()
        proc = api.spawn([str(binary)], {}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            times.append(api.wait_ready() * 1e3)
        finally:
            proc.kill()
            proc.wait()
            api.stop()
    return statistics.median(times)


def status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def one_run(binary: Path, env: dict, payload, warm: int) -> dict:
    api = RuntimeApi(binary.name).start()
    proc = api.spawn([str(binary)], {**env, "AWS_LAMBDA_LOG_LEVEL": "WARN"},
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        init = api.wait_ready()
        ok, _, first = api.invoke(payload)
        assert ok, "the invocation failed"
        warm_times = [api.invoke(payload)[2] for _ in range(warm)]
        time.sleep(0.05)
        return {"init_ms": init * 1e3, "first_ms": first * 1e3,
                "warm_ms": statistics.median(warm_times) * 1e3,
                "rss_mb": status_kb(proc.pid, "VmRSS") / 1024,
                "hwm_mb": status_kb(proc.pid, "VmHWM") / 1024}
    finally:
        proc.kill()
        proc.wait()
        api.stop()


def sizes(binary: Path) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        stripped = Path(tmp) / binary.name
        shutil.copy(binary, stripped)
        subprocess.run(["strip", str(stripped)], check=True)
        return binary.stat().st_size / 1e6, stripped.stat().st_size / 1e6


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--warm", type=int, default=20, help="warm invocations per run")
    ap.add_argument("--target-dir", type=Path,
                    default=Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")))
    ap.add_argument("--profile", default="release")
    ap.add_argument("--baseline-dir", type=Path, help="a target dir whose bootstraps are the baseline")
    ap.add_argument("--baseline-profile", default=None, help="its profile (default: --profile)")
    ap.add_argument("--trust-stores", action="store_true",
                    help="compare TLS_TRUST_STORE=system (baseline) with =aws")
    args = ap.parse_args()

    # (label, bootstrap dir, extra environment); the first is the baseline of the ratios.
    variants = [("this", args.target_dir / args.profile, {})]
    if args.baseline_dir:
        variants.insert(0, ("baseline", args.baseline_dir / (args.baseline_profile or args.profile), {}))
    if args.trust_stores:
        variants = [(f"{label}/{store}" if args.baseline_dir else store, d,
                     {**env, "TLS_TRUST_STORE": store})
                    for label, d, env in variants for store in ("system", "aws")]

    print(f"{'bootstrap':<10} {'variant':<16} {'size MB':>8} {'stripped':>9} {'init ms':>8} "
          f"{'first ms':>9} {'warm ms':>8} {'RSS MB':>7} {'peak MB':>8}   (median of {args.runs} runs)")
    with tempfile.TemporaryDirectory() as tmp:
        floor = floor_ms(Path(tmp), args.runs)
    print(f"{'floor':<10} {'C, /next only':<16} {'':>8} {'':>9} "
          f"{'–' if floor is None else f'{floor:.1f}':>8}   (spawn, exec and this Runtime API)")
    for name, (env, payload) in FUNCTIONS.items():
        binaries = [d / name for _, d, _ in variants]
        for b in binaries:
            if not b.exists():
                print(f"{name}: {b} not built", file=sys.stderr)
                return 2
        runs: list[list[dict]] = [[] for _ in variants]
        for _ in range(args.runs):  # interleaved: load changes hit every variant alike
            for i, (_, _, extra) in enumerate(variants):
                runs[i].append(one_run(binaries[i], {**env, **extra}, payload, args.warm))
        meds = []
        for (label, _, _), binary, rs in zip(variants, binaries, runs):
            med = {k: statistics.median(r[k] for r in rs) for k in rs[0]}
            meds.append(med)
            size, stripped = sizes(binary)
            med["stripped"] = stripped
            spread = f"init {min(r['init_ms'] for r in rs):.1f}–{max(r['init_ms'] for r in rs):.1f}"
            print(f"{name:<10} {label:<16} {size:>8.1f} {stripped:>9.1f} {med['init_ms']:>8.1f} "
                  f"{med['first_ms']:>9.2f} {med['warm_ms']:>8.2f} {med['rss_mb']:>7.1f} "
                  f"{med['hwm_mb']:>8.1f}   ({spread})")
        for (label, _, _), med in list(zip(variants, meds))[1:]:
            base = meds[0]
            print(f"{name:<10} {variants[0][0]} / {label}: init {base['init_ms'] / med['init_ms']:.2f}x, "
                  f"RSS {base['rss_mb'] / med['rss_mb']:.2f}x, stripped size "
                  f"{base['stripped'] / med['stripped']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
