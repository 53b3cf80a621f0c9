#!/usr/bin/env bash
# Ensures Debian's headless-capable Chromium is installed at /usr/bin/chromium, for the
# browser test of `dtk report` (crates/detectk-cli/tests/report_browser.rs).
# Idempotent: installs the `chromium` package when missing, then checks that it starts
# (`chromium --version`). Exits non-zero with a message when it cannot: the browser test
# never skips a missing browser.
#
# Package installs wait (bounded by APT_LOCK_TIMEOUT, default 300 s) for a
# concurrent apt/dpkg to release its lock (lib/apt.sh).
set -euo pipefail

log() { echo "chromium.sh: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# shellcheck source=lib/apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/apt.sh"

if [ ! -x /usr/bin/chromium ]; then
    log "Chromium is not installed; installing chromium"
    apt_install chromium
fi
version="$(/usr/bin/chromium --version 2>/dev/null)" || die "/usr/bin/chromium does not start"
log "ready: ${version}"
