# Private-only VPC: no internet or NAT gateway. AWS APIs are reached through interface endpoints.

module "network" {
  source = "../private-network"

  name                  = local.name
  cidr_block            = var.settings.vpc_cidr
  availability_zone_ids = local.az_ids
  log_retention_days    = var.settings.log_retention_days
  kms_key_arn           = aws_kms_key.data.arn
  tags                  = local.tags

  interface_endpoint_services = toset(["glue"])
  endpoints_description       = "Interface endpoints of the producer VPC (HTTPS from the producer Lambda)"

  # The logs service may use the key only once the key policy admits it.
  depends_on = [aws_kms_key_policy.data]
}

# Addresses of the network before it was a module of its own: moved, not recreated.
moved {
  from = aws_vpc.this
  to   = module.network.aws_vpc.this
}

moved {
  from = aws_subnet.private
  to   = module.network.aws_subnet.private
}

moved {
  from = aws_route_table.private
  to   = module.network.aws_route_table.private
}

moved {
  from = aws_route_table_association.private
  to   = module.network.aws_route_table_association.private
}

moved {
  from = aws_default_security_group.this
  to   = module.network.aws_default_security_group.this
}

moved {
  from = aws_cloudwatch_log_group.flow_logs
  to   = module.network.aws_cloudwatch_log_group.flow_logs
}

moved {
  from = aws_iam_role.flow_logs
  to   = module.network.aws_iam_role.flow_logs
}

moved {
  from = aws_iam_role_policy.flow_logs
  to   = module.network.aws_iam_role_policy.flow_logs
}

moved {
  from = aws_security_group.endpoints
  to   = module.network.aws_security_group.endpoints
}

moved {
  from = aws_vpc_endpoint.interface
  to   = module.network.aws_vpc_endpoint.interface
}

moved {
  from = aws_flow_log.this
  to   = module.network.aws_flow_log.this
}

resource "aws_vpc_security_group_ingress_rule" "endpoints_from_lambda" {
  security_group_id            = module.network.endpoints_security_group_id
  referenced_security_group_id = aws_security_group.lambda.id
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  description                  = "HTTPS from the producer Lambda"
}
