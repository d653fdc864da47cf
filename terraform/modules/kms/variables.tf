variable "alias" {
  description = "Alias of the key, without the `alias/` prefix."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9/_-]{1,250}$", var.alias)) && !startswith(var.alias, "aws/")
    error_message = "The alias may hold letters, digits, '/', '_' and '-' and must not start with 'aws/'."
  }
}

variable "description" {
  description = "Description of the key."
  type        = string
  default     = "tidewater pipeline data key"
}

variable "deletion_window_in_days" {
  description = "Days a deleted key waits before it is destroyed for good (7-30)."
  type        = number
  default     = 30

  validation {
    condition     = var.deletion_window_in_days >= 7 && var.deletion_window_in_days <= 30
    error_message = "deletion_window_in_days must be between 7 and 30."
  }
}

variable "data_key_service_principals" {
  description = "Service principals (e.g. s3.amazonaws.com) allowed to generate and decrypt data keys, restricted to this account by aws:SourceAccount."
  type        = list(string)
  default     = []
}

variable "allow_cloudwatch_logs" {
  description = "Allow CloudWatch Logs of this account and region to encrypt log groups with the key."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags for the key."
  type        = map(string)
  default     = {}
}
