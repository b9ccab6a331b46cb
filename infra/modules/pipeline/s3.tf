# Five buckets, all private, TLS-only, SSE-KMS with the pipeline key (access
# logs excepted: S3 server access logging cannot write to SSE-KMS buckets).
#
#   landing      the DMS target: <dms>/<schema>/<table>/… Never versioned (DMS
#                refuses versioned targets), never modified by the pipeline.
#   lake         validated/ quarantine/ reports/ state/ runs/ metadata/ and
#                history/ (the Iceberg warehouse).
#   results      Athena query results, expired after retention.athena_results_days.
#   artifacts    Lambda zips and the rendered tidemark.toml.
#   access_logs  S3 server access logs of the four buckets above.

locals {
  bucket_names = {
    landing     = "${local.name}-landing-${local.account_id}"
    lake        = "${local.name}-lake-${local.account_id}"
    results     = "${local.name}-athena-${local.account_id}"
    artifacts   = "${local.name}-artifacts-${local.account_id}"
    access_logs = "${local.name}-access-logs-${local.account_id}"
  }

  # Every bucket by role, for the settings they share.
  buckets = {
    landing     = aws_s3_bucket.landing
    lake        = aws_s3_bucket.lake
    results     = aws_s3_bucket.results
    artifacts   = aws_s3_bucket.artifacts
    access_logs = aws_s3_bucket.access_logs
  }
  kms_buckets       = { for k, b in local.buckets : k => b if k != "access_logs" }
  versioned_buckets = local.buckets
}

resource "aws_s3_bucket" "landing" {
  #checkov:skip=CKV_AWS_144:Single-region pipeline; cross-region copies of raw change data are a data-residency decision left to the platform team (add replication outside this module).
  bucket        = local.bucket_names.landing
  force_destroy = var.force_destroy
  tags          = merge(local.tags, { "tidemark:role" = "landing" })
}

resource "aws_s3_bucket" "lake" {
  #checkov:skip=CKV_AWS_144:Single-region pipeline; the lake is recomputable from the landing bucket (`rebuild`), so cross-region replication is left to the platform team.
  bucket        = local.bucket_names.lake
  force_destroy = var.force_destroy
  tags          = merge(local.tags, { "tidemark:role" = "lake" })
}

resource "aws_s3_bucket" "results" {
  #checkov:skip=CKV_AWS_144:Athena query results are transient (expired after days); replicating them has no value.
  bucket        = local.bucket_names.results
  force_destroy = true
  tags          = merge(local.tags, { "tidemark:role" = "athena-results" })
}

resource "aws_s3_bucket" "artifacts" {
  #checkov:skip=CKV_AWS_144:Build artifacts are reproducible from the repository with `make build`.
  bucket        = local.bucket_names.artifacts
  force_destroy = true
  tags          = merge(local.tags, { "tidemark:role" = "artifacts" })
}

resource "aws_s3_bucket" "access_logs" {
  #checkov:skip=CKV_AWS_18:This bucket is the access-log target; logging it into itself would loop.
  #checkov:skip=CKV_AWS_144:Access logs stay in the region they describe.
  #checkov:skip=CKV_AWS_145:S3 server access logging only delivers to buckets encrypted with SSE-S3, not SSE-KMS.
  bucket        = local.bucket_names.access_logs
  force_destroy = var.force_destroy
  tags          = merge(local.tags, { "tidemark:role" = "access-logs" })
}

resource "aws_s3_bucket_public_access_block" "this" {
  for_each                = local.buckets
  bucket                  = each.value.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "this" {
  for_each = local.buckets
  bucket   = each.value.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "kms" {
  for_each = local.kms_buckets
  bucket   = each.value.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.data.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_versioning" "this" {
  for_each = local.versioned_buckets
  bucket   = each.value.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_logging" "this" {
  for_each      = local.kms_buckets
  bucket        = each.value.id
  target_bucket = aws_s3_bucket.access_logs.id
  target_prefix = "${each.key}/"
}

# Object-level events go to EventBridge (nothing subscribes today; it costs
# nothing until a rule does, and lets operators audit landings).
resource "aws_s3_bucket_notification" "this" {
  for_each    = local.buckets
  bucket      = each.value.id
  eventbridge = true
}

resource "aws_s3_bucket_lifecycle_configuration" "landing" {
  bucket = aws_s3_bucket.landing.id
  rule {
    id     = "landed-files-to-infrequent-access"
    status = "Enabled"
    filter {}
    transition {
      days          = var.retention.landing_ia_days
      storage_class = "STANDARD_IA"
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
  # Versioned, so an overwritten landed file can be got back; DMS asks that
  # old versions be expired (its listings time out on many), and an
  # erasure's rewrite (docs/erasure.md) must not keep the old file for long.
  rule {
    id     = "expire-overwritten-landed-files"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = var.retention.landing_noncurrent_days
    }
    expiration {
      expired_object_delete_marker = true
    }
  }

  depends_on = [aws_s3_bucket_versioning.this]
}

resource "aws_s3_bucket_lifecycle_configuration" "lake" {
  bucket = aws_s3_bucket.lake.id
  rule {
    id     = "expire-old-versions"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = var.retention.noncurrent_days
    }
    expiration {
      expired_object_delete_marker = true
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
  # Each step invocation's usage (docs/cost.md): notify prices it into the
  # run records, so the inputs need not stay.
  rule {
    id     = "expire-step-usage"
    status = "Enabled"
    filter {
      prefix = "usage/"
    }
    expiration {
      days = 35
    }
  }
  depends_on = [aws_s3_bucket_versioning.this]
}

resource "aws_s3_bucket_lifecycle_configuration" "results" {
  bucket = aws_s3_bucket.results.id
  rule {
    id     = "expire-query-results"
    status = "Enabled"
    filter {}
    expiration {
      days = var.retention.athena_results_days
    }
    noncurrent_version_expiration {
      noncurrent_days = 1
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
  depends_on = [aws_s3_bucket_versioning.this]
}

resource "aws_s3_bucket_lifecycle_configuration" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id
  rule {
    id     = "expire-old-builds"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = var.retention.noncurrent_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
  depends_on = [aws_s3_bucket_versioning.this]
}

resource "aws_s3_bucket_lifecycle_configuration" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  rule {
    id     = "expire-access-logs"
    status = "Enabled"
    filter {}
    expiration {
      days = var.retention.access_log_days
    }
    noncurrent_version_expiration {
      noncurrent_days = 1
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
  depends_on = [aws_s3_bucket_versioning.this]
}

# Every bucket refuses plain HTTP. The landing bucket also refuses deletes
# from anyone but DMS's own role (unless force_destroy, for dev teardown):
# landed files are the lake's source of truth.
data "aws_iam_policy_document" "bucket" {
  for_each = local.buckets

  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      each.value.arn,
      "${each.value.arn}/*",
    ]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  dynamic "statement" {
    for_each = each.key == "landing" && !var.force_destroy ? [1] : []
    content {
      sid       = "OnlyDmsDeletesLandedFiles"
      effect    = "Deny"
      actions   = ["s3:DeleteObject", "s3:DeleteObjectVersion"]
      resources = ["${each.value.arn}/*"]
      principals {
        type        = "*"
        identifiers = ["*"]
      }
      condition {
        test     = "ArnNotEquals"
        variable = "aws:PrincipalArn"
        values   = [aws_iam_role.dms_target.arn]
      }
    }
  }

  dynamic "statement" {
    for_each = each.key == "access_logs" ? [1] : []
    content {
      sid       = "S3ServerAccessLogsDelivery"
      actions   = ["s3:PutObject"]
      resources = ["${each.value.arn}/*"]
      principals {
        type        = "Service"
        identifiers = ["logging.s3.amazonaws.com"]
      }
      condition {
        test     = "StringEquals"
        variable = "aws:SourceAccount"
        values   = [local.account_id]
      }
    }
  }
}

resource "aws_s3_bucket_policy" "this" {
  for_each   = local.buckets
  bucket     = each.value.id
  policy     = data.aws_iam_policy_document.bucket[each.key].json
  depends_on = [aws_s3_bucket_public_access_block.this]
}
