#!/usr/bin/env bash
# `decode_to_item` of the sensor record before and after the full-Avro codec, side by side in
# one run: the consumer's criterion bench (consumer-account/benches/hot_path.rs) built from a
# separate checkout of BEFORE (default: main) and from this tree, run alternately ROUNDS times
# (default 3) on the same generated records; then the wide-schema row (this tree only).
#
#   scripts/bench-avro-before-after.sh [BEFORE] [ROUNDS]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BEFORE="${1:-main}"
ROUNDS="${2:-3}"
OLD="${TMPDIR:-/tmp}/sensor-bench-before"
rm -rf "$OLD"
git clone --quiet --no-hardlinks "$ROOT" "$OLD"
git -C "$OLD" checkout --quiet "$(git -C "$ROOT" rev-parse "$BEFORE")"
echo "before: $(git -C "$OLD" log --oneline -1)" >&2
echo "after:  $(git -C "$ROOT" log --oneline -1) + working tree" >&2
OUT="$ROOT/target/bench-avro"
mkdir -p "$OUT"
run() { # name dir filter
  (cd "$2" && CRITERION_HOME="$OUT/criterion-$1" cargo bench --quiet -p sensor-consumer --bench hot_path -- "$3" 2>&1) \
    | grep -E "time:|thrpt:" | sed "s/^/$1 /"
}
for r in $(seq "$ROUNDS"); do
  run before "$OLD" consumer_hot_path/decode_to_item | tee -a "$OUT/results.txt"
  run after "$ROOT" consumer_hot_path/decode_to_item | tee -a "$OUT/results.txt"
done
run after "$ROOT" consumer_wide_schema/decode_to_item | tee -a "$OUT/results.txt"
