variable "name" {
  description = "Name prefix of the VPC and its resources."
  type        = string
}

variable "cidr_block" {
  description = "IPv4 CIDR of the VPC; private subnets are /24s carved from it (the VPC needs to be /16../23)."
  type        = string
  default     = "10.42.0.0/16"

  validation {
    condition     = can(cidrhost(var.cidr_block, 0)) && tonumber(split("/", var.cidr_block)[1]) <= 23 && tonumber(split("/", var.cidr_block)[1]) >= 16
    error_message = "cidr_block must be an IPv4 CIDR between /16 and /23."
  }
}

variable "availability_zone_count" {
  description = "Number of availability zones (one private subnet each); RDS needs at least 2."
  type        = number
  default     = 2

  validation {
    condition     = var.availability_zone_count >= 2 && var.availability_zone_count <= 6
    error_message = "availability_zone_count must be between 2 and 6."
  }
}

variable "interface_endpoint_services" {
  description = "AWS services reached through interface endpoints (com.amazonaws.<region>.<service>)."
  type        = list(string)
  default     = ["sqs", "secretsmanager", "logs", "kms", "sns"] # the root module checks that the functions' needs are in
}

variable "database_port" {
  description = "Port the functions may reach inside the VPC for PostgreSQL."
  type        = number
  default     = 5432
}

variable "tags" {
  description = "Tags for every network resource."
  type        = map(string)
  default     = {}
}

variable "flow_log_retention_in_days" {
  description = "Retention of the VPC flow log group in days."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.flow_log_retention_in_days)
    error_message = "flow_log_retention_in_days must be a retention CloudWatch Logs supports (1, 3, 5, 7, 14, 30, 60, 90, ... 3653)."
  }
}

variable "flow_log_kms_key_arn" {
  description = "KMS key that encrypts the flow log group (its policy must allow CloudWatch Logs). null = CloudWatch Logs' own encryption."
  type        = string
  default     = null
}
