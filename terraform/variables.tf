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
    condition     = can(regex("^(kafka|express)\\.[a-z0-9]+\\.[a-z0-9]+$", var.broker_instance_type))
    error_message = "broker_instance_type must be an MSK instance type such as kafka.t3.small, kafka.m7g.large or express.m7g.large (three zones)."
  }
}

variable "kafka_allow_everyone_if_no_acl_found" {
  type        = bool
  description = "Kafka's allow.everyone.if.no.acl.found. false (the default): a SASL/SCRAM client may do only what a Kafka ACL allows, so the consumer's user needs the ACLs of the kafka_acls output (terraform/README.md); IAM clients are governed by their IAM policies either way. true lets every authenticated SCRAM user act on every topic."
  default     = false
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

variable "producer_application_log_level" {
  type        = string
  description = "Lowest level of the producer Lambda's own log records that CloudWatch keeps (JSON log format)."
  default     = "INFO"

  validation {
    condition     = contains(["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"], var.producer_application_log_level)
    error_message = "producer_application_log_level must be one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL."
  }
}

variable "producer_system_log_level" {
  type        = string
  description = "Lowest level of the Lambda platform's log records for the producer function that CloudWatch keeps."
  default     = "WARN"

  validation {
    condition     = contains(["DEBUG", "INFO", "WARN"], var.producer_system_log_level)
    error_message = "producer_system_log_level must be one of DEBUG, INFO, WARN."
  }
}

variable "consumer_application_log_level" {
  type        = string
  description = "Lowest level of the consumer Lambda's own log records that CloudWatch keeps (JSON log format)."
  default     = "INFO"

  validation {
    condition     = contains(["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"], var.consumer_application_log_level)
    error_message = "consumer_application_log_level must be one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL."
  }
}

variable "consumer_system_log_level" {
  type        = string
  description = "Lowest level of the Lambda platform's log records for the consumer function that CloudWatch keeps."
  default     = "WARN"

  validation {
    condition     = contains(["DEBUG", "INFO", "WARN"], var.consumer_system_log_level)
    error_message = "consumer_system_log_level must be one of DEBUG, INFO, WARN."
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

variable "consumer_provisioned_pollers" {
  type = object({
    minimum = number
    maximum = number
  })
  description = "Provisioned mode of the event source mapping: the minimum and maximum event pollers (one poller handles up to about 5 MB/s). null = on-demand mode, in which Lambda retries a failing batch until its records expire and the retry settings below are not sent."
  default     = null

  validation {
    condition = var.consumer_provisioned_pollers == null || try(
      var.consumer_provisioned_pollers.minimum >= 1 && var.consumer_provisioned_pollers.minimum <= 200 &&
      var.consumer_provisioned_pollers.maximum >= 1 && var.consumer_provisioned_pollers.maximum <= 2000 &&
      var.consumer_provisioned_pollers.minimum <= var.consumer_provisioned_pollers.maximum &&
      floor(var.consumer_provisioned_pollers.minimum) == var.consumer_provisioned_pollers.minimum &&
      floor(var.consumer_provisioned_pollers.maximum) == var.consumer_provisioned_pollers.maximum,
      false
    )
    error_message = "consumer_provisioned_pollers needs whole numbers minimum 1-200 and maximum 1-2000 with minimum <= maximum, or null for on-demand mode."
  }
}

variable "maximum_retry_attempts" {
  type        = number
  description = "Provisioned mode only: retries of a failing batch before it goes to the on-failure destination (0-10000, -1 = until the records expire)."
  default     = 10

  validation {
    condition     = var.maximum_retry_attempts >= -1 && var.maximum_retry_attempts <= 10000 && floor(var.maximum_retry_attempts) == var.maximum_retry_attempts
    error_message = "maximum_retry_attempts must be a whole number from -1 to 10000."
  }
}

variable "maximum_record_age_in_seconds" {
  type        = number
  description = "Provisioned mode only: records older than this are not retried but sent to the on-failure destination (60-604800 s, -1 = no limit)."
  default     = -1

  validation {
    condition     = var.maximum_record_age_in_seconds == -1 || (var.maximum_record_age_in_seconds >= 60 && var.maximum_record_age_in_seconds <= 604800)
    error_message = "maximum_record_age_in_seconds must be -1 or between 60 and 604800."
  }
}

variable "bisect_batch_on_function_error" {
  type        = bool
  description = "Provisioned mode only: split a failing batch in two and retry the halves."
  default     = false
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
