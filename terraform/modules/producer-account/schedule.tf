# Optional: drive the producer on a schedule with the demo's empty reading ({}).

resource "aws_cloudwatch_event_rule" "producer" {
  count = var.settings.enable_schedule ? 1 : 0

  name                = "${local.name}-schedule"
  description         = "Invokes ${local.name} on ${var.settings.schedule_expression}"
  schedule_expression = var.settings.schedule_expression
  state               = "ENABLED"

  tags = local.tags
}

resource "aws_cloudwatch_event_target" "producer" {
  count = var.settings.enable_schedule ? 1 : 0

  rule  = aws_cloudwatch_event_rule.producer[0].name
  arn   = module.lambda.function_arn
  input = jsonencode({})
}

resource "aws_lambda_permission" "schedule" {
  count = var.settings.enable_schedule ? 1 : 0

  statement_id   = "AllowEventBridgeSchedule"
  action         = "lambda:InvokeFunction"
  function_name  = module.lambda.function_name
  principal      = "events.amazonaws.com"
  source_arn     = aws_cloudwatch_event_rule.producer[0].arn
  source_account = local.account_id
}
