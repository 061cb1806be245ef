"""Mean, standard deviation and count of the corrected absorbance per sample."""

import sys

import pandas as pd

clean = pd.read_csv(sys.argv[1])
summary = clean.groupby("sample")["corrected"].agg(["mean", "std", "count"]).round(4)
summary["rel_to_ctrl"] = (summary["mean"] / summary.loc["ctrl", "mean"]).round(3)
summary.to_csv(sys.argv[2])
