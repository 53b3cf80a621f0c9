import sys
try:
    import numpy as np
    def pos(n):
        return int(np.searchsorted(np.cumsum(np.ones(n) / n), 0.5))
    src = "numpy " + np.__version__
except ImportError:
    def pos(n):
        w = 1.0 / n; s = 0.0
        for k in range(n):
            s += w
            if s >= 0.5: return k
        return n - 1
    src = "pure python"
sizes = sorted(set(list(range(1, 201)) + [2016, 2015, 2017, 4032, 8064, 8640, 10080, 20160, 43200, 100000, 111221] + list(range(1000, 3001, 7))))
print("# n,position: np.searchsorted(np.cumsum(np.ones(n) / n), 0.5) computed with " + src)
for n in sizes:
    print(f"{n},{pos(n)}")
