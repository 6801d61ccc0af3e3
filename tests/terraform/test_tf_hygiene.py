"""Formatting, justified checkov skips, the Lambda env contract and the build script."""

from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import subprocess

import pytest
from tfhelpers import REPO, ROOTS, TF, all_tf_files, block, consumer, function_of, producer, run_terraform

SKIP = re.compile(r"#\s*checkov:skip=([A-Z0-9_]+)(?::(.*))?$")


def test_terraform_fmt_is_clean():
    result = run_terraform(["fmt", "-check", "-recursive", "-list=true", "-no-color"], cwd=REPO)
    assert result.returncode == 0, f"not formatted:\n{result.stdout}{result.stderr}"


@pytest.mark.parametrize("root", sorted(ROOTS), ids=str)
def test_tfvars_examples_are_formatted(root):
    example = (ROOTS[root] / "terraform.tfvars.example").read_text()
    result = run_terraform(["fmt", "-no-color", "-"], cwd=REPO, input=example)
    assert result.returncode == 0, result.stderr
    assert result.stdout == example


def _skips():
    found = []
    for file in all_tf_files():
        for number, line in enumerate(file.read_text().splitlines(), 1):
            match = SKIP.search(line)
            if match:
                found.append((file, number, line, match.group(1), (match.group(2) or "").strip()))
    return found


def test_checkov_skips_exist():
    assert len(_skips()) >= 10


@pytest.mark.parametrize("skip", _skips(), ids=lambda s: f"{s[0].relative_to(REPO)}:{s[1]}:{s[3]}")
def test_every_checkov_skip_is_justified_inside_its_block(skip):
    file, number, line, check, reason = skip
    assert re.fullmatch(r"CKV2?_AWS_\d+", check), line
    assert len(reason) >= 40, f"{file}:{number}: skip {check} needs a real justification"
    assert line.startswith("  #checkov:skip="), f"{file}:{number}: put the skip first inside the resource block"
    # The skip sits in the block whose header is the nearest preceding top-level line.
    lines = file.read_text().splitlines()
    header = next(lines[i] for i in range(number - 2, -1, -1) if lines[i] and not lines[i].startswith((" ", "}")))
    assert re.match(r'(resource|data) "', header), f"{file}:{number}: skip outside a resource: {header!r}"


def test_every_checkov_skip_is_listed_in_the_readme():
    readme = (TF / "README.md").read_text()
    for _, _, _, check, _ in _skips():
        assert check in readme, f"{check} is skipped but not explained in terraform/README.md"


CHECKOV = REPO / ".venv-checkov" / "bin" / "checkov"


def _resource_of_skip(file, number) -> str:
    """module-relative address "type.name" of the block a skip comment sits in."""
    lines = file.read_text().splitlines()
    header = next(lines[i] for i in range(number - 2, -1, -1) if lines[i] and not lines[i].startswith((" ", "}")))
    kind, rtype, name = re.match(r'(resource|data) "([\w-]+)" "([\w-]+)"', header).groups()
    return f"{rtype}.{name}"


def test_every_checkov_skip_suppresses_a_failing_check(tmp_path):
    """checkov over a copy without the skip comments fails exactly the skipped checks."""
    if not CHECKOV.is_file():
        pytest.skip("checkov is not installed in .venv-checkov (scripts/check-terraform.sh installs it)")
    copy = tmp_path / "repo"
    shutil.copytree(TF, copy / "terraform", symlinks=True, ignore=shutil.ignore_patterns(".terraform"))
    shutil.copy(REPO / "provider.tf", copy / "provider.tf")
    for file in (copy / "terraform").rglob("*.tf"):
        if file.is_file() and not file.is_symlink():
            file.write_text("".join(l for l in file.read_text().splitlines(True) if "#checkov:skip=" not in l))
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE"}
    result = subprocess.run(
        [str(CHECKOV), "--framework", "terraform", "--skip-download", "--quiet", "-d", "terraform", "-o", "json"],
        cwd=copy, env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    reports = json.loads(result.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    failing = set()
    for report in reports:
        for check in report["results"]["failed_checks"]:
            module_file = pathlib.Path(check["file_path"].lstrip("/"))
            # module.<root call>[.module.<internal call>].type.name -> type.name
            address = re.sub(r"^(module\.[\w-]+\.)+", "", check["resource"])
            failing.add((str(module_file), check["check_id"], address))
    skipped = set()
    for file, number, _, check, _ in _skips():
        skipped.add((str(file.relative_to(TF)), check, _resource_of_skip(file, number)))
    assert skipped - failing == set(), "skips that suppress nothing (remove them and their README rows)"
    assert failing - skipped == set(), "checks that fail without a skip"


# --- Lambda environment contract (scripts/CONTRACT.md) ------------------------------------------------

PRODUCER_ENV = {
    "KAFKA_BOOTSTRAP_SERVERS",
    "KAFKA_TOPIC",
    "KAFKA_SECURITY_PROTOCOL",
    "REGISTRY_NAME",
    "SCHEMA_NAME",
    "DEVICE_ID",
    "SCHEMA_COMPATIBILITY",
    "ZLIB_COMPRESSION",
    "EVENT_ENVELOPE",
}
CONSUMER_ENV = {
    "SCHEMA_READER_ROLE_ARN",
    "SCHEMA_READER_EXTERNAL_ID",
    "PRODUCER_REGION",
    "READINGS_TABLE",
    "AGGREGATES_TABLE",
    "AGGREGATE_WINDOW_SECONDS",
    "DEAD_LETTER_QUEUE_URL",
    "SCHEMA_CACHE_CAPACITY",
}
BROKER_MAP_KEYS = {"bootstrap_servers", "security_protocol", "sasl_mechanism", "topic", "brokers"}
BROKER_KEYS = {"broker_id", "endpoint_url", "broker_port", "service_name"}


def test_contract_names_are_the_ones_in_contract_md():
    contract = REPO / "scripts" / "CONTRACT.md"
    if not contract.is_file():
        pytest.skip("scripts/CONTRACT.md has moved; the names above are still checked against the Terraform")
    text = contract.read_text()
    for name in PRODUCER_ENV | CONSUMER_ENV:
        assert re.search(rf"\b{name}\b", text), name
    for key in BROKER_MAP_KEYS | BROKER_KEYS:
        assert f'"{key}"' in text, key


def test_producer_environment_follows_the_contract():
    env = block(function_of(producer())[1], "environment")["variables"]
    assert set(env) == PRODUCER_ENV
    assert env["ZLIB_COMPRESSION"] == "${tostring(var.settings.zlib_compression)}"
    assert env["EVENT_ENVELOPE"] == "${tostring(var.settings.event_envelope)}"
    assert "AWS_ENDPOINT_URL" not in env, "local runs only"


def test_consumer_environment_follows_the_contract():
    env = block(function_of(consumer())[1], "environment")["variables"]
    assert set(env) == CONSUMER_ENV
    assert env["SCHEMA_READER_ROLE_ARN"] == "${var.producer.schema_reader_role_arn}"
    assert env["SCHEMA_READER_EXTERNAL_ID"] == "${var.producer.schema_reader_external_id}"
    assert env["DEAD_LETTER_QUEUE_URL"] == "${aws_sqs_queue.dead_letter.url}"
    assert env["READINGS_TABLE"] == "${aws_dynamodb_table.readings.name}"
    assert env["AGGREGATES_TABLE"] == "${aws_dynamodb_table.aggregates.name}"
    assert env["AGGREGATE_WINDOW_SECONDS"] == "${tostring(var.settings.aggregate_window_seconds)}"


# --- Scripts ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("script", ["build-lambdas.sh", "check-terraform.sh"])
def test_scripts_are_valid_bash(script):
    path = REPO / "scripts" / script
    assert path.is_file()
    result = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def test_build_script_builds_the_zips_where_terraform_expects_them():
    script = (REPO / "scripts" / "build-lambdas.sh").read_text()
    # Only the producer links librdkafka; its OpenSSL is the runtime's unless PRODUCER_OPENSSL=vendored.
    features = {"producer": '"${producer_options[@]}" ', "consumer": ""}
    for binary, extra in features.items():
        assert re.search(
            rf"cargo lambda build --release --output-format zip --x86-64 -p sensor-{binary} "
            rf"--bin {binary} \\\n  {re.escape(extra)}--lambda-dir target/lambda\n", script
        ), binary
        assert f"target/lambda/{binary}/bootstrap.zip" in script
    assert "runtime) producer_options=(--compiler cargo) ;;" in script
    assert "vendored) producer_options=(--features vendored-tls) ;;" in script
    # Every zip is checked against what provided.al2023 has before the script succeeds.
    assert script.rstrip().endswith(
        "python3 scripts/check-bootstrap.py target/lambda/producer/bootstrap.zip "
        "target/lambda/consumer/bootstrap.zip")
