# The runs: EventBridge Scheduler starts the state machine with `{}`
# (all configured tables, incremental) in the configured time zone, and,
# with frequent_schedule, more often with {"cadence": "frequent"}. Starts it
# could not deliver after the retries land in the dead-letter queue.

resource "aws_scheduler_schedule" "daily" {
  name        = "${local.name}-daily"
  description = "Starts the tidemark pipeline for ${var.pipeline_name}: ${var.schedule.expression}"
  state       = var.schedule.enabled ? "ENABLED" : "DISABLED"

  schedule_expression          = var.schedule.expression
  schedule_expression_timezone = var.schedule.timezone
  kms_key_arn                  = aws_kms_key.data.arn

  flexible_time_window {
    mode = "OFF"
  }

  target {
    arn      = aws_sfn_alias.live.arn
    role_arn = aws_iam_role.scheduler.arn
    input    = jsonencode({})

    retry_policy {
      maximum_retry_attempts       = var.schedule.retry_attempts
      maximum_event_age_in_seconds = var.schedule.max_event_age_seconds
    }

    dead_letter_config {
      arn = aws_sqs_queue.dead_letters.arn
    }
  }
}

# The frequent schedule, when one is set: the same target with
# {"cadence": "frequent"}, so its runs take only the frequent tables.
resource "aws_scheduler_schedule" "frequent" {
  count       = var.frequent_schedule.expression == null ? 0 : 1
  name        = "${local.name}-frequent"
  description = "Starts the tidemark pipeline for ${var.pipeline_name}'s frequent tables: ${coalesce(var.frequent_schedule.expression, "-")}"
  state       = var.frequent_schedule.enabled ? "ENABLED" : "DISABLED"

  schedule_expression          = var.frequent_schedule.expression
  schedule_expression_timezone = var.schedule.timezone
  kms_key_arn                  = aws_kms_key.data.arn

  flexible_time_window {
    mode = "OFF"
  }

  target {
    arn      = aws_sfn_alias.live.arn
    role_arn = aws_iam_role.scheduler.arn
    input    = jsonencode({ cadence = "frequent" })

    retry_policy {
      maximum_retry_attempts       = var.schedule.retry_attempts
      maximum_event_age_in_seconds = var.schedule.max_event_age_seconds
    }

    dead_letter_config {
      arn = aws_sqs_queue.dead_letters.arn
    }
  }
}

# One queue for every undeliverable event: schedule starts, EventBridge
# deliveries to notify, and notify's own failed asynchronous invocations.
resource "aws_sqs_queue" "dead_letters" {
  name                              = "${local.name}-dead-letters"
  message_retention_seconds         = 1209600
  kms_master_key_id                 = aws_kms_key.data.arn
  kms_data_key_reuse_period_seconds = 300
  tags                              = local.tags
}

data "aws_iam_policy_document" "dead_letters" {
  statement {
    sid       = "EventBridgeRulesDeadLetters"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.dead_letters.arn]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [for rule in aws_cloudwatch_event_rule.to_notify : rule.arn]
    }
  }
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["sqs:*"]
    resources = [aws_sqs_queue.dead_letters.arn]
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
}

resource "aws_sqs_queue_policy" "dead_letters" {
  queue_url = aws_sqs_queue.dead_letters.id
  policy    = data.aws_iam_policy_document.dead_letters.json
}
