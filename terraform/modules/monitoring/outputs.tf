output "dlq_alarm_name" {
  description = "Name of the alarm that fires when the dead-letter queue is not empty."
  value       = aws_cloudwatch_metric_alarm.dlq_not_empty.alarm_name
}

output "function_error_alarm_names" {
  description = "Names of the function error alarms, by role."
  value       = { for role, alarm in aws_cloudwatch_metric_alarm.function_errors : role => alarm.alarm_name }
}

output "no_files_processed_alarm_name" {
  description = "Name of the alarm that fires when no file was processed for a while (null without one)."
  value       = one(aws_cloudwatch_metric_alarm.no_files_processed[*].alarm_name)
}

output "dashboard_name" {
  description = "Name of the CloudWatch dashboard."
  value       = aws_cloudwatch_dashboard.this.dashboard_name
}
