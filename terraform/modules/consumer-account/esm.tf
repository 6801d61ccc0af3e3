# Self-managed Kafka event source mapping: the pollers run in this VPC (subnets + the esm security
# group), resolve the broker names through the private hosted zone, and authenticate with
# SASL/SCRAM-SHA-512 over TLS.
#
# No function_response_types: the function dead-letters poison records itself and fails the whole
# invocation on outages so that the mapping retries the batch (its writes are idempotent).

resource "aws_lambda_event_source_mapping" "kafka" {
  function_name                      = aws_lambda_function.consumer.arn
  topics                             = [var.topic]
  starting_position                  = var.starting_position
  batch_size                         = var.batch_size
  maximum_batching_window_in_seconds = var.maximum_batching_window_in_seconds
  enabled                            = true

  self_managed_event_source {
    endpoints = {
      KAFKA_BOOTSTRAP_SERVERS = local.bootstrap_servers
    }
  }

  self_managed_kafka_event_source_config {
    consumer_group_id = local.consumer_group_id
  }

  dynamic "source_access_configuration" {
    for_each = aws_subnet.private[*].id

    content {
      type = "VPC_SUBNET"
      uri  = "subnet:${source_access_configuration.value}"
    }
  }

  source_access_configuration {
    type = "VPC_SECURITY_GROUP"
    uri  = "security_group:${aws_security_group.esm.id}"
  }

  source_access_configuration {
    type = "SASL_SCRAM_512_AUTH"
    uri  = aws_secretsmanager_secret.kafka_scram.arn
  }

  destination_config {
    on_failure {
      destination_arn = aws_sqs_queue.dead_letter.arn
    }
  }

  depends_on = [
    aws_iam_role_policy.lambda,
    aws_iam_role_policy_attachment.lambda_vpc,
    aws_secretsmanager_secret_version.kafka_scram,
    aws_route53_record.broker,
    aws_vpc_endpoint.broker,
    aws_vpc_endpoint.interface,
    aws_vpc_security_group_egress_rule.esm_to_kafka_endpoints,
    aws_vpc_security_group_egress_rule.esm_to_endpoints,
  ]

  tags = local.tags
}
