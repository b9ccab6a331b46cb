# What the schedules' cadences cost, and a warning (a check, not an error)
# when they could cost more than monthly_budget_usd. The per-run figures are
# the ones docs/aws.md ("What a cadence costs") measured from the runs' cost
# records; tests/infra.rs keeps the two in step and evaluates this file.

locals {
  # USD per run at eu-west-2's prices of 2026-12-04 (docs/cost.md).
  cadence_cost = {
    # start-replication, extract-metadata, notify and the run's own transitions
    run = 0.00028
    # a table with nothing new: validate-landed and three transitions
    idle_table = 0.000099
    # a table that merges a small batch: six transitions, a MERGE at Athena's 10 MB minimum
    busy_table = 0.00029
  }

  # A table's cadence: its own, else frequent for cdc and daily for snapshot
  # tables (as [[tables]] cadence in tidemark.toml).
  frequent_tables = [
    for t in var.tables : t.name
    if coalesce(try(t.cadence, null), try(t.mode, "cdc") == "snapshot" ? "daily" : "frequent") == "frequent"
  ]
  # Each schedule, and how many tables its runs take: the daily run every
  # table, the frequent one the frequent tables.
  priced_schedules = merge(
    { daily = { expression = var.schedule.expression, tables = length(var.tables) } },
    try(var.frequent_schedule.expression, null) == null ? {} : {
      frequent = { expression = var.frequent_schedule.expression, tables = length(local.frequent_tables) }
    },
  )

  rates = { for k, s in local.priced_schedules : k => try(regex("^rate\\((\\d+) (minute|minutes|hour|hours|day|days)\\)$", s.expression), null) }
  crons = { for k, s in local.priced_schedules : k => try(split(" ", regex("^cron\\((.+)\\)$", s.expression)[0]), null) }
  # How many values a cron minute (0) or hour (1) field takes: *, */k or
  # a/k, a-b, a,b,c, a. Day fields are not counted: an estimate on the high side.
  cron_counts = { for k, fields in local.crons : k => fields == null ? null : [
    for f in [{ field = fields[0], size = 60 }, { field = fields[1], size = 24 }] : (
      f.field == "*" ? f.size :
      can(regex("/", f.field)) ? ceil((f.size - tonumber(replace(split("/", f.field)[0], "*", "0"))) / tonumber(split("/", f.field)[1])) :
      can(regex("^\\d+-\\d+$", f.field)) ? tonumber(split("-", f.field)[1]) - tonumber(split("-", f.field)[0]) + 1 :
      length(split(",", f.field))
    )
  ] }
  runs_per_day_of = { for k, s in local.priced_schedules : k => (
    local.rates[k] != null ? (
      startswith(local.rates[k][1], "minute") ? 1440 / tonumber(local.rates[k][0]) :
      startswith(local.rates[k][1], "hour") ? 24 / tonumber(local.rates[k][0]) :
      1 / tonumber(local.rates[k][0])
    ) : local.cron_counts[k] != null ? local.cron_counts[k][0] * local.cron_counts[k][1] : 1
  ) }
  runs_per_day = sum(values(local.runs_per_day_of))
  # Up to: every table merging every run (a table with nothing new costs a third of that).
  monthly_cost_up_to = sum([for k, s in local.priced_schedules : local.runs_per_day_of[k] * 30.4 * (local.cadence_cost.run + s.tables * local.cadence_cost.busy_table)])
  monthly_cost_idle  = sum([for k, s in local.priced_schedules : local.runs_per_day_of[k] * 30.4 * (local.cadence_cost.run + s.tables * local.cadence_cost.idle_table)])
  cadence_summary    = join("; ", [for k, s in local.priced_schedules : format("%s (%s): %d table(s), about %v run(s) a day", k, s.expression, s.tables, local.runs_per_day_of[k])])
}

check "cadence_within_budget" {
  assert {
    condition     = var.monthly_budget_usd == null ? true : local.monthly_cost_up_to <= var.monthly_budget_usd
    error_message = format("The schedules start about %v runs a day: %s. That is $%.2f a month if no table has anything new, and up to $%.2f if every table merges every run (Step Functions, Lambda, S3, Athena; DMS and the tables' own scans are extra; docs/aws.md, \"What a cadence costs\"). That is more than monthly_budget_usd = %.2f. Lower the cadence, move tables to the daily cadence, or raise the budget.", local.runs_per_day, local.cadence_summary, local.monthly_cost_idle, local.monthly_cost_up_to, var.monthly_budget_usd == null ? 0 : var.monthly_budget_usd)
  }
}
