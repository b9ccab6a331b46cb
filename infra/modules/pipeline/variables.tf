# ---------------------------------------------------------------------------
# What is replicated
# ---------------------------------------------------------------------------

variable "environment" {
  description = "Deployment stage: dev, preprod or prod. Part of every resource name."
  type        = string

  validation {
    condition     = contains(["dev", "preprod", "prod"], var.environment)
    error_message = "environment must be one of dev, preprod, prod."
  }
}

variable "pipeline_name" {
  description = "Short name of this pipeline, usually the source database's (e.g. \"shop\"). Resource names are tidemark-<pipeline_name>-<environment>-…, so keep it short."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,19}$", var.pipeline_name))
    error_message = "pipeline_name must be 2-20 characters of lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "source_database" {
  description = <<-EOT
    The operational database DMS replicates. The credentials secret must hold the
    keys DMS reads (username, password, host, port); host and port are repeated
    here for the network rules and the metadata reader.
  EOT
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
    # The RDS instance (not Aurora's cluster) the source is, for the
    # source-health alarms; null when it is not RDS.
    rds_instance_id = optional(string)
  })

  validation {
    condition     = contains(["postgres", "aurora-postgresql", "mysql", "aurora", "mariadb", "oracle", "sqlserver"], var.source_database.engine)
    error_message = "source_database.engine must be a DMS source engine: postgres, aurora-postgresql, mysql, aurora, mariadb, oracle or sqlserver."
  }
  validation {
    condition     = var.source_database.port > 0 && var.source_database.port < 65536
    error_message = "source_database.port must be a TCP port (1-65535)."
  }
  validation {
    condition     = can(regex("^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+$", var.source_database.secret_arn))
    error_message = "source_database.secret_arn must be the ARN of a Secrets Manager secret."
  }
  validation {
    condition     = var.source_database.secret_kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:", coalesce(var.source_database.secret_kms_key_arn, "x")))
    error_message = "source_database.secret_kms_key_arn must be a KMS key ARN (or null when the secret uses the AWS managed key)."
  }
  validation {
    condition     = contains(["none", "require", "verify-ca", "verify-full"], var.source_database.ssl_mode)
    error_message = "source_database.ssl_mode must be none, require, verify-ca or verify-full."
  }
  validation {
    condition     = length(var.source_database.cidr_blocks) > 0 && alltrue([for c in var.source_database.cidr_blocks : can(cidrhost(c, 0))])
    error_message = "source_database.cidr_blocks must list the source's address ranges (CIDR notation): DMS and the metadata reader may connect only there."
  }
}

variable "history_database" {
  description = "Glue database (and Athena schema) of the history tables; also [source] database in the pipeline's tidemark.toml."
  type        = string

  validation {
    condition     = can(regex("^[a-z_][a-z0-9_]{0,127}$", var.history_database))
    error_message = "history_database must be a lowercase identifier (letters, digits, underscores)."
  }
}

variable "tables" {
  description = "The tables to replicate and keep history of. mode: cdc (full load, then changes) or snapshot (full extracts only); on_invalid: fail or continue; max_delete_fraction: snapshot tables' guard against a truncated extract; lob_max_kb: this table's DMS LobMaxSize when its text or binary values run longer than lob_max_kb (a table-settings rule; null: lob_max_kb); cadence: frequent or daily, which scheduled runs take it (null: frequent for cdc, daily for snapshot tables; docs/freshness.md)."
  type = list(object({
    name                = string
    mode                = optional(string, "cdc")
    on_invalid          = optional(string, "fail")
    max_delete_fraction = optional(number, 0.5)
    lob_max_kb          = optional(number)
    cadence             = optional(string)
  }))

  validation {
    condition     = length(var.tables) > 0
    error_message = "tables must name at least one table."
  }
  validation {
    condition     = alltrue([for t in var.tables : can(regex("^[a-z_][a-z0-9_]*$", t.name))])
    error_message = "Each table name must be a lowercase identifier."
  }
  validation {
    condition     = length(distinct([for t in var.tables : t.name])) == length(var.tables)
    error_message = "A table is listed twice."
  }
  validation {
    condition     = alltrue([for t in var.tables : contains(["cdc", "snapshot"], t.mode) && contains(["fail", "continue"], t.on_invalid)])
    error_message = "Each table's mode must be cdc or snapshot, and on_invalid fail or continue."
  }
  validation {
    condition     = alltrue([for t in var.tables : t.cadence == null || contains(["frequent", "daily"], coalesce(t.cadence, "daily"))])
    error_message = "Each table's cadence must be frequent, daily or null (frequent for cdc, daily for snapshot tables)."
  }
  validation {
    condition     = alltrue([for t in var.tables : t.max_delete_fraction >= 0 && t.max_delete_fraction <= 1])
    error_message = "max_delete_fraction must be between 0 and 1."
  }
  validation {
    condition     = alltrue([for t in var.tables : t.lob_max_kb == null || try(t.lob_max_kb >= 1 && floor(t.lob_max_kb) == t.lob_max_kb, false)])
    error_message = "A table's lob_max_kb must be a whole number of KB, at least 1."
  }
}

variable "control_columns" {
  description = "Names of the columns DMS adds: the commit timestamp (TimestampColumnName) and the change sequence (added from $AR_H_CHANGE_SEQ). Defaults follow the Ministry of Justice's DMS module."
  type = object({
    timestamp  = optional(string, "extraction_timestamp")
    change_seq = optional(string, "scn")
  })
  default = {}

  validation {
    condition     = can(regex("^[a-z_][a-z0-9_]*$", var.control_columns.timestamp)) && can(regex("^[a-z_][a-z0-9_]*$", var.control_columns.change_seq))
    error_message = "Control column names must be lowercase identifiers."
  }
}

# ---------------------------------------------------------------------------
# Where it runs
# ---------------------------------------------------------------------------

variable "network" {
  description = "The VPC the replication and the functions run in: private subnets (two or more, in different AZs) that reach the source. aws_api_access says how they reach the AWS APIs: \"endpoints\" (the default: VPC endpoints, created here unless create_endpoints = false, when endpoint_security_group_id names the existing interface endpoints' group; route_table_ids are the subnets' route tables, for the S3 gateway endpoint) or \"nat\" (the subnets route through NAT; egress on 443 is then open to any address). See docs/aws.md, \"Network\"."
  type = object({
    vpc_id                     = string
    subnet_ids                 = list(string)
    aws_api_access             = optional(string, "endpoints")
    create_endpoints           = optional(bool, true)
    route_table_ids            = optional(list(string), [])
    endpoint_security_group_id = optional(string)
  })

  validation {
    condition     = length(var.network.subnet_ids) >= 2
    error_message = "network.subnet_ids needs at least two subnets in different availability zones (DMS requires it)."
  }
  validation {
    condition     = contains(["endpoints", "nat"], var.network.aws_api_access)
    error_message = "network.aws_api_access must be \"endpoints\" or \"nat\"."
  }
  validation {
    condition     = var.network.aws_api_access != "endpoints" || !var.network.create_endpoints || length(var.network.route_table_ids) > 0
    error_message = "network.route_table_ids must name the private subnets' route tables: the S3 gateway endpoint is added to them."
  }
  validation {
    condition     = var.network.aws_api_access != "endpoints" || var.network.create_endpoints || var.network.endpoint_security_group_id != null
    error_message = "network.endpoint_security_group_id must name the existing interface endpoints' security group when create_endpoints = false."
  }
}

variable "lambda_package_dir" {
  description = "Folder of the zips `make build` writes: <dir>/<function>/bootstrap.zip."
  type        = string
}

variable "metadata_dir" {
  description = "Folder of the tables' metadata documents (mojap-metadata, <table>.json) and of the catalog's overrides (overrides/<table>.json). What metadata_from reads is uploaded to the lake's metadata-source/ prefix (TIDEMARK_METADATA_SOURCE)."
  type        = string
}

variable "metadata_from" {
  description = "Where extract-metadata reads each table's metadata: catalog (the source database's, over TLS with the DMS secret; postgres and aurora-postgresql) or documents (metadata_dir/<table>.json)."
  type        = string
  default     = "catalog"

  validation {
    condition     = contains(["catalog", "documents"], var.metadata_from)
    error_message = "metadata_from must be catalog or documents."
  }
  validation {
    condition     = var.metadata_from == "documents" || contains(["postgres", "aurora-postgresql"], var.source_database.engine)
    error_message = "metadata_from = \"catalog\" reads PostgreSQL catalogs (postgres, aurora-postgresql); for another engine use metadata_from = \"documents\"."
  }
}

variable "lambda_architecture" {
  description = "The instruction set the zips were built for: arm64 (make build's default) or x86_64 (make build LAMBDA_ARCH=x86_64)."
  type        = string
  default     = "arm64"

  validation {
    condition     = contains(["arm64", "x86_64"], var.lambda_architecture)
    error_message = "lambda_architecture must be arm64 or x86_64."
  }
}

# ---------------------------------------------------------------------------
# When and how loud
# ---------------------------------------------------------------------------

variable "schedule" {
  description = "When runs start: an EventBridge Scheduler cron(...) or rate(...) expression (daily by default; rate(15 minutes) for a frequent cadence, docs/freshness.md) in the given IANA time zone, retries of the start, and whether it is enabled."
  type = object({
    expression            = optional(string, "cron(0 6 * * ? *)")
    timezone              = optional(string, "Etc/UTC")
    enabled               = optional(bool, true)
    retry_attempts        = optional(number, 3)
    max_event_age_seconds = optional(number, 3600)
  })
  default = {}

  validation {
    condition     = can(regex("^(cron|rate)\\(.+\\)$", var.schedule.expression))
    error_message = "schedule.expression must be a cron(...) or rate(...) expression."
  }
  validation {
    condition     = var.schedule.retry_attempts >= 0 && var.schedule.retry_attempts <= 185 && var.schedule.max_event_age_seconds >= 60 && var.schedule.max_event_age_seconds <= 86400
    error_message = "schedule.retry_attempts must be 0-185 and schedule.max_event_age_seconds 60-86400."
  }
}

variable "frequent_schedule" {
  description = "A second schedule for the frequent tables (docs/freshness.md, \"Two cadences\"): its runs start with {\"cadence\": \"frequent\"} and take only the tables whose cadence is frequent, reading each table's metadata at most every metadata_every_minutes unless DMS's DDL log names it. null expression: no frequent schedule; the daily schedule runs every table."
  type = object({
    expression             = optional(string)
    enabled                = optional(bool, true)
    metadata_every_minutes = optional(number, 60)
  })
  default = {}

  validation {
    condition     = var.frequent_schedule.expression == null || can(regex("^(cron|rate)\\(.+\\)$", coalesce(var.frequent_schedule.expression, "x")))
    error_message = "frequent_schedule.expression must be a cron(...) or rate(...) expression, or null."
  }
  validation {
    condition     = var.frequent_schedule.metadata_every_minutes >= 1
    error_message = "frequent_schedule.metadata_every_minutes must be at least 1."
  }
}

variable "alert_emails" {
  description = "Addresses subscribed to the alert topic (each confirms by e-mail)."
  type        = list(string)

  validation {
    condition     = alltrue([for e in var.alert_emails : can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", e))])
    error_message = "alert_emails must be e-mail addresses."
  }
}

variable "lob_max_kb" {
  description = "DMS's LobMaxSize in limited LOB mode (KB): longer LOB values (text, bytea, json…) are cut silently, so validation reports a value of exactly this size as truncated ([source] lob_max_kb)."
  type        = number
  default     = 64

  validation {
    condition     = var.lob_max_kb >= 1 && floor(var.lob_max_kb) == var.lob_max_kb
    error_message = "lob_max_kb must be a whole number of KB, at least 1."
  }
}

variable "email_non_prod" {
  description = "Also e-mail alert_emails outside prod. Off by default: only prod failures page; dev and preprod alerts go to a notifications topic (and its Slack channel) that nobody is paged from."
  type        = bool
  default     = false
}

variable "alert_on_success" {
  description = "Also send a summary when every table succeeded."
  type        = bool
  default     = false
}

variable "erasure" {
  description = "Erasure (`tidemark forget`, docs/erasure.md). rewrite_landed: also rewrite DMS's landed files without a forgotten data subject's rows, which lets merge-history write the landing objects. Off by default: the landed files are the record a rebuild replays, and the erasure log keeps forgotten keys out of everything validated from them."
  type = object({
    rewrite_landed = optional(bool, false)
  })
  default = {}
}

variable "slack" {
  description = "Optional Slack delivery through AWS Chatbot: the workspace id (authorise the workspace in the Chatbot console once per account) and the channel id."
  type = object({
    workspace_id = string
    channel_id   = string
  })
  default = null
}

variable "alarm_thresholds" {
  description = "CloudWatch alarm thresholds: DMS CDC latency (seconds); Lambda errors per 5 minutes; a function's longest invocation as a fraction of its timeout; hours without a successful merge of a table before it is stale (26: a daily schedule and two hours' grace); on an RDS source, the replication slot's lag and the transaction logs' disk use (GiB) before the source's own disk is at risk."
  type = object({
    cdc_latency_seconds       = optional(number, 900)
    lambda_errors             = optional(number, 1)
    duration_fraction         = optional(number, 0.8)
    freshness_hours           = optional(number, 26)
    replication_slot_lag_gib  = optional(number, 10)
    transaction_logs_disk_gib = optional(number, 20)
  })
  default = {}

  validation {
    condition     = var.alarm_thresholds.duration_fraction > 0 && var.alarm_thresholds.duration_fraction <= 1
    error_message = "alarm_thresholds.duration_fraction must be in (0, 1]."
  }
  validation {
    condition     = var.alarm_thresholds.freshness_hours >= 1 && var.alarm_thresholds.freshness_hours <= 168 && floor(var.alarm_thresholds.freshness_hours) == var.alarm_thresholds.freshness_hours
    error_message = "alarm_thresholds.freshness_hours must be a whole number of hours from 1 to 168 (CloudWatch evaluates at most 7 days)."
  }
}

variable "monthly_budget_usd" {
  description = "An AWS Budgets cost budget for this pipeline's resources (by its tidemark:pipeline cost-allocation tag, which must be activated in Billing), alerting on the alert topic at 80% of actual and 100% of forecast monthly spend. null: no budget."
  type        = number
  default     = null
}

# ---------------------------------------------------------------------------
# Sizing and retention
# ---------------------------------------------------------------------------

variable "replication" {
  description = "How DMS runs: a replication instance with tasks (mode = \"instance\") or DMS Serverless replication configs (mode = \"serverless\")."
  type = object({
    mode                         = optional(string, "instance")
    instance_class               = optional(string, "dms.t3.medium")
    allocated_storage_gb         = optional(number, 50)
    engine_version               = optional(string)
    multi_az                     = optional(bool, false)
    min_capacity_units           = optional(number, 1)
    max_capacity_units           = optional(number, 4)
    preferred_maintenance_window = optional(string, "sun:02:00-sun:04:00")
    cdc_max_batch_interval       = optional(number, 60)
  })
  default = {}

  validation {
    condition     = contains(["instance", "serverless"], var.replication.mode)
    error_message = "replication.mode must be instance or serverless."
  }
  validation {
    condition     = var.replication.min_capacity_units >= 1 && var.replication.max_capacity_units >= var.replication.min_capacity_units
    error_message = "replication capacity units: min must be at least 1 and max at least min."
  }
}

variable "functions" {
  description = "Per-function memory (MB), timeout (s) and reserved concurrency; keys are function names, missing ones keep the defaults. reserved_concurrency = -1 leaves a function unreserved."
  type = map(object({
    memory_mb            = optional(number)
    timeout_seconds      = optional(number)
    reserved_concurrency = optional(number)
  }))
  default = {}

  validation {
    condition     = alltrue([for k in keys(var.functions) : contains(["start-replication", "extract-metadata", "validate-landed", "merge-history", "publish-catalog", "notify"], k)])
    error_message = "functions keys must be function names: start-replication, extract-metadata, validate-landed, merge-history, publish-catalog, notify."
  }
  validation {
    condition     = alltrue([for f in values(var.functions) : (f.memory_mb == null || (coalesce(f.memory_mb, 128) >= 128 && coalesce(f.memory_mb, 128) <= 10240)) && (f.timeout_seconds == null || (coalesce(f.timeout_seconds, 1) >= 1 && coalesce(f.timeout_seconds, 1) <= 900))])
    error_message = "memory_mb must be 128-10240 and timeout_seconds 1-900."
  }
}

variable "athena_bytes_scanned_cutoff" {
  description = "Largest number of bytes one Athena query may scan before it is cancelled (at least 10 MB)."
  type        = number
  default     = 107374182400

  validation {
    condition     = var.athena_bytes_scanned_cutoff >= 10485760
    error_message = "athena_bytes_scanned_cutoff must be at least 10485760 (10 MB), Athena's minimum."
  }
}

variable "retention" {
  description = "Days to keep things: CloudWatch logs; noncurrent object versions; Athena results; access logs; landed files before they move to infrequent-access storage (they are never deleted: a rebuild replays them); a landed file's overwritten or erased versions (DMS wants them expired, and an erasure's rewrite must not keep the old file for long)."
  type = object({
    log_days                = optional(number, 365)
    noncurrent_days         = optional(number, 90)
    athena_results_days     = optional(number, 30)
    access_log_days         = optional(number, 365)
    landing_ia_days         = optional(number, 90)
    landing_noncurrent_days = optional(number, 30)
  })
  default = {}

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.retention.log_days)
    error_message = "retention.log_days must be a CloudWatch Logs retention value (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)."
  }
  validation {
    condition     = var.retention.landing_ia_days >= 30
    error_message = "retention.landing_ia_days must be at least 30 (S3's minimum before STANDARD_IA)."
  }
}

# ---------------------------------------------------------------------------
# Account-level and safety switches
# ---------------------------------------------------------------------------

variable "create_dms_service_roles" {
  description = "Create the account-wide roles DMS expects by name (dms-vpc-role, dms-cloudwatch-logs-role). Exactly one stack per account should; set false when another pipeline or the platform team already created them."
  type        = bool
  default     = false
}

variable "kms_admin_arns" {
  description = "IAM principals that administer the pipeline's KMS key (besides the account root, which always can)."
  type        = list(string)
  default     = []
}

variable "log_execution_data" {
  description = "Include execution input and output in the state machine's logs. Off by default: alerts already carry what failed, and outputs may quote rejected values."
  type        = bool
  default     = false
}

variable "force_destroy" {
  description = "Allow `terraform destroy` to empty the buckets, and anyone to delete landed files. dev only: the landing bucket holds the only copy of the raw changes."
  type        = bool
  default     = false

  validation {
    condition     = !var.force_destroy || var.environment == "dev"
    error_message = "force_destroy is for dev only: preprod and prod keep their landed files."
  }
}

variable "tags" {
  description = "Tags added to every resource (on top of the provider's default_tags)."
  type        = map(string)
  default     = {}
}
