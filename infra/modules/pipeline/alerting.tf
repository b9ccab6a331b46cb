# Alerting. The notify function publishes one alert per failed run to the
# topic (e-mail, and Slack through AWS Chatbot). EventBridge also hands it
# what the state machine cannot report itself: executions that failed outside
# its Catch (or timed out, or were aborted) and DMS replication failures.
# CloudWatch alarms publish to the same topic.

locals {
  # Prod failures page: the topic is the alerts topic, with its e-mail
  # subscribers (and Slack). Elsewhere it is a notifications topic that
  # nobody is paged from: Slack only, unless email_non_prod.
  pages = var.environment == "prod"
}

resource "aws_sns_topic" "alerts" {
  name              = "${local.name}-${local.pages ? "alerts" : "notifications"}"
  display_name      = "tidemark ${var.pipeline_name} (${var.environment})"
  kms_master_key_id = aws_kms_key.data.arn
  tags              = local.tags
}

# Who may publish: the notify function's role, the pipeline's own CloudWatch
# alarms and its budget, nothing else. The account may manage the topic
# (subscriptions, e-mail and Chatbot's, are made by whoever deploys), not
# publish to it.
data "aws_iam_policy_document" "alerts" {
  statement {
    sid       = "NotifyPublishes"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alerts.arn]
    principals {
      type        = "AWS"
      identifiers = [aws_iam_role.function["notify"].arn]
    }
  }
  statement {
    sid       = "CloudWatchAlarmsPublish"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alerts.arn]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${local.partition}:cloudwatch:${local.region}:${local.account_id}:alarm:${local.name}-*"]
    }
  }
  statement {
    sid       = "BudgetsPublish"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alerts.arn]
    principals {
      type        = "Service"
      identifiers = ["budgets.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${local.partition}:budgets::${local.account_id}:*"]
    }
  }
  statement {
    sid = "AccountManages"
    actions = [
      "sns:GetTopicAttributes",
      "sns:ListSubscriptionsByTopic",
      "sns:Subscribe",
    ]
    resources = [aws_sns_topic.alerts.arn]
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alerts.arn]
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

resource "aws_sns_topic_policy" "alerts" {
  arn    = aws_sns_topic.alerts.arn
  policy = data.aws_iam_policy_document.alerts.json
}

resource "aws_sns_topic_subscription" "email" {
  for_each  = local.pages || var.email_non_prod ? toset(var.alert_emails) : toset([])
  topic_arn = aws_sns_topic.alerts.arn
  protocol  = "email"
  endpoint  = each.value
}

# --- Slack through AWS Chatbot (optional) -------------------------------------

data "aws_iam_policy_document" "chatbot_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["chatbot.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

# The channel only receives notifications: its role may read the pipeline's
# alarms and render their graphs, and the guardrail caps whatever a channel
# member could do at read-only.
resource "aws_iam_role" "chatbot" {
  count              = var.slack == null ? 0 : 1
  name               = "${local.name}-chatbot"
  description        = "AWS Chatbot channel of the tidemark alerts: receives notifications only"
  assume_role_policy = data.aws_iam_policy_document.chatbot_assume.json
  tags               = local.tags
}

data "aws_iam_policy_document" "chatbot" {
  statement {
    sid       = "ReadThePipelineAlarms"
    actions   = ["cloudwatch:DescribeAlarms"]
    resources = ["arn:${local.partition}:cloudwatch:${local.region}:${local.account_id}:alarm:${local.name}-*"]
  }
  statement {
    sid       = "RenderAlarmGraphs"
    actions   = ["cloudwatch:GetMetricWidgetImage"]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "chatbot" {
  count  = var.slack == null ? 0 : 1
  name   = "notifications-only"
  role   = aws_iam_role.chatbot[0].id
  policy = data.aws_iam_policy_document.chatbot.json
}

resource "aws_chatbot_slack_channel_configuration" "alerts" {
  count                 = var.slack == null ? 0 : 1
  configuration_name    = "${local.name}-alerts"
  slack_team_id         = var.slack.workspace_id
  slack_channel_id      = var.slack.channel_id
  iam_role_arn          = aws_iam_role.chatbot[0].arn
  sns_topic_arns        = [aws_sns_topic.alerts.arn]
  guardrail_policy_arns = ["arn:${local.partition}:iam::aws:policy/ReadOnlyAccess"]
  logging_level         = "ERROR"
  tags                  = local.tags
}

# --- EventBridge: failures the state machine cannot report itself -------------

locals {
  # Each rule's event pattern, and how its event becomes notify's input (the
  # NotifyEvent of crates/core/src/events.rs: one failed pseudo-table).
  notify_rules = merge({
    execution = {
      description = "Pipeline executions that failed, timed out or were aborted"
      pattern = {
        source        = ["aws.states"]
        "detail-type" = ["Step Functions Execution Status Change"]
        detail = {
          stateMachineArn = [aws_sfn_state_machine.pipeline.arn]
          # Tidemark.TablesFailed is raised after notify already alerted.
          "$or" = [
            { status = ["TIMED_OUT", "ABORTED"] },
            { status = ["FAILED"], error = [{ "anything-but" = "Tidemark.TablesFailed" }] },
            { status = ["FAILED"], error = [{ exists = false }] },
          ]
        }
      }
      input_paths = {
        name   = "$.detail.name"
        status = "$.detail.status"
        arn    = "$.detail.executionArn"
      }
      input_template = <<-EOT
        {"run_id": "<name>", "input": {}, "results": [{"table": "(execution)", "status": "failed", "error": "States.<status>", "cause": "The execution <arn> ended <status> outside the pipeline's own error handling; see its event history."}]}
      EOT
    }
    replication = {
      description = "DMS replication failures of this pipeline"
      pattern = {
        source        = ["aws.dms"]
        "detail-type" = ["DMS Replication Task State Change", "DMS Replication State Change"]
        resources     = values(local.replication_arns)
        detail = {
          "$or" = [
            { category = ["Failure"] },
            { eventType = [{ suffix = "_FAILED" }] },
          ]
        }
      }
      input_paths = {
        id      = "$.id"
        type    = "$.detail.eventType"
        message = "$.detail.detailMessage"
      }
      input_template = <<-EOT
        {"run_id": "dms-<id>", "input": {}, "results": [{"table": "(replication)", "status": "failed", "error": "Tidemark.Replication", "cause": "DMS reported <type>: <message>"}]}
      EOT
    }
    }, contains(keys(local.replications), "cdc") ? {
    # The pipeline never stops the CDC replication (a snapshot's full load
    # stops by itself): a stop means changes are not captured until it runs.
    replication_stopped = {
      description = "The CDC replication of this pipeline stopped"
      pattern = {
        source        = ["aws.dms"]
        "detail-type" = ["DMS Replication Task State Change", "DMS Replication State Change"]
        resources     = [local.replication_arns["cdc"]]
        detail        = { eventType = [{ suffix = "_STOPPED" }] }
      }
      input_paths = {
        id      = "$.id"
        type    = "$.detail.eventType"
        message = "$.detail.detailMessage"
      }
      input_template = <<-EOT
        {"run_id": "dms-<id>", "input": {}, "results": [{"table": "(replication)", "status": "failed", "error": "Tidemark.Replication", "cause": "The CDC replication stopped (<type>: <message>): changes at the source are not captured until it runs again. The next run resumes it; to resume it now, start the pipeline (tidemark rerun)."}]}
      EOT
    }
  } : {})
}

resource "aws_cloudwatch_event_rule" "to_notify" {
  for_each      = local.notify_rules
  name          = "${local.name}-${each.key}-failed"
  description   = each.value.description
  event_pattern = jsonencode(each.value.pattern)
  tags          = local.tags
}

resource "aws_cloudwatch_event_target" "to_notify" {
  for_each = local.notify_rules
  rule     = aws_cloudwatch_event_rule.to_notify[each.key].name
  arn      = aws_lambda_function.step["notify"].arn

  input_transformer {
    input_paths    = each.value.input_paths
    input_template = each.value.input_template
  }

  retry_policy {
    maximum_retry_attempts       = 10
    maximum_event_age_in_seconds = 3600
  }

  dead_letter_config {
    arn = aws_sqs_queue.dead_letters.arn
  }
}

resource "aws_lambda_permission" "events_invoke_notify" {
  for_each      = local.notify_rules
  statement_id  = "events-${each.key}"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.step["notify"].function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.to_notify[each.key].arn
}

# --- CloudWatch alarms ----------------------------------------------------------

resource "aws_cloudwatch_metric_alarm" "lambda_errors" {
  for_each            = local.functions
  alarm_name          = "${local.name}-${each.key}-errors"
  alarm_description   = "tidemark ${each.key} returned errors (including Tidemark.* step failures). Logs: /aws/lambda/${local.name}-${each.key}"
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = aws_lambda_function.step[each.key].function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = var.alarm_thresholds.lambda_errors
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alerts.arn]
  tags                = local.tags
}

resource "aws_cloudwatch_metric_alarm" "lambda_throttles" {
  for_each            = local.functions
  alarm_name          = "${local.name}-${each.key}-throttles"
  alarm_description   = "tidemark ${each.key} was throttled: its reserved concurrency (${local.function_settings[each.key].reserved_concurrency}) or the account's limit was reached, and Step Functions retries fewer times than it may need."
  namespace           = "AWS/Lambda"
  metric_name         = "Throttles"
  dimensions          = { FunctionName = aws_lambda_function.step[each.key].function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alerts.arn]
  tags                = local.tags
}

resource "aws_cloudwatch_metric_alarm" "lambda_duration" {
  for_each            = local.functions
  alarm_name          = "${local.name}-${each.key}-near-timeout"
  alarm_description   = "tidemark ${each.key} ran for more than ${var.alarm_thresholds.duration_fraction * 100}% of its ${local.function_settings[each.key].timeout_seconds} s timeout: raise its timeout or memory (var.functions) before an invocation is cut short."
  namespace           = "AWS/Lambda"
  metric_name         = "Duration"
  dimensions          = { FunctionName = aws_lambda_function.step[each.key].function_name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = local.function_settings[each.key].timeout_seconds * 1000 * var.alarm_thresholds.duration_fraction
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alerts.arn]
  tags                = local.tags
}

# Freshness: notify publishes Merged (1 when the run succeeded for the table,
# 0 when it did not) per table in the Tidemark namespace; no 1 for
# freshness_hours (no run at all counts) means the table's history is stale.
resource "aws_cloudwatch_metric_alarm" "freshness" {
  for_each            = toset([for t in var.tables : t.name])
  alarm_name          = "${local.name}-${each.key}-stale"
  alarm_description   = "No run merged ${var.history_database}.${each.key} for ${var.alarm_thresholds.freshness_hours} hours: its history is stale. Read the table's last alerts, then tidemark rerun --tables ${each.key}."
  namespace           = "Tidemark"
  metric_name         = "Merged"
  dimensions          = { Database = var.history_database, Table = each.key }
  statistic           = "Maximum"
  period              = 3600
  evaluation_periods  = var.alarm_thresholds.freshness_hours
  datapoints_to_alarm = var.alarm_thresholds.freshness_hours
  threshold           = 1
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "breaching"
  alarm_actions       = [aws_sns_topic.alerts.arn]
  ok_actions          = [aws_sns_topic.alerts.arn]
  tags                = local.tags
}

resource "aws_budgets_budget" "pipeline" {
  count        = var.monthly_budget_usd == null ? 0 : 1
  name         = "${local.name}-monthly"
  budget_type  = "COST"
  limit_amount = tostring(var.monthly_budget_usd)
  limit_unit   = "USD"
  time_unit    = "MONTHLY"

  # Cost-allocation tag tidemark:pipeline (activate it in Billing once per
  # account). Values of one filter are alternatives, so the environment
  # cannot narrow it further: one environment per account, as envs/ deploys.
  cost_filter {
    name   = "TagKeyValue"
    values = [format("user:tidemark:pipeline$%s", var.pipeline_name)]
  }

  notification {
    comparison_operator       = "GREATER_THAN"
    threshold                 = 80
    threshold_type            = "PERCENTAGE"
    notification_type         = "ACTUAL"
    subscriber_sns_topic_arns = [aws_sns_topic.alerts.arn]
  }

  notification {
    comparison_operator       = "GREATER_THAN"
    threshold                 = 100
    threshold_type            = "PERCENTAGE"
    notification_type         = "FORECASTED"
    subscriber_sns_topic_arns = [aws_sns_topic.alerts.arn]
  }
}

resource "aws_cloudwatch_metric_alarm" "executions" {
  for_each = {
    failed    = "ExecutionsFailed"
    timed-out = "ExecutionsTimedOut"
    aborted   = "ExecutionsAborted"
  }
  alarm_name          = "${local.name}-executions-${each.key}"
  alarm_description   = "A tidemark ${var.pipeline_name} execution ${each.key}. Rerun with `tidemark rerun` after reading the alert."
  namespace           = "AWS/States"
  metric_name         = each.value
  dimensions          = { StateMachineArn = aws_sfn_state_machine.pipeline.arn }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alerts.arn]
  tags                = local.tags
}

locals {
  # CDC latency is reported per task (instance mode) or per replication config
  # (serverless); only CDC replications have it.
  cdc_latency_dimensions = var.replication.mode == "instance" ? {
    for kind, task in aws_dms_replication_task.this : kind => {
      ReplicationInstanceIdentifier = aws_dms_replication_instance.this[0].replication_instance_id
      ReplicationTaskIdentifier     = element(split(":", task.replication_task_arn), 6)
    } if kind == "cdc"
    } : {
    for kind, config in aws_dms_replication_config.this : kind => {
      ReplicationConfigIdentifier = config.replication_config_identifier
    } if kind == "cdc"
  }
}

resource "aws_cloudwatch_metric_alarm" "cdc_latency" {
  for_each = {
    for pair in setproduct(keys(local.cdc_latency_dimensions), ["CDCLatencySource", "CDCLatencyTarget"]) :
    "${pair[0]}-${pair[1]}" => { kind = pair[0], metric = pair[1] }
  }
  alarm_name          = "${local.name}-${lower(each.value.metric)}"
  alarm_description   = "DMS ${each.value.metric} above ${var.alarm_thresholds.cdc_latency_seconds}s for 15 minutes: changes reach the landing bucket late (source: the source or the task's reading of it is slow; target: writing to S3 is)."
  namespace           = "AWS/DMS"
  metric_name         = each.value.metric
  dimensions          = local.cdc_latency_dimensions[each.value.kind]
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 3
  threshold           = var.alarm_thresholds.cdc_latency_seconds
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "missing"
  alarm_actions       = [aws_sns_topic.alerts.arn]
  ok_actions          = [aws_sns_topic.alerts.arn]
  tags                = local.tags
}

# The source must not suffer from being replicated (seed 004): a slot DMS
# stops reading keeps WAL on the source's disk until it fills.
resource "aws_cloudwatch_metric_alarm" "source_health" {
  for_each = var.source_database.rds_instance_id == null ? {} : {
    OldestReplicationSlotLag = {
      gib  = var.alarm_thresholds.replication_slot_lag_gib
      what = "the oldest replication slot (DMS's) is behind by more than ${var.alarm_thresholds.replication_slot_lag_gib} GiB of WAL: DMS is stopped or slow, and the source keeps the WAL until it reads it"
    }
    TransactionLogsDiskUsage = {
      gib  = var.alarm_thresholds.transaction_logs_disk_gib
      what = "the source's transaction logs use more than ${var.alarm_thresholds.transaction_logs_disk_gib} GiB of its disk: a replication slot holds WAL back (resume or drop the replication) before the disk fills"
    }
  }
  alarm_name          = "${local.name}-source-${lower(each.key)}"
  alarm_description   = "Source ${var.source_database.rds_instance_id}: ${each.value.what}."
  namespace           = "AWS/RDS"
  metric_name         = each.key
  dimensions          = { DBInstanceIdentifier = var.source_database.rds_instance_id }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 3
  threshold           = each.value.gib * 1024 * 1024 * 1024
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "missing"
  alarm_actions       = [aws_sns_topic.alerts.arn]
  ok_actions          = [aws_sns_topic.alerts.arn]
  tags                = local.tags
}

resource "aws_cloudwatch_metric_alarm" "dead_letters" {
  alarm_name          = "${local.name}-dead-letters"
  alarm_description   = "Events that could not be delivered (a schedule start, or an alert to notify) are waiting in ${aws_sqs_queue.dead_letters.name}."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.dead_letters.name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alerts.arn]
  tags                = local.tags
}
