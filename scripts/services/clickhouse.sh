#!/usr/bin/env bash
# Ensures a ClickHouse server answers HTTP on 127.0.0.1:8123 (used by the tests of
# detectk-collectors-clickhouse and by CI). Idempotent: installs the Debian packages
# when missing, starts the server when it does not answer, waits until `SELECT 1`
# works. Exits non-zero with a message when it cannot.
#
# Environment: CLICKHOUSE_HTTP_URL (default http://127.0.0.1:8123),
#              CLICKHOUSE_START_TIMEOUT seconds (default 60).
set -euo pipefail

url="${CLICKHOUSE_HTTP_URL:-http://127.0.0.1:8123}"
timeout="${CLICKHOUSE_START_TIMEOUT:-60}"

log() { echo "clickhouse.sh: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

answers() {
    [ "$(curl -fsS --max-time 2 "${url}/?query=SELECT%201" 2>/dev/null)" = "1" ]
}

if answers; then
    log "ClickHouse already answers at ${url}"
    exit 0
fi

command -v curl >/dev/null || die "curl is required"

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

if [ ! -x /usr/sbin/clickhouse-server ] && ! command -v clickhouse-server >/dev/null; then
    log "clickhouse-server is not installed; installing clickhouse-server and clickhouse-client"
    as_root apt-get update
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y clickhouse-server clickhouse-client \
        || die "apt-get install clickhouse-server clickhouse-client failed"
fi

server_bin=/usr/sbin/clickhouse-server
[ -x "$server_bin" ] || server_bin="$(command -v clickhouse-server)"
config=/etc/clickhouse-server/config.xml
[ -f "$config" ] || die "missing ${config}; is the clickhouse-server package installed correctly?"

log "starting ${server_bin}"
# No systemd here: start the server in the background as the clickhouse user.
as_root start-stop-daemon --start --background --chuid clickhouse:clickhouse \
    --exec "$server_bin" -- --config-file="$config" -- --listen_host=127.0.0.1 \
    || log "start-stop-daemon reported a failure (the server may already be starting)"

deadline=$(( $(date +%s) + timeout ))
until answers; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
        log "last lines of the server log:"
        as_root tail -n 30 /var/log/clickhouse-server/clickhouse-server.err.log >&2 || true
        die "ClickHouse did not answer SELECT 1 at ${url} within ${timeout} s"
    fi
    sleep 0.5
done
log "ClickHouse answers at ${url} (version $(curl -fsS "${url}/?query=SELECT%20version()"))"
