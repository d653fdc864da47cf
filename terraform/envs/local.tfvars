# LocalStack targets (host and compose). The tooling adds the database connection chosen at
# `make up` as environment variables:
#   TF_VAR_database_host, TF_VAR_database_port, TF_VAR_database_username,
#   TF_VAR_database_password (ephemeral), TF_VAR_database_password_version
# and, optionally, TF_VAR_processor_zip_path.

environment = "local"

# Emulator differences.
create_database                         = false # Postgres comes from compose / the host backend
database_sslmode                        = "prefer"
enable_function_environment_encryption  = false # LocalStack never stores kms_key_arn -> perpetual diff
bucket_names_include_account_id         = false # one emulated account, names stay short
bucket_force_destroy                    = true  # `make down` / test teardown may leave objects
database_secret_recovery_window_in_days = 0     # destroy + apply reuses the secret name

# Fast feedback in tests.
kms_deletion_window_in_days                  = 7
processor_memory_size                        = 1024
processor_timeout_seconds                    = 30
ingest_queue_visibility_timeout_seconds      = 30
max_receive_count                            = 3
processor_batch_size                         = 10
processor_maximum_batching_window_in_seconds = 0
processor_log_level                          = "INFO"
log_retention_in_days                        = 3
ingest_queue_message_retention_seconds       = 86400
dlq_message_retention_seconds                = 604800

# Reporting: tests read the report notifications from an SQS subscription.
create_report_notifications_queue = true
reporter_timeout_seconds          = 60
