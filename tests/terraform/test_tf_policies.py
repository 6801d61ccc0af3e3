"""Invariants over every policy and every module: no "*" principals, no wildcard actions beyond the
KMS key-policy delegation, "*" resources only where the service offers nothing narrower, policies as
readable documents, encryption and log retention everywhere."""

from __future__ import annotations

import re

import pytest
from tfhelpers import (
    INTERNAL_MODULES,
    KMS_KEY_MODULE,
    MODULES,
    NETWORK_MODULE,
    all_tf_files,
    blocks,
    called,
    calls_of,
    function_of,
    load_dir,
    statements,
)

# Actions AWS authorises against "*" only, with why.
STAR_RESOURCE_ACTIONS = {
    "glue:GetSchemaVersion",  # lookups by SchemaVersionId
    "ec2:DescribeVpcs",  # EC2 Describe* has no resource-level permissions
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeSubnets",
    "ec2:DescribeNetworkInterfaces",
    # Lambda's ENIs of a function in a VPC do not exist before Lambda creates them.
    "ec2:CreateNetworkInterface",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
    "xray:PutTraceSegments",  # no resource-level permissions
    "xray:PutTelemetryRecords",
}


def _configs():
    """Every module as written, and every internal module as each account module's call makes it
    (its variables replaced by what the call passes, its dynamic statements expanded)."""
    for side, path in {**MODULES, **INTERNAL_MODULES}.items():
        yield side, load_dir(path)
    for side, path in MODULES.items():
        config = load_dir(path)
        for name in config.modules:
            yield f"{side}.{name}", called(config, name)


CONFIGS = dict(_configs())


def _documents():
    for side, config in CONFIGS.items():
        key_policies = {body["policy"] for body in config.of_type("aws_kms_key_policy").values()}
        for name, document in config.policy_documents().items():
            yield side, name, document, f"${{data.aws_iam_policy_document.{name}.json}}" in key_policies


DOCUMENTS = list(_documents())
IDS = [f"{side}:{name}" for side, name, _, _ in DOCUMENTS]


def test_policy_documents_were_found():
    names = {f"{side}:{name}" for side, name, _, _ in DOCUMENTS}
    assert {"producer:schema_reader_trust", "producer:schema_reader", "producer:broker_map_secret",
            "consumer:consumer_lambda", "producer.broker_map_key:this", "consumer.data_key:this",
            "producer.lambda:this", "consumer.lambda:trust",
            "network:flow_logs_trust", "network:flow_logs"} <= names
    # The key policies as the calls make them hold the callers' grants.
    (grants,) = [d for side, name, d, _ in DOCUMENTS if side == "producer.broker_map_key"]
    assert len(statements(grants)) == 2


def _is_key_policy_delegation(statement) -> bool:
    principals = blocks(statement, "principals")
    return (
        statement.get("sid") == "EnableIamPolicies"
        and statement["actions"] == ["kms:*"]
        and principals == [{"type": "AWS", "identifiers": ["arn:${local.partition}:iam::${local.account_id}:root"]}]
        and len(statement["resources"]) == 1
        and statement["resources"][0].startswith("${aws_kms_key.")
    )


@pytest.mark.parametrize(("side", "name", "document", "key_policy"), DOCUMENTS, ids=IDS)
def test_no_star_principals(side, name, document, key_policy):
    for statement in statements(document):
        for principal in blocks(statement, "principals"):
            assert "*" not in principal["identifiers"], f"{side}:{name}"
            for identifier in principal["identifiers"]:
                assert not identifier.endswith(":*"), identifier
        assert "not_principals" not in statement


@pytest.mark.parametrize(("side", "name", "document", "key_policy"), DOCUMENTS, ids=IDS)
def test_no_wildcard_actions_except_the_key_policy_delegation_to_iam(side, name, document, key_policy):
    for statement in statements(document):
        assert "not_actions" not in statement
        wildcards = [a for a in statement["actions"] if "*" in a]
        if wildcards:
            assert _is_key_policy_delegation(statement), f"{side}:{name}: {wildcards}"
            assert key_policy, "kms:* only in key policies"


@pytest.mark.parametrize(("side", "name", "document", "key_policy"), DOCUMENTS, ids=IDS)
def test_star_resources_only_where_aws_allows_nothing_narrower(side, name, document, key_policy):
    for statement in statements(document):
        if statement.get("effect", "Allow") != "Allow":
            continue
        resources = statement.get("resources", [])
        if "*" in resources:
            assert resources == ["*"]
            assert set(statement["actions"]) <= STAR_RESOURCE_ACTIONS, f"{side}:{name}: {statement['actions']}"


@pytest.mark.parametrize(("side", "name", "document", "key_policy"), DOCUMENTS, ids=IDS)
def test_statements_allow_only(side, name, document, key_policy):
    for statement in statements(document):
        assert statement["effect"] == "Allow", "explicit effect on every statement"
        assert statement.get("sid"), "every statement has a sid"


def test_no_inline_json_policies_or_star_principals_anywhere():
    for file in all_tf_files():
        text = file.read_text()
        assert not re.search(r"\bStatement\s*=", text), f"{file}: policy written inline, use aws_iam_policy_document"
        assert not re.search(r"\"Statement\"", text), file
        assert not re.search(r"identifiers\s*=\s*\[\s*\"\*\"", text), file
        assert not re.search(r"Principal\s*=\s*\"\*\"", text), file
        assert not re.search(r"AWS\s*=\s*\"\*\"", text), file


def _attached(config) -> list[str]:
    attached = []
    for rtype, attribute in (
        ("aws_iam_role", "assume_role_policy"),
        ("aws_iam_role_policy", "policy"),
        ("aws_kms_key_policy", "policy"),
        ("aws_secretsmanager_secret_policy", "policy"),
    ):
        for name, body in config.of_type(rtype).items():
            attached.append(body[attribute])
            assert re.fullmatch(r"\$\{data\.aws_iam_policy_document\.\w+(\[0\])?\.json\}", body[attribute]), (rtype, name)
    return attached


@pytest.mark.parametrize("side", sorted(CONFIGS))
def test_policies_are_attached_from_documents(side):
    config = CONFIGS[side]
    attached = _attached(config)
    if side in MODULES:  # an account module attaches its key and role policies through its calls
        attached += [p for name in config.modules for p in _attached(CONFIGS[f"{side}.{name}"])]
    assert attached
    # No AWS managed policy: AWSLambdaVPCAccessExecutionRole's logs:* on "*" would void the scoped
    # log statements, so every grant is an inline document.
    assert not config.of_type("aws_iam_role_policy_attachment")
    assert not config.of_type("aws_iam_policy"), "no customer-managed policies to drift"
    assert not config.of_type("aws_iam_user"), "no long-term credentials"


def _key_of(side: str, arn: str) -> str:
    """The kms-key call of the account module whose arn output `arn` is."""
    key = re.fullmatch(r"\$\{module\.(\w+)\.arn\}", arn)
    assert key, f"{side}: {arn!r} is not a key module's ARN"
    assert key.group(1) in calls_of(load_dir(MODULES[side]), KMS_KEY_MODULE), f"{side}: {key.group(1)} is no kms-key call"
    return key.group(1)


def test_a_key_arn_is_known_only_once_its_policy_admits_its_users():
    # Users of a key (CloudWatch Logs above all) wait for its key policy through the ARN they take.
    arn = load_dir(KMS_KEY_MODULE).outputs["arn"]
    assert arn["value"] == "${aws_kms_key.this.arn}"
    assert arn["depends_on"] == ["${aws_kms_key_policy.this}"]


@pytest.mark.parametrize("side", sorted(MODULES))
def test_every_log_group_has_retention_and_a_cmk(side):
    config = load_dir(MODULES[side])
    groups = config.of_type("aws_cloudwatch_log_group")
    # The flow-log group is the network module's, with what the account module passes it.
    network = config.modules["network"]
    (flow_logs,) = load_dir(NETWORK_MODULE).of_type("aws_cloudwatch_log_group").values()
    assert flow_logs["retention_in_days"] == "${var.log_retention_days}"
    assert flow_logs["kms_key_id"] == "${var.kms_key_arn}"
    groups = {**groups, "module.network.flow_logs": {
        "retention_in_days": network["log_retention_days"],
        "kms_key_id": network["kms_key_arn"],
    }}
    # The function's group is the lambda-function module's, as the call makes it.
    view, _ = function_of(config)
    groups.update({f"module.lambda.{name}": group for name, group in view.of_type("aws_cloudwatch_log_group").items()})
    assert len(groups) >= 2
    for name, group in groups.items():
        assert group["retention_in_days"] == "${var.settings.log_retention_days}", name
        key = _key_of(side, group["kms_key_id"])
        # CloudWatch Logs may use the key only after the key policy has admitted it.
        statements_of_key = statements(called(config, key).data_source("aws_iam_policy_document", "this"))
        assert "CloudWatchLogsOfThisAccount" in {s["sid"] for s in statements_of_key}, name


@pytest.mark.parametrize("side", sorted(MODULES))
def test_every_key_rotates_and_has_a_policy(side):
    config = load_dir(MODULES[side])
    assert not config.of_type("aws_kms_key"), "every key is a kms-key call"
    keys = calls_of(config, KMS_KEY_MODULE)
    assert keys
    for name, view in keys.items():
        (key,) = view.of_type("aws_kms_key").values()
        assert key["enable_key_rotation"] is True, name
        policies = {body["key_id"] for body in view.of_type("aws_kms_key_policy").values()}
        assert policies == {"${aws_kms_key.this.id}"}, f"{name} has no key policy"
        assert key["deletion_window_in_days"] == 30, name


@pytest.mark.parametrize("side", sorted(MODULES))
def test_every_secret_uses_a_cmk(side):
    secrets = load_dir(MODULES[side]).of_type("aws_secretsmanager_secret")
    assert secrets
    for name, secret in secrets.items():
        _key_of(side, secret["kms_key_id"])


@pytest.mark.parametrize("side", sorted(MODULES))
def test_functions_log_to_their_own_group_with_tracing(side):
    config = load_dir(MODULES[side])
    assert not config.of_type("aws_lambda_function"), "the function is the lambda-function module's"
    view, function = function_of(config)
    logging = function["logging_config"][0]
    assert logging["log_group"] == "${aws_cloudwatch_log_group.this.name}"
    assert view.resource("aws_cloudwatch_log_group", "this")["name"] == "/aws/lambda/${local.name}"
    assert function["function_name"] == "${local.name}"
    assert function["tracing_config"][0]["mode"] == "Active"


@pytest.mark.parametrize("side", sorted(MODULES))
def test_vpc_has_flow_logs_and_a_closed_default_security_group(side):
    network = load_dir(MODULES[side]).modules["network"]
    assert (MODULES[side] / network["source"]).resolve() == NETWORK_MODULE.resolve()
    config = load_dir(NETWORK_MODULE)
    flow = config.resource("aws_flow_log", "this")
    assert flow["traffic_type"] == "ALL"
    assert flow["vpc_id"] == "${aws_vpc.this.id}"
    default = config.resource("aws_default_security_group", "this")
    assert "ingress" not in default and "egress" not in default
