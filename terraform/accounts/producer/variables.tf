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

variable "name_prefix" {
  type        = string
  description = "Prefix of every resource name (the module appends \"-producer\")."
  default     = "sensors"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,14}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 2-16 characters of lower-case letters, digits and hyphens, start with a letter and not end with a hyphen."
  }
}

variable "vpc_cidr" {
  type        = string
  description = "IPv4 CIDR of the producer VPC."
  default     = "10.10.0.0/16"

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0))
    error_message = "vpc_cidr must be a valid IPv4 CIDR block."
  }
}

variable "availability_zone_ids" {
  type        = list(string)
  description = "Zone IDs of the producer subnets; empty picks the first three zones of the region."
  default     = []

  validation {
    condition     = alltrue([for id in var.availability_zone_ids : can(regex("^[a-z]{2,6}[0-9]-az[0-9]+$", id))])
    error_message = "availability_zone_ids must be zone IDs such as euw1-az1."
  }
}

variable "kafka_version" {
  type        = string
  description = "Apache Kafka version of the MSK cluster."
  default     = "3.8.x"

  validation {
    condition     = can(regex("^[0-9]+\\.[0-9]+\\.([0-9]+|x)(\\.kraft)?$", var.kafka_version))
    error_message = "kafka_version must be an MSK version string such as 3.8.x."
  }
}

variable "broker_instance_type" {
  type        = string
  description = "MSK broker instance type."
  default     = "kafka.t3.small"

  validation {
    condition     = can(regex("^(kafka|express)\\.[a-z0-9]+\\.[a-z0-9]+$", var.broker_instance_type))
    error_message = "broker_instance_type must be an MSK instance type such as kafka.t3.small, kafka.m7g.large or express.m7g.large (three zones)."
  }
}

variable "topic" {
  type        = string
  description = "Kafka topic between the accounts."
  default     = "sensor-readings"

  validation {
    condition     = can(regex("^[a-zA-Z0-9._-]{1,249}$", var.topic))
    error_message = "topic must be 1-249 characters of letters, digits, '.', '_' and '-'."
  }
}

variable "registry_name" {
  type        = string
  description = "Glue Schema Registry name (REGISTRY_NAME)."
  default     = "sensor-registry"

  validation {
    condition     = can(regex("^[a-zA-Z0-9_$#.-]{1,255}$", var.registry_name))
    error_message = "registry_name must be 1-255 characters of letters, digits, '-', '_', '$', '#' and '.'."
  }
}

variable "schema_name" {
  type        = string
  description = "Glue schema name (SCHEMA_NAME)."
  default     = "sensor-readings"

  validation {
    condition     = can(regex("^[a-zA-Z0-9_$#.-]{1,255}$", var.schema_name))
    error_message = "schema_name must be 1-255 characters of letters, digits, '-', '_', '$', '#' and '.'."
  }
}

variable "device_id" {
  type        = string
  description = "DEVICE_ID of the producer."
  default     = "000001"

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,64}$", var.device_id))
    error_message = "device_id must be 1-64 characters of letters, digits, '_' and '-'."
  }
}

variable "schema_compatibility" {
  type        = string
  description = "SCHEMA_COMPATIBILITY of the producer."
  default     = "BACKWARD"

  validation {
    condition     = contains(["BACKWARD", "BACKWARD_ALL", "FORWARD", "FORWARD_ALL", "FULL", "FULL_ALL", "NONE"], var.schema_compatibility)
    error_message = "schema_compatibility must be one of BACKWARD, BACKWARD_ALL, FORWARD, FORWARD_ALL, FULL, FULL_ALL, NONE."
  }
}

variable "zlib_compression" {
  type        = bool
  description = "ZLIB_COMPRESSION of the producer."
  default     = false
}

variable "consumer_account_id" {
  type        = string
  description = "Consumer account ID: the only principal admitted to the broker endpoint services and the broker-map secret."

  validation {
    condition     = can(regex("^[0-9]{12}$", var.consumer_account_id))
    error_message = "consumer_account_id must be a 12-digit AWS account ID."
  }
}

variable "consumer_lambda_role_arn" {
  type        = string
  description = "Consumer output lambda_role_arn. Leave null on the first apply (the role does not exist yet); set it on the second apply to create the cross-account role that trusts it."
  default     = null

  validation {
    condition     = var.consumer_lambda_role_arn == null || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$", var.consumer_lambda_role_arn))
    error_message = "consumer_lambda_role_arn must be an IAM role ARN."
  }
}

variable "consumer_access_external_id" {
  type        = string
  description = "External ID of the cross-account schema-access role (for example `openssl rand -hex 16`); give the same value to the consumer."

  validation {
    condition     = can(regex("^[A-Za-z0-9+=,.@:/_-]+$", var.consumer_access_external_id)) && length(var.consumer_access_external_id) >= 16 && length(var.consumer_access_external_id) <= 1224
    error_message = "consumer_access_external_id must be 16-1224 characters of letters, digits and +=,.@:/_-."
  }
}

variable "kafka_scram_username" {
  type        = string
  description = "SASL/SCRAM user name of the consumer's event source mapping."
  default     = "consumer-esm"

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]{1,64}$", var.kafka_scram_username))
    error_message = "kafka_scram_username must be 1-64 characters of letters, digits, '.', '_' and '-'."
  }
}

variable "kafka_scram_password" {
  type        = string
  description = "SASL/SCRAM password of the consumer's event source mapping (TF_VAR_kafka_scram_password; the same value for the consumer). Never stored in state."
  sensitive   = true
  ephemeral   = true
  nullable    = false

  validation {
    condition     = length(var.kafka_scram_password) >= 16 && length(var.kafka_scram_password) <= 128
    error_message = "kafka_scram_password must be 16-128 characters long."
  }
}

variable "kafka_scram_password_version" {
  type        = number
  description = "Increase to rewrite the MSK SCRAM secret with the current kafka_scram_password."
  default     = 1

  validation {
    condition     = var.kafka_scram_password_version >= 1 && floor(var.kafka_scram_password_version) == var.kafka_scram_password_version
    error_message = "kafka_scram_password_version must be a whole number of at least 1."
  }
}

variable "kafka_allow_everyone_if_no_acl_found" {
  type        = bool
  description = "Kafka's allow.everyone.if.no.acl.found. false (the default): a SASL/SCRAM client may do only what a Kafka ACL allows, so the consumer's user needs the ACLs of the kafka_acls output (terraform/README.md); IAM clients are governed by their IAM policies either way. true lets every authenticated SCRAM user act on every topic."
  default     = false
}

variable "consumer_group_id" {
  type        = string
  description = "Kafka consumer group of the consumer account's event source mapping, for the kafka_acls output. null = the consumer module's default, \"<name_prefix>-consumer\"."
  default     = null

  validation {
    condition     = var.consumer_group_id == null || can(regex("^[a-zA-Z0-9._-]{1,200}$", var.consumer_group_id))
    error_message = "consumer_group_id must be 1-200 letters, digits, dots, underscores or hyphens."
  }
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

variable "lambda_application_log_level" {
  type        = string
  description = "Lowest level of the producer Lambda's own log records that CloudWatch keeps (JSON log format)."
  default     = "INFO"

  validation {
    condition     = contains(["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"], var.lambda_application_log_level)
    error_message = "lambda_application_log_level must be one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL."
  }
}

variable "lambda_system_log_level" {
  type        = string
  description = "Lowest level of the Lambda platform's log records for the producer function that CloudWatch keeps."
  default     = "WARN"

  validation {
    condition     = contains(["DEBUG", "INFO", "WARN"], var.lambda_system_log_level)
    error_message = "lambda_system_log_level must be one of DEBUG, INFO, WARN."
  }
}

variable "enable_schedule" {
  type        = bool
  description = "Invoke the producer on schedule_expression with the event {}."
  default     = false
}

variable "schedule_expression" {
  type        = string
  description = "EventBridge schedule of the producer."
  default     = "rate(5 minutes)"

  validation {
    condition     = can(regex("^(rate|cron)\\(.+\\)$", var.schedule_expression))
    error_message = "schedule_expression must be a rate(...) or cron(...) expression."
  }
}

variable "log_retention_days" {
  type        = number
  description = "Retention of every log group."
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts."
  }
}

variable "deletion_protection" {
  type        = bool
  description = "Deletion protection of the broker NLBs. Set false and apply before destroying."
  default     = true
}
