# Providers of the both-accounts deployment. This file is the provider configuration of the root
# module in terraform/ (terraform/provider.tf is a symbolic link to it), so run that root with
# `terraform -chdir=terraform ...`. The per-account roots in terraform/accounts/ configure their
# own single provider instead.
#
# Three configurations:
#  - aws.producer / aws.consumer: the two accounts, each through a named profile and/or an assumed
#    role. Point both at one account for a same-account deployment (every name carries its side).
#  - the default provider: region and tags only, on the ambient credentials; no resource of this
#    configuration uses it (every module call passes an alias explicitly).

terraform {
  required_version = ">= 1.11, < 2.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.0"
    }
  }
}

variable "aws_region" {
  type        = string
  description = "Region of both accounts' resources (interface endpoints are regional, so producer and consumer share it)."
  default     = "eu-west-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.aws_region))
    error_message = "aws_region must be a region name such as eu-west-1."
  }
}

variable "producer_profile" {
  type        = string
  description = "Named AWS CLI profile for the producer account; null uses the ambient credentials."
  default     = null
}

variable "producer_assume_role_arn" {
  type        = string
  description = "Role to assume in the producer account (on top of the profile); null assumes nothing."
  default     = null

  validation {
    condition     = var.producer_assume_role_arn == null || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$", var.producer_assume_role_arn))
    error_message = "producer_assume_role_arn must be an IAM role ARN."
  }
}

variable "producer_account_id" {
  type        = string
  description = "Expected producer account ID: the provider refuses to run against any other account. Null skips the check."
  default     = null

  validation {
    condition     = var.producer_account_id == null || can(regex("^[0-9]{12}$", var.producer_account_id))
    error_message = "producer_account_id must be a 12-digit AWS account ID."
  }
}

variable "consumer_profile" {
  type        = string
  description = "Named AWS CLI profile for the consumer account; null uses the ambient credentials."
  default     = null
}

variable "consumer_assume_role_arn" {
  type        = string
  description = "Role to assume in the consumer account (on top of the profile); null assumes nothing."
  default     = null

  validation {
    condition     = var.consumer_assume_role_arn == null || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$", var.consumer_assume_role_arn))
    error_message = "consumer_assume_role_arn must be an IAM role ARN."
  }
}

variable "consumer_account_id" {
  type        = string
  description = "Expected consumer account ID: the provider refuses to run against any other account. Null skips the check."
  default     = null

  validation {
    condition     = var.consumer_account_id == null || can(regex("^[0-9]{12}$", var.consumer_account_id))
    error_message = "consumer_account_id must be a 12-digit AWS account ID."
  }
}

variable "default_tags" {
  type        = map(string)
  description = "Tags every provider adds to every resource."
  default = {
    Project   = "sensor-stream"
    ManagedBy = "terraform"
  }
}

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
