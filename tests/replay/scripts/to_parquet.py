import sys

import pandas as pd

pd.read_csv(sys.argv[1]).to_parquet(sys.argv[2])
