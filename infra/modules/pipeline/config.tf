# The pipeline's tidemark.toml, rendered from the variables and stored next
# to the Lambda zips. Every function reads it at cold start (TIDEMARK_CONFIG).

locals {
  config_key             = "config/tidemark.toml"
  metadata_source_prefix = "metadata-source/"
  config_toml = templatefile("${path.module}/templates/tidemark.toml.tftpl", {
    database          = var.history_database
    schema            = var.source_database.schema
    timestamp_column  = var.control_columns.timestamp
    change_seq_column = var.control_columns.change_seq
    tables            = var.tables
    on_success        = var.alert_on_success
    rewrite_landed    = var.erasure.rewrite_landed
    lob_max_kb        = var.lob_max_kb
    metadata_from     = var.metadata_from
    # Read only by the frequent schedule's runs.
    metadata_every_minutes = var.frequent_schedule.metadata_every_minutes
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

# The tables' metadata documents, where extract-metadata reads the schema it
# diffs with the stored versions (metadata_from = "documents").
resource "aws_s3_object" "metadata" {
  for_each     = var.metadata_from == "documents" ? toset([for t in var.tables : t.name]) : toset([])
  bucket       = aws_s3_bucket.lake.id
  key          = "${local.metadata_source_prefix}${each.key}.json"
  source       = "${var.metadata_dir}/${each.key}.json"
  source_hash  = filemd5("${var.metadata_dir}/${each.key}.json")
  content_type = "application/json"
  kms_key_id   = aws_kms_key.data.arn
  tags         = local.tags

  depends_on = [aws_s3_bucket_server_side_encryption_configuration.kms]
}

# What the catalog cannot say (descriptions, enums), laid over what
# extract-metadata reads from it (metadata_from = "catalog").
resource "aws_s3_object" "metadata_override" {
  for_each     = var.metadata_from == "catalog" ? fileset("${var.metadata_dir}/overrides", "*.json") : toset([])
  bucket       = aws_s3_bucket.lake.id
  key          = "${local.metadata_source_prefix}overrides/${each.key}"
  source       = "${var.metadata_dir}/overrides/${each.key}"
  source_hash  = filemd5("${var.metadata_dir}/overrides/${each.key}")
  content_type = "application/json"
  kms_key_id   = aws_kms_key.data.arn
  tags         = local.tags

  depends_on = [aws_s3_bucket_server_side_encryption_configuration.kms]
}
