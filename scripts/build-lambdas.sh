#!/usr/bin/env bash
# Build both Lambda deployment packages where the Terraform expects them:
#   target/lambda/producer/bootstrap.zip   (terraform: producer_lambda_zip / lambda_zip)
#   target/lambda/consumer/bootstrap.zip   (terraform: consumer_lambda_zip / lambda_zip)
# x86_64, provided.al2023 (handler "bootstrap"), release profile.
#
# cargo-lambda and zig come from the project venv (.venv): scripts/bootstrap.sh provides them if it
# exists; otherwise this script installs them into .venv itself.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

VENV="$ROOT/.venv"
# Overridable pins of the build tools installed when neither .venv nor scripts/bootstrap.sh has them.
CARGO_LAMBDA_SPEC="${CARGO_LAMBDA_SPEC:-cargo-lambda==1.9.2}"
ZIGLANG_SPEC="${ZIGLANG_SPEC:-ziglang==0.17.1}"

have_tools() {
  [ -x "$VENV/bin/cargo-lambda" ] && "$VENV/bin/python" -c "import ziglang" >/dev/null 2>&1
}

if ! have_tools && [ -f "$ROOT/scripts/bootstrap.sh" ]; then
  bash "$ROOT/scripts/bootstrap.sh"
fi
if ! have_tools; then
  echo "build-lambdas: installing $CARGO_LAMBDA_SPEC and $ZIGLANG_SPEC into .venv" >&2
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$CARGO_LAMBDA_SPEC" "$ZIGLANG_SPEC"
fi

export PATH="$VENV/bin:$PATH"

# The producer talks TLS to MSK through librdkafka, which links the runtime's OpenSSL 3:
# provided.al2023 (Amazon Linux 2023) has openssl-libs, as it has glibc and zlib, and
# scripts/check-bootstrap.py below refuses a bootstrap that needs anything else of it. zig does
# not see the host's OpenSSL headers (Debian keeps opensslconf.h under /usr/include/<triplet>),
# so that producer is built with the host's own toolchain; the check keeps the glibc it asks for
# to the runtime's. PRODUCER_OPENSSL=vendored builds OpenSSL into the bootstrap instead (5.6 MB
# more), with zig, for a runtime without it. The consumer links no Kafka client (Lambda's event
# source mapping reads the topic). The zips go to target/lambda in the checkout, where Terraform
# looks, even when CARGO_TARGET_DIR points elsewhere.
case "${PRODUCER_OPENSSL:-runtime}" in
  runtime) producer_options=(--compiler cargo) ;;
  vendored) producer_options=(--features vendored-tls) ;;
  *)
    echo "build-lambdas: PRODUCER_OPENSSL is runtime (the default) or vendored, not ${PRODUCER_OPENSSL}" >&2
    exit 2
    ;;
esac
cargo lambda build --release --output-format zip --x86-64 -p sensor-producer --bin producer \
  "${producer_options[@]}" --lambda-dir target/lambda
cargo lambda build --release --output-format zip --x86-64 -p sensor-consumer --bin consumer \
  --lambda-dir target/lambda

for zip in target/lambda/producer/bootstrap.zip target/lambda/consumer/bootstrap.zip; do
  if [ ! -s "$zip" ]; then
    echo "build-lambdas: $zip was not produced" >&2
    exit 1
  fi
  echo "built $zip ($(du -h "$zip" | cut -f1))"
done
python3 scripts/check-bootstrap.py target/lambda/producer/bootstrap.zip target/lambda/consumer/bootstrap.zip
