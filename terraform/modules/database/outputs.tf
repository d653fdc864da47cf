output "host" {
  description = "Hostname the functions connect to."
  value       = local.rds ? aws_db_instance.this[0].address : var.host
}

output "port" {
  description = "Port the functions connect to."
  value       = local.rds ? aws_db_instance.this[0].port : var.port
}

output "database_name" {
  description = "Name of the PostgreSQL database."
  value       = var.database_name
}

output "secret_arn" {
  description = "ARN of the Secrets Manager secret with the JSON {username, password} (RDS-managed or written by Terraform)."
  value       = local.rds ? aws_db_instance.this[0].master_user_secret[0].secret_arn : aws_secretsmanager_secret.connection[0].arn

  # Users of the ARN (the function) must not start before the secret holds a value; the
  # version is not referenced directly because rewriting it must not change the ARN.
  depends_on = [aws_secretsmanager_secret_version.connection]
}

output "endpoint" {
  description = "RDS endpoint (host:port); null without RDS."
  value       = local.rds ? aws_db_instance.this[0].endpoint : null
}

output "instance_identifier" {
  description = "RDS instance identifier; null without RDS."
  value       = local.rds ? aws_db_instance.this[0].identifier : null
}

output "security_group_id" {
  description = "Security group of the RDS instance; null without RDS."
  value       = local.rds ? aws_security_group.this[0].id : null
}

output "rds_settings" {
  description = "Security-relevant settings of the RDS instance; null without RDS."
  value = local.rds ? {
    storage_encrypted           = aws_db_instance.this[0].storage_encrypted
    kms_key_id                  = aws_db_instance.this[0].kms_key_id
    manage_master_user_password = aws_db_instance.this[0].manage_master_user_password
    publicly_accessible         = aws_db_instance.this[0].publicly_accessible
  } : null
}

output "connection_secret_password_version" {
  description = "secret_string_wo_version of the Terraform-written connection secret (the password itself is write-only); null with RDS."
  value       = local.rds ? null : aws_secretsmanager_secret_version.connection[0].secret_string_wo_version
}
