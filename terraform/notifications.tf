# SNS topics: `reports` announces each daily report (summary + location), `alerts` receives the
# CloudWatch alarms. Both are encrypted with the pipeline key. On the local targets an SQS queue
# subscribes to the reports topic so tests (and you) can read what was sent.

resource "aws_sns_topic" "reports" {
  name              = "${local.name}-reports"
  display_name      = "tidewater daily report"
  kms_master_key_id = module.kms.key_arn
}

resource "aws_sns_topic" "alerts" {
  name              = "${local.name}-alerts"
  display_name      = "tidewater alerts"
  kms_master_key_id = module.kms.key_arn
}

# Email subscriptions stay "pending confirmation" until the recipient clicks the link AWS sends.
resource "aws_sns_topic_subscription" "reports_email" {
  count = var.report_notification_email == "" ? 0 : 1

  topic_arn = aws_sns_topic.reports.arn
  protocol  = "email"
  endpoint  = var.report_notification_email
}

resource "aws_sns_topic_subscription" "alerts_email" {
  count = var.alert_notification_email == "" ? 0 : 1

  topic_arn = aws_sns_topic.alerts.arn
  protocol  = "email"
  endpoint  = var.alert_notification_email
}

data "aws_partition" "current" {}

data "aws_region" "current" {}

locals {
  report_notifications_queue_name = "${local.name}-report-notifications"
}

data "aws_iam_policy_document" "report_notifications_queue" {
  count = var.create_report_notifications_queue ? 1 : 0

  statement {
    sid       = "ReportsTopicSendsMessages"
    actions   = ["sqs:SendMessage"]
    resources = ["arn:${data.aws_partition.current.partition}:sqs:${data.aws_region.current.name}:${local.account_id}:${local.report_notifications_queue_name}"]

    principals {
      type        = "Service"
      identifiers = ["sns.amazonaws.com"]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_sns_topic.reports.arn]
    }
  }
}

# SQS-managed encryption: SNS can deliver to it without rights on our key. The policy is inline
# (a separate aws_sqs_queue_policy costs another ~25 s of provider waits on LocalStack).
resource "aws_sqs_queue" "report_notifications" {
  count = var.create_report_notifications_queue ? 1 : 0

  name                      = local.report_notifications_queue_name
  sqs_managed_sse_enabled   = true
  message_retention_seconds = 86400
  policy                    = data.aws_iam_policy_document.report_notifications_queue[0].json
}

resource "aws_sns_topic_subscription" "reports_queue" {
  count = var.create_report_notifications_queue ? 1 : 0

  topic_arn = aws_sns_topic.reports.arn
  protocol  = "sqs"
  endpoint  = aws_sqs_queue.report_notifications[0].arn
}
