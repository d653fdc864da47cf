variable "function_name" {
  description = "Name of the function; also names its role and log group."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9_-]{1,64}$", var.function_name))
    error_message = "function_name must be 1-64 letters, digits, '-' or '_'."
  }
}

variable "description" {
  description = "Description of the function."
  type        = string
  default     = ""
}

variable "handler" {
  description = "Handler entry point, module.function."
  type        = string
}

variable "runtime" {
  description = "Lambda runtime identifier."
  type        = string
  default     = "python3.13"
}

variable "architecture" {
  description = "Instruction set of the function; must match the native wheels in the zip."
  type        = string
  default     = "x86_64"

  validation {
    condition     = contains(["x86_64", "arm64"], var.architecture)
    error_message = "architecture must be x86_64 or arm64."
  }
}

variable "filename" {
  description = "Path of the deployment zip (built outside Terraform). Its SHA-256 decides when code is redeployed."
  type        = string
}

variable "artifacts_bucket" {
  description = "Bucket the zip is uploaded to before the function is created from it (direct uploads are capped at 50 MB zipped)."
  type        = string
}

variable "memory_size" {
  description = "Memory of the function in MB (128-10240)."
  type        = number
  default     = 512

  validation {
    condition     = var.memory_size >= 128 && var.memory_size <= 10240
    error_message = "memory_size must be between 128 and 10240."
  }
}

variable "timeout" {
  description = "Timeout of one invocation in seconds (1-900)."
  type        = number
  default     = 30

  validation {
    condition     = var.timeout >= 1 && var.timeout <= 900
    error_message = "timeout must be between 1 and 900."
  }
}

variable "ephemeral_storage_mb" {
  description = "Size of the function's /tmp in MB (512-10240). The processor streams each file through /tmp."
  type        = number
  default     = 512

  validation {
    condition     = var.ephemeral_storage_mb >= 512 && var.ephemeral_storage_mb <= 10240
    error_message = "ephemeral_storage_mb must be between 512 and 10240."
  }
}

variable "environment_variables" {
  description = "Environment variables of the function."
  type        = map(string)
  default     = {}
}

variable "environment_kms_key_arn" {
  description = "KMS key that encrypts the environment variables at rest. null = the AWS managed key (required on LocalStack, which never stores the value)."
  type        = string
  default     = null
}

variable "policy_json" {
  description = "IAM policy document (JSON) with everything the function may do besides writing its own logs."
  type        = string
  default     = null
}

variable "log_retention_in_days" {
  description = "Retention of the function's log group in days."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_in_days)
    error_message = "log_retention_in_days must be a retention CloudWatch Logs supports (1, 3, 5, 7, 14, 30, 60, 90, ... 3653)."
  }
}

variable "log_kms_key_arn" {
  description = "KMS key that encrypts the log group. null = CloudWatch Logs' own encryption."
  type        = string
  default     = null
}

variable "vpc_config" {
  description = "Subnets and security groups to run the function in. null = no VPC."
  type = object({
    subnet_ids         = list(string)
    security_group_ids = list(string)
  })
  default = null
}

variable "event_source_mapping" {
  description = "SQS queue that invokes the function. null = no event source mapping."
  type = object({
    event_source_arn                   = string
    batch_size                         = optional(number, 10)
    maximum_batching_window_in_seconds = optional(number, 0)
    function_response_types            = optional(list(string), ["ReportBatchItemFailures"])
    maximum_concurrency                = optional(number)
  })
  default = null
}

variable "tags" {
  description = "Tags for the role, log group, function."
  type        = map(string)
  default     = {}
}
