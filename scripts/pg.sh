#!/usr/bin/env bash
# A throwaway PostgreSQL server for the store's tests.
#
#   eval "$(scripts/pg.sh)"   start one (or reuse the running one) and export
#                             HERALD_TEST_POSTGRES_DSN
#   scripts/pg.sh status      exit 0 if it runs (prints the export line)
#   scripts/pg.sh stop        stop it and delete its data
#
# Installs Debian's postgresql package when no server binary is found. The
# cluster lives in $HERALD_PG_DIR (default $TMPDIR/herald-pg), belongs to the
# postgres user when run as root, listens on 127.0.0.1 only with trust
# authentication, on the first free port from $HERALD_PG_PORT (default 55432).
# It runs with fsync off: its data is worth nothing after the tests.
# Only the export line goes to stdout; progress goes to stderr.
set -euo pipefail

dir="${HERALD_PG_DIR:-${TMPDIR:-/tmp}/herald-pg}"
data="$dir/data"
first_port="${HERALD_PG_PORT:-55432}"

log() { echo "pg.sh: $*" >&2; }

# as_owner runs a server command as the cluster's owner: postgres when we are
# root (the server refuses to run as root), else ourselves.
as_owner() {
  if [ "$(id -u)" = 0 ]; then
    (cd / && runuser -u postgres -- "$@")
  else
    "$@"
  fi
}

bindir() {
  local b
  if b="$(command -v initdb 2>/dev/null)" && [ -x "$(dirname "$b")/pg_ctl" ]; then
    dirname "$(readlink -f "$b")"
    return 0
  fi
  b="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
  if [ -n "$b" ] && [ -x "$b/initdb" ]; then
    echo "$b"
    return 0
  fi
  return 1
}

install_server() {
  local sudo=()
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { log "no PostgreSQL server found and not root: install Debian's postgresql package"; exit 1; }
    sudo=(sudo)
  fi
  log "installing Debian's postgresql package"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >&2
}

running() { [ -d "$data" ] && [ -f "$dir/port" ] && as_owner "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; }

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

dsn() { echo "postgres://postgres@127.0.0.1:$(cat "$dir/port")/postgres?sslmode=disable"; }

print_export() { echo "export HERALD_TEST_POSTGRES_DSN='$(dsn)'"; }

cmd="${1:-start}"
if ! bin="$(bindir)"; then
  if [ "$cmd" != start ]; then
    [ "$cmd" = stop ] && exit 0
    exit 1
  fi
  install_server
  bin="$(bindir)" || { log "postgresql installed but initdb not found"; exit 1; }
fi

case "$cmd" in
status)
  running || exit 1
  print_export
  exit 0
  ;;
stop)
  if running; then
    as_owner "$bin/pg_ctl" -D "$data" -m fast -w stop >&2
  fi
  rm -rf "$dir"
  exit 0
  ;;
start) ;;
*)
  log "usage: $0 [start|status|stop]"
  exit 2
  ;;
esac

if running; then
  log "reusing the server running on port $(cat "$dir/port")"
  print_export
  exit 0
fi

if [ ! -f "$data/PG_VERSION" ]; then
  rm -rf "$dir"
  mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && chown postgres: "$dir"
  log "creating a cluster in $data"
  as_owner "$bin/initdb" -D "$data" -U postgres --auth-local=trust --auth-host=trust \
    --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
  as_owner tee -a "$data/postgresql.conf" >/dev/null <<'EOF'
# herald test cluster: disposable, so speed over durability.
listen_addresses = '127.0.0.1'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 300
EOF
fi

port="$first_port"
while port_busy "$port"; do
  port=$((port + 1))
  if [ "$port" -gt $((first_port + 50)) ]; then
    log "no free port in $first_port-$port"
    exit 1
  fi
done
echo "$port" >"$dir/port"

log "starting PostgreSQL ($("$bin/postgres" --version)) on 127.0.0.1:$port"
if ! as_owner "$bin/pg_ctl" -D "$data" -l "$dir/server.log" -w -t 60 \
  -o "-p $port -k $dir" start >/dev/null; then
  cat "$dir/server.log" >&2
  exit 1
fi
for _ in $(seq 1 60); do
  if "$bin/pg_isready" -q -h 127.0.0.1 -p "$port"; then
    print_export
    exit 0
  fi
  sleep 0.5
done
log "server did not become ready; see $dir/server.log"
exit 1
