# --- Provider -------------------------------------------------------------------------------------

variable "aws_region" {
  type        = string
  description = "Region of the producer account's resources; the consumer must use the same region."
  default     = "eu-west-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.aws_region))
    error_message = "aws_region must be a region name such as eu-west-1."
  }
}

variable "aws_profile" {
  type        = string
  description = "Named AWS CLI profile of the producer account; null uses the ambient credentials."
  default     = null
}

variable "assume_role_arn" {
  type        = string
  description = "Role to assume in the producer account; null assumes nothing."
  default     = null

  validation {
    condition     = var.assume_role_arn == null || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$", var.assume_role_arn))
    error_message = "assume_role_arn must be an IAM role ARN."
  }
}

variable "account_id" {
  type        = string
  description = "Expected producer account ID: the provider refuses any other account. Null skips the check."
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

# --- Deployment -------------------------------------------------------------------------------------

variable "producer" {
  type        = any
  description = "Settings of the producer account: the attributes of settings in ../../modules/producer-account/variables.tf (consumer_account_id and schema_reader_external_id are required), plus consumer_lambda_role_arn (the consumer's lambda_role_arn output: leave it out on the first apply, set it on the second to create the schema reader role) and consumer_group_id (the consumer's group, for the kafka_acls output; default \"<name_prefix>-consumer\")."
}

variable "lambda_zip" {
  type        = string
  description = "Producer deployment package, relative to the repository root (or absolute)."
  default     = "target/lambda/producer/bootstrap.zip"

  validation {
    condition     = endswith(var.lambda_zip, ".zip")
    error_message = "lambda_zip must point to a .zip file."
  }
}

variable "kafka_scram_password" {
  type        = string
  description = "SASL/SCRAM password of the consumer's event source mapping (TF_VAR_kafka_scram_password; the same value for the consumer). Never stored in state; the module validates it."
  sensitive   = true
  ephemeral   = true
  nullable    = false
}
