# The consumer account on its own, applied after the producer with the producer's outputs
# (terraform/README.md). The Lambda can assume the producer's role once the producer has been
# applied a second time with this root's lambda_role_arn output.

locals {
  repo_root  = "${path.root}/../../.."
  lambda_zip = startswith(var.lambda_zip, "/") ? var.lambda_zip : "${local.repo_root}/${var.lambda_zip}"

  brokers = var.brokers != null ? var.brokers : nonsensitive(jsondecode(data.aws_secretsmanager_secret_version.broker_map[0].secret_string).brokers)
}

# Cross-account read of the producer's broker map (admitted by its resource and key policies).
# Host names and endpoint service names only, hence nonsensitive() above.
data "aws_secretsmanager_secret_version" "broker_map" {
  count = var.brokers == null ? 1 : 0

  secret_id = var.broker_secret_arn
}

module "consumer" {
  source = "../../modules/consumer-account"

  name_prefix           = var.name_prefix
  vpc_cidr              = var.vpc_cidr
  availability_zone_ids = var.availability_zone_ids

  producer_role_arn         = var.producer_role_arn
  producer_role_external_id = var.producer_role_external_id
  producer_region           = var.producer_region
  brokers                   = local.brokers
  topic                     = var.topic

  kafka_scram_username         = var.kafka_scram_username
  kafka_scram_password         = var.kafka_scram_password
  kafka_scram_password_version = var.kafka_scram_password_version

  lambda_zip_path                    = local.lambda_zip
  lambda_application_log_level       = var.lambda_application_log_level
  lambda_system_log_level            = var.lambda_system_log_level
  batch_size                         = var.batch_size
  maximum_batching_window_in_seconds = var.maximum_batching_window_in_seconds
  provisioned_pollers                = var.provisioned_pollers
  maximum_retry_attempts             = var.maximum_retry_attempts
  maximum_record_age_in_seconds      = var.maximum_record_age_in_seconds
  bisect_batch_on_function_error     = var.bisect_batch_on_function_error
  starting_position                  = var.starting_position
  log_retention_days                 = var.log_retention_days
  deletion_protection                = var.deletion_protection
}
