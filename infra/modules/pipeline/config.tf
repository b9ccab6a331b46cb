# The pipeline's tidemark.toml, rendered from the variables and stored next
# to the Lambda zips. Every function reads it at cold start (TIDEMARK_CONFIG).

locals {
  config_key = "config/tidemark.toml"
  config_toml = templatefile("${path.module}/templates/tidemark.toml.tftpl", {
    database          = var.history_database
    schema            = var.source_database.schema
    timestamp_column  = var.control_columns.timestamp
    change_seq_column = var.control_columns.change_seq
    tables            = var.tables
    on_success        = var.alert_on_success
  })
}

resource "aws_s3_object" "config" {
  bucket       = aws_s3_bucket.artifacts.id
  key          = local.config_key
  content      = local.config_toml
  content_type = "application/toml"
  kms_key_id   = aws_kms_key.data.arn
  tags         = local.tags

  depends_on = [aws_s3_bucket_server_side_encryption_configuration.kms]
}
