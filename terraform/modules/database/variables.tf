variable "name" {
  description = "Name of the database resources (RDS identifier, secret name prefix)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,62}$", var.name)) && !strcontains(var.name, "--") && !endswith(var.name, "-")
    error_message = "name must start with a letter and hold up to 63 lowercase letters, digits and single hyphens, not ending in a hyphen."
  }
}

variable "create_rds_instance" {
  description = "true: create RDS PostgreSQL. false: point at an existing server (host/port/username/password) and store its credentials in a secret."
  type        = bool
  default     = true
}

variable "kms_key_arn" {
  description = "KMS key for the secret, the RDS storage and Performance Insights."
  type        = string
}

variable "database_name" {
  description = "Name of the PostgreSQL database."
  type        = string
  default     = "tidewater"
}

variable "username" {
  description = "PostgreSQL user (the RDS master user when create_rds_instance)."
  type        = string
  default     = "tidewater"
}

variable "port" {
  description = "PostgreSQL port."
  type        = number
  default     = 5432
}

# --- existing server ------------------------------------------------------------------------

variable "host" {
  description = "Host of the existing server (only without RDS)."
  type        = string
  default     = null
}

variable "password" {
  description = "Password of the existing server's user (only without RDS). Ephemeral: written to the secret write-only, never stored in the state."
  type        = string
  default     = null
  sensitive   = true
  ephemeral   = true
}

variable "password_version" {
  description = "Version of the password; change it to rewrite the secret (the password itself is not in the state)."
  type        = number
  default     = 1
}

variable "secret_recovery_window_in_days" {
  description = "Days a deleted connection secret can be restored (0 = delete at once, so the same name can be recreated; 7-30 otherwise)."
  type        = number
  default     = 7

  validation {
    condition     = var.secret_recovery_window_in_days == 0 || (var.secret_recovery_window_in_days >= 7 && var.secret_recovery_window_in_days <= 30)
    error_message = "secret_recovery_window_in_days must be 0 or between 7 and 30."
  }
}

# --- RDS ----------------------------------------------------------------------------------

variable "vpc_id" {
  description = "VPC of the RDS instance."
  type        = string
  default     = null
}

variable "subnet_ids" {
  description = "Private subnets (at least two availability zones) of the RDS instance."
  type        = list(string)
  default     = []
}

variable "allowed_security_group_ids" {
  description = "Security groups allowed to connect to the RDS instance."
  type        = list(string)
  default     = []
}

variable "engine_version" {
  description = "PostgreSQL version; a major version (\"16\") lets RDS pick and upgrade the minor version."
  type        = string
  default     = "16"
}

variable "instance_class" {
  description = "RDS instance class."
  type        = string
  default     = "db.t4g.micro"
}

variable "allocated_storage" {
  description = "Initial storage in GiB."
  type        = number
  default     = 20
}

variable "max_allocated_storage" {
  description = "Upper limit for storage autoscaling in GiB (0 = no autoscaling)."
  type        = number
  default     = 100
}

variable "multi_az" {
  description = "Run a standby in a second availability zone."
  type        = bool
  default     = true
}

variable "backup_retention_period" {
  description = "Days of automated backups (0-35)."
  type        = number
  default     = 7
}

variable "deletion_protection" {
  description = "Refuse to delete the instance."
  type        = bool
  default     = true
}

variable "skip_final_snapshot" {
  description = "Delete without a final snapshot."
  type        = bool
  default     = false
}

variable "apply_immediately" {
  description = "Apply modifications now instead of in the next maintenance window."
  type        = bool
  default     = false
}

variable "performance_insights_enabled" {
  description = "Enable Performance Insights (encrypted with kms_key_arn)."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags for every database resource."
  type        = map(string)
  default     = {}
}
