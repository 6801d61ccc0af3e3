# Terraform and provider versions of every root and module of the project: each root's and module's
# versions.tf is a link to this file, so the pins are changed here once. >= 1.11 for write-only
# arguments (terraform/README.md, "Versions"), < 2.0 against the next major; ~> 6.0 is >= 6.0, < 7.0.

terraform {
  required_version = ">= 1.11, < 2.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.0"
    }
  }
}
