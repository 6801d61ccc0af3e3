# The event source mapping's SASL/SCRAM credentials. Secrets Manager secrets used by an event source
# mapping must be in the function's account and region; the producer account holds the same user
# in its AmazonMSK_ secret.

resource "aws_secretsmanager_secret" "kafka_scram" {
  #checkov:skip=CKV2_AWS_57:Rotation would desynchronise this copy from the producer account's MSK secret; rotate by changing kafka_scram_password and kafka_scram_password_version on both sides.
  name                    = "${local.name}-kafka-scram"
  description             = "SASL/SCRAM credentials of the ${local.name} event source mapping"
  kms_key_id              = module.data_key.arn
  recovery_window_in_days = var.settings.secret_recovery_window_days

  tags = local.tags
}

resource "aws_secretsmanager_secret_version" "kafka_scram" {
  secret_id = aws_secretsmanager_secret.kafka_scram.id
  secret_string_wo = jsonencode({
    username = var.producer.kafka_scram_username
    password = var.kafka_scram_password
  })
  secret_string_wo_version = var.settings.kafka_scram_password_version
}
