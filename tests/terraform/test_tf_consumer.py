"""Security and wiring invariants of the consumer account."""

from __future__ import annotations

from tfhelpers import (
    KMS_KEY_MODULE,
    NETWORK_MODULE,
    ROOTS,
    block,
    blocks,
    calls_of,
    consumer,
    function_of,
    load_dir,
    role_statements,
    setting,
    statements,
)


def _esm():
    return consumer().resource("aws_lambda_event_source_mapping", "kafka")


# --- Event source mapping ------------------------------------------------------------------------


def test_esm_reads_the_topic_of_the_self_managed_cluster():
    esm = _esm()
    assert esm["topics"] == ["${var.producer.topic}"]
    assert "event_source_arn" not in esm, "self-managed Kafka has no event source ARN"
    endpoints = block(esm, "self_managed_event_source")["endpoints"]
    assert endpoints == {"KAFKA_BOOTSTRAP_SERVERS": "${local.bootstrap_servers}"}
    bootstrap = consumer().locals["bootstrap_servers"]
    assert "b.endpoint_url" in bootstrap and "b.broker_port" in bootstrap
    assert block(esm, "self_managed_kafka_event_source_config")["consumer_group_id"] == "${local.consumer_group_id}"
    assert esm["function_name"] == "${module.lambda.function_arn}"
    assert function_of(consumer())[0].outputs["function_arn"]["value"] == "${aws_lambda_function.this.arn}"


def test_esm_batching_and_starting_position():
    esm = _esm()
    config = consumer()
    assert esm["batch_size"] == "${var.settings.batch_size}"
    assert esm["maximum_batching_window_in_seconds"] == "${var.settings.maximum_batching_window_in_seconds}"
    assert esm["starting_position"] == "${var.settings.starting_position}"
    assert setting(config, "settings.batch_size")[0] == "500"
    assert setting(config, "settings.maximum_batching_window_in_seconds")[0] == "1"
    assert setting(config, "settings.starting_position")[0] == '"TRIM_HORIZON"'
    assert "10000" in setting(config, "settings.batch_size")[1][0]
    assert '"LATEST"' in setting(config, "settings.starting_position")[1][0]


def test_esm_runs_in_every_private_subnet_with_its_security_group_and_scram_secret():
    esm = _esm()
    (dynamic,) = [d["source_access_configuration"] for d in esm["dynamic"] if "source_access_configuration" in d]
    assert dynamic["for_each"] == "${module.network.private_subnet_ids}"
    assert dynamic["content"] == [{"type": "VPC_SUBNET", "uri": "subnet:${source_access_configuration.value}"}]
    static = {c["type"]: c["uri"] for c in blocks(esm, "source_access_configuration")}
    assert static == {
        "VPC_SECURITY_GROUP": "security_group:${aws_security_group.esm.id}",
        "SASL_SCRAM_512_AUTH": "${aws_secretsmanager_secret.kafka_scram.arn}",
    }


def test_esm_sends_failed_batches_to_the_dead_letter_queue():
    on_failure = block(block(_esm(), "destination_config"), "on_failure")
    assert on_failure == {"destination_arn": "${aws_sqs_queue.dead_letter.arn}"}


def test_esm_waits_for_the_network_and_credentials():
    needs = set(_esm()["depends_on"])
    for dependency in (
        "aws_route53_record.broker",
        "aws_vpc_endpoint.broker",
        "module.network",  # the interface endpoints of the AWS APIs among it
        "aws_secretsmanager_secret_version.kafka_scram",
        "module.lambda",  # the function's role policy among it
    ):
        assert f"${{{dependency}}}" in needs, dependency


def test_esm_security_group_reaches_only_the_broker_endpoints_and_the_api_endpoints():
    config = consumer()
    egress = [r for r in config.of_type("aws_vpc_security_group_egress_rule").values()
              if r["security_group_id"] == "${aws_security_group.esm.id}"]
    targets = sorted(r["referenced_security_group_id"] for r in egress)
    assert targets == ["${aws_security_group.kafka_endpoints.id}", "${module.network.endpoints_security_group_id}"]
    for rule in config.of_type("aws_vpc_security_group_egress_rule").values():
        assert "cidr_ipv4" not in rule, "no CIDR-wide egress"


# --- Reaching the brokers ----------------------------------------------------------------------------


def test_one_interface_endpoint_and_one_dns_alias_per_broker():
    config = consumer()
    endpoint = config.resource("aws_vpc_endpoint", "broker")
    assert endpoint["for_each"] == "${local.brokers_by_id}"
    assert endpoint["service_name"] == "${each.value.service_name}"
    assert endpoint["vpc_endpoint_type"] == "Interface"
    assert endpoint["private_dns_enabled"] is False
    assert endpoint["security_group_ids"] == ["${aws_security_group.kafka_endpoints.id}"]
    zone = config.resource("aws_route53_zone", "kafka")
    assert zone["name"] == "kafka.${local.producer_region}.amazonaws.com"
    assert block(zone, "vpc") == {"vpc_id": "${module.network.vpc_id}"}
    record = config.resource("aws_route53_record", "broker")
    assert record["for_each"] == "${local.brokers_by_id}"
    assert record["name"] == "${each.value.endpoint_url}"
    assert record["type"] == "A"
    alias = block(record, "alias")
    assert alias["name"] == "${aws_vpc_endpoint.broker[each.key].dns_entry[0].dns_name}"
    assert alias["zone_id"] == "${aws_vpc_endpoint.broker[each.key].dns_entry[0].hosted_zone_id}"
    assert config.locals["brokers_by_id"] == "${{for b in var.producer.brokers : tostring(b.broker_id) => b}}"


def test_aws_apis_are_reached_through_endpoints_so_no_nat_is_needed():
    config = consumer()
    assert config.locals["interface_endpoint_services"] == '${toset(["glue", "lambda", "secretsmanager", "sqs", "sts"])}'
    assert config.modules["network"]["interface_endpoint_services"] == "${local.interface_endpoint_services}"
    interface = load_dir(NETWORK_MODULE).resource("aws_vpc_endpoint", "interface")
    assert interface["for_each"] == "${var.interface_endpoint_services}"
    assert interface["private_dns_enabled"] is True
    assert interface["vpc_endpoint_type"] == "Interface"
    assert interface["subnet_ids"] == "${aws_subnet.private[*].id}"
    assert interface["security_group_ids"] == ["${aws_security_group.endpoints.id}"]
    dynamodb = config.resource("aws_vpc_endpoint", "dynamodb")
    assert dynamodb["vpc_endpoint_type"] == "Gateway"
    assert dynamodb["service_name"].endswith(".dynamodb")
    assert dynamodb["route_table_ids"] == ["${module.network.private_route_table_id}"]


def test_producer_region_must_be_this_region():
    check = consumer().checks["producer_in_this_region"]
    assert block(check, "assert")["condition"] == "${local.producer_region == local.region}"


def test_consumer_subnets_use_the_producer_zone_ids():
    network = consumer().modules["network"]
    assert network["availability_zone_ids"] == "${var.producer.availability_zone_ids}"
    # The network module places subnet i in the i-th zone ID it is given, by ID, never by name.
    subnet = load_dir(NETWORK_MODULE).resource("aws_subnet", "private")
    assert subnet["count"] == "${length(var.availability_zone_ids)}"
    assert subnet["availability_zone_id"] == "${var.availability_zone_ids[count.index]}"
    assert "availability_zone" not in subnet
    both = load_dir(ROOTS["both"]).modules["consumer"]
    assert both["producer"]["availability_zone_ids"] == "${module.producer.availability_zone_ids}"


# --- Lambda and its role --------------------------------------------------------------------------


def test_consumer_lambda_runtime_package_and_network():
    view, function = function_of(consumer())
    assert function["runtime"] == "provided.al2023"
    assert function["handler"] == "bootstrap"
    assert function["architectures"] == ["x86_64"]
    assert function["source_code_hash"] == "${filebase64sha256(var.lambda_zip_path)}"
    vpc = block(function, "vpc_config")
    assert vpc["subnet_ids"] == "${module.network.private_subnet_ids}"
    assert vpc["security_group_ids"] == ["${aws_security_group.this.id}"]
    assert view.resource("aws_security_group", "this")["vpc_id"] == "${module.network.vpc_id}"
    assert view.outputs["security_group_id"]["value"] == "${aws_security_group.this.id}"
    assert load_dir(ROOTS["consumer"]).variables["lambda_zip"]["default"] == "target/lambda/consumer/bootstrap.zip"
    assert load_dir(ROOTS["both"]).variables["consumer_lambda_zip"]["default"] == "target/lambda/consumer/bootstrap.zip"


def test_consumer_role_can_assume_only_the_producer_role():
    assume = [s for s in role_statements(consumer()) if "sts:AssumeRole" in s["actions"]]
    (statement,) = assume
    assert statement["actions"] == ["sts:AssumeRole"]
    assert statement["resources"] == ["${var.producer.schema_reader_role_arn}"]


def test_consumer_role_writes_only_its_tables_and_queue():
    by_action = {a: s["resources"] for s in role_statements(consumer()) for a in s["actions"]}
    assert sorted(a for a in by_action if a.startswith("dynamodb:")) == [
        "dynamodb:BatchGetItem", "dynamodb:BatchWriteItem", "dynamodb:PutItem"]
    assert by_action["dynamodb:BatchWriteItem"] == ["${aws_dynamodb_table.readings.arn}"]
    assert by_action["dynamodb:BatchGetItem"] == ["${aws_dynamodb_table.aggregates.arn}"]
    assert by_action["dynamodb:PutItem"] == ["${aws_dynamodb_table.aggregates.arn}"]
    assert [a for a in by_action if a.startswith("sqs:")] == ["sqs:SendMessage"]
    assert by_action["sqs:SendMessage"] == ["${aws_sqs_queue.dead_letter.arn}"]
    assert by_action["secretsmanager:GetSecretValue"] == ["${aws_secretsmanager_secret.kafka_scram.arn}"]
    assert by_action["kms:Decrypt"] == ["${module.data_key.arn}"]
    assert by_action["kms:GenerateDataKey"] == ["${module.data_key.arn}"]
    assert set(by_action) == {
        "sts:AssumeRole",
        "dynamodb:BatchWriteItem",
        "dynamodb:BatchGetItem",
        "dynamodb:PutItem",
        "sqs:SendMessage",
        "secretsmanager:GetSecretValue",
        "kms:Decrypt",
        "kms:GenerateDataKey",
        "ec2:AssignPrivateIpAddresses",
        "ec2:CreateNetworkInterface",
        "ec2:DeleteNetworkInterface",
        "ec2:DescribeNetworkInterfaces",
        "ec2:UnassignPrivateIpAddresses",
        "ec2:DescribeVpcs",
        "ec2:DescribeSecurityGroups",
        "ec2:DescribeSubnets",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "xray:PutTelemetryRecords",
        "xray:PutTraceSegments",
    }


def test_consumer_role_is_assumable_by_lambda_only():
    view, _ = function_of(consumer())
    (role,) = view.of_type("aws_iam_role").values()
    assert role["assume_role_policy"] == "${data.aws_iam_policy_document.trust.json}"
    (statement,) = statements(view.data_source("aws_iam_policy_document", "trust"))
    assert statement["actions"] == ["sts:AssumeRole"]
    assert blocks(statement, "principals") == [{"type": "Service", "identifiers": ["lambda.amazonaws.com"]}]


# --- Data stores -------------------------------------------------------------------------------------


def test_readings_table_keys_billing_pitr_and_cmk():
    table = consumer().resource("aws_dynamodb_table", "readings")
    assert table["hash_key"] == "deviceId"
    assert table["range_key"] == "_readingId"
    assert {a["name"]: a["type"] for a in blocks(table, "attribute")} == {"deviceId": "S", "_readingId": "S"}
    assert table["billing_mode"] == "PAY_PER_REQUEST"
    assert block(table, "point_in_time_recovery") == {"enabled": True}
    assert block(table, "server_side_encryption") == {"enabled": True, "kms_key_arn": "${module.data_key.arn}"}
    assert "data_key" in calls_of(consumer(), KMS_KEY_MODULE)


def test_dead_letter_queue_is_encrypted_with_the_cmk():
    queue = consumer().resource("aws_sqs_queue", "dead_letter")
    assert queue["kms_master_key_id"] == "${module.data_key.arn}"
    assert queue["message_retention_seconds"] == "${var.settings.dlq_message_retention_seconds}"


def test_dead_letter_queue_takes_the_messages_the_consumer_sends():
    # sensor-consumer's dlq::MAX_MESSAGE_BYTES: letters and batches stay within it.
    queue = consumer().resource("aws_sqs_queue", "dead_letter")
    assert queue["max_message_size"] == 262144


def test_scram_secret_is_encrypted_and_write_only():
    config = consumer()
    assert config.resource("aws_secretsmanager_secret", "kafka_scram")["kms_key_id"] == "${module.data_key.arn}"
    version = config.resource("aws_secretsmanager_secret_version", "kafka_scram")
    assert "secret_string" not in version
    assert "var.kafka_scram_password" in version["secret_string_wo"]
    assert version["secret_string_wo_version"] == "${var.settings.kafka_scram_password_version}"
