# Glue and Athena. The history tables (Iceberg, under the lake's history/),
# their _current views and the change-log tables over validated/ live in one
# Glue database; queries run in a workgroup that enforces its own result
# location, encryption and a per-query scan limit.

resource "aws_glue_catalog_database" "history" {
  name         = var.history_database
  description  = "tidemark ${var.pipeline_name} (${var.environment}): SCD2 history of ${var.source_database.database}.${var.source_database.schema}"
  location_uri = "s3://${aws_s3_bucket.lake.id}/history/${var.history_database}/"
  tags         = local.tags
}

resource "aws_athena_workgroup" "this" {
  name          = local.name
  description   = "tidemark ${var.pipeline_name} (${var.environment}): merges and catalog DDL"
  state         = "ENABLED"
  force_destroy = var.force_destroy

  configuration {
    enforce_workgroup_configuration    = true
    publish_cloudwatch_metrics_enabled = true
    bytes_scanned_cutoff_per_query     = var.athena_bytes_scanned_cutoff

    engine_version {
      selected_engine_version = "Athena engine version 3"
    }

    result_configuration {
      output_location       = "s3://${aws_s3_bucket.results.id}/"
      expected_bucket_owner = local.account_id

      encryption_configuration {
        encryption_option = "SSE_KMS"
        kms_key_arn       = aws_kms_key.data.arn
      }
    }
  }

  tags = local.tags
}
