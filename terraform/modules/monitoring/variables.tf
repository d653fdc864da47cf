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
