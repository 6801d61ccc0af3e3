output "account_id" {
  description = "Consumer account ID."
  value       = local.account_id
}

output "lambda_role_arn" {
  description = "Execution role of the consumer Lambda: the producer's consumer_lambda_role_arn (the only principal its schema reader role trusts)."
  value       = module.lambda.role_arn
}

output "consumer_function_name" {
  description = "Name of the consumer Lambda."
  value       = module.lambda.function_name
}

output "consumer_function_arn" {
  description = "ARN of the consumer Lambda."
  value       = module.lambda.function_arn
}

output "event_source_mapping_uuid" {
  description = "UUID of the Kafka event source mapping (`aws lambda get-event-source-mapping --uuid ...` shows its state)."
  value       = aws_lambda_event_source_mapping.kafka.uuid
}

output "kafka_bootstrap_servers" {
  description = "Bootstrap list of the event source mapping (broker names resolved by the private hosted zone)."
  value       = local.bootstrap_servers
}

output "consumer_group_id" {
  description = "Kafka consumer group of the event source mapping."
  value       = local.consumer_group_id
}

output "readings_table_name" {
  description = "DynamoDB table of the readings (READINGS_TABLE)."
  value       = aws_dynamodb_table.readings.name
}

output "readings_table_arn" {
  description = "ARN of the readings table."
  value       = aws_dynamodb_table.readings.arn
}

output "aggregates_table_name" {
  description = "DynamoDB table of the per-device windowed aggregates (AGGREGATES_TABLE)."
  value       = aws_dynamodb_table.aggregates.name
}

output "aggregates_table_arn" {
  description = "ARN of the aggregates table."
  value       = aws_dynamodb_table.aggregates.arn
}

output "dead_letter_queue_url" {
  description = "URL of the dead-letter queue (DEAD_LETTER_QUEUE_URL)."
  value       = aws_sqs_queue.dead_letter.url
}

output "dead_letter_queue_arn" {
  description = "ARN of the dead-letter queue."
  value       = aws_sqs_queue.dead_letter.arn
}

output "kafka_scram_secret_arn" {
  description = "Secret holding the event source mapping's SASL/SCRAM credentials."
  value       = aws_secretsmanager_secret.kafka_scram.arn
}

output "vpc_id" {
  description = "Consumer VPC ID."
  value       = module.network.vpc_id
}

output "private_subnet_ids" {
  description = "Consumer private subnet IDs."
  value       = module.network.private_subnet_ids
}

output "broker_endpoint_ids" {
  description = "Interface endpoint per broker ID."
  value       = { for id, ep in aws_vpc_endpoint.broker : id => ep.id }
}

output "kafka_private_zone_id" {
  description = "Private hosted zone that maps the broker names to the endpoints."
  value       = aws_route53_zone.kafka.zone_id
}

output "settings" {
  description = "The module's settings with every default filled in. A root compares its keys with its own input to refuse misspelt attributes, which Terraform would otherwise drop."
  value       = var.settings
}
