# MSK cluster: TLS only in transit, no unauthenticated access. Two listeners:
#  - SASL/IAM (9098) for the producer Lambda, authorised by its IAM policy;
#  - SASL/SCRAM over TLS (9096) for the consumer account's event source mapping through PrivateLink.
#    Lambda's self-managed Kafka poller speaks TLS only together with SASL (SCRAM/PLAIN) or mTLS, and
#    mTLS would need an AWS Private CA; SCRAM needs only a secret on each side.

locals {
  replication_factor = min(3, local.broker_count)
  min_insync         = max(1, local.replication_factor - 1)

  # Express brokers (express.*) manage their own storage: MSK refuses storage_info for them
  # ("The storageInfo parameter is not supported for Express instance types"). Broker logs are
  # accepted for both broker families.
  express_brokers = startswith(var.settings.broker_instance_type, "express.")
}

resource "aws_security_group" "msk" {
  name        = "${local.name}-msk"
  description = "MSK brokers: SASL/IAM from the producer Lambda, SASL/SCRAM from the broker NLBs"
  vpc_id      = module.network.vpc_id

  tags = merge(local.tags, { Name = "${local.name}-msk" })
}

resource "aws_vpc_security_group_ingress_rule" "msk_iam_from_lambda" {
  security_group_id            = aws_security_group.msk.id
  referenced_security_group_id = module.lambda.security_group_id
  ip_protocol                  = "tcp"
  from_port                    = local.iam_port
  to_port                      = local.iam_port
  description                  = "Kafka SASL/IAM over TLS from the producer Lambda"
}

resource "aws_vpc_security_group_ingress_rule" "msk_scram_from_nlb" {
  security_group_id            = aws_security_group.msk.id
  referenced_security_group_id = aws_security_group.nlb.id
  ip_protocol                  = "tcp"
  from_port                    = local.scram_port
  to_port                      = local.scram_port
  description                  = "Kafka SASL/SCRAM over TLS from the broker NLBs (consumer account via PrivateLink)"
}

resource "aws_cloudwatch_log_group" "msk" {
  name              = "/msk/${local.name}/brokers"
  retention_in_days = var.settings.log_retention_days
  # The key's ARN is known only once its policy admits the logs service.
  kms_key_id = module.data_key.arn

  tags = local.tags
}

# Named per Kafka version: a configuration in use cannot be deleted (ConflictException), so a
# version change creates the new configuration, moves the cluster to it, then deletes the old one.
resource "aws_msk_configuration" "this" {
  name           = "${local.name}-kafka-${replace(var.settings.kafka_version, ".", "-")}"
  description    = "Broker configuration of ${local.name} (Kafka ${var.settings.kafka_version})"
  kafka_versions = [var.settings.kafka_version]

  # Express brokers fix the replication factor (3) and min.insync.replicas (2); only standard
  # brokers are given them.
  server_properties = join("\n", concat(
    ["auto.create.topics.enable=true"],
    local.express_brokers ? [] : [
      "default.replication.factor=${local.replication_factor}",
      "min.insync.replicas=${local.min_insync}",
    ],
    [
      "num.partitions=${local.broker_count}",
      "allow.everyone.if.no.acl.found=${var.settings.kafka_allow_everyone_if_no_acl_found}",
      "",
    ],
  ))

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_msk_cluster" "this" {
  cluster_name           = "${local.name}-kafka"
  kafka_version          = var.settings.kafka_version
  number_of_broker_nodes = local.broker_count
  enhanced_monitoring    = "DEFAULT"

  broker_node_group_info {
    instance_type   = var.settings.broker_instance_type
    client_subnets  = module.network.private_subnet_ids
    security_groups = [aws_security_group.msk.id]

    dynamic "storage_info" {
      for_each = local.express_brokers ? [] : [var.settings.broker_volume_size]

      content {
        ebs_storage_info {
          volume_size = storage_info.value
        }
      }
    }

    connectivity_info {
      public_access {
        type = "DISABLED"
      }
    }
  }

  configuration_info {
    arn      = aws_msk_configuration.this.arn
    revision = aws_msk_configuration.this.latest_revision
  }

  client_authentication {
    unauthenticated = false

    sasl {
      iam   = true
      scram = true
    }
  }

  encryption_info {
    encryption_at_rest_kms_key_arn = module.data_key.arn

    encryption_in_transit {
      client_broker = "TLS"
      in_cluster    = true
    }
  }

  logging_info {
    broker_logs {
      cloudwatch_logs {
        enabled   = true
        log_group = aws_cloudwatch_log_group.msk.name
      }
    }
  }

  lifecycle {
    precondition {
      condition     = length(local.az_ids) >= 2
      error_message = "MSK needs brokers in two or three availability zones, but this region offers ${length(local.az_ids)} without opt-in: pass availability_zone_ids."
    }
    precondition {
      condition     = !local.express_brokers || length(local.az_ids) == 3
      error_message = "Express brokers (${var.settings.broker_instance_type}) run in exactly three availability zones: pass three availability_zone_ids or use a kafka.* broker type."
    }
  }

  tags = merge(local.tags, { Name = "${local.name}-kafka" })
}

# Broker host names and client-VPC addresses (sorted by broker ID), for the NLB targets and the
# broker map. Broker ENIs keep their address when MSK replaces a broker.
data "aws_msk_broker_nodes" "this" {
  cluster_arn = aws_msk_cluster.this.arn
}

locals {
  broker_nodes = { for node in data.aws_msk_broker_nodes.this.node_info_list : tostring(node.broker_id) => node }
}

# SASL/SCRAM credentials of the consumer's event source mapping. MSK requires the AmazonMSK_ name
# prefix and a customer-managed key. MSK attaches a resource policy on association that Terraform
# does not track, so the policy is written here: only kafka.amazonaws.com reads the secret.
resource "aws_secretsmanager_secret" "scram" {
  #checkov:skip=CKV2_AWS_57:Rotation would desynchronise the two copies of the credential (this secret and the consumer account's event source mapping secret); rotate by changing kafka_scram_password and kafka_scram_password_version on both sides.
  name                    = "AmazonMSK_${local.name}-consumer-scram"
  description             = "SASL/SCRAM user of the consumer account's event source mapping"
  kms_key_id              = module.data_key.arn
  recovery_window_in_days = var.settings.secret_recovery_window_days

  tags = local.tags
}

resource "aws_secretsmanager_secret_version" "scram" {
  secret_id = aws_secretsmanager_secret.scram.id
  secret_string_wo = jsonencode({
    username = var.settings.kafka_scram_username
    password = var.kafka_scram_password
  })
  secret_string_wo_version = var.settings.kafka_scram_password_version
}

data "aws_iam_policy_document" "scram_secret" {
  statement {
    sid       = "MskReadsTheScramSecret"
    effect    = "Allow"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [aws_secretsmanager_secret.scram.arn]

    principals {
      type        = "Service"
      identifiers = ["kafka.amazonaws.com"]
    }
  }
}

resource "aws_secretsmanager_secret_policy" "scram" {
  secret_arn          = aws_secretsmanager_secret.scram.arn
  policy              = data.aws_iam_policy_document.scram_secret.json
  block_public_policy = true
}

resource "aws_msk_scram_secret_association" "this" {
  cluster_arn     = aws_msk_cluster.this.arn
  secret_arn_list = [aws_secretsmanager_secret.scram.arn]

  depends_on = [aws_secretsmanager_secret_version.scram, aws_secretsmanager_secret_policy.scram]
}

locals {
  # With allow.everyone.if.no.acl.found=false a SCRAM user may do only what an ACL allows. The
  # consumer's event source mapping reads the topic and commits offsets in its group. The AWS
  # provider has no resource for Kafka ACLs (they are Kafka admin calls); see the kafka_acls output.
  consumer_group_id = coalesce(var.consumer_group_id, "${var.settings.name_prefix}-consumer")
  kafka_acls = [
    for acl in [
      { operation = "Read", resource_type = "topic", resource_name = var.settings.topic },
      { operation = "Describe", resource_type = "topic", resource_name = var.settings.topic },
      { operation = "Read", resource_type = "group", resource_name = local.consumer_group_id },
    ] : merge(acl, { principal = "User:${var.settings.kafka_scram_username}", pattern_type = "LITERAL" })
  ]
}
