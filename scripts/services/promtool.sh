#!/usr/bin/env bash
# Ensures `promtool` (Debian's `prometheus` package) is installed, for the test that runs
# `promtool check metrics` on the OpenMetrics file of `dtk run --metrics-file`
# (crates/detectk-cli/tests/monitor.rs). Only the tool is used: no Prometheus server is
# started (the package's service is stopped if the installation started it).
# Idempotent; exits non-zero with a message when it cannot install the tool.
#
# Package installs wait (bounded by APT_LOCK_TIMEOUT, default 300 s) for a
# concurrent apt/dpkg to release its lock (lib/apt.sh).
set -euo pipefail

log() { echo "promtool.sh: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# shellcheck source=lib/apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/apt.sh"

if ! command -v promtool >/dev/null; then
    log "promtool is not installed; installing prometheus (for promtool only)"
    apt_install prometheus
    # Debian starts the server after installing it; the tests need only the tool.
    as_root /etc/init.d/prometheus stop >/dev/null 2>&1 || true
fi
version="$(promtool --version 2>&1 | head -n 1)" || die "promtool does not run"
log "ready: ${version}"
