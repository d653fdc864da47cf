# The reporter: an EventBridge rule runs it daily (cron(0 8 * * ? *) by default) for the UTC day
# before; `tidewater report --date` invokes it directly. It reads the ledger and dataset tables,
# writes reports/YYYY-MM-DD/report.{json,txt,html} to the reports bucket and publishes a summary to
# the reports topic. EventBridge *Scheduler* never fires in LocalStack's community edition: a rule.

locals {
  reporter_zip_path = coalesce(var.reporter_zip_path, "${path.root}/../build/functions/reporter.zip")

  reporter_environment = merge(local.database_environment, {
    REPORTS_BUCKET          = module.storage.bucket_ids["reports"]
    REPORTS_TOPIC_ARN       = aws_sns_topic.reports.arn
    DLQ_URL                 = module.ingest_queue.dlq_url
    POWERTOOLS_SERVICE_NAME = "tidewater-reporter"
    POWERTOOLS_LOG_LEVEL    = var.reporter_log_level
  })
}

data "aws_iam_policy_document" "reporter" {
  source_policy_documents = [data.aws_iam_policy_document.database_access.json]

  statement {
    sid       = "WriteReports"
    actions   = ["s3:PutObject"]
    resources = ["${module.storage.bucket_arns["reports"]}/reports/*"]
  }

  statement {
    sid       = "PublishReportNotifications"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.reports.arn]
  }

  statement {
    sid       = "ReadDeadLetterQueueDepth"
    actions   = ["sqs:GetQueueAttributes"]
    resources = [module.ingest_queue.dlq_arn]
  }
}

module "reporter" {
  source = "./modules/function"

  function_name    = "${local.name}-reporter"
  description      = "tidewater: daily report of the ledger and the loaded data"
  handler          = "app.lambda_handler"
  runtime          = "python3.13"
  architecture     = var.lambda_architecture
  filename         = local.reporter_zip_path
  artifacts_bucket = module.storage.bucket_ids["artifacts"]
  memory_size      = var.reporter_memory_size
  timeout          = var.reporter_timeout_seconds

  environment_variables   = local.reporter_environment
  environment_kms_key_arn = var.enable_function_environment_encryption ? module.kms.key_arn : null
  policy_json             = data.aws_iam_policy_document.reporter.json

  log_retention_in_days = var.log_retention_in_days
  log_kms_key_arn       = module.kms.key_arn

  vpc_config = local.function_vpc_config
}

resource "aws_cloudwatch_event_rule" "daily_report" {
  name                = "${local.name}-daily-report"
  description         = "Runs the reporter for the previous UTC day."
  schedule_expression = var.report_schedule_expression
}

resource "aws_cloudwatch_event_target" "daily_report" {
  rule      = aws_cloudwatch_event_rule.daily_report.name
  target_id = "reporter"
  arn       = module.reporter.function_arn

  retry_policy {
    maximum_retry_attempts       = 2
    maximum_event_age_in_seconds = 3600
  }
}

resource "aws_lambda_permission" "daily_report" {
  statement_id  = "AllowDailyReportRule"
  action        = "lambda:InvokeFunction"
  function_name = module.reporter.function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.daily_report.arn
}
