output "dlq_alarm_name" {
  description = "Name of the alarm that fires when the dead-letter queue is not empty."
  value       = aws_cloudwatch_metric_alarm.dlq_not_empty.alarm_name
}
