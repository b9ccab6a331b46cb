# What the schedule's cadence costs, and a warning (a check, not an error)
# when it could cost more than monthly_budget_usd. The per-run figures are
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

  schedule_rate = try(regex("^rate\\((\\d+) (minute|minutes|hour|hours|day|days)\\)$", var.schedule.expression), null)
  cron_fields   = try(split(" ", regex("^cron\\((.+)\\)$", var.schedule.expression)[0]), null)
  # How many values a cron minute (0) or hour (1) field takes: *, */k or
  # a/k, a-b, a,b,c, a. Day fields are not counted: an estimate on the high side.
  cron_counts = local.cron_fields == null ? null : [
    for f in [{ field = local.cron_fields[0], size = 60 }, { field = local.cron_fields[1], size = 24 }] : (
      f.field == "*" ? f.size :
      can(regex("/", f.field)) ? ceil((f.size - tonumber(replace(split("/", f.field)[0], "*", "0"))) / tonumber(split("/", f.field)[1])) :
      can(regex("^\\d+-\\d+$", f.field)) ? tonumber(split("-", f.field)[1]) - tonumber(split("-", f.field)[0]) + 1 :
      length(split(",", f.field))
    )
  ]
  runs_per_day = (
    local.schedule_rate != null ? (
      startswith(local.schedule_rate[1], "minute") ? 1440 / tonumber(local.schedule_rate[0]) :
      startswith(local.schedule_rate[1], "hour") ? 24 / tonumber(local.schedule_rate[0]) :
      1 / tonumber(local.schedule_rate[0])
    ) : local.cron_counts != null ? local.cron_counts[0] * local.cron_counts[1] : 1
  )
  # Up to: every table merging every run (a table with nothing new costs a third of that).
  monthly_cost_up_to = local.runs_per_day * 30.4 * (local.cadence_cost.run + length(var.tables) * local.cadence_cost.busy_table)
  monthly_cost_idle  = local.runs_per_day * 30.4 * (local.cadence_cost.run + length(var.tables) * local.cadence_cost.idle_table)
}

check "cadence_within_budget" {
  assert {
    condition     = var.monthly_budget_usd == null ? true : local.monthly_cost_up_to <= var.monthly_budget_usd
    error_message = format("The schedule %s starts about %d runs a day. With %d table(s) that is $%.2f a month if no table has anything new, and up to $%.2f if every table merges every run (Step Functions, Lambda, S3, Athena; DMS and the tables' own scans are extra; docs/aws.md, \"What a cadence costs\"). That is more than monthly_budget_usd = %.2f. Lower the cadence, move snapshot tables to a daily pipeline, or raise the budget.", var.schedule.expression, local.runs_per_day, length(var.tables), local.monthly_cost_idle, local.monthly_cost_up_to, var.monthly_budget_usd == null ? 0 : var.monthly_budget_usd)
  }
}
