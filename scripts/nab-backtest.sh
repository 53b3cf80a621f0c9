#!/usr/bin/env bash
# The NAB table of docs/detectors.md ("Choosing a detector") by one command.
#
#   scripts/nab-backtest.sh NAB_DIR [SETTING.yaml ...]
#
# NAB_DIR is a Numenta Anomaly Benchmark checkout (or any directory of the same
# shape): NAB_DIR/data/<category>/<series>.csv (`timestamp,value`) and
# NAB_DIR/labels/combined_windows.json. For every category directory present, the
# script builds a temporary project: one SQLite database holding every series as rows
# of one table, and one metric config per series and setting (interval = the series'
# median step; timestamps floored to the interval and averaged in the query itself,
# so irregular series such as realTraffic fit the grid). It then runs
#
#   dtk backtest <project>/<setting> --collect --labels NAB_DIR/labels/combined_windows.json --format json
#
# and prints a Markdown table per category and overall for each setting (the
# scores of the alerts sent, event-level as in docs/backtesting.md).
#
# Settings: the built-in list below, or the SETTING.yaml files given (each holds the
# `detectors:` and `alerter:` blocks, as `dtk tune` prints them; its name is the file
# stem). Environment: DTK (the dtk binary; default: build and use target/release/dtk),
# OUT (project directory; default: a fresh temporary one), CATEGORIES (space-separated
# category directories to use; default: every one present).
set -euo pipefail

if [[ $# -lt 1 || ! -d "$1/data" ]]; then
    echo "usage: $0 NAB_DIR [SETTING.yaml ...]   (NAB_DIR/data/<category>/*.csv and NAB_DIR/labels/combined_windows.json)" >&2
    exit 2
fi
nab="$(cd "$1" && pwd)"
shift
labels="$nab/labels/combined_windows.json"
[[ -f "$labels" ]] || { echo "error: $labels not found" >&2; exit 2; }
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ -z "${DTK:-}" ]]; then
    cargo build --quiet --release --package detectk-cli --manifest-path "$repo/Cargo.toml"
    DTK="$repo/target/release/dtk"
fi
out="${OUT:-$(mktemp -d -t dtk-nab-XXXXXX)}"
mkdir -p "$out/settings"

# Built-in settings: name -> the blocks pasted under each metric config.
cat > "$out/settings/mad_defaults.yaml" <<'EOF'
detector: {type: mad}
alerter: {type: console, conditions: {cooldown_minutes: 0}}
EOF
cat > "$out/settings/zscore_defaults.yaml" <<'EOF'
detector: {type: zscore}
alerter: {type: console, conditions: {cooldown_minutes: 0}}
EOF
cat > "$out/settings/iqr_defaults.yaml" <<'EOF'
detector: {type: iqr}
alerter: {type: console, conditions: {cooldown_minutes: 0}}
EOF
cat > "$out/settings/zscore_unweighted_4sigma_cooldown360.yaml" <<'EOF'
detector: {type: zscore, params: {use_weighted: false, n_sigma: 4.0}}
alerter: {type: console, conditions: {cooldown_minutes: 360}}
EOF
# The recommended setting for new metrics (docs/detectors.md, `dtk init`): robust_seasonal
# with its defaults (28 days, hour_of_day seasons, 0.99 quantile x 1.1, 2 days warm-up)
# and a 12-hour cooldown.
cat > "$out/settings/recommended.yaml" <<'EOF'
detector: {type: robust_seasonal}
alerter: {type: console, conditions: {cooldown_minutes: 720}}
EOF
if [[ $# -gt 0 ]]; then
    rm -f "$out/settings"/*.yaml
    for f in "$@"; do cp "$f" "$out/settings/"; done
fi

python3 - "$nab" "$out" "${CATEGORIES:-}" <<'PY'
import csv, os, re, sqlite3, statistics, sys
from datetime import datetime

nab, out, only = sys.argv[1], sys.argv[2], sys.argv[3].split()
db_path = os.path.join(out, "nab.db")
if os.path.exists(db_path):
    os.remove(db_path)
db = sqlite3.connect(db_path)
db.execute("CREATE TABLE nab_points (series TEXT NOT NULL, ts TEXT NOT NULL, value REAL)")
db.execute("CREATE INDEX nab_points_series_ts ON nab_points (series, ts)")
series = []
for category in sorted(os.listdir(os.path.join(nab, "data"))):
    folder = os.path.join(nab, "data", category)
    if not os.path.isdir(folder) or (only and category not in only):
        continue
    for name in sorted(os.listdir(folder)):
        if not name.endswith(".csv"):
            continue
        key = f"{category}/{name}"
        with open(os.path.join(folder, name), newline="") as f:
            rows = [(r["timestamp"][:19], float(r["value"])) for r in csv.DictReader(f)]
        rows.sort(key=lambda r: r[0])  # stable: equal timestamps keep file order
        times = [datetime.strptime(t, "%Y-%m-%d %H:%M:%S").timestamp() for t, _ in rows]
        steps = [b - a for a, b in zip(times, times[1:]) if b > a]
        step = max(60, int(round(statistics.median(steps) / 60.0)) * 60)
        db.executemany("INSERT INTO nab_points VALUES (?, ?, ?)", [(key, t, v) for t, v in rows])
        metric = re.sub(r"[^A-Za-z0-9_-]", "_", os.path.splitext(name)[0])
        first = int(times[0]) // step * step
        last = int(times[-1]) // step * step + step
        fmt = lambda s: datetime.utcfromtimestamp(s).strftime("%Y-%m-%d %H:%M:%S")
        series.append((key, metric, step, fmt(first), fmt(last)))
db.commit()
db.close()

for setting_file in sorted(os.listdir(os.path.join(out, "settings"))):
    setting = os.path.splitext(setting_file)[0]
    blocks = open(os.path.join(out, "settings", setting_file)).read()
    folder = os.path.join(out, "projects", setting)
    os.makedirs(folder, exist_ok=True)
    for key, metric, step, start, end in series:
        with open(os.path.join(folder, f"{metric}.yaml"), "w") as f:
            f.write(f"""name: {metric}
collector:
  type: sqlite
  params:
    connection_string: "sqlite:///{db_path}"
    query: |
      SELECT datetime((CAST(strftime('%s', ts) AS INTEGER) / {step}) * {step}, 'unixepoch') AS period_time,
             AVG(value) AS value
      FROM nab_points
      WHERE series = '{key}' AND ts >= '{{{{ period_start }}}}' AND ts < '{{{{ period_finish }}}}'
      GROUP BY 1 ORDER BY 1
schedule:
  interval: {step}s
  start_time: "{start}"
  end_time: "{end}"
  batch_load_days: 3650
metadata:
  labels_key: {key}
{blocks}""")
PY

mkdir -p "$out/results"
for dir in "$out"/projects/*/; do
    setting="$(basename "$dir")"
    "$DTK" -q backtest "$dir" --collect --labels "$labels" --format json > "$out/results/$setting.json"
done

python3 - "$out" <<'PY'
import json, os, sys
out = sys.argv[1]
def scores(t):
    p = t["hits"] / (t["hits"] + t["false_events"]) if t["hits"] + t["false_events"] else 0.0
    r = t["hits"] / t["windows"] if t["windows"] else 0.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    fa = 1000.0 * t["false_events"] / t["points"] if t["points"] else 0.0
    per_week = t["positives"] / t["weeks"] if t["weeks"] else 0.0
    return p, r, f1, fa, per_week
print("| setting | category | series | windows caught | false-alarm events / 1,000 points | alerts / week | precision | recall | F1 |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
for name in sorted(os.listdir(os.path.join(out, "results"))):
    doc = json.load(open(os.path.join(out, "results", name)))
    groups = {}
    for m in doc["metrics"]:
        if "alert" not in m:
            print(f"error: {m.get('metric')}: {m.get('error')}", file=sys.stderr)
            continue
        category = (m.get("labels_key") or "unlabelled/").split("/")[0]
        for g in (category, "all"):
            acc = groups.setdefault(g, {"hits": 0, "windows": 0, "false_events": 0, "points": 0, "positives": 0, "weeks": 0.0, "n": 0})
            for k in ("hits", "windows", "false_events", "points", "positives", "weeks"):
                acc[k] += m["alert"]["tally"][k]
            acc["n"] += 1
    for g in sorted(groups, key=lambda g: (g == "all", g)):
        t = groups[g]
        p, r, f1, fa, pw = scores(t)
        label = f"**{g}**" if g == "all" else g
        print(f"| {os.path.splitext(name)[0]} | {label} | {t['n']} | {t['hits']}/{t['windows']} | {fa:.1f} | {pw:.1f} | {p:.3f} | {r:.3f} | {f1:.3f} |")
print(f"\nProject and JSON results: {out}", file=sys.stderr)
PY
