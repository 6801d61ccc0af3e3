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
