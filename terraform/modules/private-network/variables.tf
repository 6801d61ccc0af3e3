variable "name" {
  description = "Name of the VPC, and prefix of the names of everything in it (subnets, route table, flow-log group and role)."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,40}[a-z0-9]$", var.name))
    error_message = "name must be 3 to 42 characters of lowercase letters, digits and hyphens, starting with a letter (it prefixes IAM role and log group names)."
  }
}

variable "cidr_block" {
  description = "IPv4 range of the VPC; subnet i gets cidrsubnet(cidr_block, 4, i)."
  type        = string
  nullable    = false

  validation {
    condition     = can(cidrhost(var.cidr_block, 0)) && try(tonumber(split("/", var.cidr_block)[1]) >= 16 && tonumber(split("/", var.cidr_block)[1]) <= 24, false)
    error_message = "cidr_block must be an IPv4 CIDR between /16 and /24 (VPC limits, with 4 bits left for the subnets)."
  }
}

variable "availability_zone_ids" {
  description = "Availability zone IDs (e.g. euw1-az1), one private subnet in each, in this order."
  type        = list(string)
  nullable    = false

  validation {
    condition     = length(var.availability_zone_ids) >= 1 && length(var.availability_zone_ids) <= 16 && length(distinct(var.availability_zone_ids)) == length(var.availability_zone_ids)
    error_message = "availability_zone_ids must list 1 to 16 distinct zone IDs (the VPC's range is split into 16 subnets)."
  }

  validation {
    condition     = alltrue([for id in var.availability_zone_ids : can(regex("^[a-z]{2,}[0-9]*-az[0-9]+$", id))])
    error_message = "availability_zone_ids takes zone IDs such as euw1-az1, not zone names such as eu-west-1a."
  }
}

variable "interface_endpoint_services" {
  description = "AWS services (the last part of com.amazonaws.<region>.<service>) reached through an interface endpoint with private DNS."
  type        = set(string)
  nullable    = false

  validation {
    condition     = length(var.interface_endpoint_services) >= 1 && alltrue([for s in var.interface_endpoint_services : can(regex("^[a-z][a-z0-9-]*(\\.[a-z][a-z0-9-]*)*$", s))])
    error_message = "interface_endpoint_services must name at least one service, each as in com.amazonaws.<region>.<service> (e.g. glue, sts, secretsmanager)."
  }
}

variable "endpoints_description" {
  description = "Description of the interface endpoints' security group: which clients it admits (changing it replaces the group)."
  type        = string
  nullable    = false

  validation {
    condition     = length(var.endpoints_description) >= 1 && length(var.endpoints_description) <= 255
    error_message = "endpoints_description must be 1 to 255 characters (EC2's limit for a security group description)."
  }
}

variable "log_retention_days" {
  description = "Retention of the flow-log group, in days."
  type        = number
  nullable    = false

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of the values CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)."
  }
}

variable "kms_key_arn" {
  description = "ARN of the customer-managed key that encrypts the flow-log group; its key policy must admit CloudWatch Logs of this account before the group is created (pass an ARN that is known only then, as the kms-key module's arn output)."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^arn:[a-z-]+:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.kms_key_arn))
    error_message = "kms_key_arn must be the ARN of a KMS key (arn:<partition>:kms:<region>:<account>:key/<id>)."
  }
}

variable "tags" {
  description = "Tags of every resource of the network."
  type        = map(string)
  default     = {}
  nullable    = false
}
