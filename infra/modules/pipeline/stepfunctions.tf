# The daily pipeline: statemachines/daily-pipeline.asl.json, the same file the
# local interpreter runs, with each ${…FunctionArn} filled in here.
# tests/infra.rs checks that every placeholder in the file is supplied.
#
# Deploys never break a running execution: each names the functions'
# published versions, each apply publishes a state-machine version, and the
# `live` alias (which the schedule and `tidemark rerun` start) points at the
# newest. An execution keeps the definition, so the function versions, it
# started with. Rollback: point the alias at an earlier version
# (docs/aws.md, "Deploys and rollback").

resource "aws_cloudwatch_log_group" "state_machine" {
  #checkov:skip=CKV_AWS_338:Retention is a per-environment choice (var.retention.log_days; the module default and prod keep a year).
  name              = "/aws/vendedlogs/states/${local.name}"
  retention_in_days = var.retention.log_days
  kms_key_id        = aws_kms_key.data.arn
  tags              = local.tags
}

resource "aws_sfn_state_machine" "pipeline" {
  #checkov:skip=CKV_AWS_285:Execution history is logged at level ALL; only the payloads are left out unless var.log_execution_data, because step outputs can quote rejected source values.
  name     = local.name
  type     = "STANDARD"
  role_arn = aws_iam_role.state_machine.arn
  publish  = true

  definition = templatefile("${path.module}/../../../statemachines/daily-pipeline.asl.json", {
    StartReplicationFunctionArn = aws_lambda_function.step["start-replication"].qualified_arn
    ExtractMetadataFunctionArn  = aws_lambda_function.step["extract-metadata"].qualified_arn
    ValidateLandedFunctionArn   = aws_lambda_function.step["validate-landed"].qualified_arn
    MergeHistoryFunctionArn     = aws_lambda_function.step["merge-history"].qualified_arn
    PublishCatalogFunctionArn   = aws_lambda_function.step["publish-catalog"].qualified_arn
    NotifyFunctionArn           = aws_lambda_function.step["notify"].qualified_arn
  })

  logging_configuration {
    log_destination        = "${aws_cloudwatch_log_group.state_machine.arn}:*"
    include_execution_data = var.log_execution_data
    level                  = "ALL"
  }

  tracing_configuration {
    enabled = true
  }

  encryption_configuration {
    type                              = "CUSTOMER_MANAGED_KMS_KEY"
    kms_key_id                        = aws_kms_key.data.arn
    kms_data_key_reuse_period_seconds = 300
  }

  tags = local.tags

  depends_on = [aws_iam_role_policy.state_machine]
}

resource "aws_sfn_alias" "live" {
  name        = "live"
  description = "The version the schedule and manual reruns start: the newest deploy, unless rolled back"

  routing_configuration {
    state_machine_version_arn = aws_sfn_state_machine.pipeline.state_machine_version_arn
    weight                    = 100
  }
}
