# --- general --------------------------------------------------------------------------------

variable "aws_region" {
  description = "AWS region to deploy to. null = the provider's usual sources (AWS_REGION, AWS_DEFAULT_REGION, the profile), which is what the local tooling relies on."
  type        = string
  default     = null

  validation {
    condition     = var.aws_region == null || can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.aws_region))
    error_message = "aws_region must look like us-east-1 (or be null)."
  }
}

variable "allowed_account_ids" {
  description = "If set, the AWS account ids Terraform may deploy to (a guard against the wrong credentials). null = any."
  type        = list(string)
  default     = null
}

variable "name_prefix" {
  description = "First part of every resource name (\"<name_prefix>-<environment>-...\")."
  type        = string
  default     = "tidewater"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,15}$", var.name_prefix)) && !endswith(var.name_prefix, "-") && !strcontains(var.name_prefix, "--")
    error_message = "name_prefix must start with a letter and hold at most 16 lowercase letters, digits and single hyphens (bucket names are limited to 63 characters)."
  }
}

variable "environment" {
  description = "Environment name (local, dev, prod, ...); second part of every resource name."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9]{0,11}$", var.environment))
    error_message = "environment must start with a letter and hold at most 12 lowercase letters and digits."
  }
}

variable "tags" {
  description = "Extra tags for every resource (Project, Environment and ManagedBy are always set)."
  type        = map(string)
  default     = {}
}

# --- encryption -----------------------------------------------------------------------------

variable "kms_deletion_window_in_days" {
  description = "Days before a deleted KMS key is destroyed (7-30)."
  type        = number
  default     = 30

  validation {
    condition     = var.kms_deletion_window_in_days >= 7 && var.kms_deletion_window_in_days <= 30
    error_message = "kms_deletion_window_in_days must be between 7 and 30."
  }
}

variable "enable_function_environment_encryption" {
  description = "Encrypt function environment variables with the pipeline key instead of the AWS managed key. Leave false on LocalStack: it never reports the key back, so every plan would show a change."
  type        = bool
  default     = true
}

# --- buckets --------------------------------------------------------------------------------

variable "bucket_names_include_account_id" {
  description = "Append the account id to bucket names (\"<prefix>-<env>-<account>-raw\") so they are globally unique. The emulator does not need it."
  type        = bool
  default     = true
}

variable "bucket_force_destroy" {
  description = "Let `terraform destroy` delete buckets that still hold objects. Only for disposable environments."
  type        = bool
  default     = false
}

variable "bucket_noncurrent_version_expiration_days" {
  description = "Expire noncurrent object versions after this many days (plus abort incomplete multipart uploads after 7). null = no lifecycle rules (they add ~55 s of provider waits to a LocalStack apply)."
  type        = number
  default     = null

  validation {
    condition     = var.bucket_noncurrent_version_expiration_days == null ? true : var.bucket_noncurrent_version_expiration_days >= 1
    error_message = "bucket_noncurrent_version_expiration_days must be null or at least 1."
  }
}

# --- queues ---------------------------------------------------------------------------------

variable "ingest_queue_visibility_timeout_seconds" {
  description = "Visibility timeout of the ingest queue. Must be at least processor_timeout_seconds (AWS advises 6x the timeout plus the batching window)."
  type        = number
  default     = 360

  validation {
    condition     = var.ingest_queue_visibility_timeout_seconds >= var.processor_timeout_seconds && var.ingest_queue_visibility_timeout_seconds <= 43200
    error_message = "ingest_queue_visibility_timeout_seconds must be at least processor_timeout_seconds and at most 43200, or messages reappear while they are still being processed."
  }
}

variable "ingest_queue_message_retention_seconds" {
  description = "How long the ingest queue keeps a message (60-1209600)."
  type        = number
  default     = 345600

  validation {
    condition     = var.ingest_queue_message_retention_seconds >= 60 && var.ingest_queue_message_retention_seconds <= 1209600
    error_message = "ingest_queue_message_retention_seconds must be between 60 and 1209600."
  }
}

variable "dlq_message_retention_seconds" {
  description = "How long the dead-letter queue keeps a message (60-1209600). Keep it longer than the ingest queue's: SQS keeps a message's original enqueue time."
  type        = number
  default     = 1209600

  validation {
    condition     = var.dlq_message_retention_seconds >= 60 && var.dlq_message_retention_seconds <= 1209600
    error_message = "dlq_message_retention_seconds must be between 60 and 1209600."
  }
}

variable "max_receive_count" {
  description = "Receives of a message before it moves to the dead-letter queue."
  type        = number
  default     = 5

  validation {
    condition     = var.max_receive_count >= 1 && var.max_receive_count <= 1000
    error_message = "max_receive_count must be between 1 and 1000."
  }
}

variable "lambda_architecture" {
  description = "Instruction set of both functions: x86_64, or arm64 (Graviton; Apple silicon on the compose backend). The zips must be built for it: `make build` builds x86_64 into build/functions/, `python -m tidewater.build --architecture arm64` into build/functions/arm64/ (set processor_zip_path and reporter_zip_path to those); `make deploy` does both itself."
  type        = string
  default     = "x86_64"

  validation {
    condition     = contains(["x86_64", "arm64"], var.lambda_architecture)
    error_message = "lambda_architecture must be x86_64 or arm64."
  }
}

# --- processor function ---------------------------------------------------------------------

variable "processor_zip_path" {
  description = "Path of the processor deployment zip built by `make build`. null = \"<terraform dir>/../build/functions/processor.zip\"."
  type        = string
  default     = null
}

variable "processor_memory_size" {
  description = "Memory of the processor in MB (128-10240); also scales its CPU."
  type        = number
  default     = 1024

  validation {
    condition     = var.processor_memory_size >= 128 && var.processor_memory_size <= 10240
    error_message = "processor_memory_size must be between 128 and 10240."
  }
}

variable "processor_timeout_seconds" {
  description = "Timeout of one processor invocation (one batch) in seconds (1-900)."
  type        = number
  default     = 60

  validation {
    condition     = var.processor_timeout_seconds >= 1 && var.processor_timeout_seconds <= 900
    error_message = "processor_timeout_seconds must be between 1 and 900."
  }
}

variable "processor_batch_size" {
  description = "Messages per processor invocation (1-10000; above 10 needs a batching window of at least 1 s)."
  type        = number
  default     = 10

  validation {
    condition     = var.processor_batch_size >= 1 && var.processor_batch_size <= 10000
    error_message = "processor_batch_size must be between 1 and 10000."
  }

  validation {
    condition     = var.processor_batch_size <= 10 || var.processor_maximum_batching_window_in_seconds >= 1
    error_message = "A processor_batch_size above 10 needs processor_maximum_batching_window_in_seconds of at least 1."
  }
}

variable "processor_maximum_batching_window_in_seconds" {
  description = "Seconds the event source mapping may wait to fill a batch (0-300)."
  type        = number
  default     = 0

  validation {
    condition     = var.processor_maximum_batching_window_in_seconds >= 0 && var.processor_maximum_batching_window_in_seconds <= 300
    error_message = "processor_maximum_batching_window_in_seconds must be between 0 and 300."
  }
}

variable "processor_maximum_concurrency" {
  description = "Most concurrent processor invocations the queue may drive (2-1000), which bounds database connections. null = no limit."
  type        = number
  default     = null

  validation {
    condition     = var.processor_maximum_concurrency == null ? true : var.processor_maximum_concurrency >= 2 && var.processor_maximum_concurrency <= 1000
    error_message = "processor_maximum_concurrency must be null or between 2 and 1000."
  }
}

variable "processor_log_level" {
  description = "POWERTOOLS_LOG_LEVEL of the processor."
  type        = string
  default     = "INFO"

  validation {
    condition     = contains(["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], var.processor_log_level)
    error_message = "processor_log_level must be DEBUG, INFO, WARNING, ERROR or CRITICAL."
  }
}

variable "log_retention_in_days" {
  description = "Retention of the functions' log groups in days."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_in_days)
    error_message = "log_retention_in_days must be a retention CloudWatch Logs supports (1, 3, 5, 7, 14, 30, 60, 90, ... 3653)."
  }
}

# --- database: common -----------------------------------------------------------------------

variable "create_database" {
  description = "true (aws): create a VPC, RDS PostgreSQL and put the functions in the VPC. false (local targets): use the server given by database_host/port/username/password."
  type        = bool
  default     = true
}

variable "database_name" {
  description = "Name of the PostgreSQL database (DB_NAME)."
  type        = string
  default     = "tidewater"

  validation {
    condition     = can(regex("^[a-zA-Z][a-zA-Z0-9_]{0,62}$", var.database_name))
    error_message = "database_name must start with a letter and hold at most 63 letters, digits and underscores."
  }
}

variable "database_username" {
  description = "PostgreSQL user of the functions (the RDS master user on aws)."
  type        = string
  default     = "tidewater"

  validation {
    condition     = can(regex("^[a-zA-Z][a-zA-Z0-9_]{0,62}$", var.database_username))
    error_message = "database_username must start with a letter and hold at most 63 letters, digits and underscores."
  }
}

variable "database_port" {
  description = "PostgreSQL port (DB_PORT). Locally the port `make up` chose."
  type        = number
  default     = 5432

  validation {
    condition     = var.database_port >= 1 && var.database_port <= 65535 && floor(var.database_port) == var.database_port
    error_message = "database_port must be an integer between 1 and 65535."
  }
}

variable "database_sslmode" {
  description = "libpq sslmode of the functions (DB_SSLMODE): require on AWS, prefer locally."
  type        = string
  default     = "require"

  validation {
    condition     = contains(["disable", "allow", "prefer", "require", "verify-ca", "verify-full"], var.database_sslmode)
    error_message = "database_sslmode must be a libpq sslmode: disable, allow, prefer, require, verify-ca or verify-full."
  }
}

# --- database: existing server (create_database = false) -----------------------------------

variable "database_host" {
  description = "Host of the existing PostgreSQL server (DB_HOST): 127.0.0.1 on the host backend, the compose service name in Docker. Required when create_database = false."
  type        = string
  default     = null

  validation {
    condition     = var.create_database || var.database_host != null
    error_message = "database_host is required when create_database = false (e.g. TF_VAR_database_host=127.0.0.1)."
  }
}

variable "database_password" {
  description = "Password of database_username on the existing server. Ephemeral: Terraform writes it to the secret write-only and never stores it in plan or state. Required when create_database = false."
  type        = string
  default     = null
  sensitive   = true
  ephemeral   = true
}

variable "database_password_version" {
  description = "Change this number whenever database_password changes; Terraform cannot see the password itself and only rewrites the secret when the version changes."
  type        = number
  default     = 1
}

variable "database_secret_recovery_window_in_days" {
  description = "Recovery window of the connection secret (0 = delete at once so a redeploy can reuse the name; otherwise 7-30)."
  type        = number
  default     = 7

  validation {
    condition     = var.database_secret_recovery_window_in_days == 0 || (var.database_secret_recovery_window_in_days >= 7 && var.database_secret_recovery_window_in_days <= 30)
    error_message = "database_secret_recovery_window_in_days must be 0 or between 7 and 30."
  }
}

# --- database: RDS (create_database = true) -------------------------------------------------

variable "database_engine_version" {
  description = "RDS PostgreSQL version; a major version lets RDS choose the minor one."
  type        = string
  default     = "16"

  validation {
    condition     = can(regex("^16(\\.[0-9]+)?$", var.database_engine_version))
    error_message = "database_engine_version must be PostgreSQL 16 (\"16\" or \"16.x\")."
  }
}

variable "database_instance_class" {
  description = "RDS instance class."
  type        = string
  default     = "db.t4g.micro"

  validation {
    condition     = startswith(var.database_instance_class, "db.")
    error_message = "database_instance_class must be an RDS class such as db.t4g.micro."
  }
}

variable "database_allocated_storage" {
  description = "Initial RDS storage in GiB (20-65536)."
  type        = number
  default     = 20

  validation {
    condition     = var.database_allocated_storage >= 20 && var.database_allocated_storage <= 65536
    error_message = "database_allocated_storage must be between 20 and 65536."
  }
}

variable "database_max_allocated_storage" {
  description = "Upper limit of RDS storage autoscaling in GiB (0 = off)."
  type        = number
  default     = 100

  validation {
    condition     = var.database_max_allocated_storage == 0 || var.database_max_allocated_storage >= var.database_allocated_storage
    error_message = "database_max_allocated_storage must be 0 or at least database_allocated_storage."
  }
}

variable "database_multi_az" {
  description = "Run an RDS standby in a second availability zone."
  type        = bool
  default     = true
}

variable "database_backup_retention_period" {
  description = "Days of automated RDS backups (0-35)."
  type        = number
  default     = 7

  validation {
    condition     = var.database_backup_retention_period >= 0 && var.database_backup_retention_period <= 35
    error_message = "database_backup_retention_period must be between 0 and 35."
  }
}

variable "database_deletion_protection" {
  description = "Refuse to delete the RDS instance."
  type        = bool
  default     = true
}

variable "database_skip_final_snapshot" {
  description = "Delete the RDS instance without a final snapshot."
  type        = bool
  default     = false
}

variable "database_apply_immediately" {
  description = "Apply RDS modifications at once instead of in the maintenance window."
  type        = bool
  default     = false
}

variable "database_performance_insights_enabled" {
  description = "Enable RDS Performance Insights."
  type        = bool
  default     = false
}

# --- network (create_database = true) -------------------------------------------------------

variable "vpc_cidr_block" {
  description = "CIDR of the VPC created for RDS and the functions (/16 to /23)."
  type        = string
  default     = "10.42.0.0/16"

  validation {
    condition     = can(cidrhost(var.vpc_cidr_block, 0))
    error_message = "vpc_cidr_block must be an IPv4 CIDR such as 10.42.0.0/16."
  }
}

variable "vpc_availability_zone_count" {
  description = "Availability zones (private subnets) of the VPC; RDS needs at least 2."
  type        = number
  default     = 2

  validation {
    condition     = var.vpc_availability_zone_count >= 2 && var.vpc_availability_zone_count <= 6
    error_message = "vpc_availability_zone_count must be between 2 and 6."
  }
}

variable "vpc_interface_endpoint_services" {
  description = "AWS services the functions in the VPC reach through interface endpoints (there is no NAT). secretsmanager (the database secret), sqs (the reporter reads the DLQ depth) and sns (the reporter publishes) are required; logs and kms are optional (Lambda ships the logs, S3 and Secrets Manager call KMS themselves) and cost ~$14.60/month each with two AZs."
  type        = list(string)
  default     = ["sqs", "secretsmanager", "logs", "kms", "sns"]

  validation {
    condition     = length(setsubtract(["secretsmanager", "sqs", "sns"], var.vpc_interface_endpoint_services)) == 0
    error_message = "vpc_interface_endpoint_services must include secretsmanager, sqs and sns: the functions run in a VPC without NAT, and without these endpoints the processor cannot read its database secret and the reporter cannot read the DLQ depth or publish the report. Only logs and kms can be left out."
  }
}

variable "alarm_actions" {
  description = "ARNs (e.g. an SNS topic) notified by the pipeline's alarms. Empty = alarms only show in CloudWatch."
  type        = list(string)
  default     = []
}

variable "processor_ephemeral_storage_mb" {
  description = "The processor's /tmp in MB (512-10240). Files are streamed through /tmp; objects larger than about half of it are quarantined as too_large."
  type        = number
  default     = 512
}

# --- reporting and notifications (reporter.tf, notifications.tf) ----------------------------

variable "reporter_zip_path" {
  description = "Path of the reporter's zip (built by `make build`). null = <terraform dir>/../build/functions/reporter.zip."
  type        = string
  default     = null
}

variable "report_schedule_expression" {
  description = "EventBridge schedule of the daily report (it reports the UTC day before the event's time). Tests use rate(1 minute)."
  type        = string
  default     = "cron(0 8 * * ? *)"

  validation {
    condition     = can(regex("^(cron|rate)\\(.+\\)$", var.report_schedule_expression))
    error_message = "report_schedule_expression must be cron(...) or rate(...)."
  }
}

variable "reporter_memory_size" {
  description = "Memory of the reporter in MB."
  type        = number
  default     = 256
}

variable "reporter_timeout_seconds" {
  description = "Timeout of one report in seconds."
  type        = number
  default     = 60
}

variable "reporter_log_level" {
  description = "Powertools log level of the reporter."
  type        = string
  default     = "INFO"
}

variable "report_notification_email" {
  description = "Email address subscribed to the reports topic (it must confirm the subscription). Empty = none."
  type        = string
  default     = ""
}

variable "alert_notification_email" {
  description = "Email address subscribed to the alerts topic (alarms). Empty = none."
  type        = string
  default     = ""
}

variable "create_report_notifications_queue" {
  description = "Subscribe an SQS queue to the reports topic (local targets: tests read the notifications from it)."
  type        = bool
  default     = false
}

variable "no_files_processed_alarm_hours" {
  description = "Alarm when the processor has deleted no ingest message for this many hours (1-24)."
  type        = number
  default     = 24

  validation {
    condition     = var.no_files_processed_alarm_hours >= 1 && var.no_files_processed_alarm_hours <= 24
    error_message = "no_files_processed_alarm_hours must be between 1 and 24."
  }
}
