# IAM: the cross-account schema-access role assumed by the consumer Lambda, and the producer
# Lambda's execution role.
#
# Glue authorises GetSchemaVersion called with a SchemaVersionId (how every Glue-framed record is
# decoded) against "*" only; it is the one action granted on "*". Everything else is scoped to
# the registry and its schemas.

# --- Cross-account role ------------------------------------------------------------------------

data "aws_iam_policy_document" "consumer_access_trust" {
  count = var.create_consumer_access_role ? 1 : 0

  statement {
    sid     = "ConsumerLambdaOnly"
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "AWS"
      identifiers = [var.consumer_lambda_role_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "sts:ExternalId"
      values   = [var.consumer_access_external_id]
    }
  }
}

data "aws_iam_policy_document" "consumer_access" {
  #checkov:skip=CKV_AWS_356:Only glue:GetSchemaVersion is granted on "*": Glue authorises a lookup by SchemaVersionId (how every framed record is decoded) against "*" only. Every other action is scoped to the registry, its schemas, the secret or the key.
  statement {
    sid    = "ReadSchemasOfTheRegistry"
    effect = "Allow"
    actions = [
      "glue:GetRegistry",
      "glue:GetSchema",
      "glue:GetSchemaByDefinition",
      "glue:ListSchemaVersions",
    ]
    resources = [local.registry_arn, local.schema_arn_pattern]
  }

  statement {
    sid       = "ReadSchemaVersionsById"
    effect    = "Allow"
    actions   = ["glue:GetSchemaVersion"]
    resources = ["*"]
  }

  statement {
    sid       = "ReadTheBrokerMap"
    effect    = "Allow"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [aws_secretsmanager_secret.broker_map.arn]
  }

  statement {
    sid       = "DecryptTheBrokerMap"
    effect    = "Allow"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.broker_map.arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${local.region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "consumer_access" {
  count = var.create_consumer_access_role ? 1 : 0

  name                 = local.consumer_access_role_name
  description          = "Assumed by the consumer account's Lambda to read schemas of ${var.registry_name} and the broker map"
  assume_role_policy   = data.aws_iam_policy_document.consumer_access_trust[0].json
  max_session_duration = 3600

  tags = local.tags
}

resource "aws_iam_role_policy" "consumer_access" {
  count = var.create_consumer_access_role ? 1 : 0

  name   = "read-schemas-and-broker-map"
  role   = aws_iam_role.consumer_access[0].id
  policy = data.aws_iam_policy_document.consumer_access.json
}

# --- Producer Lambda ---------------------------------------------------------------------------

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

locals {
  # Topic and group ARNs of MSK IAM access control: arn:...:topic/<cluster-name>/<cluster-uuid>/<topic>.
  topic_arn = "${replace(aws_msk_cluster.this.arn, ":cluster/", ":topic/")}/${var.topic}"
}

data "aws_iam_policy_document" "producer_lambda" {
  #checkov:skip=CKV_AWS_356:Only glue:GetSchemaVersion is granted on "*": Glue authorises a lookup by SchemaVersionId against "*" only. Every other action is scoped to the registry, its schemas, the cluster, the topic, the log group or the key.
  statement {
    sid    = "RegisterAndReadSchemas"
    effect = "Allow"
    actions = [
      "glue:GetRegistry",
      "glue:CreateSchema",
      "glue:GetSchema",
      "glue:GetSchemaByDefinition",
      "glue:ListSchemaVersions",
      "glue:RegisterSchemaVersion",
      "glue:PutSchemaVersionMetadata",
    ]
    resources = [local.registry_arn, local.schema_arn_pattern]
  }

  statement {
    sid       = "ReadSchemaVersionsById"
    effect    = "Allow"
    actions   = ["glue:GetSchemaVersion"]
    resources = ["*"]
  }

  statement {
    sid    = "ConnectToTheCluster"
    effect = "Allow"
    actions = [
      "kafka-cluster:Connect",
      "kafka-cluster:DescribeCluster",
      "kafka-cluster:WriteDataIdempotently",
    ]
    resources = [aws_msk_cluster.this.arn]
  }

  statement {
    sid    = "WriteTheTopic"
    effect = "Allow"
    actions = [
      "kafka-cluster:CreateTopic",
      "kafka-cluster:DescribeTopic",
      "kafka-cluster:WriteData",
    ]
    resources = [local.topic_arn]
  }

  statement {
    sid       = "WriteOwnLogs"
    effect    = "Allow"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.lambda.arn}:log-stream:*"]
  }

  statement {
    sid       = "DecryptOwnEnvironment"
    effect    = "Allow"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.data.arn]
  }
}

resource "aws_iam_role" "lambda" {
  name               = "${local.name}-lambda"
  description        = "Execution role of the ${local.name} Lambda"
  assume_role_policy = data.aws_iam_policy_document.lambda_trust.json

  tags = local.tags
}

resource "aws_iam_role_policy" "lambda" {
  name   = "produce-sensor-readings"
  role   = aws_iam_role.lambda.id
  policy = data.aws_iam_policy_document.producer_lambda.json
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
