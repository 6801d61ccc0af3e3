"""Each role grants what its function's Rust code calls, and what Lambda needs for the function's
configuration: no unused grant, no missing one.

The AWS operations come from the source: every SDK call (`.operation()` ... `.send()`) and
credential provider in the crate's src/ (the local stand-ins for Lambda's event source mapping
excluded) and in the functions of shared/src/ that the crate reaches. Tests (`#[cfg(test)]`) do not
count.
"""

from __future__ import annotations

import functools
import re

import pytest
from tfhelpers import LAMBDA_FUNCTION_MODULE, REPO, block, blocks, consumer, function_of, load_dir, producer, role_statements, statements

# IAM action of every AWS SDK operation the code may call. A call missing here fails the test, so
# a new call is never left out of the comparison.
SDK_ACTIONS = {
    "assume_role": "sts:AssumeRole",
    "batch_get_item": "dynamodb:BatchGetItem",
    "batch_write_item": "dynamodb:BatchWriteItem",
    "create_registry": "glue:CreateRegistry",
    "create_schema": "glue:CreateSchema",
    "delete_schema": "glue:DeleteSchema",
    "get_registry": "glue:GetRegistry",
    "get_schema": "glue:GetSchema",
    "get_schema_by_definition": "glue:GetSchemaByDefinition",
    "get_schema_version": "glue:GetSchemaVersion",
    "get_secret_value": "secretsmanager:GetSecretValue",
    "invoke": "lambda:InvokeFunction",
    "list_schema_versions": "glue:ListSchemaVersions",
    "put_item": "dynamodb:PutItem",
    "put_schema_version_metadata": "glue:PutSchemaVersionMetadata",
    "register_schema_version": "glue:RegisterSchemaVersion",
    # SQS authorises SendMessageBatch as sqs:SendMessage.
    "send_message": "sqs:SendMessage",
    "send_message_batch": "sqs:SendMessage",
    "update_schema": "glue:UpdateSchema",
}
# Credentials that call AWS on the code's behalf.
PROVIDER_ACTIONS = {"AssumeRoleProvider": "sts:AssumeRole"}

CRATES = {"producer": REPO / "producer-account", "consumer": REPO / "consumer-account"}
# The tools (tools/: sensorctl, the local stand-in for the event source mapping) are no Lambda
# crate and run with an operator's credentials, so they are not scanned.

# Calls the code makes only in set-ups Terraform does not create; each reason is checked below.
NOT_GRANTED = {
    "producer": {
        "glue:CreateRegistry": "only when the registry is missing; Terraform creates it",
    },
    "consumer": {},
}

_SEND = re.compile(r"\.send\(\)")
_OPERATION = re.compile(r"\.\s*([a-z_][a-z0-9_]*)\(\)")
_FN = re.compile(r"^\s*(?:pub(?:\([^)]*\))?\s+)?(?:async\s+)?fn\s+(\w+)", re.M)
_CALL = re.compile(r"\b([a-z_][a-z0-9_]*)\s*(?:::<[^>]*>)?\(")


def _without_tests(text: str) -> str:
    return text.split("#[cfg(test)]", 1)[0]


def _sdk_calls(text: str) -> set[str]:
    """Operations of the SDK calls in text: the first `.op()` of each chain that ends in .send()."""
    found = set()
    for send in _SEND.finditer(text):
        # Back to the start of the expression: the first unmatched opening bracket, `;`, `=` or
        # `,` outside brackets.
        depth, start = 0, send.start()
        while start > 0:
            char = text[start - 1]
            if char in ")]}":
                depth += 1
            elif char in "([{":
                if depth == 0:
                    break
                depth -= 1
            elif char in ";=," and depth == 0:
                break
            start -= 1
        chain = re.sub(r"\((?:[^()]|\((?:[^()]|\([^()]*\))*\))*\)", lambda m: "()" if m.group(0) == "()" else "(..)", text[start : send.start()])
        operation = _OPERATION.search(chain)
        assert operation, f"an SDK call without an operation: {chain!r}"
        found.add(operation.group(1))
    return found


def _provider_calls(text: str) -> set[str]:
    return {name for name in PROVIDER_ACTIONS if re.search(rf"\b{name}\b", text)}


@functools.lru_cache(maxsize=None)
def _shared_functions() -> dict[str, list[tuple[bool, str]]]:
    """Function name -> [(callable from another crate, body)], over shared/src (tests left
    out). Callable: `pub fn`, or a method of a trait implementation."""
    functions: dict[str, list[tuple[bool, str]]] = {}
    for file in sorted((REPO / "shared" / "src").rglob("*.rs")):
        text = _without_tests(file.read_text())
        matches = list(_FN.finditer(text))
        for here, after in zip(matches, matches[1:] + [None]):
            body = text[here.start() : after.start() if after else len(text)]
            impls = re.findall(r"^impl\b[^{]*", text[: here.start()], re.M)
            in_trait_impl = bool(impls) and " for " in impls[-1] and here.group(0).startswith("    ")
            public = "pub" in here.group(0) or in_trait_impl
            functions.setdefault(here.group(1), []).append((public, body))
    return functions


def _calls(text: str, functions: dict) -> set[str]:
    """Shared functions text may call: public ones by name; private ones only as self./Self::/free calls."""
    called = set()
    for match in _CALL.finditer(text):
        name = match.group(1)
        if name not in functions:
            continue
        before = text[max(0, match.start() - 6) : match.start()]
        private_call = before.endswith(("self.", "Self::")) or not before.rstrip().endswith((".", "::"))
        if any(public for public, _ in functions[name]) or private_call:
            called.add(name)
    return called


def _crate_text(side: str) -> str:
    crate = CRATES[side]
    texts = []
    for file in sorted((crate / "src").rglob("*.rs")):
        texts.append(_without_tests(file.read_text()))
    return "\n".join(texts)


@functools.lru_cache(maxsize=None)
def code_operations(side: str) -> dict[str, set[str]]:
    """{"own": operations in the crate, "shared": operations in the shared functions it reaches}."""
    text = _crate_text(side)
    functions = _shared_functions()
    # From the crate only public functions are callable.
    reached, todo = set(), [n for n in _calls(text, functions) if any(p for p, _ in functions[n])]
    while todo:
        name = todo.pop()
        if name in reached:
            continue
        reached.add(name)
        for _, body in functions[name]:
            todo.extend(n for n in _calls(body[body.index("(") + 1 :], functions) if n not in reached)
    shared_text = "\n".join(body for name in reached for _, body in functions[name])
    return {
        "own": _sdk_calls(text) | _provider_calls(text),
        "shared": _sdk_calls(shared_text) | _provider_calls(shared_text),
        "reached": reached,
    }


def _actions(operations: set[str]) -> set[str]:
    unknown = {op for op in operations if op not in SDK_ACTIONS and op not in PROVIDER_ACTIONS}
    assert not unknown, f"SDK operations without an IAM action in SDK_ACTIONS: {sorted(unknown)}"
    return {SDK_ACTIONS.get(op) or PROVIDER_ACTIONS[op] for op in operations}


def code_actions(side: str) -> set[str]:
    ops = code_operations(side)
    return _actions(ops["own"] | ops["shared"])


def _granted(found: list[dict]) -> set[str]:
    granted = [a for s in found for a in s["actions"]]
    assert len(granted) == len(set(granted)), f"an action granted twice: {sorted(granted)}"
    return set(granted)


# --- what Lambda itself does with the execution role, derived from the function's configuration ---

ENI_ACTIONS = {
    "ec2:AssignPrivateIpAddresses",
    "ec2:CreateNetworkInterface",
    "ec2:DeleteNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:UnassignPrivateIpAddresses",
}


def platform_actions(view, function: dict) -> set[str]:
    """view: the lambda-function module as the account module calls it; function: its function."""
    actions = set()
    if function.get("vpc_config"):
        actions |= ENI_ACTIONS
    logging = block(function, "logging_config")
    group = re.fullmatch(r"\$\{aws_cloudwatch_log_group\.(\w+)\.name\}", logging.get("log_group", ""))
    if group and group.group(1) in view.of_type("aws_cloudwatch_log_group"):
        actions |= {"logs:CreateLogStream", "logs:PutLogEvents"}
    if block(function, "tracing_config")["mode"] == "Active":
        actions |= {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
    if function.get("kms_key_arn"):
        actions.add("kms:Decrypt")  # the encrypted environment
    return actions


def esm_actions(config) -> set[str]:
    """Lambda's pollers of the self-managed Kafka mapping use the function's execution role."""
    (esm,) = config.of_type("aws_lambda_event_source_mapping").values()
    actions = set()
    access = {c["type"] for c in blocks(esm, "source_access_configuration")}
    access |= {
        d["source_access_configuration"]["content"][0]["type"]
        for d in esm.get("dynamic", [])
        if "source_access_configuration" in d
    }
    if "VPC_SUBNET" in access:
        actions |= ENI_ACTIONS | {"ec2:DescribeVpcs", "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups"}
    if "SASL_SCRAM_512_AUTH" in access:
        actions |= {"secretsmanager:GetSecretValue", "kms:Decrypt"}  # the secret has a CMK
    destination = block(block(esm, "destination_config"), "on_failure")["destination_arn"]
    if destination.startswith("${aws_sqs_queue."):
        actions |= {"sqs:SendMessage", "kms:GenerateDataKey", "kms:Decrypt"}  # the queue has a CMK
    return actions


# --- the comparisons -----------------------------------------------------------------------------


def test_the_scan_finds_the_calls_the_code_is_known_to_make():
    producer_ops = code_operations("producer")
    consumer_ops = code_operations("consumer")
    assert {"get_schema_by_definition", "register_schema_version", "create_schema"} <= producer_ops["shared"]
    assert producer_ops["own"] == set()
    assert consumer_ops["own"] == {"batch_write_item", "batch_get_item", "put_item", "send_message_batch"}
    assert consumer_ops["shared"] == {"get_schema_version", "AssumeRoleProvider"}
    assert "get_version" in consumer_ops["reached"] and "get_or_register" not in consumer_ops["reached"]


def test_the_scan_reads_chains_that_end_in_send():
    text = """
        let out = self
            .client
            .get_schema_version()
            .schema_version_id(id.to_string())
            .send()
            .await;
        match sm.get_secret_value().secret_id(arn).send().await { }
    """
    assert _sdk_calls(text) == {"get_schema_version", "get_secret_value"}
    with pytest.raises(AssertionError, match="without an IAM action"):
        _actions({"describe_everything"})


def test_consumer_code_reaches_glue_only_through_the_assumed_role():
    main = (CRATES["consumer"] / "src" / "main.rs").read_text()
    assert re.search(r"let producer_side = assume_role_config\(&base, &role\)", main)
    assert "glue_client(&producer_side" in main
    assert "glue_client(&base" not in main


def test_cross_account_role_grants_exactly_the_consumer_glue_calls():
    glue = {a for a in code_actions("consumer") if a.startswith("glue:")}
    assert glue == {"glue:GetSchemaVersion"}
    granted = _granted(statements(producer().data_source("aws_iam_policy_document", "schema_reader")))
    assert granted == glue, f"unused: {sorted(granted - glue)}, missing: {sorted(glue - granted)}"


def test_consumer_role_grants_exactly_its_calls_and_lambda_needs():
    config = consumer()
    view, function = function_of(config)
    needed = {a for a in code_actions("consumer") if not a.startswith("glue:")}
    needed |= platform_actions(view, function) | esm_actions(config)
    needed -= set(NOT_GRANTED["consumer"])
    granted = _granted(role_statements(config))
    assert granted == needed, f"unused: {sorted(granted - needed)}, missing: {sorted(needed - granted)}"


def test_each_table_is_granted_exactly_the_calls_made_on_it():
    """The readings are only batch-written; the aggregates only read in batches and put under a
    condition: each grant names its own table, and no statement names both."""
    granted = {}
    for s in role_statements(consumer()):
        for resource in s["resources"]:
            if "aws_dynamodb_table" in resource:
                granted.setdefault(resource, set()).update(s["actions"])
    assert granted == {
        "${aws_dynamodb_table.readings.arn}": {"dynamodb:BatchWriteItem"},
        "${aws_dynamodb_table.aggregates.arn}": {"dynamodb:BatchGetItem", "dynamodb:PutItem"},
    }
    # And the code makes each call on the table it is granted on: the aggregates' calls are in
    # the aggregates' module, the readings' in the store.
    src = CRATES["consumer"] / "src"
    assert _sdk_calls(_without_tests((src / "aggregate.rs").read_text())) == {"batch_get_item", "put_item"}
    assert _sdk_calls(_without_tests((src / "store.rs").read_text())) == {"batch_write_item"}
    main = (src / "main.rs").read_text()
    assert re.search(r"DynamoAggregates \{\s*client: dynamodb,\s*table: config\.aggregates_table", main)
    assert re.search(r"DynamoStore \{\s*client: dynamodb\.clone\(\),\s*table: config\.readings_table", main)
    env = block(function_of(consumer())[1], "environment")["variables"]
    assert env["AGGREGATES_TABLE"] == "${aws_dynamodb_table.aggregates.name}"
    assert env["READINGS_TABLE"] == "${aws_dynamodb_table.readings.name}"


def test_producer_role_grants_exactly_its_calls_and_lambda_needs():
    config = producer()
    view, function = function_of(config)
    needed = code_actions("producer") | platform_actions(view, function) | kafka_actions(config)
    assert set(NOT_GRANTED["producer"]) <= needed, "a NOT_GRANTED entry the code no longer needs"
    needed -= set(NOT_GRANTED["producer"])
    granted = _granted(role_statements(config))
    assert granted == needed, f"unused: {sorted(granted - needed)}, missing: {sorted(needed - granted)}"


def test_the_calls_left_ungranted_are_never_made_in_aws():
    config = producer()
    assert config.resource("aws_glue_registry", "this")["registry_name"] == "${var.settings.registry_name}"
    glue = (REPO / "shared" / "src" / "aws" / "glue.rs").read_text()
    assert re.search(r"\(\w*Kind::NotFound, _\) if attempt == 0 => self\.create_registry\(\)", glue)


def test_no_role_has_a_managed_policy():
    for config in (producer(), consumer(), load_dir(LAMBDA_FUNCTION_MODULE)):
        assert not config.of_type("aws_iam_role_policy_attachment"), config.path


# --- Kafka over MSK IAM --------------------------------------------------------------------------


def kafka_actions(config) -> set[str]:
    """An idempotent producer of one topic over MSK IAM (producer-account/src/sink.rs)."""
    sink = (CRATES["producer"] / "src" / "sink.rs").read_text()
    assert "msk_iam::auth_token" in sink, "MSK IAM tokens"
    token = (CRATES["producer"] / "src" / "msk_iam.rs").read_text()
    assert '"Action", "kafka-cluster:Connect"' in token, "the token presigns kafka-cluster:Connect"
    actions = {"kafka-cluster:Connect", "kafka-cluster:DescribeCluster", "kafka-cluster:DescribeTopic", "kafka-cluster:WriteData"}
    if re.search(r'\.set\("enable\.idempotence", "true"\)', sink):
        actions.add("kafka-cluster:WriteDataIdempotently")
    properties = config.resource("aws_msk_configuration", "this")["server_properties"]
    if "auto.create.topics.enable=true" in properties:
        actions.add("kafka-cluster:CreateTopic")  # the first write creates the topic
    return actions


def test_producer_kafka_grants_are_scoped_to_the_cluster_and_its_topic():
    config = producer()
    cluster_level = {"kafka-cluster:Connect", "kafka-cluster:DescribeCluster", "kafka-cluster:WriteDataIdempotently"}
    for statement in role_statements(config):
        kafka = {a for a in statement["actions"] if a.startswith("kafka-cluster:")}
        if not kafka:
            continue
        assert kafka == set(statement["actions"]), "Kafka actions in statements of their own"
        if kafka <= cluster_level:
            assert statement["resources"] == ["${aws_msk_cluster.this.arn}"]
        else:
            assert not kafka & cluster_level
            assert statement["resources"] == ["${local.topic_arn}"]
    assert config.locals["topic_arn"] == '${replace(aws_msk_cluster.this.arn, ":cluster/", ":topic/")}/${var.settings.topic}'
