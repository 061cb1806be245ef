"""A short Markdown report: the per-ticker table, the most and least correlated pairs, the chart by hash."""

import hashlib
import sys

import pandas as pd

stats = pd.read_csv(sys.argv[1], index_col="ticker")
corr = pd.read_csv(sys.argv[2], index_col="ticker")
chart = hashlib.sha256(open(sys.argv[3], "rb").read()).hexdigest()
lines = ["# Monthly stock returns since 2005", "",
         "| ticker | annual return | volatility | Sharpe | max drawdown |", "|---|---|---|---|---|"]
for ticker, row in stats.iterrows():
    lines.append(f"| {ticker} | {row['annual_return']:.1%} | {row['volatility']:.1%} | {row['sharpe']:.2f} "
                 f"| {row['max_drawdown']:.0%} |")
tickers = list(corr.index)
pairs = pd.Series({(a, b): corr.loc[a, b] for i, a in enumerate(tickers) for b in tickers[i + 1:]})
lines += ["", f"Most correlated: {' / '.join(pairs.idxmax())} ({pairs.max():.2f}); "
              f"least: {' / '.join(pairs.idxmin())} ({pairs.min():.2f}).",
          "", f"![growth of $1](growth.png) (sha256 {chart[:16]})"]
open(sys.argv[4], "w").write("\n".join(lines) + "\n")
