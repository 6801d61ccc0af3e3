# The consumer account alone, with its own credentials (profile and/or assumed role).

provider "aws" {
  region              = var.aws_region
  profile             = var.aws_profile
  allowed_account_ids = var.account_id == null ? null : [var.account_id]

  dynamic "assume_role" {
    for_each = var.assume_role_arn == null ? [] : [var.assume_role_arn]

    content {
      role_arn     = assume_role.value
      session_name = "terraform-sensor-stream-consumer"
    }
  }

  default_tags {
    tags = merge(var.default_tags, { Account = "consumer" })
  }
}
