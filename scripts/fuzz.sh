#!/usr/bin/env bash
# Coverage-guided fuzzing of what parses hostile bytes (not part of `make test`, which replays
# the saved corpus and crashes through shared/tests/fuzz_corpus.rs):
#   wire_decode   Glue framing: wire::peek + wire::decode (zlib bodies, zip-bomb cap)
#   schema_parse  schema definitions: parse → canonical text → parse again
#   codec_decode  generated schemas (every Avro type, recursion) + bodies → values and JSON text
#   item_writer   generated schemas + bodies → the consumer's DynamoDB items
#
# Usage: scripts/fuzz.sh [RUNS] [TARGET...]   RUNS defaults to 10000000 executions per target.
# FUZZ_ASAN=1 builds with AddressSanitizer (RUSTC_BOOTSTRAP=1 lets stable rustc take the flags);
# by default the build is `--sanitizer none`. Installs cargo-fuzz (crates.io) when missing. New
# corpus entries land in fuzz/corpus/<target>/, crashes in fuzz/artifacts/<target>/; commit both.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
RUNS="${1:-10000000}"
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(wire_decode schema_parse codec_decode item_writer)
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$HOME/.cache/sensor-stream/fuzz-target}"
mkdir -p "$CARGO_TARGET_DIR"

command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked

SAN=(--sanitizer none)
if [ "${FUZZ_ASAN:-0}" = 1 ]; then
  export RUSTC_BOOTSTRAP=1
  SAN=(--sanitizer address)
fi

# Seeds when a corpus is empty: the reference frames and schemas of the tests.
.venv/bin/python - <<'PY'
import json, random
from pathlib import Path
root = Path("fuzz/corpus")
fx = Path("shared/tests/fixtures")
def seed(target, items):
    d = root / target
    d.mkdir(parents=True, exist_ok=True)
    if any(d.iterdir()):
        return
    for i, b in enumerate(items):
        (d / f"seed-{i:03}").write_bytes(b)
frames = [bytes.fromhex(json.loads(l)["frame"]) for f in ("interop", "wide")
          for l in (fx / "avro" / f"{f}.frames.jsonl").read_text().split("\n") if l]
seed("wire_decode", frames + [b"", b"\x03", b"\x03\x05" + bytes(16) + b"x\x9c\x03\x00"])
schemas = [(fx / "avro" / n).read_bytes() for n in ("interop.avsc", "wide.avsc")]
schemas += [l.encode() for l in (fx / "inferred-definitions.txt").read_text().splitlines()
            if l.startswith("{")][:40]
seed("schema_parse", schemas)
rng = random.Random(11)
gen = [bytes(rng.randrange(256) for _ in range(rng.randrange(4, 120))) for _ in range(64)]
seed("codec_decode", gen)
seed("item_writer", gen)
PY

for t in "${TARGETS[@]}"; do
  mkdir -p "fuzz/artifacts/$t"
  echo "==> $t: $RUNS executions" >&2
  log="$CARGO_TARGET_DIR/fuzz-$t.log"
  # -max_len bounds a body; -timeout flags a slow input as a crash too.
  cargo fuzz run "${SAN[@]}" --fuzz-dir fuzz "$t" "fuzz/corpus/$t" -- \
    -runs="$RUNS" -max_len=4096 -timeout=10 -artifact_prefix="fuzz/artifacts/$t/" 2>&1 | tee "$log" | grep -aE "^#[0-9]+[[:space:]]+(DONE|NEW)" | tail -n 3
  grep -aE "^#[0-9]+[[:space:]]+DONE" "$log" | tail -n 1 || { echo "$t did not finish; see $log" >&2; exit 1; }
  echo "$t: corpus $(ls "fuzz/corpus/$t" | wc -l) files, $(du -sk "fuzz/corpus/$t" | cut -f1) KiB; artifacts $(ls "fuzz/artifacts/$t" | wc -l)"
done
