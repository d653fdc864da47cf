# PostgreSQL for the processor. Locally (create_database = false) the compose/host Postgres
# is passed in as variables; on AWS RDS runs in private subnets of a VPC without NAT.

module "network" {
  source = "./modules/network"
  count  = var.create_database ? 1 : 0

  name                    = local.name
  cidr_block              = var.vpc_cidr_block
  availability_zone_count = var.vpc_availability_zone_count
  database_port           = var.database_port

  interface_endpoint_services = var.vpc_interface_endpoint_services

  flow_log_retention_in_days = var.log_retention_in_days
  flow_log_kms_key_arn       = module.kms.key_arn
}

module "database" {
  source = "./modules/database"

  name                = local.name
  create_rds_instance = var.create_database
  kms_key_arn         = module.kms.key_arn
  database_name       = var.database_name
  username            = var.database_username
  port                = var.database_port

  # Existing server (local targets).
  host                           = var.database_host
  password                       = var.database_password
  password_version               = var.database_password_version
  secret_recovery_window_in_days = var.database_secret_recovery_window_in_days

  # RDS (aws target).
  vpc_id                       = var.create_database ? module.network[0].vpc_id : null
  subnet_ids                   = var.create_database ? module.network[0].private_subnet_ids : []
  allowed_security_group_ids   = var.create_database ? [module.network[0].function_security_group_id] : []
  engine_version               = var.database_engine_version
  instance_class               = var.database_instance_class
  allocated_storage            = var.database_allocated_storage
  max_allocated_storage        = var.database_max_allocated_storage
  multi_az                     = var.database_multi_az
  backup_retention_period      = var.database_backup_retention_period
  deletion_protection          = var.database_deletion_protection
  skip_final_snapshot          = var.database_skip_final_snapshot
  apply_immediately            = var.database_apply_immediately
  performance_insights_enabled = var.database_performance_insights_enabled
}

# What every function that reads the database shares: its connection settings (docs/architecture.md,
# "Function environment"), the VPC placement on AWS, and the right to read the secret and use our
# key (SSE-KMS objects, encrypted queues and topics, and the secret all use it).
locals {
  database_environment = {
    DB_HOST       = module.database.host
    DB_PORT       = tostring(module.database.port)
    DB_NAME       = module.database.database_name
    DB_SECRET_ARN = module.database.secret_arn
    DB_SSLMODE    = var.database_sslmode
  }

  function_vpc_config = var.create_database ? {
    subnet_ids         = module.network[0].private_subnet_ids
    security_group_ids = [module.network[0].function_security_group_id]
  } : null
}

data "aws_iam_policy_document" "database_access" {
  statement {
    sid       = "UseDataKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [module.kms.key_arn]
  }

  statement {
    sid       = "ReadDatabaseSecret"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [module.database.secret_arn]
  }
}
