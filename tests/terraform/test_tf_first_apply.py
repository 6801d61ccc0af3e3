"""What makes the first apply (and later ones) succeed, Kafka authorisation, the event source
mapping's error handling, the SCRAM secret's policy, Lambda logging and the checkov skip table."""

from __future__ import annotations

import re

import pytest
from test_tf_variables import _plan
from tfhelpers import (
    ROOTS,
    TF,
    all_tf_files,
    block,
    blocks,
    consumer,
    function_of,
    load_dir,
    producer,
    set_in_tfvars,
    setting,
    statements,
)

# The object variable of each root that holds an account's settings.
PRODUCER_SETTINGS = {"producer": "producer", "both": "producer"}
CONSUMER_SETTINGS = {"consumer": "consumer", "both": "consumer"}

def _validated(root: str, name: str, value: str, tmp_path) -> tuple[bool, str]:
    """Whether the root's variable validations accept name = value on top of its example."""
    example = (ROOTS[root] / "terraform.tfvars.example").read_text()
    code, output = _plan(ROOTS[root], tmp_path, set_in_tfvars(example, name, value))
    if code != 0:
        assert "Invalid value for variable" in output, output
    return code == 0, output


# --- MSK ------------------------------------------------------------------------------------------


def test_msk_configuration_is_named_per_kafka_version_and_replaced_before_destroy():
    configuration = producer().resource("aws_msk_configuration", "this")
    assert configuration["name"] == '${local.name}-kafka-${replace(var.settings.kafka_version, ".", "-")}'
    assert configuration["kafka_versions"] == ["${var.settings.kafka_version}"]
    assert block(configuration, "lifecycle")["create_before_destroy"] is True


def test_cluster_uses_the_configuration_of_its_version():
    info = block(producer().resource("aws_msk_cluster", "this"), "configuration_info")
    assert info == {
        "arn": "${aws_msk_configuration.this.arn}",
        "revision": "${aws_msk_configuration.this.latest_revision}",
    }


def test_express_brokers_get_no_storage_info():
    config = producer()
    broker = block(config.resource("aws_msk_cluster", "this"), "broker_node_group_info")
    assert "storage_info" not in broker, "storage_info only through the dynamic block"
    (storage,) = [d["storage_info"] for d in broker["dynamic"] if "storage_info" in d]
    assert storage["for_each"] == "${local.express_brokers ? [] : [var.settings.broker_volume_size]}"
    assert config.locals["express_brokers"] == '${startswith(var.settings.broker_instance_type, "express.")}'


def test_express_brokers_get_no_replication_settings():
    # Express brokers fix the replication factor and min.insync.replicas.
    properties = producer().resource("aws_msk_configuration", "this")["server_properties"]
    compact = re.sub(r"\s+", "", properties)
    assert re.search(
        r'local\.express_brokers\?\[\]:\["default\.replication\.factor=\$\{local\.replication_factor\}",'
        r'"min\.insync\.replicas=\$\{local\.min_insync\}",?\]',
        compact,
    ), compact
    assert compact.count("replication.factor") == 1 and compact.count("min.insync") == 1


def test_broker_logs_are_kept_for_both_broker_families():
    # MSK accepts broker logs on Express brokers too (since February 2026).
    logging = block(producer().resource("aws_msk_cluster", "this"), "logging_info")
    assert block(block(logging, "broker_logs"), "cloudwatch_logs")["enabled"] is True


def test_zones_are_not_sliced_past_what_the_region_has():
    config = producer()
    assert "min(3, length(local.available_az_ids))" in config.locals["az_ids"]
    assert "slice(data.aws_availability_zones.available.zone_ids, 0, 3)" not in config.text()


def test_the_cluster_refuses_too_few_zones_and_express_outside_three():
    lifecycle = block(producer().resource("aws_msk_cluster", "this"), "lifecycle")
    conditions = {p["condition"]: p["error_message"] for p in blocks(lifecycle, "precondition")}
    assert "${length(local.az_ids) >= 2}" in conditions
    assert "availability_zone_ids" in conditions["${length(local.az_ids) >= 2}"]
    assert "${!local.express_brokers || length(local.az_ids) == 3}" in conditions


@pytest.mark.parametrize("root", ["both", "producer"])
@pytest.mark.parametrize(("value", "accepted"), [
    ('"express.m7g.large"', True),
    ('"kafka.m7g.large"', True),
    ('"express.kafka.m7g.large"', False),
    ('"m7g.large"', False),
])
def test_broker_instance_type_validation(root, value, accepted, tmp_path):
    ok, output = _validated(root, f"{PRODUCER_SETTINGS[root]}.broker_instance_type", value, tmp_path)
    assert ok == accepted, output


# --- Kafka authorisation ---------------------------------------------------------------------------


def test_acls_are_required_by_default():
    config = producer()
    assert setting(config, "settings.kafka_allow_everyone_if_no_acl_found")[0] == "false"
    text = (TF / "modules" / "producer-account" / "variables.tf").read_text()
    comment = text.split("kafka_allow_everyone_if_no_acl_found = optional")[0].rsplit("\n", 2)[-2]
    assert "kafka_acls" in comment, comment


@pytest.mark.parametrize("root", ["producer", "both"])
def test_no_producer_root_overrides_the_acl_setting(root):
    # The default (ACLs required) holds unless a deployment sets the attribute itself.
    config = load_dir(ROOTS[root])
    assert "kafka_allow_everyone_if_no_acl_found" not in str(config.modules["producer"])
    assert "kafka_allow_everyone_if_no_acl_found" not in (ROOTS[root] / "terraform.tfvars.example").read_text()
    assert "consumer_group_id" in config.modules["producer"]


@pytest.mark.parametrize(("root", "value", "accepted"), [
    ("producer", "true", True),
    ("both", "false", True),
    ("producer", '"sometimes"', False),
])
def test_the_acl_setting_is_a_bool(root, value, accepted, tmp_path):
    example = (ROOTS[root] / "terraform.tfvars.example").read_text()
    code, output = _plan(ROOTS[root], tmp_path, set_in_tfvars(example, "producer.kafka_allow_everyone_if_no_acl_found", value))
    assert (code == 0) == accepted, output


def test_the_both_accounts_root_names_the_consumer_group_of_the_mapping():
    module = load_dir(ROOTS["both"]).modules["producer"]
    assert module["consumer_group_id"] == "${module.consumer.consumer_group_id}"


def test_server_properties_take_the_setting():
    properties = producer().resource("aws_msk_configuration", "this")["server_properties"]
    assert "allow.everyone.if.no.acl.found=${var.settings.kafka_allow_everyone_if_no_acl_found}" in properties


def test_the_consumer_acls_read_the_topic_and_use_the_group_only():
    config = producer()
    assert config.locals["consumer_group_id"] == '${coalesce(var.consumer_group_id, "${var.settings.name_prefix}-consumer")}'
    acls = config.locals["kafka_acls"]
    for expected in (
        '{ operation = "Read", resource_type = "topic", resource_name = var.settings.topic }',
        '{ operation = "Describe", resource_type = "topic", resource_name = var.settings.topic }',
        '{ operation = "Read", resource_type = "group", resource_name = local.consumer_group_id }',
    ):
        assert re.sub(r"\s+", "", expected) in re.sub(r"\s+", "", acls), expected
    compact = re.sub(r"\s+", "", acls)
    assert 'principal="User:${var.settings.kafka_scram_username}"' in compact and 'pattern_type="LITERAL"' in compact
    assert len(re.findall(r"operation=", compact)) == 3, "no other operation"
    outputs = config.outputs
    assert outputs["kafka_acls"]["value"] == "${local.kafka_acls}"
    assert "--allow-principal ${acl.principal}" in outputs["kafka_acl_commands"]["value"]


def test_consumer_group_default_matches_the_consumer_module():
    assert consumer().locals["consumer_group_id"] == "${coalesce(var.settings.consumer_group_id, local.name)}"
    assert consumer().locals["name"] == "${var.settings.name_prefix}-consumer"


# --- Event source mapping ----------------------------------------------------------------------------


def _esm() -> dict:
    return consumer().resource("aws_lambda_event_source_mapping", "kafka")


def test_provisioned_mode_sets_the_pollers():
    (poller,) = [d["provisioned_poller_config"] for d in _esm()["dynamic"] if "provisioned_poller_config" in d]
    assert poller["for_each"] == "${local.provisioned ? [var.settings.provisioned_pollers] : []}"
    assert poller["content"] == [{
        "minimum_pollers": "${provisioned_poller_config.value.minimum}",
        "maximum_pollers": "${provisioned_poller_config.value.maximum}",
    }]
    assert consumer().locals["provisioned"] == "${var.settings.provisioned_pollers != null}"


def test_error_handling_controls_are_sent_in_provisioned_mode_only():
    esm = _esm()
    for name in ("maximum_retry_attempts", "maximum_record_age_in_seconds", "bisect_batch_on_function_error"):
        assert esm[name] == f"${{local.provisioned ? var.settings.{name} : null}}", name
    assert block(block(esm, "destination_config"), "on_failure")["destination_arn"] == "${aws_sqs_queue.dead_letter.arn}"
    assert "function_response_types" not in esm, "the function dead-letters poison records itself"


def test_on_demand_is_the_default_poller_mode():
    assert setting(consumer(), "settings.provisioned_pollers")[0] is None


@pytest.mark.parametrize("root", ["consumer", "both"])
def test_every_consumer_root_offers_the_poller_mode(root, tmp_path):
    # The settings reach the module whole, so a root takes the poller mode as it takes the rest.
    module = load_dir(ROOTS[root]).modules["consumer"]
    assert f"var.{CONSUMER_SETTINGS[root]}" in module["settings"]
    example = (ROOTS[root] / "terraform.tfvars.example").read_text()
    tfvars = set_in_tfvars(example, "consumer.provisioned_pollers", "{ minimum = 3, maximum = 1 }")
    code, output = _plan(ROOTS[root], tmp_path, tfvars)
    assert code != 0 and "provisioned_pollers" in output, output


@pytest.mark.parametrize(("name", "value", "accepted"), [
    ("provisioned_pollers", "{ minimum = 1, maximum = 4 }", True),
    ("provisioned_pollers", "{ minimum = 5, maximum = 2 }", False),
    ("provisioned_pollers", "{ minimum = 0, maximum = 2 }", False),
    ("provisioned_pollers", "{ minimum = 1, maximum = 2001 }", False),
    ("maximum_retry_attempts", "-1", True),
    ("maximum_retry_attempts", "10001", False),
    ("maximum_record_age_in_seconds", "-1", True),
    ("maximum_record_age_in_seconds", "30", False),
    ("maximum_record_age_in_seconds", "604800", True),
])
def test_error_handling_validations(name, value, accepted, tmp_path):
    ok, output = _validated("consumer", f"consumer.{name}", value, tmp_path)
    assert ok == accepted, output


def test_mapping_starts_after_the_producer_side_is_ready():
    outputs = producer().outputs
    needs = set(outputs["brokers"]["depends_on"])
    for dependency in (
        "aws_msk_scram_secret_association.this",
        "aws_secretsmanager_secret_policy.scram",
        "aws_lb_listener.broker",
        "aws_lb_target_group_attachment.broker",
    ):
        assert f"${{{dependency}}}" in needs, dependency
    # The mapping's brokers come from that output in the both-accounts root.
    assert load_dir(ROOTS["both"]).modules["consumer"]["producer"]["brokers"] == "${module.producer.brokers}"
    assert consumer().locals["bootstrap_servers"].startswith('${join(",", [for b in var.producer.brokers')
    assert _esm()["self_managed_event_source"][0]["endpoints"]["KAFKA_BOOTSTRAP_SERVERS"] == "${local.bootstrap_servers}"


# --- the AmazonMSK_ SCRAM secret ----------------------------------------------------------------------


def test_scram_secret_has_its_resource_policy_for_msk_only():
    config = producer()
    policy = config.resource("aws_secretsmanager_secret_policy", "scram")
    assert policy["secret_arn"] == "${aws_secretsmanager_secret.scram.arn}"
    assert policy["policy"] == "${data.aws_iam_policy_document.scram_secret.json}"
    assert policy["block_public_policy"] is True
    (statement,) = statements(config.data_source("aws_iam_policy_document", "scram_secret"))
    assert statement["actions"] == ["secretsmanager:GetSecretValue"]
    assert statement["resources"] == ["${aws_secretsmanager_secret.scram.arn}"]
    assert blocks(statement, "principals") == [{"type": "Service", "identifiers": ["kafka.amazonaws.com"]}]
    association = config.resource("aws_msk_scram_secret_association", "this")
    assert "${aws_secretsmanager_secret_policy.scram}" in association["depends_on"]


# --- Lambda logging ----------------------------------------------------------------------------------


@pytest.mark.parametrize("side", ["producer", "consumer"])
def test_lambda_logs_json_at_configurable_levels(side):
    config = producer() if side == "producer" else consumer()
    view, function = function_of(config)
    logging = block(function, "logging_config")
    assert view.resource("aws_cloudwatch_log_group", "this")["name"] == "/aws/lambda/${local.name}"
    assert logging == {
        "log_format": "JSON",
        "log_group": "${aws_cloudwatch_log_group.this.name}",
        "application_log_level": "${var.settings.lambda_application_log_level}",
        "system_log_level": "${var.settings.lambda_system_log_level}",
    }
    for name, levels in (
        ("lambda_application_log_level", {"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"}),
        ("lambda_system_log_level", {"DEBUG", "INFO", "WARN"}),
    ):
        condition = setting(config, f"settings.{name}")[1][0]
        assert set(re.findall(r'"([A-Z]+)"', condition)) == levels, name
        # The lambda-function module takes the same levels.
        (condition,) = setting(view, name.removeprefix("lambda_"))[1]
        assert set(re.findall(r'"([A-Z]+)"', condition)) == levels, name


@pytest.mark.parametrize(("root", "side"), [
    ("producer", "producer"),
    ("consumer", "consumer"),
    ("both", "producer"),
    ("both", "consumer"),
])
def test_every_root_passes_the_log_levels(root, side, tmp_path):
    module = load_dir(ROOTS[root]).modules[side]
    assert f"var.{side}" in module["settings"]
    example = (ROOTS[root] / "terraform.tfvars.example").read_text()
    code, output = _plan(ROOTS[root], tmp_path, set_in_tfvars(example, f"{side}.lambda_system_log_level", '"TRACE"'))
    assert code != 0 and "lambda_system_log_level" in output, output


@pytest.mark.parametrize(("name", "value", "accepted"), [
    ("lambda_application_log_level", '"DEBUG"', True),
    ("lambda_application_log_level", '"VERBOSE"', False),
    ("lambda_system_log_level", '"ERROR"', False),
])
def test_log_level_validations(name, value, accepted, tmp_path):
    ok, output = _validated("producer", f"producer.{name}", value, tmp_path)
    assert ok == accepted, output


# --- checkov skips and the README -------------------------------------------------------------------


def test_every_skip_row_of_the_readme_is_a_skip_in_the_code():
    readme = (TF / "README.md").read_text()
    table = readme.split("### checkov skips", 1)[1]
    rows = [line for line in table.splitlines() if line.startswith("| CKV")]
    assert rows
    skipped = set()
    for file in all_tf_files():
        skipped |= set(re.findall(r"#checkov:skip=([A-Z0-9_]+):", file.read_text()))
    for row in rows:
        for check in re.findall(r"CKV2?_AWS_\d+", row.split("|")[1]):
            assert check in skipped, f"README describes a skip of {check} that no block has"
