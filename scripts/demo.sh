#!/usr/bin/env bash
# The main job: the schema-evolution demo end to end on the local stack (see scripts/demo.py).
#   scripts/demo.sh [--keep] [--synthetic N]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/bootstrap.sh" >&2
exec "$ROOT/.venv/bin/python" "$ROOT/scripts/demo.py" "$@"
