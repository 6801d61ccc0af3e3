# A Lambda function of this project in a private VPC: its security group (no rules: the caller
# opens it to what the function calls), its execution role with one inline policy (the caller's
# document of what the code calls, plus what Lambda itself does for this configuration), its log
# group encrypted with the caller's key, JSON logs at the configured levels, active tracing and an
# environment encrypted with the same key. The artifact is a cargo lambda zip (provided.al2023).

resource "aws_security_group" "this" {
  name        = "${var.name}-lambda"
  description = var.security_group_description
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = "${var.name}-lambda" })
}

resource "aws_cloudwatch_log_group" "this" {
  name              = "/aws/lambda/${var.name}"
  retention_in_days = var.log_retention_days
  # The caller passes a key ARN that is known only once its key policy admits CloudWatch Logs.
  kms_key_id = var.kms_key_arn

  tags = var.tags
}

data "aws_iam_policy_document" "trust" {
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

# The caller's statements (what the code calls), and what Lambda does with the execution role of
# this configuration: write the function's own log streams, decrypt its environment, manage the
# ENIs of a function in a VPC (as terraform-aws-lambda grants it, instead of
# AWSLambdaVPCAccessExecutionRole, whose logs:* on "*" would void the scoped log statement) and
# upload the traces of active tracing.
data "aws_iam_policy_document" "this" {
  #checkov:skip=CKV_AWS_356:Only the ENI actions Lambda needs for a function in a VPC (the network interfaces do not exist before Lambda creates them) and the X-Ray upload actions (no resource-level permissions) are granted on "*".
  #checkov:skip=CKV_AWS_111:The write actions on "*" are the ENI actions Lambda performs for a function in a VPC (the network interfaces do not exist before Lambda creates them) and the X-Ray upload actions, which have no resource-level permissions.
  source_policy_documents = [var.policy_json]

  statement {
    sid       = "WriteOwnLogs"
    effect    = "Allow"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.this.arn}:log-stream:*"]
  }

  statement {
    sid       = "DecryptOwnEnvironment"
    effect    = "Allow"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]
  }

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

  statement {
    sid       = "UploadTraces"
    effect    = "Allow"
    actions   = ["xray:PutTelemetryRecords", "xray:PutTraceSegments"]
    resources = ["*"]
  }
}

resource "aws_iam_role" "this" {
  name               = "${var.name}-lambda"
  description        = var.role_description
  assume_role_policy = data.aws_iam_policy_document.trust.json

  tags = var.tags
}

resource "aws_iam_role_policy" "this" {
  name   = var.policy_name
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.this.json
}

resource "aws_lambda_function" "this" {
  #checkov:skip=CKV_AWS_116:Both functions are invoked synchronously and hand failures back: the producer answers its callers (an HTTP-style status, a Lambda error for retryable outages; its optional schedule sends the constant event {}), and the consumer's event source mapping retries failed batches and ends them in its on-failure destination. An asynchronous-invocation dead-letter queue would never carry data.
  #checkov:skip=CKV_AWS_272:The artifact is built locally by cargo lambda (scripts/build-lambdas.sh) and deployed from this configuration; there is no AWS Signer signing profile in this pipeline.
  function_name = var.name
  description   = var.description
  role          = aws_iam_role.this.arn

  filename         = var.zip_path
  source_code_hash = filebase64sha256(var.zip_path)
  runtime          = "provided.al2023"
  handler          = "bootstrap"
  architectures    = ["x86_64"]

  memory_size                    = var.memory_size
  timeout                        = var.timeout
  reserved_concurrent_executions = var.reserved_concurrency
  kms_key_arn                    = var.kms_key_arn

  vpc_config {
    subnet_ids         = var.subnet_ids
    security_group_ids = [aws_security_group.this.id]
  }

  environment {
    variables = var.environment
  }

  # JSON records: Lambda reads each record's level and keeps only those at or above the
  # configured levels (the function's own records, and the platform's).
  logging_config {
    log_format            = "JSON"
    log_group             = aws_cloudwatch_log_group.this.name
    application_log_level = var.application_log_level
    system_log_level      = var.system_log_level
  }

  tracing_config {
    mode = "Active"
  }

  # Lambda checks the role's ENI permissions when it creates a function in a VPC.
  depends_on = [aws_iam_role_policy.this]

  tags = var.tags
}
