# Inputs of the both-accounts root: the providers' (used in provider.tf), then one object per
# account plus `common` for what both accounts share. The objects' attributes are declared,
# defaulted and validated once, in the modules (`settings` in modules/*/variables.tf); this root
# adds only what it wires between the two accounts.

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

variable "common" {
  type        = any
  description = "Settings both modules take with one value (attributes of both modules' settings): name_prefix, log_retention_days, deletion_protection, secret_recovery_window_days, kafka_scram_password_version, tags. An attribute given here and in producer or consumer takes the account's value."
  default     = {}
}

variable "producer" {
  type        = any
  description = "Settings of the producer account: the attributes of settings in modules/producer-account/variables.tf (schema_reader_external_id is required). consumer_account_id is not needed: it comes from the consumer provider."
}

variable "consumer" {
  type        = any
  description = "Settings of the consumer account: the attributes of settings in modules/consumer-account/variables.tf. What the consumer takes from the producer (role, brokers, zones, topic) is wired from the producer module."
  default     = {}
}

variable "producer_lambda_zip" {
  type        = string
  description = "Producer deployment package, relative to the repository root (or absolute)."
  default     = "target/lambda/producer/bootstrap.zip"

  validation {
    condition     = endswith(var.producer_lambda_zip, ".zip")
    error_message = "producer_lambda_zip must point to a .zip file."
  }
}

variable "consumer_lambda_zip" {
  type        = string
  description = "Consumer deployment package, relative to the repository root (or absolute)."
  default     = "target/lambda/consumer/bootstrap.zip"

  validation {
    condition     = endswith(var.consumer_lambda_zip, ".zip")
    error_message = "consumer_lambda_zip must point to a .zip file."
  }
}

variable "kafka_scram_password" {
  type        = string
  description = "SASL/SCRAM password of the consumer's event source mapping, written to both accounts with write-only arguments (never stored in state). Pass it as TF_VAR_kafka_scram_password (the modules validate it)."
  sensitive   = true
  ephemeral   = true
  nullable    = false
}
