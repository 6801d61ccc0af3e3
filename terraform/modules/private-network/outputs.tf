output "vpc_id" {
  description = "ID of the VPC."
  value       = aws_vpc.this.id
}

output "private_subnet_ids" {
  description = "IDs of the private subnets, in the order of availability_zone_ids."
  value       = aws_subnet.private[*].id
}

output "private_route_table_id" {
  description = "ID of the private subnets' route table (for gateway endpoints)."
  value       = aws_route_table.private.id
}

output "endpoints_security_group_id" {
  description = "ID of the interface endpoints' security group; the caller adds its HTTPS ingress and egress rules."
  value       = aws_security_group.endpoints.id
}
