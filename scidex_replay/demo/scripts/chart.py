"""Bar chart of the blank-corrected absorbance per sample, relative to control."""

import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

summary = pd.read_csv(sys.argv[1], index_col="sample")
fig, ax = plt.subplots(figsize=(4, 3), dpi=100)
ax.bar(summary.index, summary["mean"], yerr=summary["std"], capsize=4, color="#4c72b0")
ax.set_ylabel("corrected absorbance")
ax.set_title("Plate reader: mean ± sd")
fig.tight_layout()
fig.savefig(sys.argv[2])
