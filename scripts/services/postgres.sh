#!/usr/bin/env bash
# Ensures PostgreSQL answers on 127.0.0.1:5432 as user `postgres` without a password
# (trust), with a database `test` (used by the tests of detectk-collectors-sql and by
# CI). Idempotent: installs Debian's `postgresql` package when missing, adds a trust
# rule for 127.0.0.1 to pg_hba.conf, starts (or reloads) the cluster, waits until
# `SELECT 1` works. Exits non-zero with a message when it cannot.
#
# Package installs wait (bounded by APT_LOCK_TIMEOUT, default 300 s) for a
# concurrent apt/dpkg to release its lock (lib/apt.sh).
#
# Environment: POSTGRES_START_TIMEOUT seconds (default 60).
set -euo pipefail

host=127.0.0.1
port=5432
timeout="${POSTGRES_START_TIMEOUT:-60}"

log() { echo "postgres.sh: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# shellcheck source=lib/apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/apt.sh"

answers() {
    command -v psql >/dev/null &&
        [ "$(psql -h "$host" -p "$port" -U postgres -d postgres -w -tAc 'SELECT 1' 2>/dev/null)" = "1" ]
}

ensure_test_database() {
    if [ "$(psql -h "$host" -p "$port" -U postgres -d postgres -w -tAc \
        "SELECT 1 FROM pg_database WHERE datname = 'test'")" != "1" ]; then
        log "creating database test"
        psql -h "$host" -p "$port" -U postgres -d postgres -w -qc 'CREATE DATABASE test' \
            || die "could not create database test"
    fi
}

if answers; then
    ensure_test_database
    log "PostgreSQL already answers at ${host}:${port}"
    exit 0
fi

if ! command -v pg_ctlcluster >/dev/null || [ -z "$(ls /etc/postgresql 2>/dev/null)" ]; then
    log "PostgreSQL is not installed; installing postgresql"
    apt_install postgresql postgresql-client
fi

version="$(ls /etc/postgresql | sort -V | tail -n 1)"
[ -n "$version" ] || die "no cluster configuration under /etc/postgresql"
if [ ! -d "/etc/postgresql/${version}/main" ]; then
    log "creating cluster ${version}/main"
    as_root pg_createcluster "$version" main || die "pg_createcluster ${version} main failed"
fi

hba="/etc/postgresql/${version}/main/pg_hba.conf"
if ! as_root grep -Eq '^host[[:space:]]+all[[:space:]]+all[[:space:]]+127\.0\.0\.1/32[[:space:]]+trust' "$hba"; then
    log "allowing password-less (trust) logins from 127.0.0.1 in ${hba}"
    as_root sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
fi

# A just-stopped postmaster can hold its socket lock for a few seconds: retry.
for attempt in 1 2 3 4 5; do
    if as_root pg_ctlcluster "$version" main status >/dev/null 2>&1; then
        as_root pg_ctlcluster "$version" main reload && break
    elif as_root pg_ctlcluster "$version" main start; then
        break
    fi
    log "start attempt ${attempt} failed; retrying"
    sleep 2
done

deadline=$(( $(date +%s) + timeout ))
until answers; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
        log "last lines of the server log:"
        as_root tail -n 30 "/var/log/postgresql/postgresql-${version}-main.log" >&2 || true
        die "PostgreSQL did not answer SELECT 1 at ${host}:${port} within ${timeout} s"
    fi
    sleep 0.5
done
ensure_test_database
log "PostgreSQL ${version} answers at ${host}:${port}"
