# --- Provider -------------------------------------------------------------------------------------

variable "aws_region" {
  type        = string
  description = "Region of the consumer account's resources: the producer's region (interface endpoints are regional)."
  default     = "eu-west-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.aws_region))
    error_message = "aws_region must be a region name such as eu-west-1."
  }
}

variable "aws_profile" {
  type        = string
  description = "Named AWS CLI profile of the consumer account; null uses the ambient credentials."
  default     = null
}

variable "assume_role_arn" {
  type        = string
  description = "Role to assume in the consumer account; null assumes nothing."
  default     = null

  validation {
    condition     = var.assume_role_arn == null || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$", var.assume_role_arn))
    error_message = "assume_role_arn must be an IAM role ARN."
  }
}

variable "account_id" {
  type        = string
  description = "Expected consumer account ID: the provider refuses any other account. Null skips the check."
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
  description = "The producer root's outputs (`terraform -chdir=terraform/accounts/producer output -json`, values only, or the attributes below): schema_reader_role_arn, schema_reader_external_id, region, availability_zone_ids, topic, kafka_scram_username, and brokers or broker_secret_arn (the broker map is then read from that secret at plan time, admitted by its resource and key policies). Declared and validated as producer in ../../modules/consumer-account/variables.tf; other attributes are ignored."

  validation {
    condition     = try(var.producer.brokers, null) != null || can(regex("^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+$", var.producer.broker_secret_arn))
    error_message = "producer needs brokers, or broker_secret_arn as a Secrets Manager secret ARN."
  }
}

variable "consumer" {
  type        = any
  description = "Settings of the consumer account: the attributes of settings in ../../modules/consumer-account/variables.tf (all optional)."
  default     = {}
}

variable "lambda_zip" {
  type        = string
  description = "Consumer deployment package, relative to the repository root (or absolute)."
  default     = "target/lambda/consumer/bootstrap.zip"

  validation {
    condition     = endswith(var.lambda_zip, ".zip")
    error_message = "lambda_zip must point to a .zip file."
  }
}

variable "kafka_scram_password" {
  type        = string
  description = "SASL/SCRAM password: the value given to the producer (TF_VAR_kafka_scram_password). Never stored in state; the module validates it."
  sensitive   = true
  ephemeral   = true
  nullable    = false
}
