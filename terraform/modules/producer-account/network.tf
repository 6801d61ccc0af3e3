# Private-only VPC: no internet or NAT gateway. AWS APIs are reached through interface endpoints.

module "network" {
  source = "../private-network"

  name                  = local.name
  cidr_block            = var.settings.vpc_cidr
  availability_zone_ids = local.az_ids
  log_retention_days    = var.settings.log_retention_days
  kms_key_arn           = module.data_key.arn
  tags                  = local.tags

  interface_endpoint_services = toset(["glue"])
  endpoints_description       = "Interface endpoints of the producer VPC (HTTPS from the producer Lambda)"
}

resource "aws_vpc_security_group_ingress_rule" "endpoints_from_lambda" {
  security_group_id            = module.network.endpoints_security_group_id
  referenced_security_group_id = module.lambda.security_group_id
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  description                  = "HTTPS from the producer Lambda"
}
