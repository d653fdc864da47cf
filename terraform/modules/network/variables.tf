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
  default     = ["sqs", "secretsmanager", "logs", "kms"]
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
