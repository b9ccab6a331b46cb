# tidemark, prod: one pipeline per source database, each with its own state
# (make plan ENV=prod SOURCE=<name>). Environment-wide choices are here; what
# differs per source is in <name>.tfvars.

provider "aws" {
  region = var.region

  default_tags {
    tags = merge(var.tags, {
      "tidemark:managed-by" = "terraform"
      "tidemark:root"       = "infra/envs/prod"
    })
  }
}

module "pipeline" {
  source = "../../modules/pipeline"

  environment   = "prod"
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

  # prod: a Multi-AZ replication instance, a year of logs, and the bucket
  # contents protected from `terraform destroy`.
  schedule = {
    expression     = "cron(0 4 * * ? *)"
    timezone       = var.schedule_timezone
    retry_attempts = 5
  }
  replication = {
    mode                 = "instance"
    instance_class       = "dms.r5.large"
    allocated_storage_gb = 200
    multi_az             = true
  }
  athena_bytes_scanned_cutoff = 214748364800 # 200 GiB
  retention = {
    log_days            = 365
    noncurrent_days     = 90
    athena_results_days = 30
    access_log_days     = 365
  }
  alarm_thresholds = { cdc_latency_seconds = 900 }
  force_destroy    = false
}
