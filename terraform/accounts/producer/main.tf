# The producer account on its own. Apply order of a split deployment (terraform/README.md):
#   1. this root without producer.consumer_lambda_role_arn;
#   2. terraform/accounts/consumer with this root's outputs;
#   3. this root again with producer.consumer_lambda_role_arn = the consumer's lambda_role_arn output.

locals {
  account = "producer"

  repo_root  = "${path.root}/../../.."
  lambda_zip = startswith(var.lambda_zip, "/") ? var.lambda_zip : "${local.repo_root}/${var.lambda_zip}"

  # The schema reader role trusts the consumer's Lambda role, which exists only after step 2.
  consumer_lambda_role_arn = try(var.producer.consumer_lambda_role_arn, null)
}

module "producer" {
  source = "../../modules/producer-account"

  settings = var.producer

  create_schema_reader_role = local.consumer_lambda_role_arn != null
  consumer_lambda_role_arn  = local.consumer_lambda_role_arn
  consumer_group_id         = try(var.producer.consumer_group_id, null)
  lambda_zip_path           = local.lambda_zip
  kafka_scram_password      = var.kafka_scram_password
}
