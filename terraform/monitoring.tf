# Alarms and the dashboard. Alarms notify the alerts topic (notifications.tf) and whatever
# `alarm_actions` adds.

module "monitoring" {
  source = "./modules/monitoring"

  name          = local.name
  region        = data.aws_region.current.name
  dlq_name      = module.ingest_queue.dlq_name
  alarm_actions = concat([aws_sns_topic.alerts.arn], var.alarm_actions)

  function_names = {
    processor = module.processor.function_name
    reporter  = module.reporter.function_name
  }
  ingest_queue_name              = module.ingest_queue.queue_name
  no_files_processed_alarm_hours = var.no_files_processed_alarm_hours
}
