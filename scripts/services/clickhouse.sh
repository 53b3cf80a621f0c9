#!/usr/bin/env bash
# Ensures the ClickHouse servers the tests of detectk-collectors-clickhouse (and CI) use:
#   - the main server, HTTP on 127.0.0.1:8123 (server time zone as configured, UTC here);
#   - a second instance of the same installation, HTTP on 127.0.0.1:18123, whose server
#     time zone is America/New_York, for the tests of time-zone handling.
# Idempotent: installs the Debian packages when missing, starts each server that does
# not answer, waits until `SELECT 1` works. Exits non-zero with a message when it cannot.
#
# Package installs wait (bounded by APT_LOCK_TIMEOUT, default 300 s) for a
# concurrent apt/dpkg to release its lock (lib/apt.sh).
#
# Environment: CLICKHOUSE_START_TIMEOUT seconds per server (default 60).
set -euo pipefail

timeout="${CLICKHOUSE_START_TIMEOUT:-60}"

log() { echo "clickhouse.sh: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

answers() {
    [ "$(curl -fsS --max-time 2 "$1/?query=SELECT%201" 2>/dev/null)" = "1" ]
}

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# shellcheck source=lib/apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/apt.sh"

wait_until_up() { # url errlog
    local deadline=$(( $(date +%s) + timeout ))
    until answers "$1"; do
        if [ "$(date +%s)" -ge "$deadline" ]; then
            log "last lines of $2:"
            as_root tail -n 30 "$2" >&2 || true
            die "ClickHouse did not answer SELECT 1 at $1 within ${timeout} s"
        fi
        sleep 0.5
    done
    log "ClickHouse answers at $1 (version $(curl -fsS "$1/?query=SELECT%20version()"), time zone $(curl -fsS "$1/?query=SELECT%20timezone()"))"
}

command -v curl >/dev/null || die "curl is required"

main_url=http://127.0.0.1:8123
tz_url=http://127.0.0.1:18123
if answers "$main_url" && answers "$tz_url"; then
    log "ClickHouse already answers at $main_url and $tz_url"
    exit 0
fi

if [ ! -x /usr/sbin/clickhouse-server ] && ! command -v clickhouse-server >/dev/null; then
    log "clickhouse-server is not installed; installing clickhouse-server and clickhouse-client"
    apt_install clickhouse-server clickhouse-client
fi

server_bin=/usr/sbin/clickhouse-server
[ -x "$server_bin" ] || server_bin="$(command -v clickhouse-server)"
config=/etc/clickhouse-server/config.xml
[ -f "$config" ] || die "missing ${config}; is the clickhouse-server package installed correctly?"

# No systemd here: start-stop-daemon runs the servers in the background as user clickhouse.
if ! answers "$main_url"; then
    log "starting ${server_bin} on ${main_url}"
    as_root start-stop-daemon --start --background --chuid clickhouse:clickhouse \
        --exec "$server_bin" -- --config-file="$config" -- --listen_host=127.0.0.1 \
        || log "start-stop-daemon reported a failure (the server may already be starting)"
    wait_until_up "$main_url" /var/log/clickhouse-server/clickhouse-server.err.log
fi

if ! answers "$tz_url"; then
    dir=/var/lib/clickhouse-tz
    as_root mkdir -p "$dir"
    as_root chown clickhouse:clickhouse "$dir"
    log "starting a second ${server_bin} on ${tz_url} (server time zone America/New_York, data in ${dir})"
    as_root start-stop-daemon --start --background --chuid clickhouse:clickhouse \
        --pidfile "$dir/server.pid" --make-pidfile \
        --exec "$server_bin" -- --config-file="$config" -- --listen_host=127.0.0.1 \
        --http_port=18123 --tcp_port=19000 --interserver_http_port=19009 \
        --path="$dir/" --tmp_path="$dir/tmp/" --user_files_path="$dir/user_files/" \
        --format_schema_path="$dir/format_schemas/" --timezone=America/New_York \
        --logger.log="$dir/server.log" --logger.errorlog="$dir/server.err.log" \
        || log "start-stop-daemon reported a failure (the server may already be starting)"
    wait_until_up "$tz_url" "$dir/server.err.log"
fi
