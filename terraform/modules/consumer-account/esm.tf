# Self-managed Kafka event source mapping: the pollers run in this VPC (subnets + the esm security
# group), resolve the broker names through the private hosted zone, and authenticate with
# SASL/SCRAM-SHA-512 over TLS.
#
# No function_response_types: the function dead-letters poison records itself and fails the whole
# invocation on outages so that the mapping retries the batch (its writes are idempotent).
#
# Two poller modes (terraform/README.md, "Event source mapping"):
#  - on demand (provisioned_pollers = null): Lambda retries a failing batch until its records leave
#    the topic's retention; the on-failure destination receives a batch only then.
#  - provisioned (minimum/maximum pollers): the Kafka error-handling controls apply as well
#    (maximum_retry_attempts, maximum_record_age_in_seconds, bisect_batch_on_function_error); a
#    batch that exhausts them is sent to the on-failure destination and the partition moves on.
#    Lambda accepts those three for Kafka sources in provisioned mode only, so they are not sent
#    otherwise.

locals {
  provisioned = var.settings.provisioned_pollers != null
}

resource "aws_lambda_event_source_mapping" "kafka" {
  function_name                      = module.lambda.function_arn
  topics                             = [var.producer.topic]
  starting_position                  = var.settings.starting_position
  batch_size                         = var.settings.batch_size
  maximum_batching_window_in_seconds = var.settings.maximum_batching_window_in_seconds
  enabled                            = true

  maximum_retry_attempts         = local.provisioned ? var.settings.maximum_retry_attempts : null
  maximum_record_age_in_seconds  = local.provisioned ? var.settings.maximum_record_age_in_seconds : null
  bisect_batch_on_function_error = local.provisioned ? var.settings.bisect_batch_on_function_error : null

  dynamic "provisioned_poller_config" {
    for_each = local.provisioned ? [var.settings.provisioned_pollers] : []

    content {
      minimum_pollers = provisioned_poller_config.value.minimum
      maximum_pollers = provisioned_poller_config.value.maximum
    }
  }

  self_managed_event_source {
    endpoints = {
      KAFKA_BOOTSTRAP_SERVERS = local.bootstrap_servers
    }
  }

  self_managed_kafka_event_source_config {
    consumer_group_id = local.consumer_group_id
  }

  dynamic "source_access_configuration" {
    for_each = module.network.private_subnet_ids

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

  # The brokers (var.producer.brokers) come from the producer's output, which is ready only once the
  # producer's SCRAM secret is associated with the cluster and the broker NLBs' listeners and
  # target attachments exist.
  depends_on = [
    module.lambda,
    aws_secretsmanager_secret_version.kafka_scram,
    aws_route53_record.broker,
    aws_vpc_endpoint.broker,
    module.network,
    aws_vpc_security_group_egress_rule.esm_to_kafka_endpoints,
    aws_vpc_security_group_egress_rule.esm_to_endpoints,
  ]

  tags = local.tags
}
