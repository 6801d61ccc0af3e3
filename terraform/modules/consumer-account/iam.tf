# Execution role of the consumer Lambda, also used by its event source mapping (pollers read the
# SCRAM secret and manage their ENIs with it, and send on-failure records to the queue).

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

data "aws_iam_policy_document" "consumer_lambda" {
  statement {
    sid       = "AssumeTheProducerSchemaRole"
    effect    = "Allow"
    actions   = ["sts:AssumeRole"]
    resources = [var.producer_role_arn]
  }

  statement {
    sid       = "WriteReadings"
    effect    = "Allow"
    actions   = ["dynamodb:BatchWriteItem", "dynamodb:PutItem"]
    resources = [aws_dynamodb_table.readings.arn]
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

  # Pollers of a self-managed Kafka mapping in a VPC describe the VPC and security groups on top of
  # AWSLambdaVPCAccessExecutionRole; EC2 Describe actions have no resource-level permissions.
  statement {
    sid       = "DescribeNetworkForThePollers"
    effect    = "Allow"
    actions   = ["ec2:DescribeVpcs", "ec2:DescribeSecurityGroups"]
    resources = ["*"]
  }

  statement {
    sid       = "WriteOwnLogs"
    effect    = "Allow"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.lambda.arn}:log-stream:*"]
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

# ENI management for a function in a VPC (and CloudWatch Logs basics).
resource "aws_iam_role_policy_attachment" "lambda_vpc" {
  role       = aws_iam_role.lambda.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"
}

# Active tracing: segment upload (xray:PutTraceSegments/PutTelemetryRecords, which have no
# resource-level permissions).
resource "aws_iam_role_policy_attachment" "lambda_xray" {
  role       = aws_iam_role.lambda.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/AWSXRayDaemonWriteAccess"
}
