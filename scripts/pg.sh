#!/usr/bin/env bash
# A throwaway PostgreSQL 15 cluster for `make run` and the tests: loopback
# only, wal_level=logical, wal2json installed, trust authentication.
#
#   scripts/pg.sh start    install if missing, initdb once, start; prints the URL last
#   scripts/pg.sh stop     stop the server
#   scripts/pg.sh clean    stop and remove the cluster's folder
#   scripts/pg.sh url      print the URL (exit 1 when the server is not running)
#   scripts/pg.sh ca       print the path of the CA that signed the server's certificate
#
# The server also speaks TLS (a CA of its own; its certificate names
# 127.0.0.1 only), and the role tidemark_password (password `reader-s3cret`) must
# log in with it, over TLS: the tests of sslmode and of a refused login.
#
# TIDEMARK_PG_PORT (default 54329) and TIDEMARK_PG_DIR (default
# /var/tmp/tidemark-pg) choose where. PostgreSQL refuses to run as root, so
# as root the cluster belongs to a dedicated user, `tidemark-pg`.
set -euo pipefail

PORT="${TIDEMARK_PG_PORT:-54329}"
DIR="$(realpath -m "${TIDEMARK_PG_DIR:-/var/tmp/tidemark-pg}")"
BIN=/usr/lib/postgresql/15/bin
URL="postgres://postgres@127.0.0.1:${PORT}/postgres"
OWNER=tidemark-pg

say() { echo "pg: $*" >&2; }

as_owner() {
  if [ "$(id -u)" = 0 ]; then
    # From /: the owner may not enter the caller's folder (psql and pg_ctl say so).
    (cd / && runuser -u "$OWNER" -- "$@")
  else
    "$@"
  fi
}

install() {
  if [ -x "$BIN/initdb" ] && [ -f /usr/lib/postgresql/15/lib/wal2json.so ]; then
    return
  fi
  if [ "$(id -u)" != 0 ]; then
    say "PostgreSQL 15 with wal2json is missing; install it as root:"
    say "  apt-get install postgresql-15 postgresql-15-wal2json"
    exit 1
  fi
  say "installing postgresql-15 and postgresql-15-wal2json"
  apt-get update -qq
  # The Debian package would create and start a cluster of its own: skip that.
  mkdir -p /etc/postgresql-common/createcluster.d
  echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.d/tidemark.conf
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15 postgresql-15-wal2json >/dev/null
}

# TLS with a CA of its own, and a role that needs a password (over TLS only).
tls() {
  local dir="$DIR/tls"
  if [ ! -f "$dir/server.crt" ]; then
    mkdir -p "$dir"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=tidemark test CA" \
      -keyout "$dir/ca.key" -out "$dir/ca.crt" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=tidemark-pg" \
      -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
    echo "subjectAltName=IP:127.0.0.1" >"$dir/san.ext"
    openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial \
      -days 3650 -extfile "$dir/san.ext" -out "$dir/server.crt" 2>/dev/null
    chmod 600 "$dir/server.key" "$dir/ca.key"
    if [ "$(id -u)" = 0 ]; then chown -R "$OWNER" "$dir"; fi
  fi
  if ! grep -q "^ssl = on" "$DIR/data/postgresql.conf"; then
    printf "ssl = on\nssl_cert_file = '%s'\nssl_key_file = '%s'\n" "$dir/server.crt" "$dir/server.key" \
      >>"$DIR/data/postgresql.conf"
  fi
  if ! grep -q tidemark_password "$DIR/data/pg_hba.conf"; then
    { printf "hostssl all tidemark_password 127.0.0.1/32 scram-sha-256\nhost all tidemark_password 127.0.0.1/32 reject\n"
      cat "$DIR/data/pg_hba.conf"; } >"$DIR/data/pg_hba.conf.new"
    mv "$DIR/data/pg_hba.conf.new" "$DIR/data/pg_hba.conf"
    if [ "$(id -u)" = 0 ]; then chown "$OWNER" "$DIR/data/pg_hba.conf"; fi
  fi
}

running() {
  [ -f "$DIR/data/PG_VERSION" ] && as_owner "$BIN/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1
}

start() {
  # Test processes start it concurrently: one at a time.
  # The server must not inherit the lock's descriptor (9>&- below), or it
  # would hold the lock for as long as it runs and every later start would wait.
  exec 9>"${DIR}.lock"
  flock -w 300 9 || { say "timed out waiting for ${DIR}.lock"; exit 1; }
  install
  if [ "$(id -u)" = 0 ] && ! id "$OWNER" >/dev/null 2>&1; then
    useradd --system --no-create-home --shell /usr/sbin/nologin "$OWNER"
  fi
  mkdir -p "$DIR"
  [ "$(id -u)" = 0 ] && chown "$OWNER" "$DIR"
  if [ ! -f "$DIR/data/PG_VERSION" ]; then
    say "initdb $DIR/data"
    as_owner "$BIN/initdb" -D "$DIR/data" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >"$DIR/initdb.log"
    cat >>"$DIR/data/postgresql.conf" <<EOF

# tidemark: a throwaway cluster for logical decoding on loopback
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$DIR'
wal_level = logical
max_replication_slots = 64
max_wal_senders = 16
max_connections = 200
timezone = 'UTC'
# Throwaway: speed over crash safety of the cluster itself.
fsync = off
full_page_writes = off
EOF
  fi
  # PostgreSQL 15.20 and later load only the logical decoding output
  # plugins this setting lists; older servers do not know it.
  settings="$("$BIN/postgres" --describe-config 2>/dev/null || true)"
  if grep -q '^output_plugin_libraries' <<<"$settings" \
     && ! grep -q '^output_plugin_libraries' "$DIR/data/postgresql.conf"; then
    echo "output_plugin_libraries = 'pgoutput, test_decoding, wal2json'" >>"$DIR/data/postgresql.conf"
    if running; then as_owner "$BIN/pg_ctl" -D "$DIR/data" reload >/dev/null; fi
  fi
  tls
  if running; then
    as_owner "$BIN/pg_ctl" -D "$DIR/data" reload >/dev/null
    say "already running on 127.0.0.1:$PORT ($DIR)"
  else
    as_owner "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 start >/dev/null 9>&- \
      || { say "the server did not start; see $DIR/server.log"; tail -n 20 "$DIR/server.log" >&2; exit 1; }
    say "started on 127.0.0.1:$PORT ($DIR); stop it with: make pg-stop"
  fi
  # The role that must log in with a password (over TLS): the tests' reader.
  as_owner "$BIN/psql" -h "$DIR" -p "$PORT" -U postgres -d postgres -qAt -c \
    "DO \$\$ BEGIN CREATE ROLE tidemark_password; EXCEPTION WHEN duplicate_object THEN NULL; END \$\$; ALTER ROLE tidemark_password LOGIN PASSWORD 'reader-s3cret'" 9>&- >/dev/null
  echo "$URL"
}

case "${1:-start}" in
  start) start ;;
  stop)
    if running; then as_owner "$BIN/pg_ctl" -D "$DIR/data" -m fast -w stop >/dev/null; say "stopped"; else say "not running"; fi ;;
  clean)
    if running; then as_owner "$BIN/pg_ctl" -D "$DIR/data" -m immediate -w stop >/dev/null; fi
    rm -rf "$DIR" "${DIR}.lock"; say "removed $DIR" ;;
  url)
    running || { say "not running: make pg"; exit 1; }
    echo "$URL" ;;
  ca)
    [ -f "$DIR/tls/ca.crt" ] || { say "no CA yet: make pg"; exit 1; }
    echo "$DIR/tls/ca.crt" ;;
  *) echo "usage: $0 start|stop|clean|url|ca" >&2; exit 2 ;;
esac
