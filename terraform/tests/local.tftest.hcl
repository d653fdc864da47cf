# `terraform test` for the LocalStack targets, offline with a mocked aws provider:
#   terraform test -filter=tests/local.tftest.hcl -var-file=envs/local.tfvars
# The database connection normally comes from `make up` as TF_VAR_*; here it is given below.

mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = { account_id = "000000000000", arn = "arn:aws:iam::000000000000:root" }
  }
  mock_data "aws_region" {
    defaults = { name = "us-east-1" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
  mock_resource "aws_kms_key" {
    defaults = { arn = "arn:aws:kms:us-east-1:000000000000:key/11111111-2222-3333-4444-555555555555", key_id = "11111111-2222-3333-4444-555555555555" }
  }
  mock_resource "aws_sqs_queue" {
    defaults = { arn = "arn:aws:sqs:us-east-1:000000000000:tidewater-local-ingest" }
  }
  mock_resource "aws_sns_topic" {
    defaults = { arn = "arn:aws:sns:us-east-1:000000000000:tidewater-local-alarms" }
  }
  mock_resource "aws_iam_role" {
    defaults = { arn = "arn:aws:iam::000000000000:role/tidewater-local-mock" }
  }
  mock_resource "aws_s3_bucket" {
    defaults = { arn = "arn:aws:s3:::tidewater-local-mock" }
  }
  mock_resource "aws_cloudwatch_log_group" {
    defaults = { arn = "arn:aws:logs:us-east-1:000000000000:log-group:/aws/lambda/mock" }
  }
  mock_resource "aws_lambda_function" {
    defaults = { arn = "arn:aws:lambda:us-east-1:000000000000:function:tidewater-local-mock" }
  }
  mock_resource "aws_cloudwatch_event_rule" {
    defaults = { arn = "arn:aws:events:us-east-1:000000000000:rule/tidewater-local-mock" }
  }
  mock_resource "aws_secretsmanager_secret" {
    defaults = { arn = "arn:aws:secretsmanager:us-east-1:000000000000:secret:tidewater-local/database-AbCdEf" }
  }
}

variables {
  processor_zip_path        = "tests/fixtures/function.zip"
  reporter_zip_path         = "tests/fixtures/function.zip"
  database_host             = "postgres"
  database_port             = 5432
  database_password         = "not-in-state"
  database_password_version = 42
}

run "local_configuration" {
  command = apply # against the mocked provider: nothing leaves this machine

  override_resource {
    target = module.ingest_queue.aws_sqs_queue.dlq
    values = { arn = "arn:aws:sqs:us-east-1:000000000000:tidewater-local-ingest-dlq" }
  }

  assert {
    condition     = !var.create_database && var.database_sslmode == "prefer"
    error_message = "run with -var-file=envs/local.tfvars (create_database = false, database_sslmode = prefer)"
  }

  # No VPC, no RDS: the function reaches the compose/host Postgres directly.
  assert {
    condition     = length(module.network) == 0 && length(module.processor.vpc_subnet_ids) == 0 && module.database.rds_settings == null
    error_message = "the local targets must create no VPC and no RDS, and the function must not be in a VPC"
  }

  assert {
    condition     = module.processor.environment_variables.DB_HOST == "postgres" && module.processor.environment_variables.DB_PORT == "5432"
    error_message = "DB_HOST/DB_PORT must be the server given by the tooling"
  }

  assert {
    condition     = module.processor.environment_variables.DB_SSLMODE == "prefer"
    error_message = "DB_SSLMODE must be prefer locally"
  }

  # The secret is Terraform's own, written write-only: only the version number is stored.
  assert {
    condition     = module.processor.environment_variables.DB_SECRET_ARN == "arn:aws:secretsmanager:us-east-1:000000000000:secret:tidewater-local/database-AbCdEf"
    error_message = "DB_SECRET_ARN must be the Terraform-written connection secret"
  }

  assert {
    condition     = module.database.connection_secret_password_version == 42
    error_message = "the secret must be written write-only, versioned by database_password_version"
  }

  assert {
    condition     = length(regexall("not-in-state", jsonencode(module.processor.environment_variables))) == 0 && output.database_secret_arn == module.processor.environment_variables.DB_SECRET_ARN
    error_message = "the password must never reach the function environment or the outputs"
  }

  # Buckets and queues are hardened the same way as on AWS.
  assert {
    condition     = alltrue([for e in module.storage.default_encryption : e.sse_algorithm == "aws:kms"]) && alltrue(values(module.storage.public_access_blocked))
    error_message = "local buckets must be SSE-KMS and block public access too"
  }

  assert {
    condition     = jsondecode(module.ingest_queue.redrive_policy).deadLetterTargetArn == module.ingest_queue.dlq_arn
    error_message = "the ingest queue must redrive to its dead-letter queue"
  }
}
