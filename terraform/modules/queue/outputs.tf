output "queue_url" {
  description = "URL of the queue."
  value       = aws_sqs_queue.this.url
}

output "queue_arn" {
  description = "ARN of the queue."
  value       = aws_sqs_queue.this.arn
}

output "queue_name" {
  description = "Name of the queue."
  value       = aws_sqs_queue.this.name
}

output "dlq_url" {
  description = "URL of the dead-letter queue."
  value       = aws_sqs_queue.dlq.url
}

output "dlq_arn" {
  description = "ARN of the dead-letter queue."
  value       = aws_sqs_queue.dlq.arn
}

output "dlq_name" {
  description = "Name of the dead-letter queue."
  value       = aws_sqs_queue.dlq.name
}

output "kms_master_key_ids" {
  description = "KMS keys encrypting the queue and the dead-letter queue."
  value       = { queue = aws_sqs_queue.this.kms_master_key_id, dlq = aws_sqs_queue.dlq.kms_master_key_id }
}

output "redrive_policy" {
  description = "Redrive policy of the queue (JSON: deadLetterTargetArn, maxReceiveCount)."
  value       = aws_sqs_queue.this.redrive_policy
}
