#!/usr/bin/env bash
# Ensures MariaDB answers on 127.0.0.1:3306 as `root` with an empty password over TCP,
# with a database `test` (used by the tests of detectk-collectors-sql and by CI).
# Idempotent: installs Debian's `mariadb-server` when missing, starts it when it does
# not answer, gives root a password-less TCP login (Debian's root logs in only over the
# unix socket), waits until `SELECT 1` works. Exits non-zero with a message when it cannot.
#
# Package installs wait (bounded by APT_LOCK_TIMEOUT, default 300 s) for a
# concurrent apt/dpkg to release its lock (lib/apt.sh).
#
# Environment: MARIADB_START_TIMEOUT seconds (default 60).
set -euo pipefail

host=127.0.0.1
port=3306
timeout="${MARIADB_START_TIMEOUT:-60}"

log() { echo "mariadb.sh: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# shellcheck source=lib/apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/apt.sh"

answers() {
    command -v mysql >/dev/null &&
        [ "$(mysql --protocol=TCP -h "$host" -P "$port" -u root -N -B -e 'SELECT 1' 2>/dev/null)" = "1" ]
}

socket_answers() {
    as_root mysql -u root -N -B -e 'SELECT 1' >/dev/null 2>&1
}

if answers; then
    mysql --protocol=TCP -h "$host" -P "$port" -u root -e 'CREATE DATABASE IF NOT EXISTS test'
    log "MariaDB already answers at ${host}:${port}"
    exit 0
fi

if ! command -v mariadbd >/dev/null && [ ! -x /usr/sbin/mariadbd ] && [ ! -x /usr/sbin/mysqld ]; then
    log "MariaDB is not installed; installing mariadb-server"
    apt_install mariadb-server mariadb-client
fi

if ! socket_answers; then
    log "starting MariaDB"
    as_root /etc/init.d/mariadb start || log "the init script reported a failure; waiting anyway"
fi

deadline=$(( $(date +%s) + timeout ))
until socket_answers || answers; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
        as_root tail -n 30 /var/log/mysql/error.log >&2 2>/dev/null || true
        die "MariaDB did not start within ${timeout} s"
    fi
    sleep 0.5
done

if ! answers; then
    log "giving root a password-less login over TCP from 127.0.0.1"
    as_root mysql -u root <<'SQL' || die "could not configure root's TCP login"
ALTER USER 'root'@'localhost' IDENTIFIED VIA mysql_native_password USING PASSWORD('') OR unix_socket;
CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY '';
GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;
FLUSH PRIVILEGES;
SQL
fi

until answers; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
        die "MariaDB did not accept root over TCP at ${host}:${port} within ${timeout} s"
    fi
    sleep 0.5
done
mysql --protocol=TCP -h "$host" -P "$port" -u root -e 'CREATE DATABASE IF NOT EXISTS test'
log "MariaDB $(mysql --protocol=TCP -h "$host" -P "$port" -u root -N -B -e 'SELECT VERSION()') answers at ${host}:${port}"
