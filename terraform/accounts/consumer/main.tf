# The consumer account on its own, applied after the producer with the producer's outputs
# (terraform/README.md). The Lambda can assume the producer's role once the producer has been
# applied a second time with this root's lambda_role_arn output.

locals {
  account = "consumer"

  repo_root  = "${path.root}/../../.."
  lambda_zip = startswith(var.lambda_zip, "/") ? var.lambda_zip : "${local.repo_root}/${var.lambda_zip}"

  given_brokers = try(var.producer.brokers, null)
  brokers       = local.given_brokers != null ? local.given_brokers : nonsensitive(jsondecode(data.aws_secretsmanager_secret_version.broker_map[0].secret_string).brokers)
}

# Cross-account read of the producer's broker map (admitted by its resource and key policies).
# Host names and endpoint service names only, hence nonsensitive() above.
data "aws_secretsmanager_secret_version" "broker_map" {
  count = local.given_brokers == null ? 1 : 0

  secret_id = var.producer.broker_secret_arn
}

module "consumer" {
  source = "../../modules/consumer-account"

  settings             = var.consumer
  producer             = merge(var.producer, { brokers = local.brokers })
  lambda_zip_path      = local.lambda_zip
  kafka_scram_password = var.kafka_scram_password
}
