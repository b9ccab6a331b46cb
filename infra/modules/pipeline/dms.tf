# DMS: the source endpoint (credentials from Secrets Manager), the S3 target
# endpoint in the format DESIGN.md's readers assume, and per kind of table
# (cdc / snapshot) either a replication task on an instance or a DMS
# Serverless replication config. Nothing is started here: the
# start-replication function starts and resumes them.

locals {
  is_postgres = contains(["postgres", "aurora-postgresql"], var.source_database.engine)
  # Each table's own LobMaxSize, where it has one.
  table_lob_kb = { for t in var.tables : t.name => t.lob_max_kb }

  table_mappings = {
    for kind, spec in local.replications : kind => jsonencode({
      rules = concat(
        [
          for i, table in spec.tables : {
            "rule-type"   = "selection"
            "rule-id"     = tostring(i + 1)
            "rule-name"   = "include-${table}"
            "rule-action" = "include"
            "object-locator" = {
              "schema-name" = var.source_database.schema
              "table-name"  = table
            }
          }
        ],
        [
          {
            # The ordering column DESIGN.md's merge uses to order changes
            # within one commit timestamp.
            "rule-type"   = "transformation"
            "rule-id"     = "1000"
            "rule-name"   = "add-change-seq"
            "rule-target" = "column"
            "rule-action" = "add-column"
            "object-locator" = {
              "schema-name" = var.source_database.schema
              "table-name"  = "%"
            }
            "value"      = var.control_columns.change_seq
            "expression" = "$AR_H_CHANGE_SEQ"
            "data-type"  = { type = "string", length = 50 }
          },
        ],
        [
          # A table whose values run longer than the task's LobMaxSize gets
          # its own limit (an S3 target has limited LOB mode only); the
          # rendered tidemark.toml tells validation the same size.
          for i, table in spec.tables : {
            "rule-type" = "table-settings"
            "rule-id"   = tostring(2000 + i)
            "rule-name" = "lob-${table}"
            "object-locator" = {
              "schema-name" = var.source_database.schema
              "table-name"  = table
            }
            "lob-settings" = {
              mode            = "limited"
              "bulk-max-size" = local.table_lob_kb[table]
            }
          } if local.table_lob_kb[table] != null
        ],
      )
    })
  }

  # Full loads never drop what an earlier load landed (DO_NOTHING): landed
  # files are immutable and a rebuild replays them all.
  replication_settings = jsonencode({
    TargetMetadata = {
      SupportLobs         = true
      FullLobMode         = false
      LobMaxSize          = var.lob_max_kb
      ParallelLoadThreads = 0
    }
    FullLoadSettings = {
      TargetTablePrepMode = "DO_NOTHING"
      MaxFullLoadSubTasks = 8
    }
    # DDL at the source (docs/aws.md, "DDL at the source"): on an S3 target a
    # handled DROP or TRUNCATE deletes the table's landed files, which a
    # rebuild replays, so DMS ignores both (a person reloads the table); an
    # ALTER reaches the files' columns and extract-metadata reports it as drift.
    ChangeProcessingDdlHandlingPolicy = {
      HandleSourceTableDropped   = false
      HandleSourceTableTruncated = false
      HandleSourceTableAltered   = true
    }
    Logging = {
      EnableLogging = true
      LogComponents = [
        for c in ["SOURCE_CAPTURE", "SOURCE_UNLOAD", "TARGET_APPLY", "TARGET_LOAD", "TASK_MANAGER"] :
        { Id = c, Severity = "LOGGER_SEVERITY_DEFAULT" }
      ]
    }
    ErrorBehavior = {
      DataErrorPolicy          = "LOG_ERROR"
      TableErrorPolicy         = "SUSPEND_TABLE"
      RecoverableErrorCount    = -1
      RecoverableErrorInterval = 5
      ApplyErrorDeletePolicy   = "LOG_ERROR"
      ApplyErrorInsertPolicy   = "LOG_ERROR"
      ApplyErrorUpdatePolicy   = "LOG_ERROR"
      FailOnNoTablesCaptured   = true
    }
  })
}

resource "aws_dms_replication_subnet_group" "this" {
  replication_subnet_group_id          = local.name
  replication_subnet_group_description = "${local.name}: where DMS runs"
  subnet_ids                           = var.network.subnet_ids
  tags                                 = local.tags

  depends_on = [aws_iam_role_policy_attachment.dms_vpc]
}

resource "aws_dms_endpoint" "source" {
  endpoint_id                     = "${local.name}-source"
  endpoint_type                   = "source"
  engine_name                     = var.source_database.engine
  database_name                   = var.source_database.database
  secrets_manager_arn             = var.source_database.secret_arn
  secrets_manager_access_role_arn = aws_iam_role.dms_source_secret.arn
  ssl_mode                        = var.source_database.ssl_mode
  kms_key_arn                     = aws_kms_key.data.arn
  tags                            = local.tags

  dynamic "postgres_settings" {
    for_each = local.is_postgres ? [1] : []
    content {
      # Keeps the replication slot's restart LSN moving on quiet sources.
      heartbeat_enable    = true
      heartbeat_frequency = 5
      capture_ddls        = false
    }
  }

  depends_on = [aws_iam_role_policy.dms_source_secret]
}

resource "aws_dms_s3_endpoint" "landing" {
  endpoint_id             = "${local.name}-landing"
  endpoint_type           = "target"
  bucket_name             = aws_s3_bucket.landing.id
  bucket_folder           = local.landing_prefix
  service_access_role_arn = aws_iam_role.dms_target.arn
  expected_bucket_owner   = local.account_id
  kms_key_arn             = aws_kms_key.data.arn

  # The DMS S3 format of DESIGN.md ("Landed data").
  data_format                                 = "parquet"
  parquet_version                             = "parquet-2-0"
  include_op_for_full_load                    = true
  timestamp_column_name                       = var.control_columns.timestamp
  parquet_timestamp_in_millisecond            = false
  use_task_start_time_for_full_load_timestamp = true
  date_partition_enabled                      = true
  date_partition_sequence                     = "YYYYMMDD"
  date_partition_delimiter                    = "SLASH"
  cdc_inserts_and_updates                     = false
  cdc_inserts_only                            = false
  preserve_transactions                       = false
  enable_statistics                           = true
  cdc_max_batch_interval                      = var.replication.cdc_max_batch_interval

  encryption_mode                   = "SSE_KMS"
  server_side_encryption_kms_key_id = aws_kms_key.data.arn

  tags = local.tags

  depends_on = [aws_iam_role_policy.dms_target]
}

# --- instance mode ----------------------------------------------------------

resource "aws_dms_replication_instance" "this" {
  count = var.replication.mode == "instance" ? 1 : 0

  replication_instance_id      = local.name
  replication_instance_class   = var.replication.instance_class
  allocated_storage            = var.replication.allocated_storage_gb
  engine_version               = var.replication.engine_version
  multi_az                     = var.replication.multi_az
  publicly_accessible          = false
  auto_minor_version_upgrade   = true
  apply_immediately            = false
  kms_key_arn                  = aws_kms_key.data.arn
  preferred_maintenance_window = var.replication.preferred_maintenance_window
  replication_subnet_group_id  = aws_dms_replication_subnet_group.this.id
  vpc_security_group_ids       = [aws_security_group.dms.id]
  tags                         = local.tags

  depends_on = [aws_cloudwatch_log_group.dms]
}

resource "aws_dms_replication_task" "this" {
  for_each = var.replication.mode == "instance" ? local.replications : {}

  replication_task_id       = "${local.name}-${each.key}"
  migration_type            = each.value.migration_type
  replication_instance_arn  = aws_dms_replication_instance.this[0].replication_instance_arn
  source_endpoint_arn       = aws_dms_endpoint.source.endpoint_arn
  target_endpoint_arn       = aws_dms_s3_endpoint.landing.endpoint_arn
  table_mappings            = local.table_mappings[each.key]
  replication_task_settings = local.replication_settings
  start_replication_task    = false
  tags                      = local.tags
}

# DMS writes task logs to dms-tasks-<instance id>; created here so it has a
# retention and the pipeline key.
resource "aws_cloudwatch_log_group" "dms" {
  #checkov:skip=CKV_AWS_338:Retention is a per-environment choice (var.retention.log_days; the module default and prod keep a year).
  count             = var.replication.mode == "instance" ? 1 : 0
  name              = "dms-tasks-${local.name}"
  retention_in_days = var.retention.log_days
  kms_key_id        = aws_kms_key.data.arn
  tags              = local.tags
}

# --- serverless mode --------------------------------------------------------

resource "aws_dms_replication_config" "this" {
  for_each = var.replication.mode == "serverless" ? local.replications : {}

  replication_config_identifier = "${local.name}-${each.key}"
  replication_type              = each.value.migration_type
  source_endpoint_arn           = aws_dms_endpoint.source.endpoint_arn
  target_endpoint_arn           = aws_dms_s3_endpoint.landing.endpoint_arn
  table_mappings                = local.table_mappings[each.key]
  replication_settings          = local.replication_settings
  start_replication             = false
  tags                          = local.tags

  compute_config {
    replication_subnet_group_id  = aws_dms_replication_subnet_group.this.id
    vpc_security_group_ids       = [aws_security_group.dms.id]
    min_capacity_units           = var.replication.min_capacity_units
    max_capacity_units           = var.replication.max_capacity_units
    multi_az                     = var.replication.multi_az
    kms_key_id                   = aws_kms_key.data.arn
    preferred_maintenance_window = var.replication.preferred_maintenance_window
  }
}

locals {
  # What start-replication drives, by kind: task ARNs or replication config ARNs.
  replication_arns = var.replication.mode == "instance" ? {
    for kind, task in aws_dms_replication_task.this : kind => task.replication_task_arn
    } : {
    for kind, config in aws_dms_replication_config.this : kind => config.arn
  }
}

# --- network ----------------------------------------------------------------

resource "aws_security_group" "dms" {
  name        = "${local.name}-dms"
  description = "DMS replication: out to the source database and to AWS APIs over TLS"
  vpc_id      = var.network.vpc_id
  tags        = local.tags
}

resource "aws_vpc_security_group_egress_rule" "dms_to_source" {
  for_each          = toset(var.source_database.cidr_blocks)
  security_group_id = aws_security_group.dms.id
  description       = "The source database"
  ip_protocol       = "tcp"
  from_port         = var.source_database.port
  to_port           = var.source_database.port
  cidr_ipv4         = each.value
}

resource "aws_vpc_security_group_egress_rule" "dms_to_aws" {
  for_each                     = local.aws_api_egress
  security_group_id            = aws_security_group.dms.id
  description                  = "AWS APIs (S3, KMS, Secrets Manager) over TLS: ${each.key} (network.tf)"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = each.value.security_group
  prefix_list_id               = each.value.prefix_list
  cidr_ipv4                    = each.value.cidr
}
