# One customer-managed key encrypts everything the pipeline stores: buckets,
# topic, queue, log groups, Lambda environments, DMS, the state machine.

resource "aws_kms_key" "data" {
  description             = "${local.name}: data, logs and messages of the tidemark pipeline"
  enable_key_rotation     = true
  rotation_period_in_days = 365
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms.json
  tags                    = local.tags
}

resource "aws_kms_alias" "data" {
  name          = "alias/${local.name}"
  target_key_id = aws_kms_key.data.key_id
}

data "aws_iam_policy_document" "kms" {
  #checkov:skip=CKV_AWS_109:A key policy's Resource "*" means this key only; administration is limited to the account root and var.kms_admin_arns.
  #checkov:skip=CKV_AWS_111:A key policy's Resource "*" means this key only; see the statements' principals and conditions.
  #checkov:skip=CKV_AWS_356:A key policy's Resource "*" means this key only, which is as narrow as a key policy can be.
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = concat(["arn:${local.partition}:iam::${local.account_id}:root"], var.kms_admin_arns)
    }
  }

  statement {
    sid       = "CloudWatchLogsEncryptsThePipelineLogGroups"
    actions   = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${local.region}.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values = [
        "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws/lambda/${local.name}-*",
        "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws/vendedlogs/states/${local.name}*",
        "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:dms-tasks-${local.name}*",
      ]
    }
  }

  statement {
    sid       = "AlarmsAndEventsReachTheEncryptedTopicAndQueue"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com", "events.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}
