output "arn" {
  description = "ARN of the key, known to its users only once the key policy admits them (CloudWatch Logs, for one, refuses a key whose policy does not)."
  value       = aws_kms_key.this.arn

  depends_on = [aws_kms_key_policy.this]
}

output "key_id" {
  description = "ID of the key."
  value       = aws_kms_key.this.key_id
}

output "alias_name" {
  description = "Name of the key's alias (alias/<alias>)."
  value       = aws_kms_alias.this.name
}
