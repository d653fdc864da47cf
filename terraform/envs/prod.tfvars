# AWS production account: Multi-AZ RDS, protected data, longer retention.
# terraform apply -var-file=envs/prod.tfvars

aws_region  = "us-east-1"
environment = "prod"
# allowed_account_ids = ["210987654321"]

create_database  = true
database_sslmode = "require"

database_instance_class               = "db.t4g.small"
database_allocated_storage            = 50
database_max_allocated_storage        = 500
database_multi_az                     = true
database_backup_retention_period      = 14
database_deletion_protection          = true
database_skip_final_snapshot          = false
database_apply_immediately            = false
database_performance_insights_enabled = true

kms_deletion_window_in_days               = 30
bucket_force_destroy                      = false
bucket_noncurrent_version_expiration_days = 90

processor_memory_size                        = 2048
processor_ephemeral_storage_mb               = 10240
processor_timeout_seconds                    = 120
ingest_queue_visibility_timeout_seconds      = 720
max_receive_count                            = 5
processor_batch_size                         = 10
processor_maximum_batching_window_in_seconds = 5
processor_maximum_concurrency                = 10
processor_log_level                          = "INFO"
log_retention_in_days                        = 90
