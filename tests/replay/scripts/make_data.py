"""Unseeded numpy RNG, set order and local time (TZ): all fixed by deterministic mode."""
import sys
import time

import numpy as np
import pandas as pd

n = 60
centers = np.array([[0, 0], [4, 4], [0, 5]])
labels = np.random.randint(0, 3, n)
xy = centers[labels] + np.random.normal(0, 0.6, (n, 2))
tags = list({"alpha", "beta", "gamma", "delta", "epsilon"})
df = pd.DataFrame({"x": xy[:, 0].round(6), "y": xy[:, 1].round(6), "tag": [tags[i % len(tags)] for i in range(n)]})
df["made"] = time.strftime("%Y-%m-%d %H:%M", time.localtime(1_700_000_000))  # depends on TZ
df.to_csv(sys.argv[1], index=False)
