# Inputs of the consumer account. `settings` holds what a deployment chooses, `producer` what it
# takes from the producer account.

variable "settings" {
  description = "Every setting of the consumer account, one attribute each (see the comments); the roots pass their own consumer object, merged with what they wire from the other account."
  type = object({
    # Prefix of every resource name. The module appends "-consumer", so both modules can share one prefix in one account.
    name_prefix = optional(string, "sensors")

    # IPv4 CIDR of the consumer VPC (/16 to /22). Each zone gets a subnet 4 bits longer (a /20 of a /16, at least a /26) with room for the endpoints and Lambda ENIs.
    vpc_cidr = optional(string, "10.20.0.0/16")

    # Increase to rewrite the event source mapping's secret with the current kafka_scram_password.
    kafka_scram_password_version = optional(number, 1)

    # Memory of the consumer Lambda in MB.
    lambda_memory_size = optional(number, 512)

    # Timeout of the consumer Lambda in seconds (a full batch, with retries of throttled writes).
    lambda_timeout = optional(number, 120)

    # Lowest level of the consumer Lambda's own log records that CloudWatch keeps (JSON log format).
    lambda_application_log_level = optional(string, "INFO")

    # Lowest level of the Lambda platform's log records for the consumer function that CloudWatch keeps.
    lambda_system_log_level = optional(string, "WARN")

    # Reserved concurrency of the consumer Lambda; null leaves it unreserved. The mapping runs at most one invocation per partition.
    lambda_reserved_concurrency = optional(number)

    # SCHEMA_CACHE_CAPACITY of the consumer: schema versions kept in memory.
    schema_cache_capacity = optional(number, 1000)

    # Most records the event source mapping hands to one invocation.
    batch_size = optional(number, 500)

    # How long the event source mapping gathers records before invoking (0-300 s).
    maximum_batching_window_in_seconds = optional(number, 1)

    # Provisioned mode of the event source mapping: the minimum and maximum event pollers (one poller handles up to about 5 MB/s). null = on-demand mode, in which Lambda retries a failing batch until its records expire and the retry settings below are not sent.
    provisioned_pollers = optional(object({
      minimum = number
      maximum = number
    }))

    # Provisioned mode only: retries of a failing batch before it goes to the on-failure destination (0-10000, -1 = until the records expire).
    maximum_retry_attempts = optional(number, 10)

    # Provisioned mode only: records older than this are not retried but sent to the on-failure destination (60-604800 s, -1 = no limit).
    maximum_record_age_in_seconds = optional(number, -1)

    # Provisioned mode only: split a failing batch in two and retry the halves.
    bisect_batch_on_function_error = optional(bool, false)

    # Where a new consumer group starts: TRIM_HORIZON (oldest retained record, nothing produced before the mapping existed is missed) or LATEST.
    starting_position = optional(string, "TRIM_HORIZON")

    # Kafka consumer group of the event source mapping; null means "<name_prefix>-consumer".
    consumer_group_id = optional(string)

    # How long the dead-letter queue keeps poison records (60 s to 14 days).
    dlq_message_retention_seconds = optional(number, 1209600)

    # Retention of every CloudWatch log group of the module (Lambda, VPC flow logs).
    log_retention_days = optional(number, 365)

    # Days Secrets Manager keeps a deleted secret recoverable (0 deletes at once, 7-30 otherwise).
    secret_recovery_window_days = optional(number, 7)

    # Length of the aggregates' windows (AGGREGATE_WINDOW_SECONDS), 1 s to 1 day.
    aggregate_window_seconds = optional(number, 60)

    # Deletion protection of the readings table. Set false and apply before destroying.
    deletion_protection = optional(bool, true)

    # Tags added to every resource of the module (on top of the provider's default tags).
    tags = optional(map(string), {})
  })
  nullable = false

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,14}[a-z0-9]$", var.settings.name_prefix))
    error_message = "name_prefix must be 2-16 characters of lower-case letters, digits and hyphens, start with a letter and not end with a hyphen."
  }

  validation {
    condition     = can(cidrhost(var.settings.vpc_cidr, 0)) && try(tonumber(split("/", var.settings.vpc_cidr)[1]) >= 16 && tonumber(split("/", var.settings.vpc_cidr)[1]) <= 22, false)
    error_message = "vpc_cidr must be a valid IPv4 CIDR block with a prefix length between /16 and /22."
  }








  validation {
    condition     = var.settings.kafka_scram_password_version >= 1 && floor(var.settings.kafka_scram_password_version) == var.settings.kafka_scram_password_version
    error_message = "kafka_scram_password_version must be a whole number of at least 1."
  }


  validation {
    condition     = var.settings.aggregate_window_seconds >= 1 && var.settings.aggregate_window_seconds <= 86400 && floor(var.settings.aggregate_window_seconds) == var.settings.aggregate_window_seconds
    error_message = "aggregate_window_seconds must be a whole number of seconds from 1 to 86400."
  }

  validation {
    condition     = var.settings.lambda_memory_size >= 128 && var.settings.lambda_memory_size <= 10240
    error_message = "lambda_memory_size must be between 128 and 10240 MB."
  }

  validation {
    condition     = var.settings.lambda_timeout >= 1 && var.settings.lambda_timeout <= 900
    error_message = "lambda_timeout must be between 1 and 900 seconds."
  }

  validation {
    condition     = contains(["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"], var.settings.lambda_application_log_level)
    error_message = "lambda_application_log_level must be one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL."
  }

  validation {
    condition     = contains(["DEBUG", "INFO", "WARN"], var.settings.lambda_system_log_level)
    error_message = "lambda_system_log_level must be one of DEBUG, INFO, WARN."
  }

  validation {
    condition     = var.settings.lambda_reserved_concurrency == null || try(var.settings.lambda_reserved_concurrency >= 1, false)
    error_message = "lambda_reserved_concurrency must be null or at least 1."
  }

  validation {
    condition     = var.settings.schema_cache_capacity >= 1 && floor(var.settings.schema_cache_capacity) == var.settings.schema_cache_capacity
    error_message = "schema_cache_capacity must be a whole number of at least 1."
  }

  validation {
    condition     = var.settings.batch_size >= 1 && var.settings.batch_size <= 10000
    error_message = "batch_size must be between 1 and 10000."
  }

  validation {
    condition     = var.settings.maximum_batching_window_in_seconds >= 0 && var.settings.maximum_batching_window_in_seconds <= 300
    error_message = "maximum_batching_window_in_seconds must be between 0 and 300."
  }

  validation {
    condition = var.settings.provisioned_pollers == null || try(
      var.settings.provisioned_pollers.minimum >= 1 && var.settings.provisioned_pollers.minimum <= 200 &&
      var.settings.provisioned_pollers.maximum >= 1 && var.settings.provisioned_pollers.maximum <= 2000 &&
      var.settings.provisioned_pollers.minimum <= var.settings.provisioned_pollers.maximum &&
      floor(var.settings.provisioned_pollers.minimum) == var.settings.provisioned_pollers.minimum &&
      floor(var.settings.provisioned_pollers.maximum) == var.settings.provisioned_pollers.maximum,
      false
    )
    error_message = "provisioned_pollers needs whole numbers minimum 1-200 and maximum 1-2000 with minimum <= maximum, or null for on-demand mode."
  }

  validation {
    condition     = var.settings.maximum_retry_attempts >= -1 && var.settings.maximum_retry_attempts <= 10000 && floor(var.settings.maximum_retry_attempts) == var.settings.maximum_retry_attempts
    error_message = "maximum_retry_attempts must be a whole number from -1 to 10000."
  }

  validation {
    condition     = var.settings.maximum_record_age_in_seconds == -1 || (var.settings.maximum_record_age_in_seconds >= 60 && var.settings.maximum_record_age_in_seconds <= 604800)
    error_message = "maximum_record_age_in_seconds must be -1 or between 60 and 604800."
  }

  validation {
    condition     = contains(["TRIM_HORIZON", "LATEST"], var.settings.starting_position)
    error_message = "starting_position must be TRIM_HORIZON or LATEST."
  }

  validation {
    condition     = var.settings.consumer_group_id == null || can(regex("^[a-zA-Z0-9._-]{1,200}$", var.settings.consumer_group_id))
    error_message = "consumer_group_id must be 1-200 characters of letters, digits, '.', '_' and '-'."
  }

  validation {
    condition     = var.settings.dlq_message_retention_seconds >= 60 && var.settings.dlq_message_retention_seconds <= 1209600
    error_message = "dlq_message_retention_seconds must be between 60 and 1209600."
  }

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.settings.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, ...)."
  }

  validation {
    condition     = var.settings.secret_recovery_window_days == 0 || (var.settings.secret_recovery_window_days >= 7 && var.settings.secret_recovery_window_days <= 30)
    error_message = "secret_recovery_window_days must be 0 or between 7 and 30."
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

variable "producer" {
  description = "What the consumer account takes from the producer account: attributes named like the producer root's outputs, so `terraform output -json` of the producer (or the both-accounts root's module outputs) fits as is; other attributes are ignored."
  type = object({
    # Cross-account schema reader role the consumer Lambda assumes (SCHEMA_READER_ROLE_ARN).
    schema_reader_role_arn = string

    # External ID the schema reader role requires (SCHEMA_READER_EXTERNAL_ID).
    schema_reader_external_id = string

    # Region of the producer's registry and brokers (PRODUCER_REGION); null means this account's region. Interface endpoints are regional, so it must equal this region.
    region = optional(string)

    # Zone IDs of the broker endpoint services; the consumer subnets use the same zones, so every endpoint service is offered in every subnet.
    availability_zone_ids = list(string)

    # Broker map entries (output brokers, or the brokers array of the broker-map secret): one interface endpoint and one DNS record per broker.
    brokers = list(object({
      broker_id    = number
      endpoint_url = string
      broker_port  = number
      service_name = string
    }))

    # Kafka topic the event source mapping reads.
    topic = optional(string, "sensor-readings")

    # SASL/SCRAM user name of the event source mapping.
    kafka_scram_username = optional(string, "consumer-esm")
  })
  nullable = false

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$", var.producer.schema_reader_role_arn))
    error_message = "producer.schema_reader_role_arn must be an IAM role ARN."
  }

  validation {
    condition     = can(regex("^[A-Za-z0-9+=,.@:/_-]+$", var.producer.schema_reader_external_id)) && length(var.producer.schema_reader_external_id) >= 16 && length(var.producer.schema_reader_external_id) <= 1224
    error_message = "producer.schema_reader_external_id must be 16-1224 characters of letters, digits and +=,.@:/_-."
  }

  validation {
    condition     = var.producer.region == null || can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.producer.region))
    error_message = "producer.region must be a region name such as eu-west-1."
  }

  validation {
    condition     = contains([2, 3], length(var.producer.availability_zone_ids)) && alltrue([for id in var.producer.availability_zone_ids : can(regex("^[a-z]{2,6}[0-9]-az[0-9]+$", id))])
    error_message = "producer.availability_zone_ids must list 2 or 3 zone IDs such as use1-az1."
  }

  validation {
    condition     = length(var.producer.brokers) >= 1
    error_message = "producer.brokers must list at least one broker."
  }

  validation {
    condition     = can(regex("^[a-zA-Z0-9._-]{1,249}$", var.producer.topic))
    error_message = "producer.topic must be 1-249 characters of letters, digits, '.', '_' and '-'."
  }

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]{1,64}$", var.producer.kafka_scram_username))
    error_message = "producer.kafka_scram_username must be 1-64 characters of letters, digits, '.', '_' and '-'."
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
