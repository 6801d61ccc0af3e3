# One internal NLB + VPC endpoint service per broker. Every broker advertises its own host name on
# the same port, so the consumer needs one endpoint per broker; the consumer's private hosted zone
# maps each broker name to its endpoint, which keeps TLS host-name verification intact.
#
# acceptance_required = false: allowed_principals already limits who may connect to the consumer
# account; manual acceptance would add an out-of-band step per broker after every consumer apply.

resource "aws_security_group" "nlb" {
  name        = "${local.name}-broker-nlb"
  description = "Broker NLBs: forward SASL/SCRAM from PrivateLink to the brokers"
  vpc_id      = module.network.vpc_id

  tags = merge(local.tags, { Name = "${local.name}-broker-nlb" })
}

resource "aws_vpc_security_group_egress_rule" "nlb_to_msk" {
  security_group_id            = aws_security_group.nlb.id
  referenced_security_group_id = aws_security_group.msk.id
  ip_protocol                  = "tcp"
  from_port                    = local.scram_port
  to_port                      = local.scram_port
  description                  = "Kafka SASL/SCRAM and health checks to the brokers"
}

resource "aws_lb" "broker" {
  #checkov:skip=CKV_AWS_91:NLB access logs are written for TLS listeners only; these are TCP pass-through listeners (TLS terminates on the brokers), so there is nothing to log. VPC flow logs cover the traffic.
  count = local.broker_count

  name                             = "${local.name}-b${count.index + 1}"
  internal                         = true
  load_balancer_type               = "network"
  subnets                          = module.network.private_subnet_ids
  security_groups                  = [aws_security_group.nlb.id]
  enable_cross_zone_load_balancing = true
  enable_deletion_protection       = var.settings.deletion_protection

  # Access through PrivateLink is governed by the endpoint service's allowed principals and the
  # consumer's endpoint security group.
  enforce_security_group_inbound_rules_on_private_link_traffic = "off"

  tags = merge(local.tags, { Name = "${local.name}-b${count.index + 1}", BrokerId = tostring(count.index + 1) })
}

resource "aws_lb_target_group" "broker" {
  count = local.broker_count

  name                 = "${local.name}-b${count.index + 1}"
  port                 = local.scram_port
  protocol             = "TCP"
  target_type          = "ip"
  vpc_id               = module.network.vpc_id
  deregistration_delay = 30

  health_check {
    protocol            = "TCP"
    port                = "traffic-port"
    interval            = 10
    healthy_threshold   = 3
    unhealthy_threshold = 3
  }

  tags = merge(local.tags, { Name = "${local.name}-b${count.index + 1}" })
}

resource "aws_lb_target_group_attachment" "broker" {
  count = local.broker_count

  target_group_arn = aws_lb_target_group.broker[count.index].arn
  target_id        = local.broker_nodes[tostring(count.index + 1)].client_vpc_ip_address
  port             = local.scram_port
}

resource "aws_lb_listener" "broker" {
  count = local.broker_count

  load_balancer_arn = aws_lb.broker[count.index].arn
  port              = local.scram_port
  protocol          = "TCP"

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.broker[count.index].arn
  }

  tags = local.tags
}

resource "aws_vpc_endpoint_service" "broker" {
  #checkov:skip=CKV_AWS_123:Manual acceptance is deliberately off: allowed_principals admits the consumer account only, and acceptance would add an out-of-band step per broker endpoint (see the comment at the top of privatelink.tf).
  count = local.broker_count

  acceptance_required        = false
  network_load_balancer_arns = [aws_lb.broker[count.index].arn]
  allowed_principals         = [local.consumer_account_root_arn]
  supported_ip_address_types = ["ipv4"]

  tags = merge(local.tags, { Name = "${local.name}-b${count.index + 1}", BrokerId = tostring(count.index + 1) })
}

locals {
  # The broker map (scripts/CONTRACT.md): one entry per broker, in broker-ID order.
  brokers = [
    for i in range(local.broker_count) : {
      broker_id    = i + 1
      endpoint_url = tolist(local.broker_nodes[tostring(i + 1)].endpoints)[0]
      broker_port  = local.scram_port
      service_name = aws_vpc_endpoint_service.broker[i].service_name
    }
  ]
}
