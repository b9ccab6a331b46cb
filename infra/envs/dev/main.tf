# tidemark, dev: one pipeline per source database, each with its own state
# (make plan ENV=dev SOURCE=<name>). Environment-wide choices are here; what
# differs per source is in <name>.tfvars.

provider "aws" {
  region = var.region

  default_tags {
    tags = merge(var.tags, {
      "tidemark:managed-by" = "terraform"
      "tidemark:root"       = "infra/envs/dev"
    })
  }
}

module "pipeline" {
  source = "../../modules/pipeline"

  environment   = "dev"
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

  # dev: cheap and disposable. Serverless DMS scales to its minimum when idle;
  # no reserved concurrency (new accounts have little to reserve).
  schedule = {
    expression = "cron(0 7 ? * MON-FRI *)"
    timezone   = var.schedule_timezone
  }
  replication = {
    mode               = "serverless"
    min_capacity_units = 1
    max_capacity_units = 2
  }
  functions = {
    for fn in ["start-replication", "extract-metadata", "validate-landed", "merge-history", "publish-catalog", "notify"] :
    fn => { reserved_concurrency = -1 }
  }
  athena_bytes_scanned_cutoff = 10737418240 # 10 GiB
  retention = {
    log_days            = 30
    noncurrent_days     = 7
    athena_results_days = 7
    access_log_days     = 30
  }
  alarm_thresholds = { cdc_latency_seconds = 3600 }
  force_destroy    = true
}
