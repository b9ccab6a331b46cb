"""Checks and transpiles the Athena SQL tidemark generates (called by the Rust tests).

    athena_sql.py check      stdin: [{"name", "grammar": "sql"|"hive"|"athena-maintenance", "sql"}]
                             stdout: [{"name", "error"}] for each statement that does not parse
    athena_sql.py transpile  stdin: ["athena statement", ...]
                             stdout: ["duckdb statement", ...]

"sql" statements run on Athena's Trino engine: they are parsed with Trino's own
ANTLR grammar (trino-query-parser), which rejects what Trino would reject.
"hive" statements are Athena's Hive DDL (CREATE EXTERNAL TABLE, ALTER TABLE ...
ADD COLUMNS, DROP TABLE), which Trino's grammar does not cover: they are parsed with
sqlglot's Hive dialect, strictly, and must come out as the statement kind they
claim to be rather than sqlglot's catch-all `Command`.
"athena-maintenance" statements (OPTIMIZE, VACUUM) are Athena's own and in
neither grammar: they must take exactly the forms Athena documents.
"""

import json
import re
import sys

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel
import trino_query_parser


def check_trino(sql):
    trino_query_parser.parse_statement(sql)


def check_hive(sql):
    tree = sqlglot.parse_one(sql, read="hive", error_level=ErrorLevel.RAISE)
    if isinstance(tree, exp.Command) or not isinstance(tree, (exp.Create, exp.Alter, exp.Drop)):
        raise ValueError(f"not parsed as Hive DDL (got {type(tree).__name__})")


# Athena's table maintenance statements are in neither grammar; they take
# exactly these forms (names are checked identifiers: lower-case letters,
# digits and underscores).
_NAME = r"[a-z_][a-z0-9_]*"
_MAINTENANCE = re.compile(
    rf'^(OPTIMIZE "{_NAME}"\."{_NAME}" REWRITE DATA USING BIN_PACK|VACUUM {_NAME}\.`{_NAME}`)$'
)


def check_maintenance(sql):
    if not _MAINTENANCE.match(sql):
        raise ValueError("not an Athena OPTIMIZE ... REWRITE DATA USING BIN_PACK or VACUUM statement")


_CHECKS = {"sql": check_trino, "hive": check_hive, "athena-maintenance": check_maintenance}


def check(statements):
    failures = []
    for s in statements:
        parse = _CHECKS[s["grammar"]]
        try:
            parse(s["sql"])
        except Exception as e:  # every parser error is a finding
            failures.append({"name": s["name"], "error": f"{type(e).__name__}: {e}"})
    return failures


def transpile(statements):
    return [
        sqlglot.transpile(sql, read="athena", write="duckdb", error_level=ErrorLevel.RAISE)[0]
        for sql in statements
    ]


def main():
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    statements = json.load(sys.stdin)
    if command == "check":
        json.dump(check(statements), sys.stdout)
    elif command == "transpile":
        json.dump(transpile(statements), sys.stdout)
    else:
        sys.exit(f"usage: {sys.argv[0]} check|transpile < statements.json")


if __name__ == "__main__":
    main()
