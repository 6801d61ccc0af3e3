# Inputs of the both-accounts root. Provider inputs (region, profiles, roles, account IDs, tags)
# are declared next to the providers in provider.tf.

variable "name_prefix" {
  type        = string
  description = "Prefix of every resource name; the modules append \"-producer\" and \"-consumer\"."
  default     = "sensors"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,14}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 2-16 characters of lower-case letters, digits and hyphens, start with a letter and not end with a hyphen."
  }
}

variable "producer_vpc_cidr" {
  type        = string
  description = "IPv4 CIDR of the producer VPC."
  default     = "10.10.0.0/16"

  validation {
    condition     = can(cidrhost(var.producer_vpc_cidr, 0))
    error_message = "producer_vpc_cidr must be a valid IPv4 CIDR block."
  }
}

variable "consumer_vpc_cidr" {
  type        = string
  description = "IPv4 CIDR of the consumer VPC."
  default     = "10.20.0.0/16"

  validation {
    condition     = can(cidrhost(var.consumer_vpc_cidr, 0))
    error_message = "consumer_vpc_cidr must be a valid IPv4 CIDR block."
  }
}

variable "availability_zone_ids" {
  type        = list(string)
  description = "Zone IDs (not names) used by both VPCs; empty picks the first three zones of the producer account."
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
    condition     = can(regex("^(express\\.)?kafka\\.[a-z0-9]+\\.[a-z0-9]+$", var.broker_instance_type))
    error_message = "broker_instance_type must be an MSK instance type such as kafka.t3.small."
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

variable "consumer_access_external_id" {
  type        = string
  description = "External ID of the cross-account schema-access role (for example `openssl rand -hex 16`)."

  validation {
    condition     = can(regex("^[A-Za-z0-9+=,.@:/_-]+$", var.consumer_access_external_id)) && length(var.consumer_access_external_id) >= 16 && length(var.consumer_access_external_id) <= 1224
    error_message = "consumer_access_external_id must be 16-1224 characters of letters, digits and +=,.@:/_-."
  }
}

variable "kafka_scram_password" {
  type        = string
  description = "SASL/SCRAM password of the consumer's event source mapping, written to both accounts with write-only arguments (never stored in state). Pass it as TF_VAR_kafka_scram_password."
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
  description = "Increase to rewrite both SCRAM secrets with the current kafka_scram_password."
  default     = 1

  validation {
    condition     = var.kafka_scram_password_version >= 1 && floor(var.kafka_scram_password_version) == var.kafka_scram_password_version
    error_message = "kafka_scram_password_version must be a whole number of at least 1."
  }
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

variable "enable_producer_schedule" {
  type        = bool
  description = "Invoke the producer on producer_schedule_expression with the event {}."
  default     = false
}

variable "producer_schedule_expression" {
  type        = string
  description = "EventBridge schedule of the producer."
  default     = "rate(5 minutes)"

  validation {
    condition     = can(regex("^(rate|cron)\\(.+\\)$", var.producer_schedule_expression))
    error_message = "producer_schedule_expression must be a rate(...) or cron(...) expression."
  }
}

variable "batch_size" {
  type        = number
  description = "Batch size of the consumer's event source mapping."
  default     = 500

  validation {
    condition     = var.batch_size >= 1 && var.batch_size <= 10000
    error_message = "batch_size must be between 1 and 10000."
  }
}

variable "maximum_batching_window_in_seconds" {
  type        = number
  description = "Batching window of the consumer's event source mapping (0-300 s)."
  default     = 1

  validation {
    condition     = var.maximum_batching_window_in_seconds >= 0 && var.maximum_batching_window_in_seconds <= 300
    error_message = "maximum_batching_window_in_seconds must be between 0 and 300."
  }
}

variable "starting_position" {
  type        = string
  description = "Starting position of the consumer's event source mapping."
  default     = "TRIM_HORIZON"

  validation {
    condition     = contains(["TRIM_HORIZON", "LATEST"], var.starting_position)
    error_message = "starting_position must be TRIM_HORIZON or LATEST."
  }
}

variable "log_retention_days" {
  type        = number
  description = "Retention of every log group in both accounts."
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts."
  }
}

variable "deletion_protection" {
  type        = bool
  description = "Deletion protection of the broker NLBs and the readings table. Set false and apply before destroying."
  default     = true
}
