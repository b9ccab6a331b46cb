"""ministack, with Athena's Iceberg tables and views kept in a DuckDB database.

ministack (tools/emulator/requirements.txt) answers Athena by running the SQL
on DuckDB over the S3 files of Glue tables, but it refuses Iceberg tables and
keeps nothing between queries, so tidemark's MERGE (and the INSERT of a
first load) has nowhere to write. This
launcher adds exactly that, and nothing else:

- ``CREATE TABLE db.t WITH (table_type = 'ICEBERG', location = …) AS SELECT …
  WITH NO DATA`` creates the table in one DuckDB file (``$TIDEMARK_WAREHOUSE``,
  default ``./athena-iceberg.duckdb``) and registers it in ministack's Glue as
  Athena does (Hive column types, ``table_type = ICEBERG``);
- ``CREATE OR REPLACE VIEW db.v AS …`` over such a table creates the view there
  and registers a Glue ``VIRTUAL_VIEW``;
- ``ALTER TABLE db.t ADD COLUMNS (…)`` adds the columns to the DuckDB table
  (Iceberg) and to the Glue table (Iceberg or Hive);
- ``OPTIMIZE db.t REWRITE DATA USING BIN_PACK`` and ``VACUUM db.`t```, on an
  Iceberg table only, succeed doing nothing (one copy per table: nothing to
  compact or expire);
- ``information_schema.columns`` lists the Glue tables, with the types Athena
  reports (``varchar``, ``timestamp(6)`` …);
- a Glue table with partition projection (``projection.enabled``) reads each
  projected key's value from its files' paths, where
  ``storage.location.template`` places it (ministack reads ``key=value``
  folders only);
- ``"db"."t$files"``, Iceberg's metadata table of an Iceberg table's files,
  lists each row group of its DuckDB table as a data file (``content`` 0, its
  ``record_count``; no ``file_size_in_bytes``, as there is no file), and no
  delete files;
- Glue follows Athena's rule that an Iceberg entry is the table its
  ``metadata_location`` names (each CTAS gets a metadata file of its own): a
  ``CreateTable`` or ``UpdateTable`` giving an Iceberg entry the
  ``metadata_location`` another entry holds makes its DuckDB table a copy of
  that entry's, and a ``DeleteTable`` of an Iceberg entry drops its DuckDB
  table (so does Athena's ``DROP TABLE``, which ministack runs through it);
- any other statement naming an Iceberg table or view (MERGE, INSERT, SELECT) runs on
  that DuckDB database, the Glue Hive tables it reads becoming DuckDB relations
  over their S3 files exactly as ministack makes them;
- Step Functions records a ``<Type>StateEntered`` event (with the state's
  input) for the states of Map iterations and Parallel branches too, as AWS
  does (ministack records them for top-level states only): the state
  transitions a run is billed for are counted from the history;
- for tests of overlapping executions: while the file that
  ``$TIDEMARK_EMULATOR_HOLD_MERGES`` names exists, a MERGE or INSERT into an Iceberg
  table stays RUNNING (at most 10 minutes), as a long one on Athena would;
- for tests of a caller without a permission (ministack checks no IAM
  policy): while the file that ``$TIDEMARK_EMULATOR_DENY`` names lists an
  operation (one ``scheduler:UpdateSchedule`` per line, optionally followed
  by a schedule's name; the EventBridge Scheduler operations only), that
  operation is answered as IAM refuses it: ``403 AccessDeniedException``,
  naming the action.

Everything else is ministack's own behaviour. Run it as ``python
tidemark_emulator.py`` with ministack's environment (GATEWAY_PORT, SERVICES …).
"""

import asyncio
import base64
import json
import os
import re
import shutil
import threading
import uuid

from ministack.services import athena
from ministack.services import glue
from ministack.services import scheduler
from ministack.services import stepfunctions

# ministack's own Glue handlers: the launcher registers its tables with these,
# and replaces them (below) for the calls Glue's clients make.
_ministack_create_table = glue._create_table
_ministack_update_table = glue._update_table
_ministack_delete_table = glue._delete_table

_WAREHOUSE = os.environ.get("TIDEMARK_WAREHOUSE", os.path.join(os.getcwd(), "athena-iceberg.duckdb"))
_connection = None
_connection_lock = threading.Lock()
# DuckDB refuses two catalog changes at once ("write-write conflict on create"
# of the schema); Athena does not, so the emulator's DDL runs one at a time.
_ddl_lock = threading.Lock()

_NAME = r'(?:"[^"]+"|`[^`]+`|\w+)'
_QUALIFIED = rf"({_NAME})\s*\.\s*({_NAME})"
_CTAS = re.compile(
    rf"^\s*CREATE\s+TABLE\s+{_QUALIFIED}\s+WITH\s*\((?P<props>.*?)\)\s*AS\s+(?P<select>.*?)"
    r"(?P<nodata>\s+WITH\s+NO\s+DATA)?\s*;?\s*$",
    re.IGNORECASE | re.DOTALL,
)
_VIEW = re.compile(
    rf"^\s*CREATE\s+OR\s+REPLACE\s+VIEW\s+{_QUALIFIED}\s+AS\s+(?P<select>.*?)\s*;?\s*$",
    re.IGNORECASE | re.DOTALL,
)
_ADD_COLUMNS = re.compile(
    rf"^\s*ALTER\s+TABLE\s+{_QUALIFIED}\s+ADD\s+COLUMNS\s*\((?P<columns>.*)\)\s*;?\s*$",
    re.IGNORECASE | re.DOTALL,
)
_MAINTENANCE = re.compile(
    rf"^\s*(?:OPTIMIZE\s+{_QUALIFIED}\s+REWRITE\s+DATA\s+USING\s+BIN_PACK|VACUUM\s+{_QUALIFIED})\s*;?\s*$",
    re.IGNORECASE,
)
_WRITE_TARGET = re.compile(rf"^\s*(?:MERGE|INSERT)\s+INTO\s+{_QUALIFIED}", re.IGNORECASE)
_PROPERTY = re.compile(r"(\w+)\s*=\s*'((?:[^']|'')*)'")
_INFORMATION_SCHEMA = re.compile(r"\binformation_schema\s*\.\s*columns\b", re.IGNORECASE)
_FILES = re.compile(r'"([^"]+)"\s*\.\s*"([^"$]+)\$files"')

# DuckDB's type of a column → the Hive type Glue holds for an Iceberg table.
_HIVE_TYPE = {
    "BOOLEAN": "boolean",
    "TINYINT": "tinyint",
    "SMALLINT": "smallint",
    "INTEGER": "int",
    "BIGINT": "bigint",
    "FLOAT": "float",
    "DOUBLE": "double",
    "VARCHAR": "string",
    "BLOB": "binary",
    "DATE": "date",
    "TIMESTAMP": "timestamp",
}
_DUCKDB_TYPE = {hive: duckdb for duckdb, hive in _HIVE_TYPE.items()}
# A Hive type in Glue → what Athena's information_schema reports for it.
_ATHENA_TYPE = {"string": "varchar", "int": "integer", "float": "real", "binary": "varbinary"}


def _unquote(name):
    return name[1:-1] if name[:1] in '"`' else name.lower()


def _literal(value):
    return str(value) if isinstance(value, int) else "'" + str(value).replace("'", "''") + "'"


def _quote(name):
    return '"' + name.replace('"', '""') + '"'


def _warehouse():
    global _connection
    with _connection_lock:
        if _connection is None:
            import duckdb

            _connection = duckdb.connect(_WAREHOUSE)
        return _connection.cursor()


def _glue_table(database, table):
    return glue._tables.get(f"{database}/{table}")


def _in_warehouse(table_data):
    if table_data is None:
        return False
    iceberg = (table_data.get("Parameters") or {}).get("table_type", "").upper() == "ICEBERG"
    return iceberg or table_data.get("TableType") == "VIRTUAL_VIEW"


def _hive_type(duckdb_type):
    upper = duckdb_type.upper()
    if upper.startswith("DECIMAL"):
        return upper.lower()
    if upper not in _HIVE_TYPE:
        raise ValueError(f"NOT_SUPPORTED: the emulator has no Hive type for DuckDB's {duckdb_type}")
    return _HIVE_TYPE[upper]


def _athena_type(table_data, hive_type):
    if hive_type == "timestamp":
        return "timestamp(6)" if _in_warehouse(table_data) else "timestamp(3)"
    return _ATHENA_TYPE.get(hive_type, hive_type)


def _columns(cursor, database, table):
    rows = cursor.execute(f"DESCRIBE {_quote(database)}.{_quote(table)}").fetchall()
    return [{"Name": name, "Type": _hive_type(ty)} for name, ty, *_ in rows]


def _register(database, table, table_input):
    """Creates or replaces the Glue table, keeping what an earlier version had."""
    table_input = dict(table_input, Name=table)
    existing = _glue_table(database, table)
    if existing is None:
        status, _, body = _ministack_create_table({"DatabaseName": database, "TableInput": table_input})
    else:
        merged = {k: existing.get(k) for k in ("Description", "StorageDescriptor", "Parameters", "TableType")}
        merged["Parameters"] = dict(existing.get("Parameters") or {}, **table_input.get("Parameters", {}))
        merged.update({k: v for k, v in table_input.items() if k != "Parameters"})
        status, _, body = _ministack_update_table({"DatabaseName": database, "TableInput": merged})
    if status >= 300:
        raise ValueError(json.loads(body).get("message", "Glue rejected the table"))


def _nothing():
    return {"columns": [], "rows": [], "column_types": []}


def _create_iceberg(match, database):
    database, table = _unquote(match.group(1)), _unquote(match.group(2))
    properties = {k.lower(): v.replace("''", "'") for k, v in _PROPERTY.findall(match.group("props"))}
    if properties.get("table_type", "").upper() != "ICEBERG":
        raise ValueError("NOT_SUPPORTED: the emulator creates only Iceberg tables with CREATE TABLE AS")
    if database not in glue._databases:
        raise ValueError(f"SCHEMA_NOT_FOUND: Schema '{database}' does not exist")
    if _glue_table(database, table) is not None:
        raise ValueError(f"TABLE_ALREADY_EXISTS: Table '{database}.{table}' already exists")
    select = match.group("select")
    if match.group("nodata"):
        select = f"SELECT * FROM ({select}) LIMIT 0"
    cursor = _warehouse()
    cursor.execute(f"CREATE SCHEMA IF NOT EXISTS {_quote(database)}")
    cursor.execute(f"CREATE TABLE {_quote(database)}.{_quote(table)} AS {select}")
    location = properties.get("location", "")
    _register(database, table, {
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {
            "table_type": "ICEBERG",
            "metadata_location": f"{location.rstrip('/')}/metadata/00000-{uuid.uuid4()}.metadata.json",
        },
        "StorageDescriptor": {"Location": location, "Columns": _columns(cursor, database, table)},
    })
    return _nothing()


def _maintain(match, database):
    """OPTIMIZE and VACUUM of an Iceberg table: the warehouse keeps one copy
    of each table, so there is nothing to compact or expire. Like Athena,
    only an Iceberg table can be maintained. (No CHECKPOINT stands in for
    them: DuckDB refuses one while another table's MERGE writes, which
    Athena's maintenance of one table never waits for.)"""
    database = _unquote(match.group(1) or match.group(3))
    table = _unquote(match.group(2) or match.group(4))
    if _metadata_location(_glue_table(database, table)) is None:
        raise ValueError(f"NOT_SUPPORTED: {database}.{table} is not an Iceberg table")
    return _nothing()


def _files(match):
    """The relation ``"db"."t$files"`` stands for (see the module's documentation)."""
    database, table = match.group(1), match.group(2)
    if _metadata_location(_glue_table(database, table)) is None:
        raise ValueError(f"TABLE_NOT_FOUND: {database}.{table}$files: {table} is not an Iceberg table")
    name = f"{database}.{table}".replace("'", "''")
    return (
        "(SELECT 0 AS content, CAST(NULL AS BIGINT) AS file_size_in_bytes, sum(\"count\") AS record_count"
        f" FROM pragma_storage_info('{name}') WHERE column_path = '[0]' GROUP BY row_group_id)"
    )


def _table_relation(table_data, files):
    """ministack's relation over a table's files, or for a table with
    partition projection (Parquet), its files with each projected key's value
    taken from the path as ``storage.location.template`` places it."""
    parameters = table_data.get("Parameters") or {}
    keys = table_data.get("PartitionKeys") or []
    template = parameters.get("storage.location.template")
    if str(parameters.get("projection.enabled", "")).lower() != "true" or not keys or not template:
        return _ministack_table_relation(table_data, files)
    location = ((table_data.get("StorageDescriptor") or {}).get("Location") or "").rstrip("/") + "/"
    if not template.startswith(location):
        raise ValueError(f"HIVE_INVALID_METADATA: storage.location.template {template} is not under {location}")
    pattern = re.escape(template[len(location):])
    for key in keys:
        pattern = pattern.replace(re.escape("${" + key["Name"] + "}"), "([^/]*)", 1)
    # The files are copied under a folder of the query's, at their key below the location.
    pattern = "/" + pattern + "[^/]*$"
    values = []
    for i, key in enumerate(keys, start=1):
        name = str(key["Name"]).replace('"', '""')
        literal = pattern.replace("'", "''")
        values.append(
            f"TRY_CAST(regexp_extract(\"filename\", '{literal}', {i}) AS {athena._duckdb_type(key)}) AS \"{name}\""
        )
    reader = f"read_parquet({athena._sql_list(files)}, union_by_name = true, filename = true)"
    return f"(SELECT * EXCLUDE (\"filename\"), {', '.join(values)} FROM {reader})"


def _create_view(match, database):
    database, view = _unquote(match.group(1)), _unquote(match.group(2))
    cursor = _warehouse()
    cursor.execute(f"CREATE SCHEMA IF NOT EXISTS {_quote(database)}")
    cursor.execute(f"CREATE OR REPLACE VIEW {_quote(database)}.{_quote(view)} AS {match.group('select')}")
    columns = _columns(cursor, database, view)
    presto = {"originalSql": match.group("select"), "catalog": "awsdatacatalog", "schema": database,
              "columns": [{"name": c["Name"], "type": c["Type"]} for c in columns]}
    _register(database, view, {
        "TableType": "VIRTUAL_VIEW",
        "Parameters": {"presto_view": "true", "comment": "Presto View"},
        "ViewOriginalText": "/* Presto View: " + base64.b64encode(json.dumps(presto).encode()).decode() + " */",
        "ViewExpandedText": "/* Presto View */",
        "StorageDescriptor": {"Columns": columns},
    })
    return _nothing()


def _split_columns(text):
    parts, depth, current = [], 0, ""
    for ch in text:
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    return [p.strip() for p in parts + [current] if p.strip()]


def _add_columns(match, database):
    database, table = _unquote(match.group(1)), _unquote(match.group(2))
    table_data = _glue_table(database, table)
    if table_data is None:
        raise ValueError(f"TABLE_NOT_FOUND: Table '{database}.{table}' does not exist")
    added = []
    for column in _split_columns(match.group("columns")):
        name, hive_type = column.split(None, 1)
        added.append({"Name": _unquote(name), "Type": hive_type.strip().lower()})
    if _in_warehouse(table_data):
        cursor = _warehouse()
        for column in added:
            duckdb_type = _DUCKDB_TYPE.get(column["Type"], column["Type"])
            cursor.execute(
                f"ALTER TABLE {_quote(database)}.{_quote(table)} ADD COLUMN {_quote(column['Name'])} {duckdb_type}"
            )
    storage = dict(table_data.get("StorageDescriptor") or {})
    storage["Columns"] = list(storage.get("Columns") or []) + added
    _register(database, table, {"StorageDescriptor": storage})
    return _nothing()


def _information_schema():
    """``information_schema.columns`` as a DuckDB relation over the Glue tables."""
    rows = []
    for key, table_data in list(glue._tables.items()):
        database, table = key.split("/", 1)
        columns = ((table_data.get("StorageDescriptor") or {}).get("Columns") or []) + (
            table_data.get("PartitionKeys") or []
        )
        for position, column in enumerate(columns, start=1):
            athena_type = _athena_type(table_data, str(column.get("Type", "string")).lower())
            values = ("awsdatacatalog", database, table, column["Name"], position, athena_type)
            rows.append("(" + ", ".join(_literal(v) for v in values) + ")")
    if not rows:
        rows = ["(NULL, NULL, NULL, NULL, NULL, NULL)"]
    return (
        "(SELECT * FROM (VALUES " + ", ".join(rows) + ") AS c(table_catalog, table_schema, table_name, "
        "column_name, ordinal_position, data_type) WHERE table_catalog IS NOT NULL)"
    )


def _metadata_location(table_data):
    """The ``metadata_location`` of an Iceberg entry; None for anything else."""
    parameters = (table_data or {}).get("Parameters") or {}
    if parameters.get("table_type", "").upper() != "ICEBERG":
        return None
    return parameters.get("metadata_location")


def _holder(metadata_location, database, table):
    """The Iceberg entry other than ``database.table`` whose table is at
    ``metadata_location``, as ``(database, table)``; None when there is none."""
    if metadata_location is None:
        return None
    for key, table_data in list(glue._tables.items()):
        if key != f"{database}/{table}" and _metadata_location(table_data) == metadata_location:
            return tuple(key.split("/", 1))
    return None


def _copy_table(source, database, table):
    """Makes the DuckDB table of ``database.table`` a copy of ``source``'s."""
    with _ddl_lock:
        cursor = _warehouse()
        try:
            found = cursor.execute(
                "SELECT count(*) FROM duckdb_tables() WHERE schema_name = ? AND table_name = ?", list(source)
            ).fetchone()[0]
            if not found:
                return
            cursor.execute(f"CREATE SCHEMA IF NOT EXISTS {_quote(database)}")
            cursor.execute(
                f"CREATE OR REPLACE TABLE {_quote(database)}.{_quote(table)} AS "
                f"SELECT * FROM {_quote(source[0])}.{_quote(source[1])}"
            )
        finally:
            cursor.close()


def _create_table(data):
    """Glue ``CreateTable``; an Iceberg entry created at another entry's
    ``metadata_location`` gets a copy of that entry's table."""
    database, table_input = data.get("DatabaseName"), data.get("TableInput") or {}
    source = _holder(_metadata_location(table_input), database, table_input.get("Name"))
    status, headers, body = _ministack_create_table(data)
    if status < 300 and source is not None:
        _copy_table(source, database, table_input["Name"])
    return status, headers, body


def _update_table(data):
    """Glue ``UpdateTable``; an Iceberg entry moved to another entry's
    ``metadata_location`` gets a copy of that entry's table."""
    database, table_input = data.get("DatabaseName"), data.get("TableInput") or {}
    table = table_input.get("Name")
    location = _metadata_location(table_input)
    moved = location != _metadata_location(_glue_table(database, table))
    source = _holder(location, database, table) if moved else None
    status, headers, body = _ministack_update_table(data)
    if status < 300 and source is not None:
        _copy_table(source, database, table)
    return status, headers, body


def _delete_table(data):
    """Glue ``DeleteTable`` (and Athena's ``DROP TABLE``); an Iceberg entry's
    DuckDB table goes with it."""
    database, table = data.get("DatabaseName"), data.get("Name")
    iceberg = _metadata_location(_glue_table(database, table)) is not None
    status, headers, body = _ministack_delete_table(data)
    if status < 300 and iceberg:
        with _ddl_lock:
            cursor = _warehouse()
            try:
                cursor.execute(f"DROP TABLE IF EXISTS {_quote(database)}.{_quote(table)}")
            finally:
                cursor.close()
    return status, headers, body


def _warehouse_query(query, database):
    """The query with each Glue Hive table read as ministack reads it, or None
    when it names no Iceberg table or view (ministack runs it then)."""
    target = _WRITE_TARGET.match(query)
    writes_warehouse = target is not None and _in_warehouse(
        _glue_table(_unquote(target.group(1)), _unquote(target.group(2)))
    )
    if not (writes_warehouse or _names_warehouse(query, database)):
        return None, []
    edits, workdirs = [], []
    for ref in athena._table_references(query):
        table_data = _glue_table(ref.database or database, ref.table)
        location = ((table_data or {}).get("StorageDescriptor") or {}).get("Location")
        if _in_warehouse(table_data) or not location:
            continue
        files = athena._materialize_table_files(location, workdirs)
        relation = athena._table_relation(table_data, files) if files else athena._empty_relation(table_data)
        edits.append((ref.start, ref.end, relation + ("" if ref.aliased else f' AS "{ref.table}"')))
        if not ref.aliased:
            edits.extend(athena._qualified_column_prefixes(query, ref.database or database, ref.table, edits[-1]))
    for start, end, replacement in reversed(sorted(set(edits))):
        query = query[:start] + replacement + query[end:]
    return query, workdirs


def _run_on_warehouse(query):
    cursor = _warehouse()
    try:
        result = cursor.execute(query)
        columns, types = [], []
        for description in result.description or []:
            columns.append(description[0])
            key = str(description[1]).upper().split("(")[0].strip()
            types.append(athena._DUCKDB_TYPE_MAP.get(key, "varchar"))
        return {"columns": columns, "column_types": types, "rows": [list(r) for r in result.fetchall()]}
    finally:
        cursor.close()


_ministack_run_duckdb = athena._run_duckdb
_ministack_table_relation = athena._table_relation
_HOLD_MERGES = os.environ.get("TIDEMARK_EMULATOR_HOLD_MERGES")


async def _held():
    """Waits while the hold file exists (see the module's documentation)."""
    for _ in range(3000):
        if not (_HOLD_MERGES and os.path.exists(_HOLD_MERGES)):
            return
        await asyncio.sleep(0.2)


async def _run_duckdb(query, database, catalog=None):
    handlers = ((_CTAS, _create_iceberg), (_VIEW, _create_view), (_ADD_COLUMNS, _add_columns), (_MAINTENANCE, _maintain))
    for pattern, handler in handlers:
        match = pattern.match(query)
        if match and (handler is not _create_view or _names_warehouse(match.group("select"), database)):
            return await asyncio.to_thread(_one_at_a_time, handler, match, database)
    if _FILES.search(query):
        return await asyncio.to_thread(_run_on_warehouse, _FILES.sub(_files, query))
    if _INFORMATION_SCHEMA.search(query):
        query = _INFORMATION_SCHEMA.sub(_information_schema(), query)
        return await asyncio.to_thread(_run_on_warehouse, query)
    rewritten, workdirs = _warehouse_query(query, database)
    try:
        if rewritten is None:
            return await _ministack_run_duckdb(query, database, catalog)
        if _WRITE_TARGET.match(query):
            await _held()
        return await asyncio.to_thread(_run_on_warehouse, athena._rewrite_s3_paths(rewritten))
    finally:
        for workdir in workdirs:
            shutil.rmtree(workdir, ignore_errors=True)


def _one_at_a_time(handler, match, database):
    with _ddl_lock:
        return handler(match, database)


def _names_warehouse(query, database):
    """Whether the query reads an Iceberg table or view."""
    return any(_in_warehouse(_glue_table(r.database or database, r.table)) for r in athena._table_references(query))


# The execution each running Map iteration or Parallel branch belongs to, by
# the id of its context object (each iteration and branch has its own copy).
_sub_machine_executions = {}
_ministack_run_sub_machine = stepfunctions._run_sub_machine


def _run_sub_machine(states, start_at, input_data, execution, ctx):
    _sub_machine_executions[id(ctx)] = execution
    try:
        return _ministack_run_sub_machine(states, start_at, input_data, execution, ctx)
    finally:
        _sub_machine_executions.pop(id(ctx), None)


def _entered_in_sub_machines(state_type, handler):
    """The state's handler, recording its StateEntered event inside Map
    iterations and Parallel branches (the top level records its own)."""

    def handle(state_def, raw_input, *rest):
        ctx = rest[-1] if rest else None
        execution = _sub_machine_executions.get(id(ctx)) if ctx is not None else None
        if execution is not None:
            stepfunctions._add_event(execution, f"{state_type}StateEntered", {
                "stateEnteredEventDetails": {"name": ctx["State"]["Name"], "input": json.dumps(raw_input)},
            })
        return handler(state_def, raw_input, *rest)

    return handle


_DENY = os.environ.get("TIDEMARK_EMULATOR_DENY")


def _denied(action, handler):
    """``handler``, unless ``$TIDEMARK_EMULATOR_DENY`` lists ``action`` now."""

    def handle(name, *rest):
        listed = []
        if _DENY and os.path.exists(_DENY):
            with open(_DENY) as f:
                listed = [line.strip() for line in f]
        if action in listed or f"{action} {name}" in listed:
            return scheduler._error(
                403,
                "AccessDeniedException",
                f"User: arn:aws:sts::000000000000:assumed-role/operator/cli is not authorized to perform: "
                f"{action} on resource: {scheduler._schedule_arn('default', name)} because no identity-based policy allows the {action} action",
            )
        return handler(name, *rest)

    return handle


for _action, _function in (
    ("scheduler:GetSchedule", "_get_schedule"),
    ("scheduler:UpdateSchedule", "_update_schedule"),
):
    setattr(scheduler, _function, _denied(_action, getattr(scheduler, _function)))

stepfunctions._run_sub_machine = _run_sub_machine
for _type in ("Pass", "Task", "Choice", "Wait", "Parallel", "Map"):
    _name = f"_execute_{_type.lower()}"
    setattr(stepfunctions, _name, _entered_in_sub_machines(_type, getattr(stepfunctions, _name)))

athena._run_duckdb = _run_duckdb
athena._table_relation = _table_relation
glue._create_table = _create_table
glue._update_table = _update_table
glue._delete_table = _delete_table

if __name__ == "__main__":
    from ministack.app import main

    main()
