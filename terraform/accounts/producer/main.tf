# The producer account on its own. Apply order of a split deployment (terraform/README.md):
#   1. this root with consumer_lambda_role_arn = null;
#   2. terraform/accounts/consumer with this root's outputs;
#   3. this root again with consumer_lambda_role_arn = the consumer's lambda_role_arn output.

locals {
  repo_root  = "${path.root}/../../.."
  lambda_zip = startswith(var.lambda_zip, "/") ? var.lambda_zip : "${local.repo_root}/${var.lambda_zip}"
}

module "producer" {
  source = "../../modules/producer-account"

  name_prefix           = var.name_prefix
  vpc_cidr              = var.vpc_cidr
  availability_zone_ids = var.availability_zone_ids
  kafka_version         = var.kafka_version
  broker_instance_type  = var.broker_instance_type

  kafka_allow_everyone_if_no_acl_found = var.kafka_allow_everyone_if_no_acl_found
  consumer_group_id                    = var.consumer_group_id

  topic                = var.topic
  registry_name        = var.registry_name
  schema_name          = var.schema_name
  device_id            = var.device_id
  schema_compatibility = var.schema_compatibility
  zlib_compression     = var.zlib_compression

  consumer_account_id         = var.consumer_account_id
  create_consumer_access_role = var.consumer_lambda_role_arn != null
  consumer_lambda_role_arn    = var.consumer_lambda_role_arn
  consumer_access_external_id = var.consumer_access_external_id

  kafka_scram_username         = var.kafka_scram_username
  kafka_scram_password         = var.kafka_scram_password
  kafka_scram_password_version = var.kafka_scram_password_version

  lambda_zip_path              = local.lambda_zip
  lambda_application_log_level = var.lambda_application_log_level
  lambda_system_log_level      = var.lambda_system_log_level
  enable_schedule              = var.enable_schedule
  schedule_expression          = var.schedule_expression
  log_retention_days           = var.log_retention_days
  deletion_protection          = var.deletion_protection
}
