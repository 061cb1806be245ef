"""Monthly closing prices from Stocks.csv: drop empty rows, keep 2005 on, keep tickers traded the whole time."""

import sys

import pandas as pd

raw = pd.read_csv(sys.argv[1], comment="#", parse_dates=["Date"], index_col="Date")
prices = raw.dropna(how="all").loc["2005-01-01":]
prices = prices.dropna(axis="columns", how="any")  # DELL left the exchange in 2013
prices.round(4).to_csv(sys.argv[2])
