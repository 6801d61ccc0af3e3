terraform {
  # 1.11: write-only arguments (secret_string_wo) keep the SASL/SCRAM password out of state and plans.
  required_version = ">= 1.11, < 2.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.0"
    }
  }
}
