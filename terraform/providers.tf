provider "aws" {
  region = var.aws_region

  # Refuses to touch any other account when set (e.g. in envs/prod.tfvars). The emulator
  # account is 000000000000.
  allowed_account_ids = var.allowed_account_ids

  default_tags {
    tags = merge(
      {
        Project     = "tidewater"
        Environment = var.environment
        ManagedBy   = "terraform"
      },
      var.tags,
    )
  }
}
