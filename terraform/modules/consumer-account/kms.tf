# One customer-managed key for the consumer account's data: the readings table, the dead-letter
# queue, the event source mapping's SCRAM secret, log groups and the Lambda environment.

module "data_key" {
  source = "../kms-key"

  alias           = "${local.name}-data"
  description     = "${local.name}: readings table, dead-letter queue, SCRAM secret, logs, Lambda environment"
  cloudwatch_logs = true
  tags            = local.tags
}
