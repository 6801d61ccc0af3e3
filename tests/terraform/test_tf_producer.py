"""Security invariants of the producer account."""

from __future__ import annotations

import re

from tfhelpers import (
    KMS_KEY_MODULE,
    PRODUCER_MODULE,
    ROOTS,
    block,
    blocks,
    calls_of,
    function_of,
    load_dir,
    producer,
    role_statements,
    setting,
    statements,
)

# The consumer's code reads writer schemas by SchemaVersionId through the role, nothing else
# (test_tf_least_privilege.py derives this from the Rust code).
CONSUMER_ROLE_ACTIONS = {"glue:GetSchemaVersion"}


def _actions(document):
    return [a for s in statements(document) for a in s["actions"]]


# --- Cross-account role ------------------------------------------------------------------------


def test_trust_policy_trusts_only_the_consumer_lambda_role_with_the_external_id():
    document = producer().data_source("aws_iam_policy_document", "schema_reader_trust")
    (statement,) = statements(document)
    assert statement["effect"] == "Allow"
    assert statement["actions"] == ["sts:AssumeRole"]
    (principal,) = blocks(statement, "principals")
    assert principal == {"type": "AWS", "identifiers": ["${var.consumer_lambda_role_arn}"]}
    (condition,) = blocks(statement, "condition")
    assert condition == {
        "test": "StringEquals",
        "variable": "sts:ExternalId",
        "values": ["${var.settings.schema_reader_external_id}"],
    }
    assert "not_principals" not in statement and "not_actions" not in statement


def test_cross_account_role_uses_the_trust_policy_and_the_read_only_policy():
    config = producer()
    role = config.resource("aws_iam_role", "schema_reader")
    assert role["assume_role_policy"] == "${data.aws_iam_policy_document.schema_reader_trust[0].json}"
    policy = config.resource("aws_iam_role_policy", "schema_reader")
    assert policy["policy"] == "${data.aws_iam_policy_document.schema_reader.json}"
    assert policy["role"] == "${aws_iam_role.schema_reader[0].id}"
    # No managed policy is attached to the cross-account role.
    for attachment in config.of_type("aws_iam_role_policy_attachment").values():
        assert "schema_reader" not in attachment["role"]


def test_cross_account_role_allows_exactly_the_schema_version_reads():
    document = producer().data_source("aws_iam_policy_document", "schema_reader")
    actions = _actions(document)
    assert sorted(actions) == sorted(CONSUMER_ROLE_ACTIONS), "duplicate or unexpected actions"
    for statement in statements(document):
        assert statement["effect"] == "Allow"
        assert "principals" not in statement


def test_cross_account_role_resources_are_scoped():
    config = producer()
    document = config.data_source("aws_iam_policy_document", "schema_reader")
    by_action = {a: s["resources"] for s in statements(document) for a in s["actions"]}
    assert by_action == {"glue:GetSchemaVersion": ["*"]}, "Glue allows nothing narrower for lookups by id"
    text = (PRODUCER_MODULE / "iam.tf").read_text()
    assert "broker_map" not in text.split('data "aws_iam_policy_document" "schema_reader"')[1].split("\n}\n")[0]


def test_cross_account_role_is_created_only_with_a_consumer_role_to_trust():
    config = producer()
    assert config.resource("aws_iam_role", "schema_reader")["count"] == "${var.create_schema_reader_role ? 1 : 0}"
    validation = config.variables["consumer_lambda_role_arn"]["validation"][0]["condition"]
    assert "!var.create_schema_reader_role" in validation


# --- PrivateLink -----------------------------------------------------------------------------------


def test_endpoint_services_admit_only_the_consumer_account():
    config = producer()
    services = config.of_type("aws_vpc_endpoint_service")
    assert list(services) == ["broker"]
    service = services["broker"]
    assert service["allowed_principals"] == ["${local.consumer_account_root_arn}"]
    assert config.locals["consumer_account_root_arn"] == "arn:${local.partition}:iam::${var.settings.consumer_account_id}:root"
    assert service["acceptance_required"] is False
    assert service["count"] == "${local.broker_count}"
    assert service["network_load_balancer_arns"] == ["${aws_lb.broker[count.index].arn}"]
    assert not config.of_type("aws_vpc_endpoint_service_allowed_principal"), "principals are managed in one place"


def test_one_internal_nlb_per_broker_forwarding_the_scram_listener():
    config = producer()
    nlb = config.resource("aws_lb", "broker")
    assert nlb["count"] == "${local.broker_count}"
    assert nlb["internal"] is True
    assert nlb["load_balancer_type"] == "network"
    listener = config.resource("aws_lb_listener", "broker")
    assert listener["protocol"] == "TCP"
    assert listener["port"] == "${local.scram_port}"
    group = config.resource("aws_lb_target_group", "broker")
    assert (group["protocol"], group["target_type"], group["port"]) == ("TCP", "ip", "${local.scram_port}")
    attachment = config.resource("aws_lb_target_group_attachment", "broker")
    assert "client_vpc_ip_address" in attachment["target_id"]
    assert config.locals["scram_port"] == 9096
    assert config.locals["iam_port"] == 9098


def test_brokers_accept_scram_only_from_the_nlbs_and_iam_only_from_the_lambda():
    config = producer()
    rules = config.of_type("aws_vpc_security_group_ingress_rule")
    to_msk = {name: r for name, r in rules.items() if r["security_group_id"] == "${aws_security_group.msk.id}"}
    sources = {(r["from_port"], r["to_port"], r["referenced_security_group_id"]) for r in to_msk.values()}
    assert sources == {
        ("${local.scram_port}", "${local.scram_port}", "${aws_security_group.nlb.id}"),
        ("${local.iam_port}", "${local.iam_port}", "${module.lambda.security_group_id}"),
    }
    for rule in rules.values():
        assert "cidr_ipv4" not in rule and "cidr_ipv6" not in rule, "no CIDR-wide ingress"


# --- Broker-map secret -------------------------------------------------------------------------


def test_broker_map_secret_is_encrypted_with_its_own_cmk():
    config = producer()
    secret = config.resource("aws_secretsmanager_secret", "broker_map")
    assert secret["kms_key_id"] == "${module.broker_map_key.arn}"
    key = calls_of(config, KMS_KEY_MODULE)["broker_map_key"]
    assert key.resource("aws_kms_key", "this")["enable_key_rotation"] is True
    assert key.resource("aws_kms_alias", "this")["name"] == "alias/${local.name}-broker-map"
    # Its own key: the data key does not admit the consumer account.
    data_key = calls_of(config, KMS_KEY_MODULE)["data_key"]
    for statement in statements(data_key.data_source("aws_iam_policy_document", "this")):
        assert "${local.consumer_account_root_arn}" not in str(statement)


def test_broker_map_secret_policy_admits_only_the_consumer_account_to_read():
    config = producer()
    policy = config.resource("aws_secretsmanager_secret_policy", "broker_map")
    assert policy["policy"] == "${data.aws_iam_policy_document.broker_map_secret.json}"
    assert policy["block_public_policy"] is True
    (statement,) = statements(config.data_source("aws_iam_policy_document", "broker_map_secret"))
    assert statement["effect"] == "Allow"
    assert sorted(statement["actions"]) == ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"]
    assert statement["resources"] == ["${aws_secretsmanager_secret.broker_map.arn}"]
    assert blocks(statement, "principals") == [{"type": "AWS", "identifiers": ["${local.consumer_account_root_arn}"]}]


def test_broker_map_key_lets_the_consumer_account_decrypt_only_through_secrets_manager():
    key = calls_of(producer(), KMS_KEY_MODULE)["broker_map_key"]
    assert key.resource("aws_kms_key_policy", "this")["policy"] == "${data.aws_iam_policy_document.this.json}"
    document = key.data_source("aws_iam_policy_document", "this")
    foreign = [
        s for s in statements(document)
        if blocks(s, "principals")[0]["identifiers"] == ["${local.consumer_account_root_arn}"]
    ]
    (statement,) = foreign
    assert sorted(statement["actions"]) == ["kms:Decrypt", "kms:DescribeKey"]
    (condition,) = blocks(statement, "condition")
    assert condition["variable"] == "kms:ViaService"
    assert condition["values"] == ["secretsmanager.${local.region}.amazonaws.com"]


def test_broker_map_has_the_contract_shape():
    config = producer()
    broker_map = config.locals["broker_map"]
    assert set(broker_map) == {"bootstrap_servers", "security_protocol", "sasl_mechanism", "topic", "brokers"}
    assert broker_map["security_protocol"] == "SASL_SSL"
    # The consumer-facing listener the endpoints front is SCRAM's (port 9096), not IAM's.
    assert broker_map["sasl_mechanism"] == "SCRAM-SHA-512"
    assert broker_map["topic"] == "${var.settings.topic}"
    assert broker_map["brokers"] == "${local.brokers}"
    entry = config.locals["brokers"]
    for key in ("broker_id", "endpoint_url", "broker_port", "service_name"):
        assert re.search(rf"\b{key}\s*=", entry), f"broker entries lack {key}"
    assert "aws_vpc_endpoint_service.broker[i].service_name" in entry
    secret_version = config.resource("aws_secretsmanager_secret_version", "broker_map")
    assert secret_version["secret_string"] == "${jsonencode(local.broker_map)}"


# --- MSK ----------------------------------------------------------------------------------------------


def test_msk_is_tls_only_with_sasl_iam_and_scram_and_no_unauthenticated_access():
    cluster = producer().resource("aws_msk_cluster", "this")
    auth = block(cluster, "client_authentication")
    assert auth["unauthenticated"] is False
    assert block(auth, "sasl") == {"iam": True, "scram": True}
    assert "tls" not in auth
    encryption = block(cluster, "encryption_info")
    transit = block(encryption, "encryption_in_transit")
    assert transit == {"client_broker": "TLS", "in_cluster": True}
    assert encryption["encryption_at_rest_kms_key_arn"] == "${module.data_key.arn}"


def test_msk_brokers_are_private_and_log_to_cloudwatch_with_retention():
    config = producer()
    cluster = config.resource("aws_msk_cluster", "this")
    nodes = block(cluster, "broker_node_group_info")
    assert block(block(nodes, "connectivity_info"), "public_access") == {"type": "DISABLED"}
    logs = block(block(block(cluster, "logging_info"), "broker_logs"), "cloudwatch_logs")
    assert logs == {"enabled": True, "log_group": "${aws_cloudwatch_log_group.msk.name}"}
    group = config.resource("aws_cloudwatch_log_group", "msk")
    assert group["retention_in_days"] == "${var.settings.log_retention_days}"
    assert group["kms_key_id"] == "${module.data_key.arn}"


def test_kafka_version_is_pinned():
    default = setting(producer(), "settings.kafka_version")[0]
    assert re.fullmatch(r'"\d+\.\d+\.(\d+|x)"', default), default
    assert producer().resource("aws_msk_cluster", "this")["kafka_version"] == "${var.settings.kafka_version}"


def test_scram_secret_is_associated_and_its_value_is_write_only():
    config = producer()
    secret = config.resource("aws_secretsmanager_secret", "scram")
    assert secret["name"].startswith("AmazonMSK_"), "MSK only accepts AmazonMSK_ secrets"
    assert secret["kms_key_id"] == "${module.data_key.arn}", "MSK rejects the default key"
    version = config.resource("aws_secretsmanager_secret_version", "scram")
    assert "secret_string" not in version and "secret_string_wo" in version
    assert "var.kafka_scram_password" in version["secret_string_wo"]
    association = config.resource("aws_msk_scram_secret_association", "this")
    assert association["secret_arn_list"] == ["${aws_secretsmanager_secret.scram.arn}"]


# --- Producer Lambda ---------------------------------------------------------------------------


def test_producer_lambda_runtime_package_and_network():
    config = producer()
    view, function = function_of(config)
    assert function["runtime"] == "provided.al2023"
    assert function["handler"] == "bootstrap"
    assert function["architectures"] == ["x86_64"]
    assert function["filename"] == "${var.lambda_zip_path}"
    assert function["source_code_hash"] == "${filebase64sha256(var.lambda_zip_path)}"
    vpc = block(function, "vpc_config")
    assert vpc["subnet_ids"] == "${module.network.private_subnet_ids}"
    # Glue, the one AWS API the producer calls from its VPC, through an interface endpoint.
    assert config.modules["network"]["interface_endpoint_services"] == '${toset(["glue"])}'
    assert vpc["security_group_ids"] == ["${aws_security_group.this.id}"]
    assert view.resource("aws_security_group", "this")["vpc_id"] == "${module.network.vpc_id}"
    assert function["kms_key_arn"] == "${module.data_key.arn}"
    root = load_dir(ROOTS["producer"])
    assert root.variables["lambda_zip"]["default"] == "target/lambda/producer/bootstrap.zip"
    assert load_dir(ROOTS["both"]).variables["producer_lambda_zip"]["default"] == "target/lambda/producer/bootstrap.zip"


def test_producer_uses_msk_iam_auth_and_no_broker_secret():
    env = block(function_of(producer())[1], "environment")["variables"]
    assert env["KAFKA_BOOTSTRAP_SERVERS"] == "${aws_msk_cluster.this.bootstrap_brokers_sasl_iam}"
    assert env["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert "BROKER_SECRET_ARN" not in env
    assert not [a for s in role_statements(producer()) for a in s["actions"] if a.startswith("secretsmanager:")]


def test_producer_lambda_kafka_permissions_are_scoped_to_the_cluster_and_topic():
    config = producer()
    kafka = [s for s in role_statements(config) if any(a.startswith("kafka-cluster:") for a in s["actions"])]
    resources = {a: s["resources"] for s in kafka for a in s["actions"]}
    assert resources == {
        "kafka-cluster:Connect": ["${aws_msk_cluster.this.arn}"],
        "kafka-cluster:DescribeCluster": ["${aws_msk_cluster.this.arn}"],
        "kafka-cluster:WriteDataIdempotently": ["${aws_msk_cluster.this.arn}"],
        "kafka-cluster:CreateTopic": ["${local.topic_arn}"],
        "kafka-cluster:DescribeTopic": ["${local.topic_arn}"],
        "kafka-cluster:WriteData": ["${local.topic_arn}"],
    }
    assert config.locals["topic_arn"].endswith("/${var.settings.topic}")
    assert ":topic/" in config.locals["topic_arn"]


def test_producer_lambda_glue_permissions_are_scoped_to_the_registry():
    for statement in role_statements(producer()):
        glue = [a for a in statement["actions"] if a.startswith("glue:")]
        if not glue:
            continue
        if statement["resources"] == ["*"]:
            assert glue == ["glue:GetSchemaVersion"]
        else:
            assert statement["resources"] == ["${local.registry_arn}", "${local.schema_arn_pattern}"]
            assert "glue:DeleteSchema" not in glue and "glue:DeleteRegistry" not in glue


def test_schedule_is_optional_and_sends_the_empty_reading():
    config = producer()
    for rtype, name in (
        ("aws_cloudwatch_event_rule", "producer"),
        ("aws_cloudwatch_event_target", "producer"),
        ("aws_lambda_permission", "schedule"),
    ):
        assert config.resource(rtype, name)["count"] == "${var.settings.enable_schedule ? 1 : 0}"
    assert setting(config, "settings.enable_schedule")[0] == "false"
    assert config.resource("aws_cloudwatch_event_target", "producer")["input"] == "${jsonencode({})}"
    permission = config.resource("aws_lambda_permission", "schedule")
    assert permission["source_arn"] == "${aws_cloudwatch_event_rule.producer[0].arn}"
