output "bucket_ids" {
  description = "Bucket names by purpose."
  value       = { for purpose, bucket in aws_s3_bucket.this : purpose => bucket.id }
}

output "bucket_arns" {
  description = "Bucket ARNs by purpose."
  value       = { for purpose, bucket in aws_s3_bucket.this : purpose => bucket.arn }
}

output "default_encryption" {
  description = "Default encryption per bucket purpose: {sse_algorithm, kms_master_key_id, bucket_key_enabled}."
  value = {
    for purpose, config in aws_s3_bucket_server_side_encryption_configuration.this : purpose => one([
      for rule in config.rule : merge(one(rule.apply_server_side_encryption_by_default), { bucket_key_enabled = rule.bucket_key_enabled })
    ])
  }
}

output "public_access_blocked" {
  description = "Per bucket purpose: true when all four public access block settings are on."
  value = {
    for purpose, block in aws_s3_bucket_public_access_block.this : purpose =>
    block.block_public_acls && block.block_public_policy && block.ignore_public_acls && block.restrict_public_buckets
  }
}
