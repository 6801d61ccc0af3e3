# Addresses of resources before they moved into the internal modules: moved, not recreated.

# --- The network (../private-network) ----------------------------------------------------------

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

# --- The key (../kms-key) ----------------------------------------------------------------------

moved {
  from = aws_kms_key.this
  to   = module.data_key.aws_kms_key.this
}

moved {
  from = aws_kms_key_policy.this
  to   = module.data_key.aws_kms_key_policy.this
}

moved {
  from = aws_kms_alias.this
  to   = module.data_key.aws_kms_alias.this
}

# --- The function (../lambda-function) -----------------------------------------------------------

moved {
  from = aws_security_group.lambda
  to   = module.lambda.aws_security_group.this
}

moved {
  from = aws_cloudwatch_log_group.lambda
  to   = module.lambda.aws_cloudwatch_log_group.this
}

moved {
  from = aws_iam_role.lambda
  to   = module.lambda.aws_iam_role.this
}

moved {
  from = aws_iam_role_policy.lambda
  to   = module.lambda.aws_iam_role_policy.this
}

moved {
  from = aws_lambda_function.consumer
  to   = module.lambda.aws_lambda_function.this
}
