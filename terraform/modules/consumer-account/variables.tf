variable "name_prefix" {
  type        = string
  description = "Prefix of every resource name. The module appends \"-consumer\", so both modules can share one prefix in one account."
  default     = "sensors"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,14}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 2-16 characters of lower-case letters, digits and hyphens, start with a letter and not end with a hyphen."
  }
}

variable "vpc_cidr" {
  type        = string
  description = "IPv4 CIDR of the consumer VPC (/16 to /22). Each zone gets a subnet 4 bits longer (a /20 of a /16, at least a /26) with room for the endpoints and Lambda ENIs."
  default     = "10.20.0.0/16"

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0)) && try(tonumber(split("/", var.vpc_cidr)[1]) >= 16 && tonumber(split("/", var.vpc_cidr)[1]) <= 22, false)
    error_message = "vpc_cidr must be a valid IPv4 CIDR block with a prefix length between /16 and /22."
  }
}

variable "availability_zone_ids" {
  type        = list(string)
  description = "Zone IDs of the consumer subnets: the producer's availability_zone_ids output, so every broker endpoint service is offered in every consumer subnet."

  validation {
    condition     = contains([2, 3], length(var.availability_zone_ids)) && alltrue([for id in var.availability_zone_ids : can(regex("^[a-z]{2,6}[0-9]-az[0-9]+$", id))])
    error_message = "availability_zone_ids must list 2 or 3 zone IDs such as use1-az1."
  }
}

variable "producer_role_arn" {
  type        = string
  description = "ARN of the producer account's schema-access role (producer output consumer_access_role_arn; PRODUCER_ROLE_ARN)."

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$", var.producer_role_arn))
    error_message = "producer_role_arn must be an IAM role ARN."
  }
}

variable "producer_role_external_id" {
  type        = string
  description = "External ID of the producer's schema-access role (PRODUCER_ROLE_EXTERNAL_ID)."

  validation {
    condition     = can(regex("^[A-Za-z0-9+=,.@:/_-]+$", var.producer_role_external_id)) && length(var.producer_role_external_id) >= 16 && length(var.producer_role_external_id) <= 1224
    error_message = "producer_role_external_id must be 16-1224 characters of letters, digits and +=,.@:/_-."
  }
}

variable "producer_region" {
  type        = string
  description = "Region of the producer's registry and brokers (PRODUCER_REGION); null means this account's region. Interface endpoints are regional, so it must equal this region."
  default     = null

  validation {
    condition     = var.producer_region == null || can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.producer_region))
    error_message = "producer_region must be a region name such as eu-west-1."
  }
}

variable "brokers" {
  type = list(object({
    broker_id    = number
    endpoint_url = string
    broker_port  = number
    service_name = string
  }))
  description = "Broker map entries from the producer (output brokers, or the brokers array of the broker-map secret): one interface endpoint and one DNS record per broker."

  validation {
    condition     = length(var.brokers) >= 1
    error_message = "brokers must list at least one broker."
  }
}

variable "topic" {
  type        = string
  description = "Kafka topic the event source mapping reads."
  default     = "sensor-readings"

  validation {
    condition     = can(regex("^[a-zA-Z0-9._-]{1,249}$", var.topic))
    error_message = "topic must be 1-249 characters of letters, digits, '.', '_' and '-'."
  }
}

variable "kafka_scram_username" {
  type        = string
  description = "SASL/SCRAM user name (producer output kafka_scram_username)."
  default     = "consumer-esm"

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]{1,64}$", var.kafka_scram_username))
    error_message = "kafka_scram_username must be 1-64 characters of letters, digits, '.', '_' and '-'."
  }
}

variable "kafka_scram_password" {
  type        = string
  description = "SASL/SCRAM password: the same value the producer account was given. Ephemeral: written with a write-only argument, never stored in state or plan files."
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

variable "lambda_zip_path" {
  type        = string
  description = "Path of the consumer's deployment package, built by `cargo lambda build --release --output-format zip --bin consumer` (scripts/build-lambdas.sh)."

  validation {
    condition     = endswith(var.lambda_zip_path, ".zip")
    error_message = "lambda_zip_path must point to a .zip file."
  }
}

variable "lambda_memory_size" {
  type        = number
  description = "Memory of the consumer Lambda in MB."
  default     = 512

  validation {
    condition     = var.lambda_memory_size >= 128 && var.lambda_memory_size <= 10240
    error_message = "lambda_memory_size must be between 128 and 10240 MB."
  }
}

variable "lambda_timeout" {
  type        = number
  description = "Timeout of the consumer Lambda in seconds (a full batch, with retries of throttled writes)."
  default     = 120

  validation {
    condition     = var.lambda_timeout >= 1 && var.lambda_timeout <= 900
    error_message = "lambda_timeout must be between 1 and 900 seconds."
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

variable "lambda_reserved_concurrency" {
  type        = number
  description = "Reserved concurrency of the consumer Lambda; null leaves it unreserved. The mapping runs at most one invocation per partition."
  default     = null

  validation {
    condition     = var.lambda_reserved_concurrency == null || try(var.lambda_reserved_concurrency >= 1, false)
    error_message = "lambda_reserved_concurrency must be null or at least 1."
  }
}

variable "schema_cache_capacity" {
  type        = number
  description = "SCHEMA_CACHE_CAPACITY of the consumer: schema versions kept in memory."
  default     = 1000

  validation {
    condition     = var.schema_cache_capacity >= 1 && floor(var.schema_cache_capacity) == var.schema_cache_capacity
    error_message = "schema_cache_capacity must be a whole number of at least 1."
  }
}

variable "batch_size" {
  type        = number
  description = "Most records the event source mapping hands to one invocation."
  default     = 500

  validation {
    condition     = var.batch_size >= 1 && var.batch_size <= 10000
    error_message = "batch_size must be between 1 and 10000."
  }
}

variable "maximum_batching_window_in_seconds" {
  type        = number
  description = "How long the event source mapping gathers records before invoking (0-300 s)."
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
  description = "Where a new consumer group starts: TRIM_HORIZON (oldest retained record, nothing produced before the mapping existed is missed) or LATEST."
  default     = "TRIM_HORIZON"

  validation {
    condition     = contains(["TRIM_HORIZON", "LATEST"], var.starting_position)
    error_message = "starting_position must be TRIM_HORIZON or LATEST."
  }
}

variable "consumer_group_id" {
  type        = string
  description = "Kafka consumer group of the event source mapping; null means \"<name_prefix>-consumer\"."
  default     = null

  validation {
    condition     = var.consumer_group_id == null || can(regex("^[a-zA-Z0-9._-]{1,200}$", var.consumer_group_id))
    error_message = "consumer_group_id must be 1-200 characters of letters, digits, '.', '_' and '-'."
  }
}

variable "dlq_message_retention_seconds" {
  type        = number
  description = "How long the dead-letter queue keeps poison records (60 s to 14 days)."
  default     = 1209600

  validation {
    condition     = var.dlq_message_retention_seconds >= 60 && var.dlq_message_retention_seconds <= 1209600
    error_message = "dlq_message_retention_seconds must be between 60 and 1209600."
  }
}

variable "log_retention_days" {
  type        = number
  description = "Retention of every CloudWatch log group of the module (Lambda, VPC flow logs)."
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, ...)."
  }
}

variable "secret_recovery_window_days" {
  type        = number
  description = "Days Secrets Manager keeps a deleted secret recoverable (0 deletes at once, 7-30 otherwise)."
  default     = 7

  validation {
    condition     = var.secret_recovery_window_days == 0 || (var.secret_recovery_window_days >= 7 && var.secret_recovery_window_days <= 30)
    error_message = "secret_recovery_window_days must be 0 or between 7 and 30."
  }
}

variable "deletion_protection" {
  type        = bool
  description = "Deletion protection of the readings table. Set false and apply before destroying."
  default     = true
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every resource of the module (on top of the provider's default tags)."
  default     = {}
}
