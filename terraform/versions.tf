terraform {
  # 1.11 is the first release with write-only arguments (secret_string_wo); ephemeral
  # input variables arrived in 1.10.
  required_version = ">= 1.11.0, < 2.0.0"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # 5.100 is the newest 5.x and the version every target is tested with; 6.x changes
      # region handling and several resources, so it needs a deliberate upgrade.
      version = "~> 5.100"
    }
  }

  # Partial configuration: the tooling passes the state path with
  # `terraform init -backend-config=path=<repo>/.tidewater/terraform/<target>.tfstate`.
  # AWS users swap this for an S3 backend (see docs/terraform.md).
  backend "local" {}
}
