"""`make bench-peers`: tidemark beside dbt snapshots (dbt-duckdb) and dlt's
`scd2` merge, on the same SCD2 work, side by side (docs/merge.md, "How it
compares").

The snapshot workload is one table of `--keys` accounts extracted in full
once a day for `--days` days (seeded): each day after the first updates
`--update-share` of the keys, deletes `--churn` of them and inserts
`--churn` new ones. Each tool keeps the table's history in a DuckDB file
from a clean destination, invoked once per day as a user's schedule would:

- tidemark: `tidemark run --landing landing` after the harness has put the
  day's DMS full-load file where DMS would land it (a snapshot-mode table);
- dbt: `dbt snapshot` (check strategy, all columns, hard deletes
  invalidated) reading the day's Parquet file;
- dlt: a pipeline run with the day's file as an Arrow table, `merge` /
  `scd2`, with the rows' `version` column as the row version (dlt's fastest
  documented configuration: no row hashing).

The CDC workload (tidemark and dlt; a dbt snapshot reads a table's state,
not its changes) is a full load of `--keys` accounts, then `--cdc-changes`
change rows over `--days` days as DMS writes them: tidemark reads them as
CDC files of a cdc-mode table; dlt loads each day's changes with `scd2`
scoped to the keys the day touches (`destination_scope`), deletes filtered
out of the rows it inserts (`source_filter`).

Each tool runs `--repeats` times, interleaved; the table shows the median
wall time of the whole schedule, the largest peak RSS of one invocation, and
the history's rows and current rows, each checked against what the workload
implies; under it, where tidemark's median run spent its time, step by
step, from the usage records its steps write. Figures go to
`target/bench/peers.json`.
"""

import argparse
import collections
import datetime as dt
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
START = dt.datetime(2026, 11, 1, 5, 0, 0)
STATUSES = ["active", "dormant", "closed", "review"]


class Accounts:
    """The source table's rows, keyed by account id: [name, email, balance,
    status, version]. `version` is the source's row version, unique across
    the table (as SQL Server's rowversion or a sequence-fed column): a new
    one per change."""

    def __init__(self, keys: int, rng: random.Random):
        self.rng = rng
        self.counter = 0
        self.rows = {k: self.new(k) for k in range(1, keys + 1)}
        self.next_key = keys + 1

    def new(self, k):
        self.counter += 1
        return [f"name {k}", f"user{k}@example.org", self.rng.randrange(0, 10_000_000), self.rng.choice(STATUSES), self.counter]

    def update(self, k):
        self.counter += 1
        self.rows[k][2:5] = [self.rng.randrange(0, 10_000_000), self.rng.choice(STATUSES), self.counter]
        return k

    def insert(self):
        k = self.next_key
        self.next_key += 1
        self.rows[k] = self.new(k)
        return k

    def table(self):
        keys = sorted(self.rows)
        return source_table(keys, [self.rows[k] for k in keys])


def source_table(keys, rows, extra=None):
    """An Arrow table of the source's columns, `extra` columns first."""
    columns = dict(extra or {})
    columns["account_id"] = pa.array(keys, pa.int64())
    for i, (name, kind) in enumerate([("name", pa.string()), ("email", pa.string()), ("balance", pa.int64()),
                                      ("status", pa.string()), ("version", pa.int64())]):
        columns[name] = pa.array([r[i] for r in rows], kind)
    return pa.table(columns)


def expectations(keys, changes, live):
    """What each tool's history must hold: an update adds a version; a delete
    closes one (tidemark also writes a delete row); an insert adds one."""
    versions = keys + changes["updates"] + changes["inserts"]
    return {
        "current_rows": live,
        "history_rows": {"tidemark": versions + changes["deletes"], "dbt": versions, "dlt": versions},
    }


def generate(out: Path, keys: int, days: int, update_share: float, churn: int, seed: int):
    """The snapshot workload: one Parquet extract per day (`day-N.parquet`,
    the source's columns) and what each tool's history must hold."""
    accounts = Accounts(keys, random.Random(seed))
    rng = accounts.rng
    changes = {"updates": 0, "deletes": 0, "inserts": 0}
    files = []
    for day in range(days):
        if day > 0:
            live = list(accounts.rows)
            rng.shuffle(live)
            deleted, updated = live[:churn], live[churn:churn + int(len(live) * update_share)]
            for k in updated:
                accounts.update(k)
            for k in deleted:
                del accounts.rows[k]
            for _ in range(churn):
                accounts.insert()
            changes["updates"] += len(updated)
            changes["deletes"] += len(deleted)
            changes["inserts"] += churn
        path = out / f"day-{day + 1}.parquet"
        pq.write_table(accounts.table(), path)
        files.append(path)
    return files, changes, expectations(keys, changes, len(accounts.rows))


def generate_cdc(out: Path, keys: int, days: int, change_rows: int, churn: int, seed: int):
    """The CDC workload: a full load (`day-0.parquet`), then `days` days of
    `change_rows / days` changes each (`day-N.parquet`: `op`, the commit
    time, a DMS-style change sequence, then the source's columns; deletes
    carry the before-image), each key at most once a day, in commit order."""
    accounts = Accounts(keys, random.Random(seed))
    rng = accounts.rng
    per_day = change_rows // days
    changes = {"updates": 0, "deletes": 0, "inserts": 0}
    files = [out / "day-0.parquet"]
    pq.write_table(accounts.table(), files[0])
    seq = 0
    for day in range(1, days + 1):
        live = list(accounts.rows)
        updates = per_day - 2 * churn
        if updates < 0 or updates + churn > len(live):
            sys.exit(f"--cdc-changes {change_rows} does not fit {len(live)} keys and --churn {churn}")
        rng.shuffle(live)
        deleted, updated = live[:churn], live[churn:churn + updates]
        ops = ["D"] * churn + ["U"] * updates + ["I"] * churn
        rng.shuffle(ops)
        deletes, updates_left = iter(deleted), iter(updated)
        opened = START + dt.timedelta(days=day)
        touched, images, stamps, seqs = [], [], [], []
        for i, op in enumerate(ops):
            if op == "D":
                k = next(deletes)
                images.append(accounts.rows.pop(k))
            else:
                k = accounts.update(next(updates_left)) if op == "U" else accounts.insert()
                images.append(list(accounts.rows[k]))
            seq += 1
            touched.append(k)
            stamps.append((opened + dt.timedelta(microseconds=i * (86_000_000_000 // per_day))).strftime("%Y-%m-%d %H:%M:%S.%f"))
            seqs.append(f"{seq:020d}")
        path = out / f"day-{day}.parquet"
        pq.write_table(source_table(touched, images, {
            "op": pa.array(ops, pa.string()),
            "extraction_timestamp": pa.array(stamps, pa.string()),
            "scn": pa.array(seqs, pa.string()),
        }), path)
        files.append(path)
        changes["updates"] += updates
        changes["deletes"] += churn
        changes["inserts"] += churn
    return files, changes, expectations(keys, changes, len(accounts.rows))


METADATA = {
    "name": "accounts",
    "description": "The peers benchmark's accounts, extracted in full each day.",
    "file_format": "parquet",
    "primary_key": ["account_id"],
    "partitions": [],
    "columns": [
        {"name": "account_id", "type": "int64", "nullable": False, "description": "Key."},
        {"name": "name", "type": "string", "nullable": False, "description": "Name."},
        {"name": "email", "type": "string", "nullable": False, "description": "E-mail."},
        {"name": "balance", "type": "int64", "nullable": False, "description": "Balance in pence."},
        {"name": "status", "type": "string", "nullable": False, "description": "Status."},
        {"name": "version", "type": "int64", "nullable": False, "description": "Row version at the source, unique across the table."},
    ],
}


def day_date(day: int) -> dt.date:
    return (START + dt.timedelta(days=day)).date()


def prepare_tidemark(work: Path, files, mode: str):
    """Each day's DMS files under `days/<day>/` (as DMS lands them; moved
    into `landing/` before that day's run, as the peers are handed the day's
    file), metadata and a config. A snapshot extract and the CDC workload's
    first file become full-load files (the load time and an empty change-seq
    before the columns); a CDC day's file is landed as it is, named by its
    first commit time."""
    for day, path in enumerate(files):
        table = pq.read_table(path)
        folder = work / "days" / day_date(day).isoformat() / "public" / "accounts"
        folder.mkdir(parents=True)
        if "op" in table.column_names:
            opened = START + dt.timedelta(days=day)
            pq.write_table(table, folder / opened.strftime("%Y%m%d-%H%M%S000.parquet"))
            continue
        stamp = (START + dt.timedelta(days=day)).strftime("%Y-%m-%d %H:%M:%S.%f")
        table = table.add_column(0, "scn", pa.nulls(table.num_rows, pa.string()))
        table = table.add_column(0, "extraction_timestamp", pa.array([stamp] * table.num_rows, pa.string()))
        pq.write_table(table, folder / "LOAD00000001.parquet")
    (work / "metadata").mkdir()
    (work / "metadata" / "accounts.json").write_text(json.dumps(METADATA))
    table = f'name = "accounts"\nmode = "{mode}"\n' + ("max_delete_fraction = 0.5\n" if mode == "snapshot" else "")
    (work / "tidemark.toml").write_text(
        '[source]\ndatabase = "bench"\nschema = "public"\n\n'
        '[source.control_columns]\nop = "op"\ntimestamp = "extraction_timestamp"\nchange_seq = "scn"\n\n'
        f'[[tables]]\n{table}\n'
        '[alerts]\non_success = false\n\n'
        '[local]\nmetadata_dir = "metadata"\nlake = "lake"\n'
    )


def land_day(work: Path, day: int):
    """What DMS does before a day's run: the day's files into the landing
    area (a full load's file replaces the one before it)."""
    landed = work / "days" / day_date(day).isoformat()
    for path in landed.rglob("*.parquet"):
        target = work / "landing" / path.relative_to(landed)
        target.parent.mkdir(parents=True, exist_ok=True)
        path.replace(target)


def prepare_dbt(work: Path):
    (work / "snapshots").mkdir(parents=True)
    (work / "dbt_project.yml").write_text(
        "name: peers\nversion: '1.0'\nconfig-version: 2\nprofile: peers\nsnapshot-paths: [snapshots]\n"
    )
    (work / "profiles.yml").write_text(
        f"peers:\n  target: bench\n  outputs:\n    bench:\n      type: duckdb\n      path: {work / 'history.duckdb'}\n      threads: 1\n"
    )
    (work / "snapshots" / "accounts.sql").write_text(
        "{% snapshot accounts_history %}\n"
        "{{ config(target_schema='snapshots', unique_key='account_id', strategy='check', check_cols='all', hard_deletes='invalidate') }}\n"
        "select * from read_parquet('{{ var(\"day_file\") }}')\n"
        "{% endsnapshot %}\n"
    )


DLT_DAY = """
import sys
import dlt
import pyarrow as pa
import pyarrow.parquet as pq

day = pq.read_table(sys.argv[1])
if sys.argv[4] == "snapshot":
    # A full extract: rows absent from it are retired.
    disposition = {}
else:
    # Changes: an update's or insert's row opens a version; every key in the
    # load (a delete's too) retires its active version. No delete row.
    if "op" not in day.column_names:
        day = day.add_column(0, "op", pa.array(["I"] * day.num_rows, pa.string()))
    day = day.drop_columns([c for c in ("extraction_timestamp", "scn") if c in day.column_names])
    disposition = {
        "source_filter": "op <> 'D'",
        "destination_scope": "account_id IN (SELECT account_id FROM {staging_table})",
    }
pipeline = dlt.pipeline(
    pipeline_name="peers",
    pipelines_dir=sys.argv[3],
    destination=dlt.destinations.duckdb(sys.argv[2]),
    dataset_name="history",
)
pipeline.run(
    day,
    table_name="accounts",
    primary_key="account_id",
    write_disposition={"disposition": "merge", "strategy": "scd2", "row_version_column_name": "version", **disposition},
)
"""


# Starts one invocation and measures it from a fresh process in between.
# Linux carries a process's peak RSS across exec, so a tool started straight
# from this harness (which holds the generated workload: over 1 GiB at 2M
# keys) would report at least the harness's own peak.
MEASURE = """
import json, os, subprocess, sys, time
start = time.monotonic()
proc = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(proc.pid, 0)
with open(sys.argv[1], "w") as out:
    json.dump({"wall_s": time.monotonic() - start, "peak_kib": usage.ru_maxrss,
               "code": os.waitstatus_to_exitcode(status)}, out)
"""


def run_measured(argv, cwd, env=None):
    """Runs one invocation; its wall time and peak RSS (MiB)."""
    with tempfile.TemporaryDirectory() as tmp:
        figures = Path(tmp) / "figures.json"
        proc = subprocess.run([sys.executable, "-c", MEASURE, figures, *argv], cwd=cwd, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        measured = json.loads(figures.read_text()) if figures.exists() else {"code": proc.returncode}
    if measured["code"] != 0:
        sys.exit(f"{' '.join(map(str, argv))} failed:\n{proc.stdout.decode(errors='replace')[-4000:]}")
    return measured["wall_s"], measured["peak_kib"] / 1024


def counts(db: Path, table: str, current: str):
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(f"SELECT count(*), count(*) FILTER (WHERE {current}) FROM {table}").fetchone()


def run_tool(tool: str, mode: str, files, work: Path, tidemark: Path, python: str):
    """One whole schedule of `tool` from a clean destination: total wall
    time, largest peak RSS, (history rows, current rows)."""
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    if tool == "tidemark":
        prepare_tidemark(work, files, mode)
        days = [[tidemark, "run", "--config", "tidemark.toml", "--landing", "landing",
                 "--time-scale", "0", "--name", f"day-{day + 1}"] for day in range(len(files))]
        env = {"TIDEMARK_LOG": "warn"}
        history = (work / "lake" / "warehouse.duckdb", "bench.accounts", "is_current AND NOT is_deleted")
    elif tool == "dbt":
        prepare_dbt(work)
        dbt = str(Path(python).parent / "dbt")
        days = [[dbt, "--quiet", "snapshot", "--project-dir", str(work), "--profiles-dir", str(work),
                 "--vars", json.dumps({"day_file": str(path)})] for path in files]
        env = {"DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
        history = (work / "history.duckdb", "snapshots.accounts_history", "dbt_valid_to IS NULL")
    else:
        script = work / "dlt_day.py"
        script.write_text(DLT_DAY)
        days = [[python, str(script), str(path), str(work / "dlt.duckdb"), str(work / "pipelines"), mode]
                for path in files]
        env = {"RUNTIME__LOG_LEVEL": "WARNING", "RUNTIME__DLTHUB_TELEMETRY": "false"}
        history = (work / "dlt.duckdb", "history.accounts", "_dlt_valid_to IS NULL")
    runs = []
    for day, argv in enumerate(days):
        if tool == "tidemark":
            land_day(work, day)
        runs.append(run_measured(argv, work, env={**os.environ, **env}))
    wall = sum(w for w, _ in runs)
    steps = step_seconds(work / "lake" / "usage", wall) if tool == "tidemark" else None
    return wall, max(p for _, p in runs), counts(*history), steps


def step_seconds(usage: Path, wall: float) -> dict:
    """Where a tidemark schedule's time went: each step's seconds over all
    days, from the usage records every step writes (`lake/usage/<run>/`),
    and the rest of the processes' time (start, state, orchestration, exit)."""
    steps = collections.Counter()
    for record in usage.rglob("*.json"):
        figures = json.loads(record.read_text())
        steps[figures["step"]] += figures["duration_ms"] / 1000
    return {
        "steps_s": {step: round(s, 3) for step, s in steps.most_common()},
        "outside_steps_s": round(wall - sum(steps.values()), 3),
    }


def version(tool: str, tidemark: Path, python: str) -> str:
    if tool == "tidemark":
        return subprocess.run([tidemark, "--version"], capture_output=True, text=True).stdout.strip()
    package = {"dbt": "dbt-duckdb", "dlt": "dlt"}[tool]
    out = subprocess.run([python, "-m", "pip", "show", package], capture_output=True, text=True).stdout
    line = next((l for l in out.splitlines() if l.startswith("Version:")), "Version: ?")
    return f"{package} {line.split(':', 1)[1].strip()}"


def compare(mode, tools, files, workload, changes, expected, root, args):
    """Runs each tool `args.repeats` times, interleaved; prints the table and
    returns the report's section and the histories that differ."""
    python = sys.executable
    results = {t: {"walls": [], "peaks": [], "steps": [], "rows": None} for t in tools}
    for repeat in range(args.repeats):
        for tool in tools:
            wall, peak, rows, steps = run_tool(tool, mode, files, root / tool, Path(args.tidemark), python)
            print(f"  {mode} run {repeat + 1}/{args.repeats} {tool}: {wall:.2f} s, {peak:.0f} MiB", file=sys.stderr)
            results[tool]["walls"].append(wall)
            results[tool]["peaks"].append(peak)
            results[tool]["steps"].append(steps)
            results[tool]["rows"] = rows
    section = {"workload": {**workload, "seed": args.seed, "repeats": args.repeats, **changes}, "tools": {}}
    failures = []
    for tool in tools:
        r = results[tool]
        history, current = r["rows"]
        section["tools"][tool] = {
            "version": version(tool, Path(args.tidemark), python),
            "wall_s": round(statistics.median(r["walls"]), 3),
            "wall_s_runs": [round(w, 3) for w in r["walls"]],
            "peak_rss_mib": round(max(r["peaks"]), 1),
            "history_rows": history,
            "current_rows": current,
        }
        if tool == "tidemark":
            median_run = sorted(range(len(r["walls"])), key=r["walls"].__getitem__)[len(r["walls"]) // 2]
            section["tools"][tool].update(r["steps"][median_run])
        want = (expected["history_rows"][tool], expected["current_rows"])
        if (history, current) != want:
            failures.append(f"{mode}, {tool}: history {history} rows, {current} current; expected {want[0]} and {want[1]}")
    print("| tool | version | wall (s) | peak RSS (MiB) | history rows | current rows | tidemark is faster by |")
    print("|---|---|---:|---:|---:|---:|---:|")
    base = section["tools"].get("tidemark")
    for tool, t in section["tools"].items():
        ratio = f"{t['wall_s'] / base['wall_s']:.2f}x" if base and tool != "tidemark" else ""
        print(f"| {tool} | {t['version']} | {t['wall_s']:.2f} | {t['peak_rss_mib']:.0f} | {t['history_rows']} | {t['current_rows']} | {ratio} |")
    if base:
        steps = ", ".join(f"{step} {s:.2f} s" for step, s in base["steps_s"].items())
        print(f"\ntidemark's median run by step: {steps}; outside the steps {base['outside_steps_s']:.2f} s")
    return section, failures


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=200_000)
    parser.add_argument("--days", type=int, default=5)
    parser.add_argument("--update-share", type=float, default=0.065)
    parser.add_argument("--churn", type=int, default=1_000)
    parser.add_argument("--cdc-changes", type=int, default=1_000_000,
                        help="change rows over --days days after a full load (0: no CDC workload)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--tools", default="tidemark,dbt,dlt")
    parser.add_argument("--tidemark", required=True, help="the tidemark binary a user runs")
    parser.add_argument("--out", default=str(ROOT / "target" / "bench" / "peers.json"))
    args = parser.parse_args()
    tools = args.tools.split(",")
    root = Path(tempfile.mkdtemp(prefix="tidemark-peers-"))
    try:
        data = root / "snapshot-data"
        data.mkdir()
        files, changes, expected = generate(data, args.keys, args.days, args.update_share, args.churn, args.seed)
        print(f"snapshots: {args.keys} keys x {args.days} daily extracts; each later day "
              f"{changes['updates'] // max(args.days - 1, 1)} updates, {args.churn} deletes, {args.churn} inserts; "
              f"median of {args.repeats}")
        workload = {"keys": args.keys, "days": args.days, "update_share": args.update_share, "churn": args.churn}
        report, failures = compare("snapshot", tools, files, workload, changes, expected, root, args)
        cdc_tools = [t for t in tools if t != "dbt"]  # a dbt snapshot reads a table's state, not its changes
        if args.cdc_changes and cdc_tools:
            data = root / "cdc-data"
            data.mkdir()
            files, changes, expected = generate_cdc(data, args.keys, args.days, args.cdc_changes, args.churn, args.seed)
            print(f"\nCDC: a full load of {args.keys} keys, then {args.cdc_changes} changes over {args.days} days "
                  f"({changes['deletes']} deletes, {changes['inserts']} inserts); median of {args.repeats}")
            workload = {"keys": args.keys, "days": args.days, "change_rows": args.cdc_changes, "churn": args.churn}
            report["cdc"], more = compare("cdc", cdc_tools, files, workload, changes, expected, root, args)
            failures += more
    finally:
        shutil.rmtree(root, ignore_errors=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"figures: {out}")
    if failures:
        sys.exit("histories differ from the workload:\n  " + "\n  ".join(failures))


if __name__ == "__main__":
    main()
