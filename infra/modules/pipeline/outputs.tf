output "state_machine_arn" {
  description = "The daily pipeline's `live` alias: the schedule starts it, and `tidemark rerun --state-machine` starts manual executions of it."
  value       = aws_sfn_alias.live.arn
}

output "state_machine_version_arn" {
  description = "The state-machine version this apply published (the alias's target, unless rolled back)."
  value       = aws_sfn_state_machine.pipeline.state_machine_version_arn
}

output "function_names" {
  description = "Lambda function name of each step."
  value       = { for fn, f in aws_lambda_function.step : fn => f.function_name }
}

output "buckets" {
  description = "Bucket names by role: landing (DMS target), lake, results (Athena), artifacts, access_logs."
  value       = { for k, b in local.buckets : k => b.id }
}

output "config_uri" {
  description = "Where the rendered tidemark.toml is."
  value       = "s3://${aws_s3_bucket.artifacts.id}/${local.config_key}"
}

output "kms_key_arn" {
  description = "The customer-managed key that encrypts the pipeline's data, logs and messages."
  value       = aws_kms_key.data.arn
}

output "alert_topic_arn" {
  description = "SNS topic of the alerts (e-mail subscribers confirm by mail)."
  value       = aws_sns_topic.alerts.arn
}

output "replication_arns" {
  description = "DMS replication tasks (instance mode) or replication configs (serverless), by kind of table: cdc, snapshot."
  value       = local.replication_arns
}

output "glue_database" {
  description = "Glue database of the history tables and their _current views."
  value       = aws_glue_catalog_database.history.name
}

output "athena_workgroup" {
  description = "Athena workgroup to query the history in."
  value       = aws_athena_workgroup.this.name
}

output "dashboard_url" {
  description = "The pipeline's CloudWatch dashboard."
  value       = "https://${local.region}.console.aws.amazon.com/cloudwatch/home?region=${local.region}#dashboards:name=${aws_cloudwatch_dashboard.pipeline.dashboard_name}"
}

output "dead_letter_queue_url" {
  description = "Undeliverable schedule starts and alerts wait here."
  value       = aws_sqs_queue.dead_letters.id
}
