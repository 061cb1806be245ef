"""Drop flagged wells and subtract the mean blank from every reading."""

import sys

import pandas as pd

raw = pd.read_csv(sys.argv[1], keep_default_na=False)
ok = raw[raw["flag"] == ""].copy()
blank = ok.loc[ok["sample"] == "blank", "absorbance"].mean()
ok["corrected"] = (ok["absorbance"] - blank).round(4)
ok[ok["sample"] != "blank"].drop(columns="flag").to_csv(sys.argv[2], index=False)
