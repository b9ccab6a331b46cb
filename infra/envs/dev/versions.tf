terraform {
  required_version = ">= 1.10.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.90.0, < 7.0.0"
    }
  }

  # Remote state in S3 with native locking (use_lockfile, Terraform 1.10+).
  # Partial configuration: bucket and region come from backend.hcl (copy
  # backend.hcl.example), the key from `make plan|deploy`, one state per
  # source database: tidemark/dev/<SOURCE>.tfstate.
  backend "s3" {
    encrypt      = true
    use_lockfile = true
  }
}
