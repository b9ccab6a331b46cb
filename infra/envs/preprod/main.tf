# tidemark, preprod: one pipeline per source database, each with its own state
# (make plan ENV=preprod SOURCE=<name>). Environment-wide choices are here; what
# differs per source is in <name>.tfvars.

provider "aws" {
  region = var.region

  default_tags {
    tags = merge(var.tags, {
      "tidemark:managed-by" = "terraform"
      "tidemark:root"       = "infra/envs/preprod"
    })
  }
}

module "pipeline" {
  source = "../../modules/pipeline"

  environment   = "preprod"
  pipeline_name = var.pipeline_name

  source_database  = var.source_database
  history_database = var.history_database
  tables           = var.tables
  metadata_dir     = "${path.root}/${var.metadata_dir}"
  network          = var.network

  lambda_package_dir       = "${path.root}/../../../dist/lambda"
  lambda_architecture      = var.lambda_architecture
  create_dms_service_roles = var.create_dms_service_roles

  alert_emails = var.alert_emails
  slack        = var.slack

  # preprod: prod's shape on smaller hardware, so a change is rehearsed on
  # the same kind of replication before it reaches prod.
  schedule = {
    expression = "cron(0 5 * * ? *)"
    timezone   = var.schedule_timezone
  }
  replication = {
    mode                 = "instance"
    instance_class       = "dms.t3.medium"
    allocated_storage_gb = 50
  }
  athena_bytes_scanned_cutoff = 53687091200 # 50 GiB
  retention = {
    log_days            = 90
    noncurrent_days     = 30
    athena_results_days = 14
    access_log_days     = 90
  }
}
