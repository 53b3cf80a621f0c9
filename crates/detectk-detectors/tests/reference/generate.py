"""Writes reference vectors by running Python detectk-detectors 0.2.0 `detect()`.

Not part of the build. Run with numpy and pandas installed and the reference
packages on PYTHONPATH, e.g.

    NAB_DIR=/path/to/nab PYTHONPATH=/path/to/site-packages python3 generate.py small > vectors.jsonl
    PYTHONPATH=/path/to/site-packages python3 generate.py full > vectors-full.jsonl
    PYTHONPATH=/path/to/site-packages python3 generate.py nab SERIES.csv... > vectors-nab.jsonl

Each point is scored with a history that holds only the present points strictly
before it inside the window (the semantics DetectK adopts). Output: one JSON line
per series (`[timestamp, value, hour_of_day, day_of_week, parity]` per point), then
one per case with the series name, the params and the expected result per point.
`small` also scores 200 points of one real NAB series, read from `$NAB_DIR`.
"""

import json
import math
import os
import random
import sys
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from detectk_detectors.mad import MADDetector
from detectk_detectors.zscore import ZScoreDetector
from detectk_detectors.threshold import ThresholdDetector
from detectk_detectors.missing_data import MissingDataDetector

T0 = datetime(2024, 3, 1)
STEP = timedelta(minutes=10)


class HistoryStorage:
    """Returns the present points strictly before `end_time` inside the window."""

    def __init__(self, points):
        self.points = points  # list of (ts, value or None, context)

    def query_datapoints(self, metric_name, window, end_time=None):
        idx = next(i for i, p in enumerate(self.points) if p[0] == end_time)
        if isinstance(window, int):
            chosen = self.points[max(0, idx - window):idx]
        else:
            amount, unit = window.split()
            span = {"hours": timedelta(hours=int(amount)), "days": timedelta(days=int(amount))}[unit]
            chosen = [p for p in self.points[:idx] if p[0] >= end_time - span]
        rows = [(p[0], p[1], p[2]) for p in chosen if p[1] is not None]
        return pd.DataFrame(rows, columns=["collected_at", "value", "context"])


def ambiguous(det, values):
    """Whether a weighted-median cumulative weight lands within rounding of 0.5 between
    two different values (either may then be the median)."""
    vals = np.asarray(values, dtype=float)
    w = det._compute_weights(len(vals))
    med = det._weighted_median(vals, w)
    for data in (vals, np.abs(vals - med)):
        order = np.argsort(data)
        cs = np.cumsum(w[order])
        ordered = data[order]
        for i in np.nonzero(np.abs(cs - 0.5) < 1e-9)[0]:
            if i + 1 < len(ordered) and ordered[i] != ordered[i + 1]:
                return True
    return False


def series(kind, n, rng):
    pts = []
    level = 100.0
    for i in range(n):
        ts = T0 + STEP * i
        hour = ts.hour
        ctx = {"hour_of_day": hour, "day_of_week": ts.weekday(), "parity": i % 2}
        if kind == "walk":
            level += rng.gauss(0, 1)
            v = level + 10 * math.sin(hour / 24 * 2 * math.pi) + rng.gauss(0, 2)
        elif kind == "counts":
            v = float(rng.randint(0, 6))
        elif kind == "offset":
            v = 1e6 + rng.gauss(0, 50)
        else:  # spikes
            v = rng.gauss(50, 5) if rng.random() > 0.05 else rng.gauss(50, 5) * 6
        if rng.random() < 0.04:
            v = None
        pts.append((ts, v, ctx))
    return pts


def stat_case(det_type, params, pts):
    cls = {"mad": MADDetector, "zscore": ZScoreDetector}[det_type]
    det = cls(HistoryStorage(pts), **params)
    expected = []
    for ts, v, ctx in pts:
        if v is None:
            expected.append({"skipped": True})
            continue
        try:
            r = det.detect("m", v, ts, **ctx)
        except Exception:
            expected.append({"skipped": True})
            continue
        e = {
            "is_anomaly": bool(r.is_anomaly),
            "score": r.score,
            "lower": r.lower_bound,
            "upper": r.upper_bound,
        }
        if det_type == "mad":
            hist = det.storage.query_datapoints("m", det.window_size, ts)
            if det.seasonal_features:
                feats = det.seasonal_features
                def match(c):
                    hits = [c.get(f) == ctx[f] for f in feats]
                    return all(hits) if det.use_combined_seasonality else any(hits)
                hist = hist[[match(c) for c in hist["context"]]]
            e["ambiguous"] = ambiguous(det, list(hist["value"]))
        expected.append(e)
    return expected


def compact(e):
    """`null` for a skipped point, else [is_anomaly, score, lower, upper, ambiguous, pct]."""
    if e.get("skipped"):
        return None
    return [e["is_anomaly"], e["score"], e.get("lower"), e.get("upper"), e.get("ambiguous", False),
            e.get("percent_deviation")]


def jsonable(pts):
    return [[p[0].strftime("%Y-%m-%dT%H:%M:%SZ"), p[1], p[2]["hour_of_day"], p[2]["day_of_week"],
             p[2]["parity"]] for p in pts]


FULL_CONFIGS = [
    (window, weighted, decay, seasonal, combined)
    for window in [20, "3 hours", "2 days"]
    for weighted, decay in [(False, 0.1), (True, 0.1), (True, 0.7)]
    for seasonal, combined in [([], False), (["hour_of_day"], False),
                               (["hour_of_day", "parity"], True),
                               (["hour_of_day", "parity"], False)]
    if not (seasonal and window == 20)
]

SMALL_CONFIGS = [
    (16, False, 0.1, [], False),
    (16, True, 0.1, [], False),
    ("3 hours", True, 0.7, [], False),
    ("1 days", True, 0.1, ["hour_of_day"], False),
    ("1 days", False, 0.1, ["hour_of_day", "parity"], True),
    ("1 days", True, 0.3, ["hour_of_day", "parity"], False),
]


NAB_CONFIGS = [
        {"window_size": "30 days"},
        {"window_size": "1 days", "use_weighted": False},
        {"window_size": "7 days", "n_sigma": 2.0, "exp_decay_factor": 0.02,
         "seasonal_features": ["hour_of_day"]},
        {"window_size": 500, "use_weighted": False, "seasonal_features": ["hour_of_day", "parity"]},
]

SMALL_NAB_CONFIGS = [
    {"window_size": 48, "use_weighted": False},
    {"window_size": "4 hours"},
    {"window_size": "1 days", "exp_decay_factor": 0.05, "seasonal_features": ["hour_of_day", "parity"]},
]


def nab(paths, configs=NAB_CONFIGS, limit=None):
    """Real NAB series (paths to CSV files) with default and seasonal settings."""
    for path in paths:
        frame = pd.read_csv(path)
        if limit:
            frame = frame.head(limit)
        pts = []
        for i, (ts, v) in enumerate(zip(frame["timestamp"], frame["value"])):
            ts = datetime.strptime(ts, "%Y-%m-%d %H:%M:%S")
            pts.append((ts, float(v), {"hour_of_day": ts.hour, "day_of_week": ts.weekday(),
                                       "parity": i % 2}))
        name = path.rsplit("/", 1)[-1]
        print(json.dumps({"series": name, "points": jsonable(pts)}, separators=(",", ":")))
        for det_type in ["mad", "zscore"]:
            for params in configs:
                case = {"type": det_type, "params": params, "series": name,
                        "expected": [compact(e) for e in stat_case(det_type, params, pts)]}
                print(json.dumps(case, allow_nan=True, separators=(",", ":")).replace("Infinity", "1e999"))


def main():
    if len(sys.argv) > 2 and sys.argv[1] == "nab":
        return nab(sys.argv[2:])
    full = len(sys.argv) > 1 and sys.argv[1] == "full"
    rng = random.Random(7)
    cases = []
    all_series = {}
    configs = FULL_CONFIGS if full else SMALL_CONFIGS
    n = 400 if full else 72
    for kind in ["walk", "counts", "offset", "spikes"]:
        pts = series(kind, n, rng)
        for det_type in ["mad", "zscore"]:
            for window, weighted, decay, seasonal, combined in configs:
                if True:
                    if True:
                        params = {"window_size": window, "n_sigma": 2.5, "use_weighted": weighted,
                                  "exp_decay_factor": decay, "seasonal_features": seasonal,
                                  "use_combined_seasonality": combined}
                        cases.append({"type": det_type, "params": params, "series": kind,
                                      "expected": stat_case(det_type, params, pts)})
        all_series[kind] = jsonable(pts)
    # threshold
    pts = series("walk", 200 if full else 60, rng)
    for params in [
        {"threshold": 105.0},
        {"threshold": 95.0, "operator": "greater_equal"},
        {"threshold": 98.0, "operator": "less_than"},
        {"threshold": 98.0, "operator": "less_equal"},
        {"threshold": 100.0, "operator": "equals", "tolerance": 3.0},
        {"threshold": 100.0, "operator": "not_equals", "tolerance": 3.0},
        {"threshold": 95.0, "upper_threshold": 105.0, "operator": "between"},
        {"threshold": 95.0, "upper_threshold": 105.0, "operator": "outside"},
        {"threshold": 5.0, "percent": True, "baseline": 100.0},
        {"threshold": -5.0, "upper_threshold": 5.0, "operator": "outside", "percent": True, "baseline": -100.0},
    ]:
        det = ThresholdDetector(None, **params)
        exp = []
        for ts, v, ctx in pts:
            if v is None:
                exp.append({"skipped": True})
                continue
            r = det.detect("m", v, ts)
            exp.append({"is_anomaly": bool(r.is_anomaly), "score": r.score, "lower": r.lower_bound,
                        "upper": r.upper_bound, "percent_deviation": r.percent_deviation})
        cases.append({"type": "threshold", "params": params, "series": "threshold",
                      "expected": exp})
    all_series["threshold"] = jsonable(pts)
    # missing data: sequential calls with the last known timestamp
    pts = series("walk", 80, rng)
    pts = [(ts, None if 30 <= i < 36 or 50 <= i < 52 else v, ctx) for i, (ts, v, ctx) in enumerate(pts)]
    for params in [{"consecutive_missing": 1}, {"consecutive_missing": 3},
                   {"consecutive_missing": 2, "max_staleness_minutes": 25}]:
        det = MissingDataDetector(None, **params)
        exp = []
        last = None
        for ts, v, ctx in pts:
            r = det.detect("m", v, ts, is_missing=v is None, last_known_timestamp=last)
            exp.append({"is_anomaly": bool(r.is_anomaly), "score": r.score})
            if v is not None:
                last = ts
        cases.append({"type": "missing_data", "params": params, "series": "gaps",
                      "expected": exp})
    all_series["gaps"] = jsonable(pts)
    for name, points in all_series.items():
        print(json.dumps({"series": name, "points": points}, separators=(",", ":")))
    if not full:
        nab_dir = os.environ.get("NAB_DIR")
        if not nab_dir:
            sys.exit("generate.py small: set NAB_DIR to the NAB corpus directory (data/, labels/)")
        real = os.path.join(nab_dir, "data/realAWSCloudwatch/elb_request_count_8c0756.csv")
        nab([real], SMALL_NAB_CONFIGS, limit=200)
    for c in cases:
        c["expected"] = [compact(e) for e in c["expected"]]
        print(json.dumps(c, allow_nan=True, separators=(",", ":")).replace("Infinity", "1e999"))


if __name__ == "__main__":
    main()
