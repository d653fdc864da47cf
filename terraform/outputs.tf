# Names fixed by docs/architecture.md ("Terraform outputs used by the tooling").

output "raw_bucket" {
  description = "Name of the raw bucket (uploads land here as <dataset>/<file>)."
  value       = module.storage.bucket_ids["raw"]
}

output "processed_bucket" {
  description = "Name of the processed bucket (Parquet/JSON outputs)."
  value       = module.storage.bucket_ids["processed"]
}

output "quarantine_bucket" {
  description = "Name of the quarantine bucket (rejected files and rows under the source key)."
  value       = module.storage.bucket_ids["quarantine"]
}

output "reports_bucket" {
  description = "Name of the reports bucket."
  value       = module.storage.bucket_ids["reports"]
}

output "artifacts_bucket" {
  description = "Name of the bucket holding the function deployment zips."
  value       = module.storage.bucket_ids["artifacts"]
}

output "ingest_queue_url" {
  description = "URL of the ingest queue fed by the raw bucket."
  value       = module.ingest_queue.queue_url
}

output "ingest_queue_arn" {
  description = "ARN of the ingest queue."
  value       = module.ingest_queue.queue_arn
}

output "dlq_url" {
  description = "URL of the ingest dead-letter queue (tidewater replay-dlq reads it)."
  value       = module.ingest_queue.dlq_url
}

output "dlq_arn" {
  description = "ARN of the ingest dead-letter queue."
  value       = module.ingest_queue.dlq_arn
}

output "processor_function_name" {
  description = "Name of the processor function."
  value       = module.processor.function_name
}

output "kms_key_arn" {
  description = "ARN of the pipeline KMS key."
  value       = module.kms.key_arn
}

output "database_secret_arn" {
  description = "ARN (never the value) of the Secrets Manager secret with the database {username, password}."
  value       = module.database.secret_arn
}

# Further outputs.

output "name" {
  description = "Resource name prefix of this deployment (<name_prefix>-<environment>)."
  value       = local.name
}

output "account_id" {
  description = "AWS account the stack is deployed to (000000000000 on LocalStack)."
  value       = local.account_id
}

output "bucket_arns" {
  description = "ARNs of the buckets by purpose (raw, processed, quarantine, reports)."
  value       = module.storage.bucket_arns
}

output "ingest_queue_name" {
  description = "Name of the ingest queue."
  value       = module.ingest_queue.queue_name
}

output "dlq_name" {
  description = "Name of the ingest dead-letter queue."
  value       = module.ingest_queue.dlq_name
}

output "processor_function_arn" {
  description = "ARN of the processor function."
  value       = module.processor.function_arn
}

output "processor_role_arn" {
  description = "ARN of the processor's execution role."
  value       = module.processor.role_arn
}

output "processor_log_group_name" {
  description = "Log group of the processor."
  value       = module.processor.log_group_name
}

output "processor_event_source_mapping_uuid" {
  description = "UUID of the ingest queue -> processor event source mapping (delete it explicitly when removing the function outside Terraform)."
  value       = module.processor.event_source_mapping_uuid
}

output "kms_key_alias" {
  description = "Alias of the pipeline KMS key."
  value       = module.kms.alias_name
}

output "database_host" {
  description = "PostgreSQL host the functions use (DB_HOST)."
  value       = module.database.host
}

output "database_port" {
  description = "PostgreSQL port the functions use (DB_PORT)."
  value       = module.database.port
}

output "database_name" {
  description = "PostgreSQL database the functions use (DB_NAME)."
  value       = module.database.database_name
}

output "database_endpoint" {
  description = "RDS endpoint (host:port); null on the local targets."
  value       = module.database.endpoint
}

output "vpc_id" {
  description = "VPC of RDS and the functions; null on the local targets."
  value       = one(module.network[*].vpc_id)
}

output "dlq_alarm_name" {
  description = "Name of the CloudWatch alarm that fires when the dead-letter queue is not empty."
  value       = module.monitoring.dlq_alarm_name
}

# Reporting, notifications and monitoring.

output "reporter_function_name" {
  description = "Name of the reporter function (`tidewater report` invokes it)."
  value       = module.reporter.function_name
}

output "report_rule_name" {
  description = "Name of the EventBridge rule that runs the daily report."
  value       = aws_cloudwatch_event_rule.daily_report.name
}

output "reports_topic_arn" {
  description = "ARN of the SNS topic announcing each daily report."
  value       = aws_sns_topic.reports.arn
}

output "alerts_topic_arn" {
  description = "ARN of the SNS topic the CloudWatch alarms notify."
  value       = aws_sns_topic.alerts.arn
}

output "report_notifications_queue_url" {
  description = "URL of the SQS queue subscribed to the reports topic (local targets only; null otherwise)."
  value       = one(aws_sqs_queue.report_notifications[*].url)
}

output "dashboard_name" {
  description = "Name of the CloudWatch dashboard."
  value       = module.monitoring.dashboard_name
}
