"""Per ticker: annualized return, volatility, Sharpe ratio and worst drawdown; and the return correlations.

The risk-free rate used by the Sharpe ratio is the declared variable RISK_FREE (a yearly rate).
"""

import os
import sys

import numpy as np
import pandas as pd

returns = pd.read_csv(sys.argv[1], parse_dates=["Date"], index_col="Date")
risk_free = float(os.environ["RISK_FREE"])
growth = (1 + returns).cumprod()
years = len(returns) / 12
stats = pd.DataFrame({
    "annual_return": growth.iloc[-1] ** (1 / years) - 1,
    "volatility": returns.std() * np.sqrt(12),
    "max_drawdown": (growth / growth.cummax() - 1).min(),
})
stats["sharpe"] = (stats["annual_return"] - risk_free) / stats["volatility"]
stats.index.name = "ticker"
stats.sort_values("sharpe", ascending=False).round(4).to_csv(sys.argv[2])
returns.corr().round(3).to_csv(sys.argv[3], index_label="ticker")
