"""What one dollar invested at the start became, per ticker (log scale)."""

import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

prices = pd.read_csv(sys.argv[1], parse_dates=["Date"], index_col="Date")
fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
(prices / prices.iloc[0]).plot(ax=ax, logy=True, linewidth=1)
ax.set_ylabel("growth of $1")
ax.set_xlabel("")
ax.legend(ncol=3, fontsize=7)
fig.tight_layout()
fig.savefig(sys.argv[2])
