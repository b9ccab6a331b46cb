output "state_machine_arn" {
  description = "The daily pipeline."
  value       = module.pipeline.state_machine_arn
}

output "buckets" {
  description = "Bucket names by role."
  value       = module.pipeline.buckets
}

output "alert_topic_arn" {
  description = "Alert topic."
  value       = module.pipeline.alert_topic_arn
}

output "athena_workgroup" {
  description = "Athena workgroup to query the history in."
  value       = module.pipeline.athena_workgroup
}

output "dashboard_url" {
  description = "CloudWatch dashboard."
  value       = module.pipeline.dashboard_url
}
