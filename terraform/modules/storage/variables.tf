variable "buckets" {
  description = "Buckets to create: purpose (e.g. raw) => globally unique bucket name."
  type        = map(string)

  validation {
    condition = alltrue([
      for name in values(var.buckets) : can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", name))
    ])
    error_message = "Bucket names must be 3-63 characters of lowercase letters, digits, '.' and '-', starting and ending with a letter or digit."
  }
}

variable "kms_key_arn" {
  description = "ARN of the KMS key used for default SSE-KMS encryption."
  type        = string
}

variable "force_destroy" {
  description = "Delete all objects (and versions) when the bucket is destroyed. Only for disposable environments."
  type        = bool
  default     = false
}

variable "noncurrent_version_expiration_days" {
  description = "Expire noncurrent object versions after this many days (and abort incomplete multipart uploads after 7). null = no lifecycle configuration."
  type        = number
  default     = null

  validation {
    condition     = var.noncurrent_version_expiration_days == null ? true : var.noncurrent_version_expiration_days >= 1
    error_message = "noncurrent_version_expiration_days must be null or at least 1."
  }
}

variable "tags" {
  description = "Tags for every bucket (a Purpose tag is added per bucket)."
  type        = map(string)
  default     = {}
}
