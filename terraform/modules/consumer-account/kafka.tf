# One interface endpoint per broker endpoint service, and a private hosted zone for
# kafka.<region>.amazonaws.com in which every broker host name is an alias of its endpoint. The
# pollers connect to the brokers' own names, so MSK's TLS certificates verify unchanged.
# The zone shadows kafka.<region>.amazonaws.com (including the MSK API name) inside this VPC only.

resource "aws_security_group" "kafka_endpoints" {
  name        = "${local.name}-kafka-endpoints"
  description = "Broker endpoints: Kafka SASL/SCRAM over TLS from the event source mapping pollers"
  vpc_id      = module.network.vpc_id

  tags = merge(local.tags, { Name = "${local.name}-kafka-endpoints" })
}

resource "aws_vpc_security_group_ingress_rule" "kafka_endpoints_from_esm" {
  security_group_id            = aws_security_group.kafka_endpoints.id
  referenced_security_group_id = aws_security_group.esm.id
  ip_protocol                  = "tcp"
  from_port                    = local.kafka_port_min
  to_port                      = local.kafka_port_max
  description                  = "Kafka SASL/SCRAM over TLS from the pollers"
}

resource "aws_vpc_security_group_egress_rule" "esm_to_kafka_endpoints" {
  security_group_id            = aws_security_group.esm.id
  referenced_security_group_id = aws_security_group.kafka_endpoints.id
  ip_protocol                  = "tcp"
  from_port                    = local.kafka_port_min
  to_port                      = local.kafka_port_max
  description                  = "Kafka SASL/SCRAM over TLS to the broker endpoints"
}

resource "aws_vpc_endpoint" "broker" {
  for_each = local.brokers_by_id

  vpc_id              = module.network.vpc_id
  service_name        = each.value.service_name
  vpc_endpoint_type   = "Interface"
  subnet_ids          = module.network.private_subnet_ids
  security_group_ids  = [aws_security_group.kafka_endpoints.id]
  private_dns_enabled = false

  tags = merge(local.tags, { Name = "${local.name}-broker-${each.key}", BrokerId = each.key })
}

resource "aws_route53_zone" "kafka" {
  name    = "kafka.${local.producer_region}.amazonaws.com"
  comment = "Broker names of the producer's MSK cluster -> this VPC's broker endpoints (${local.name})"

  vpc {
    vpc_id = module.network.vpc_id
  }

  tags = local.tags
}

resource "aws_route53_record" "broker" {
  for_each = local.brokers_by_id

  zone_id = aws_route53_zone.kafka.zone_id
  name    = each.value.endpoint_url
  type    = "A"

  alias {
    name                   = aws_vpc_endpoint.broker[each.key].dns_entry[0].dns_name
    zone_id                = aws_vpc_endpoint.broker[each.key].dns_entry[0].hosted_zone_id
    evaluate_target_health = false
  }
}
