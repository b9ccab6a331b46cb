#!/usr/bin/env bash
# DuckDB's C library, as DuckDB releases it, into tools/duckdb/lib: the
# duckdb crate links it instead of compiling DuckDB's C++ from source (18
# of a first build's 23 minutes on 2 cores). The library comes from the npm
# registry, in the platform package of DuckDB's Node bindings; npm checks
# its integrity against the registry. The version must be the one the duckdb
# crate in Cargo.toml binds: crate 1.10506.x is DuckDB 1.5.6.
set -euo pipefail
cd "$(dirname "$0")"
VERSION=1.5.6-r.1
case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) platform=linux-x64 lib=libduckdb.so ;;
  Linux-aarch64) platform=linux-arm64 lib=libduckdb.so ;;
  Darwin-arm64) platform=darwin-arm64 lib=libduckdb.dylib ;;
  Darwin-x86_64) platform=darwin-x64 lib=libduckdb.dylib ;;
  *) echo "tools/duckdb/fetch.sh: no DuckDB library for $(uname -s) $(uname -m)" >&2; exit 2 ;;
esac
[ -f "lib/$lib" ] && [ "$(cat lib/VERSION 2>/dev/null)" = "$VERSION" ] && exit 0
command -v npm >/dev/null || { echo "tools/duckdb/fetch.sh: needs npm (Node.js) to fetch DuckDB's library" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "fetching DuckDB's library (@duckdb/node-bindings-$platform@$VERSION) from the npm registry"
(cd "$work" && npm pack --silent "@duckdb/node-bindings-$platform@$VERSION" >/dev/null)
tar -xzf "$work"/*.tgz -C "$work" "package/$lib"
mkdir -p lib
mv "$work/package/$lib" "lib/$lib"
echo "$VERSION" > lib/VERSION
