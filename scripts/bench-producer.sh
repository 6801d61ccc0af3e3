#!/usr/bin/env bash
# Producer throughput against the Python reference serializer (usage below).
set -euo pipefail

usage() {
  cat <<'EOF'
Producer throughput, ours against the reference, in one run on the same events:

  1. N sensor events (as the Lambda receives them) are generated into a JSON-lines file;
  2. the criterion benchmark `cargo bench -p sensor-producer --bench handler` runs
     Producer::handle on them (MemoryRegistry warm, MemorySink: no network), one event per
     invocation and 1,000-event batches, and writes the schema it registered and the framed
     message of every event;
  3. the Python `aws-glue-schema-registry` KafkaSerializer (PyPI), against an in-process moto
     with its schema cache warm, serializes the same events with that schema, after adding
     deviceId and timestamp as the handler does. Its Avro bodies must equal ours byte for byte
     (so both did the same work), then it is timed (best of --repeat);
  4. prints events/s of each and the ratios, and one JSON line with all figures.

Usage: scripts/bench-producer.sh [-n EVENTS] [--repeat R] [-- CRITERION ARGS...]
  -n EVENTS     events (default 2000)
  --repeat R    timed Python runs, the best counts (default 5)
  after --      passed to criterion, e.g. -- --noplot
Needs the project venv (scripts/bootstrap.sh). Builds the benchmark in release mode.
EOF
}

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="$ROOT/.venv/bin/python"
N=2000
REPEAT=5
CRITERION_ARGS=()
while [ $# -gt 0 ]; do
  case "$1" in
    -n) N="$2"; shift 2 ;;
    --repeat) REPEAT="$2"; shift 2 ;;
    --) shift; CRITERION_ARGS=("$@"); break ;;
    -h|--help) usage; exit 0 ;;
    *) echo "bench-producer: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ "$N" =~ ^[1-9][0-9]*$ ]] || { echo "bench-producer: -n must be a positive number" >&2; exit 2; }
[[ "$REPEAT" =~ ^[1-9][0-9]*$ ]] || { echo "bench-producer: --repeat must be a positive number" >&2; exit 2; }
[ -x "$PY" ] || { echo "bench-producer: no $PY; run scripts/bootstrap.sh" >&2; exit 1; }

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
EVENTS="$WORK/events.jsonl"
CRIT="${CARGO_TARGET_DIR:-$ROOT/target}/criterion/producer_handler"

# 1. The events: deterministic, some values null, a nested location, 0-3 tags.
"$PY" - "$N" "$EVENTS" <<'EOF'
import json, random, sys
n, path = int(sys.argv[1]), sys.argv[2]
rnd = random.Random(7)
tags = ["indoor", "outdoor", "roof", "basement", "calibrated", "battery-low"]
def num(p_null, lo, hi, digits):
    return None if rnd.random() < p_null else round(rnd.uniform(lo, hi), digits)
with open(path, "w") as f:
    for _ in range(n):
        f.write(json.dumps({
            "temperature": num(0.1, -20, 40, 2),
            "humidity": num(0.1, 0, 100, 2),
            "pressure": num(0.1, 950, 1050, 1),
            "location": None if rnd.random() < 0.2 else {"lat": num(0, -90, 90, 6), "lon": num(0, -180, 180, 6)},
            "tags": None if rnd.random() < 0.3 else rnd.sample(tags, rnd.randrange(0, 4)),
        }) + "\n")
EOF

# 2. Ours (criterion). Old results are moved away so that only this run's figures are read.
rm -rf "$CRIT/single_event/new" "$CRIT/batch_1000/new"
echo "bench-producer: cargo bench -p sensor-producer --bench handler ($N events)" >&2
( cd "$ROOT" && PRODUCER_BENCH_EVENTS="$EVENTS" PRODUCER_BENCH_SCHEMA_OUT="$WORK/schema.avsc" \
    PRODUCER_BENCH_FRAMES_OUT="$WORK/frames.hex" \
    cargo bench -p sensor-producer --bench handler -- "${CRITERION_ARGS[@]}" ) >&2

# 3 and 4. The reference library on the same events, then the figures.
"$PY" - "$EVENTS" "$WORK/schema.avsc" "$WORK/frames.hex" "$CRIT" "$REPEAT" <<'EOF'
import json, logging, sys, time
from importlib.metadata import version
from pathlib import Path

import boto3
from moto.server import ThreadedMotoServer
from aws_schema_registry import DataAndSchema, KafkaSerializer, SchemaRegistryClient
from aws_schema_registry.avro import AvroSchema

events_path, schema_path, frames_path, crit, repeat = sys.argv[1:6]
DEVICE, CLOCK_MS = "000001", 1_767_225_600_000  # the benchmark's device id and fixed clock
events = [json.loads(line) for line in Path(events_path).read_text().splitlines() if line.strip()]
ours_frames = [bytes.fromhex(line) for line in Path(frames_path).read_text().split()]
if len(ours_frames) != len(events):
    sys.exit(f"bench-producer: {len(ours_frames)} frames from the benchmark for {len(events)} events")

def figure(name: str, events_per_iter: int) -> float:
    d = Path(crit) / name / "new"
    est = json.loads((d / "estimates.json").read_text())
    ns = (est.get("slope") or est["mean"])["point_estimate"]  # what criterion prints as time
    return events_per_iter * 1e9 / ns

ours_single, ours_batch = figure("single_event", 1), figure("batch_1000", 1000)

logging.getLogger("werkzeug").setLevel(logging.ERROR)
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
try:
    host, port = server.get_host_and_port()
    glue = boto3.client("glue", endpoint_url=f"http://{host}:{port}", region_name="eu-west-1",
                        aws_access_key_id="bench", aws_secret_access_key="bench")
    glue.create_registry(RegistryName="bench-registry")
    glue_calls = []
    glue.meta.events.register("before-call.glue.*", lambda model, **_: glue_calls.append(model.name))
    client = SchemaRegistryClient(glue, registry_name="bench-registry", wait_interval_seconds=0.1)
    ser = KafkaSerializer(client, compatibility_mode="BACKWARD",
                          schema_naming_strategy=lambda topic, is_key, schema: "bench-readings")
    schema = AvroSchema(Path(schema_path).read_text())
    topic = "bench"

    def serialize(e):
        return ser.serialize(topic, DataAndSchema({"deviceId": DEVICE, "timestamp": CLOCK_MS, **e}, schema))

    theirs = [serialize(e) for e in events]  # warms the cache: registers the schema once
    warm_calls = len(glue_calls)
    for i, (a, b) in enumerate(zip(ours_frames, theirs)):
        if a[:2] != b[:2] or a[18:] != b[18:]:
            sys.exit(f"bench-producer: event {i}: our frame {a.hex()} != the library's {b.hex()}")
    best = float("inf")
    for _ in range(int(repeat)):
        t0 = time.perf_counter()
        for e in events:
            serialize(e)
        best = min(best, time.perf_counter() - t0)
    python = len(events) / best
    if len(glue_calls) != warm_calls:
        sys.exit(f"bench-producer: Glue called while timing ({glue_calls[warm_calls:]}): cache not warm")
finally:
    server.stop()

print(f"events: {len(events)} (Avro bodies identical to the library's for every event)")
print(f"ours   Producer::handle, 1 event/invocation     {ours_single:>12,.0f} events/s")
print(f"ours   Producer::handle, 1,000 events/invocation {ours_batch:>11,.0f} events/s")
print(f"python aws-glue-schema-registry {version('aws-glue-schema-registry')} KafkaSerializer"
      f" {python:>8,.0f} events/s (best of {repeat})")
print(f"ratio  ours/python: {ours_single / python:.1f}x (single), {ours_batch / python:.1f}x (batch)")
print(json.dumps({"events": len(events), "ours_single_events_per_s": round(ours_single, 1),
                  "ours_batch_events_per_s": round(ours_batch, 1),
                  "python_events_per_s": round(python, 1),
                  "ratio_single": round(ours_single / python, 2), "ratio_batch": round(ours_batch / python, 2)}))
EOF
