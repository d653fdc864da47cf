# Alarms on the pipeline. The dead-letter queue only receives infrastructure failures (data
# problems are quarantined), so a single message there means someone has to look.

resource "aws_cloudwatch_metric_alarm" "dlq_not_empty" {
  alarm_name          = "${var.name}-dlq-not-empty"
  alarm_description   = "Messages in ${var.dlq_name}: files failed for an infrastructure reason. Fix the cause, then run `tidewater replay-dlq`."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = var.dlq_name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
  tags                = var.tags

  lifecycle {
    # LocalStack drops the tags sent with PutMetricAlarm (it only stores TagResource's), so the
    # provider's default tags would show as a change on every plan. On AWS the alarm still gets all
    # tags at creation; only later changes of the provider's default tags skip this alarm.
    ignore_changes = [tags_all]
  }
}
