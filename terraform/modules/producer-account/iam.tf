# IAM: the cross-account schema reader role assumed by the consumer Lambda, and what the producer
# Lambda's code calls (the execution role itself is the lambda-function module's, lambda.tf).
#
# Glue authorises GetSchemaVersion called with a SchemaVersionId (how every Glue-framed record is
# decoded) against "*" only; it is the one action granted on "*". Everything else is scoped to
# the registry and its schemas.

# --- Cross-account role ------------------------------------------------------------------------

data "aws_iam_policy_document" "schema_reader_trust" {
  count = var.create_schema_reader_role ? 1 : 0

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
      values   = [var.settings.schema_reader_external_id]
    }
  }
}

# The consumer Lambda reads writer schemas by SchemaVersionId and nothing else; the broker map is
# read by Terraform (the consumer root's data source, with the consumer account's own credentials),
# not through this role.
data "aws_iam_policy_document" "schema_reader" {
  #checkov:skip=CKV_AWS_356:glue:GetSchemaVersion is the only action and Glue authorises a lookup by SchemaVersionId (how every framed record is decoded) against "*" only.
  statement {
    sid       = "ReadSchemaVersionsById"
    effect    = "Allow"
    actions   = ["glue:GetSchemaVersion"]
    resources = ["*"]
  }
}

resource "aws_iam_role" "schema_reader" {
  count = var.create_schema_reader_role ? 1 : 0

  name                 = local.schema_reader_role_name
  description          = "Assumed by the consumer account's Lambda to read writer schemas of ${var.settings.registry_name}"
  assume_role_policy   = data.aws_iam_policy_document.schema_reader_trust[0].json
  max_session_duration = 3600

  tags = local.tags
}

resource "aws_iam_role_policy" "schema_reader" {
  count = var.create_schema_reader_role ? 1 : 0

  name   = "read-schema-versions"
  role   = aws_iam_role.schema_reader[0].id
  policy = data.aws_iam_policy_document.schema_reader.json
}

# --- Producer Lambda ---------------------------------------------------------------------------

locals {
  # Topic and group ARNs of MSK IAM access control: arn:...:topic/<cluster-name>/<cluster-uuid>/<topic>.
  topic_arn = "${replace(aws_msk_cluster.this.arn, ":cluster/", ":topic/")}/${var.settings.topic}"
}

# What the producer's code calls (shared/src/aws/glue.rs through SchemaRegistry, the Kafka
# sink through MSK IAM); the lambda-function module adds what Lambda needs for the function's
# configuration (VPC ENIs, logs, active tracing, the encrypted environment). Terraform creates the
# registry, so the code's CreateRegistry fallback (taken only when the registry is missing) is not
# granted. The producer reads no secret.
data "aws_iam_policy_document" "producer_lambda" {
  #checkov:skip=CKV_AWS_356:glue:GetSchemaVersion is the only action on "*": Glue authorises lookups by SchemaVersionId (how the producer reads a version it did not register) against "*" only.
  statement {
    sid    = "RegisterSchemas"
    effect = "Allow"
    actions = [
      "glue:CreateSchema",
      "glue:GetSchemaByDefinition",
      "glue:RegisterSchemaVersion",
    ]
    resources = [local.registry_arn, local.schema_arn_pattern]
  }

  statement {
    sid       = "ReadSchemaVersions"
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
}
