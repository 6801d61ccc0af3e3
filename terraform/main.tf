# Both accounts in one apply. Providers come from the repository's provider.tf (linked here as
# provider.tf); each module gets exactly one account's provider.
#
# Each module takes the account's own settings (var.common merged with var.producer or
# var.consumer) in one object, and what it takes from the other account in separate inputs: the
# modules reference each other's outputs in both directions (the producer's role trusts the
# consumer's Lambda role; the consumer needs the producer's brokers and role), which Terraform
# resolves per input and per resource, so no resource depends on itself through the other account.

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

  settings = merge(var.common, var.producer, {
    consumer_account_id = data.aws_caller_identity.consumer.account_id
  })

  create_schema_reader_role = true
  consumer_lambda_role_arn  = module.consumer.lambda_role_arn
  consumer_group_id         = module.consumer.consumer_group_id
  lambda_zip_path           = local.producer_lambda_zip
  kafka_scram_password      = var.kafka_scram_password
}

module "consumer" {
  source = "./modules/consumer-account"

  providers = {
    aws = aws.consumer
  }

  settings = merge(var.common, var.consumer)

  producer = {
    schema_reader_role_arn    = module.producer.schema_reader_role_arn
    schema_reader_external_id = module.producer.schema_reader_external_id
    region                    = module.producer.region
    availability_zone_ids     = module.producer.availability_zone_ids
    brokers                   = module.producer.brokers
    topic                     = module.producer.topic
    kafka_scram_username      = module.producer.kafka_scram_username
  }

  lambda_zip_path      = local.consumer_lambda_zip
  kafka_scram_password = var.kafka_scram_password
}
