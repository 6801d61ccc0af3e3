# The broker map (JSON shape in scripts/CONTRACT.md): what the consumer account needs to reach the
# brokers through its endpoints. Not a credential, but shared across accounts, so it has its own
# CMK and a resource policy that admits the consumer account only.

locals {
  broker_map = {
    bootstrap_servers = join(",", [for b in local.brokers : "${b.endpoint_url}:${b.broker_port}"])
    # SCRAM-SHA-512 over TLS on the consumer-facing listener.
    security_protocol = "SASL_SSL"
    sasl_mechanism    = "SCRAM-SHA-512"
    topic             = var.settings.topic
    brokers           = local.brokers
  }
}

resource "aws_secretsmanager_secret" "broker_map" {
  #checkov:skip=CKV2_AWS_57:Not a credential: the broker map holds host names, ports and endpoint service names, which Terraform rewrites whenever they change. There is nothing to rotate.
  name                    = "${local.name}-broker-map"
  description             = "Broker map of ${local.name}-kafka for the consumer account (endpoint_url, broker_port, service_name per broker)"
  kms_key_id              = module.broker_map_key.arn
  recovery_window_in_days = var.settings.secret_recovery_window_days

  tags = local.tags
}

resource "aws_secretsmanager_secret_version" "broker_map" {
  secret_id     = aws_secretsmanager_secret.broker_map.id
  secret_string = jsonencode(local.broker_map)
}

data "aws_iam_policy_document" "broker_map_secret" {
  statement {
    sid       = "ConsumerAccountReadsTheBrokerMap"
    effect    = "Allow"
    actions   = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
    resources = [aws_secretsmanager_secret.broker_map.arn]

    principals {
      type        = "AWS"
      identifiers = [local.consumer_account_root_arn]
    }
  }
}

resource "aws_secretsmanager_secret_policy" "broker_map" {
  secret_arn          = aws_secretsmanager_secret.broker_map.arn
  policy              = data.aws_iam_policy_document.broker_map_secret.json
  block_public_policy = true
}
