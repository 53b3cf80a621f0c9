#!/usr/bin/env bash
# DetectK quickstart: no server, no credentials.
#
# Builds `dtk`, creates a project with a sample SQLite database (60 days of 10-minute
# website metrics with a few incidents), loads its history, then runs detection for the
# newest hour and prints the alerts that fire. Everything lands in target/quickstart.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"
cargo build --quiet --package detectk-cli --no-default-features --features sqlite
dtk="$repo/target/debug/dtk"
project="$repo/target/quickstart"

# Data ends at a fixed time so the output is the same on every machine.
end="2024-03-01 00:00:00"
rm -rf "$project"
"$dtk" init-project "$project" --database sqlite --sample-end "$end"
cd "$project"

echo
echo "== dtk validate metrics"
"$dtk" validate metrics

echo
echo "== dtk backfill metrics   (history: detection on, alerts off)"
"$dtk" backfill metrics

echo
echo "== dtk run metrics --execution-time '$end'   (the newest hour: detection and alerts)"
"$dtk" run metrics --execution-time "$end"

echo
echo "== dtk run again for the same time: nothing new is stored or sent"
"$dtk" run metrics --execution-time "$end"

echo
echo "Project files: $project (configs in metrics/, DetectK's tables in detectk.db)"
