# IAM. The functions' roles are generated: iam-actions.json is rendered from
# the table in crates/aws/src/permissions.rs (tests/infra.rs fails when the
# two differ), and each role's only policy is built from it here. Edit the
# table, never this file, to change what a function may call.

locals {
  iam_actions = jsondecode(file("${path.module}/iam-actions.json"))

  # The resource names of permissions.rs (Resource::reference), as ARNs.
  # A name whose list is empty drops its statements (e.g. no secret key).
  iam_arns = {
    any                = ["*"]
    data_key           = [aws_kms_key.data.arn]
    source_secret_key  = var.source_database.secret_kms_key_arn == null ? [] : [var.source_database.secret_kms_key_arn]
    config_object      = ["${aws_s3_bucket.artifacts.arn}/${local.config_key}"]
    landing_bucket     = [aws_s3_bucket.landing.arn]
    landing_objects    = ["${aws_s3_bucket.landing.arn}/${local.landing_prefix}/*"]
    lake_bucket        = [aws_s3_bucket.lake.arn]
    results_bucket     = [aws_s3_bucket.results.arn]
    workgroup          = [aws_athena_workgroup.this.arn]
    glue_catalog       = ["arn:${local.partition}:glue:${local.region}:${local.account_id}:catalog"]
    glue_database      = [aws_glue_catalog_database.history.arn]
    glue_tables        = ["arn:${local.partition}:glue:${local.region}:${local.account_id}:table/${aws_glue_catalog_database.history.name}/*"]
    alert_topic        = [aws_sns_topic.alerts.arn]
    replications       = values(local.replication_arns)
    source_secret      = [var.source_database.secret_arn]
    executions         = ["arn:${local.partition}:states:${local.region}:${local.account_id}:execution:${local.name}:*"]
    erasure_key_secret = [aws_secretsmanager_secret.erasure_key.arn]
    # forget may rewrite landed files only when the configuration says so.
    landing_rewrite = var.erasure.rewrite_landed ? ["${aws_s3_bucket.landing.arn}/${local.landing_prefix}/*"] : []
  }

  # Resource names whose ARNs differ per function.
  iam_arns_per_function = {
    log_group         = { for fn in keys(local.functions) : fn => [aws_cloudwatch_log_group.function[fn].arn] }
    dead_letter_queue = { for fn in keys(local.functions) : fn => fn == "notify" ? [aws_sqs_queue.dead_letters.arn] : [] }
  }

  # The service each of the module's roles is assumed by (the Secrets Manager
  # access role of a DMS endpoint must trust DMS's regional principal).
  service_principals = {
    lambda            = "lambda.amazonaws.com"
    dms               = "dms.amazonaws.com"
    dms_source_secret = "dms.${local.region}.amazonaws.com"
    states            = "states.amazonaws.com"
    scheduler         = "scheduler.amazonaws.com"
  }

  # Each function's statements with their resources resolved.
  function_statements = {
    for fn in keys(local.functions) : fn => [
      for s in local.iam_actions.functions[fn] : {
        sid     = s.sid
        actions = s.actions
        resources = flatten([
          for r in s.resources : [
            for arn in(contains(keys(local.iam_arns_per_function), r.ref) ? local.iam_arns_per_function[r.ref][fn] : local.iam_arns[r.ref]) :
            "${arn}${r.suffix}"
          ]
        ])
      }
    ]
  }
}

# Trust policies: each role may be assumed by its service, for this account only.
data "aws_iam_policy_document" "assume" {
  for_each = local.service_principals
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = [each.value]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "function" {
  for_each             = local.functions
  name                 = "${local.name}-${each.key}"
  description          = "tidemark ${each.key}: exactly the actions crates/aws/src/permissions.rs lists for it"
  assume_role_policy   = data.aws_iam_policy_document.assume["lambda"].json
  max_session_duration = 3600
  tags                 = local.tags
}

data "aws_iam_policy_document" "function" {
  for_each = local.functions

  dynamic "statement" {
    for_each = [for s in local.function_statements[each.key] : s if length(s.resources) > 0]
    content {
      sid       = statement.value.sid
      actions   = statement.value.actions
      resources = statement.value.resources
    }
  }
}

resource "aws_iam_role_policy" "function" {
  for_each = local.functions
  name     = "tidemark-${each.key}"
  role     = aws_iam_role.function[each.key].id
  policy   = data.aws_iam_policy_document.function[each.key].json
}

# --- DMS --------------------------------------------------------------------

# The account-wide roles DMS looks up by name (see var.create_dms_service_roles).
resource "aws_iam_role" "dms_vpc" {
  count              = var.create_dms_service_roles ? 1 : 0
  name               = "dms-vpc-role"
  assume_role_policy = data.aws_iam_policy_document.assume["dms"].json
  tags               = local.tags
}

resource "aws_iam_role_policy_attachment" "dms_vpc" {
  count      = var.create_dms_service_roles ? 1 : 0
  role       = aws_iam_role.dms_vpc[0].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonDMSVPCManagementRole"
}

resource "aws_iam_role" "dms_cloudwatch_logs" {
  count              = var.create_dms_service_roles ? 1 : 0
  name               = "dms-cloudwatch-logs-role"
  assume_role_policy = data.aws_iam_policy_document.assume["dms"].json
  tags               = local.tags
}

resource "aws_iam_role_policy_attachment" "dms_cloudwatch_logs" {
  count      = var.create_dms_service_roles ? 1 : 0
  role       = aws_iam_role.dms_cloudwatch_logs[0].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonDMSCloudWatchLogsRole"
}

# What the S3 target endpoint writes with: the landing folder and the key.
resource "aws_iam_role" "dms_target" {
  name               = "${local.name}-dms-target"
  description        = "DMS writes landed files to the landing bucket"
  assume_role_policy = data.aws_iam_policy_document.assume["dms"].json
  tags               = local.tags
}

data "aws_iam_policy_document" "dms_target" {
  statement {
    sid       = "WriteLandedFiles"
    actions   = ["s3:PutObject", "s3:PutObjectTagging", "s3:DeleteObject"]
    resources = ["${aws_s3_bucket.landing.arn}/${local.landing_prefix}/*"]
  }
  statement {
    sid       = "ListLanding"
    actions   = ["s3:ListBucket", "s3:GetBucketLocation"]
    resources = [aws_s3_bucket.landing.arn]
  }
  statement {
    sid       = "EncryptWithThePipelineKey"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [aws_kms_key.data.arn]
  }
}

resource "aws_iam_role_policy" "dms_target" {
  name   = "landing"
  role   = aws_iam_role.dms_target.id
  policy = data.aws_iam_policy_document.dms_target.json
}

# What the source endpoint reads its credentials with. Secrets Manager access
# roles must trust DMS's regional service principal.
resource "aws_iam_role" "dms_source_secret" {
  name               = "${local.name}-dms-source"
  description        = "DMS reads the source database's credentials"
  assume_role_policy = data.aws_iam_policy_document.assume["dms_source_secret"].json
  tags               = local.tags
}

data "aws_iam_policy_document" "dms_source_secret" {
  statement {
    sid       = "ReadSourceCredentials"
    actions   = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
    resources = [var.source_database.secret_arn]
  }
  dynamic "statement" {
    for_each = var.source_database.secret_kms_key_arn == null ? [] : [var.source_database.secret_kms_key_arn]
    content {
      sid       = "DecryptSourceCredentials"
      actions   = ["kms:Decrypt"]
      resources = [statement.value]
      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["secretsmanager.${local.region}.amazonaws.com"]
      }
    }
  }
}

resource "aws_iam_role_policy" "dms_source_secret" {
  name   = "source-credentials"
  role   = aws_iam_role.dms_source_secret.id
  policy = data.aws_iam_policy_document.dms_source_secret.json
}

# --- Step Functions -----------------------------------------------------------

resource "aws_iam_role" "state_machine" {
  name               = "${local.name}-state-machine"
  description        = "The daily pipeline invokes the six functions"
  assume_role_policy = data.aws_iam_policy_document.assume["states"].json
  tags               = local.tags
}

data "aws_iam_policy_document" "state_machine" {
  #checkov:skip=CKV_AWS_111:The log-delivery and X-Ray actions support no resource-level permissions (AWS requires "*" for them); every other statement is scoped.
  #checkov:skip=CKV_AWS_356:Same: CloudWatch Logs vended delivery and X-Ray actions accept only "*".
  statement {
    sid       = "InvokeThePipelineFunctions"
    actions   = ["lambda:InvokeFunction"]
    resources = flatten([for fn in aws_lambda_function.step : [fn.arn, "${fn.arn}:*"]])
  }
  statement {
    sid = "DeliverExecutionLogs"
    actions = [
      "logs:CreateLogDelivery",
      "logs:DeleteLogDelivery",
      "logs:DescribeLogGroups",
      "logs:DescribeResourcePolicies",
      "logs:GetLogDelivery",
      "logs:ListLogDeliveries",
      "logs:PutResourcePolicy",
      "logs:UpdateLogDelivery",
    ]
    resources = ["*"]
  }
  statement {
    sid       = "Tracing"
    actions   = ["xray:GetSamplingRules", "xray:GetSamplingTargets", "xray:PutTelemetryRecords", "xray:PutTraceSegments"]
    resources = ["*"]
  }
  statement {
    sid       = "EncryptedStateMachine"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.data.arn]
  }
}

resource "aws_iam_role_policy" "state_machine" {
  name   = "pipeline"
  role   = aws_iam_role.state_machine.id
  policy = data.aws_iam_policy_document.state_machine.json
}

# --- EventBridge Scheduler ---------------------------------------------------

resource "aws_iam_role" "scheduler" {
  name               = "${local.name}-scheduler"
  description        = "The daily schedule starts the pipeline"
  assume_role_policy = data.aws_iam_policy_document.assume["scheduler"].json
  tags               = local.tags
}

data "aws_iam_policy_document" "scheduler" {
  statement {
    sid       = "StartThePipeline"
    actions   = ["states:StartExecution"]
    resources = [aws_sfn_alias.live.arn]
  }
  statement {
    sid       = "DeadLetters"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.dead_letters.arn]
  }
  statement {
    sid       = "EncryptedScheduleAndQueue"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.data.arn]
  }
}

resource "aws_iam_role_policy" "scheduler" {
  name   = "start-pipeline"
  role   = aws_iam_role.scheduler.id
  policy = data.aws_iam_policy_document.scheduler.json
}
