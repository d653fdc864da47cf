# AWS development account: RDS in a private VPC, small and disposable.
# terraform apply -var-file=envs/dev.tfvars

aws_region  = "us-east-1"
environment = "dev"
# allowed_account_ids = ["123456789012"]

create_database  = true
database_sslmode = "require"

database_instance_class               = "db.t4g.micro"
database_allocated_storage            = 20
database_max_allocated_storage        = 50
database_multi_az                     = false
database_backup_retention_period      = 1
database_deletion_protection          = false
database_skip_final_snapshot          = true
database_apply_immediately            = true
database_performance_insights_enabled = false

kms_deletion_window_in_days               = 7
bucket_force_destroy                      = true
bucket_noncurrent_version_expiration_days = 14

processor_memory_size                        = 1024
processor_ephemeral_storage_mb               = 2048
processor_timeout_seconds                    = 60
ingest_queue_visibility_timeout_seconds      = 360
max_receive_count                            = 3
processor_batch_size                         = 10
processor_maximum_batching_window_in_seconds = 1
processor_maximum_concurrency                = 5
processor_log_level                          = "DEBUG"
log_retention_in_days                        = 14
