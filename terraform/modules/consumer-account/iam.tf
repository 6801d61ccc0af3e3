# Execution role of the consumer Lambda, also used by its event source mapping (pollers read the
# SCRAM secret and manage their ENIs with it, and send discarded batches to the queue).

data "aws_iam_policy_document" "lambda_trust" {
  statement {
    sid     = "LambdaService"
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

# What the consumer's code calls (sts:AssumeRole through aws-config's AssumeRoleProvider,
# BatchWriteItem, SendMessageBatch, which SQS authorises as sqs:SendMessage) and what Lambda needs
# for this function and its mapping: the pollers read the SCRAM secret, describe the VPC, manage
# their ENIs and send discarded batches to the on-failure destination; the function manages its
# VPC ENIs, writes its logs, uploads traces and decrypts its environment.
data "aws_iam_policy_document" "consumer_lambda" {
  #checkov:skip=CKV_AWS_356:Only EC2 actions for the ENIs of the function and the pollers (the interfaces do not exist before Lambda creates them; the Describe actions have no resource-level permissions) and the X-Ray upload actions (no resource-level permissions) are granted on "*".
  #checkov:skip=CKV_AWS_111:The write actions on "*" are the ENI actions Lambda performs for the function and its pollers in this VPC, and the X-Ray upload actions, which have no resource-level permissions.
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

  statement {
    sid       = "UseTheDataKey"
    effect    = "Allow"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.this.arn]
  }

  # What Lambda does with the execution role of a function in a VPC (as terraform-aws-lambda
  # grants it), instead of AWSLambdaVPCAccessExecutionRole, whose logs:* on "*" would void the
  # scoped log statement.
  statement {
    sid    = "ManageVpcNetworkInterfaces"
    effect = "Allow"
    actions = [
      "ec2:AssignPrivateIpAddresses",
      "ec2:CreateNetworkInterface",
      "ec2:DeleteNetworkInterface",
      "ec2:DescribeNetworkInterfaces",
      "ec2:UnassignPrivateIpAddresses",
    ]
    resources = ["*"]
  }

  # Pollers of a self-managed Kafka mapping in a VPC describe the VPC, its subnets and security
  # groups before they create their ENIs.
  statement {
    sid       = "DescribeNetworkForThePollers"
    effect    = "Allow"
    actions   = ["ec2:DescribeSecurityGroups", "ec2:DescribeSubnets", "ec2:DescribeVpcs"]
    resources = ["*"]
  }

  statement {
    sid       = "WriteOwnLogs"
    effect    = "Allow"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.lambda.arn}:log-stream:*"]
  }

  # Active tracing: the segment upload (no resource-level permissions).
  statement {
    sid       = "UploadTraces"
    effect    = "Allow"
    actions   = ["xray:PutTelemetryRecords", "xray:PutTraceSegments"]
    resources = ["*"]
  }
}

resource "aws_iam_role" "lambda" {
  name               = "${local.name}-lambda"
  description        = "Execution role of the ${local.name} Lambda and its Kafka event source mapping"
  assume_role_policy = data.aws_iam_policy_document.lambda_trust.json

  tags = local.tags
}

resource "aws_iam_role_policy" "lambda" {
  name   = "consume-sensor-readings"
  role   = aws_iam_role.lambda.id
  policy = data.aws_iam_policy_document.consumer_lambda.json
}
