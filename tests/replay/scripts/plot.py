"""Scatter plot; the format (png or svg) comes from the output name."""
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

df = pd.read_csv(sys.argv[1])
fig, ax = plt.subplots(figsize=(4, 3))
ax.scatter(df["x"], df["y"], s=8)
ax.set_title("clusters")
fig.savefig(sys.argv[2])
