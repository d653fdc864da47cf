output "function_name" {
  description = "Name of the function."
  value       = aws_lambda_function.this.function_name
}

output "function_arn" {
  description = "ARN of the function."
  value       = aws_lambda_function.this.arn
}

output "role_arn" {
  description = "ARN of the execution role."
  value       = aws_iam_role.this.arn
}

output "role_name" {
  description = "Name of the execution role (attach further policies to it)."
  value       = aws_iam_role.this.name
}

output "log_group_name" {
  description = "Name of the function's log group."
  value       = aws_cloudwatch_log_group.this.name
}

output "event_source_mapping_uuid" {
  description = "UUID of the event source mapping, null without one. Delete it explicitly when tearing a function down outside Terraform."
  value       = one(aws_lambda_event_source_mapping.this[*].uuid)
}

output "vpc_subnet_ids" {
  description = "Subnets the function runs in; empty outside a VPC."
  value       = flatten(aws_lambda_function.this.vpc_config[*].subnet_ids)
}

output "environment_variables" {
  description = "Environment variables of the function (names and values; no secrets by design: DB_SECRET_ARN is an ARN)."
  value       = one(aws_lambda_function.this.environment[*].variables)
}
