"""A linear drift model per sample: corrected absorbance ~ replicate position (least squares).

A slope far from zero means the plate drifted across the row, so the per-sample mean
alone would mislead.
"""

import sys

import numpy as np
import pandas as pd

clean = pd.read_csv(sys.argv[1])
rows = []
for sample, group in clean.groupby("sample"):
    slope, intercept = np.polyfit(group["replicate"], group["corrected"], 1)
    rows.append({"sample": sample, "slope": round(slope, 5), "intercept": round(intercept, 4)})
pd.DataFrame(rows).to_csv(sys.argv[2], index=False)
