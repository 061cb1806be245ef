"""Month-over-month simple returns of every ticker."""

import sys

import pandas as pd

prices = pd.read_csv(sys.argv[1], parse_dates=["Date"], index_col="Date")
prices.pct_change().dropna().round(6).to_csv(sys.argv[2])
