# Providers of the both-accounts deployment. This file is the provider configuration of the root
# module in terraform/ (terraform/provider.tf is a symbolic link to it), so run that root with
# `terraform -chdir=terraform ...`; its inputs (region, profiles, roles, account IDs, tags) are
# declared with the root's other inputs in terraform/variables.tf. The per-account roots in
# terraform/accounts/ configure their own single provider instead. Version pins: terraform/versions.tf.
#
# Three configurations:
#  - aws.producer / aws.consumer: the two accounts, each through a named profile and/or an assumed
#    role. Point both at one account for a same-account deployment (every name carries its side).
#  - the default provider: region and tags only, on the ambient credentials; no resource of this
#    configuration uses it (every module call passes an alias explicitly).

provider "aws" {
  region = var.aws_region

  default_tags {
    tags = var.default_tags
  }
}

provider "aws" {
  alias = "producer"

  region              = var.aws_region
  profile             = var.producer_profile
  allowed_account_ids = var.producer_account_id == null ? null : [var.producer_account_id]

  dynamic "assume_role" {
    for_each = var.producer_assume_role_arn == null ? [] : [var.producer_assume_role_arn]

    content {
      role_arn     = assume_role.value
      session_name = "terraform-sensor-stream-producer"
    }
  }

  default_tags {
    tags = merge(var.default_tags, { Account = "producer" })
  }
}

provider "aws" {
  alias = "consumer"

  region              = var.aws_region
  profile             = var.consumer_profile
  allowed_account_ids = var.consumer_account_id == null ? null : [var.consumer_account_id]

  dynamic "assume_role" {
    for_each = var.consumer_assume_role_arn == null ? [] : [var.consumer_assume_role_arn]

    content {
      role_arn     = assume_role.value
      session_name = "terraform-sensor-stream-consumer"
    }
  }

  default_tags {
    tags = merge(var.default_tags, { Account = "consumer" })
  }
}
