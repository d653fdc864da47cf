data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name
}

data "aws_iam_policy_document" "this" {
  # In a key policy "Resource": "*" means this key, and the root statement is AWS's default.
  #checkov:skip=CKV_AWS_109:key policy; resources are always "*" = this key
  #checkov:skip=CKV_AWS_111:key policy; resources are always "*" = this key
  #checkov:skip=CKV_AWS_356:key policy; resources are always "*" = this key
  # The account root statement hands access control to IAM: principals of this account
  # (the deployer, the function roles) use the key exactly as far as their IAM policies say.
  statement {
    sid       = "EnableIamPolicies"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  # Services that write into resources encrypted with this key on our behalf, e.g. S3
  # delivering event notifications to the KMS-encrypted ingest queue. They only need to
  # create and read data keys.
  dynamic "statement" {
    for_each = length(var.data_key_service_principals) > 0 ? [1] : []

    content {
      sid       = "AllowServicesToUseDataKeys"
      actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
      resources = ["*"]

      principals {
        type        = "Service"
        identifiers = var.data_key_service_principals
      }

      condition {
        test     = "StringEquals"
        variable = "aws:SourceAccount"
        values   = [local.account_id]
      }
    }
  }

  # CloudWatch Logs encrypts log groups with the key, limited to log groups of this account
  # and region (the documented encryption-context condition).
  dynamic "statement" {
    for_each = var.allow_cloudwatch_logs ? [1] : []

    content {
      sid = "AllowCloudWatchLogs"
      actions = [
        "kms:Encrypt*",
        "kms:Decrypt*",
        "kms:ReEncrypt*",
        "kms:GenerateDataKey*",
        "kms:Describe*",
      ]
      resources = ["*"]

      principals {
        type        = "Service"
        identifiers = ["logs.${local.region}.amazonaws.com"]
      }

      condition {
        test     = "ArnLike"
        variable = "kms:EncryptionContext:aws:logs:arn"
        values   = ["arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:*"]
      }
    }
  }
}

resource "aws_kms_key" "this" {
  description             = var.description
  deletion_window_in_days = var.deletion_window_in_days
  enable_key_rotation     = true
  policy                  = data.aws_iam_policy_document.this.json
  tags                    = var.tags
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.alias}"
  target_key_id = aws_kms_key.this.key_id
}
