# What the consumer Lambda's execution role grants beyond what the lambda-function module adds for
# the function itself (its logs, its environment key, its VPC ENIs, traces). The role is also the
# event source mapping's: the pollers read the SCRAM secret, describe the VPC, manage their ENIs
# with the same ENI grant, and send discarded batches to the queue.

# What the consumer's code calls (sts:AssumeRole through aws-config's AssumeRoleProvider,
# BatchWriteItem, BatchGetItem and PutItem, SendMessageBatch, which SQS authorises as
# sqs:SendMessage) and what the mapping's pollers need: the SCRAM secret, the VPC's description
# and the on-failure destination.
data "aws_iam_policy_document" "consumer_lambda" {
  statement {
    sid       = "AssumeTheProducerSchemaRole"
    effect    = "Allow"
    actions   = ["sts:AssumeRole"]
    resources = [var.producer.schema_reader_role_arn]
  }

  statement {
    sid       = "WriteReadings"
    effect    = "Allow"
    actions   = ["dynamodb:BatchWriteItem"]
    resources = [aws_dynamodb_table.readings.arn]
  }

  statement {
    sid       = "ReadAndWriteAggregates"
    effect    = "Allow"
    actions   = ["dynamodb:BatchGetItem", "dynamodb:PutItem"]
    resources = [aws_dynamodb_table.aggregates.arn]
  }

  statement {
    sid       = "DeadLetter"
    effect    = "Allow"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.dead_letter.arn]
  }

  statement {
    sid       = "ReadTheScramSecret"
    effect    = "Allow"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [aws_secretsmanager_secret.kafka_scram.arn]
  }

  # Sending to the encrypted queue also takes kms:Decrypt on the key, as reading the SCRAM secret
  # does: the module's DecryptOwnEnvironment grants it on this same key.
  statement {
    sid       = "UseTheDataKey"
    effect    = "Allow"
    actions   = ["kms:GenerateDataKey"]
    resources = [module.data_key.arn]
  }

  # Pollers of a self-managed Kafka mapping in a VPC describe the VPC, its subnets and security
  # groups before they create their ENIs.
  statement {
    sid       = "DescribeNetworkForThePollers"
    effect    = "Allow"
    actions   = ["ec2:DescribeSecurityGroups", "ec2:DescribeSubnets", "ec2:DescribeVpcs"]
    resources = ["*"]
  }
}
