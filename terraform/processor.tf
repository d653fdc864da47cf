# The processor: reads raw objects from SQS notifications, writes processed/quarantine
# objects and loads PostgreSQL.

locals {
  processor_zip_path = coalesce(var.processor_zip_path, "${path.root}/../build/functions/processor.zip")

  # The contract of docs/architecture.md ("Function environment").
  processor_environment = merge(local.database_environment, {
    PROCESSED_BUCKET             = module.storage.bucket_ids["processed"]
    QUARANTINE_BUCKET            = module.storage.bucket_ids["quarantine"]
    POWERTOOLS_SERVICE_NAME      = "tidewater-processor"
    POWERTOOLS_METRICS_NAMESPACE = "Tidewater"
    POWERTOOLS_LOG_LEVEL         = var.processor_log_level
  })
}

data "aws_iam_policy_document" "processor" {
  source_policy_documents = [data.aws_iam_policy_document.database_access.json]

  statement {
    sid       = "ReadRawObjects"
    actions   = ["s3:GetObject", "s3:GetObjectVersion"]
    resources = ["${module.storage.bucket_arns["raw"]}/*"]
  }

  statement {
    sid     = "WriteOutputs"
    actions = ["s3:PutObject", "s3:AbortMultipartUpload"]
    resources = [
      "${module.storage.bucket_arns["processed"]}/*",
      "${module.storage.bucket_arns["quarantine"]}/*",
    ]
  }

  # A load that does not commit deletes the object versions it wrote; a version that replaces an
  # earlier one deletes that one's outputs (pipeline/ingest.py, docs/datasets.md "A new version of a key").
  statement {
    sid     = "TakeBackOutputs"
    actions = ["s3:DeleteObject", "s3:DeleteObjectVersion"]
    resources = [
      "${module.storage.bucket_arns["processed"]}/*",
      "${module.storage.bucket_arns["quarantine"]}/*",
    ]
  }

  statement {
    sid       = "ConsumeIngestQueue"
    actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"]
    resources = [module.ingest_queue.queue_arn]
  }
}

module "processor" {
  source = "./modules/function"

  function_name    = "${local.name}-processor"
  description      = "tidewater: validates, transforms and loads raw objects"
  handler          = "app.lambda_handler"
  runtime          = "python3.13"
  architecture     = var.lambda_architecture
  filename         = local.processor_zip_path
  artifacts_bucket = module.storage.bucket_ids["artifacts"]
  memory_size      = var.processor_memory_size
  timeout          = var.processor_timeout_seconds

  ephemeral_storage_mb = var.processor_ephemeral_storage_mb

  environment_variables   = local.processor_environment
  environment_kms_key_arn = var.enable_function_environment_encryption ? module.kms.key_arn : null
  policy_json             = data.aws_iam_policy_document.processor.json

  log_retention_in_days = var.log_retention_in_days
  log_kms_key_arn       = module.kms.key_arn

  vpc_config = local.function_vpc_config

  event_source_mapping = {
    event_source_arn                   = module.ingest_queue.queue_arn
    batch_size                         = var.processor_batch_size
    maximum_batching_window_in_seconds = var.processor_maximum_batching_window_in_seconds
    function_response_types            = ["ReportBatchItemFailures"]
    maximum_concurrency                = var.processor_maximum_concurrency
  }
}
