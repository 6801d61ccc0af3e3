output "account_id" {
  description = "Producer account ID."
  value       = local.account_id
}

output "region" {
  description = "Region of the producer account's resources (PRODUCER_REGION of the consumer)."
  value       = local.region
}

output "availability_zone_ids" {
  description = "Zone IDs of the producer subnets and broker NLBs. The consumer's interface endpoints must use these zones."
  value       = local.az_ids
}

output "vpc_id" {
  description = "Producer VPC ID."
  value       = module.network.vpc_id
}

output "private_subnet_ids" {
  description = "Producer private subnet IDs."
  value       = module.network.private_subnet_ids
}

output "msk_cluster_arn" {
  description = "ARN of the MSK cluster."
  value       = aws_msk_cluster.this.arn
}

output "msk_cluster_name" {
  description = "Name of the MSK cluster."
  value       = aws_msk_cluster.this.cluster_name
}

output "bootstrap_brokers_sasl_iam" {
  description = "SASL/IAM bootstrap list (port 9098) inside the producer VPC."
  value       = aws_msk_cluster.this.bootstrap_brokers_sasl_iam
}

output "bootstrap_brokers_sasl_scram" {
  description = "SASL/SCRAM bootstrap list (port 9096): the same names the consumer resolves to its endpoints."
  value       = aws_msk_cluster.this.bootstrap_brokers_sasl_scram
}

output "kafka_scram_port" {
  description = "Port of the consumer-facing SASL/SCRAM listener."
  value       = local.scram_port
}

output "brokers" {
  description = "Broker map entries: broker_id, endpoint_url (broker host name), broker_port, service_name (VPC endpoint service). Known once the SCRAM secret is associated and the broker NLBs forward, so a consumer that uses it starts polling only then."
  value       = local.brokers

  depends_on = [
    aws_msk_scram_secret_association.this,
    aws_secretsmanager_secret_policy.scram,
    aws_lb_listener.broker,
    aws_lb_target_group_attachment.broker,
  ]
}

output "endpoint_service_names" {
  description = "VPC endpoint service name per broker, in broker-ID order."
  value       = aws_vpc_endpoint_service.broker[*].service_name
}

output "broker_secret_arn" {
  description = "ARN of the broker-map secret (readable by the consumer account and the cross-account role)."
  value       = aws_secretsmanager_secret.broker_map.arn
}

output "broker_secret_kms_key_arn" {
  description = "CMK of the broker-map secret."
  value       = module.broker_map_key.arn
}

output "schema_reader_role_arn" {
  description = "ARN of the cross-account schema reader role (SCHEMA_READER_ROLE_ARN). Known before the role exists, so the consumer can be applied first time round."
  value       = var.create_schema_reader_role ? aws_iam_role.schema_reader[0].arn : local.schema_reader_role_arn
}

output "schema_reader_role_created" {
  description = "Whether the cross-account role exists yet (false after the first pass of a split deployment)."
  value       = var.create_schema_reader_role
}

output "schema_reader_external_id" {
  description = "External ID for the cross-account role (SCHEMA_READER_EXTERNAL_ID)."
  value       = var.settings.schema_reader_external_id
}

output "registry_name" {
  description = "Glue registry name (REGISTRY_NAME)."
  value       = aws_glue_registry.this.registry_name
}

output "registry_arn" {
  description = "Glue registry ARN."
  value       = aws_glue_registry.this.arn
}

output "schema_name" {
  description = "Glue schema name (SCHEMA_NAME)."
  value       = var.settings.schema_name
}

output "topic" {
  description = "Kafka topic."
  value       = var.settings.topic
}

output "kafka_scram_username" {
  description = "SASL/SCRAM user name of the consumer's event source mapping."
  value       = var.settings.kafka_scram_username
}

output "producer_function_name" {
  description = "Name of the producer Lambda (for `aws lambda invoke`)."
  value       = module.lambda.function_name
}

output "producer_function_arn" {
  description = "ARN of the producer Lambda."
  value       = module.lambda.function_arn
}

output "producer_lambda_role_arn" {
  description = "Execution role of the producer Lambda."
  value       = module.lambda.role_arn
}

output "kafka_acls" {
  description = "The Kafka ACLs the consumer's SCRAM user needs when kafka_allow_everyone_if_no_acl_found is false: read and describe the topic, read its consumer group. Kafka admin calls, not AWS APIs: create them with kafka-acls.sh (terraform/README.md)."
  value       = local.kafka_acls
}

output "kafka_acl_commands" {
  description = "kafka-acls.sh arguments that create kafka_acls (add --bootstrap-server and --command-config of an IAM-authenticated admin client)."
  value = [
    for acl in local.kafka_acls :
    "--add --allow-principal ${acl.principal} --operation ${acl.operation} --${acl.resource_type} ${acl.resource_name} --resource-pattern-type ${lower(acl.pattern_type)}"
  ]
}

output "settings" {
  description = "The module's settings with every default filled in. A root compares its keys with its own input to refuse misspelt attributes, which Terraform would otherwise drop."
  value       = var.settings
}
