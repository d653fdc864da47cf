# Alarms (more join in the monitoring module as the pipeline grows).

module "monitoring" {
  source = "./modules/monitoring"

  name          = local.name
  dlq_name      = module.ingest_queue.dlq_name
  alarm_actions = var.alarm_actions
}
