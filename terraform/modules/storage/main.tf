# Every bucket of the pipeline gets the same hardening: versioning, SSE-KMS with an S3
# bucket key, ACLs disabled, public access blocked and TLS-only access.

resource "aws_s3_bucket" "this" {
  #checkov:skip=CKV2_AWS_62:only the raw bucket feeds the pipeline (aws_s3_bucket_notification.raw_to_ingest_queue in the root module)
  #checkov:skip=CKV_AWS_18:server access logs would need a separate log bucket per account; CloudTrail data events are the account-wide choice
  #checkov:skip=CKV_AWS_144:cross-region replication doubles storage cost; versioning, KMS and deletion protection cover this pipeline's recovery needs
  for_each = var.buckets

  bucket        = each.value
  force_destroy = var.force_destroy
  tags          = merge(var.tags, { Purpose = each.key })
}

resource "aws_s3_bucket_ownership_controls" "this" {
  for_each = aws_s3_bucket.this

  bucket = each.value.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  for_each = aws_s3_bucket.this

  bucket                  = each.value.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "this" {
  for_each = aws_s3_bucket.this

  bucket = each.value.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  for_each = aws_s3_bucket.this

  bucket = each.value.id

  rule {
    # The bucket key cuts KMS requests (and cost) by deriving object keys from a
    # bucket-level data key.
    bucket_key_enabled = true

    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = var.kms_key_arn
    }
  }
}

data "aws_iam_policy_document" "tls_only" {
  for_each = aws_s3_bucket.this

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [each.value.arn, "${each.value.arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "this" {
  for_each = aws_s3_bucket.this

  bucket = each.value.id
  policy = data.aws_iam_policy_document.tls_only[each.key].json

  # S3 rejects a policy while the public access block is still being written.
  depends_on = [aws_s3_bucket_public_access_block.this]
}

# Optional: lifecycle configurations cost ~55 s of provider consistency waits against
# LocalStack (measured, all buckets in parallel), so local deployments leave them off.
resource "aws_s3_bucket_lifecycle_configuration" "this" {
  for_each = var.noncurrent_version_expiration_days == null ? {} : aws_s3_bucket.this

  bucket = each.value.id

  rule {
    id     = "expire-noncurrent-versions"
    status = "Enabled"

    filter {}

    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expiration_days
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  # Lifecycle rules on noncurrent versions need versioning to exist first.
  depends_on = [aws_s3_bucket_versioning.this]
}
