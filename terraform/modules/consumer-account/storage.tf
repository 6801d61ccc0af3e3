# The readings table, the aggregates table and the dead-letter queue.

resource "aws_dynamodb_table" "readings" {
  name                        = "${local.name}-readings"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "deviceId"
  range_key                   = "_readingId"
  deletion_protection_enabled = var.settings.deletion_protection

  attribute {
    name = "deviceId"
    type = "S"
  }

  # "<timestamp: 13 digits of epoch ms>#<topic>#<partition>#<offset>": time order within a
  # device, one item per Kafka record (see ARCHITECTURE.md, "A reading's identity").
  attribute {
    name = "_readingId"
    type = "S"
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = module.data_key.arn
  }

  tags = local.tags
}

# Per-device aggregates over windows of aggregate_window_seconds: the consumer reads the windows
# a batch touches and writes each once, conditioned on the version it read (see ARCHITECTURE.md,
# "Aggregates").
resource "aws_dynamodb_table" "aggregates" {
  name                        = "${local.name}-aggregates"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "deviceId"
  range_key                   = "windowStart"
  deletion_protection_enabled = var.settings.deletion_protection

  attribute {
    name = "deviceId"
    type = "S"
  }

  # The window's start, epoch milliseconds.
  attribute {
    name = "windowStart"
    type = "N"
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = module.data_key.arn
  }

  tags = local.tags
}

# Poison records (sent by the function with the raw record, its coordinates and the reason) and
# the event source mapping's on-failure records (batches it gave up on).
resource "aws_sqs_queue" "dead_letter" {
  name                      = "${local.name}-dead-letter"
  message_retention_seconds = var.settings.dlq_message_retention_seconds
  # The consumer keeps every dead letter within 256 KiB (a larger record's raw value is left out;
  # Kafka still holds it at the letter's coordinates).
  max_message_size                  = 262144
  kms_master_key_id                 = module.data_key.arn
  kms_data_key_reuse_period_seconds = 300

  tags = local.tags
}
