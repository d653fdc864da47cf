variable "name" {
  description = "Name prefix of the alarms (e.g. tidewater-dev)."
  type        = string
}

variable "dlq_name" {
  description = "Name of the ingest dead-letter queue to watch."
  type        = string
}

variable "alarm_actions" {
  description = "ARNs notified when an alarm fires or recovers (e.g. an SNS topic). Empty = alarms only show in CloudWatch."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags for every alarm."
  type        = map(string)
  default     = {}
}

variable "function_names" {
  description = "Functions whose errors raise an alarm, by role (e.g. { processor = \"tidewater-dev-processor\" }); also shown on the dashboard."
  type        = map(string)
  default     = {}
}

variable "ingest_queue_name" {
  description = "Name of the ingest queue: no message deleted from it (= no file processed) for no_files_processed_alarm_hours raises an alarm. null = no such alarm."
  type        = string
  default     = null
}

variable "no_files_processed_alarm_hours" {
  description = "Hours without a processed file before the staleness alarm fires (1-24)."
  type        = number
  default     = 24

  validation {
    condition     = var.no_files_processed_alarm_hours >= 1 && var.no_files_processed_alarm_hours <= 24
    error_message = "no_files_processed_alarm_hours must be between 1 and 24."
  }
}

variable "metrics_namespace" {
  description = "CloudWatch namespace of the processor's Powertools metrics (FilesLoaded, RowsLoaded, ...)."
  type        = string
  default     = "Tidewater"
}

variable "processor_service_name" {
  description = "Powertools service name of the processor (the `service` dimension of its metrics)."
  type        = string
  default     = "tidewater-processor"
}

variable "region" {
  description = "Region the dashboard's widgets read metrics from."
  type        = string
}
