# Everything the consumer account needs (see ../consumer/terraform.tfvars.example), and what a
# user needs to drive the producer.

output "account_id" {
  description = "Producer account ID."
  value       = module.producer.account_id

  # Terraform drops attributes the module's settings do not declare; refuse them instead.
  precondition {
    condition     = length(setsubtract(keys(var.producer), concat(keys(module.producer.settings), ["consumer_lambda_role_arn", "consumer_group_id"]))) == 0
    error_message = "producer sets an attribute the producer module does not have (see settings in modules/producer-account/variables.tf)."
  }
}

output "region" {
  description = "Producer region (the consumer's producer.region)."
  value       = module.producer.region
}

output "availability_zone_ids" {
  description = "Zone IDs of the broker NLBs (the consumer's producer.availability_zone_ids)."
  value       = module.producer.availability_zone_ids
}

output "schema_reader_role_arn" {
  description = "Cross-account schema reader role (the consumer's producer.schema_reader_role_arn)."
  value       = module.producer.schema_reader_role_arn
}

output "schema_reader_role_created" {
  description = "False until the second producer apply has created the cross-account role."
  value       = module.producer.schema_reader_role_created
}

output "schema_reader_external_id" {
  description = "External ID of the cross-account role (the consumer's producer.schema_reader_external_id)."
  value       = module.producer.schema_reader_external_id
}

output "broker_secret_arn" {
  description = "Broker-map secret (the consumer's producer.broker_secret_arn)."
  value       = module.producer.broker_secret_arn
}

output "brokers" {
  description = "Broker map entries: broker_id, endpoint_url, broker_port, service_name (the consumer's producer.brokers)."
  value       = module.producer.brokers
}

output "endpoint_service_names" {
  description = "VPC endpoint service per broker."
  value       = module.producer.endpoint_service_names
}

output "topic" {
  description = "Kafka topic (the consumer's producer.topic)."
  value       = module.producer.topic
}

output "kafka_scram_username" {
  description = "SASL/SCRAM user (the consumer's producer.kafka_scram_username)."
  value       = module.producer.kafka_scram_username
}

output "kafka_acls" {
  description = "Kafka ACLs the consumer's SCRAM user needs while kafka_allow_everyone_if_no_acl_found is false (create them with kafka-acls.sh, terraform/README.md)."
  value       = module.producer.kafka_acls
}

output "kafka_acl_commands" {
  description = "kafka-acls.sh arguments that create kafka_acls (add the IAM admin client's --bootstrap-server and --command-config)."
  value       = module.producer.kafka_acl_commands
}

output "kafka_scram_port" {
  description = "Port of the consumer-facing SASL/SCRAM listener."
  value       = module.producer.kafka_scram_port
}

output "registry_name" {
  description = "Glue registry name."
  value       = module.producer.registry_name
}

output "schema_name" {
  description = "Glue schema name."
  value       = module.producer.schema_name
}

output "msk_cluster_arn" {
  description = "MSK cluster ARN."
  value       = module.producer.msk_cluster_arn
}

output "bootstrap_brokers_sasl_iam" {
  description = "SASL/IAM bootstrap list inside the producer VPC."
  value       = module.producer.bootstrap_brokers_sasl_iam
}

output "producer_function_name" {
  description = "Producer Lambda (for `aws lambda invoke`)."
  value       = module.producer.producer_function_name
}
