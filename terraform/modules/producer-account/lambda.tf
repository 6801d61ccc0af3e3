# The producer Lambda: in the VPC, SASL/IAM to MSK, Glue through the interface endpoint.
# It gets the IAM bootstrap list directly; the broker map describes the consumer-facing SCRAM
# listener and is for the consumer account only: the producer has no access to that secret.

resource "aws_security_group" "lambda" {
  name        = "${local.name}-lambda"
  description = "Producer Lambda: Kafka SASL/IAM to the brokers, HTTPS to the interface endpoints"
  vpc_id      = module.network.vpc_id

  tags = merge(local.tags, { Name = "${local.name}-lambda" })
}

resource "aws_vpc_security_group_egress_rule" "lambda_to_msk" {
  security_group_id            = aws_security_group.lambda.id
  referenced_security_group_id = aws_security_group.msk.id
  ip_protocol                  = "tcp"
  from_port                    = local.iam_port
  to_port                      = local.iam_port
  description                  = "Kafka SASL/IAM over TLS to the brokers"
}

resource "aws_vpc_security_group_egress_rule" "lambda_to_endpoints" {
  security_group_id            = aws_security_group.lambda.id
  referenced_security_group_id = module.network.endpoints_security_group_id
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  description                  = "HTTPS to the interface endpoints (Glue)"
}

resource "aws_cloudwatch_log_group" "lambda" {
  name              = "/aws/lambda/${local.name}"
  retention_in_days = var.settings.log_retention_days
  kms_key_id        = aws_kms_key.data.arn

  # The logs service may use the key only once the key policy admits it.
  depends_on = [aws_kms_key_policy.data]

  tags = local.tags
}

resource "aws_lambda_function" "producer" {
  #checkov:skip=CKV_AWS_116:Callers invoke the producer synchronously and get the failure back (HTTP-style status, Lambda error for retryable outages); the optional schedule sends the constant event {}, so a failed asynchronous invocation carries no data worth a dead-letter queue.
  #checkov:skip=CKV_AWS_272:The artifact is built locally by cargo lambda (scripts/build-lambdas.sh) and deployed from this configuration; there is no AWS Signer signing profile in this pipeline.
  function_name = local.name
  description   = "JSON sensor events -> inferred, registered Avro schema -> Glue-framed records on ${var.settings.topic}"
  role          = aws_iam_role.lambda.arn

  filename         = var.lambda_zip_path
  source_code_hash = filebase64sha256(var.lambda_zip_path)
  runtime          = "provided.al2023"
  handler          = "bootstrap"
  architectures    = ["x86_64"]

  memory_size                    = var.settings.lambda_memory_size
  timeout                        = var.settings.lambda_timeout
  reserved_concurrent_executions = var.settings.lambda_reserved_concurrency
  kms_key_arn                    = aws_kms_key.data.arn

  vpc_config {
    subnet_ids         = module.network.private_subnet_ids
    security_group_ids = [aws_security_group.lambda.id]
  }

  environment {
    variables = {
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

  # JSON records: Lambda reads each record's level and keeps only those at or above the
  # configured levels (the function's own records, and the platform's).
  logging_config {
    log_format            = "JSON"
    log_group             = aws_cloudwatch_log_group.lambda.name
    application_log_level = var.settings.lambda_application_log_level
    system_log_level      = var.settings.lambda_system_log_level
  }

  tracing_config {
    mode = "Active"
  }

  depends_on = [aws_iam_role_policy.lambda]

  tags = local.tags
}
