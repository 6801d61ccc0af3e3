# The provider of a one-account root and its inputs. Both per-account roots use this file
# (terraform/accounts/consumer/provider.tf is a link to it); each root names its account in
# local.account (its main.tf), which the session name and the Account tag carry.

provider "aws" {
  region              = var.aws_region
  profile             = var.aws_profile
  allowed_account_ids = var.account_id == null ? null : [var.account_id]

  dynamic "assume_role" {
    for_each = var.assume_role_arn == null ? [] : [var.assume_role_arn]

    content {
      role_arn     = assume_role.value
      session_name = "terraform-sensor-stream-${local.account}"
    }
  }

  default_tags {
    tags = merge(var.default_tags, { Account = local.account })
  }
}

variable "aws_region" {
  type        = string
  description = "Region of this account's resources. Both accounts use the same region: the consumer's interface endpoints are regional."
  default     = "eu-west-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.aws_region))
    error_message = "aws_region must be a region name such as eu-west-1."
  }
}

variable "aws_profile" {
  type        = string
  description = "Named AWS CLI profile of this account; null uses the ambient credentials."
  default     = null
}

variable "assume_role_arn" {
  type        = string
  description = "Role to assume in this account; null assumes nothing."
  default     = null

  validation {
    condition     = var.assume_role_arn == null || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$", var.assume_role_arn))
    error_message = "assume_role_arn must be an IAM role ARN."
  }
}

variable "account_id" {
  type        = string
  description = "Expected ID of this account: the provider refuses any other account. Null skips the check."
  default     = null

  validation {
    condition     = var.account_id == null || can(regex("^[0-9]{12}$", var.account_id))
    error_message = "account_id must be a 12-digit AWS account ID."
  }
}

variable "default_tags" {
  type        = map(string)
  description = "Tags the provider adds to every resource."
  default = {
    Project   = "sensor-stream"
    ManagedBy = "terraform"
  }
}
