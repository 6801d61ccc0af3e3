# Both accounts in one apply. Providers come from the repository's provider.tf (linked here as
# provider.tf); each module gets exactly one account's provider.
#
# The modules reference each other's outputs in both directions (the producer's role trusts the
# consumer's Lambda role; the consumer needs the producer's brokers and role), which Terraform
# resolves per resource: no resource depends on itself through the other account.

locals {
  repo_root = "${path.root}/.."

  producer_lambda_zip = startswith(var.producer_lambda_zip, "/") ? var.producer_lambda_zip : "${local.repo_root}/${var.producer_lambda_zip}"
  consumer_lambda_zip = startswith(var.consumer_lambda_zip, "/") ? var.consumer_lambda_zip : "${local.repo_root}/${var.consumer_lambda_zip}"
}

data "aws_caller_identity" "consumer" {
  provider = aws.consumer
}

module "producer" {
  source = "./modules/producer-account"

  providers = {
    aws = aws.producer
  }

  name_prefix           = var.name_prefix
  vpc_cidr              = var.producer_vpc_cidr
  availability_zone_ids = var.availability_zone_ids
  kafka_version         = var.kafka_version
  broker_instance_type  = var.broker_instance_type

  kafka_allow_everyone_if_no_acl_found = var.kafka_allow_everyone_if_no_acl_found
  consumer_group_id                    = module.consumer.consumer_group_id

  topic                = var.topic
  registry_name        = var.registry_name
  schema_name          = var.schema_name
  device_id            = var.device_id
  schema_compatibility = var.schema_compatibility
  zlib_compression     = var.zlib_compression

  consumer_account_id         = data.aws_caller_identity.consumer.account_id
  create_consumer_access_role = true
  consumer_lambda_role_arn    = module.consumer.lambda_role_arn
  consumer_access_external_id = var.consumer_access_external_id

  kafka_scram_password         = var.kafka_scram_password
  kafka_scram_password_version = var.kafka_scram_password_version

  lambda_zip_path              = local.producer_lambda_zip
  lambda_application_log_level = var.producer_application_log_level
  lambda_system_log_level      = var.producer_system_log_level
  enable_schedule              = var.enable_producer_schedule
  schedule_expression          = var.producer_schedule_expression
  log_retention_days           = var.log_retention_days
  deletion_protection          = var.deletion_protection
}

module "consumer" {
  source = "./modules/consumer-account"

  providers = {
    aws = aws.consumer
  }

  name_prefix           = var.name_prefix
  vpc_cidr              = var.consumer_vpc_cidr
  availability_zone_ids = module.producer.availability_zone_ids

  producer_role_arn         = module.producer.consumer_access_role_arn
  producer_role_external_id = module.producer.consumer_access_external_id
  producer_region           = module.producer.region
  brokers                   = module.producer.brokers
  topic                     = module.producer.topic

  kafka_scram_username         = module.producer.kafka_scram_username
  kafka_scram_password         = var.kafka_scram_password
  kafka_scram_password_version = var.kafka_scram_password_version

  lambda_zip_path                    = local.consumer_lambda_zip
  lambda_application_log_level       = var.consumer_application_log_level
  lambda_system_log_level            = var.consumer_system_log_level
  batch_size                         = var.batch_size
  maximum_batching_window_in_seconds = var.maximum_batching_window_in_seconds
  provisioned_pollers                = var.consumer_provisioned_pollers
  maximum_retry_attempts             = var.maximum_retry_attempts
  maximum_record_age_in_seconds      = var.maximum_record_age_in_seconds
  bisect_batch_on_function_error     = var.bisect_batch_on_function_error
  starting_position                  = var.starting_position
  log_retention_days                 = var.log_retention_days
  deletion_protection                = var.deletion_protection
}
