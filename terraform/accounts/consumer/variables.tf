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

# --- From the producer's outputs --------------------------------------------------------------------

variable "producer_role_arn" {
  type        = string
  description = "Producer output consumer_access_role_arn (PRODUCER_ROLE_ARN)."

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$", var.producer_role_arn))
    error_message = "producer_role_arn must be an IAM role ARN."
  }
}

variable "producer_role_external_id" {
  type        = string
  description = "Producer output consumer_access_external_id (PRODUCER_ROLE_EXTERNAL_ID)."

  validation {
    condition     = can(regex("^[A-Za-z0-9+=,.@:/_-]+$", var.producer_role_external_id)) && length(var.producer_role_external_id) >= 16 && length(var.producer_role_external_id) <= 1224
    error_message = "producer_role_external_id must be 16-1224 characters of letters, digits and +=,.@:/_-."
  }
}

variable "producer_region" {
  type        = string
  description = "Producer output region (PRODUCER_REGION); null means aws_region."
  default     = null

  validation {
    condition     = var.producer_region == null || can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.producer_region))
    error_message = "producer_region must be a region name such as eu-west-1."
  }
}

variable "availability_zone_ids" {
  type        = list(string)
  description = "Producer output availability_zone_ids: the zones of the broker endpoint services."

  validation {
    condition     = contains([2, 3], length(var.availability_zone_ids)) && alltrue([for id in var.availability_zone_ids : can(regex("^[a-z]{2,6}[0-9]-az[0-9]+$", id))])
    error_message = "availability_zone_ids must list 2 or 3 zone IDs such as euw1-az1."
  }
}

variable "broker_secret_arn" {
  type        = string
  description = "Producer output broker_secret_arn. When brokers is null, the broker map is read from this secret (its resource and key policies admit this account)."
  default     = null

  validation {
    condition     = var.broker_secret_arn == null ? var.brokers != null : can(regex("^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+$", var.broker_secret_arn))
    error_message = "broker_secret_arn must be a Secrets Manager secret ARN, and is required when brokers is null."
  }
}

variable "brokers" {
  type = list(object({
    broker_id    = number
    endpoint_url = string
    broker_port  = number
    service_name = string
  }))
  description = "Producer output brokers (broker_id, endpoint_url, broker_port, service_name); null reads them from broker_secret_arn."
  default     = null
}

variable "topic" {
  type        = string
  description = "Producer output topic."
  default     = "sensor-readings"

  validation {
    condition     = can(regex("^[a-zA-Z0-9._-]{1,249}$", var.topic))
    error_message = "topic must be 1-249 characters of letters, digits, '.', '_' and '-'."
  }
}

variable "kafka_scram_username" {
  type        = string
  description = "Producer output kafka_scram_username."
  default     = "consumer-esm"

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]{1,64}$", var.kafka_scram_username))
    error_message = "kafka_scram_username must be 1-64 characters of letters, digits, '.', '_' and '-'."
  }
}

variable "kafka_scram_password" {
  type        = string
  description = "SASL/SCRAM password: the value given to the producer (TF_VAR_kafka_scram_password). Never stored in state."
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
  description = "Increase to rewrite the event source mapping's secret with the current kafka_scram_password."
  default     = 1

  validation {
    condition     = var.kafka_scram_password_version >= 1 && floor(var.kafka_scram_password_version) == var.kafka_scram_password_version
    error_message = "kafka_scram_password_version must be a whole number of at least 1."
  }
}

# --- Deployment -------------------------------------------------------------------------------------

variable "name_prefix" {
  type        = string
  description = "Prefix of every resource name (the module appends \"-consumer\")."
  default     = "sensors"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,14}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 2-16 characters of lower-case letters, digits and hyphens, start with a letter and not end with a hyphen."
  }
}

variable "vpc_cidr" {
  type        = string
  description = "IPv4 CIDR of the consumer VPC."
  default     = "10.20.0.0/16"

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0))
    error_message = "vpc_cidr must be a valid IPv4 CIDR block."
  }
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

variable "lambda_application_log_level" {
  type        = string
  description = "Lowest level of the consumer Lambda's own log records that CloudWatch keeps (JSON log format)."
  default     = "INFO"

  validation {
    condition     = contains(["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"], var.lambda_application_log_level)
    error_message = "lambda_application_log_level must be one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL."
  }
}

variable "lambda_system_log_level" {
  type        = string
  description = "Lowest level of the Lambda platform's log records for the consumer function that CloudWatch keeps."
  default     = "WARN"

  validation {
    condition     = contains(["DEBUG", "INFO", "WARN"], var.lambda_system_log_level)
    error_message = "lambda_system_log_level must be one of DEBUG, INFO, WARN."
  }
}

variable "batch_size" {
  type        = number
  description = "Batch size of the event source mapping."
  default     = 500

  validation {
    condition     = var.batch_size >= 1 && var.batch_size <= 10000
    error_message = "batch_size must be between 1 and 10000."
  }
}

variable "maximum_batching_window_in_seconds" {
  type        = number
  description = "Batching window of the event source mapping (0-300 s)."
  default     = 1

  validation {
    condition     = var.maximum_batching_window_in_seconds >= 0 && var.maximum_batching_window_in_seconds <= 300
    error_message = "maximum_batching_window_in_seconds must be between 0 and 300."
  }
}

variable "provisioned_pollers" {
  type = object({
    minimum = number
    maximum = number
  })
  description = "Provisioned mode of the event source mapping: the minimum and maximum event pollers (one poller handles up to about 5 MB/s). null = on-demand mode, in which Lambda retries a failing batch until its records expire and the retry settings below are not sent."
  default     = null

  validation {
    condition = var.provisioned_pollers == null || try(
      var.provisioned_pollers.minimum >= 1 && var.provisioned_pollers.minimum <= 200 &&
      var.provisioned_pollers.maximum >= 1 && var.provisioned_pollers.maximum <= 2000 &&
      var.provisioned_pollers.minimum <= var.provisioned_pollers.maximum &&
      floor(var.provisioned_pollers.minimum) == var.provisioned_pollers.minimum &&
      floor(var.provisioned_pollers.maximum) == var.provisioned_pollers.maximum,
      false
    )
    error_message = "provisioned_pollers needs whole numbers minimum 1-200 and maximum 1-2000 with minimum <= maximum, or null for on-demand mode."
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
  description = "Starting position of the event source mapping."
  default     = "TRIM_HORIZON"

  validation {
    condition     = contains(["TRIM_HORIZON", "LATEST"], var.starting_position)
    error_message = "starting_position must be TRIM_HORIZON or LATEST."
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
  description = "Deletion protection of the readings table. Set false and apply before destroying."
  default     = true
}
