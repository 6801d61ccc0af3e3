variable "alias" {
  description = "Name of the key's alias, without the alias/ prefix (e.g. sensors-producer-data)."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[a-zA-Z0-9/_-]{1,250}$", var.alias)) && !startswith(var.alias, "aws/")
    error_message = "alias must be 1 to 250 letters, digits, slashes, underscores and hyphens, not under aws/ (reserved for AWS managed keys)."
  }
}

variable "description" {
  description = "Description of the key: what it encrypts."
  type        = string
  nullable    = false

  validation {
    condition     = length(var.description) >= 1 && length(var.description) <= 8192
    error_message = "description must be 1 to 8192 characters (KMS's limit)."
  }
}

variable "deletion_window_in_days" {
  description = "Waiting period before a scheduled deletion of the key takes effect, in days."
  type        = number
  default     = 30
  nullable    = false

  validation {
    condition     = var.deletion_window_in_days >= 7 && var.deletion_window_in_days <= 30 && floor(var.deletion_window_in_days) == var.deletion_window_in_days
    error_message = "deletion_window_in_days must be a whole number from 7 to 30 (KMS's range)."
  }
}

variable "cloudwatch_logs" {
  description = "Whether CloudWatch Logs of this account and region may use the key, for log groups of this account only (the encryption context names the log group)."
  type        = bool
  default     = false
  nullable    = false
}

variable "grants" {
  description = "Further statements of the key policy, each on this key only: sid, kms: actions (no wildcard), one principal (type AWS or Service, its identifiers) and optional conditions (test, variable, values)."
  type = list(object({
    sid     = string
    actions = list(string)
    principal = object({
      type        = string
      identifiers = list(string)
    })
    conditions = optional(list(object({
      test     = string
      variable = string
      values   = list(string)
    })), [])
  }))
  default  = []
  nullable = false

  validation {
    condition     = alltrue([for g in var.grants : can(regex("^[A-Za-z0-9]+$", g.sid))]) && length(distinct([for g in var.grants : g.sid])) == length(var.grants) && length(setintersection([for g in var.grants : g.sid], ["EnableIamPolicies", "CloudWatchLogsOfThisAccount"])) == 0
    error_message = "Every grant needs its own sid of letters and digits, other than EnableIamPolicies and CloudWatchLogsOfThisAccount (the module's statements)."
  }

  validation {
    condition     = alltrue([for g in var.grants : length(g.actions) >= 1 && alltrue([for a in g.actions : can(regex("^kms:[A-Za-z]+$", a))])])
    error_message = "Every grant names at least one action, each a single kms: action without a wildcard (only the account's IAM delegation has kms:*)."
  }

  validation {
    condition     = alltrue([for g in var.grants : contains(["AWS", "Service"], g.principal.type) && length(g.principal.identifiers) >= 1 && !anytrue([for i in g.principal.identifiers : i == "*" || endswith(i, ":*")])])
    error_message = "Every grant's principal is of type AWS or Service and names at least one identifier, none of them \"*\"."
  }

  validation {
    condition     = alltrue([for g in var.grants : alltrue([for c in g.conditions : can(regex("^[A-Za-z]+$", c.test)) && length(c.variable) >= 1 && length(c.values) >= 1])])
    error_message = "Every condition has a test (e.g. StringEquals), a context key and at least one value."
  }
}

variable "tags" {
  description = "Tags of the key."
  type        = map(string)
  default     = {}
  nullable    = false
}
