"""A short Markdown report of the per-sample summary and drift fit, citing the chart by content hash."""

import hashlib
import sys

import pandas as pd

summary = pd.read_csv(sys.argv[1], index_col="sample")
chart = hashlib.sha256(open(sys.argv[2], "rb").read()).hexdigest()
fit = pd.read_csv(sys.argv[3], index_col="sample")
lines = ["# Plate reader summary", "", "| sample | mean | std | n | vs ctrl | drift/well |", "|---|---|---|---|---|---|"]
for sample, row in summary.iterrows():
    lines.append(
        f"| {sample} | {row['mean']:.4f} | {row['std']:.4f} | {int(row['count'])} | {row['rel_to_ctrl']:.3f} "
        f"| {fit.loc[sample, 'slope']:+.5f} |"
    )
lines += ["", f"![chart](chart.png) (sha256 {chart[:16]})"]
open(sys.argv[4], "w").write("\n".join(lines) + "\n")
