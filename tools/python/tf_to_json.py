"""Parse every Terraform file under a folder and print them as one JSON object.

    python tf_to_json.py infra  ->  {"modules/pipeline/s3.tf": {...}, ...}

Uses the HCL2 parser checkov itself scans with (bc-python-hcl2, module
`hcl2`), so a file this cannot parse is a file checkov would silently skip.
Exits 1 naming every file that does not parse. Used by tests/infra.rs.
"""

import json
import pathlib
import sys

import hcl2


def main() -> int:
    root = pathlib.Path(sys.argv[1])
    parsed, errors = {}, []
    for path in sorted(root.rglob("*.tf")):
        if ".terraform" in path.parts:
            continue
        name = path.relative_to(root).as_posix()
        try:
            with path.open(encoding="utf-8") as f:
                parsed[name] = hcl2.load(f)
        except Exception as e:  # the parser raises several lark error types
            errors.append(f"{name}: {type(e).__name__}: {e}")
    if errors:
        print("\n".join(errors), file=sys.stderr)
        return 1
    json.dump(parsed, sys.stdout, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
