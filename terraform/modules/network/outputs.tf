output "vpc_id" {
  description = "ID of the VPC."
  value       = aws_vpc.this.id
}

output "vpc_cidr_block" {
  description = "CIDR of the VPC."
  value       = aws_vpc.this.cidr_block
}

output "private_subnet_ids" {
  description = "IDs of the private subnets, one per availability zone."
  value       = aws_subnet.private[*].id
}

output "function_security_group_id" {
  description = "Security group for Lambda functions in the VPC."
  value       = aws_security_group.functions.id
}

output "vpc_endpoint_ids" {
  description = "IDs of the VPC endpoints by service."
  value       = merge({ s3 = aws_vpc_endpoint.s3.id }, { for service, endpoint in aws_vpc_endpoint.interface : service => endpoint.id })
}

output "flow_log_group_name" {
  description = "Log group of the VPC flow logs."
  value       = aws_cloudwatch_log_group.flow_logs.name
}
