# Where the functions find PostgreSQL, as host/port/name plus a Secrets Manager secret
# holding {"username", "password"}:
# - create_rds_instance = false: an existing server (the local compose/host Postgres); the
#   password arrives as an ephemeral value and is written to the secret write-only, so it
#   never enters the plan or the state.
# - create_rds_instance = true: RDS PostgreSQL in private subnets; RDS generates the master
#   password and keeps it in its own managed secret.

locals {
  rds = var.create_rds_instance
}

# --- existing server ----------------------------------------------------------------------

resource "aws_secretsmanager_secret" "connection" {
  #checkov:skip=CKV2_AWS_57:mirrors the password of an external server; rotating it here would break the login
  count = local.rds ? 0 : 1

  name                    = "${var.name}/database"
  description             = "Credentials of the ${var.name} PostgreSQL user, JSON {username, password}"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = var.secret_recovery_window_in_days
  tags                    = var.tags
}

resource "aws_secretsmanager_secret_version" "connection" {
  count = local.rds ? 0 : 1

  secret_id = aws_secretsmanager_secret.connection[0].id
  secret_string_wo = jsonencode({
    username = var.username
    password = var.password
  })
  # The password is not in the state, so Terraform cannot see it change: bump this to
  # write a new secret version.
  secret_string_wo_version = var.password_version

  lifecycle {
    # A new version number replaces this resource: write the new version before the old
    # one is retired, so the secret always has a current value.
    create_before_destroy = true

    precondition {
      condition     = var.host != null && var.password != null
      error_message = "Without an RDS instance the database host and password must be given (database_host, database_password)."
    }
  }
}

# --- RDS ----------------------------------------------------------------------------------

resource "aws_db_subnet_group" "this" {
  count = local.rds ? 1 : 0

  name        = var.name
  description = "Private subnets of the ${var.name} database"
  subnet_ids  = var.subnet_ids
  tags        = var.tags
}

resource "aws_security_group" "this" {
  count = local.rds ? 1 : 0

  name        = "${var.name}-database"
  description = "PostgreSQL of ${var.name}"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${var.name}-database" })
}

resource "aws_vpc_security_group_ingress_rule" "clients" {
  count = local.rds ? length(var.allowed_security_group_ids) : 0

  security_group_id            = aws_security_group.this[0].id
  description                  = "PostgreSQL from the pipeline functions"
  ip_protocol                  = "tcp"
  from_port                    = var.port
  to_port                      = var.port
  referenced_security_group_id = var.allowed_security_group_ids[count.index]
}

resource "aws_db_parameter_group" "this" {
  count = local.rds ? 1 : 0

  name        = "${var.name}-postgres${split(".", var.engine_version)[0]}"
  family      = "postgres${split(".", var.engine_version)[0]}"
  description = "Parameters of the ${var.name} database"

  # Refuse unencrypted connections (the functions use sslmode=require).
  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }

  tags = var.tags

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_db_instance" "this" {
  #checkov:skip=CKV_AWS_353:Performance Insights is a per-environment choice (database_performance_insights_enabled, on in prod)
  #checkov:skip=CKV_AWS_118:enhanced monitoring costs CloudWatch Logs per instance; CloudWatch metrics and the exported postgresql log suffice at this size
  #checkov:skip=CKV_AWS_161:functions log in with the RDS-managed secret (DB_SECRET_ARN); IAM tokens would be an unused second way in
  count = local.rds ? 1 : 0

  identifier     = var.name
  engine         = "postgres"
  engine_version = var.engine_version
  instance_class = var.instance_class

  allocated_storage     = var.allocated_storage
  max_allocated_storage = var.max_allocated_storage
  storage_type          = "gp3"
  storage_encrypted     = true
  kms_key_id            = var.kms_key_arn

  db_name                       = var.database_name
  username                      = var.username
  port                          = var.port
  manage_master_user_password   = true
  master_user_secret_kms_key_id = var.kms_key_arn

  db_subnet_group_name   = aws_db_subnet_group.this[0].name
  vpc_security_group_ids = [aws_security_group.this[0].id]
  parameter_group_name   = aws_db_parameter_group.this[0].name
  publicly_accessible    = false
  multi_az               = var.multi_az

  backup_retention_period   = var.backup_retention_period
  copy_tags_to_snapshot     = true
  deletion_protection       = var.deletion_protection
  skip_final_snapshot       = var.skip_final_snapshot
  final_snapshot_identifier = var.skip_final_snapshot ? null : "${var.name}-final"

  auto_minor_version_upgrade      = true
  apply_immediately               = var.apply_immediately
  enabled_cloudwatch_logs_exports = ["postgresql", "upgrade"]

  performance_insights_enabled    = var.performance_insights_enabled
  performance_insights_kms_key_id = var.performance_insights_enabled ? var.kms_key_arn : null

  tags = var.tags
}
