# One dashboard per pipeline: runs, step errors and durations, replication lag,
# Athena bytes scanned, undeliverable events, and from notify's metrics
# (crates/core/src/cost.rs) each table's freshness and each run's cost.

locals {
  function_names = [for fn in keys(local.functions) : aws_lambda_function.step[fn].function_name]

  dashboard_widgets = concat(
    [
      {
        type = "metric", x = 0, y = 0, width = 12, height = 6
        properties = {
          title  = "Pipeline executions"
          region = local.region
          stat   = "Sum"
          period = 3600
          metrics = [
            for m in ["ExecutionsStarted", "ExecutionsSucceeded", "ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted"] :
            ["AWS/States", m, "StateMachineArn", aws_sfn_state_machine.pipeline.arn]
          ]
        }
      },
      {
        type = "metric", x = 12, y = 0, width = 12, height = 6
        properties = {
          title   = "Step errors"
          region  = local.region
          stat    = "Sum"
          period  = 3600
          metrics = [for name in local.function_names : ["AWS/Lambda", "Errors", "FunctionName", name]]
        }
      },
      {
        type = "metric", x = 0, y = 6, width = 12, height = 6
        properties = {
          title   = "Step duration (p95, ms)"
          region  = local.region
          stat    = "p95"
          period  = 3600
          metrics = [for name in local.function_names : ["AWS/Lambda", "Duration", "FunctionName", name]]
        }
      },
      {
        type = "metric", x = 12, y = 6, width = 12, height = 6
        properties = {
          title  = "Athena bytes scanned"
          region = local.region
          stat   = "Sum"
          period = 3600
          metrics = [
            ["AWS/Athena", "ProcessedBytes", "WorkGroup", aws_athena_workgroup.this.name],
          ]
        }
      },
      {
        type = "metric", x = 0, y = 12, width = 12, height = 6
        properties = {
          title  = "Undeliverable events"
          region = local.region
          stat   = "Maximum"
          period = 300
          metrics = [
            ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", aws_sqs_queue.dead_letters.name],
          ]
        }
      },
    ],
    [
      {
        type = "metric", x = 0, y = 18, width = 12, height = 6
        properties = {
          title  = "Tables merged (1: the run succeeded for the table)"
          region = local.region
          stat   = "Maximum"
          period = 3600
          metrics = [
            for t in var.tables : ["Tidemark", "Merged", "Database", var.history_database, "Table", t.name]
          ]
        }
      },
      {
        type = "metric", x = 12, y = 18, width = 12, height = 6
        properties = {
          title  = "Cost per table and run (USD)"
          region = local.region
          stat   = "Sum"
          period = 86400
          metrics = concat(
            [for t in var.tables : ["Tidemark", "CostUsd", "Database", var.history_database, "Table", t.name]],
            [["Tidemark", "CostUsd", "Database", var.history_database, "Table", "_run"]],
          )
        }
      },
    ],
    [
      for kind, dims in local.cdc_latency_dimensions : {
        type = "metric", x = 12, y = 12, width = 12, height = 6
        properties = {
          title  = "DMS CDC latency (s), ${kind}"
          region = local.region
          stat   = "Maximum"
          period = 300
          metrics = [
            for m in ["CDCLatencySource", "CDCLatencyTarget"] :
            concat(["AWS/DMS", m], flatten([for k, v in dims : [k, v]]))
          ]
        }
      }
    ],
  )
}

resource "aws_cloudwatch_dashboard" "pipeline" {
  dashboard_name = local.name
  dashboard_body = jsonencode({ widgets = local.dashboard_widgets })
}
