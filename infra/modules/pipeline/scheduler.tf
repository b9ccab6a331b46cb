# The runs: EventBridge Scheduler starts the state machine with `{}`
# (all configured tables, incremental) in the configured time zone, and,
# with frequent_schedule, more often with {"cadence": "frequent"}. Starts it
# could not deliver after the retries land in the dead-letter queue.

locals {
  # The daily run takes every table; the frequent one, when set, the
  # frequent tables (tidemark.toml's [[tables]] cadence).
  schedules = merge(
    {
      daily = {
        description = "Starts the tidemark pipeline for ${var.pipeline_name}: ${var.schedule.expression}"
        expression  = var.schedule.expression
        enabled     = var.schedule.enabled
        input       = {}
      }
    },
    var.frequent_schedule.expression == null ? {} : {
      frequent = {
        description = "Starts the tidemark pipeline for ${var.pipeline_name}'s frequent tables: ${var.frequent_schedule.expression}"
        expression  = var.frequent_schedule.expression
        enabled     = var.frequent_schedule.enabled
        input       = { cadence = "frequent" }
      }
    },
  )
}

resource "aws_scheduler_schedule" "run" {
  for_each    = local.schedules
  name        = "${local.name}-${each.key}"
  description = each.value.description
  state       = each.value.enabled ? "ENABLED" : "DISABLED"

  schedule_expression          = each.value.expression
  schedule_expression_timezone = var.schedule.timezone
  kms_key_arn                  = aws_kms_key.data.arn

  flexible_time_window {
    mode = "OFF"
  }

  target {
    arn      = aws_sfn_alias.live.arn
    role_arn = aws_iam_role.scheduler.arn
    input    = jsonencode(each.value.input)

    retry_policy {
      maximum_retry_attempts       = var.schedule.retry_attempts
      maximum_event_age_in_seconds = var.schedule.max_event_age_seconds
    }

    dead_letter_config {
      arn = aws_sqs_queue.dead_letters.arn
    }
  }
}

moved {
  from = aws_scheduler_schedule.daily
  to   = aws_scheduler_schedule.run["daily"]
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
