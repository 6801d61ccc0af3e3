output "account_id" {
  description = "Consumer account ID."
  value       = module.consumer.account_id

  # Terraform drops attributes the module's settings do not declare; refuse them instead.
  precondition {
    condition     = length(setsubtract(keys(var.consumer), keys(module.consumer.settings))) == 0
    error_message = "consumer sets an attribute the consumer module does not have (see settings in modules/consumer-account/variables.tf)."
  }
}

output "lambda_role_arn" {
  description = "Consumer Lambda role: the producer's consumer_lambda_role_arn for its second apply."
  value       = module.consumer.lambda_role_arn
}

output "consumer_function_name" {
  description = "Consumer Lambda."
  value       = module.consumer.consumer_function_name
}

output "event_source_mapping_uuid" {
  description = "Kafka event source mapping (`aws lambda get-event-source-mapping --uuid ...`)."
  value       = module.consumer.event_source_mapping_uuid
}

output "kafka_bootstrap_servers" {
  description = "Bootstrap list of the event source mapping."
  value       = module.consumer.kafka_bootstrap_servers
}

output "readings_table_name" {
  description = "DynamoDB table of the readings."
  value       = module.consumer.readings_table_name
}

output "aggregates_table_name" {
  description = "DynamoDB table of the per-device windowed aggregates."
  value       = module.consumer.aggregates_table_name
}

output "dead_letter_queue_url" {
  description = "Dead-letter queue."
  value       = module.consumer.dead_letter_queue_url
}

output "kafka_scram_secret_arn" {
  description = "Secret of the event source mapping's SASL/SCRAM credentials."
  value       = module.consumer.kafka_scram_secret_arn
}

output "broker_endpoint_ids" {
  description = "Interface endpoint per broker ID."
  value       = module.consumer.broker_endpoint_ids
}
