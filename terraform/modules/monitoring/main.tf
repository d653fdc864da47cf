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

# A function invocation that failed (an unhandled error, a timeout). The processor reports bad
# records as batch item failures, so this means the function itself is broken.
resource "aws_cloudwatch_metric_alarm" "function_errors" {
  for_each = var.function_names

  alarm_name          = "${var.name}-${each.key}-errors"
  alarm_description   = "The ${each.value} function failed. See `tidewater logs` / its log group."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = each.value }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
  tags                = var.tags

  lifecycle {
    ignore_changes = [tags_all] # LocalStack drops PutMetricAlarm tags (see dlq_not_empty)
  }
}

# SQS publishes its metrics every 5 minutes even for an idle queue, so missing data means the
# pipeline (or its metrics) is gone: that is breaching too.
resource "aws_cloudwatch_metric_alarm" "no_files_processed" {
  count = var.ingest_queue_name == null ? 0 : 1

  alarm_name          = "${var.name}-no-files-processed"
  alarm_description   = "No file processed (no message deleted from ${var.ingest_queue_name}) for ${var.no_files_processed_alarm_hours} hours: are uploads arriving?"
  namespace           = "AWS/SQS"
  metric_name         = "NumberOfMessagesDeleted"
  dimensions          = { QueueName = var.ingest_queue_name }
  statistic           = "Sum"
  period              = 3600
  evaluation_periods  = var.no_files_processed_alarm_hours
  comparison_operator = "LessThanThreshold"
  threshold           = 1
  treat_missing_data  = "breaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
  tags                = var.tags

  lifecycle {
    ignore_changes = [tags_all] # LocalStack drops PutMetricAlarm tags (see dlq_not_empty)
  }
}

locals {
  processor_dimension = ["service", var.processor_service_name]
  alarm_arns = concat(
    [aws_cloudwatch_metric_alarm.dlq_not_empty.arn],
    [for alarm in aws_cloudwatch_metric_alarm.function_errors : alarm.arn],
    aws_cloudwatch_metric_alarm.no_files_processed[*].arn,
  )
  dashboard_widgets = concat(
    [
      {
        type = "metric", x = 0, y = 0, width = 12, height = 6
        properties = {
          title   = "Files processed", region = var.region, stat = "Sum", period = 300, view = "timeSeries", stacked = true
          metrics = [for m in ["FilesLoaded", "DuplicateFiles", "FilesQuarantined"] : [var.metrics_namespace, m, local.processor_dimension[0], local.processor_dimension[1]]]
        }
      },
      {
        type = "metric", x = 12, y = 0, width = 12, height = 6
        properties = {
          title   = "Rows", region = var.region, stat = "Sum", period = 300, view = "timeSeries"
          metrics = [for m in ["RowsLoaded", "RowsQuarantined"] : [var.metrics_namespace, m, local.processor_dimension[0], local.processor_dimension[1]]]
        }
      },
      {
        type = "metric", x = 0, y = 6, width = 12, height = 6
        properties = {
          title   = "Queues (messages waiting)", region = var.region, stat = "Maximum", period = 60, view = "timeSeries"
          metrics = [for q in compact([var.ingest_queue_name, var.dlq_name]) : ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", q]]
        }
      },
      {
        type       = "alarm", x = 12, y = 6, width = 12, height = 6
        properties = { title = "Alarms", alarms = local.alarm_arns }
      },
    ],
    [
      for i, role in sort(keys(var.function_names)) : {
        type = "metric", x = 12 * (i % 2), y = 12 + 6 * floor(i / 2), width = 12, height = 6
        properties = {
          title = "${role}: invocations, errors, duration (ms)", region = var.region, period = 300, view = "timeSeries"
          metrics = [
            ["AWS/Lambda", "Invocations", "FunctionName", var.function_names[role], { stat = "Sum" }],
            ["AWS/Lambda", "Errors", "FunctionName", var.function_names[role], { stat = "Sum" }],
            ["AWS/Lambda", "Duration", "FunctionName", var.function_names[role], { stat = "p90", yAxis = "right" }],
          ]
        }
      }
    ],
  )
}

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = var.name
  dashboard_body = jsonencode({ widgets = local.dashboard_widgets })
}
