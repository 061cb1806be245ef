"""A short Markdown report of the per-sample summary."""

import sys

import pandas as pd

summary = pd.read_csv(sys.argv[1], index_col="sample")
lines = ["# Plate reader summary", "", "| sample | mean | std | n | vs ctrl |", "|---|---|---|---|---|"]
for sample, row in summary.iterrows():
    lines.append(f"| {sample} | {row['mean']:.4f} | {row['std']:.4f} | {int(row['count'])} | {row['rel_to_ctrl']:.3f} |")
open(sys.argv[2], "w").write("\n".join(lines) + "\n")
