# Inputs of the producer account. `settings` holds what a deployment chooses; the variables after it
# are what a root wires from the consumer account (or computes, like the package path).

variable "settings" {
  description = "Every setting of the producer account, one attribute each (see the comments); the roots pass their own producer object, merged with what they wire from the other account."
  type = object({
    # Prefix of every resource name. The module appends "-producer", so both modules can share one prefix in one account.
    name_prefix = optional(string, "sensors")

    # IPv4 CIDR of the producer VPC (/16 to /22). Each zone gets a subnet 4 bits longer (a /20 of a /16, at least a /26) with room for the endpoints and Lambda ENIs.
    vpc_cidr = optional(string, "10.10.0.0/16")

    # Availability zone IDs (for example use1-az1), not names: names map to different zones in different accounts, and the consumer's interface endpoints must sit in the zones of the endpoint services. Empty picks the first three zones of the region.
    availability_zone_ids = optional(list(string), [])

    # Apache Kafka version of the MSK cluster. Pinned: upgrades are deliberate.
    kafka_version = optional(string, "3.8.x")

    # MSK broker instance type.
    broker_instance_type = optional(string, "kafka.t3.small")

    # Brokers per availability zone. Every broker gets its own NLB and endpoint service.
    brokers_per_az = optional(number, 1)

    # EBS storage per broker in GiB.
    broker_volume_size = optional(number, 100)

    # Kafka's allow.everyone.if.no.acl.found. false (the default): a SASL/SCRAM client may do only what a Kafka ACL allows, so the consumer's user needs the ACLs of the kafka_acls output (terraform/README.md); IAM clients are governed by their IAM policies either way. true lets every authenticated SCRAM user act on every topic.
    kafka_allow_everyone_if_no_acl_found = optional(bool, false)

    # Kafka topic the producer writes and the consumer's event source mapping reads.
    topic = optional(string, "sensor-readings")

    # Name of the AWS Glue Schema Registry (REGISTRY_NAME).
    registry_name = optional(string, "sensor-registry")

    # Name of the Glue schema the producer registers versions under (SCHEMA_NAME). The producer creates it on first use.
    schema_name = optional(string, "sensor-readings")

    # DEVICE_ID the producer stamps on every reading.
    device_id = optional(string, "000001")

    # Compatibility mode the producer creates the schema with (SCHEMA_COMPATIBILITY).
    schema_compatibility = optional(string, "BACKWARD")

    # Whether the producer zlib-compresses record bodies (ZLIB_COMPRESSION).
    zlib_compression = optional(bool, false)

    # Whether the producer takes publish envelopes {"body", "key", "headers"} (EVENT_ENVELOPE): body is the event or events, key the Kafka message key (default: the deviceId), headers string Kafka headers. Off: every payload is the event itself, even one with a field named body.
    event_envelope = optional(bool, false)

    # AWS account ID of the consumer account: the only principal allowed on the broker endpoint services and on the broker-map secret. May equal the producer account.
    consumer_account_id = string

    # External ID the consumer must present (sts:ExternalId) when assuming the cross-account role (SCHEMA_READER_EXTERNAL_ID).
    schema_reader_external_id = string

    # SASL/SCRAM user name of the consumer account's event source mapping.
    kafka_scram_username = optional(string, "consumer-esm")

    # Increase to rewrite the SASL/SCRAM secret with the current kafka_scram_password (write-only values are only sent when this changes).
    kafka_scram_password_version = optional(number, 1)

    # Memory of the producer Lambda in MB.
    lambda_memory_size = optional(number, 256)

    # Timeout of the producer Lambda in seconds.
    lambda_timeout = optional(number, 30)

    # Lowest level of the producer Lambda's own log records that CloudWatch keeps (JSON log format).
    lambda_application_log_level = optional(string, "INFO")

    # Lowest level of the Lambda platform's log records for the producer function that CloudWatch keeps.
    lambda_system_log_level = optional(string, "WARN")

    # Reserved concurrency of the producer Lambda; null leaves it unreserved (new accounts often have too small a quota to reserve any).
    lambda_reserved_concurrency = optional(number)

    # Create an EventBridge rule that invokes the producer on schedule_expression with the event {}.
    enable_schedule = optional(bool, false)

    # EventBridge schedule of the producer when enable_schedule is true.
    schedule_expression = optional(string, "rate(5 minutes)")

    # Retention of every CloudWatch log group of the module (broker logs, Lambda, VPC flow logs).
    log_retention_days = optional(number, 365)

    # Days Secrets Manager keeps a deleted secret recoverable (0 deletes at once, 7-30 otherwise).
    secret_recovery_window_days = optional(number, 7)

    # Deletion protection of the broker load balancers. Set false and apply before destroying.
    deletion_protection = optional(bool, true)

    # Tags added to every resource of the module (on top of the provider's default tags).
    tags = optional(map(string), {})
  })
  nullable = false

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,14}[a-z0-9]$", var.settings.name_prefix))
    error_message = "name_prefix must be 2-16 characters of lower-case letters, digits and hyphens, start with a letter and not end with a hyphen (load balancer names are limited to 32 characters)."
  }

  validation {
    condition     = can(cidrhost(var.settings.vpc_cidr, 0)) && try(tonumber(split("/", var.settings.vpc_cidr)[1]) >= 16 && tonumber(split("/", var.settings.vpc_cidr)[1]) <= 22, false)
    error_message = "vpc_cidr must be a valid IPv4 CIDR block with a prefix length between /16 and /22."
  }

  validation {
    condition     = (length(var.settings.availability_zone_ids) == 0 || contains([2, 3], length(var.settings.availability_zone_ids))) && alltrue([for id in var.settings.availability_zone_ids : can(regex("^[a-z]{2,6}[0-9]-az[0-9]+$", id))])
    error_message = "availability_zone_ids must be empty or list 2 or 3 zone IDs such as use1-az1 (MSK spreads brokers evenly over 2 or 3 zones)."
  }

  validation {
    condition     = can(regex("^[0-9]+\\.[0-9]+\\.([0-9]+|x)(\\.kraft)?$", var.settings.kafka_version))
    error_message = "kafka_version must be an MSK version string such as 3.8.x or 3.6.0."
  }

  validation {
    condition     = can(regex("^(kafka|express)\\.[a-z0-9]+\\.[a-z0-9]+$", var.settings.broker_instance_type))
    error_message = "broker_instance_type must be an MSK instance type such as kafka.t3.small, kafka.m7g.large or express.m7g.large (three zones)."
  }

  validation {
    condition     = var.settings.brokers_per_az >= 1 && var.settings.brokers_per_az <= 5 && floor(var.settings.brokers_per_az) == var.settings.brokers_per_az
    error_message = "brokers_per_az must be a whole number from 1 to 5."
  }

  validation {
    condition     = var.settings.broker_volume_size >= 1 && var.settings.broker_volume_size <= 16384
    error_message = "broker_volume_size must be between 1 and 16384 GiB."
  }


  validation {
    condition     = can(regex("^[a-zA-Z0-9._-]{1,249}$", var.settings.topic))
    error_message = "topic must be 1-249 characters of letters, digits, '.', '_' and '-'."
  }

  validation {
    condition     = can(regex("^[a-zA-Z0-9_$#.-]{1,255}$", var.settings.registry_name))
    error_message = "registry_name must be 1-255 characters of letters, digits, '-', '_', '$', '#' and '.'."
  }

  validation {
    condition     = can(regex("^[a-zA-Z0-9_$#.-]{1,255}$", var.settings.schema_name))
    error_message = "schema_name must be 1-255 characters of letters, digits, '-', '_', '$', '#' and '.'."
  }

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,64}$", var.settings.device_id))
    error_message = "device_id must be 1-64 characters of letters, digits, '_' and '-'."
  }

  validation {
    condition     = contains(["BACKWARD", "BACKWARD_ALL", "FORWARD", "FORWARD_ALL", "FULL", "FULL_ALL", "NONE"], var.settings.schema_compatibility)
    error_message = "schema_compatibility must be one of BACKWARD, BACKWARD_ALL, FORWARD, FORWARD_ALL, FULL, FULL_ALL, NONE."
  }

  validation {
    condition     = can(regex("^[0-9]{12}$", var.settings.consumer_account_id))
    error_message = "consumer_account_id must be a 12-digit AWS account ID."
  }


  validation {
    condition     = can(regex("^[A-Za-z0-9+=,.@:/_-]+$", var.settings.schema_reader_external_id)) && length(var.settings.schema_reader_external_id) >= 16 && length(var.settings.schema_reader_external_id) <= 1224
    error_message = "schema_reader_external_id must be 16-1224 characters of letters, digits and +=,.@:/_- (use a random value, for example `openssl rand -hex 16`)."
  }

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]{1,64}$", var.settings.kafka_scram_username))
    error_message = "kafka_scram_username must be 1-64 characters of letters, digits, '.', '_' and '-'."
  }

  validation {
    condition     = var.settings.kafka_scram_password_version >= 1 && floor(var.settings.kafka_scram_password_version) == var.settings.kafka_scram_password_version
    error_message = "kafka_scram_password_version must be a whole number of at least 1."
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
    condition     = can(regex("^(rate|cron)\\(.+\\)$", var.settings.schedule_expression))
    error_message = "schedule_expression must be a rate(...) or cron(...) expression."
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
  description = "SASL/SCRAM password of the consumer's event source mapping. Ephemeral: written with a write-only argument, never stored in state or plan files. Give the same value to the consumer account."
  sensitive   = true
  ephemeral   = true
  nullable    = false

  validation {
    condition     = length(var.kafka_scram_password) >= 16 && length(var.kafka_scram_password) <= 128
    error_message = "kafka_scram_password must be 16-128 characters long."
  }
}

variable "consumer_lambda_role_arn" {
  type        = string
  description = "ARN of the consumer Lambda's execution role: the only principal trusted by the cross-account role. Required when create_schema_reader_role is true."
  default     = null

  validation {
    condition     = var.consumer_lambda_role_arn == null ? !var.create_schema_reader_role : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$", var.consumer_lambda_role_arn))
    error_message = "consumer_lambda_role_arn must be an IAM role ARN such as arn:aws:iam::210987654321:role/sensors-consumer-lambda, and is required when create_schema_reader_role is true."
  }
}

variable "create_schema_reader_role" {
  type        = bool
  description = "Create the cross-account schema reader role. IAM rejects a trust policy naming a role that does not exist yet, so a split deployment applies the producer once with false, then the consumer, then the producer again with true."
  default     = true
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

variable "lambda_zip_path" {
  type        = string
  description = "Path of the producer's deployment package, built by `cargo lambda build --release --output-format zip --bin producer` (scripts/build-lambdas.sh)."

  validation {
    condition     = endswith(var.lambda_zip_path, ".zip")
    error_message = "lambda_zip_path must point to a .zip file."
  }
}
