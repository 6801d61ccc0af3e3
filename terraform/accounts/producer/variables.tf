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
