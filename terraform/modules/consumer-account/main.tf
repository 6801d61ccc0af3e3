# Consumer account: private VPC with endpoints to every broker's endpoint service and to the AWS
# APIs (no NAT), a private hosted zone that maps broker names to those endpoints, the consumer
# Lambda with its self-managed Kafka event source mapping, the readings table and the dead-letter
# queue. Split by topic over network.tf, kafka.tf, kms.tf, storage.tf, secrets.tf, iam.tf,
# lambda.tf and esm.tf; the network, the key and the function are the internal modules'
# (../private-network, ../kms-key, ../lambda-function), and moved.tf keeps the addresses they had
# before.

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_region" "current" {}

locals {
  # Every name carries the side, so both modules can run in one account with one prefix.
  name = "${var.settings.name_prefix}-consumer"

  account_id      = data.aws_caller_identity.current.account_id
  partition       = data.aws_partition.current.partition
  region          = data.aws_region.current.region
  producer_region = coalesce(var.producer.region, local.region)

  brokers_by_id     = { for b in var.producer.brokers : tostring(b.broker_id) => b }
  kafka_port_min    = min([for b in var.producer.brokers : b.broker_port]...)
  kafka_port_max    = max([for b in var.producer.brokers : b.broker_port]...)
  bootstrap_servers = join(",", [for b in var.producer.brokers : "${b.endpoint_url}:${b.broker_port}"])
  consumer_group_id = coalesce(var.settings.consumer_group_id, local.name)

  tags = merge(var.settings.tags, { Side = "consumer" })
}

check "producer_in_this_region" {
  assert {
    condition     = local.producer_region == local.region
    error_message = "producer_region differs from this region: the Glue, STS and broker endpoints of this VPC are regional, so the consumer Lambda could not reach the producer's registry or brokers without a NAT."
  }
}
