output "producer" {
  description = "Producer account: cluster, brokers, registry, broker-map secret, schema reader role, producer Lambda."
  value = {
    account_id                 = module.producer.account_id
    region                     = module.producer.region
    msk_cluster_arn            = module.producer.msk_cluster_arn
    brokers                    = module.producer.brokers
    broker_secret_arn          = module.producer.broker_secret_arn
    registry_name              = module.producer.registry_name
    schema_name                = module.producer.schema_name
    topic                      = module.producer.topic
    schema_reader_role_arn     = module.producer.schema_reader_role_arn
    producer_function_name     = module.producer.producer_function_name
    bootstrap_brokers_sasl_iam = module.producer.bootstrap_brokers_sasl_iam
    kafka_acls                 = module.producer.kafka_acls
    kafka_acl_commands         = module.producer.kafka_acl_commands
  }

  # Terraform drops attributes a module's settings do not declare; refuse them instead.
  precondition {
    condition     = length(setsubtract(keys(merge(var.common, var.producer)), keys(module.producer.settings))) == 0
    error_message = "common or producer sets an attribute the producer module does not have (see settings in modules/producer-account/variables.tf)."
  }
}

output "consumer" {
  description = "Consumer account: Lambda, event source mapping, readings and aggregates tables, dead-letter queue."
  value = {
    account_id                = module.consumer.account_id
    consumer_function_name    = module.consumer.consumer_function_name
    lambda_role_arn           = module.consumer.lambda_role_arn
    event_source_mapping_uuid = module.consumer.event_source_mapping_uuid
    kafka_bootstrap_servers   = module.consumer.kafka_bootstrap_servers
    readings_table_name       = module.consumer.readings_table_name
    aggregates_table_name     = module.consumer.aggregates_table_name
    dead_letter_queue_url     = module.consumer.dead_letter_queue_url
  }

  precondition {
    condition     = length(setsubtract(keys(merge(var.common, var.consumer)), keys(module.consumer.settings))) == 0
    error_message = "common or consumer sets an attribute the consumer module does not have (see settings in modules/consumer-account/variables.tf)."
  }
}
