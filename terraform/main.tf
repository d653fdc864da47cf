# tidewater foundation: one KMS key, the four buckets, the ingest queue fed by the raw
# bucket, the processor function (processor.tf) and the database wiring (database.tf).

data "aws_caller_identity" "current" {}

locals {
  name       = "${var.name_prefix}-${var.environment}"
  account_id = data.aws_caller_identity.current.account_id

  # Bucket names are global: on AWS the account id keeps them unique per account.
  bucket_name_prefix = var.bucket_names_include_account_id ? "${local.name}-${local.account_id}" : local.name
  bucket_names = {
    for purpose in ["raw", "processed", "quarantine", "reports", "artifacts"] : purpose => "${local.bucket_name_prefix}-${purpose}"
  }
}

module "kms" {
  source = "./modules/kms"

  alias                   = local.name
  description             = "${local.name}: buckets, queues, logs and database secret"
  deletion_window_in_days = var.kms_deletion_window_in_days

  # S3 encrypts the event notifications it puts on the KMS-encrypted ingest queue; CloudWatch
  # alarms publish to the KMS-encrypted alerts topic (notifications.tf).
  data_key_service_principals = ["s3.amazonaws.com", "cloudwatch.amazonaws.com"]
  allow_cloudwatch_logs       = true
}

module "storage" {
  source = "./modules/storage"

  buckets                            = local.bucket_names
  kms_key_arn                        = module.kms.key_arn
  force_destroy                      = var.bucket_force_destroy
  noncurrent_version_expiration_days = var.bucket_noncurrent_version_expiration_days
}

module "ingest_queue" {
  source = "./modules/queue"

  name                          = "${local.name}-ingest"
  kms_key_arn                   = module.kms.key_arn
  visibility_timeout_seconds    = var.ingest_queue_visibility_timeout_seconds
  message_retention_seconds     = var.ingest_queue_message_retention_seconds
  dlq_message_retention_seconds = var.dlq_message_retention_seconds
  max_receive_count             = var.max_receive_count
  source_bucket_arns            = [module.storage.bucket_arns["raw"]]
}

# Every object, whatever its key: objects of unknown datasets must reach the processor so
# that it can quarantine them with a reason.
resource "aws_s3_bucket_notification" "raw_to_ingest_queue" {
  bucket = module.storage.bucket_ids["raw"]

  queue {
    id        = "raw-object-created"
    queue_arn = module.ingest_queue.queue_arn
    events    = ["s3:ObjectCreated:*"]
  }

  # S3 sends a test message when the notification is saved, so the queue policy (and the
  # key policy letting S3 encrypt for the queue) must already be in place.
  depends_on = [module.ingest_queue, module.kms]
}
