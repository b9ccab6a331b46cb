# tidemark: one pipeline for one source database. See ../../README.md for the
# resource diagram; each concern has its own file (s3.tf, dms.tf, lambda.tf, …).

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  name       = "tidemark-${var.pipeline_name}-${var.environment}"
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name
  tags       = merge(var.tags, { "tidemark:pipeline" = var.pipeline_name, "tidemark:environment" = var.environment })

  # The six pipeline steps, one Lambda function each (functions/<name>), with
  # their default sizing. tests/infra.rs checks these keys against functions/.
  functions = {
    "start-replication" = {
      summary              = "Starts or resumes the DMS replication and reports its health"
      memory_mb            = 256
      timeout_seconds      = 60
      reserved_concurrency = 2
      security_groups      = ["aws_apis"]
    }
    "extract-metadata" = {
      summary              = "Refreshes each table's metadata from the source and classifies schema drift"
      memory_mb            = 512
      timeout_seconds      = 300
      reserved_concurrency = 2
      security_groups      = ["aws_apis", "source"]
    }
    "validate-landed" = {
      summary              = "Validates newly landed DMS files against metadata; quarantines bad ones"
      memory_mb            = 2048
      timeout_seconds      = 900
      reserved_concurrency = 8
      security_groups      = ["aws_apis"]
    }
    "merge-history" = {
      summary              = "Merges one validated batch into the table's SCD2 history with Athena"
      memory_mb            = 256
      timeout_seconds      = 900
      reserved_concurrency = 8
      security_groups      = ["aws_apis"]
    }
    "publish-catalog" = {
      summary              = "Publishes the history table and its _current view to the Glue catalog"
      memory_mb            = 256
      timeout_seconds      = 300
      reserved_concurrency = 8
      security_groups      = ["aws_apis"]
    }
    "notify" = {
      summary              = "Sends the run's alert to SNS (e-mail, Slack through AWS Chatbot)"
      memory_mb            = 256
      timeout_seconds      = 60
      reserved_concurrency = 4
      security_groups      = ["aws_apis"]
    }
  }

  # Defaults merged with var.functions.
  function_settings = {
    for fn, d in local.functions : fn => {
      memory_mb            = coalesce(try(var.functions[fn].memory_mb, null), d.memory_mb)
      timeout_seconds      = coalesce(try(var.functions[fn].timeout_seconds, null), d.timeout_seconds)
      reserved_concurrency = coalesce(try(var.functions[fn].reserved_concurrency, null), d.reserved_concurrency)
    }
  }

  # Where DMS lands files: <landing_prefix>/<schema>/<table>/.
  landing_prefix = "dms"

  cdc_tables      = [for t in var.tables : t.name if t.mode == "cdc"]
  snapshot_tables = [for t in var.tables : t.name if t.mode == "snapshot"]

  # One replication per kind of table: CDC tables need full-load-and-cdc,
  # snapshot tables a full load that start-replication reruns as a reload.
  replications = {
    for kind, spec in {
      cdc      = { migration_type = "full-load-and-cdc", tables = local.cdc_tables }
      snapshot = { migration_type = "full-load", tables = local.snapshot_tables }
    } : kind => spec if length(spec.tables) > 0
  }
}
