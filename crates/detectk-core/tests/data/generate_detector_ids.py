import json, hashlib, random, sys
random.seed(int(sys.argv[1]) if len(sys.argv) > 1 else 7)
DEFAULTS = {
 "threshold": {"operator": "greater_than", "percent": False, "tolerance": 0.001},
 "mad": {"n_sigma": 3.0, "use_weighted": True, "exp_decay_factor": 0.1, "seasonal_features": [], "use_combined_seasonality": False},
 "zscore": {"n_sigma": 3.0, "use_weighted": True, "exp_decay_factor": 0.1, "seasonal_features": [], "use_combined_seasonality": False},
}
def pyid(t, params):
    d = DEFAULTS.get(t, {})
    norm = {k: v for k, v in params.items() if k not in d or d[k] != v}
    c = json.dumps(norm, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(f"{t}:{c}".encode()).hexdigest()[:8]
def rfloat():
    return random.choice([
        lambda: random.uniform(-10, 10), lambda: random.uniform(0, 1) * 10 ** random.randint(-30, 30),
        lambda: float(random.randint(-10**6, 10**6)), lambda: 0.1 + 0.2, lambda: 1e16, lambda: 1e15, lambda: 1e-5, lambda: 1e-4,
        lambda: 5e-324, lambda: 1.7976931348623157e308, lambda: -0.0, lambda: 0.0, lambda: 3.0, lambda: 0.1, lambda: 0.001,
        lambda: 123456789.123456789, lambda: 2.5e-7, lambda: 1e21, lambda: 9007199254740993.0])()
def rstr():
    alphabet = "abcxyz_ 019-\"\\\n\t\r\b\f\x01\x1f\x7fé☃снег😀𝄞/'"
    return "".join(random.choice(alphabet) for _ in range(random.randint(0, 8)))
def rval(depth=0):
    k = random.randint(0, 9 if depth < 2 else 5)
    if k == 0: return None
    if k == 1: return random.choice([True, False])
    if k == 2: return random.randint(-2**63, 2**64 - 1) if random.random() < 0.2 else random.randint(-1000, 1000)
    if k in (3, 4): return rfloat()
    if k == 5: return rstr()
    if k in (6, 7): return [rval(depth + 1) for _ in range(random.randint(0, 4))]
    return {rstr(): rval(depth + 1) for _ in range(random.randint(0, 4))}
KEYS = ["window_size", "n_sigma", "use_weighted", "exp_decay_factor", "seasonal_features", "use_combined_seasonality",
        "operator", "percent", "tolerance", "threshold", "upper_threshold", "multiplier", "max_age", "min_points"]
SPECIAL = [3, 3.0, True, 1, 1.0, 0, 0.0, False, 0.1, 0.001, "greater_than", [], [[]], "", None]
for i in range(int(sys.argv[2]) if len(sys.argv) > 2 else 400):
    t = random.choice(["mad", "zscore", "threshold", "iqr", "missing_data", "custom"])
    params = {}
    for _ in range(random.randint(0, 6)):
        key = random.choice(KEYS) if random.random() < 0.7 else rstr()
        params[key] = random.choice(SPECIAL) if random.random() < 0.4 else rval()
    print(json.dumps({"type": t, "params": params, "id": pyid(t, params)}, ensure_ascii=False))
