# Two customer-managed keys: `data` encrypts what stays in this account (MSK at rest, logs,
# the SCRAM secret, Lambda environment); `broker_map` encrypts only the broker-map secret, the one
# thing the consumer account may decrypt.

module "data_key" {
  source = "../kms-key"

  alias           = "${local.name}-data"
  description     = "${local.name}: MSK at rest, logs, SCRAM secret, Lambda environment"
  cloudwatch_logs = true
  tags            = local.tags
}

module "broker_map_key" {
  source = "../kms-key"

  alias       = "${local.name}-broker-map"
  description = "${local.name}: broker-map secret shared with the consumer account"
  tags        = local.tags

  grants = [
    {
      sid       = "ConsumerAccountDecryptsTheBrokerMapThroughSecretsManager"
      actions   = ["kms:Decrypt", "kms:DescribeKey"]
      principal = { type = "AWS", identifiers = [local.consumer_account_root_arn] }
      conditions = [
        { test = "StringEquals", variable = "kms:ViaService", values = ["secretsmanager.${local.region}.amazonaws.com"] },
      ]
    },
  ]
}
