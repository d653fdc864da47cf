# `terraform test` for the aws target, offline: the aws provider is mocked, so this plans and
# "applies" the configuration of envs/dev.tfvars with invented values for whatever AWS would
# compute, without any account or credentials.
# Run with the dev variables: terraform test -filter=tests/aws.tftest.hcl -var-file=envs/dev.tfvars
# (tests/unit/test_terraform.py does exactly that).

mock_provider "aws" {
  # Real-looking values where the configuration derives names or slices lists from them.
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012", arn = "arn:aws:iam::123456789012:user/test" }
  }
  mock_data "aws_region" {
    defaults = { name = "us-east-1" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_availability_zones" {
    defaults = { names = ["us-east-1a", "us-east-1b", "us-east-1c"], zone_ids = ["use1-az1", "use1-az2", "use1-az4"] }
  }
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
  # Resources whose ARNs the provider validates where they are used.
  mock_resource "aws_kms_key" {
    defaults = { arn = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555", key_id = "11111111-2222-3333-4444-555555555555" }
  }
  mock_resource "aws_sqs_queue" {
    defaults = { arn = "arn:aws:sqs:us-east-1:123456789012:tidewater-dev-ingest" }
  }
  mock_resource "aws_sns_topic" {
    defaults = { arn = "arn:aws:sns:us-east-1:123456789012:tidewater-dev-alarms" }
  }
  mock_resource "aws_iam_role" {
    defaults = { arn = "arn:aws:iam::123456789012:role/tidewater-dev-mock" }
  }
  mock_resource "aws_s3_bucket" {
    defaults = { arn = "arn:aws:s3:::tidewater-dev-123456789012-mock" }
  }
  mock_resource "aws_cloudwatch_log_group" {
    defaults = { arn = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/mock" }
  }
  mock_resource "aws_lambda_function" {
    defaults = { arn = "arn:aws:lambda:us-east-1:123456789012:function:tidewater-dev-mock" }
  }
  mock_resource "aws_cloudwatch_event_rule" {
    defaults = { arn = "arn:aws:events:us-east-1:123456789012:rule/tidewater-dev-mock" }
  }
  mock_resource "aws_db_instance" {
    defaults = {
      address = "tidewater-dev.abcdefghijkl.us-east-1.rds.amazonaws.com"
      master_user_secret = [{
        secret_arn    = "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-0123-AbCdEf"
        kms_key_id    = "arn:aws:kms:us-east-1:123456789012:key/mock"
        secret_status = "active"
      }]
    }
  }
}

variables {
  processor_zip_path = "tests/fixtures/function.zip"
  reporter_zip_path  = "tests/fixtures/function.zip"
  # Unused on AWS (RDS manages the password). Set only because `terraform test` 1.11 refuses an
  # apply when an ephemeral variable was unset at plan time.
  database_password = "unused-on-aws"
}

run "dev_configuration" {
  command = apply

  # A DLQ ARN of its own, so the redrive assertion below can tell the two queues apart.
  override_resource {
    target = module.ingest_queue.aws_sqs_queue.dlq
    values = { arn = "arn:aws:sqs:us-east-1:123456789012:tidewater-dev-ingest-dlq" }
  }

  assert {
    condition     = var.create_database && var.database_sslmode == "require"
    error_message = "run with -var-file=envs/dev.tfvars (create_database = true, database_sslmode = require)"
  }

  # Buckets: SSE-KMS with our key (and a bucket key), every public access setting on.
  assert {
    condition = alltrue([
      for purpose, encryption in module.storage.default_encryption :
      encryption.sse_algorithm == "aws:kms" && encryption.kms_master_key_id == module.kms.key_arn && encryption.bucket_key_enabled
    ])
    error_message = "every bucket must default to SSE-KMS with the pipeline key and a bucket key"
  }

  assert {
    condition     = length(module.storage.public_access_blocked) == length(module.storage.bucket_ids) && alltrue(values(module.storage.public_access_blocked))
    error_message = "every bucket must block all public access"
  }

  # Queues: both KMS-encrypted; the ingest queue redrives to the DLQ after max_receive_count.
  assert {
    condition     = module.ingest_queue.kms_master_key_ids.queue == module.kms.key_arn && module.ingest_queue.kms_master_key_ids.dlq == module.kms.key_arn
    error_message = "the ingest queue and its DLQ must be encrypted with the pipeline key"
  }

  assert {
    condition     = jsondecode(module.ingest_queue.redrive_policy).deadLetterTargetArn == module.ingest_queue.dlq_arn
    error_message = "the ingest queue must redrive to its dead-letter queue"
  }

  assert {
    condition     = jsondecode(module.ingest_queue.redrive_policy).maxReceiveCount == var.max_receive_count
    error_message = "maxReceiveCount must come from max_receive_count"
  }

  # The processor: in the VPC's private subnets, reading the RDS-managed secret, TLS to the database.
  assert {
    condition     = length(module.processor.vpc_subnet_ids) == var.vpc_availability_zone_count && toset(module.processor.vpc_subnet_ids) == toset(module.network[0].private_subnet_ids)
    error_message = "the processor must run in the private subnets of the VPC"
  }

  assert {
    condition     = module.processor.environment_variables.DB_SECRET_ARN == "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-0123-AbCdEf"
    error_message = "DB_SECRET_ARN must be the RDS-managed master user secret"
  }

  assert {
    condition     = module.processor.environment_variables.DB_SSLMODE == "require"
    error_message = "DB_SSLMODE must be require on AWS"
  }

  assert {
    condition     = module.processor.environment_variables.DB_HOST == "tidewater-dev.abcdefghijkl.us-east-1.rds.amazonaws.com"
    error_message = "DB_HOST must be the RDS endpoint address"
  }

  # RDS: encrypted with our key, password managed by RDS, never public.
  assert {
    condition     = module.database.rds_settings.storage_encrypted && module.database.rds_settings.kms_key_id == module.kms.key_arn
    error_message = "RDS storage must be encrypted with the pipeline key"
  }

  assert {
    condition     = module.database.rds_settings.manage_master_user_password && !module.database.rds_settings.publicly_accessible
    error_message = "RDS must manage the master password itself and must not be publicly accessible"
  }

  assert {
    condition     = module.database.connection_secret_password_version == null
    error_message = "on AWS no Terraform-written connection secret may exist"
  }

  # No secrets in outputs: the secret is handed out by ARN only.
  assert {
    condition     = startswith(output.database_secret_arn, "arn:aws:secretsmanager:") && output.database_secret_arn == module.processor.environment_variables.DB_SECRET_ARN
    error_message = "database_secret_arn must be the secret's ARN, never its value"
  }

  assert {
    condition     = length(regexall("(?i)password", jsonencode(module.processor.environment_variables))) == 0
    error_message = "no password may reach the function environment"
  }
}

# The TLS-only bucket policy, checked where it is written (the policy document is mocked above).
run "storage_module_denies_plain_http" {
  command = apply

  module {
    source = "./modules/storage"
  }

  variables {
    buckets     = { raw = "tidewater-dev-123456789012-raw" }
    kms_key_arn = "arn:aws:kms:us-east-1:123456789012:key/mock"
  }

  assert {
    condition = alltrue([
      for statement in data.aws_iam_policy_document.tls_only["raw"].statement :
      statement.effect == "Deny" && contains(statement.actions, "s3:*") && anytrue([
        for c in statement.condition : c.test == "Bool" && c.variable == "aws:SecureTransport" && contains(c.values, "false")
      ])
    ])
    error_message = "the bucket policy must deny every request without TLS"
  }

  assert {
    condition     = aws_s3_bucket_policy.this["raw"].policy == data.aws_iam_policy_document.tls_only["raw"].json
    error_message = "every bucket must carry the TLS-only policy"
  }
}

run "interface_endpoints_the_functions_need_are_kept" {
  command = plan

  variables {
    vpc_interface_endpoint_services = ["secretsmanager"]
  }

  expect_failures = [var.vpc_interface_endpoint_services]
}

run "optional_interface_endpoints_can_go" {
  command = plan

  variables {
    vpc_interface_endpoint_services = ["secretsmanager", "sqs", "sns"]
  }

  assert {
    condition     = toset(keys(module.network[0].vpc_endpoint_ids)) == toset(["s3", "secretsmanager", "sqs", "sns"])
    error_message = "the VPC must get exactly the S3 gateway and the three required interface endpoints"
  }
}
