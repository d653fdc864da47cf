output "bucket_ids" {
  description = "Bucket names by purpose."
  value       = { for purpose, bucket in aws_s3_bucket.this : purpose => bucket.id }
}

output "bucket_arns" {
  description = "Bucket ARNs by purpose."
  value       = { for purpose, bucket in aws_s3_bucket.this : purpose => bucket.arn }
}
