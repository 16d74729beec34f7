#!/usr/bin/env bash
# Start a throwaway PostgreSQL cluster for the tests and print its URL on stdout.
# Usage: eval "$(.ci/postgres.sh start DIR)"  (exports EARWORM_TEST_POSTGRES_URL)
#        .ci/postgres.sh stop DIR
# Installs Debian's postgresql when it is missing; runs the server as a non-root user
# (PostgreSQL refuses to run as root) on a free port of 127.0.0.1 only.
set -euo pipefail
action=${1:?start or stop}
dir=$(realpath -m "${2:?cluster directory}")

bindir() {
    local found
    found=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    echo "$found"
}

as_owner() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

case "$action" in
start)
    if [ -z "$(bindir)" ]; then
        echo "installing PostgreSQL from Debian's packages" >&2
        apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
    fi
    bin=$(bindir)
    if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
        useradd --system --no-create-home postgres
    fi
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres "$dir"
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    as_owner "$bin/initdb" -D "$dir/data" -U earworm --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
    options="-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=300"
    # Tests throw the cluster away: no need to survive a power cut. PG_DURABLE=1 keeps
    # PostgreSQL's defaults (for benchmarks that compare it with SQLite).
    if [ "${PG_DURABLE:-0}" != 1 ]; then
        options="$options -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    fi
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -o "$options" start >/dev/null
    echo "export EARWORM_TEST_POSTGRES_URL=postgresql+asyncpg://earworm@127.0.0.1:$port/postgres"
    ;;
stop)
    bin=$(bindir)
    if [ -n "$bin" ] && [ -f "$dir/data/postmaster.pid" ]; then
        as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null || true
    fi
    rm -rf "$dir"
    ;;
*)
    echo "usage: $0 start|stop DIR" >&2
    exit 2
    ;;
esac
