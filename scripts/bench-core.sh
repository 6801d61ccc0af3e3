#!/usr/bin/env bash
# Benchmarks the shared core's two hot paths against the Python reference library (usage below).
set -euo pipefail

usage() {
  cat <<'EOF'
Benchmarks the two hot paths of the shared core next to the Python reference library
(PyPI aws-glue-schema-registry), on the same records in the same run, and prints a table.

  scripts/bench-core.sh                 criterion (release build), then the Python library
  scripts/bench-core.sh --rust-only     criterion only (no venv needed, python3 makes the records)
  scripts/bench-core.sh --python-only   the Python library only

Env: BENCH_RECORDS (default 20000) records per run, taken from the Python benchmark's own
generator (scripts/bench_python_glue.py make_records) with its schema, so both sides encode
and decode the very same readings with the same writer schema; BENCH_REPEAT (default 3) timed
runs of the Python library per operation (the best counts).

Output: a Markdown table on stdout (records/s, single thread, and the Rust/Python ratio);
raw results in target/bench-core/ (records.jsonl, schema.json, criterion-{wall,cpu}/ and
their logs, python.jsonl, results.json). Rust runs twice: wall clock (comparable with the
Python figures) and thread CPU time (SENSOR_BENCH_CLOCK=cpu: unaffected by other processes
taking the CPU; judge the throughput goals on a busy machine by this column).

What is timed:
  decode  Rust: wire::decode + CompiledSchema::decode (framed bytes -> serde_json::Value)
          Python: KafkaDeserializer.deserialize (framed bytes -> dict), warm schema cache
  encode  Rust: serde_json::from_str + CompiledSchema::encode + wire::encode_into (JSON text
          -> framed bytes, cached schema); Python: KafkaSerializer.serialize (dict -> framed
          bytes, warm cache; zlib through the library's codec). Rust also parses the JSON text.
EOF
}

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
OUT="$ROOT/target/bench-core"
N="${BENCH_RECORDS:-20000}"
REPEAT="${BENCH_REPEAT:-3}"
PY_SCRIPT="$ROOT/scripts/bench_python_glue.py"
VENV_PY="$ROOT/.venv/bin/python"

run_rust=1
run_python=1
case "${1:-}" in
  --rust-only) run_python=0 ;;
  --python-only) run_rust=0 ;;
  "") ;;
  -h|--help) usage; exit 0 ;;
  *) echo "bench-core.sh: unknown argument: $1" >&2; exit 2 ;;
esac

mkdir -p "$OUT"
rm -f "$OUT/python.jsonl" "$OUT/results.json"

if [ ! -f "$PY_SCRIPT" ]; then
  echo "bench-core.sh: $PY_SCRIPT is missing (it generates the records and runs the Python library)" >&2
  exit 1
fi
if [ "$run_python" -eq 1 ] && { [ ! -x "$VENV_PY" ] || ! "$VENV_PY" -c 'import aws_schema_registry' 2>/dev/null; }; then
  echo "bench-core.sh: preparing the venv (scripts/bootstrap.sh)" >&2
  "$ROOT/scripts/bootstrap.sh"
fi
# Generating the records and printing the table need only the standard library.
PY="$VENV_PY"
[ -x "$PY" ] || PY="$(command -v python3)"

# The records and the writer schema, from the Python benchmark itself.
"$PY" - "$N" "$OUT" <<'EOF'
import json, sys
sys.path.insert(0, "scripts")
from bench_python_glue import SCHEMA, make_records
n, out = int(sys.argv[1]), sys.argv[2]
with open(f"{out}/records.jsonl", "w") as f:
    for r in make_records(n):
        f.write(json.dumps(r, separators=(",", ":")) + "\n")
with open(f"{out}/schema.json", "w") as f:
    f.write(json.dumps(SCHEMA, separators=(",", ":")))
EOF
echo "bench-core.sh: $N records, schema and records in $OUT" >&2

if [ "$run_rust" -eq 1 ]; then
  # Twice: wall-clock time (what the Python library is measured in) and this thread's CPU time
  # (what other work on a shared machine does not inflate).
  for clock in wall cpu; do
    echo "bench-core.sh: cargo bench -p sensor-shared --bench hot_paths, $clock clock (release build; slow the first time)" >&2
    rm -rf "$ROOT/target/criterion/consumer" "$ROOT/target/criterion/producer" "$OUT/criterion-$clock"
    SENSOR_BENCH_CLOCK=$clock SENSOR_BENCH_RECORDS="$OUT/records.jsonl" SENSOR_BENCH_SCHEMA="$OUT/schema.json" \
      cargo bench -p sensor-shared --bench hot_paths 2>&1 | tee "$OUT/criterion-$clock.log" >&2
    mkdir -p "$OUT/criterion-$clock"
    cp -r "$ROOT/target/criterion/consumer" "$ROOT/target/criterion/producer" "$OUT/criterion-$clock/"
  done
fi

if [ "$run_python" -eq 1 ]; then
  echo "bench-core.sh: $PY_SCRIPT -n $N --repeat $REPEAT" >&2
  "$VENV_PY" "$PY_SCRIPT" -n "$N" --repeat "$REPEAT" --compression both | tee "$OUT/python.jsonl" >&2
fi

"$PY" - "$OUT" <<'EOF'
import json, os, sys

out = sys.argv[1]

def criterion(clock):
    """records/s from criterion's median per iteration (ns, wall or CPU)."""
    rates = {}
    for group, op in (("consumer", "decode"), ("producer", "encode")):
        for comp in ("none", "zlib"):
            name = "framed_to_json" if op == "decode" else "json_to_framed"
            d = os.path.join(out, f"criterion-{clock}", group, f"{name}_{comp}", "new")
            try:
                est = json.load(open(os.path.join(d, "estimates.json")))
                meta = json.load(open(os.path.join(d, "benchmark.json")))
            except FileNotFoundError:
                continue
            rates[(op, comp)] = meta["throughput"]["Elements"] / (est["median"]["point_estimate"] * 1e-9)
    return rates

rust, rust_cpu = criterion("wall"), criterion("cpu")
python = {}
try:
    for line in open(os.path.join(out, "python.jsonl")):
        line = line.strip()
        if line.startswith("{"):
            r = json.loads(line)
            if "records_per_s" in r and r.get("op") in ("encode", "decode"):
                python[(r["op"], r.get("compression", "none"))] = float(r["records_per_s"])
                python.setdefault("version", r.get("library_version", "?"))
except FileNotFoundError:
    pass

def fmt(x):
    return "—" if x is None else (f"{x / 1e6:.2f} M/s" if x >= 1e6 else f"{x / 1e3:.0f} k/s")

try:
    load = open("/proc/loadavg").read().split()[0]
except OSError:
    load = "?"
print(f"| path | compression | Rust sensor-shared (wall) | Python aws-glue-schema-registry {python.get('version', '')} (wall) | ratio | Rust (thread CPU time) |")
print("|---|---|---:|---:|---:|---:|")
rows = []
for op, label in (("decode", "consumer: framed bytes → JSON"), ("encode", "producer: JSON → framed bytes")):
    for comp in ("none", "zlib"):
        r, p, c = rust.get((op, comp)), python.get((op, comp)), rust_cpu.get((op, comp))
        ratio = f"{r / p:.1f}×" if r and p else "—"
        print(f"| {label} | {comp} | {fmt(r)} | {fmt(p)} | {ratio} | {fmt(c)} |")
        rows.append({"op": op, "compression": comp, "rust_records_per_s": r,
                     "rust_cpu_records_per_s": c, "python_records_per_s": p})
print(f"\nSingle thread, records/s (median). Load average at the end: {load} on {os.cpu_count()} CPUs.")
json.dump(rows, open(os.path.join(out, "results.json"), "w"), indent=1)
EOF
