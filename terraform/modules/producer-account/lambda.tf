# The producer Lambda: in the VPC, SASL/IAM to MSK, Glue through the interface endpoint.
# It gets the IAM bootstrap list directly; the broker map describes the consumer-facing SCRAM
# listener and is for the consumer account only: the producer has no access to that secret.

module "lambda" {
  source = "../lambda-function"

  name        = local.name
  description = "JSON sensor events -> inferred, registered Avro schema -> Glue-framed records on ${var.settings.topic}"
  zip_path    = var.lambda_zip_path
  kms_key_arn = module.data_key.arn
  tags        = local.tags

  role_description = "Execution role of the ${local.name} Lambda"
  policy_name      = "produce-sensor-readings"
  policy_json      = data.aws_iam_policy_document.producer_lambda.json

  memory_size           = var.settings.lambda_memory_size
  timeout               = var.settings.lambda_timeout
  reserved_concurrency  = var.settings.lambda_reserved_concurrency
  log_retention_days    = var.settings.log_retention_days
  application_log_level = var.settings.lambda_application_log_level
  system_log_level      = var.settings.lambda_system_log_level

  vpc_id                     = module.network.vpc_id
  subnet_ids                 = module.network.private_subnet_ids
  security_group_description = "Producer Lambda: Kafka SASL/IAM to the brokers, HTTPS to the interface endpoints"

  environment = {
    KAFKA_BOOTSTRAP_SERVERS = aws_msk_cluster.this.bootstrap_brokers_sasl_iam
    KAFKA_SECURITY_PROTOCOL = "SASL_SSL"
    KAFKA_TOPIC             = var.settings.topic
    REGISTRY_NAME           = aws_glue_registry.this.registry_name
    SCHEMA_NAME             = var.settings.schema_name
    DEVICE_ID               = var.settings.device_id
    SCHEMA_COMPATIBILITY    = var.settings.schema_compatibility
    ZLIB_COMPRESSION        = tostring(var.settings.zlib_compression)
    EVENT_ENVELOPE          = tostring(var.settings.event_envelope)
  }
}

resource "aws_vpc_security_group_egress_rule" "lambda_to_msk" {
  security_group_id            = module.lambda.security_group_id
  referenced_security_group_id = aws_security_group.msk.id
  ip_protocol                  = "tcp"
  from_port                    = local.iam_port
  to_port                      = local.iam_port
  description                  = "Kafka SASL/IAM over TLS to the brokers"
}

resource "aws_vpc_security_group_egress_rule" "lambda_to_endpoints" {
  security_group_id            = module.lambda.security_group_id
  referenced_security_group_id = module.network.endpoints_security_group_id
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  description                  = "HTTPS to the interface endpoints (Glue)"
}
