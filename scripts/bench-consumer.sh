#!/usr/bin/env bash
# The consumer's hot path against the reference Python Glue Schema Registry deserializer, in one
# run, on the same bytes:
#
#   1. the Python library (PyPI aws-glue-schema-registry, scripts/bench_python_glue.py) serializes
#      N sensor readings into Glue-framed messages (schema registered in an in-process moto);
#   2. criterion measures our hot path on those very messages (consumer-account/benches/hot_path.rs),
#      registry warm, one thread:
#        decode_to_item  framed bytes -> DynamoDB item (schema version and Kafka coordinates added)
#        handle_discard  Consumer::handle on a KafkaEvent of the N messages (base64 values, three
#                        partitions), each chunk of 25 items made into its BatchWriteItem request
#                        body, as the real store does, then dropped
#   3. the Python KafkaDeserializer decodes the same messages (writer schema cached; best of R);
#
# then prints records/s for each and the ratios. Goal: decode_to_item >= 1,000,000 records/s.
#
#   scripts/bench-consumer.sh [-n RECORDS] [--compression none|zlib] [--repeat R] [--baseline REV]
#
# --baseline REV also builds the hot path at git revision REV (in a temporary worktree, same
# CARGO_TARGET_DIR) and runs the two alternately, twice each, on the same messages: the summary
# then gives this tree's records/s as a ratio of REV's.
#
# Env: CARGO_TARGET_DIR as usual. Exit status 0 whether or not the goal is met (the summary says).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="$ROOT/.venv/bin/python"
N=10000
COMPRESSION=none
REPEAT=5
GOAL=1000000
BASELINE=

while [ $# -gt 0 ]; do
  case "$1" in
    -n|--records) N="$2"; shift 2 ;;
    --compression) COMPRESSION="$2"; shift 2 ;;
    --repeat) REPEAT="$2"; shift 2 ;;
    --baseline) BASELINE="$2"; shift 2 ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    *) echo "bench-consumer.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ "$N" =~ ^[1-9][0-9]*$ ]] || { echo "bench-consumer.sh: -n wants a positive number" >&2; exit 2; }
[[ "$REPEAT" =~ ^[1-9][0-9]*$ ]] || { echo "bench-consumer.sh: --repeat wants a positive number" >&2; exit 2; }
case "$COMPRESSION" in none|zlib) ;; *) echo "bench-consumer.sh: --compression none|zlib" >&2; exit 2 ;; esac

"$ROOT/scripts/bootstrap.sh" >&2
WORK="$(mktemp -d "${TMPDIR:-/tmp}/bench-consumer.XXXXXX")"
cleanup() {
  [ -z "$BASELINE" ] || git -C "$ROOT" worktree remove --force "$WORK/baseline" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
FRAMES="$WORK/frames.hex"
cd "$ROOT"

echo "== 1/3 Python aws-glue-schema-registry writes $N framed messages (compression $COMPRESSION)" >&2
"$PY" scripts/bench_python_glue.py --write-framed "$FRAMES" --framed-records "$N" \
  --compression "$COMPRESSION" >&2

echo "== 2/3 Rust hot path (criterion) on those messages" >&2
# Results land in $WORK/criterion*, read below; criterion's own report goes to the terminal.
bench() {  # bench DIR CRITERION_HOME
  (cd "$1" && CONSUMER_BENCH_FRAMES="$FRAMES" CRITERION_HOME="$2" \
    cargo bench --quiet -p sensor-consumer --bench hot_path >&2)
}
if [ -n "$BASELINE" ]; then
  git -C "$ROOT" worktree add --detach -q "$WORK/baseline" "$BASELINE"
  for round in 1 2; do
    echo "-- round $round: baseline $BASELINE" >&2
    bench "$WORK/baseline" "$WORK/criterion-base-$round"
    echo "-- round $round: this tree" >&2
    bench "$ROOT" "$WORK/criterion-head-$round"
  done
  cp -r "$WORK/criterion-head-2" "$WORK/criterion"
else
  bench "$ROOT" "$WORK/criterion"
fi

echo "== 3/3 Python KafkaDeserializer on the same messages (best of $REPEAT)" >&2
"$PY" - "$FRAMES" "$REPEAT" >"$WORK/python.json" <<'EOF'
import json
import sys
import time

sys.path.insert(0, "scripts")
from aws_schema_registry import KafkaDeserializer  # noqa: E402

from bench_python_glue import IMPL, SidecarClient, lib_version  # noqa: E402

path, repeat = sys.argv[1], int(sys.argv[2])
with open(path + ".schema.json") as f:
    meta = json.load(f)
with open(path) as f:
    messages = [bytes.fromhex(line) for line in f.read().split()]
# The writer schema comes from the sidecar, fetched and parsed once (the library caches it):
# the registry is warm, as for the Rust side.
de = KafkaDeserializer(SidecarClient(meta))
assert de.deserialize("bench", messages[0]).data["deviceId"] == meta["records"][0]["deviceId"]
best = float("inf")
for _ in range(repeat):
    t0 = time.perf_counter()
    for m in messages:
        de.deserialize("bench", m)
    best = min(best, time.perf_counter() - t0)
print(json.dumps({"impl": IMPL, "library_version": lib_version(), "op": "decode",
                  "records": len(messages), "seconds": best, "records_per_s": len(messages) / best}))
EOF

"$PY" - "$WORK" "$N" "$GOAL" "$COMPRESSION" "$BASELINE" <<'EOF'
import json
import os
import sys

work, n, goal, compression, baseline = (*sys.argv[1:2], int(sys.argv[2]), int(sys.argv[3]),
                                        *sys.argv[4:6])
python = json.load(open(os.path.join(work, "python.json")))


def rust(bench: str, home: str = "criterion") -> dict:
    est = json.load(open(os.path.join(work, home, "consumer_hot_path", bench, "new", "estimates.json")))
    mean = est["mean"]["point_estimate"] / 1e9  # seconds per iteration of n records
    lo, hi = (est["mean"]["confidence_interval"][k] / 1e9 for k in ("lower_bound", "upper_bound"))
    return {"impl": "rust-sensor-consumer", "op": bench, "records": n, "seconds": mean,
            "records_per_s": n / mean, "records_per_s_ci95": [round(n / hi), round(n / lo)]}


rows = [rust("decode_to_item"), rust("handle_discard")]
py = python["records_per_s"]
print(f"\nconsumer hot path, {n} records, compression {compression}, registry warm, one thread")
print(f"  {'what':<46} {'records/s':>12}  {'vs Python':>9}")
for r in rows:
    print(f"  {'rust ' + r['op']:<46} {r['records_per_s']:>12,.0f}  {r['records_per_s'] / py:>8.1f}x")
print(f"  {'python ' + python['impl'] + ' ' + python['library_version']:<46} {py:>12,.0f}  {1:>8.1f}x")
best = rows[0]["records_per_s"]
verdict = "met" if best >= goal else "NOT met"
print(f"  goal {goal:,} records/s for decode_to_item: {verdict}")
if baseline:
    print(f"\nthis tree against {baseline}, same messages, alternating runs (records/s, ratio head/base)")
    for bench in ("decode_to_item", "handle_discard"):
        for rnd in (1, 2):
            b, h = rust(bench, f"criterion-base-{rnd}"), rust(bench, f"criterion-head-{rnd}")
            print(f"  {bench:<16} round {rnd}: base {b['records_per_s']:>12,.0f}  head {h['records_per_s']:>12,.0f}"
                  f"  ratio {h['records_per_s'] / b['records_per_s']:.3f}")
for r in rows + [python]:
    print(json.dumps({**r, "compression": compression,
                      **({"vs_python": round(r["records_per_s"] / py, 2)} if r is not python else {})}))
EOF
