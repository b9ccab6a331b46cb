# What differs from one source database to the next. Put the values in
# <SOURCE>.tfvars (or terraform.tfvars); see terraform.tfvars.example.

variable "region" {
  description = "AWS region of the pipeline (the source's region, usually)."
  type        = string
}

variable "pipeline_name" {
  description = "Short name of the pipeline, usually the source database's (see the module's variable)."
  type        = string
}

variable "source_database" {
  description = "The source: engine, host, port, database, schema, credentials secret (see the module's variable)."
  type = object({
    engine             = string
    host               = string
    port               = number
    database           = string
    schema             = optional(string, "public")
    secret_arn         = string
    secret_kms_key_arn = optional(string)
    ssl_mode           = optional(string, "verify-full")
    cidr_blocks        = list(string)
  })
}

variable "history_database" {
  description = "Glue database of the history tables."
  type        = string
}

variable "metadata_dir" {
  description = "Folder of the tables' metadata documents (<table>.json), relative to this root."
  type        = string
}

variable "tables" {
  description = "Tables to replicate (see the module's variable)."
  type = list(object({
    name                = string
    mode                = optional(string, "cdc")
    on_invalid          = optional(string, "fail")
    max_delete_fraction = optional(number, 0.5)
  }))
}

variable "network" {
  description = "VPC and private subnets (two or more) for DMS and the functions, and how they reach the AWS APIs (the module's network variable)."
  type = object({
    vpc_id                     = string
    subnet_ids                 = list(string)
    aws_api_access             = optional(string, "endpoints")
    create_endpoints           = optional(bool, true)
    route_table_ids            = optional(list(string), [])
    endpoint_security_group_id = optional(string)
  })
}

variable "alert_emails" {
  description = "Alert recipients."
  type        = list(string)
}

variable "slack" {
  description = "Optional AWS Chatbot Slack channel: workspace and channel ids."
  type = object({
    workspace_id = string
    channel_id   = string
  })
  default = null
}

variable "schedule_timezone" {
  description = "IANA time zone of the daily run."
  type        = string
  default     = "Etc/UTC"
}

variable "create_dms_service_roles" {
  description = "Create dms-vpc-role and dms-cloudwatch-logs-role (once per account)."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Extra tags for every resource."
  type        = map(string)
  default     = {}
}

variable "lambda_architecture" {
  description = "The instruction set of the Lambda zips: arm64 or x86_64 (make plan/deploy pass LAMBDA_ARCH)."
  type        = string
  default     = "arm64"
}
