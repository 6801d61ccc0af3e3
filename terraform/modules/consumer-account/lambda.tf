# The consumer Lambda: decodes Glue-framed Avro through the producer's registry (assumed role) and
# writes readings to DynamoDB; poison records go to the dead-letter queue.

resource "aws_cloudwatch_log_group" "lambda" {
  name              = "/aws/lambda/${local.name}"
  retention_in_days = var.settings.log_retention_days
  kms_key_id        = aws_kms_key.this.arn

  # The logs service may use the key only once the key policy admits it.
  depends_on = [aws_kms_key_policy.this]

  tags = local.tags
}

resource "aws_lambda_function" "consumer" {
  #checkov:skip=CKV_AWS_116:The event source mapping invokes the consumer synchronously; failed batches are retried by the mapping and end in its on-failure destination (the dead-letter queue), so an asynchronous-invocation DLQ would never be used.
  #checkov:skip=CKV_AWS_272:The artifact is built locally by cargo lambda (scripts/build-lambdas.sh) and deployed from this configuration; there is no AWS Signer signing profile in this pipeline.
  function_name = local.name
  description   = "Kafka records from ${var.producer.topic} -> assumed-role schema lookup -> readings in DynamoDB"
  role          = aws_iam_role.lambda.arn

  filename         = var.lambda_zip_path
  source_code_hash = filebase64sha256(var.lambda_zip_path)
  runtime          = "provided.al2023"
  handler          = "bootstrap"
  architectures    = ["x86_64"]

  memory_size                    = var.settings.lambda_memory_size
  timeout                        = var.settings.lambda_timeout
  reserved_concurrent_executions = var.settings.lambda_reserved_concurrency
  kms_key_arn                    = aws_kms_key.this.arn

  vpc_config {
    subnet_ids         = module.network.private_subnet_ids
    security_group_ids = [aws_security_group.lambda.id]
  }

  environment {
    variables = {
      SCHEMA_READER_ROLE_ARN    = var.producer.schema_reader_role_arn
      SCHEMA_READER_EXTERNAL_ID = var.producer.schema_reader_external_id
      PRODUCER_REGION           = local.producer_region
      READINGS_TABLE            = aws_dynamodb_table.readings.name
      AGGREGATES_TABLE          = aws_dynamodb_table.aggregates.name
      AGGREGATE_WINDOW_SECONDS  = tostring(var.settings.aggregate_window_seconds)
      DEAD_LETTER_QUEUE_URL     = aws_sqs_queue.dead_letter.url
      SCHEMA_CACHE_CAPACITY     = tostring(var.settings.schema_cache_capacity)
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
