# Producer account: VPC, MSK, Glue Schema Registry, cross-account schema access, one NLB +
# endpoint service per broker for the consumer account, the broker-map secret and the producer
# Lambda. Resources are split by topic over network.tf, kms.tf, msk.tf, privatelink.tf, glue.tf,
# secrets.tf, iam.tf, lambda.tf and schedule.tf; the network, the keys and the function are the
# internal modules' (../private-network, ../kms-key, ../lambda-function), and moved.tf keeps the
# addresses they had before.

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_region" "current" {}

data "aws_availability_zones" "available" {
  #checkov:skip=CKV_AWS_394:Used only when availability_zone_ids is empty, and then only the first three zones by name, which new zones (later letters) do not displace; deployments that must be pinned pass availability_zone_ids, as the consumer always does.
  state = "available"

  filter {
    name   = "opt-in-status"
    values = ["opt-in-not-required"]
  }
}

locals {
  # Every name carries the side, so both modules can run in one account with one prefix.
  name = "${var.settings.name_prefix}-producer"

  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.region

  # Up to three zones: the ones given, else the region's first three (fewer where the region has
  # fewer; the cluster's precondition then asks for at least two).
  available_az_ids = data.aws_availability_zones.available.zone_ids
  az_ids           = length(var.settings.availability_zone_ids) > 0 ? var.settings.availability_zone_ids : slice(local.available_az_ids, 0, min(3, length(local.available_az_ids)))
  broker_count     = length(local.az_ids) * var.settings.brokers_per_az

  # MSK listener ports inside the VPC: SASL/IAM for the producer Lambda, SASL/SCRAM (TLS) for
  # the consumer account's event source mapping through PrivateLink.
  iam_port   = 9098
  scram_port = 9096

  consumer_account_root_arn = "arn:${local.partition}:iam::${var.settings.consumer_account_id}:root"

  registry_arn       = aws_glue_registry.this.arn
  schema_arn_pattern = "arn:${local.partition}:glue:${local.region}:${local.account_id}:schema/${var.settings.registry_name}/*"

  schema_reader_role_name = "${local.name}-schema-reader"
  schema_reader_role_arn  = "arn:${local.partition}:iam::${local.account_id}:role/${local.schema_reader_role_name}"

  tags = merge(var.settings.tags, { Side = "producer" })
}
