"""Layout of the Terraform: where providers live, version pins, how the roots use the modules."""

from __future__ import annotations

import os
import pathlib
import re

import pytest
from tfhelpers import (
    CONSUMER_MODULE,
    INTERNAL_MODULES,
    KMS_KEY_MODULE,
    LAMBDA_FUNCTION_MODULE,
    MODULES,
    NETWORK_MODULE,
    PRODUCER_MODULE,
    REPO,
    ROOTS,
    TF,
    all_dirs,
    all_tf_files,
    block,
    called,
    load_dir,
    parse_file,
    validations_of,
)

TERRAFORM_CONSTRAINT = ">= 1.11, < 2.0"
AWS_CONSTRAINT = "~> 6.0"


def test_composed_root_uses_the_repository_provider_tf():
    link = TF / "provider.tf"
    assert link.is_symlink(), "terraform/provider.tf must link to the repository's provider.tf"
    assert link.resolve() == (REPO / "provider.tf").resolve()


def test_provider_tf_has_a_default_provider_and_one_alias_per_account():
    providers = parse_file(REPO / "provider.tf").get("provider", [])
    aws = [body["aws"] for body in providers if "aws" in body]
    aliases = sorted(p.get("alias", "<default>") for p in aws)
    assert aliases == ["<default>", "consumer", "producer"]
    for side in ("producer", "consumer"):
        (config,) = [p for p in aws if p.get("alias") == side]
        assert config["region"] == "${var.aws_region}", "both accounts share one region"
        assert config["profile"] == f"${{var.{side}_profile}}"
        assumed = config["dynamic"][0]["assume_role"]
        assert f"var.{side}_assume_role_arn" in assumed["for_each"]
        assert f"var.{side}_account_id" in config["allowed_account_ids"]
        assert block(config, "default_tags")["tags"]


@pytest.mark.parametrize("module", sorted({**MODULES, **INTERNAL_MODULES}), ids=str)
def test_modules_have_no_provider_blocks(module):
    config = load_dir({**MODULES, **INTERNAL_MODULES}[module])
    assert config.providers == [], f"{module} module configures a provider"
    for file in config.files:
        assert not re.search(r"^\s*provider\s+\"", file.read_text(), re.M), file


def _pins(config):
    versions = [t["required_version"] for t in config.terraform if "required_version" in t]
    providers = [p for t in config.terraform for p in t.get("required_providers", [])]
    return versions, providers


@pytest.mark.parametrize(
    "path",
    [ROOTS["both"], ROOTS["producer"], ROOTS["consumer"], PRODUCER_MODULE, CONSUMER_MODULE, *INTERNAL_MODULES.values()],
    ids=["root-both", "root-producer", "root-consumer", "module-producer", "module-consumer", *INTERNAL_MODULES],
)
def test_every_root_and_module_pins_terraform_and_the_aws_provider(path):
    versions, providers = _pins(load_dir(path))
    assert versions == [TERRAFORM_CONSTRAINT], f"{path}: required_version {versions}"
    assert len(providers) == 1, f"{path}: required_providers declared {len(providers)} times"
    aws = providers[0]["aws"]
    assert aws["source"] == "hashicorp/aws"
    assert aws["version"] == AWS_CONSTRAINT
    assert "configuration_aliases" not in aws, "no module needs both accounts"


@pytest.mark.parametrize("path", all_dirs()[1:], ids=lambda p: str(p.relative_to(TF)))
def test_every_other_versions_file_links_to_the_one_pin_file(path):
    versions = path / "versions.tf"
    assert versions.is_symlink(), f"{versions} must link to terraform/versions.tf"
    assert versions.resolve() == (TF / "versions.tf").resolve()
    # A link that resolves outside the repository would break a clone elsewhere.
    assert not pathlib.Path(os.readlink(versions)).is_absolute()


def test_the_pins_are_declared_once():
    declaring = [f for f in all_tf_files() if not f.is_symlink() and re.search(r"^terraform\s*\{", f.read_text(), re.M)]
    assert declaring == [TF / "versions.tf"], declaring


def test_the_account_roots_share_one_provider_file_and_name_their_account():
    link = ROOTS["consumer"] / "provider.tf"
    assert link.is_symlink() and not pathlib.Path(os.readlink(link)).is_absolute()
    assert link.resolve() == (ROOTS["producer"] / "provider.tf").resolve()
    shared = parse_file(ROOTS["producer"] / "provider.tf")
    assert sorted(v for body in shared["variable"] for v in body) == sorted(
        ["aws_region", "aws_profile", "assume_role_arn", "account_id", "default_tags"]
    )
    (aws,) = [body["aws"] for body in shared["provider"]]
    assert aws["dynamic"][0]["assume_role"]["content"][0]["session_name"] == "terraform-sensor-stream-${local.account}"
    assert block(aws, "default_tags")["tags"] == '${merge(var.default_tags, {Account = local.account})}'
    for side in ("producer", "consumer"):
        assert load_dir(ROOTS[side]).locals["account"] == side


def test_version_constraints_bound_both_ends():
    # >= 1.11 for write-only arguments, < 2.0 against the next major; ~> 6.0 is >= 6.0, < 7.0.
    lower, upper = (part.strip() for part in TERRAFORM_CONSTRAINT.split(","))
    assert lower.startswith(">=") and tuple(map(int, lower[2:].split("."))) >= (1, 11)
    assert upper.startswith("<")
    assert re.fullmatch(r"~> \d+\.\d+", AWS_CONSTRAINT)


def test_composed_root_gives_each_module_one_account():
    config = load_dir(ROOTS["both"])
    assert set(config.modules) == {"producer", "consumer"}
    for side, module in config.modules.items():
        assert module["providers"] == {"aws": f"${{aws.{side}}}"}
        assert (TF / module["source"]).resolve() == MODULES[side].resolve()
    # The producer's role trusts the consumer module's Lambda role, not a guessed ARN.
    assert config.modules["producer"]["consumer_lambda_role_arn"] == "${module.consumer.lambda_role_arn}"
    assert config.modules["producer"]["create_schema_reader_role"] is True
    assert config.modules["producer"]["settings"].startswith("${merge(var.common, var.producer, ")
    assert config.modules["consumer"]["settings"] == "${merge(var.common, var.consumer)}"
    wired = config.modules["consumer"]["producer"]
    assert wired["schema_reader_role_arn"] == "${module.producer.schema_reader_role_arn}"
    assert wired["brokers"] == "${module.producer.brokers}"
    # The consumer module takes the producer's outputs under their own names.
    assert all(value == f"${{module.producer.{name}}}" for name, value in wired.items()), wired


@pytest.mark.parametrize("side", ["producer", "consumer"])
def test_account_roots_configure_one_provider_and_call_their_module(side):
    config = load_dir(ROOTS[side])
    assert [name for name, _ in config.providers] == ["aws"]
    assert "alias" not in config.providers[0][1]
    assert list(config.modules) == [side]
    module = config.modules[side]
    assert "providers" not in module
    assert (ROOTS[side] / module["source"]).resolve() == MODULES[side].resolve()


def test_split_producer_creates_the_cross_account_role_only_once_the_consumer_role_is_known():
    config = load_dir(ROOTS["producer"])
    module = config.modules["producer"]
    assert module["create_schema_reader_role"] == "${local.consumer_lambda_role_arn != null}"
    assert module["consumer_lambda_role_arn"] == "${local.consumer_lambda_role_arn}"
    # Absent (the first pass) means null.
    assert config.locals["consumer_lambda_role_arn"] == "${try(var.producer.consumer_lambda_role_arn, null)}"
    assert "\nconsumer_lambda_role_arn" not in (ROOTS["producer"] / "terraform.tfvars.example").read_text()


def test_no_nat_internet_gateway_or_public_addresses():
    for file in all_tf_files():
        text = file.read_text()
        for forbidden in ("aws_nat_gateway", "aws_internet_gateway", "aws_eip", "aws_egress_only_internet_gateway"):
            assert forbidden not in text, f"{file}: {forbidden}"
        assert not re.search(r"map_public_ip_on_launch\s*=\s*true", text), file
        assert not re.search(r"associate_public_ip_address\s*=\s*true", text), file


# Account-unique names: with both providers on one account, the producer and consumer modules must
# not produce the same name for the same kind of resource.
UNIQUE_NAMES = {
    "aws_cloudwatch_event_rule": "name",
    "aws_cloudwatch_log_group": "name",
    "aws_dynamodb_table": "name",
    "aws_iam_role": "name",
    "aws_kms_alias": "name",
    "aws_lambda_function": "function_name",
    "aws_lb": "name",
    "aws_lb_target_group": "name",
    "aws_msk_cluster": "cluster_name",
    "aws_msk_configuration": "name",
    "aws_secretsmanager_secret": "name",
    "aws_security_group": "name",
    "aws_sqs_queue": "name",
}


def _names(side):
    """Account-unique names of the module's resources, and of its key and function modules' as its
    calls make them (the network's names are checked apart: they derive from its `name`)."""
    config = load_dir(MODULES[side])
    names = {}
    for (rtype, rname), body in config.resources.items():
        if rtype in UNIQUE_NAMES:
            value = body[UNIQUE_NAMES[rtype]]
            if value == "${local.schema_reader_role_name}":
                value = config.locals["schema_reader_role_name"]
            names[(rtype, rname)] = value
    for call in config.modules:
        if call == "network":
            continue
        for (rtype, rname), body in called(config, call).resources.items():
            if rtype in UNIQUE_NAMES:
                names[(rtype, f"module.{call}.{rname}")] = body[UNIQUE_NAMES[rtype]]
    return config, names


@pytest.mark.parametrize("side", ["producer", "consumer"])
def test_every_account_unique_name_carries_the_side(side):
    config, names = _names(side)
    assert config.locals["name"] == f"${{var.settings.name_prefix}}-{side}"
    assert names, "no named resources found"
    for resource, value in names.items():
        assert "${local.name}" in value, f"{side} {resource} name {value!r} does not include local.name"


@pytest.mark.parametrize("side", ["producer", "consumer"])
def test_the_network_names_carry_the_side(side):
    # Every name in the network module derives from its `name`, which each side sets to its own.
    assert load_dir(MODULES[side]).modules["network"]["name"] == "${local.name}"
    config = load_dir(NETWORK_MODULE)
    named = {key: body[UNIQUE_NAMES[key[0]]] for key, body in config.resources.items() if key[0] in UNIQUE_NAMES}
    assert named
    for resource, value in named.items():
        assert "${var.name}" in value, f"{resource} name {value!r} does not include var.name"


def test_producer_and_consumer_names_never_collide():
    _, producer_names = _names("producer")
    _, consumer_names = _names("consumer")
    expand = {
        "producer": lambda v: v.replace("${local.name}", "P-producer"),
        "consumer": lambda v: v.replace("${local.name}", "P-consumer"),
    }
    seen = {(rtype, expand["producer"](v)) for (rtype, _), v in producer_names.items()}
    clashes = {(rtype, expand["consumer"](v)) for (rtype, _), v in consumer_names.items()} & seen
    assert clashes == set()


def test_name_prefix_leaves_room_in_32_character_load_balancer_names():
    (pattern,) = validations_of(load_dir(PRODUCER_MODULE))["settings.name_prefix"]
    longest = re.search(r"\{0,(\d+)\}", pattern)
    assert longest, pattern
    prefix_max = int(longest.group(1)) + 2
    # "<prefix>-producer-b<NN>" must fit the 32-character limit of NLB and target group names.
    assert prefix_max + len("-producer-b10") <= 32


# --- The internal modules ------------------------------------------------------------------------


@pytest.mark.parametrize("side", sorted(MODULES))
def test_both_account_modules_build_network_keys_and_function_from_the_internal_modules(side):
    config = load_dir(MODULES[side])
    sources = {name: (MODULES[side] / call["source"]).resolve() for name, call in config.modules.items()}
    assert sources["network"] == NETWORK_MODULE.resolve()
    assert sources["data_key"] == KMS_KEY_MODULE.resolve()
    assert sources["lambda"] == LAMBDA_FUNCTION_MODULE.resolve()
    for rtype in ("aws_kms_key", "aws_kms_key_policy", "aws_kms_alias", "aws_lambda_function", "aws_iam_role_policy_attachment"):
        assert not config.of_type(rtype), f"{side}: {rtype} outside the internal modules"
    # Each call sets declared variables only, and every required one (called() refuses others).
    for name in config.modules:
        called(config, name)


def _moved(config) -> dict[str, str]:
    moves = {}
    for file in config.files:
        for block_ in parse_file(file).get("moved", []):
            assert block_["to"] not in moves.values(), f"{file}: {block_['to']} is moved to twice"
            moves[block_["from"]] = block_["to"]
    return moves


@pytest.mark.parametrize("side", sorted(MODULES))
def test_every_resource_of_the_internal_modules_has_its_old_address_moved(side):
    """The network, the keys and the function were the account module's own resources before
    they moved into the internal modules: a moved block per resource keeps an existing deployment
    from destroying and recreating them."""
    config = load_dir(MODULES[side])
    moves = _moved(config)
    expected = {
        f"${{module.{name}.{rtype}.{rname}}}"
        for name in config.modules
        for rtype, rname in called(config, name).resources
    }
    assert set(moves.values()) == expected
    for old, new in moves.items():
        old_type = re.fullmatch(r"\$\{(aws_\w+)\.\w+\}", old)
        assert old_type, f"{old} was no resource of this module"
        assert new.startswith("${module.") and f".{old_type.group(1)}." in new, (old, new)
    # Where the function and keys were before.
    lambda_function = {"producer": "producer", "consumer": "consumer"}[side]
    assert moves[f"${{aws_lambda_function.{lambda_function}}}"] == "${module.lambda.aws_lambda_function.this}"
    assert moves["${aws_iam_role.lambda}"] == "${module.lambda.aws_iam_role.this}"
    data_key = {"producer": "data", "consumer": "this"}[side]
    assert moves[f"${{aws_kms_key.{data_key}}}"] == "${module.data_key.aws_kms_key.this}"
