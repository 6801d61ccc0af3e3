# Private-only VPC: no internet or NAT gateway. The Lambda and the event source mapping's pollers
# reach AWS APIs through interface endpoints (STS, Glue, SQS, Secrets Manager, Lambda) and the
# DynamoDB gateway endpoint, and the brokers through kafka.tf's endpoints.

module "network" {
  source = "../private-network"

  name                  = local.name
  cidr_block            = var.settings.vpc_cidr
  availability_zone_ids = var.producer.availability_zone_ids
  log_retention_days    = var.settings.log_retention_days
  kms_key_arn           = module.data_key.arn
  tags                  = local.tags

  interface_endpoint_services = local.interface_endpoint_services
  endpoints_description       = "Interface endpoints of AWS APIs: HTTPS from the consumer Lambda and the pollers"
}

# --- Security groups -----------------------------------------------------------------------------

resource "aws_security_group" "esm" {
  #checkov:skip=CKV2_AWS_5:Attached to the event source mapping's pollers through its VPC_SECURITY_GROUP source access configuration (esm.tf), which checkov does not follow.
  name        = "${local.name}-esm"
  description = "Event source mapping pollers: Kafka to the broker endpoints, HTTPS to Lambda, STS and Secrets Manager"
  vpc_id      = module.network.vpc_id

  tags = merge(local.tags, { Name = "${local.name}-esm" })
}

resource "aws_vpc_security_group_egress_rule" "lambda_to_endpoints" {
  security_group_id            = module.lambda.security_group_id
  referenced_security_group_id = module.network.endpoints_security_group_id
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  description                  = "HTTPS to the interface endpoints (STS, Glue, SQS)"
}

resource "aws_vpc_security_group_egress_rule" "lambda_to_dynamodb" {
  security_group_id = module.lambda.security_group_id
  prefix_list_id    = aws_vpc_endpoint.dynamodb.prefix_list_id
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  description       = "HTTPS to DynamoDB through the gateway endpoint"
}

resource "aws_vpc_security_group_egress_rule" "esm_to_endpoints" {
  security_group_id            = aws_security_group.esm.id
  referenced_security_group_id = module.network.endpoints_security_group_id
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  description                  = "HTTPS to the interface endpoints (Lambda, STS, Secrets Manager)"
}

resource "aws_vpc_security_group_ingress_rule" "endpoints_from_lambda" {
  security_group_id            = module.network.endpoints_security_group_id
  referenced_security_group_id = module.lambda.security_group_id
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  description                  = "HTTPS from the consumer Lambda"
}

resource "aws_vpc_security_group_ingress_rule" "endpoints_from_esm" {
  security_group_id            = module.network.endpoints_security_group_id
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

resource "aws_vpc_endpoint" "dynamodb" {
  vpc_id            = module.network.vpc_id
  service_name      = "com.amazonaws.${local.region}.dynamodb"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = [module.network.private_route_table_id]

  tags = merge(local.tags, { Name = "${local.name}-dynamodb" })
}
