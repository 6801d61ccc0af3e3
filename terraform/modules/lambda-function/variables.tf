variable "name" {
  description = "Name of the function; also the prefix of its role and security group (<name>-lambda) and the name in its log group (/aws/lambda/<name>)."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,55}[a-z0-9]$", var.name))
    error_message = "name must be 3 to 57 lowercase letters, digits and hyphens, starting with a letter (with -lambda it names an IAM role, at most 64 characters)."
  }
}

variable "description" {
  description = "Description of the function: what it does."
  type        = string
  nullable    = false

  validation {
    condition     = length(var.description) <= 256
    error_message = "description must be at most 256 characters (Lambda's limit)."
  }
}

variable "role_description" {
  description = "Description of the execution role: who uses it."
  type        = string
  nullable    = false

  validation {
    condition     = length(var.role_description) <= 1000
    error_message = "role_description must be at most 1000 characters (IAM's limit)."
  }
}

variable "policy_name" {
  description = "Name of the execution role's inline policy."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z0-9+=,.@_-]{1,128}$", var.policy_name))
    error_message = "policy_name must be 1 to 128 characters of letters, digits and +=,.@_- (IAM's rule)."
  }
}

variable "policy_json" {
  description = "The function's own permissions, what its code calls: an IAM policy document (an aws_iam_policy_document's json). The module adds what Lambda needs for this configuration (logs, environment key, VPC ENIs, traces)."
  type        = string
  nullable    = false

  validation {
    condition = alltrue([
      for s in try(jsondecode(var.policy_json).Statement, [null]) :
      try(!contains(["WriteOwnLogs", "DecryptOwnEnvironment", "ManageVpcNetworkInterfaces", "UploadTraces"], s.Sid), false)
    ])
    error_message = "policy_json must be an IAM policy document whose statements each have a sid, other than the module's own (WriteOwnLogs, DecryptOwnEnvironment, ManageVpcNetworkInterfaces, UploadTraces)."
  }
}

variable "zip_path" {
  description = "Path of the function's zip (a cargo lambda build with a bootstrap for provided.al2023)."
  type        = string
  nullable    = false

  validation {
    condition     = endswith(var.zip_path, ".zip")
    error_message = "zip_path must name a .zip file."
  }
}

variable "memory_size" {
  description = "Memory of the function in MB."
  type        = number
  nullable    = false

  validation {
    condition     = var.memory_size >= 128 && var.memory_size <= 10240
    error_message = "memory_size must be between 128 and 10240 MB."
  }
}

variable "timeout" {
  description = "Timeout of the function in seconds."
  type        = number
  nullable    = false

  validation {
    condition     = var.timeout >= 1 && var.timeout <= 900
    error_message = "timeout must be between 1 and 900 seconds."
  }
}

variable "reserved_concurrency" {
  description = "Reserved concurrency of the function; null leaves it unreserved."
  type        = number
  default     = null

  validation {
    condition     = var.reserved_concurrency == null || try(var.reserved_concurrency >= 1, false)
    error_message = "reserved_concurrency must be null or at least 1."
  }
}

variable "environment" {
  description = "Environment variables of the function (encrypted with kms_key_arn)."
  type        = map(string)
  nullable    = false
}

variable "kms_key_arn" {
  description = "ARN of the customer-managed key of the log group and the environment; its key policy must admit CloudWatch Logs of this account before the log group is created (pass an ARN that is known only then, as the kms-key module's arn output)."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^arn:[a-z-]+:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.kms_key_arn))
    error_message = "kms_key_arn must be the ARN of a KMS key (arn:<partition>:kms:<region>:<account>:key/<id>)."
  }
}

variable "vpc_id" {
  description = "VPC of the function's security group."
  type        = string
  nullable    = false
}

variable "subnet_ids" {
  description = "Private subnets the function's ENIs are placed in."
  type        = list(string)
  nullable    = false

  validation {
    condition     = length(var.subnet_ids) >= 1
    error_message = "subnet_ids must name at least one subnet."
  }
}

variable "security_group_description" {
  description = "Description of the function's security group: what it may reach (changing it replaces the group)."
  type        = string
  nullable    = false

  validation {
    condition     = length(var.security_group_description) >= 1 && length(var.security_group_description) <= 255
    error_message = "security_group_description must be 1 to 255 characters (EC2's limit for a security group description)."
  }
}

variable "log_retention_days" {
  description = "Retention of the function's log group, in days."
  type        = number
  nullable    = false

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)."
  }
}

variable "application_log_level" {
  description = "Lowest level of the function's own log records that CloudWatch keeps."
  type        = string
  nullable    = false

  validation {
    condition     = contains(["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"], var.application_log_level)
    error_message = "application_log_level must be one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL."
  }
}

variable "system_log_level" {
  description = "Lowest level of the Lambda platform's log records for the function that CloudWatch keeps."
  type        = string
  nullable    = false

  validation {
    condition     = contains(["DEBUG", "INFO", "WARN"], var.system_log_level)
    error_message = "system_log_level must be one of DEBUG, INFO, WARN."
  }
}

variable "tags" {
  description = "Tags of every resource of the function."
  type        = map(string)
  default     = {}
  nullable    = false
}
