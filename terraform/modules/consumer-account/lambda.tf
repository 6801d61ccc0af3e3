# The consumer Lambda: decodes Glue-framed Avro through the producer's registry (assumed role) and
# writes readings to DynamoDB; poison records go to the dead-letter queue. Its execution role is
# also the event source mapping's (esm.tf).

module "lambda" {
  source = "../lambda-function"

  name        = local.name
  description = "Kafka records from ${var.producer.topic} -> assumed-role schema lookup -> readings in DynamoDB"
  zip_path    = var.lambda_zip_path
  kms_key_arn = module.data_key.arn
  tags        = local.tags

  role_description = "Execution role of the ${local.name} Lambda and its Kafka event source mapping"
  policy_name      = "consume-sensor-readings"
  policy_json      = data.aws_iam_policy_document.consumer_lambda.json

  memory_size           = var.settings.lambda_memory_size
  timeout               = var.settings.lambda_timeout
  reserved_concurrency  = var.settings.lambda_reserved_concurrency
  log_retention_days    = var.settings.log_retention_days
  application_log_level = var.settings.lambda_application_log_level
  system_log_level      = var.settings.lambda_system_log_level

  vpc_id                     = module.network.vpc_id
  subnet_ids                 = module.network.private_subnet_ids
  security_group_description = "Consumer Lambda: HTTPS to the interface endpoints and DynamoDB"

  environment = {
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
