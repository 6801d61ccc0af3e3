# Private-only VPC: no internet or NAT gateway. The Lambda and the event source mapping's pollers
# reach AWS APIs through interface endpoints (STS, Glue, SQS, Secrets Manager, Lambda) and the
# DynamoDB gateway endpoint, and the brokers through kafka.tf's endpoints.

resource "aws_vpc" "this" {
  cidr_block           = var.settings.vpc_cidr
  enable_dns_support   = true
  enable_dns_hostnames = true

  tags = merge(local.tags, { Name = local.name })
}

resource "aws_subnet" "private" {
  count = length(var.producer.availability_zone_ids)

  vpc_id               = aws_vpc.this.id
  availability_zone_id = var.producer.availability_zone_ids[count.index]
  cidr_block           = cidrsubnet(var.settings.vpc_cidr, 4, count.index)

  tags = merge(local.tags, { Name = "${local.name}-private-${var.producer.availability_zone_ids[count.index]}" })
}

resource "aws_route_table" "private" {
  vpc_id = aws_vpc.this.id

  tags = merge(local.tags, { Name = "${local.name}-private" })
}

resource "aws_route_table_association" "private" {
  count = length(aws_subnet.private)

  subnet_id      = aws_subnet.private[count.index].id
  route_table_id = aws_route_table.private.id
}

# The default security group allows nothing.
resource "aws_default_security_group" "this" {
  vpc_id = aws_vpc.this.id

  tags = merge(local.tags, { Name = "${local.name}-default-deny" })
}

# --- Security groups -----------------------------------------------------------------------------

resource "aws_security_group" "lambda" {
  name        = "${local.name}-lambda"
  description = "Consumer Lambda: HTTPS to the interface endpoints and DynamoDB"
  vpc_id      = aws_vpc.this.id

  tags = merge(local.tags, { Name = "${local.name}-lambda" })
}

resource "aws_security_group" "esm" {
  #checkov:skip=CKV2_AWS_5:Attached to the event source mapping's pollers through its VPC_SECURITY_GROUP source access configuration (esm.tf), which checkov does not follow.
  name        = "${local.name}-esm"
  description = "Event source mapping pollers: Kafka to the broker endpoints, HTTPS to Lambda, STS and Secrets Manager"
  vpc_id      = aws_vpc.this.id

  tags = merge(local.tags, { Name = "${local.name}-esm" })
}

resource "aws_security_group" "endpoints" {
  name        = "${local.name}-endpoints"
  description = "Interface endpoints of AWS APIs: HTTPS from the consumer Lambda and the pollers"
  vpc_id      = aws_vpc.this.id

  tags = merge(local.tags, { Name = "${local.name}-endpoints" })
}

resource "aws_vpc_security_group_egress_rule" "lambda_to_endpoints" {
  security_group_id            = aws_security_group.lambda.id
  referenced_security_group_id = aws_security_group.endpoints.id
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  description                  = "HTTPS to the interface endpoints (STS, Glue, SQS)"
}

resource "aws_vpc_security_group_egress_rule" "lambda_to_dynamodb" {
  security_group_id = aws_security_group.lambda.id
  prefix_list_id    = aws_vpc_endpoint.dynamodb.prefix_list_id
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  description       = "HTTPS to DynamoDB through the gateway endpoint"
}

resource "aws_vpc_security_group_egress_rule" "esm_to_endpoints" {
  security_group_id            = aws_security_group.esm.id
  referenced_security_group_id = aws_security_group.endpoints.id
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  description                  = "HTTPS to the interface endpoints (Lambda, STS, Secrets Manager)"
}

resource "aws_vpc_security_group_ingress_rule" "endpoints_from_lambda" {
  security_group_id            = aws_security_group.endpoints.id
  referenced_security_group_id = aws_security_group.lambda.id
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  description                  = "HTTPS from the consumer Lambda"
}

resource "aws_vpc_security_group_ingress_rule" "endpoints_from_esm" {
  security_group_id            = aws_security_group.endpoints.id
  referenced_security_group_id = aws_security_group.esm.id
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  description                  = "HTTPS from the event source mapping pollers"
}

# --- AWS API endpoints -----------------------------------------------------------------------------

locals {
  # sts, glue: the Lambda assumes the producer's role and reads schemas; sqs: dead letters;
  # secretsmanager, lambda, sts: what the self-managed Kafka pollers call from inside the VPC.
  interface_endpoint_services = toset(["glue", "lambda", "secretsmanager", "sqs", "sts"])
}

resource "aws_vpc_endpoint" "interface" {
  for_each = local.interface_endpoint_services

  vpc_id              = aws_vpc.this.id
  service_name        = "com.amazonaws.${local.region}.${each.key}"
  vpc_endpoint_type   = "Interface"
  subnet_ids          = aws_subnet.private[*].id
  security_group_ids  = [aws_security_group.endpoints.id]
  private_dns_enabled = true

  tags = merge(local.tags, { Name = "${local.name}-${each.key}" })
}

resource "aws_vpc_endpoint" "dynamodb" {
  vpc_id            = aws_vpc.this.id
  service_name      = "com.amazonaws.${local.region}.dynamodb"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = [aws_route_table.private.id]

  tags = merge(local.tags, { Name = "${local.name}-dynamodb" })
}

# --- Flow logs ---------------------------------------------------------------------------------------

resource "aws_cloudwatch_log_group" "flow_logs" {
  name              = "/vpc/${local.name}/flow-logs"
  retention_in_days = var.settings.log_retention_days
  kms_key_id        = aws_kms_key.this.arn

  # The logs service may use the key only once the key policy admits it.
  depends_on = [aws_kms_key_policy.this]

  tags = local.tags
}

data "aws_iam_policy_document" "flow_logs_trust" {
  statement {
    sid     = "VpcFlowLogsService"
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["vpc-flow-logs.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

data "aws_iam_policy_document" "flow_logs" {
  statement {
    sid       = "WriteFlowLogs"
    effect    = "Allow"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = [aws_cloudwatch_log_group.flow_logs.arn, "${aws_cloudwatch_log_group.flow_logs.arn}:log-stream:*"]
  }
}

resource "aws_iam_role" "flow_logs" {
  name               = "${local.name}-flow-logs"
  description        = "Delivers VPC flow logs of ${local.name} to CloudWatch Logs"
  assume_role_policy = data.aws_iam_policy_document.flow_logs_trust.json

  tags = local.tags
}

resource "aws_iam_role_policy" "flow_logs" {
  name   = "write-flow-logs"
  role   = aws_iam_role.flow_logs.id
  policy = data.aws_iam_policy_document.flow_logs.json
}

resource "aws_flow_log" "this" {
  vpc_id               = aws_vpc.this.id
  traffic_type         = "ALL"
  log_destination_type = "cloud-watch-logs"
  log_destination      = aws_cloudwatch_log_group.flow_logs.arn
  iam_role_arn         = aws_iam_role.flow_logs.arn

  tags = merge(local.tags, { Name = "${local.name}-flow-logs" })
}
