#!/usr/bin/env bash
# Runs the whole test suite against real servers.
#
# Starts PostgreSQL, MariaDB and ClickHouse on 127.0.0.1 when they are not running
# (installing them from Debian's packages on a fresh machine), waits until each
# answers, and fails loudly if one cannot start: tests never skip a missing server.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

for service in scripts/services/*.sh; do
  echo "== starting $(basename "$service" .sh)"
  bash "$service"
done

echo "== cargo test"
cargo test --workspace --all-features --no-fail-fast "$@"
