# A Lambda function with its own execution role, a least-privilege inline policy (passed in,
# plus logging and optional VPC permissions), a log group with retention and an optional
# SQS event source mapping.

locals {
  log_group_name = "/aws/lambda/${var.function_name}"
  in_vpc         = var.vpc_config != null
}

data "aws_iam_policy_document" "assume_role" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "this" {
  name               = var.function_name
  description        = "Execution role of the ${var.function_name} function"
  assume_role_policy = data.aws_iam_policy_document.assume_role.json
  tags               = var.tags
}

resource "aws_cloudwatch_log_group" "this" {
  name              = local.log_group_name
  retention_in_days = var.log_retention_in_days
  kms_key_id        = var.log_kms_key_arn
  tags              = var.tags
}

data "aws_iam_policy_document" "this" {
  source_policy_documents = var.policy_json == null ? [] : [var.policy_json]

  # Only its own log group: Terraform creates the group, so no logs:CreateLogGroup.
  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.this.arn}:*"]
  }

  # What Lambda needs to attach the function to VPC subnets. EC2 does not support
  # resource-level scoping for the Describe calls, hence "*" (as in the AWS managed
  # AWSLambdaVPCAccessExecutionRole, minus its logs:* on every log group).
  dynamic "statement" {
    for_each = local.in_vpc ? [1] : []

    content {
      sid = "ManageVpcNetworkInterfaces"
      actions = [
        "ec2:CreateNetworkInterface",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeSubnets",
        "ec2:DeleteNetworkInterface",
        "ec2:AssignPrivateIpAddresses",
        "ec2:UnassignPrivateIpAddresses",
      ]
      resources = ["*"]
    }
  }
}

resource "aws_iam_role_policy" "this" {
  name   = "${var.function_name}-permissions"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.this.json
}

# Zips over 50 MB (ours: pandas + pyarrow) must reach Lambda through S3. The key carries the zip's
# hash, so new code is a new object and unchanged code is no change at all.
resource "aws_s3_object" "code" {
  bucket      = var.artifacts_bucket
  key         = "functions/${var.function_name}/${filemd5(var.filename)}.zip"
  source      = var.filename
  source_hash = filemd5(var.filename)
  tags        = var.tags
}

resource "aws_lambda_function" "this" {
  #checkov:skip=CKV_AWS_116:processor: SQS redrive is its DLQ; reporter: scheduled, its Errors alarm fires and `tidewater report --date` re-runs a day
  #checkov:skip=CKV_AWS_272:zips are built reproducibly by `make build` and deployed by Terraform only; AWS Signer has no LocalStack equivalent
  #checkov:skip=CKV_AWS_50:the handlers use Powertools logs and metrics, not its tracer; X-Ray would add cost without spans to show
  #checkov:skip=CKV_AWS_115:processor concurrency is bounded by its event source (maximum_concurrency); the reporter runs once a day
  function_name    = var.function_name
  description      = var.description
  role             = aws_iam_role.this.arn
  handler          = var.handler
  runtime          = var.runtime
  architectures    = [var.architecture]
  s3_bucket        = aws_s3_object.code.bucket
  s3_key           = aws_s3_object.code.key
  source_code_hash = filebase64sha256(var.filename)
  memory_size      = var.memory_size
  timeout          = var.timeout

  ephemeral_storage {
    size = var.ephemeral_storage_mb
  }

  # null = the AWS managed key. LocalStack never returns a customer key here, which would
  # make every plan show a change, so the emulator targets leave it unset.
  kms_key_arn = var.environment_kms_key_arn

  dynamic "environment" {
    for_each = length(var.environment_variables) > 0 ? [1] : []

    content {
      variables = var.environment_variables
    }
  }

  dynamic "vpc_config" {
    for_each = local.in_vpc ? [var.vpc_config] : []

    content {
      subnet_ids         = vpc_config.value.subnet_ids
      security_group_ids = vpc_config.value.security_group_ids
    }
  }

  tags = var.tags

  # The role must be able to write logs (and create ENIs) before the first invocation, and
  # the log group must exist before Lambda would create one without retention or key.
  depends_on = [
    aws_iam_role_policy.this,
    aws_cloudwatch_log_group.this,
  ]
}

resource "aws_lambda_event_source_mapping" "this" {
  count = var.event_source_mapping == null ? 0 : 1

  event_source_arn                   = var.event_source_mapping.event_source_arn
  function_name                      = aws_lambda_function.this.arn
  batch_size                         = var.event_source_mapping.batch_size
  maximum_batching_window_in_seconds = var.event_source_mapping.maximum_batching_window_in_seconds
  function_response_types            = var.event_source_mapping.function_response_types

  dynamic "scaling_config" {
    for_each = var.event_source_mapping.maximum_concurrency == null ? [] : [1]

    content {
      maximum_concurrency = var.event_source_mapping.maximum_concurrency
    }
  }

  # Lambda checks at creation that the role may read the queue.
  depends_on = [aws_iam_role_policy.this]
}
