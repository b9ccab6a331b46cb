# The six functions: arm64 (or x86_64: var.lambda_architecture), provided.al2023, the zips `make build` writes,
# uploaded to the versioned artifacts bucket. Each has its own role (iam.tf),
# log group and JSON logs, X-Ray tracing, an encrypted environment, and runs
# in the VPC; only extract-metadata may reach the source database.

locals {
  # The security groups functions pick from (local.functions[*].security_groups).
  security_groups = {
    aws_apis = aws_security_group.functions.id
    source   = aws_security_group.metadata_reader.id
  }

  package_paths = { for fn in keys(local.functions) : fn => "${var.lambda_package_dir}/${fn}/bootstrap.zip" }

  # Where the AWS adapters find what they work on.
  common_environment = {
    TIDEMARK_CONFIG           = "s3://${aws_s3_bucket.artifacts.id}/${local.config_key}"
    TIDEMARK_LANDING          = "s3://${aws_s3_bucket.landing.id}/${local.landing_prefix}/"
    TIDEMARK_LAKE             = "s3://${aws_s3_bucket.lake.id}/"
    TIDEMARK_ATHENA_WORKGROUP = aws_athena_workgroup.this.name
    TIDEMARK_GLUE_DATABASE    = aws_glue_catalog_database.history.name
    # The key of the erasure log's hashes (erasure.tf).
    TIDEMARK_ERASURE_KEY_SECRET = aws_secretsmanager_secret.erasure_key.arn
  }
  function_environment = {
    "start-replication" = {
      # The cdc replication's AWS/DMS dimensions (alerting.tf) let it report the CDC latency.
      TIDEMARK_REPLICATION_MODE       = var.replication.mode
      TIDEMARK_REPLICATION_ARNS       = jsonencode(local.replication_arns)
      TIDEMARK_CDC_LATENCY_DIMENSIONS = jsonencode(try(local.cdc_latency_dimensions["cdc"], {}))
    }
    "extract-metadata" = {
      TIDEMARK_SOURCE_ENGINE     = var.source_database.engine
      TIDEMARK_SOURCE_HOST       = var.source_database.host
      TIDEMARK_SOURCE_PORT       = tostring(var.source_database.port)
      TIDEMARK_SOURCE_DATABASE   = var.source_database.database
      TIDEMARK_SOURCE_SECRET_ARN = var.source_database.secret_arn
      TIDEMARK_SOURCE_SSL_MODE   = var.source_database.ssl_mode
      TIDEMARK_METADATA_SOURCE   = "s3://${aws_s3_bucket.lake.id}/${local.metadata_source_prefix}"
    }
    "validate-landed" = {}
    "merge-history"   = {}
    "publish-catalog" = {}
    "notify" = {
      TIDEMARK_ALERT_TOPIC_ARN = aws_sns_topic.alerts.arn
    }
  }
}

resource "aws_s3_object" "package" {
  for_each    = local.functions
  bucket      = aws_s3_bucket.artifacts.id
  key         = "lambda/${each.key}/bootstrap.zip"
  source      = local.package_paths[each.key]
  source_hash = filemd5(local.package_paths[each.key])
  kms_key_id  = aws_kms_key.data.arn
  tags        = local.tags

  depends_on = [aws_s3_bucket_versioning.this, aws_s3_bucket_server_side_encryption_configuration.kms]
}

resource "aws_cloudwatch_log_group" "function" {
  #checkov:skip=CKV_AWS_338:Retention is a per-environment choice (var.retention.log_days; the module default and prod keep a year).
  for_each          = local.functions
  name              = "/aws/lambda/${local.name}-${each.key}"
  retention_in_days = var.retention.log_days
  kms_key_id        = aws_kms_key.data.arn
  tags              = local.tags
}

resource "aws_lambda_function" "step" {
  #checkov:skip=CKV_AWS_116:Only notify is invoked asynchronously (EventBridge) and it has a dead-letter queue; the other five are invoked synchronously by Step Functions, which retries and catches their errors.
  #checkov:skip=CKV_AWS_272:Code signing needs an AWS Signer profile and signed uploads outside Terraform; the zips are built by `make build` from the reviewed commit and stored in the versioned, KMS-encrypted artifacts bucket.
  for_each = local.functions

  function_name = "${local.name}-${each.key}"
  description   = each.value.summary
  role          = aws_iam_role.function[each.key].arn
  # Each deploy publishes a version, which the state machine names: an
  # execution runs the code it started with (stepfunctions.tf).
  publish = true

  architectures     = [var.lambda_architecture]
  runtime           = "provided.al2023"
  handler           = "bootstrap"
  s3_bucket         = aws_s3_object.package[each.key].bucket
  s3_key            = aws_s3_object.package[each.key].key
  s3_object_version = aws_s3_object.package[each.key].version_id
  source_code_hash  = filebase64sha256(local.package_paths[each.key])

  memory_size                    = local.function_settings[each.key].memory_mb
  timeout                        = local.function_settings[each.key].timeout_seconds
  reserved_concurrent_executions = local.function_settings[each.key].reserved_concurrency

  kms_key_arn = aws_kms_key.data.arn
  environment {
    variables = merge(local.common_environment, local.function_environment[each.key])
  }

  logging_config {
    log_format            = "JSON"
    log_group             = aws_cloudwatch_log_group.function[each.key].name
    application_log_level = "INFO"
    system_log_level      = "WARN"
  }

  tracing_config {
    mode = "Active"
  }

  vpc_config {
    subnet_ids         = var.network.subnet_ids
    security_group_ids = [for sg in each.value.security_groups : local.security_groups[sg]]
  }

  dynamic "dead_letter_config" {
    for_each = each.key == "notify" ? [aws_sqs_queue.dead_letters.arn] : []
    content {
      target_arn = dead_letter_config.value
    }
  }

  tags = merge(local.tags, { "tidemark:function" = each.key })

  depends_on = [aws_iam_role_policy.function]
}

# Asynchronous invocations of notify (from EventBridge): no retry storms.
resource "aws_lambda_function_event_invoke_config" "notify" {
  function_name                = aws_lambda_function.step["notify"].function_name
  maximum_retry_attempts       = 2
  maximum_event_age_in_seconds = 3600
}

resource "aws_security_group" "functions" {
  #checkov:skip=CKV2_AWS_5:Attached to every function's vpc_config through local.security_groups, a for-expression checkov's graph does not follow.
  name        = "${local.name}-functions"
  description = "tidemark functions: out to AWS APIs over TLS only"
  vpc_id      = var.network.vpc_id
  tags        = local.tags
}

resource "aws_vpc_security_group_egress_rule" "functions_to_aws" {
  for_each                     = local.aws_api_egress
  security_group_id            = aws_security_group.functions.id
  description                  = "AWS APIs over TLS: ${each.key} (network.tf)"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = each.value.security_group
  prefix_list_id               = each.value.prefix_list
  cidr_ipv4                    = each.value.cidr
}

resource "aws_security_group" "metadata_reader" {
  #checkov:skip=CKV2_AWS_5:Attached to extract-metadata's vpc_config through local.security_groups, a for-expression checkov's graph does not follow.
  name        = "${local.name}-metadata-reader"
  description = "extract-metadata: out to the source database's port"
  vpc_id      = var.network.vpc_id
  tags        = local.tags
}

resource "aws_vpc_security_group_egress_rule" "metadata_reader_to_source" {
  for_each          = toset(var.source_database.cidr_blocks)
  security_group_id = aws_security_group.metadata_reader.id
  description       = "The source database"
  ip_protocol       = "tcp"
  from_port         = var.source_database.port
  to_port           = var.source_database.port
  cidr_ipv4         = each.value
}
