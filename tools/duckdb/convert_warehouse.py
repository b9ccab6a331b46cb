"""Converts a local warehouse written by DuckDB 2.0 (what tidemark linked
before 2026-12-06) into the storage format of DuckDB 1.5.6, which tidemark
links now and which cannot read a 2.0 file.

Usage: python3 tools/duckdb/convert_warehouse.py <lake>/warehouse.duckdb

It needs DuckDB 2.x's Python package (`pip install duckdb==2.0.1`; `make
test` puts one in tools/emulator/.venv). The original is never written to:
the copy is made beside it, then the original is renamed to
`<file>.duckdb-2.0` and the copy takes its name. Killed at any point, running
it again finishes the job; to undo, move `<file>.duckdb-2.0` back.
"""

import os
import sys
from pathlib import Path

import duckdb

STORAGE = "v1.5.0"  # read by DuckDB 1.5.6


def convert(path: Path) -> Path:
    original = path.with_name(path.name + ".duckdb-2.0")
    partial = path.with_name(path.name + ".converting")
    if not original.exists():
        if not path.exists():
            sys.exit(f"{path}: no such warehouse")
        source = path
    elif path.exists():
        sys.exit(f"{path} was converted already (the original is {original})")
    else:
        source = original  # killed between the two renames: finish
    partial.unlink(missing_ok=True)
    Path(str(partial) + ".wal").unlink(missing_ok=True)
    con = duckdb.connect()
    con.execute(f"ATTACH '{source}' AS old (READ_ONLY)")
    con.execute(f"ATTACH '{partial}' AS new (STORAGE_VERSION '{STORAGE}')")
    con.execute("COPY FROM DATABASE old TO new")
    con.execute("CHECKPOINT new")
    con.close()
    if source == path:
        os.replace(path, original)
    os.replace(partial, path)
    return original


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python3 tools/duckdb/convert_warehouse.py <lake>/warehouse.duckdb")
    target = Path(sys.argv[1])
    kept = convert(target)
    print(f"{target}: converted for DuckDB 1.5.6; the original is {kept}")
